// test_data_imagenet.c — the ImageNet data path on a small JPEG tree made by
// tests/data/imagenet_fixture.py (PIL): hpff_data imagenet (bad files stop it naming the file,
// --skip-bad lists them, the three validation forms, shards, O_EXCL temporary files, outputs
// inside the source refused), the encoded-JPEG reader (shard lists, a contiguous copy written
// with the HDF5 API, compressed bytes refused), the loader (train crops a function of
// (seed, epoch, index): same for any thread count and on resume, different across epochs;
// replica shares), dumps that the fixture compares with PIL and torchvision, and a short
// training run of hpff_pipe on the converted file.
#include <hdf5.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "augment.h"
#include "jpeg_dec.h"
#include "jpeg_loader.h"
#include "jpeg_tf.h"
#include "jpegds.h"
#include "sampler.h"
#include "test_util.h"

static char g_dir[PATH_MAX];
enum { NT = 13 };   // train images of the fixture that --skip-bad keeps

static const char *at(const char *rel) { return test_path_in(g_dir, rel); }

// Runs a shell command (printf-style) in g_dir with output to run.log; returns its exit code.
static int sh(const char *fmt, ...) {
    char cmd[4096], full[4096 + PATH_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "cd '%s' && { %s ; } > run.log 2>&1", g_dir, cmd);
    int st = system(full);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int log_has(const char *needle) { return test_file_has(at("run.log"), needle); }

static void show_log(void) {
    FILE *f = fopen(at("run.log"), "r");
    char line[1024];
    while (f && fgets(line, sizeof line, f)) fputs(line, stdout);
    if (f) fclose(f);
}

static int count_in(const char *rel, const char *needle) {
    FILE *f = fopen(at(rel), "r");
    char line[65536];
    int n = 0;
    while (f && fgets(line, sizeof line, f)) n += strstr(line, needle) != NULL;
    if (f) fclose(f);
    return n;
}

static int exists(const char *rel) {
    struct stat st;
    return lstat(at(rel), &st) == 0;
}

#define CONVERT "'" HPFF_DATA_EXE "' imagenet --threads 2"

// ---------------------------------------------------------------- converter ----------------

static void test_convert(void) {
    TEST_CHECK(sh(CONVERT " in out_fail.h5") == 1, "a tree with bad files must fail");
    TEST_CHECK(log_has("train/n01000001/empty.JPEG: empty file") && log_has("--skip-bad"),
               "the error names the first bad file and the option");
    TEST_CHECK(!exists("out_fail.h5") && !exists("out_fail.h5.tmp"), "a failed run leaves nothing");
    TEST_CHECK(sh(CONVERT " --skip-bad in out.h5") == 0, "--skip-bad run failed");
    TEST_CHECK(log_has("13 train + 6 val images, 3 classes") && log_has("1 CMYK, 1 PNG") &&
               log_has("grayscale (kept; expanded to RGB when decoded): 1") &&
               log_has("left out (--skip-bad): 2") && log_has("train/n01000002/truncated.JPEG: truncated") &&
               log_has("LOC_val_solution.csv") && log_has("ignored entries") && log_has("img/s") &&
               log_has("despite libjpeg warnings (kept): 1") && log_has("train/n02000003/warn.JPEG: Corrupt JPEG data"),
               "summary of the --skip-bad run");
    TEST_CHECK(sh(CONVERT " --skip-bad in_devkit out_devkit.h5") == 0 && log_has("devkit"), "devkit form");
    TEST_CHECK(sh(CONVERT " --skip-bad in_folders out_folders.h5") == 0 && log_has("val/<wnid>/ folders"),
               "val/<wnid>/ form");
    TEST_CHECK(sh(CONVERT " --skip-bad --shards 2 in sh.h5") == 0 && exists("sh-00000-of-00002.h5") &&
               exists("sh-00001-of-00002.h5") && !exists("sh.h5"), "--shards 2");
    TEST_CHECK(sh(CONVERT " --skip-bad --max-resolution 200 --quality 80 in small.h5") == 0 &&
               log_has("resized to a shorter side of 200 and re-encoded: 12"), "--max-resolution");
    // A stale temporary name, even a link to something else, is refused and left alone.
    TEST_CHECK(sh("echo keep > victim && ln -s victim out_x.h5.tmp && " CONVERT " --skip-bad in out_x.h5") == 1 &&
               log_has("exists"), "an existing .tmp must be refused");
    TEST_CHECK(sh("test \"$(cat victim)\" = keep && test -L out_x.h5.tmp && test ! -e out_x.h5") == 0,
               "the link's target was written through");
    TEST_CHECK(sh(CONVERT " --skip-bad in in/train/n01000001/x.h5") == 1 && log_has("inside the source"),
               "output inside the source tree");
    // Four folders down, out of reach of the Kaggle CSV in g_dir.
    TEST_CHECK(sh("mkdir -p a/b/c/nl/train a/b/c/nl/val && cp -r in/train/n01000001 a/b/c/nl/train/ && "
                  "cp in/val/ILSVRC2012_val_00000001.JPEG a/b/c/nl/val/ && " CONVERT " a/b/c/nl nl.h5") == 1 &&
               log_has("no labels were found") && log_has("LOC_val_solution.csv"), "flat val without labels");
    TEST_CHECK(sh("cp LOC_val_solution.csv a/b/c/nl/ && " CONVERT " a/b/c/nl nl.h5") == 1 &&
               log_has("labels val/ILSVRC2012_val_00000001.JPEG as n01000002, which has no folder under train/"),
               "a validation class without a train folder");
    TEST_CHECK(sh(CONVERT " --shards 0 in z.h5") == 2 && log_has("--shards"), "bad option value");
}

// ---------------------------------------------------------------- reader -------------------

static void expect_open_error(const char *paths, const char *split, const char *needle) {
    hpff_jpegds ds;
    hpff_status s = hpff_jpegds_open(paths, split, &ds);
    TEST_CHECK(s.code != 0 && strstr(s.msg, needle), "opening %s: expected an error with '%s', got: %s",
               paths, needle, s.code ? s.msg : "success");
    if (!s.code) hpff_jpegds_close(&ds);
}

static size_t total_bytes(const hpff_jpegds *ds, uint8_t **buf, size_t *cap) {
    size_t all = 0, len;
    for (int i = 0; i < ds->n; i++) {
        hpff_status s = hpff_jpegds_read(ds, i, buf, cap, &len);
        TEST_CHECK(!s.code, "%s", s.msg);
        TEST_CHECK(len > 3 && (*buf)[0] == 0xFF && (*buf)[1] == 0xD8, "image %d is not a JPEG", i);
        all += len;
    }
    return all;
}

static void *read_all(hid_t f, const char *name, hid_t mem, size_t elem, hsize_t *n) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT), sp = H5Dget_space(d);
    H5Sget_simple_extent_dims(sp, n, NULL);
    void *buf = malloc((size_t)*n * elem + 1);
    H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    H5Sclose(sp);
    H5Dclose(d);
    return buf;
}

