// test_aux_fd.c — finite-difference checks of every auxiliary head kind: the head's dh and its
// parameter gradients (weight 1) against central differences of the reported loss, as a function
// of the head input h and of a sample of every parameter tensor, in train mode on tiny shapes.
// Differences are taken in double of the fp32 loss; the tolerance is relative to the largest
// reference gradient of the set (fp32 rounding of the loss bounds what the differences resolve).
#include "aux_fixture.h"

typedef struct fd_case {
    const char *name;
    const char *sets[12];
    hpff_level level;
    hpff_shape in, img;
    int n, classes;
    double eps;
    void (*tweak)(auxf *f);
} fd_case;

// Pushes decoder 0's output into sigmoid saturation (p == 1 exactly): BCE's -100 clamp region.
static void saturate_dec0(auxf *f) {
    int t = hpff_registry_find(&f->params, "aux1.cl.dec0.conv2.bias");
    if (t < 0) { TEST_CHECK(t >= 0, "no aux1.cl.dec0.conv2.bias"); return; }
    for (size_t i = 0; i < f->params.t[t].count; i++) f->ex.params[f->params.t[t].off + i] = 40.f;
}

// Central difference of the loss along direction v (len floats at x): d/dt L(x + t v) at t = 0.
static double fd_dir(auxf *f, float *x, const float *v, size_t len, double eps) {
    float *keep = malloc(len * sizeof(float));
    memcpy(keep, x, len * sizeof(float));
    double L[2];
    for (int s = 0; s < 2; s++) {
        for (size_t i = 0; i < len; i++) x[i] = keep[i] + (float)((s ? -eps : eps) * v[i]);
        L[s] = auxf_step(f, 1.f, NULL);
    }
    memcpy(x, keep, len * sizeof(float));
    free(keep);
    return (L[0] - L[1]) / (2 * eps);
}

// A direction: uniform in [-1, 1] on every element (sparse: on about one element in eight).
static void direction(float *v, size_t len, int sparse, uint64_t seed) {
    test_fill_uniform(v, len, -1.f, 1.f, seed);
    if (!sparse) return;
    uint64_t s = seed ^ 0x5bd1e995u;
    for (size_t i = 0; i < len; i++)
        if (test_rng_next(&s) % 8) v[i] = 0.f;
}

typedef struct dircheck { double got, want, scale, eps; } dircheck;

// <g, v> against the difference quotient; scale = sum |g_i v_i| (the size of the terms). The
// heads are piecewise smooth (ReLU) and evaluated in fp32, so a quotient is spoiled either by a
// kink inside [-eps, eps] (large eps) or by the loss's rounding (small eps); of the quotients at
// 4 eps, eps and eps/4 the one closest to the analytic value is kept. A wiring error (a missing
// term, a wrong scale, a patch scattered to the wrong place) is off at every step size.
static dircheck check_dir(auxf *f, float *x, const float *g, size_t len, int sparse, uint64_t seed, double eps) {
    float *v = malloc(len * sizeof(float));
    direction(v, len, sparse, seed);
    dircheck d = {0, 0, 0, 4 * eps};
    for (size_t i = 0; i < len; i++) {
        d.got += (double)g[i] * v[i];
        d.scale += fabs((double)g[i] * v[i]);
    }
    d.want = fd_dir(f, x, v, len, 4 * eps);
    for (double e = eps; e > eps / 5; e /= 4) {
        double q = fd_dir(f, x, v, len, e);
        if (fabs(q - d.got) < fabs(d.want - d.got)) {
            d.want = q;
            d.eps = e;
        }
    }
    free(v);
    return d;
}

// |got - want| <= rtol |want| + atol_frac * scale + the rounding floor of the quotient (16 ulp
// of the loss L over 2 eps) for every check; prints the failures.
static void report(const char *what, const dircheck *d, int k, double L, double rtol, double atol_frac) {
    int bad = 0;
    for (int i = 0; i < k; i++) {
        double err = fabs(d[i].got - d[i].want), floor = 16 * fabs(L) * 0x1p-24 / (2 * d[i].eps);
        if (!(err <= rtol * fabs(d[i].want) + atol_frac * d[i].scale + floor)) {
            if (bad < 5)
                fprintf(stderr, "  %s[%d]: analytic %.7g, differences %.7g (terms %.3g)\n", what, i,
                        d[i].got, d[i].want, d[i].scale);
            bad++;
        }
    }
    TEST_CHECK(bad == 0, "%s: %d of %d directional derivatives differ", what, bad, k);
}

static void fd_check(const fd_case *c) {
    auxf f;
    auxf_build(&f, c->sets, c->level, c->in, c->img, c->n, c->classes, NULL);
    auxf_arenas(&f, 11);
    if (c->tweak) c->tweak(&f);
    memset(f.ex.grads, 0, f.params.total * sizeof(float));
    float L = auxf_step(&f, 1.f, f.dh);
    TEST_CHECK(isfinite(L) && L > 0, "%s: loss %g", c->name, L);
    float *grads = malloc((f.params.total + 1) * sizeof(float));
    memcpy(grads, f.ex.grads, f.params.total * sizeof(float));
    enum { MAXS = 256 };
    dircheck d[MAXS];
    int k = 0;
    size_t hn = (size_t)f.n * hpff_shape_numel(f.in);
    for (int j = 0; j < 6; j++) d[k++] = check_dir(&f, f.h, f.dh, hn, j >= 3, 100 + j, c->eps);
    char what[160];
    snprintf(what, sizeof what, "%s dL/dh", c->name);
    report(what, d, k, L, 3e-2, 2e-3);
    k = 0;
    for (int t = 0; t < f.params.n && k < MAXS - 2; t++) {
        hpff_tensor_info *ti = &f.params.t[t];
        for (int j = 0; j < 2; j++)
            d[k++] = check_dir(&f, f.ex.params + ti->off, grads + ti->off, ti->count, 0, 200 + 7 * t + j, c->eps);
    }
    snprintf(what, sizeof what, "%s dL/dparams (%d tensors)", c->name, f.params.n);
    report(what, d, k, L, 3e-2, 2e-3);
    free(grads);
    auxf_free(&f);
}

