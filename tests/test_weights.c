// test_weights.c — weights under state_dict names (src/weights.h): a two-rank checkpoint of a
// reduced bottleneck ResNet with InfoPro heads exported by hpff_weights_export (torchvision names
// and shapes, num_batches_tracked, heads only with --heads) and loaded back by hpff_weights_load
// into a model of another seed: every tensor bitwise equal; a file that names a tensor the
// network lacks, has another shape, or lacks a backbone tensor is refused, naming it.
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ckpt.h"
#include "transport.h"
#include "golden_util.h"
#include "weights.h"

static const hpff_shape IMG = {3, 32, 32};

static void config(hpff_config *c, int seed) {
    hpff_config_defaults(c);
    c->arch = HPFF_ARCH_RESNET50;
    strcpy(c->blocks, "1,1,3,1");
    c->width = 2;   // stem 8
    c->batch = 4;
    c->seed = seed;
    c->method = HPFF_METHOD_INFOPRO;
    c->K = 4;
    c->split = HPFF_SPLIT_LIST;
    strcpy(c->modules, "3:0,3:1,3:2,4:0");
}

static void build(hpff_model *md, const hpff_config *c, hpff_backend *be, int classes, int m0, int m1) {
    hpff_status st = hpff_model_build(md, c, be, IMG, classes, m0, m1);
    HPFF_CHECK(!st.code, "%s", st.msg);
    hpff_model_init_values(md);
}

// A checkpoint of the whole model written as two ranks (modules 0-1 and 2-3), step 7.
static void write_ckpt(const char *run, const hpff_config *c, hpff_backend *be) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/checkpoints", run);
    hpff_ckpt_pos pos = {7, 1, 0, -1, 0, 0, 1};
    float mean[3] = {0.5f, 0.5f, 0.5f}, sd[3] = {0.25f, 0.25f, 0.25f};
    for (int r = 0; r < 2; r++) {
        hpff_model md;
        build(&md, c, be, 10, 2 * r, 2 * r + 1);
        hpff_transport *tr = hpff_transport_local_create();
        hpff_stage s;
        hpff_stage_init(&s, &md, tr, mean, sd, 3);
        hpff_status st = hpff_ckpt_write_rank(dir, &s, c, &pos, r, 2, "0-1,2-3", NULL);
        TEST_CHECK(!st.code, "%s", st.msg);
        hpff_stage_free(&s);
        tr->ops->destroy(tr);
        hpff_model_free(&md);
    }
    TEST_CHECK(!hpff_ckpt_mark_complete(dir, 7, 2).code, "mark complete");
}

static int dims_of(const char *path, const char *name, hsize_t *dims) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), d = f >= 0 ? H5Dopen2(f, name, H5P_DEFAULT) : -1;
    int nd = -1;
    if (d >= 0) {
        hid_t sp = H5Dget_space(d);
        nd = H5Sget_simple_extent_ndims(sp);
        H5Sget_simple_extent_dims(sp, dims, NULL);
        H5Sclose(sp);
        H5Dclose(d);
    }
    if (f >= 0) H5Fclose(f);
    return nd;
}

// Every tensor of `a` equals the same-named tensor of `b` bitwise (heads only when `heads`).
static void same_tensors(const hpff_model *a, const hpff_model *b, int heads, const char *what) {
    const hpff_registry *ra[2] = {&a->params, &a->state};
    int diff = 0, n = 0;
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < ra[r]->n; i++) {
            const hpff_tensor_info *t = &ra[r]->t[i];
            if (!heads && strncmp(t->name, "aux", 3) == 0) continue;
            float *x = malloc(t->count * sizeof(float)), *y = malloc(t->count * sizeof(float));
            hpff_model_get_tensor(a, t->name, x, t->count);
            hpff_model_get_tensor(b, t->name, y, t->count);
            diff += memcmp(x, y, t->count * sizeof(float)) != 0;
            n++;
            free(x);
            free(y);
        }
    TEST_CHECK(diff == 0 && n > 0, "%s: %d of %d tensors differ", what, diff, n);
}

// Loading `path` into a fresh model must fail with a message containing `want`.
static void expect_refused(const char *path, const hpff_config *c, hpff_backend *be, int classes, const char *want) {
    hpff_model md;
    build(&md, c, be, classes, 0, 3);
    int loaded = 0;
    hpff_status st = hpff_weights_load(&md, path, IMG, classes, &loaded);
    TEST_CHECK(st.code && strstr(st.msg, want), "loading %s: expected an error naming '%s', got: %s", path, want,
               st.code ? st.msg : "success");
    hpff_model_free(&md);
}

