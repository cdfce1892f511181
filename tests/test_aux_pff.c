// test_aux_pff.c — PFF-B's two-pass patch-by-patch schedule against an all-patches-at-once
// computation (the shared net run on every patch with its own activation slot, logits / PredSim
// vectors averaged, one backward per patch with g/n², input gradients scattered), to fp32
// rounding: loss, dh, every parameter gradient and the BN running statistics (n² updates). Then
// the work-area sizes (PFF-B against the whole-map head), the level weight (dh and parameter
// gradients linear in it, loss not), beta accumulation into dh, and evaluation; and the pooled DGL
// head's pool memo (the first pool shared by a module's IL and CL heads).
#include "method_nets.h"
#include "aux_fixture.h"
#include "auxnet.h"

// ---------------------------------------------------------------- reference

typedef struct refnet {
    hpff_registry params, state;
    hpff_auxnet cls[16], sim[16];   // one copy per patch (same tensor names: same initial values)
    float *p, *g, *st;
} refnet;

// All patches at once: every patch keeps its activations until its backward.
static void reference(auxf *f, int n_side, int predsim, float beta_sim, float *dh, float *loss) {
    refnet r;
    memset(&r, 0, sizeof r);
    int np = n_side * n_side, n = f->n, classes = f->classes, c = f->in.c;
    hpff_patch patch[16];
    hpff_patch_grid(f->in.h, f->in.w, n_side, patch);
    hpff_build b = {f->be, &r.params, &r.state, 1, n, 0.1f, 0.f};
    for (int k = 0; k < np; k++) {
        hpff_registry p0 = {0}, s0 = {0};
        hpff_build bk = b;   // every copy declares the same names in fresh registries
        bk.params = k ? &p0 : &r.params;
        bk.state = k ? &s0 : &r.state;
        hpff_shape in = {c, patch[k].h, patch[k].w};
        hpff_auxnet_init(&r.cls[k], in);
        if (predsim) {
            hpff_auxnet_init(&r.sim[k], in);
            hpff_aux_predsim_sim_push(&bk, "aux1.cl.sim", &r.sim[k]);
            hpff_auxnet_plan(&r.sim[k], n);
            hpff_aux_predsim_pred_push(&bk, "aux1.cl.pred", f->cfg.predsim_T, classes, 0, &r.cls[k]);
        } else {
            hpff_aux_dgl_push(&bk, "aux1.cl.cls", f->cfg.dgl_aux == HPFF_DGL_AUX_OFFICIAL, classes, &r.cls[k]);
        }
        hpff_auxnet_plan(&r.cls[k], n);
        hpff_registry_free(&p0);
        hpff_registry_free(&s0);
    }
    r.p = calloc(r.params.total + 16, sizeof(float));
    r.g = calloc(r.params.total + 16, sizeof(float));
    r.st = calloc(r.state.total + 16, sizeof(float));
    for (int t = 0; t < r.params.n; t++) {   // the head's current values, by name
        int i = hpff_registry_find(&f->params, r.params.t[t].name);
        TEST_CHECK(i >= 0 && f->params.t[i].count == r.params.t[t].count, "tensor %s", r.params.t[t].name);
        if (i >= 0) memcpy(r.p + r.params.t[t].off, f->ex.params + f->params.t[i].off, r.params.t[t].count * sizeof(float));
    }
    hpff_registry_init_values(&r.state, 11, r.st);
    hpff_exec ex = f->ex;
    ex.params = r.p;
    ex.grads = r.g;
    ex.state = r.st;
    ex.train = 1;
    hpff_backend *be = f->be;
    size_t hn = (size_t)n * hpff_shape_numel(f->in), pin = 0;
    for (int k = 0; k < np; k++) pin = pin > (size_t)n * c * patch[k].h * patch[k].w ? pin : (size_t)n * c * patch[k].h * patch[k].w;
    float *x[16], *slot[16], *sslot[16], *v[16];
    float *zbar = calloc((size_t)n * classes, sizeof(float)), *dz = calloc((size_t)n * classes, sizeof(float));
    float *vbar = calloc((size_t)n * c, sizeof(float)), *dv = calloc((size_t)n * c, sizeof(float));
    float *grad = calloc(1 << 20, sizeof(float)), *dx = calloc(pin, sizeof(float)), *dm = calloc(pin, sizeof(float));
    for (int k = 0; k < np; k++) {
        x[k] = calloc(pin, sizeof(float));
        slot[k] = calloc(r.cls[k].slot_floats + 16, sizeof(float));
        sslot[k] = calloc(r.sim[k].slot_floats + 16, sizeof(float));
        v[k] = calloc((size_t)n * c, sizeof(float));
        be->patch_extract(be, n, c, f->in.h, f->in.w, patch[k].r0, patch[k].c0, patch[k].h, patch[k].w, f->h, x[k]);
        const float *z = hpff_auxnet_forward(&r.cls[k], &ex, n, x[k], slot[k]);
        for (int i = 0; i < n * classes; i++) zbar[i] += z[i] / np;
        if (predsim) {
            const float *m = hpff_auxnet_forward(&r.sim[k], &ex, n, x[k], sslot[k]);
            be->spatial_std_fwd(be, (size_t)n * c, patch[k].h * patch[k].w, m, v[k]);
            for (int i = 0; i < n * c; i++) vbar[i] += v[k][i] / np;
        }
    }
    float wp = predsim ? 1.f - beta_sim : 1.f;
    float sp[HPFF_STAT_FLOATS] = {0}, ss[HPFF_STAT_FLOATS] = {0};   // CPU: host stat blocks
    be->softmax_xent(be, n, classes, zbar, f->labels, wp, dz, sp, 1.f);
    *loss = sp[HPFF_STAT_LOSS];
    if (predsim) {
        be->simmat_mse(be, n, c, vbar, f->labels, classes, beta_sim, dv, ss, 1.f);
        *loss = beta_sim * ss[HPFF_STAT_LOSS] + wp * sp[HPFF_STAT_LOSS];
    }
    for (int i = 0; i < n * classes; i++) dz[i] /= np;
    for (int i = 0; i < n * c; i++) dv[i] /= np;
    memset(dh, 0, hn * sizeof(float));
    for (int k = 0; k < np; k++) {
        hpff_auxnet_backward(&r.cls[k], &ex, n, x[k], slot[k], dz, dx, 0.f, grad);
        if (predsim) {
            const float *m = hpff_auxnet_output(&r.sim[k], sslot[k]);
            be->spatial_std_bwd(be, (size_t)n * c, patch[k].h * patch[k].w, m, v[k], dv, dm, 0.f);
            hpff_auxnet_backward(&r.sim[k], &ex, n, x[k], sslot[k], dm, dx, 1.f, grad);
        }
        be->patch_scatter(be, n, c, f->in.h, f->in.w, patch[k].r0, patch[k].c0, patch[k].h, patch[k].w, dx, dh, 0.f);
    }
    // Compare parameter gradients and running statistics by name.
    for (int t = 0; t < r.params.n; t++) {
        int i = hpff_registry_find(&f->params, r.params.t[t].name);
        char what[160];
        snprintf(what, sizeof what, "two-pass vs all-at-once d/d%s", r.params.t[t].name);
        if (i >= 0)
            test_close(what, f->ex.grads + f->params.t[i].off, r.g + r.params.t[t].off, r.params.t[t].count, 1e-6, 1e-4);
    }
    for (int t = 0; t < r.state.n; t++) {
        int i = hpff_registry_find(&f->state, r.state.t[t].name);
        char what[160];
        snprintf(what, sizeof what, "running statistics %s after %d patch updates", r.state.t[t].name, np);
        if (i >= 0)
            test_close(what, f->ex.state + f->state.t[i].off, r.st + r.state.t[t].off, r.state.t[t].count, 1e-6, 1e-5);
    }
    for (int k = 0; k < np; k++) {
        free(x[k]); free(slot[k]); free(sslot[k]); free(v[k]);
        hpff_auxnet_free(&r.cls[k]);
        hpff_auxnet_free(&r.sim[k]);
    }
    free(zbar); free(dz); free(vbar); free(dv); free(grad); free(dx); free(dm);
    free(r.p); free(r.g); free(r.st);
    hpff_registry_free(&r.params);
    hpff_registry_free(&r.state);
}

