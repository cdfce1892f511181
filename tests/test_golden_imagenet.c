// test_golden_imagenet.c — one end-to-end training step of each ImageNet network family against
// torchvision (tests/golden/imagenet_nets.h5, README there): a bottleneck ResNet and a ResNeXt
// 32x8d ([1,1,1,1] blocks, full width) and VGG13 (full width, the spec's classifier), from the
// fixture's hash-grid weights: loss, logits, every parameter gradient (samples and statistics),
// every parameter after the SGD update and the BN running statistics.
#include <hdf5.h>
#include <string.h>
#include "golden_hash.h"
#include "model.h"
#include "stage.h"
#include "transport.h"

#define FIXTURE HPFF_SOURCE_DIR "/tests/golden/imagenet_nets.h5"
// Tolerances of the fixture (make_golden_imagenet.py TOL): atol_frac, rtol.
static const double LOSS_RTOL = 1e-5, LOGIT_TOL[2] = {1e-4, 1e-4}, GRAD_TOL[2] = {1e-4, 1e-3},
                    PARAM_TOL[2] = {1e-4, 1e-5}, RUN_TOL[2] = {1e-5, 1e-4}, STAT_RTOL = 1e-4, STAT_ATOL = 1e-7;

typedef struct family { const char *group; hpff_arch arch; const char *name, *blocks; } family;

typedef struct packed {   // a family's per-parameter arrays of the fixture
    char *names;
    size_t width;
    int n;
    double *scale, *offset, *atol;
    size_t nsamp;
} packed;

static float *tensor_buf(size_t count) { return malloc((count ? count : 1) * sizeof(float)); }

// Sets every parameter from the hash grid; returns how many of the model's parameters it set.
static int load_init(hpff_model *md, const packed *pk, uint64_t key_base) {
    int set = 0;
    for (int i = 0; i < pk->n; i++) {
        const char *name = pk->names + (size_t)i * pk->width;
        int t = hpff_registry_find(&md->params, name);
        TEST_CHECK(t >= 0, "fixture tensor %s is not a parameter of the C network", name);
        if (t < 0) continue;
        size_t count = md->params.t[t].count;
        float *v = tensor_buf(count);
        gh_grid(key_base + (uint64_t)i, count, pk->scale[i], pk->offset[i], v);
        set += hpff_model_set_tensor(md, name, v, count) == 0;
        free(v);
    }
    return set;
}

// Compares every parameter's gradient (grads = 1) or value with the packed samples /statistics.
static void compare_params(hid_t g, hpff_model *md, const packed *pk, int grads) {
    float *samp = golden_read_f(g, grads ? "grad" : "final", NULL);
    double *stat = golden_read_d(g, grads ? "grad_stat" : "final_stat", NULL);
    size_t off = 0;
    for (int i = 0; i < pk->n; i++) {
        const char *name = pk->names + (size_t)i * pk->width;
        int t = hpff_registry_find(&md->params, name);
        if (t < 0) continue;
        size_t count = md->params.t[t].count;
        float *v = tensor_buf(count);
        if (grads) hpff_model_get_grad(md, name, v, count);
        else hpff_model_get_tensor(md, name, v, count);
        char what[160];
        snprintf(what, sizeof what, "%s %s", grads ? "grad" : "updated", name);
        const double *tol = grads ? GRAD_TOL : PARAM_TOL;
        gh_compare(what, v, count, samp + off, pk->nsamp, stat + 4 * i, grads ? pk->atol[i] : 0, tol[0], tol[1],
                   STAT_RTOL, STAT_ATOL);
        off += gh_nsamp(count, pk->nsamp);
        free(v);
    }
    free(samp);
    free(stat);
}

static void compare_running(hid_t g, hpff_model *md, size_t nsamp) {
    int n = 0;
    size_t width = 0, off = 0;
    char *names = gh_read_names(g, "state_names", &n, &width);
    float *samp = golden_read_f(g, "running", NULL);
    TEST_CHECK(names && samp && n == md->state.n, "running statistics: %d in the fixture, %d in the network", n,
               md->state.n);
    for (int i = 0; names && samp && i < n; i++) {
        const char *name = names + (size_t)i * width;
        int t = hpff_registry_find(&md->state, name);
        TEST_CHECK(t >= 0, "%s is not a running statistic of the C network", name);
        if (t < 0) continue;
        size_t count = md->state.t[t].count;
        float *v = tensor_buf(count);
        hpff_model_get_tensor(md, name, v, count);
        char what[160];
        snprintf(what, sizeof what, "running %s", name);
        gh_compare(what, v, count, samp + off, nsamp, NULL, 0, RUN_TOL[0], RUN_TOL[1], 0, 0);
        off += gh_nsamp(count, nsamp);
        free(v);
    }
    free(names);
    free(samp);
}