static void edit_file(const char *path, const char *drop, const char *add) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (drop) H5Ldelete(f, drop, H5P_DEFAULT);
    if (add) {
        hsize_t d[1] = {3};
        float v[3] = {0};
        hid_t sp = H5Screate_simple(1, d, NULL);
        hid_t ds = H5Dcreate2(f, add, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
        H5Dclose(ds);
        H5Sclose(sp);
    }
    H5Fclose(f);
}

int main(void) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    char run[] = "/tmp/hpff_weights_XXXXXX";
    TEST_CHECK(mkdtemp(run) != NULL, "mkdtemp");
    char out[256], heads[256], bad[256], cmd[600];
    snprintf(out, sizeof out, "%s/w.h5", run);
    snprintf(heads, sizeof heads, "%s/wh.h5", run);
    snprintf(bad, sizeof bad, "%s/bad.h5", run);
    hpff_backend *be = hpff_backend_cpu_create();
    hpff_config c1, c2;
    config(&c1, 1);
    config(&c2, 2);
    write_ckpt(run, &c1, be);
    int written = 0, written_h = 0;
    hpff_status st = hpff_weights_export(run, out, 0, &written);
    TEST_CHECK(!st.code, "%s", st.msg);
    st = hpff_weights_export(run, heads, 1, &written_h);
    TEST_CHECK(!st.code && written_h > written, "--heads wrote %d tensors, without %d", written_h, written);
    hsize_t d[8];
    TEST_CHECK(dims_of(out, "conv1.weight", d) == 4 && d[0] == 8 && d[1] == 3 && d[2] == 7 && d[3] == 7,
               "conv1.weight is exported as (8, 3, 7, 7)");
    TEST_CHECK(dims_of(out, "fc.weight", d) == 2 && d[0] == 10 && d[1] == 256, "fc.weight is exported as (10, 256)");
    TEST_CHECK(dims_of(out, "layer3.2.bn2.running_var", d) == 1 && d[0] == 32, "running_var is (32,)");
    TEST_CHECK(dims_of(out, "layer3.2.bn2.num_batches_tracked", d) == 0, "num_batches_tracked is a scalar");
    TEST_CHECK(dims_of(out, "aux1.cl.cls.fc.weight", d) < 0 && dims_of(heads, "aux1.cl.cls.fc.weight", d) == 2,
               "aux heads only with --heads");
    hpff_model ref, got;
    build(&ref, &c1, be, 10, 0, 3);
    build(&got, &c2, be, 10, 0, 3);
    int loaded = 0;
    st = hpff_weights_load(&got, out, IMG, 10, &loaded);
    TEST_CHECK(!st.code && loaded == written, "load: %s (%d of %d tensors)", st.msg, loaded, written);
    same_tensors(&ref, &got, 0, "backbone and head after --init-from");
    st = hpff_weights_load(&got, heads, IMG, 10, &loaded);
    TEST_CHECK(!st.code && loaded == written_h, "load with heads: %s", st.msg);
    same_tensors(&ref, &got, 1, "every tensor after --init-from of a --heads export");
    hpff_model_free(&ref);
    hpff_model_free(&got);
    expect_refused(out, &c1, be, 5, "'fc.weight' has shape 10x256 in the file, 5x256 in the network");
    snprintf(cmd, sizeof cmd, "cp %s %s", out, bad);
    TEST_CHECK(system(cmd) == 0, "cp");
    edit_file(bad, NULL, "layer9.0.conv1.weight");
    expect_refused(bad, &c1, be, 10, "'layer9.0.conv1.weight' is not a tensor of this network");
    TEST_CHECK(system(cmd) == 0, "cp");
    edit_file(bad, "layer2.0.downsample.1.running_mean", NULL);
    expect_refused(bad, &c1, be, 10, "'layer2.0.downsample.1.running_mean' is missing from the file");
    snprintf(cmd, sizeof cmd, "rm -rf %s", run);
    TEST_CHECK(system(cmd) == 0, "cleanup");
    hpff_backend_destroy(be);
    return hpff_test_summary("test_weights");
}
