// test_data_convert.c — hpff_data on small files it writes itself in each dataset's original
// format (idx .gz, CIFAR binary, a MATLAB file through libmatio, STL binary, PNG and JPEG), read
// back with hpff_dataset_load and compared exactly; failures must leave no output behind; h5py
// must read what hpff_data writes, and the loader must read what h5py writes.
#include <hdf5.h>
#include <jpeglib.h>
#include <matio.h>
#include <png.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>
#include "dataset.h"
#include "test_util.h"

static char g_dir[256];
static uint64_t g_rng = 77;

typedef struct expect {
    int n, h, w, c;
    uint8_t *images;            // (n, h, w, c)
    int32_t *labels;
} expect;

static expect expect_new(int n, int h, int w, int c) {
    expect e = {n, h, w, c, calloc((size_t)n * h * w * c, 1), calloc((size_t)n, sizeof(int32_t))};
    return e;
}
static void expect_free(expect *e) { free(e->images); free(e->labels); }
static uint8_t rnd8(void) { return (uint8_t)(test_rng_next(&g_rng) >> 56); }

static const char *path_in(const char *rel) { return test_path_in(g_dir, rel); }

static void mkdirs(const char *rel) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", g_dir, rel);
    for (char *s = p + strlen(g_dir) + 1; *s; s++)
        if (*s == '/') { *s = 0; mkdir(p, 0755); *s = '/'; }
    mkdir(p, 0755);
}

