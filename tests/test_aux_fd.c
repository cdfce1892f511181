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

static double max_abs(const float *x, int n) {
    double m = 0;
    for (int i = 0; i < n; i++) m = fabs(x[i]) > m ? fabs(x[i]) : m;
    return m;
}

// Central difference of the loss in one float coordinate.
static double fd_at(auxf *f, float *p, double eps) {
    float keep = *p;
    *p = keep + (float)eps;
    double lp = auxf_step(f, 1.f, NULL);
    *p = keep - (float)eps;
    double lm = auxf_step(f, 1.f, NULL);
    *p = keep;
    return (lp - lm) / (2 * eps);
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
    enum { MAXS = 512 };
    float got[MAXS], want[MAXS];
    int k = 0;
    size_t hn = (size_t)f.n * hpff_shape_numel(f.in);
    for (int j = 0; j < 16; j++) {
        size_t i = (size_t)j * 7919 % hn;
        got[k] = f.dh[i];
        want[k++] = (float)fd_at(&f, f.h + i, c->eps);
    }
    char what[160];
    snprintf(what, sizeof what, "%s dL/dh", c->name);
    test_close(what, got, want, (size_t)k, 2e-2 * max_abs(want, k) + 1e-6, 3e-2);
    k = 0;
    for (int t = 0; t < f.params.n && k < MAXS - 4; t++) {
        hpff_tensor_info *ti = &f.params.t[t];
        for (int j = 0; j < 3 && j < (int)ti->count; j++) {
            size_t i = ti->off + (size_t)j * 131 % ti->count;
            got[k] = grads[i];
            want[k++] = (float)fd_at(&f, f.ex.params + i, c->eps);
        }
    }
    snprintf(what, sizeof what, "%s dL/dparams (%d tensors)", c->name, f.params.n);
    test_close(what, got, want, (size_t)k, 2e-2 * max_abs(want, k) + 1e-6, 3e-2);
    free(grads);
    auxf_free(&f);
}

int main(void) {
    hpff_shape c8 = {8, 8, 8}, c8s4 = {8, 4, 4}, odd = {6, 7, 7}, img = {3, 8, 8}, img9 = {3, 9, 9};
    const fd_case cases[] = {
        {"DGL port whole map", {"train.method=dgl", "local.pff=off", NULL}, HPFF_LEVEL_IL, c8, img, 4, 5, 1e-2, NULL},
        {"DGL official whole map", {"train.method=dgl", "local.pff=off", "local.dgl_aux=official", NULL},
         HPFF_LEVEL_CL, c8, img, 4, 5, 1e-2, NULL},
        {"DGL port PFF-B n=2", {"train.method=dgl", NULL}, HPFF_LEVEL_CL, c8, img, 4, 5, 1e-2, NULL},
        {"DGL port PFF-B n=2, 7x7 (unequal patches)", {"train.method=dgl", NULL}, HPFF_LEVEL_CL, odd, img, 4, 5, 1e-2, NULL},
        {"InfoPro IL CE 2c2f", {"train.method=infopro", "model.width=8", NULL}, HPFF_LEVEL_IL, c8, img, 4, 5, 1e-2, NULL},
        {"InfoPro IL CE 1c2f last stage", {"train.method=infopro", "model.width=2", "local.infopro_aux=1c2f", NULL},
         HPFF_LEVEL_IL, c8, img, 4, 5, 1e-2, NULL},
        {"InfoPro IL SupCon", {"train.method=infopro", "model.width=8", "local.infopro_mode=contrast", NULL},
         HPFF_LEVEL_IL, c8, img, 6, 4, 1e-2, NULL},   // labels 3,2,1,0,3,2: two anchors without positives
        {"InfoPro IL full (decoder + CE)", {"train.method=infopro", "model.width=8", "local.il_loss=full", NULL},
         HPFF_LEVEL_IL, c8s4, img, 4, 5, 1e-2, NULL},
        {"InfoPro CL full-map decoder (pff off)", {"train.method=infopro", "model.width=8", "local.pff=off", NULL},
         HPFF_LEVEL_CL, c8s4, img, 4, 5, 1e-2, NULL},
        {"InfoPro CL PFF-A (4 decoders, summed BCE)", {"train.method=infopro", "model.width=8", NULL},
         HPFF_LEVEL_CL, c8s4, img, 4, 5, 1e-2, NULL},
        {"InfoPro CL PFF-A, decoder 0 in the BCE -100 clamp", {"train.method=infopro", "model.width=8", NULL},
         HPFF_LEVEL_CL, c8s4, img, 4, 5, 1e-2, saturate_dec0},
        {"InfoPro CL PFF-A n=2, 5x5 features, 9x9 image", {"train.method=infopro", "model.width=8", NULL},
         HPFF_LEVEL_CL, (hpff_shape){8, 5, 5}, img9, 4, 5, 1e-2, NULL},
        {"InfoPro CL shared decoder", {"train.method=infopro", "model.width=8", "local.pff_rec=shared", NULL},
         HPFF_LEVEL_CL, c8s4, img, 4, 5, 1e-2, NULL},
        {"PredSim whole map", {"train.method=predsim", "local.pff=off", "local.predsim_T=64", "local.predsim_beta=0.6", NULL},
         HPFF_LEVEL_IL, c8, img, 6, 3, 1e-2, NULL},
        {"PredSim PFF-B n=2 (similarity per patch)", {"train.method=predsim", "local.predsim_T=32", "local.predsim_beta=0.6", NULL},
         HPFF_LEVEL_CL, c8, img, 6, 3, 1e-2, NULL},
        {"PredSim PFF-B n=2 (similarity on the whole map)",
         {"train.method=predsim", "local.predsim_T=32", "local.predsim_beta=0.6", "local.predsim_sim_patch=off", NULL},
         HPFF_LEVEL_CL, c8, img, 6, 3, 1e-2, NULL},
        {"PredSim PFF-B n=2, 2x2 features (flattened similarity)", {"train.method=predsim", "local.predsim_beta=0.6", NULL},
         HPFF_LEVEL_CL, (hpff_shape){8, 2, 2}, img, 6, 3, 1e-2, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) fd_check(&cases[i]);
    return hpff_test_summary("test_aux_fd");
}