static void test_two_pass(const char *name, const char *const *sets, hpff_shape in, int n, int classes,
                          int n_side, int predsim) {
    auxf f;
    auxf_build(&f, sets, HPFF_LEVEL_CL, in, (hpff_shape){3, 8, 8}, n, classes, NULL);
    auxf_arenas(&f, 11);
    hpff_registry_init_values(&f.state, 11, f.ex.state);   // the reference starts from these too
    memset(f.ex.grads, 0, f.params.total * sizeof(float));
    float L = auxf_step(&f, 1.f, f.dh), Lref;
    size_t hn = (size_t)n * hpff_shape_numel(in);
    float *dh = malloc(hn * sizeof(float));
    reference(&f, n_side, predsim, f.cfg.predsim_beta, dh, &Lref);
    char what[160];
    snprintf(what, sizeof what, "%s: two-pass dh vs all patches at once", name);
    test_close(what, f.dh, dh, hn, 1e-7, 1e-4);
    TEST_CHECK(fabs(L - Lref) <= 1e-6 * (1 + fabs(Lref)), "%s: loss %.9g vs %.9g", name, L, Lref);
    free(dh);
    auxf_free(&f);
}

// ---------------------------------------------------------------- memory

static size_t head_work(const char *const *sets, hpff_shape in, int n) {
    auxf f;
    auxf_build(&f, sets, HPFF_LEVEL_CL, in, (hpff_shape){3, 32, 32}, n, 10, NULL);
    size_t w = f.hd->work_floats;
    hpff_head_free(f.hd);
    hpff_registry_free(&f.params);
    hpff_registry_free(&f.state);
    hpff_backend_destroy(f.be);
    return w;
}