static void write_bytes(const char *rel, const void *data, size_t n) {
    FILE *f = fopen(path_in(rel), "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}

static int exists(const char *rel) { return access(path_in(rel), F_OK) == 0; }

// Runs hpff_data with the given arguments (relative paths under g_dir); returns its exit code.
static int run(const char *args) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s > run.log 2>&1", g_dir, HPFF_DATA_EXE, args);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int log_has(const char *needle) { return test_file_has(path_in("run.log"), needle); }

// Compares one split of a converted file with what was written.
static void check_split(const char *what, const char *rel, const char *split, const expect *e,
                        hpff_dataset *keep) {
    hpff_dataset ds;
    hpff_status s = hpff_dataset_load(path_in(rel), split, &ds);
    TEST_CHECK(s.code == 0, "%s %s: %s", what, split, s.msg);
    if (s.code) return;
    TEST_CHECK(ds.n == e->n && ds.h == e->h && ds.w == e->w && ds.c == e->c,
               "%s %s: shape (%d, %d, %d, %d), expected (%d, %d, %d, %d)", what, split, ds.n, ds.h,
               ds.w, ds.c, e->n, e->h, e->w, e->c);
    if (ds.n == e->n && ds.h == e->h && ds.w == e->w && ds.c == e->c) {
        size_t bytes = (size_t)e->n * e->h * e->w * e->c, bad = 0, first = 0;
        for (size_t i = 0; i < bytes; i++)
            if (ds.images[i] != e->images[i] && !bad++) first = i;
        TEST_CHECK(bad == 0, "%s %s: %zu of %zu bytes differ, first at %zu (%d vs %d)", what, split,
                   bad, bytes, first, ds.images[first], e->images[first]);
        int badl = 0;
        for (int i = 0; i < e->n; i++) badl += ds.labels[i] != e->labels[i];
        TEST_CHECK(badl == 0, "%s %s: %d labels differ", what, split, badl);
    }
    if (keep) *keep = ds;
    else hpff_dataset_free(&ds);
}

// Compares both splits of a converted file with what was written; the train split is kept in
// *keep (zeroed first: images stay NULL when it does not load) when keep is given.
static void check_splits(const char *what, const char *rel, const expect *tr, const expect *te,
                         hpff_dataset *keep) {
    if (keep) memset(keep, 0, sizeof *keep);
    check_split(what, rel, "train", tr, keep);
    check_split(what, rel, "test", te, NULL);
}

// The stored per-channel mean/std (nothing to check when the split did not load).
static void check_stats(const char *what, const hpff_dataset *ds, const float *mean, const float *std) {
    if (!ds->images) return;
    for (int c = 0; c < ds->c; c++)
        TEST_CHECK(fabsf(ds->mean[c] - mean[c]) < 1e-6f && fabsf(ds->std[c] - std[c]) < 1e-6f,
                   "%s: channel %d mean/std %.7f %.7f, expected %.7f %.7f", what, c, ds->mean[c],
                   ds->std[c], mean[c], std[c]);
}

static void train_stats(const expect *e, float *mean, float *std) {
    for (int c = 0; c < e->c; c++) {
        double s = 0, q = 0;
        size_t px = (size_t)e->n * e->h * e->w;
        for (size_t p = 0; p < px; p++) {
            double v = e->images[p * e->c + c] / 255.0;
            s += v;
            q += v * v;
        }
        mean[c] = (float)(s / px);
        std[c] = (float)sqrt(q / px - (s / px) * (s / px));
    }
}

// The stored stats equal those computed from the written train images e (--stats computed).
static void check_train_stats(const char *what, const hpff_dataset *ds, const expect *e) {
    float m[4], sd[4];
    train_stats(e, m, sd);
    check_stats(what, ds, m, sd);
}

// Reads the class_names attribute; returns how many matched `names` (-1 when absent).
static int class_names_match(const char *rel, const char *const *names, int n) {
    hid_t f = H5Fopen(path_in(rel), H5F_ACC_RDONLY, H5P_DEFAULT);
    if (H5Aexists(f, "class_names") <= 0) { H5Fclose(f); return -1; }
    hid_t a = H5Aopen(f, "class_names", H5P_DEFAULT), t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    char *got[128] = {0};
    int ok = 0;
    hid_t sp = H5Aget_space(a);
    if (H5Sget_simple_extent_npoints(sp) == n && H5Aread(a, t, got) >= 0)
        for (int i = 0; i < n; i++) ok += got[i] && strcmp(got[i], names[i]) == 0;
    for (int i = 0; i < n && i < 128; i++) if (got[i]) H5free_memory(got[i]);
    H5Sclose(sp);
    H5Tclose(t);
    H5Aclose(a);
    H5Fclose(f);
    return ok;
}

// ---------------------------------------------------------------- Fashion-MNIST ------------

static void write_idx(const char *rel, int gz, const uint8_t *hdr, size_t hn, const uint8_t *d, size_t n) {
    if (!gz) {
        FILE *f = fopen(path_in(rel), "wb");
        fwrite(hdr, 1, hn, f);
        fwrite(d, 1, n, f);
        fclose(f);
        return;
    }
    gzFile f = gzopen(path_in(rel), "wb");
    gzwrite(f, hdr, (unsigned)hn);
    gzwrite(f, d, (unsigned)n);
    gzclose(f);
}

static void put_be32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }

static expect make_idx_split(const char *dir, const char *pre, int n, int gz, int bad_label) {
    expect e = expect_new(n, 5, 4, 1);
    for (int i = 0; i < n * 20; i++) e.images[i] = rnd8();
    uint8_t lab[64];
    for (int i = 0; i < n; i++) lab[i] = (uint8_t)(e.labels[i] = (i * 3 + 1) % 10);
    if (bad_label) lab[n - 1] = 10;
    uint8_t hi[16], hl[8];
    put_be32(hi, 0x803); put_be32(hi + 4, (uint32_t)n); put_be32(hi + 8, 5); put_be32(hi + 12, 4);
    put_be32(hl, 0x801); put_be32(hl + 4, (uint32_t)n);
    char rel[128];
    snprintf(rel, sizeof rel, "%s/%s-images-idx3-ubyte%s", dir, pre, gz ? ".gz" : "");
    write_idx(rel, gz, hi, 16, e.images, (size_t)n * 20);
    snprintf(rel, sizeof rel, "%s/%s-labels-idx1-ubyte.gz", dir, pre);
    write_idx(rel, 1, hl, 8, lab, (size_t)n);
    return e;
}

static void test_fashion_mnist(void) {
    mkdirs("fm");
    expect tr = make_idx_split("fm", "train", 7, 1, 0);
    expect te = make_idx_split("fm", "t10k", 3, 0, 0);      // uncompressed images also work
    int rc = run("fashion-mnist fm fm.h5");
    TEST_CHECK(rc == 0, "fashion-mnist: exit %d", rc);
    TEST_CHECK(log_has("7 train + 3 test images of 5x4x1") && log_has("Ankle boot") &&
               log_has("100%"), "fashion-mnist summary");
    hpff_dataset ds;
    check_splits("fashion-mnist", "fm.h5", &tr, &te, &ds);
    check_train_stats("fashion-mnist computed stats", &ds, &tr);
    TEST_CHECK(strcmp(ds.source, "fashion-mnist") == 0, "source %s", ds.source);
    hpff_dataset_free(&ds);
    const char *names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
    TEST_CHECK(class_names_match("fm.h5", names, 10) == 10, "fashion-mnist class names");
    TEST_CHECK(!exists("fm.h5.tmp"), "tmp left after success");
    // h5py reads it; the loader reads what h5py writes.
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' read '%s' 10 fashion-mnist", HPFF_H5PY_CHECK,
             path_in("fm.h5"));
    int st = system(cmd), code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (code == 77 || code == 127) printf("  skip: python3 with h5py not available\n");
    else {
        TEST_CHECK(code == 0, "h5py could not read the converted file (exit %d)", code);
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' write '%s'", HPFF_H5PY_CHECK, path_in("py.h5"));
        st = system(cmd);
        TEST_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "h5py write failed");
        hpff_status s2 = hpff_dataset_load(path_in("py.h5"), "train", &ds);
        TEST_CHECK(s2.code == 0, "file written by h5py: %s", s2.msg);
        if (!s2.code) {
            int bad = 0;
            for (int i = 0; i < 5 * 4 * 3 * 3; i++) bad += ds.images[i] != (uint8_t)(i * 7 % 251);
            TEST_CHECK(bad == 0 && ds.classes == 3 && ds.mean[2] == 0.75f && ds.std[2] == 0.25f &&
                       ds.labels[2] == 2 && strcmp(ds.source, "cifar10") == 0,
                       "h5py file content (%d bad bytes)", bad);
            hpff_dataset_free(&ds);
        }
    }
    // Failures: a label outside 0..9 (found mid-write); a missing file (found before writing).
    mkdirs("fm_bad");
    expect b1 = make_idx_split("fm_bad", "train", 7, 1, 0), b2 = make_idx_split("fm_bad", "t10k", 3, 1, 1);
    rc = run("fashion-mnist fm_bad fm_bad.h5");
    TEST_CHECK(rc == 1 && log_has("label 10 of item 2") && !exists("fm_bad.h5") &&
               !exists("fm_bad.h5.tmp"), "bad label: exit %d", rc);
    unlink(path_in("fm_bad/train-labels-idx1-ubyte.gz"));
    rc = run("fashion-mnist fm_bad fm_bad.h5");
    TEST_CHECK(rc == 1 && log_has("train-labels-idx1-ubyte.gz not found") && !exists("fm_bad.h5.tmp"),
               "missing file: exit %d", rc);
    expect_free(&b1); expect_free(&b2);
    expect_free(&tr); expect_free(&te);
}