// /train of out.h5 rewritten with the HDF5 API as a user might: the bytes contiguous
// (deflate = 0) or chunked and deflated (deflate = 1).
static void write_copy(const char *dst, int deflate) {
    hid_t in = H5Fopen(at("out.h5"), H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t out = H5Fcreate(at(dst), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = H5Gcreate2(out, "train", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const char *names[5] = {"jpeg", "offsets", "labels", "heights", "widths"};
    hid_t types[5] = {H5T_NATIVE_UINT8, H5T_NATIVE_INT64, H5T_NATIVE_INT32, H5T_NATIVE_INT32, H5T_NATIVE_INT32};
    size_t sizes[5] = {1, 8, 4, 4, 4};
    for (int i = 0; i < 5; i++) {
        char full[32];
        hsize_t n, chunk = 4096;
        snprintf(full, sizeof full, "/train/%s", names[i]);
        void *buf = read_all(in, full, types[i], sizes[i], &n);
        hid_t sp = H5Screate_simple(1, &n, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
        if (deflate && i == 0) { H5Pset_chunk(dcpl, 1, &chunk); H5Pset_deflate(dcpl, 1); }
        hid_t d = H5Dcreate2(g, names[i], types[i], sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        H5Dwrite(d, types[i], H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
        H5Dclose(d);
        H5Pclose(dcpl);
        H5Sclose(sp);
        free(buf);
    }
    int32_t classes = 3;
    float mean[3] = {0.5f, 0.5f, 0.5f}, sd[3] = {0.25f, 0.25f, 0.25f};
    hsize_t three = 3;
    hid_t s1 = H5Screate(H5S_SCALAR), s3 = H5Screate_simple(1, &three, NULL);
    hid_t str = H5Tcopy(H5T_C_S1);
    H5Tset_size(str, 5);
    hid_t a = H5Acreate2(out, "format", str, s1, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, str, "jpeg");
    H5Aclose(a);
    a = H5Acreate2(out, "classes", H5T_STD_I32LE, s1, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT32, &classes);
    H5Aclose(a);
    a = H5Acreate2(out, "mean", H5T_IEEE_F32LE, s3, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_FLOAT, mean);
    H5Aclose(a);
    a = H5Acreate2(out, "std", H5T_IEEE_F32LE, s3, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_FLOAT, sd);
    H5Aclose(a);
    H5Tclose(str);
    H5Sclose(s1);
    H5Sclose(s3);
    H5Gclose(g);
    H5Fclose(out);
    H5Fclose(in);
}

static void test_reader(void) {
    hpff_jpegds ds, shd, cp;
    uint8_t *buf = NULL;
    size_t cap = 0;
    hpff_status s = hpff_jpegds_open(at("out.h5"), "train", &ds);
    TEST_CHECK(!s.code, "%s", s.msg);
    if (s.code) return;
    TEST_CHECK(ds.n == NT && ds.classes == 3 && strcmp(ds.source, "imagenet") == 0 &&
               fabsf(ds.mean[0] - 0.485f) < 1e-6f && fabsf(ds.std[2] - 0.225f) < 1e-6f,
               "train split: n %d classes %d source %s", ds.n, ds.classes, ds.source);
    size_t all = total_bytes(&ds, &buf, &cap);
    hpff_jpeg_dec *dec = hpff_jpeg_dec_new();
    for (int i = 0; i < ds.n; i++) {   // the stored sizes are the JPEGs' own
        size_t len;
        hpff_jpeg_info info;
        hpff_jpegds_read(&ds, i, &buf, &cap, &len);
        s = hpff_jpeg_header(dec, buf, len, "stored", &info);
        TEST_CHECK(!s.code && info.h == ds.heights[i] && info.w == ds.widths[i] && !info.cmyk,
                   "image %d: header %dx%d, stored %dx%d", i, info.w, info.h, ds.widths[i], ds.heights[i]);
    }
    hpff_jpeg_dec_free(dec);
    char pat[4300];
    snprintf(pat, sizeof pat, "%s, ", at("sh-0000[0-1]-of-00002.h5"));   // glob in a list
    s = hpff_jpegds_open(pat, "train", &shd);
    TEST_CHECK(!s.code && shd.n == ds.n && shd.files == 2, "shards as one: %s (n %d)", s.msg, s.code ? 0 : shd.n);
    if (!s.code) {
        TEST_CHECK(total_bytes(&shd, &buf, &cap) == all, "shards hold other bytes");
        hpff_jpegds_close(&shd);
    }
    char two[8500];
    snprintf(two, sizeof two, "%s,%s", at("sh-00001-of-00002.h5"), at("sh-00001-of-00002.h5"));
    expect_open_error(two, "train", "both shard 1");
    snprintf(two, sizeof two, "%s,%s", at("out.h5"), at("sh-00001-of-00002.h5"));
    expect_open_error(two, "train", "differ in");
    expect_open_error(at("nothing-*.h5"), "train", "matches no file");
    expect_open_error(at("run.log"), "train", "not a readable HDF5 file");
    write_copy("contig.h5", 0);
    s = hpff_jpegds_open(at("contig.h5"), "train", &cp);
    TEST_CHECK(!s.code, "contiguous copy: %s", s.msg);
    if (!s.code) {
        TEST_CHECK(cp.n == ds.n && total_bytes(&cp, &buf, &cap) == all, "contiguous copy differs");
        hpff_jpegds_close(&cp);
    }
    write_copy("deflate.h5", 1);
    expect_open_error(at("deflate.h5"), "train", "filter");
    expect_open_error(at("contig.h5"), "test", "dataset /test/labels not found");
    TEST_CHECK(sh("head -c 200000 out.h5 > cut.h5") == 0, "cut");
    expect_open_error(at("cut.h5"), "train", "cut.h5");
    free(buf);
    hpff_jpegds_close(&ds);
}

// ---------------------------------------------------------------- sampler and loader -------

static void test_sampler(void) {
    enum { N = 10, R = 3 };
    int32_t perm[N], scratch[N], got[N], seen[N] = {0};
    hpff_shuffle_order(perm, N, 9, 4);
    for (int r = 0; r < R; r++) {
        hpff_share pad = {r, R, 1}, exact = {r, R, 0};
        TEST_CHECK(hpff_sampler_count(N, pad) == 4, "pad count %d", hpff_sampler_count(N, pad));
        TEST_CHECK(hpff_sampler_count(N, exact) == (r == 0 ? 4 : 3), "exact count");
        hpff_sampler_epoch(got, scratch, N, 9, 4, 1, pad);
        for (int k = 0; k < 4; k++)   // DistributedSampler: padded[r::R], padded = perm + perm[:2]
            TEST_CHECK(got[k] == perm[(r + k * R) % N], "replica %d sample %d: %d", r, k, got[k]);
        hpff_sampler_epoch(got, scratch, N, 9, 4, 1, exact);
        for (int k = 0; k < hpff_sampler_count(N, exact); k++) seen[got[k]]++;
    }
    for (int i = 0; i < N; i++) TEST_CHECK(seen[i] == 1, "exact shares: sample %d read %d times", i, seen[i]);
    hpff_sampler_epoch(got, scratch, N, 9, 4, 0, (hpff_share){1, 2, 0});
    TEST_CHECK(got[0] == 1 && got[4] == 9, "unshuffled share of replica 1: %d %d", got[0], got[4]);
}

static void test_draws(void) {
    hpff_jtf t = hpff_jtf_train(224);
    int flips = 0, bad = 0, n = 4000;
    double amin = 1, amax = 0;
    for (int i = 0; i < n; i++) {
        hpff_jcrop c = hpff_jtf_draw(&t, 3, 1, i, 375, 500), d = hpff_jtf_draw(&t, 3, 1, i, 375, 500);
        double area = (double)c.w * c.h / (375.0 * 500.0), ratio = (double)c.w / c.h;
        bad += memcmp(&c, &d, sizeof c) != 0 || c.x < 0 || c.y < 0 || c.x + c.w > 500 ||
               c.y + c.h > 375 || ratio < 0.74 || ratio > 1.35 || area < 0.079 || area > 1.0;
        amin = area < amin ? area : amin;
        amax = area > amax ? area : amax;
        flips += c.flip;
    }
    TEST_CHECK(bad == 0, "%d of %d crops break RandomResizedCrop's ranges or are not repeatable", bad, n);
    TEST_CHECK(amin < 0.1 && amax > 0.85 && flips > n * 0.45 && flips < n * 0.55,
               "crop areas %.3f..%.3f, %d flips of %d", amin, amax, flips, n);
    hpff_jcrop e0 = hpff_jtf_draw(&t, 3, 1, 7, 375, 500), e1 = hpff_jtf_draw(&t, 3, 2, 7, 375, 500);
    TEST_CHECK(memcmp(&e0, &e1, sizeof e0) != 0, "epochs 1 and 2 drew the same crop");
    hpff_jcrop f = hpff_jtf_draw(&t, 3, 1, 0, 10, 1000);   // torchvision's fallback: 13 x 10 centre
    TEST_CHECK(f.w == 13 && f.h == 10 && f.x == 493 && f.y == 0, "fallback crop %d %d %d %d", f.x, f.y, f.w, f.h);
}

// Every batch of one epoch from batch `first`: x (n, 3, out, out), y (n). Returns n.
static int epoch_of(hpff_loader *L, int epoch, int first, float *x, int32_t *y) {
    int c, h, w, total = 0, n;
    hpff_loader_shape(L, &c, &h, &w);
    double wait = 0;
    hpff_loader_start_epoch(L, epoch, first);
    while ((n = hpff_loader_next(L, x + (size_t)total * c * h * w, y + total, &wait)) > 0) total += n;
    return total;
}

static hpff_loader *train_loader(const hpff_jpegds *ds, int threads, hpff_share share) {
    hpff_jpeg_loader_opts o = {1, 32, 36, 1, 5, threads, 11, 1, share};
    return hpff_jpeg_loader_create(ds, &o);
}

static void test_loader(void) {
    hpff_jpegds ds;
    hpff_status s = hpff_jpegds_open(at("out.h5"), "train", &ds);
    TEST_CHECK(!s.code, "%s", s.msg);
    if (s.code) return;
    size_t per = 3 * 32 * 32;
    float *a = malloc(2 * NT * per * sizeof(float)), *b = a + NT * per;
    int32_t ya[NT], yb[NT], perm[NT], order[NT];
    hpff_loader *L1 = train_loader(&ds, 1, (hpff_share){0, 1, 1}), *L3 = train_loader(&ds, 3, (hpff_share){0, 1, 1});
    TEST_CHECK(hpff_loader_batches(L1) == 3 && strcmp(hpff_loader_augment(L1), "imagenet") == 0, "batches");
    TEST_CHECK(epoch_of(L1, 2, 0, a, ya) == NT && epoch_of(L3, 2, 0, b, yb) == NT, "epoch size");
    TEST_CHECK(memcmp(a, b, NT * per * sizeof(float)) == 0 && memcmp(ya, yb, sizeof ya) == 0,
               "1 and 3 threads give different batches");
    hpff_sampler_epoch(order, perm, NT, 11, 2, 1, (hpff_share){0, 1, 1});
    int lab = 0;
    for (int k = 0; k < NT; k++) lab += ya[k] != ds.labels[order[k]];
    TEST_CHECK(lab == 0, "%d labels do not follow the epoch's permutation", lab);
    TEST_CHECK(epoch_of(L3, 2, 1, b, yb) == NT - 5 && memcmp(a + 5 * per, b, (NT - 5) * per * sizeof(float)) == 0,
               "resuming at batch 1 differs from the continuous epoch");
    TEST_CHECK(epoch_of(L1, 3, 0, b, yb) == NT && memcmp(a, b, NT * per * sizeof(float)) != 0,
               "epochs 2 and 3 gave the same samples");
    hpff_jpeg_loader_opts fixed = {1, 32, 36, 1, 5, 2, 11, 0, {0, 1, 1}};   // index order
    hpff_loader *Lf = hpff_jpeg_loader_create(&ds, &fixed);
    epoch_of(Lf, 2, 0, a, ya);
    epoch_of(Lf, 3, 0, b, yb);
    int moved = 0;
    for (int k = 0; k < NT; k++) moved += memcmp(a + k * per, b + k * per, per * sizeof(float)) != 0;
    TEST_CHECK(moved >= NT - 2, "only %d of %d images got a new crop in the next epoch", moved, NT);
    hpff_loader_destroy(Lf);
    epoch_of(L1, 2, 0, a, ya);
    for (int r = 0; r < 2; r++) {   // replica r reads padded[r::2] of the same permutation
        hpff_loader *Lr = train_loader(&ds, 2, (hpff_share){r, 2, 1});
        int n = epoch_of(Lr, 2, 0, b, yb), same = 1;
        for (int k = 0; k < n; k++) same &= memcmp(b + k * per, a + (size_t)((r + 2 * k) % NT) * per, per * sizeof(float)) == 0;
        TEST_CHECK(n == (NT + 1) / 2 && same, "replica %d of 2: %d samples, equal to its share: %d", r, n, same);
        hpff_loader_destroy(Lr);
    }
    hpff_loader_destroy(L1);
    hpff_loader_destroy(L3);
    free(a);
    hpff_jpegds_close(&ds);
}

// ---------------------------------------------------------------- dumps for the fixture ----

// The loader's samples of a whole split as uint8 (n, out, out, 3) in file `name`, and per
// sample "index height width x y w h flip" (the train draw) in name.txt. The normalisation is
// undone; every value must come back within 0.02 of an integer.
static void dump(const char *path, const char *split, const char *name, int train, int out,
                 int resize, int dct) {
    hpff_jpegds ds;
    hpff_status s = hpff_jpegds_open(at(path), split, &ds);
    TEST_CHECK(!s.code, "%s", s.msg);
    if (s.code) return;
    hpff_jpeg_loader_opts o = {train, out, resize, dct, ds.n, 2, 5, 0, {0, 1, 0}};
    hpff_loader *L = hpff_jpeg_loader_create(&ds, &o);
    size_t per = (size_t)3 * out * out;
    float *x = malloc((size_t)ds.n * per * sizeof(float));
    int32_t *y = malloc((size_t)ds.n * sizeof(int32_t));
    uint8_t *u = malloc((size_t)ds.n * per);
    int n = epoch_of(L, 3, 0, x, y), off = 0;
    hpff_jtf t = hpff_jtf_train(out);
    char txt[64];
    snprintf(txt, sizeof txt, "%s.txt", name);
    FILE *fi = fopen(at(txt), "w");
    for (int i = 0; i < n; i++) {
        for (int ch = 0; ch < 3; ch++)
            for (size_t p = 0; p < (size_t)out * out; p++) {
                float v = (x[i * per + ch * (size_t)out * out + p] * ds.std[ch] + ds.mean[ch]) * 255.0f;
                off += fabsf(v - rintf(v)) > 0.02f;
                u[i * per + p * 3 + ch] = (uint8_t)rintf(v);
            }
        hpff_jcrop c = hpff_jtf_draw(&t, 5, 3, i, ds.heights[i], ds.widths[i]);
        fprintf(fi, "%d %d %d %d %d %d %d %d\n", i, ds.heights[i], ds.widths[i], c.x, c.y, c.w, c.h, c.flip);
    }
    fclose(fi);
    FILE *f = fopen(at(name), "wb");
    fwrite(u, 1, (size_t)n * per, f);
    fclose(f);
    TEST_CHECK(n == ds.n && off == 0, "%s: %d samples, %d values off the normalisation grid", name, n, off);
    free(x);
    free(y);
    free(u);
    hpff_loader_destroy(L);
    hpff_jpegds_close(&ds);
}

// Every train image of out.h5 decoded whole by jpeg_dec, concatenated (h, w, 3).
static void dump_decodes(void) {
    hpff_jpegds ds;
    hpff_status s = hpff_jpegds_open(at("out.h5"), "train", &ds);
    if (s.code) return;
    hpff_jpeg_dec *d = hpff_jpeg_dec_new();
    FILE *f = fopen(at("dec_full.bin"), "wb");
    uint8_t *buf = NULL;
    size_t cap = 0, len;
    for (int i = 0; i < ds.n; i++) {
        hpff_jpeg_out o;
        hpff_jpegds_read(&ds, i, &buf, &cap, &len);
        s = hpff_jpeg_decode(d, buf, len, "stored", 1, 0, 0, 1 << 20, 1 << 20, &o);
        TEST_CHECK(!s.code && o.w == ds.widths[i] && o.h == ds.heights[i], "decode %d: %s", i, s.msg);
        for (int r = 0; r < o.h && !s.code; r++) fwrite(o.px + (size_t)r * o.stride, 1, (size_t)o.w * 3, f);
    }
    fclose(f);
    free(buf);
    hpff_jpeg_dec_free(d);
    hpff_jpegds_close(&ds);
}

// ---------------------------------------------------------------- training -----------------

static void test_training(void) {
    FILE *f = fopen(at("c.ini"), "w");
    fprintf(f, "[model]\narch = resnet8\nwidth = 4\n[data]\ntrain_file = %s\nimage_size = 32\n"
               "loader_threads = 2\n[train]\nmethod = bp\nepochs = 1\nbatch = 4\nlr = 0.05\n"
               "schedule = constant\nlog_every = 1\nthreads = 1\nrun_dir = %s\n", at("out.h5"), at("run"));
    fclose(f);
    TEST_CHECK(sh("'%s' --config c.ini", HPFF_PIPE_EXE) == 0, "training on the converted file failed");
    TEST_CHECK(log_has("(3 x 32 x 32, 3 classes, 13 train / 6 test)") && log_has("test err"), "training log");
    int waits = count_in("run/metrics.jsonl", "\"t_wait_data\"");
    TEST_CHECK(waits == 6, "%d metrics records with t_wait_data; expected 4 steps + epoch + summary", waits);
    TEST_CHECK(sh("'%s' --config c.ini --set data.augment=cifar --set train.run_dir=run2", HPFF_PIPE_EXE) != 0 &&
               log_has("applies to pixel datasets"), "augment cifar on JPEG data must be refused");
    TEST_CHECK(sh("bash '%s/tests/trainer/test_resume.sh' '%s' out.h5 bp --set data.augment=auto "
                  "--set data.image_size=32 --set train.batch=4", HPFF_SOURCE_DIR, HPFF_BINARY_DIR) == 0,
               "bit-exact resume on JPEG data (tests/trainer/test_resume.sh)");
}

int main(void) {
    char tmpl[] = "imagenet_XXXXXX";
    if (!mkdtemp(tmpl) || !realpath(tmpl, g_dir)) { perror("mkdtemp"); return 1; }
    int rc = sh("'%s' '%s' make .", HPFF_PYTHON, HPFF_FIXTURE);
    if (rc == 77) { printf("SKIP: python3 with numpy, PIL and h5py is needed\n"); return 77; }
    TEST_CHECK(rc == 0, "making the JPEG tree failed");
    if (rc) return hpff_test_summary("test_data_imagenet");
    test_convert();
    test_reader();
    test_sampler();
    test_draws();
    test_loader();
    dump("out.h5", "train", "eval_off.bin", 0, 224, 256, 0);
    dump("out.h5", "test", "evaltest_off.bin", 0, 224, 256, 0);
    dump("out.h5", "train", "eval_on.bin", 0, 224, 256, 1);
    dump("out.h5", "train", "train_off.bin", 1, 224, 224, 0);
    dump("out.h5", "train", "train_on.bin", 1, 32, 32, 1);
    dump_decodes();
    rc = sh("'%s' '%s' check .", HPFF_PYTHON, HPFF_FIXTURE);
    show_log();
    TEST_CHECK(rc == 0, "the h5py / PIL / torchvision checks failed (exit %d)", rc);
    test_training();
    if (g_test_fail == 0) sh("cd .. && rm -rf '%s'", g_dir);
    return hpff_test_summary("test_data_imagenet");
}