// PFF-B's work area against the whole-map head's (n = 2, CIFAR stage-1 map 16x32x32, batch 8).
// The per-patch aux activations (work minus the patch copy and its gradient, 2 n_max D / n²,
// which whole-map processing does not need) must stay within 1/n² + 10% of the whole-map work,
// and the whole PFF-B work area within `limit_total` of the whole-map one. For PredSim that is
// a saving (0.52). DGL pools the whole map once (dgl_predsim.c, `pool_div` = 16: p1 = s/4) and
// copies windows of the pooled map, so its copies are the pooled map and its gradient
// (2 n_max D / 16) plus one window and its gradient (2 n_max D / 16 / n²): 0.53 of the whole-map
// work (it was 1.14 when every patch of h was copied, DGL's aux net being lighter than its
// input once ReLUs run in place).
static void test_memory(const char *method, hpff_shape in, double limit_total, int pool_div) {
    char m[64];
    snprintf(m, sizeof m, "train.method=%s", method);
    const char *whole[] = {m, "local.pff=off", NULL}, *pff[] = {m, "local.pff=on", NULL};
    const int n = 8;
    size_t w1 = head_work(whole, in, n), w2 = head_work(pff, in, n);
    size_t d = (size_t)n * hpff_shape_numel(in) / (size_t)pool_div;
    size_t copies = 2 * d / 4 + (pool_div > 1 ? 2 * d : 0);
    TEST_CHECK(w2 > copies, "%s: PFF-B work %zu floats holds the %zu floats of copies", method, w2, copies);
    if (w2 <= copies) return;
    double ratio = (double)w2 / w1, act = (double)(w2 - copies) / w1;
    printf("%s %dx%dx%d batch %d: work %zu floats whole map, %zu PFF-B n=2: ratio %.3f; without the patch "
           "copy and its gradient %.3f\n", method, in.c, in.h, in.w, n, w1, w2, ratio, act);
    TEST_CHECK(act <= 0.25 + 0.10, "%s: per-patch activations %.3f of the whole-map work", method, act);
    TEST_CHECK(ratio <= limit_total, "%s: PFF-B work %.3f of the whole-map work (limit %.2f)", method, ratio, limit_total);
}

// InfoPro's cascade head: PFF-A's quadrant decoders run one at a time.
static void test_memory_infopro(void) {
    const char *whole[] = {"train.method=infopro", "local.pff=off", NULL}, *pff[] = {"train.method=infopro", NULL};
    hpff_shape in = {32, 16, 16};
    size_t w1 = head_work(whole, in, 8), w2 = head_work(pff, in, 8);
    printf("infopro cascade 32x16x16 batch 8: work %zu floats full-map decoder, %zu PFF-A: ratio %.3f\n", w1, w2,
           (double)w2 / w1);
    TEST_CHECK((double)w2 / w1 <= 0.35, "infopro PFF-A work %.3f of the full-map decoder's", (double)w2 / w1);
}