// ---------------------------------------------------------------- CIFAR --------------------

// Writes `n` records to rel; fills e from image `at` on. lab_bytes 1 (CIFAR-10) or 2 (CIFAR-100).
static void write_cifar(const char *rel, int n, int lab_bytes, int classes, expect *e, int at) {
    size_t rec = (size_t)lab_bytes + 3072;
    uint8_t *buf = malloc(rec * n);
    for (int i = 0; i < n; i++) {
        uint8_t *r = buf + i * rec;
        int label = (at + i) % classes == 0 ? classes - 1 : (int)(rnd8() % classes);
        r[0] = lab_bytes == 2 ? (uint8_t)(rnd8() % 20) : (uint8_t)label;
        r[lab_bytes - 1] = (uint8_t)label;
        e->labels[at + i] = label;
        for (int p = 0; p < 3072; p++) r[lab_bytes + p] = rnd8();
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                    e->images[(size_t)(at + i) * 3072 + (y * 32 + x) * 3 + ch] =
                        r[lab_bytes + ch * 1024 + y * 32 + x];
    }
    write_bytes(rel, buf, rec * n);
    free(buf);
}

static void test_cifar(void) {
    mkdirs("c10");
    int counts[5] = {2, 1, 3, 1, 2};
    expect tr = expect_new(9, 32, 32, 3), te = expect_new(2, 32, 32, 3);
    for (int b = 0, at = 0; b < 5; at += counts[b++]) {
        char rel[64];
        snprintf(rel, sizeof rel, "c10/data_batch_%d.bin", b + 1);
        write_cifar(rel, counts[b], 1, 10, &tr, at);
    }
    write_cifar("c10/test_batch.bin", 2, 1, 10, &te, 0);
    const char meta[] = "n0\nn1\nn2\nn3\nn4\nn5\nn6\nn7\nn8\nn9\n\n";
    write_bytes("c10/batches.meta.txt", meta, strlen(meta));
    int rc = run("cifar10 c10 c10.h5");
    TEST_CHECK(rc == 0, "cifar10: exit %d", rc);
    hpff_dataset ds;
    check_splits("cifar10", "c10.h5", &tr, &te, &ds);
    const float rm[3] = {125.3f / 255, 123.0f / 255, 113.9f / 255}, rs[3] = {63.0f / 255, 62.1f / 255, 66.7f / 255};
    check_stats("cifar10 recipe stats", &ds, rm, rs);
    hpff_dataset_free(&ds);
    const char *names[10] = {"n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9"};
    TEST_CHECK(class_names_match("c10.h5", names, 10) == 10, "cifar10 names from batches.meta.txt");
    rc = run("--stats computed cifar10 c10 c10c.h5");
    memset(&ds, 0, sizeof ds);
    check_split("cifar10 --stats computed", "c10c.h5", "train", &tr, &ds);
    check_train_stats("cifar10 computed stats", &ds, &tr);
    hpff_dataset_free(&ds);

    // A failure while writing leaves an earlier OUT untouched and no OUT.tmp.
    struct stat before, after;
    stat(path_in("c10.h5"), &before);
    write_bytes("c10/data_batch_5.bin", "\x0b", 1);         // label 11 and a short record
    rc = run("cifar10 c10 c10.h5");
    stat(path_in("c10.h5"), &after);
    TEST_CHECK(rc == 1 && log_has("data_batch_5.bin: 1 bytes is not a whole number of 3073-byte"),
               "truncated batch: exit %d", rc);
    char big[3073] = {11};
    write_bytes("c10/data_batch_5.bin", big, sizeof big);
    rc = run("cifar10 c10 c10.h5");
    TEST_CHECK(rc == 1 && log_has("record 0 has label 11") && log_has("nothing was written"),
               "bad label: exit %d", rc);
    stat(path_in("c10.h5"), &after);
    TEST_CHECK(!exists("c10.h5.tmp") && after.st_size == before.st_size &&
               after.st_mtime == before.st_mtime, "failed run touched the previous output");

    mkdirs("c100");
    expect tr100 = expect_new(5, 32, 32, 3), te100 = expect_new(2, 32, 32, 3);
    write_cifar("c100/train.bin", 5, 2, 100, &tr100, 0);
    write_cifar("c100/test.bin", 2, 2, 100, &te100, 0);
    rc = run("cifar100 c100 c100.h5");
    TEST_CHECK(rc == 0, "cifar100: exit %d", rc);
    check_splits("cifar100", "c100.h5", &tr100, &te100, &ds);
    TEST_CHECK(ds.classes == 100 && tr100.labels[0] == 99, "cifar100 classes %d", ds.classes);
    hpff_dataset_free(&ds);
    TEST_CHECK(class_names_match("c100.h5", NULL, 100) == -1, "cifar100 without names file");
    expect_free(&tr); expect_free(&te); expect_free(&tr100); expect_free(&te100);
}