static void run_family(hid_t f, const family *fam, const float *mean, const float *std, double lr) {
    hid_t g = H5Gopen2(f, fam->group, H5P_DEFAULT);
    TEST_CHECK(g >= 0, "fixture group %s missing", fam->group);
    if (g < 0) return;
    int side = (int)gh_attr_d(g, "side"), batch = (int)gh_attr_d(g, "batch"), classes = (int)gh_attr_d(g, "classes");
    uint64_t key_base = (uint64_t)gh_attr_d(g, "key_base");
    packed pk = {0};
    pk.nsamp = (size_t)gh_attr_d(g, "nsamp");
    pk.names = gh_read_names(g, "names", &pk.n, &pk.width);
    pk.scale = golden_read_d(g, "scale", NULL);
    pk.offset = golden_read_d(g, "offset", NULL);
    pk.atol = golden_read_d(g, "grad_atol", NULL);
    hpff_config cfg;
    hpff_config_defaults(&cfg);
    cfg.arch = fam->arch;
    strcpy(cfg.blocks, fam->blocks);
    cfg.batch = batch;
    hpff_backend *be = hpff_backend_cpu_create();
    hpff_transport *tr = hpff_transport_local_create();
    hpff_model md;
    hpff_shape in = {3, side, side};
    hpff_status st = hpff_model_build(&md, &cfg, be, in, classes, 0, 0);
    TEST_CHECK(!st.code, "%s: %s", fam->group, st.msg);
    if (st.code) return;
    hpff_model_init_values(&md);
    int set = load_init(&md, &pk, key_base);
    TEST_CHECK(set == md.params.n && pk.n == md.params.n, "%s: set %d of %d parameters (fixture %d)", fam->group, set,
               md.params.n, pk.n);
    float *x;
    int32_t *y;
    hpff_stage s;
    hpff_step_stats stats;
    gh_stage_grads(g, batch, mean, std, &md, tr, &s, &x, &y, &stats);
    float *loss = golden_read_f(g, "loss", NULL), *logits = golden_read_f(g, "logits", NULL);
    char what[64];
    snprintf(what, sizeof what, "%s loss", fam->group);
    test_close(what, &stats.final_loss, loss, 1, 0, LOSS_RTOL);
    snprintf(what, sizeof what, "%s logits", fam->group);
    gh_compare(what, hpff_classifier_logits(md.final, md.head_work), (size_t)batch * classes, logits,
               (size_t)batch * classes, NULL, 0, LOGIT_TOL[0], LOGIT_TOL[1], 0, 0);
    compare_params(g, &md, &pk, 1);
    hpff_model_sgd(&md, (float)lr);
    compare_params(g, &md, &pk, 0);
    compare_running(g, &md, pk.nsamp);
    printf("%s (%s, blocks %s, %dx%d, batch %d): %d parameters, loss %.7f\n", fam->group, fam->name,
           *fam->blocks ? fam->blocks : "-", side, side, batch, md.params.n, stats.final_loss);
    free(loss); free(logits); free(x); free(y);
    free(pk.names); free(pk.scale); free(pk.offset); free(pk.atol);
    hpff_stage_free(&s);
    hpff_model_free(&md);
    tr->ops->destroy(tr);
    hpff_backend_destroy(be);
    H5Gclose(g);
}

int main(void) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(FIXTURE, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) { fprintf(stderr, "fixture missing: %s\n", FIXTURE); return 1; }
    float mean[3], std[3];
    gh_attr_f(f, "mean", mean);
    gh_attr_f(f, "std", std);
    double lr = gh_attr_d(f, "lr");
    static const family fams[] = {{"resnet", HPFF_ARCH_RESNET50, "resnet50", "1,1,1,1"},
                                  {"resnext", HPFF_ARCH_RESNEXT101_32X8D, "resnext101_32x8d", "1,1,1,1"},
                                  {"vgg", HPFF_ARCH_VGG13, "vgg13", ""}};
    for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++) run_family(f, &fams[i], mean, std, lr);
    H5Fclose(f);
    return hpff_test_summary("test_golden_imagenet");
}