// ---------------------------------------------------------------- weight, beta, eval

static double max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(x[i]) > m ? fabs(x[i]) : m;
    return m;
}

// Linear in the weight up to fp32 rounding (BN backward sums cancel): atol relative to the largest.
static void test_weight(const char *name, const char *const *sets, hpff_level level, hpff_shape in, int n, int classes) {
    auxf f;
    auxf_build(&f, sets, level, in, (hpff_shape){3, 8, 8}, n, classes, NULL);
    auxf_arenas(&f, 5);
    size_t hn = (size_t)n * hpff_shape_numel(in), pn = f.params.total;
    float *dh1 = malloc(hn * sizeof(float)), *g1 = malloc(pn * sizeof(float)), *pre = malloc(hn * sizeof(float));
    memset(f.ex.grads, 0, pn * sizeof(float));
    float L1 = auxf_step(&f, 1.f, dh1);
    memcpy(g1, f.ex.grads, pn * sizeof(float));
    memset(f.ex.grads, 0, pn * sizeof(float));
    float L2 = auxf_step(&f, 2.5f, f.dh);
    for (size_t i = 0; i < hn; i++) dh1[i] *= 2.5f;
    for (size_t i = 0; i < pn; i++) g1[i] *= 2.5f;
    char what[160];
    snprintf(what, sizeof what, "%s: dh at weight 2.5", name);
    test_close(what, f.dh, dh1, hn, 1e-5 * max_abs(dh1, hn), 1e-5);
    snprintf(what, sizeof what, "%s: parameter gradients at weight 2.5", name);
    test_close(what, f.ex.grads, g1, pn, 1e-5 * max_abs(g1, pn), 1e-5);
    TEST_CHECK(L1 == L2, "%s: the reported loss depends on the weight (%.9g vs %.9g)", name, L1, L2);
    // beta = 1 adds onto what dh holds.
    test_fill_uniform(pre, hn, -1.f, 1.f, 9);
    memcpy(f.dh, pre, hn * sizeof(float));
    auxf_step_beta(&f, 2.5f, f.dh, 1.f);
    for (size_t i = 0; i < hn; i++) pre[i] += dh1[i];
    snprintf(what, sizeof what, "%s: dh with beta = 1", name);
    test_close(what, f.dh, pre, hn, 1e-6, 1e-5);
    // Parameter gradients only (dh = NULL) give the same parameter gradients.
    memset(f.ex.grads, 0, pn * sizeof(float));
    auxf_step(&f, 2.5f, NULL);
    snprintf(what, sizeof what, "%s: parameter gradients with dh = NULL", name);
    test_close(what, f.ex.grads, g1, pn, 1e-5 * max_abs(g1, pn), 1e-5);
    // Evaluation: finite; equal to the train loss for heads without batch norm.
    hpff_head_io io = {n, f.h, f.labels, f.target, 1.f, NULL, 0.f, f.work, NULL, NULL};
    hpff_head_result r;
    hpff_head_run_now(f.hd, &f.ex, &io, 0, &r);
    TEST_CHECK(isfinite(r.loss), "%s: eval loss %g", name, r.loss);
    if (auxf_find(&f.state, "running") < 0)
        TEST_CHECK(fabs(r.loss - L1) <= 1e-6 * (1 + L1), "%s: eval %.9g vs train %.9g", name, r.loss, L1);
    free(dh1); free(g1); free(pre);
    auxf_free(&f);
}