// ---------------------------------------------------------------- SVHN (.mat) --------------

static expect write_svhn(const char *rel, int n, int bad) {
    expect e = expect_new(n, 32, 32, 3);
    uint8_t *x = malloc((size_t)n * 3072);
    double *y = malloc((size_t)n * sizeof(double));
    for (int i = 0; i < n * 3072; i++) x[i] = rnd8();
    for (int i = 0; i < n; i++) {
        y[i] = i == 0 ? 10 : 1 + i % 10;
        e.labels[i] = (int)y[i] % 10;
        for (int r = 0; r < 32; r++)
            for (int c = 0; c < 32; c++)
                for (int ch = 0; ch < 3; ch++)
                    e.images[(size_t)i * 3072 + (r * 32 + c) * 3 + ch] = x[r + 32 * c + 1024 * ch + 3072 * i];
    }
    if (bad) y[n - 1] = 11;
    mat_t *m = Mat_CreateVer(path_in(rel), NULL, MAT_FT_MAT5);
    size_t dx[4] = {32, 32, 3, (size_t)n}, dy[2] = {(size_t)n, 1};
    matvar_t *vx = Mat_VarCreate("X", MAT_C_UINT8, MAT_T_UINT8, 4, dx, x, 0);
    matvar_t *vy = Mat_VarCreate("y", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, dy, y, 0);
    Mat_VarWrite(m, vx, MAT_COMPRESSION_ZLIB);
    Mat_VarWrite(m, vy, MAT_COMPRESSION_ZLIB);
    Mat_VarFree(vx);
    Mat_VarFree(vy);
    Mat_Close(m);
    free(x);
    free(y);
    return e;
}

