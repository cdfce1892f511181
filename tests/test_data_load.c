// test_data_load.c — hpff_dataset_load on good files and on every kind of defect: each error
// must be one message naming the file, the dataset or attribute and what was expected, and
// HDF5 must print nothing of its own.
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dataset.h"
#include "dsfile.h"
#include "test_util.h"

static char g_dir[256];

// What make_file writes; spec_default() is a valid 6-image, 5x4x3, 3-class file.
typedef struct spec {
    const char *img_name, *lab_name;
    hid_t img_type, lab_type;
    int img_rank, lab_rank;
    hsize_t img_dims[4], lab_dims[2];
    hsize_t test_dims[4];                 // images of /test (labels follow test_dims[0])
    int classes, write_classes, mean_len, skip_test;
    float std0;
    hid_t classes_type, mean_type;
    int source_fixed;                     // fixed-length string instead of variable-length
    int label0;                           // value of labels[0]
    double classes_extra, mean0;          // added to classes as written; mean[0]
} spec;

static spec spec_default(void) {
    spec s = {"images", "labels", H5T_STD_U8LE, H5T_STD_I32LE, 4, 1, {6, 5, 4, 3}, {6, 0},
              {6, 5, 4, 3}, 3, 1, 3, 0, 0.25f, H5T_STD_I32LE, H5T_IEEE_F32LE, 0, 0, 0, 0.5};
    return s;
}

static uint8_t pixel(size_t i) { return (uint8_t)(i * 7 + 3); }

static void write_ds(hid_t g, const char *name, hid_t type, int rank, const hsize_t *dims,
                     int is_label, int label0) {
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(g, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    double *v = calloc((size_t)n + 1, sizeof(double));
    for (hssize_t i = 0; i < n; i++) v[i] = is_label ? (double)(i % 3) : (double)pixel((size_t)i);
    if (is_label && n > 0) v[0] = label0;
    if (n > 0) H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    free(v);
    H5Dclose(d);
    H5Sclose(sp);
}

static void write_attr(hid_t f, const char *name, hid_t type, int n, const double *v) {
    hsize_t dim = (hsize_t)n;
    hid_t sp = n ? H5Screate_simple(1, &dim, NULL) : H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_DOUBLE, v);
    H5Aclose(a);
    H5Sclose(sp);
}