int main(void) {
    hpff_shape c8 = {8, 8, 8}, c8s4 = {8, 4, 4}, odd = {6, 7, 7}, img = {3, 8, 8}, img9 = {3, 9, 9};
    const fd_case cases[] = {
        {"DGL port whole map", {"train.method=dgl", "local.pff=off", NULL}, HPFF_LEVEL_IL, c8, img, 8, 5, 1e-3, NULL},
        {"DGL official whole map", {"train.method=dgl", "local.pff=off", "local.dgl_aux=official", NULL},
         HPFF_LEVEL_CL, c8, img, 8, 5, 1e-3, NULL},
        {"DGL port PFF-B n=2", {"train.method=dgl", NULL}, HPFF_LEVEL_CL, c8, img, 8, 5, 1e-3, NULL},
        {"DGL port PFF-B n=2, 7x7 (unequal patches)", {"train.method=dgl", NULL}, HPFF_LEVEL_CL, odd, img, 8, 5, 1e-3, NULL},
        {"InfoPro IL CE 2c2f", {"train.method=infopro", "model.width=8", NULL}, HPFF_LEVEL_IL, c8, img, 4, 5, 1e-3, NULL},
        {"InfoPro IL CE 1c2f last stage", {"train.method=infopro", "model.width=2", "local.infopro_aux=1c2f", NULL},
         HPFF_LEVEL_IL, c8, img, 4, 5, 1e-3, NULL},
        {"InfoPro IL SupCon", {"train.method=infopro", "model.width=8", "local.infopro_mode=contrast", NULL},
         HPFF_LEVEL_IL, c8, img, 6, 4, 1e-3, NULL},   // labels 3,2,1,0,3,2: two anchors without positives
        {"InfoPro IL full (decoder + CE)", {"train.method=infopro", "model.width=8", "local.il_loss=full", NULL},
         HPFF_LEVEL_IL, c8s4, img, 4, 5, 1e-3, NULL},
        {"InfoPro CL full-map decoder (pff off)", {"train.method=infopro", "model.width=8", "local.pff=off", NULL},
         HPFF_LEVEL_CL, c8s4, img, 4, 5, 1e-3, NULL},
        {"InfoPro CL PFF-A (4 decoders, summed BCE)", {"train.method=infopro", "model.width=8", NULL},
         HPFF_LEVEL_CL, c8s4, img, 4, 5, 1e-3, NULL},
        {"InfoPro CL PFF-A, decoder 0 in the BCE -100 clamp", {"train.method=infopro", "model.width=8", NULL},
         HPFF_LEVEL_CL, c8s4, img, 4, 5, 1e-3, saturate_dec0},
        {"InfoPro CL PFF-A n=2, 5x5 features, 9x9 image", {"train.method=infopro", "model.width=8", NULL},
         HPFF_LEVEL_CL, (hpff_shape){8, 5, 5}, img9, 4, 5, 1e-3, NULL},
        {"InfoPro CL shared decoder", {"train.method=infopro", "model.width=8", "local.pff_rec=shared", NULL},
         HPFF_LEVEL_CL, c8s4, img, 4, 5, 1e-3, NULL},
        {"InfoPro CL PFF-C (full decoder, output quadrants)",
         {"train.method=infopro", "model.width=8", "local.pff_rec=output", NULL},
         HPFF_LEVEL_CL, c8s4, img, 4, 5, 1e-3, NULL},
        {"InfoPro CL PFF-C n=2, 5x5 features, 9x9 image (unequal output patches)",
         {"train.method=infopro", "model.width=8", "local.pff_rec=output", NULL},
         HPFF_LEVEL_CL, (hpff_shape){8, 5, 5}, img9, 4, 5, 1e-3, NULL},
        {"InfoPro CL PFF-C n=3, 8x8 image", {"train.method=infopro", "model.width=8", "local.pff_rec=output", "local.pff_n=3", NULL},
         HPFF_LEVEL_CL, c8s4, img, 3, 5, 1e-3, NULL},
        {"PredSim whole map", {"train.method=predsim", "local.pff=off", "local.predsim_T=64", "local.predsim_beta=0.6", NULL},
         HPFF_LEVEL_IL, c8, img, 6, 3, 1e-3, NULL},
        {"PredSim PFF-B n=2 (similarity per patch)", {"train.method=predsim", "local.predsim_T=32", "local.predsim_beta=0.6", NULL},
         HPFF_LEVEL_CL, c8, img, 6, 3, 1e-3, NULL},
        {"PredSim PFF-B n=2 (similarity on the whole map)",
         {"train.method=predsim", "local.predsim_T=32", "local.predsim_beta=0.6", "local.predsim_sim_patch=off", NULL},
         HPFF_LEVEL_CL, c8, img, 6, 3, 1e-3, NULL},
        {"PredSim PFF-B n=2, 2x2 features (flattened similarity)", {"train.method=predsim", "local.predsim_beta=0.6", NULL},
         HPFF_LEVEL_CL, (hpff_shape){8, 2, 2}, img, 6, 3, 1e-3, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) fd_check(&cases[i]);
    return hpff_test_summary("test_aux_fd");
}