static void test_svhn(void) {
    mkdirs("svhn");
    expect tr = write_svhn("svhn/train_32x32.mat", 4, 0), te = write_svhn("svhn/test_32x32.mat", 2, 0);
    int rc = run("svhn svhn svhn.h5");
    TEST_CHECK(rc == 0, "svhn: exit %d", rc);
    hpff_dataset ds;
    check_splits("svhn", "svhn.h5", &tr, &te, &ds);
    const float half[3] = {0.5f, 0.5f, 0.5f};
    check_stats("svhn recipe stats", &ds, half, half);
    TEST_CHECK(tr.labels[0] == 0, "label 10 -> 0");
    hpff_dataset_free(&ds);
    expect bad = write_svhn("svhn/test_32x32.mat", 2, 1);
    rc = run("svhn svhn svhn_bad.h5");
    TEST_CHECK(rc == 1 && log_has("y(2) = 11") && !exists("svhn_bad.h5") && !exists("svhn_bad.h5.tmp"),
               "svhn bad label: exit %d", rc);
    write_bytes("svhn/test_32x32.mat", "MATLAB 5.0 MAT-file, truncated", 30);
    rc = run("svhn svhn svhn_bad.h5");
    TEST_CHECK(rc == 1 && log_has("test_32x32.mat") && !exists("svhn_bad.h5.tmp"), "svhn broken file");
    expect_free(&tr); expect_free(&te); expect_free(&bad);
}

// ---------------------------------------------------------------- STL-10 -------------------