static void write_source(hid_t f, const char *value, int fixed) {
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
    H5Tset_size(t, fixed ? strlen(value) + 1 : H5T_VARIABLE);
    hid_t a = H5Acreate2(f, "source", t, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (fixed) H5Awrite(a, t, value);
    else H5Awrite(a, t, &value);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
}

static void make_file(const char *path, const spec *s) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    for (int split = 0; split < 2; split++) {
        if (split == 1 && s->skip_test) break;
        hid_t g = H5Gcreate2(f, split ? "test" : "train", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        const hsize_t *di = split ? s->test_dims : s->img_dims;
        hsize_t dl[2] = {split ? s->test_dims[0] : s->lab_dims[0], s->lab_dims[1]};
        write_ds(g, s->img_name, s->img_type, s->img_rank, di, 0, 0);
        write_ds(g, s->lab_name, s->lab_type, s->lab_rank, dl, 1, s->label0);
        H5Gclose(g);
    }
    double classes = s->classes + s->classes_extra, mean[4] = {s->mean0, 0.25, 0.125, 0};
    double std[4] = {s->std0, 0.5, 1, 1};
    if (s->write_classes) write_attr(f, "classes", s->classes_type, 0, &classes);
    write_attr(f, "mean", s->mean_type, s->mean_len, mean);
    write_attr(f, "std", s->mean_type, s->mean_len, std);
    write_source(f, "cifar10", s->source_fixed);
    H5Fclose(f);
}

static const char *tmp_path(const char *name) { return test_path_in(g_dir, name); }

// Loads `split` of the file made from s and expects an error containing every needle.
static void expect_error(const char *what, const char *path, const char *split,
                         const char *needle1, const char *needle2) {
    hpff_dataset ds;
    hpff_status st = hpff_dataset_load(path, split, &ds);
    TEST_CHECK(st.code != 0, "%s: loading succeeded, expected an error", what);
    if (!st.code) { hpff_dataset_free(&ds); return; }
    TEST_CHECK(strstr(st.msg, path) != NULL, "%s: message does not name the file: %s", what, st.msg);
    TEST_CHECK(!needle1 || strstr(st.msg, needle1), "%s: message lacks '%s': %s", what, needle1, st.msg);
    TEST_CHECK(!needle2 || strstr(st.msg, needle2), "%s: message lacks '%s': %s", what, needle2, st.msg);
    TEST_CHECK(ds.images == NULL && ds.labels == NULL, "%s: buffers left allocated", what);
    printf("  ok %-28s %s\n", what, st.msg);
}

static void test_valid(void) {
    spec s = spec_default();
    const char *path = tmp_path("valid.h5");
    make_file(path, &s);
    hpff_dataset ds;
    hpff_status st = hpff_dataset_load(path, "train", &ds);
    TEST_CHECK(st.code == 0, "valid file: %s", st.msg);
    if (st.code) return;
    TEST_CHECK(ds.n == 6 && ds.h == 5 && ds.w == 4 && ds.c == 3 && ds.classes == 3,
               "shape %d %d %d %d classes %d", ds.n, ds.h, ds.w, ds.c, ds.classes);
    int bad = 0;
    for (size_t i = 0; i < 6 * 5 * 4 * 3; i++) bad += ds.images[i] != pixel(i);
    for (int i = 0; i < 6; i++) bad += ds.labels[i] != i % 3;
    TEST_CHECK(bad == 0, "%d wrong values", bad);
    TEST_CHECK(ds.mean[0] == 0.5f && ds.mean[2] == 0.125f && ds.std[0] == 0.25f && ds.std[1] == 0.5f,
               "mean/std %g %g %g %g", ds.mean[0], ds.mean[2], ds.std[0], ds.std[1]);
    TEST_CHECK(strcmp(ds.source, "cifar10") == 0, "source '%s'", ds.source);
    TEST_CHECK(strcmp(ds.path, path) == 0, "path '%s'", ds.path);
    hpff_dataset te;
    st = hpff_dataset_load(path, "test", &te);
    TEST_CHECK(st.code == 0, "test split: %s", st.msg);
    st = hpff_dataset_check_compatible(&ds, &te);
    TEST_CHECK(st.code == 0, "compatible: %s", st.msg);
    hpff_dataset_free(&te);
    hpff_dataset_free(&ds);
    TEST_CHECK(ds.images == NULL && ds.labels == NULL, "free leaves pointers");

    // What h5py writes by default: int64 classes, float64 mean/std, fixed-length source.
    s.classes_type = H5T_STD_I64LE;
    s.mean_type = H5T_IEEE_F64LE;
    s.source_fixed = 1;
    path = tmp_path("h5py_style.h5");
    make_file(path, &s);
    st = hpff_dataset_load(path, "train", &ds);
    TEST_CHECK(st.code == 0 && ds.classes == 3 && ds.std[0] == 0.25f &&
               strcmp(ds.source, "cifar10") == 0, "h5py-style attributes: %s", st.msg);
    if (!st.code) hpff_dataset_free(&ds);
}

static void test_dsfile_roundtrip(void) {
    const char *path = tmp_path("written.h5");
    hpff_dsfile *f;
    hpff_status st = hpff_dsfile_create(&f, path, 4);
    TEST_CHECK(st.code == 0, "create: %s", st.msg);
    uint8_t img[3 * 2 * 2 * 1] = {0, 255, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100};
    int32_t lab[3] = {3, 0, 1};
    st = hpff_dsfile_begin(f, "train", 3, 2, 2, 1);
    if (!st.code) st = hpff_dsfile_append(f, img, lab, 2);
    if (!st.code) st = hpff_dsfile_append(f, img + 8, lab + 2, 1);
    TEST_CHECK(st.code == 0, "append: %s", st.msg);
    int32_t bad_label = 4;
    st = hpff_dsfile_begin(f, "test", 1, 2, 2, 1);
    hpff_status e = hpff_dsfile_append(f, img, &bad_label, 1);
    TEST_CHECK(e.code && strstr(e.msg, "outside [0, 4)"), "label 4 accepted: %s", e.msg);
    if (!st.code) st = hpff_dsfile_append(f, img, lab, 1);
    char tmp[600];
    hpff_dsfile_tmp_path(path, tmp, sizeof tmp);
    TEST_CHECK(access(tmp, F_OK) == 0 && access(path, F_OK) != 0, "only the .tmp exists while writing");
    const char *names[4] = {"a", "b", "c", "d"};
    hpff_dsfile_meta meta = {"folder", names, NULL, NULL};
    st = hpff_dsfile_commit(f, &meta);
    TEST_CHECK(st.code == 0, "commit: %s", st.msg);
    TEST_CHECK(access(tmp, F_OK) != 0 && access(path, F_OK) == 0, "renamed after commit");
    hpff_dataset ds;
    st = hpff_dataset_load(path, "train", &ds);
    TEST_CHECK(st.code == 0, "load written: %s", st.msg);
    if (st.code) return;
    double m = 0, q = 0;
    for (int i = 0; i < 12; i++) { m += img[i] / 255.0; q += (img[i] / 255.0) * (img[i] / 255.0); }
    m /= 12;
    q = sqrt(q / 12 - m * m);
    TEST_CHECK(fabs(ds.mean[0] - m) < 1e-6 && fabs(ds.std[0] - q) < 1e-6,
               "computed stats %g %g, expected %g %g", ds.mean[0], ds.std[0], m, q);
    TEST_CHECK(memcmp(ds.images, img, 12) == 0 && ds.labels[0] == 3 && ds.labels[2] == 1,
               "content differs");
    TEST_CHECK(strcmp(ds.source, "folder") == 0, "source %s", ds.source);
    hpff_dataset_free(&ds);

    // Abort leaves nothing; an incomplete split cannot be committed.
    st = hpff_dsfile_create(&f, tmp_path("aborted.h5"), 2);
    if (!st.code) st = hpff_dsfile_begin(f, "train", 5, 2, 2, 1);
    if (!st.code) st = hpff_dsfile_append(f, img, (int32_t[]){0, 1}, 2);
    hpff_dsfile_abort(f);
    TEST_CHECK(access(tmp_path("aborted.h5"), F_OK) != 0 && access(tmp_path("aborted.h5.tmp"), F_OK) != 0,
               "abort left a file");
    st = hpff_dsfile_create(&f, tmp_path("short.h5"), 2);
    if (!st.code) st = hpff_dsfile_begin(f, "train", 5, 2, 2, 1);
    if (!st.code) st = hpff_dsfile_append(f, img, (int32_t[]){0, 1}, 2);
    st = hpff_dsfile_commit(f, &meta);
    TEST_CHECK(st.code && strstr(st.msg, "incomplete"), "incomplete commit accepted: %s", st.msg);
    TEST_CHECK(access(tmp_path("short.h5"), F_OK) != 0 && access(tmp_path("short.h5.tmp"), F_OK) != 0,
               "failed commit left a file");
}

static void test_defects(void) {
    spec s;
    const char *p;
    expect_error("missing file", tmp_path("nope.h5"), "train", "cannot be opened", "No such file");
    p = tmp_path("text.h5");
    FILE *f = fopen(p, "w");
    fputs("images,labels\n1,2\n", f);
    fclose(f);
    expect_error("not HDF5", p, "train", "not an HDF5 file", NULL);
    s = spec_default();
    s.img_dims[0] = s.lab_dims[0] = 400;          // large enough that a cut loses data
    p = tmp_path("truncated.h5");
    make_file(p, &s);
    FILE *g = fopen(p, "rb");
    fseek(g, 0, SEEK_END);
    long size = ftell(g);
    fclose(g);
    TEST_CHECK(truncate(p, size / 2) == 0, "truncate");
    expect_error("truncated", p, "train", "truncated", NULL);
    make_file(p, &s);
    TEST_CHECK(truncate(p, size - 1) == 0, "truncate");
    expect_error("truncated by 1 byte", p, "train", "truncated", NULL);

    s = spec_default(); s.img_name = "imgs"; p = tmp_path("names.h5"); make_file(p, &s);
    expect_error("wrong dataset name", p, "train", "/train/images not found", "imgs");
    s = spec_default(); s.skip_test = 1; p = tmp_path("nogroup.h5"); make_file(p, &s);
    expect_error("missing split", p, "test", "group /test not found", NULL);
    s = spec_default(); s.img_type = H5T_IEEE_F32LE; p = tmp_path("f32.h5"); make_file(p, &s);
    expect_error("images float32", p, "train", "/train/images is float32", "expected uint8");
    s = spec_default(); s.lab_type = H5T_STD_I64LE; p = tmp_path("i64.h5"); make_file(p, &s);
    expect_error("labels int64", p, "train", "/train/labels is int64", "expected int32");
    s = spec_default(); s.img_type = H5T_STD_I8LE; p = tmp_path("i8.h5"); make_file(p, &s);
    expect_error("images int8", p, "train", "int8", "expected uint8");
    s = spec_default(); s.img_rank = 3; p = tmp_path("rank3.h5"); make_file(p, &s);
    expect_error("images rank 3", p, "train", "(6, 5, 4)", "expected uint8 (N, H, W, C)");
    s = spec_default(); s.lab_rank = 2; s.lab_dims[1] = 1; p = tmp_path("lab2d.h5"); make_file(p, &s);
    expect_error("labels rank 2", p, "train", "(6, 1)", "expected int32 (N)");
    s = spec_default(); s.lab_dims[0] = 5; p = tmp_path("count.h5"); make_file(p, &s);
    expect_error("count mismatch", p, "train", "5 labels", "6 images");
    s = spec_default(); s.label0 = 3; p = tmp_path("label_hi.h5"); make_file(p, &s);
    expect_error("label = classes", p, "train", "label 3 at index 0", "[0, 3)");
    s = spec_default(); s.label0 = -1; p = tmp_path("label_neg.h5"); make_file(p, &s);
    expect_error("label negative", p, "train", "label -1 at index 0", "[0, 3)");
    s = spec_default(); s.img_dims[0] = s.lab_dims[0] = 0; p = tmp_path("empty.h5"); make_file(p, &s);
    expect_error("zero images", p, "train", "zero images", "N >= 1");
    s = spec_default(); s.img_dims[3] = 5; p = tmp_path("c5.h5"); make_file(p, &s);
    expect_error("5 channels", p, "train", "1 to 4 channels", NULL);
    s = spec_default(); s.write_classes = 0; p = tmp_path("noclasses.h5"); make_file(p, &s);
    expect_error("classes missing", p, "train", "'classes' is missing", "integer >= 1");
    s = spec_default(); s.mean_len = 2; p = tmp_path("mean2.h5"); make_file(p, &s);
    expect_error("mean length", p, "train", "'mean' has 2 value(s)", "expected 3 float");
    s = spec_default(); s.std0 = 0; p = tmp_path("std0.h5"); make_file(p, &s);
    expect_error("std zero", p, "train", "std[0] = 0", "expected a finite std > 0");
    s = spec_default(); s.classes_type = H5T_IEEE_F64LE; s.classes_extra = 0.7;
    p = tmp_path("classes_frac.h5"); make_file(p, &s);
    expect_error("classes 3.7", p, "train", "'classes' is not an integer", "integer >= 1");
    s = spec_default(); s.mean0 = NAN; p = tmp_path("mean_nan.h5"); make_file(p, &s);
    expect_error("mean NaN", p, "train", "mean[0] = nan", "finite number");
    expect_error("unknown split", tmp_path("valid.h5"), "val", "unknown split 'val'", NULL);
}

static void test_compatible(void) {
    spec s = spec_default();
    s.test_dims[1] = 7;                               // test images 7x4 instead of 5x4
    const char *p = tmp_path("shape.h5");
    make_file(p, &s);
    hpff_dataset tr, te;
    hpff_status a = hpff_dataset_load(p, "train", &tr), b = hpff_dataset_load(p, "test", &te);
    TEST_CHECK(!a.code && !b.code, "loads: %s %s", a.msg, b.msg);
    if (a.code || b.code) return;
    hpff_status st = hpff_dataset_check_compatible(&tr, &te);
    TEST_CHECK(st.code && strstr(st.msg, "7x4x3") && strstr(st.msg, "5x4x3") && strstr(st.msg, p),
               "shape mismatch not reported: %s", st.msg);
    printf("  ok %-28s %s\n", "test shape != train", st.msg);
    hpff_dataset_free(&te);
    s = spec_default();
    s.classes = 4;
    p = tmp_path("classes4.h5");
    make_file(p, &s);
    b = hpff_dataset_load(p, "test", &te);
    st = hpff_dataset_check_compatible(&tr, &te);
    TEST_CHECK(!b.code && st.code && strstr(st.msg, "4 classes"), "classes mismatch: %s", st.msg);
    hpff_dataset_free(&te);
    hpff_dataset_free(&tr);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "data_load_XXXXXX");
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); return 1; }
    test_valid();
    test_dsfile_roundtrip();
    // Everything HDF5 prints while files are rejected goes to stderr: capture and require none.
    fflush(stderr);
    int saved = dup(2);
    char cap[300];
    snprintf(cap, sizeof cap, "%s/stderr.txt", g_dir);
    FILE *capf = fopen(cap, "w+");
    dup2(fileno(capf), 2);
    test_defects();
    test_compatible();
    fflush(stderr);
    dup2(saved, 2);
    fseek(capf, 0, SEEK_END);
    long printed = ftell(capf);
    TEST_CHECK(printed == 0 || g_test_fail > 0, "HDF5 printed %ld bytes of its own errors", printed);
    if (printed) {
        rewind(capf);
        char line[256];
        while (fgets(line, sizeof line, capf)) fputs(line, stderr);
    }
    fclose(capf);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (!g_test_fail && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    return hpff_test_summary("test_data_load");
}