// The pooled DGL head with a pool memo (head.h): noted when it pools, and a noted pool of the same
// map at the same place is not redone — so after h changes under a kept memo the step still
// gives the old map's bits (the pool was skipped), and once the memo is cleared the new map's.
static void test_pool_memo(void) {
    const char *dgl[] = {"train.method=dgl", NULL};
    hpff_shape in = {6, 16, 16};
    auxf f;
    auxf_build(&f, dgl, HPFF_LEVEL_CL, in, (hpff_shape){3, 8, 8}, 6, 5, NULL);
    auxf_arenas(&f, 11);
    size_t hn = (size_t)f.n * hpff_shape_numel(in), pn = f.params.total;
    float *dh0 = malloc(hn * sizeof(float)), *g0 = malloc(pn * sizeof(float));
    hpff_pool_memo memo = {0};
    float L[4];
    for (int run = 0; run < 4; run++) {
        if (run == 2) test_fill_uniform(f.h, hn, -1.5f, 1.5f, 99);   // a new map, the memo kept
        if (run == 3) memo.src = NULL;                               // ... and cleared
        memset(f.ex.grads, 0, pn * sizeof(float));
        hpff_head_io io = {f.n, f.h, f.labels, f.target, 1.f, f.dh, 0.f, f.work, NULL, run ? &memo : NULL};
        hpff_head_result r;
        hpff_head_run_now(f.hd, &f.ex, &io, 1, &r);
        L[run] = r.loss;
        if (run == 0) {
            memcpy(dh0, f.dh, hn * sizeof(float));
            memcpy(g0, f.ex.grads, pn * sizeof(float));
            continue;
        }
        TEST_CHECK(memo.src == f.h, "pool memo: run %d did not note its pool", run);
        int same = L[run] == L[0] && memcmp(f.dh, dh0, hn * sizeof(float)) == 0 &&
                   memcmp(f.ex.grads, g0, pn * sizeof(float)) == 0;
        TEST_CHECK(same == (run < 3), "pool memo: run %d %s the first run's bits (loss %.9g vs %.9g)", run,
                   same ? "gives" : "does not give", L[run], L[0]);
    }
    free(dh0); free(g0);
    auxf_free(&f);
}

int main(void) {
    hpff_shape c8 = {8, 8, 8};
    const char *dgl[] = {"train.method=dgl", NULL};
    const char *dgl_n3[] = {"train.method=dgl", "local.pff_n=3", NULL};
    const char *ps[] = {"train.method=predsim", "local.predsim_T=32", "local.predsim_beta=0.6", NULL};
    test_two_pass("DGL port PFF-B n=2", dgl, c8, 6, 5, 2, 0);
    test_two_pass("DGL port PFF-B n=2 on 16x16 (pooled 2x2 windows)", dgl, (hpff_shape){6, 16, 16}, 6, 5, 2, 0);
    const char *dgl_off_n2[] = {"train.method=dgl", "local.dgl_aux=official", NULL};
    test_two_pass("DGL official PFF-B n=2 on 24x24 (pooled 3x3 windows)", dgl_off_n2, (hpff_shape){5, 24, 24}, 6, 5, 2, 0);
    test_two_pass("DGL port PFF-B n=3 on 10x10 (unequal patches)", dgl_n3, (hpff_shape){6, 10, 10}, 6, 5, 3, 0);
    test_two_pass("PredSim PFF-B n=2", ps, c8, 6, 3, 2, 1);

    test_pool_memo();

    test_memory("dgl", (hpff_shape){16, 32, 32}, 0.60, 16);
    test_memory("predsim", (hpff_shape){16, 32, 32}, 0.60, 1);
    test_memory_infopro();

    const char *ip_a[] = {"train.method=infopro", "model.width=8", NULL};
    const char *ip_sc[] = {"train.method=infopro", "model.width=8", "local.infopro_mode=contrast", NULL};
    const char *ps_whole[] = {"train.method=predsim", "local.predsim_T=32", "local.predsim_sim_patch=off", NULL};
    const char *dgl_off[] = {"train.method=dgl", "local.pff=off", "local.dgl_aux=official", NULL};
    test_weight("DGL PFF-B", dgl, HPFF_LEVEL_CL, c8, 6, 5);
    test_weight("DGL official whole map", dgl_off, HPFF_LEVEL_IL, c8, 6, 5);
    test_weight("InfoPro CL PFF-A", ip_a, HPFF_LEVEL_CL, (hpff_shape){8, 4, 4}, 4, 5);
    test_weight("InfoPro IL SupCon", ip_sc, HPFF_LEVEL_IL, c8, 6, 3);
    test_weight("PredSim PFF-B", ps, HPFF_LEVEL_CL, c8, 6, 3);
    test_weight("PredSim PFF-B, similarity on the whole map", ps_whole, HPFF_LEVEL_CL, c8, 6, 3);
    return hpff_test_summary("test_aux_pff");
}