static expect write_stl(const char *split, int n) {
    enum { S = 96, B = 3 * 96 * 96 };
    expect e = expect_new(n, S, S, 3);
    uint8_t *x = malloc((size_t)n * B), y[16];
    for (size_t i = 0; i < (size_t)n * B; i++) x[i] = rnd8();
    for (int i = 0; i < n; i++) {
        y[i] = (uint8_t)(i == 0 ? 10 : 1 + i % 10);
        e.labels[i] = y[i] - 1;
        for (int ch = 0; ch < 3; ch++)
            for (int col = 0; col < S; col++)
                for (int row = 0; row < S; row++)
                    e.images[(size_t)i * B + (row * S + col) * 3 + ch] = x[(size_t)i * B + ch * S * S + col * S + row];
    }
    char rel[64];
    snprintf(rel, sizeof rel, "stl/%s_X.bin", split);
    write_bytes(rel, x, (size_t)n * B);
    snprintf(rel, sizeof rel, "stl/%s_y.bin", split);
    write_bytes(rel, y, (size_t)n);
    free(x);
    return e;
}

static void test_stl(void) {
    mkdirs("stl");
    expect tr = write_stl("train", 3), te = write_stl("test", 2);
    int rc = run("stl10 stl stl.h5");
    TEST_CHECK(rc == 0, "stl10: exit %d", rc);
    hpff_dataset ds;
    check_splits("stl10", "stl.h5", &tr, &te, &ds);
    const float half[3] = {0.5f, 0.5f, 0.5f};
    check_stats("stl10 recipe stats", &ds, half, half);
    TEST_CHECK(strcmp(ds.source, "stl10") == 0 && tr.labels[0] == 9, "stl10 source / label 10 -> 9");
    hpff_dataset_free(&ds);
    write_bytes("stl/test_y.bin", "\x01\x02\x03", 3);
    rc = run("stl10 stl stl_bad.h5");
    TEST_CHECK(rc == 1 && log_has("test_y.bin holds 3 labels") && !exists("stl_bad.h5.tmp"),
               "stl10 size mismatch: exit %d", rc);
    expect_free(&tr); expect_free(&te);
}

// ---------------------------------------------------------------- folder (PNG / JPEG) ------

// color: PNG_COLOR_TYPE_RGB, _GRAY or _PALETTE (then data holds indices into a 4-entry palette).
static void write_png(const char *rel, int w, int h, int color, const uint8_t *data) {
    FILE *f = fopen(path_in(rel), "wb");
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop pi = png_create_info_struct(p);
    png_init_io(p, f);
    png_set_IHDR(p, pi, (png_uint_32)w, (png_uint_32)h, 8, color, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_color pal[4] = {{0, 0, 0}, {255, 0, 0}, {10, 200, 30}, {1, 2, 3}};
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_PLTE(p, pi, pal, 4);
    png_write_info(p, pi);
    int c = color == PNG_COLOR_TYPE_RGB ? 3 : 1;
    for (int y = 0; y < h; y++) png_write_row(p, data + (size_t)y * w * c);
    png_write_end(p, NULL);
    png_destroy_write_struct(&p, &pi);
    fclose(f);
}

static void write_jpeg(const char *rel, int w, int h, const uint8_t *rgb) {
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr err;
    ci.err = jpeg_std_error(&err);
    jpeg_create_compress(&ci);
    FILE *f = fopen(path_in(rel), "wb");
    jpeg_stdio_dest(&ci, f);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = 3;
    ci.in_color_space = JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 95, TRUE);
    jpeg_start_compress(&ci, TRUE);
    for (int y = 0; y < h; y++) {
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)y * w * 3);
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    fclose(f);
}

// What libjpeg decodes (the converter must store exactly that).
static void read_jpeg(const char *rel, uint8_t *out) {
    struct jpeg_decompress_struct ci;
    struct jpeg_error_mgr err;
    ci.err = jpeg_std_error(&err);
    jpeg_create_decompress(&ci);
    FILE *f = fopen(path_in(rel), "rb");
    jpeg_stdio_src(&ci, f);
    jpeg_read_header(&ci, TRUE);
    ci.out_color_space = JCS_RGB;
    jpeg_start_decompress(&ci);
    while (ci.output_scanline < ci.output_height) {
        JSAMPROW row = out + (size_t)ci.output_scanline * ci.output_width * 3;
        jpeg_read_scanlines(&ci, &row, 1);
    }
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    fclose(f);
}

static void rand_rgb(uint8_t *p, int n) { for (int i = 0; i < n; i++) p[i] = rnd8(); }

static void test_folder(void) {
    enum { W = 6, H = 5, PX = W * H };
    mkdirs("fo/train/cat"); mkdirs("fo/train/dog"); mkdirs("fo/train/.hidden");
    mkdirs("fo/test/cat"); mkdirs("fo/test/dog");
    expect tr = expect_new(3, H, W, 3), te = expect_new(2, H, W, 3);
    uint8_t rgb[PX * 3], gray[PX], idx[PX];
    // train: cat/a.png (RGB), cat/b.jpg (JPEG), dog/c.png (gray -> replicated); notes.txt skipped.
    rand_rgb(rgb, PX * 3);
    write_png("fo/train/cat/a.png", W, H, PNG_COLOR_TYPE_RGB, rgb);
    memcpy(tr.images, rgb, PX * 3);
    for (int i = 0; i < PX * 3; i++) rgb[i] = (uint8_t)(60 + 8 * (i / 3 % W) + 6 * (i / 3 / W) + 20 * (i % 3));
    write_jpeg("fo/train/cat/b.jpg", W, H, rgb);
    read_jpeg("fo/train/cat/b.jpg", tr.images + PX * 3);
    int maxdiff = 0;
    for (int i = 0; i < PX * 3; i++) {
        int d = abs((int)tr.images[PX * 3 + i] - rgb[i]);
        maxdiff = d > maxdiff ? d : maxdiff;
    }
    TEST_CHECK(maxdiff < 40, "JPEG round trip differs by %d", maxdiff);
    rand_rgb(gray, PX);
    write_png("fo/train/dog/c.png", W, H, PNG_COLOR_TYPE_GRAY, gray);
    for (int i = 0; i < PX * 3; i++) tr.images[2 * PX * 3 + i] = gray[i / 3];
    tr.labels[0] = tr.labels[1] = 0;
    tr.labels[2] = 1;
    write_bytes("fo/train/dog/notes.txt", "x", 1);
    // test: cat/d.png (palette), dog/e.JPG.
    const uint8_t pal[4][3] = {{0, 0, 0}, {255, 0, 0}, {10, 200, 30}, {1, 2, 3}};
    for (int i = 0; i < PX; i++) {
        idx[i] = (uint8_t)(i % 4);
        memcpy(te.images + i * 3, pal[i % 4], 3);
    }
    write_png("fo/test/cat/d.png", W, H, PNG_COLOR_TYPE_PALETTE, idx);
    rand_rgb(rgb, PX * 3);
    write_jpeg("fo/test/dog/e.JPG", W, H, rgb);
    read_jpeg("fo/test/dog/e.JPG", te.images + PX * 3);
    te.labels[0] = 0;
    te.labels[1] = 1;
    int rc = run("folder fo fo.h5");
    TEST_CHECK(rc == 0, "folder: exit %d", rc);
    TEST_CHECK(log_has("skipped 1 entries"), "notes.txt not reported");
    hpff_dataset ds;
    check_splits("folder", "fo.h5", &tr, &te, &ds);
    TEST_CHECK(ds.classes == 2 && strcmp(ds.source, "folder") == 0, "folder classes %d", ds.classes);
    check_train_stats("folder computed stats", &ds, &tr);
    hpff_dataset_free(&ds);
    const char *names[2] = {"cat", "dog"};
    TEST_CHECK(class_names_match("fo.h5", names, 2) == 2, "folder class names");

    // All grayscale: one channel.
    mkdirs("fg/train/a"); mkdirs("fg/test/a");
    expect g1 = expect_new(1, H, W, 1), g2 = expect_new(1, H, W, 1);
    rand_rgb(g1.images, PX);
    rand_rgb(g2.images, PX);
    write_png("fg/train/a/x.png", W, H, PNG_COLOR_TYPE_GRAY, g1.images);
    write_png("fg/test/a/y.png", W, H, PNG_COLOR_TYPE_GRAY, g2.images);
    rc = run("folder fg fg.h5");
    TEST_CHECK(rc == 0, "gray folder: exit %d", rc);
    check_splits("gray folder", "fg.h5", &g1, &g2, NULL);

    // Errors: an image of another size; a test class unknown to train; no test folder.
    uint8_t big[7 * H * 3] = {0};
    write_png("fo/test/dog/f.png", 7, H, PNG_COLOR_TYPE_RGB, big);
    rc = run("folder fo fo_bad.h5");
    TEST_CHECK(rc == 1 && log_has("all images must have one size") && log_has("f.png is 7x5") &&
               !exists("fo_bad.h5") && !exists("fo_bad.h5.tmp"), "size mismatch: exit %d", rc);
    unlink(path_in("fo/test/dog/f.png"));
    mkdirs("fo/test/bird");
    rc = run("folder fo fo_bad.h5");
    TEST_CHECK(rc == 1 && log_has("class 'bird' has no folder"), "unknown test class: exit %d", rc);
    mkdirs("fn/train/a");
    write_png("fn/train/a/x.png", W, H, PNG_COLOR_TYPE_GRAY, gray);
    rc = run("folder fn fn.h5");
    TEST_CHECK(rc == 1 && log_has("fn/test") && !exists("fn.h5.tmp"), "missing test folder: exit %d", rc);
    write_bytes("fn/train/a/y.png", "\x89PNG\r\n\x1a\n\0\0", 10);
    mkdirs("fn/test/a");
    write_png("fn/test/a/z.png", W, H, PNG_COLOR_TYPE_GRAY, gray);
    rc = run("folder fn fn.h5");
    TEST_CHECK(rc == 1 && log_has("y.png: broken PNG"), "broken PNG: exit %d", rc);
    expect_free(&tr); expect_free(&te); expect_free(&g1); expect_free(&g2);
}

static void test_cli(void) {
    int rc = run("--help");
    const char *fmts[6] = {"fashion-mnist", "cifar10", "cifar100", "svhn", "stl10", "folder"};
    TEST_CHECK(rc == 0, "--help exit %d", rc);
    for (int i = 0; i < 6; i++) TEST_CHECK(log_has(fmts[i]), "--help lacks %s", fmts[i]);
    TEST_CHECK(log_has("imagenet"), "--help lacks imagenet");
    rc = run("imagenet21k x y.h5");   // imagenet itself is a format now (hpff_data imagenet)
    TEST_CHECK(rc == 2 && log_has("unknown format 'imagenet21k'"), "unknown format: exit %d", rc);
    rc = run("cifar10 c10");
    TEST_CHECK(rc == 2 && log_has("usage"), "missing argument: exit %d", rc);
    rc = run("cifar10 nowhere out/x.h5");
    TEST_CHECK(rc == 1 && log_has("nowhere/data_batch_1.bin"), "missing folder: exit %d", rc);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "data_convert_XXXXXX");
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); return 1; }
    test_cli();
    test_fashion_mnist();
    test_cifar();
    test_svhn();
    test_stl();
    test_folder();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (!g_test_fail && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    else if (g_test_fail) fprintf(stderr, "files kept in %s\n", g_dir);
    return hpff_test_summary("test_data_convert");
}
