// test_golden_infopro.c — ONE InfoPro+HPFF training step and its SGD update against the HPFF
// authors' own PyTorch model code (ALGORITHM §1.10, §2.4, §3.2, §4.2-§4.6, §5.2). Usage:
//   test_golden_infopro FIXTURE.h5     (tests/golden/infopro_{r32k8,r32k16,r110k55}.h5)
// Everything comes from the fixture: architecture, width, K, batch, the module split and head map
// (checked against what the C model builds), the λ schedule, the initial values (a counter-based
// hash both sides compute), the data. Compared, every entry: each parameter gradient, the BN
// running statistics after the step (default, and `bn_emulate` against the authors' literal
// statistics), the parameters after one SGD-Nesterov step, the losses and the logits; tolerances
// per tensor from the fixture (measured float32-vs-float64 spread with a margin). ReLU decisions
// within float32 noise of zero follow the float64 reference (golden_relu.h). Then the comparison
// proves it would catch the blind spots of issue 12 by perturbing C's results: one entry 1e-3
// relative, an IL-head entry +10%, an entry outside the old 1,024 samples +16% of the max.
// Fixture layout and rules: tests/golden/README.md; generator: tests/golden/make_golden_infopro.py.
#include <hdf5.h>
#include <math.h>
#include <string.h>
#include "golden_relu.h"
#include "golden_util.h"
#include "model.h"
#include "stage.h"
#include "test_util.h"
#include "transport.h"

#define MAX_BATCH 64
#define OLD_SAMPLES 1024   // the entries the previous InfoPro test compared (j*count/1024)

typedef struct fixture {
    hid_t f;
    char arch[32], name[32];
    int width, K, M, B, image, classes;
    double lr, mom, wd, wx, wy, ixx[4], loss_atol[3], logits_atol;   // loss_atol: final, IL, CL
    uint64_t init_seed;
    size_t nmap;
    char (*theirs)[65], (*ours)[65];
    double *kind, *scale, *offset;   // (nmap) 0 parameter, 1 running mean, 2 running var
    int32_t *config, *heads;         // (M, 2) block end points (stage, block); IL, CL present
    double *lambda;                  // (M, 2) λ_rec, λ_ce (NaN: no head)
    float *x, *mean, *sd;
    int32_t *y;
} fixture;

// One reference tensor: value_i ~ k_i * q, compared with |c - k q| <= atol + q/2.
typedef struct ref_tensor { const int32_t *k; double q, atol, spread, max; size_t n; } ref_tensor;

// A packed reference group /ref/<group>: per tensor its name, place in k, grid and tolerance.
typedef struct ref_pack {
    size_t n, hint;
    char (*names)[65];
    double *off, *cnt, *q, *atol, *spread, *max;
    int32_t *k;
} ref_pack;

static int fixture_open(const char *path, fixture *fx) {
    memset(fx, 0, sizeof *fx);
    fx->f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (fx->f < 0) return -1;
    hid_t f = fx->f;
    golden_attr_str(f, "/", "arch", fx->arch, sizeof fx->arch);
    golden_attr_str(f, "/", "case", fx->name, sizeof fx->name);
    fx->width = (int)golden_attr_d(f, "/", "width");
    fx->K = (int)golden_attr_d(f, "/", "K");
    fx->M = (int)golden_attr_d(f, "/", "M");
    fx->B = (int)golden_attr_d(f, "/", "batch");
    fx->image = (int)golden_attr_d(f, "/", "image");
    fx->classes = (int)golden_attr_d(f, "/", "classes");
    fx->lr = golden_attr_d(f, "/", "lr");
    fx->mom = golden_attr_d(f, "/", "momentum");
    fx->wd = golden_attr_d(f, "/", "weight_decay");
    fx->wx = golden_attr_d(f, "/", "wx");
    fx->wy = golden_attr_d(f, "/", "wy");
    static const char *ix[4] = {"ixx_1", "ixy_1", "ixx_2", "ixy_2"};
    for (int i = 0; i < 4; i++) fx->ixx[i] = golden_attr_d(f, "/", ix[i]);
    golden_attr_vec(f, "/", "loss_atol", fx->loss_atol, 3);
    fx->logits_atol = golden_attr_d(f, "/", "logits_atol");
    fx->init_seed = (uint64_t)golden_attr_d(f, "/", "init_seed");
    size_t n2 = 0, nc = 0;
    fx->theirs = golden_read_names(f, "/map/theirs", &fx->nmap);
    fx->ours = golden_read_names(f, "/map/ours", &n2);
    fx->kind = golden_read_d(f, "/map/kind", NULL);
    fx->scale = golden_read_d(f, "/map/scale", NULL);
    fx->offset = golden_read_d(f, "/map/offset", NULL);
    fx->config = golden_read_i32(f, "/config", &nc);
    fx->heads = golden_read_i32(f, "/heads", NULL);
    fx->lambda = golden_read_d(f, "/lambda", NULL);
    fx->x = golden_read_f(f, "/x", NULL);
    fx->mean = golden_read_f(f, "/mean", NULL);
    fx->sd = golden_read_f(f, "/std", NULL);
    fx->y = golden_read_i32(f, "/y", NULL);
    int ok = fx->theirs && fx->ours && n2 == fx->nmap && fx->kind && fx->scale && fx->offset && fx->config &&
             nc == 2 * (size_t)fx->M && fx->heads && fx->lambda && fx->x && fx->mean && fx->sd && fx->y &&
             fx->B > 0 && fx->B <= MAX_BATCH && fx->arch[0];
    return ok ? 0 : -1;
}

static void fixture_close(fixture *fx) {
    free(fx->theirs); free(fx->ours); free(fx->kind); free(fx->scale); free(fx->offset);
    free(fx->config); free(fx->heads); free(fx->lambda); free(fx->x); free(fx->mean); free(fx->sd); free(fx->y);
    if (fx->f >= 0) H5Fclose(fx->f);
}

static int pack_open(hid_t f, const char *group, ref_pack *p) {
    char path[128];
    size_t n[7] = {0};
    double **dst[6] = {&p->off, &p->cnt, &p->q, &p->atol, &p->spread, &p->max};
    static const char *key[6] = {"offset", "count", "q", "atol", "spread", "max"};
    memset(p, 0, sizeof *p);
    snprintf(path, sizeof path, "/ref/%s/names", group);
    p->names = golden_read_names(f, path, &p->n);
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "/ref/%s/%s", group, key[i]);
        *dst[i] = golden_read_d(f, path, &n[i]);
    }
    snprintf(path, sizeof path, "/ref/%s/k", group);
    p->k = golden_read_i32(f, path, &n[6]);
    int ok = p->names && p->k;
    for (int i = 0; i < 6; i++) ok = ok && *dst[i] && n[i] == p->n;
    if (ok && p->n) ok = (size_t)(p->off[p->n - 1] + p->cnt[p->n - 1]) == n[6];
    TEST_CHECK(ok, "fixture group /ref/%s missing or inconsistent", group);
    return ok ? 0 : -1;
}

static void pack_free(ref_pack *p) {
    free(p->names); free(p->off); free(p->cnt); free(p->q); free(p->atol); free(p->spread); free(p->max); free(p->k);
    memset(p, 0, sizeof *p);
}

// The tensor `name` of the pack (k NULL when absent); names usually come in registry order.
static ref_tensor ref_get(ref_pack *p, const char *name) {
    ref_tensor r = {0};
    for (size_t s = 0; s < p->n; s++) {
        size_t i = (p->hint + s) % p->n;
        if (strcmp(p->names[i], name) != 0) continue;
        p->hint = i + 1;
        r.k = p->k + (size_t)p->off[i];
        r.n = (size_t)p->cnt[i];
        r.q = p->q[i];
        r.atol = p->atol[i];
        r.spread = p->spread[i];
        r.max = p->max[i];
        break;
    }
    return r;
}

// ---------------------------------------------------------------- initial values
// splitmix64's finalizer; the generator's init_q.
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// Tensor number t of the map: offset + q_i * scale, q_i in [-63, 63] (exact in float32).
static void init_values(const fixture *fx, size_t t, float *v, size_t n) {
    uint64_t key = mix64(fx->init_seed ^ ((uint64_t)(t + 1) << 32));
    float scale = (float)fx->scale[t], offset = (float)fx->offset[t];
    for (size_t i = 0; i < n; i++) {
        uint64_t z = mix64(key + (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull);
        float q = (float)((int)((z >> 11) % 127) - 63);
        v[i] = offset + q * scale;
    }
}

// Sets every parameter and running statistic; each of ours must be mapped exactly once.
static void load_init(hpff_model *md, const fixture *fx) {
    int *seen_p = calloc((size_t)md->params.n + 1, sizeof(int)), *seen_s = calloc((size_t)md->state.n + 1, sizeof(int));
    for (size_t t = 0; t < fx->nmap; t++) {
        const hpff_registry *reg = fx->kind[t] == 0 ? &md->params : &md->state;
        int j = hpff_registry_find(reg, fx->ours[t]);
        TEST_CHECK(j >= 0, "their %s -> our %s: no such %s", fx->theirs[t], fx->ours[t],
                   fx->kind[t] == 0 ? "parameter" : "running statistic");
        if (j < 0) continue;
        (fx->kind[t] == 0 ? seen_p : seen_s)[j]++;
        size_t n = reg->t[j].count;
        float *v = malloc(n * sizeof(float));
        init_values(fx, t, v, n);
        TEST_CHECK(hpff_model_set_tensor(md, fx->ours[t], v, n) == 0, "cannot set %s", fx->ours[t]);
        free(v);
    }
    for (int j = 0; j < md->params.n; j++)
        TEST_CHECK(seen_p[j] == 1, "our %s is mapped %d times", md->params.t[j].name, seen_p[j]);
    for (int j = 0; j < md->state.n; j++)
        TEST_CHECK(seen_s[j] == 1, "our %s is mapped %d times", md->state.t[j].name, seen_s[j]);
    free(seen_p);
    free(seen_s);
}

// ---------------------------------------------------------------- the model against the fixture
static hpff_status build(hpff_model *md, hpff_config *cfg, hpff_backend *be, const fixture *fx, int bn_emulate) {
    hpff_config_defaults(cfg);
    char set[64];
    snprintf(set, sizeof set, "model.arch=%s", fx->arch);   // the fixture's name, through the key table
    hpff_status st = hpff_config_set(cfg, set, fx->name);
    if (st.code) return st;
    cfg->width = fx->width;
    cfg->batch = fx->B;
    cfg->method = HPFF_METHOD_INFOPRO;
    cfg->K = fx->K;
    cfg->pff = 1;
    cfg->bn_emulate = bn_emulate;
    hpff_shape in = {3, fx->image, fx->image};
    return hpff_model_build_all(md, cfg, be, in, fx->classes);
}

// Our defaults must be the authors' constants; the split, the heads and the λ schedule theirs.
static void check_structure(const hpff_model *md, const hpff_config *cfg, const fixture *fx) {
    TEST_CHECK(cfg->ixx_1 == (float)fx->ixx[0] && cfg->ixy_1 == (float)fx->ixx[1] && cfg->ixx_2 == (float)fx->ixx[2] &&
                   cfg->ixy_2 == (float)fx->ixx[3],
               "default ixx/ixy differ from the fixture's");
    TEST_CHECK(cfg->infopro_aux == HPFF_INFOPRO_AUX_2C2F && cfg->split == HPFF_SPLIT_CODE &&
                   cfg->momentum == (float)fx->mom && cfg->weight_decay == (float)fx->wd,
               "defaults: infopro_aux %s split %s momentum %g weight_decay %g",
               hpff_config_enum_name(cfg, &cfg->infopro_aux), hpff_config_enum_name(cfg, &cfg->split), cfg->momentum,
               cfg->weight_decay);
    TEST_CHECK(md->M == fx->M, "M = %d, the authors' config has %d modules", md->M, fx->M);
    if (md->M != fx->M) return;
    int bad = 0;
    for (int m = 0; m < md->M; m++) {
        int unit = hpff_net_unit_of(&md->net, fx->config[2 * m], fx->config[2 * m + 1]);
        const hpff_hilo_module *h = &md->hilo.mod[m];
        const hpff_module *mo = &md->mod[m];
        int il = mo->il != NULL, cl = mo->cl != NULL;
        int ok = md->split.last[m] == unit && il == fx->heads[2 * m] && cl == fx->heads[2 * m + 1];
        if (cl) ok &= fabsf(h->lambda_rec - (float)fx->lambda[2 * m]) <= 1e-6f &&
                      fabsf(h->lambda_ce - (float)fx->lambda[2 * m + 1]) <= 1e-6f;
        if (il) ok &= h->w_il == (float)fx->wx;
        if (cl) ok &= h->w_cl == (float)fx->wy;
        if (!ok && bad++ < 5)
            fprintf(stderr, "  module %d: last unit %d (theirs %d), il %d cl %d (theirs %d %d), λ %g %g (theirs %g %g)\n",
                    m, md->split.last[m], unit, il, cl, fx->heads[2 * m], fx->heads[2 * m + 1], h->lambda_rec,
                    h->lambda_ce, fx->lambda[2 * m], fx->lambda[2 * m + 1]);
    }
    TEST_CHECK(bad == 0, "%d modules differ from the authors' split / head map / λ schedule", bad);
    TEST_CHECK(md->hilo.w_final_a == (float)fx->wx && md->hilo.w_final_c == (float)fx->wy, "final head weights %g %g",
               md->hilo.w_final_a, md->hilo.w_final_c);
}

// ---------------------------------------------------------------- comparisons
typedef struct cmp { size_t bad, n; double use; size_t first_bad; } cmp;   // use: max err / tolerance

static cmp compare(const float *got, const ref_tensor *r) {
    cmp c = {0, r->n, 0, 0};
    double tol = r->atol + 0.5 * r->q;
    for (size_t i = 0; i < r->n; i++) {
        double e = fabs((double)got[i] - r->k[i] * r->q);
        if (!(e <= tol)) { if (!c.bad) c.first_bad = i; c.bad++; }
        c.use = fmax(c.use, isnan(e) ? INFINITY : e / tol);
    }
    return c;
}

static void report_bad(const char *what, const float *got, const ref_tensor *r, cmp c) {
    fprintf(stderr, "FAIL %s: %zu of %zu entries outside |c - ref| <= %.3g (max err %.2fx the tolerance)\n", what,
            c.bad, c.n, r->atol + 0.5 * r->q, c.use);
    for (size_t i = c.first_bad, shown = 0; i < r->n && shown < 3; i++) {
        double ref = r->k[i] * r->q;
        if (fabs(got[i] - ref) > r->atol + 0.5 * r->q) {
            fprintf(stderr, "  [%zu] got %.9g expected %.9g\n", i, got[i], ref);
            shown++;
        }
    }
}

enum { G_BACKBONE, G_FC, G_ILCLS, G_CLCLS, G_CLDEC, G_STATE, G_N };
static const char *g_group_name[G_N] = {"backbone", "fc", "il.cls", "cl.cls", "cl.dec", "BN statistics"};

static int group_of(const char *name) {
    if (strncmp(name, "aux", 3) == 0)
        return strstr(name, ".dec") ? G_CLDEC : strstr(name, ".il.") ? G_ILCLS : G_CLCLS;
    return strncmp(name, "fc", 2) == 0 ? G_FC : G_BACKBONE;
}

typedef struct group_sum { int tensors; size_t entries, bad; double use, atol_rel; } group_sum;

static void group_add(group_sum *g, const ref_tensor *r, cmp c) {
    g->tensors++;
    g->entries += c.n;
    g->bad += c.bad;
    g->use = fmax(g->use, c.use);
    if (r->max > r->atol) g->atol_rel = fmax(g->atol_rel, r->atol / r->max);   // not for noise tensors
}

static void group_print(const char *what, const group_sum *g) {
    printf("%s\n  group           tensors   entries  failing  max err/tol  max atol/max|ref| (max|ref| > atol)\n", what);
    for (int i = 0; i < G_N; i++)
        if (g[i].tensors)
            printf("  %-15s %7d %9zu %8zu %12.3f %18.2e\n", g_group_name[i], g[i].tensors, g[i].entries, g[i].bad,
                   g[i].use, g[i].atol_rel);
}

// ---------------------------------------------------------------- the step and its checks
typedef struct run {
    hpff_model md;
    hpff_config cfg;
    hpff_step_stats stats;
    float *g;      // host copy of the gradient arena after the step
    float *p0;     // host copy of the parameters before it
} run;

static int run_step(run *r, hpff_backend *be, hpff_transport *tr, const fixture *fx, int bn_emulate) {
    hpff_status st = build(&r->md, &r->cfg, be, fx, bn_emulate);
    TEST_CHECK(!st.code, "%s", st.msg);
    if (st.code) return -1;
    hpff_model *md = &r->md;
    hpff_model_init_values(md);
    load_init(md, fx);
    size_t np = md->params.total;
    r->p0 = malloc(np * sizeof(float));
    r->g = malloc(np * sizeof(float));
    be->to_host(be, r->p0, md->p, np * sizeof(float));
    int32_t y[MAX_BATCH];
    memcpy(y, fx->y, (size_t)fx->B * sizeof(int32_t));
    hpff_stage s;
    hpff_stage_init(&s, md, tr, fx->mean, fx->sd, 3);
    memset(&r->stats, 0, sizeof r->stats);
    hpff_stage_grads(&s, fx->x, y, fx->B, &r->stats);
    hpff_stage_free(&s);
    be->to_host(be, r->g, md->g, np * sizeof(float));
    return 0;
}

static void run_free(run *r) {
    free(r->g);
    free(r->p0);
    hpff_model_free(&r->md);
}

static void check_losses(const run *r, const fixture *fx) {
    double *lf = golden_read_d(fx->f, "/loss/final", NULL), *li = golden_read_d(fx->f, "/loss/il", NULL);
    double *lc = golden_read_d(fx->f, "/loss/cl", NULL), *lg = golden_read_d(fx->f, "/logits", NULL);
    TEST_CHECK(lf && li && lc && lg, "losses or logits missing");
    if (!lf || !li || !lc || !lg) return;
    double worst[3] = {fabs(r->stats.final_loss - lf[0]), 0, 0};   // final, IL, CL
    int bad = 0;
    for (int m = 0; m < fx->M; m++) {
        const hpff_head_stats *h[2] = {&r->stats.il[m], &r->stats.cl[m]};
        const double ref[2] = {li[m], lc[m]};
        for (int k = 0; k < 2; k++) {
            if (h[k]->present != !isnan(ref[k])) bad++;
            if (h[k]->present && !isnan(ref[k])) worst[1 + k] = fmax(worst[1 + k], fabs(h[k]->loss - ref[k]));
        }
    }
    TEST_CHECK(bad == 0, "%d local losses present on one side only", bad);
    static const char *kind[3] = {"final", "IL", "CL"};
    for (int k = 0; k < 3; k++)
        TEST_CHECK(worst[k] <= fx->loss_atol[k], "%s losses: max |c - ref| %.3g > %.3g", kind[k], worst[k],
                   fx->loss_atol[k]);
    const float *lo = hpff_classifier_logits(r->md.final, r->md.head_work);
    double wl = 0;
    for (int i = 0; i < fx->B * fx->classes; i++) wl = fmax(wl, fabs(lo[i] - lg[i]));
    TEST_CHECK(wl <= fx->logits_atol, "logits: max |c - ref| %.3g > %.3g", wl, fx->logits_atol);
    printf("losses (final %.7f; %d modules), max |c - ref| / tol: final %.2e / %.2e, IL %.2e / %.2e, CL %.2e / %.2e; "
           "logits %.2e / %.2e\n", lf[0], fx->M, worst[0], fx->loss_atol[0], worst[1], fx->loss_atol[1], worst[2],
           fx->loss_atol[2], wl, fx->logits_atol);
    free(lf); free(li); free(lc); free(lg);
}

// Every gradient entry; refs[j] is kept for the update and the blind-spot checks.
static void check_grads(const run *r, ref_pack *pk, ref_tensor *refs, group_sum *gs) {
    const hpff_registry *reg = &r->md.params;
    for (int j = 0; j < reg->n; j++) {
        const hpff_tensor_info *t = &reg->t[j];
        refs[j] = ref_get(pk, t->name);
        TEST_CHECK(refs[j].k && refs[j].n == t->count && refs[j].q > 0, "/ref/grad/%s missing or %zu entries", t->name,
                   refs[j].n);
        if (!refs[j].k || refs[j].n != t->count) continue;
        cmp c = compare(r->g + t->off, &refs[j]);
        char what[160];
        snprintf(what, sizeof what, "grad %s", t->name);
        if (c.bad) report_bad(what, r->g + t->off, &refs[j], c);
        TEST_CHECK(c.bad == 0, "%s", what);
        group_add(&gs[group_of(t->name)], &refs[j], c);
    }
}

// BN running statistics against /ref/<group>.
static void check_state(const run *r, const fixture *fx, const char *group, group_sum *gs) {
    const hpff_registry *reg = &r->md.state;
    ref_pack pk;
    if (pack_open(fx->f, group, &pk) != 0) { pack_free(&pk); return; }
    float *v = malloc(reg->total * sizeof(float));
    r->md.be->to_host(r->md.be, v, r->md.st, reg->total * sizeof(float));
    for (int j = 0; j < reg->n; j++) {
        const hpff_tensor_info *t = &reg->t[j];
        ref_tensor rf = ref_get(&pk, t->name);
        TEST_CHECK(rf.k && rf.n == t->count, "/ref/%s/%s missing", group, t->name);
        if (rf.k && rf.n == t->count) {
            cmp c = compare(v + t->off, &rf);
            char what[160];
            snprintf(what, sizeof what, "%s %s", group, t->name);
            if (c.bad) report_bad(what, v + t->off, &rf, c);
            TEST_CHECK(c.bad == 0, "%s", what);
            group_add(&gs[G_STATE], &rf, c);
        }
    }
    pack_free(&pk);
    free(v);
}

// After hpff_model_sgd: p1 = p0 - lr (1 + mu) (g_ref + wd p0) (first Nesterov step, §1.10), every
// entry, tolerance lr (1 + mu) (atol + q/2) + 4 eps (|p0| + |p1|).
static void check_update(const run *r, const fixture *fx, const ref_tensor *refs) {
    const hpff_registry *reg = &r->md.params;
    float *p1 = malloc(reg->total * sizeof(float));
    r->md.be->to_host(r->md.be, p1, r->md.p, reg->total * sizeof(float));
    double a = fx->lr * (1 + fx->mom), eps = ldexp(1.0, -24), use = 0;
    size_t bad = 0, n = 0;
    for (int j = 0; j < reg->n; j++) {
        const hpff_tensor_info *t = &reg->t[j];
        if (!refs[j].k) continue;
        for (size_t i = 0; i < t->count; i++) {
            double p0 = r->p0[t->off + i], want = p0 - a * (refs[j].k[i] * refs[j].q + fx->wd * p0);
            double got = p1[t->off + i], tol = a * (refs[j].atol + 0.5 * refs[j].q) + 4 * eps * (fabs(p0) + fabs(got));
            double e = fabs(got - want);
            if (!(e <= tol) && bad++ < 3)
                fprintf(stderr, "  updated %s[%zu]: got %.9g expected %.9g (p0 %.9g)\n", t->name, i, got, want, p0);
            use = fmax(use, e / tol);
            n++;
        }
    }
    TEST_CHECK(bad == 0, "updated parameters: %zu of %zu entries outside the tolerance", bad, n);
    printf("updated parameters (lr %g, Nesterov %g, wd %g): %zu entries, max err/tol %.3f\n", fx->lr, fx->mom, fx->wd, n,
           use);
    free(p1);
}

// ---------------------------------------------------------------- the blind spots of issue 12
// Perturbs C's own (passing) gradient the way a bug would and requires the comparison above to
// fail: (a) the largest entry of a tensor off by 1e-3 relative, (b) the largest entry of an IL-head
// tensor +10%, (c) an entry outside the old 1,024 samples +16% of the tensor's largest value. A
// perturbation of size d is "resolvable" when d > 2 (atol + q/2) (C may already use one tolerance);
// tensors where it is not (all-zero gradients, cancellation noise) are counted, not tested.
typedef struct spot { int resolvable, detected, tensors, noise; } spot;

static int detects(const float *got, const ref_tensor *r, size_t i, float v) {
    float *cp = malloc(r->n * sizeof(float));
    memcpy(cp, got, r->n * sizeof(float));
    cp[i] = v;
    cmp c = compare(cp, r);
    free(cp);
    return c.bad > 0;
}

static size_t argmax_abs(const ref_tensor *r) {
    size_t b = 0;
    for (size_t i = 1; i < r->n; i++) if (abs(r->k[i]) > abs(r->k[b])) b = i;
    return b;
}

// First index that is not (j*n)/1024 for any j < 1024.
static size_t outside_samples(size_t n) {
    for (size_t i = 1; i < n; i++) {
        size_t j = (size_t)(((unsigned long long)i * OLD_SAMPLES) / n);
        int sampled = ((unsigned long long)j * n) / OLD_SAMPLES == i ||
                      ((unsigned long long)(j + 1) * n) / OLD_SAMPLES == i;
        if (!sampled) return i;
    }
    return 0;
}

static void spot_try(spot *s, const float *got, const ref_tensor *r, size_t i, double d, float v) {
    s->tensors++;
    if (!(fabs(d) > 2 * (r->atol + 0.5 * r->q))) {
        s->noise += r->max <= r->atol;   // an all-zero gradient or pure rounding noise around 0
        return;
    }
    s->resolvable++;
    s->detected += detects(got, r, i, v);
}

static void prove_blind_spots(const run *r, const ref_tensor *refs) {
    const hpff_registry *reg = &r->md.params;
    spot a = {0}, b = {0}, c = {0};
    size_t entries = 0, fine = 0;
    for (int j = 0; j < reg->n; j++) {
        const ref_tensor *rf = &refs[j];
        const float *got = r->g + reg->t[j].off;
        if (!rf->k || rf->n != reg->t[j].count || rf->n == 0) continue;
        size_t im = argmax_abs(rf);
        spot_try(&a, got, rf, im, 1e-3 * got[im], got[im] * (1.f + 1e-3f));
        if (group_of(reg->t[j].name) == G_ILCLS) spot_try(&b, got, rf, im, 0.1 * got[im], got[im] * 1.1f);
        if (rf->n > OLD_SAMPLES) {
            size_t io = outside_samples(rf->n);
            double d = 0.16 * rf->max;
            spot_try(&c, got, rf, io, d, (float)(got[io] + d));
        }
        for (size_t i = 0; i < rf->n; i++) fine += 1e-3 * fabs((double)rf->k[i] * rf->q) > 2 * (rf->atol + 0.5 * rf->q);
        entries += rf->n;
    }
    printf("blind spots of issue 12, perturbing C's gradient (must fail the comparison):\n"
           "  (a) largest entry x(1+1e-3):         detected in %d of %d resolvable tensors (%d tensors in all;\n"
           "      %d are all-zero or rounding noise around 0, %d have 2(atol + q/2) >= 1e-3 max|ref|)\n"
           "      a 1e-3 relative error is resolvable at %.1f%% of all %zu entries\n"
           "  (b) IL-head largest entry +10%%:      detected in %d of %d resolvable (%d IL-head tensors)\n"
           "  (c) outside the old 1,024 samples, +16%% of max: detected in %d of %d resolvable (%d tensors)\n",
           a.detected, a.resolvable, a.tensors, a.noise, a.tensors - a.resolvable - a.noise, 100.0 * fine / (double)(entries ? entries : 1), entries, b.detected,
           b.resolvable, b.tensors, c.detected, c.resolvable, c.tensors);
    TEST_CHECK(a.detected == a.resolvable && b.detected == b.resolvable && c.detected == c.resolvable,
               "a perturbation passed the comparison");
    TEST_CHECK(a.resolvable > 0 && b.resolvable > 0 && c.resolvable > 0, "a blind-spot class had nothing to test");
}

// ---------------------------------------------------------------- main
// The default step (what users run) and, from the same values, the step under bn_emulate: its
// gradients must be bitwise those of the default step, its statistics the authors' literal ones.
static void check_fixture(const fixture *fx) {
    hpff_backend *be = hpff_backend_cpu_create();
    hpff_transport *tr = hpff_transport_local_create();
    TEST_CHECK(golden_relu_install(fx->f, be), "the fixture has no /relu sites");
    run r;
    memset(&r, 0, sizeof r);
    if (run_step(&r, be, tr, fx, 0) == 0) {
        check_structure(&r.md, &r.cfg, fx);
        golden_relu_report("default step");
        check_losses(&r, fx);
        ref_tensor *refs = calloc((size_t)r.md.params.n, sizeof *refs);
        group_sum gs[G_N];
        memset(gs, 0, sizeof gs);
        ref_pack gp;
        pack_open(fx->f, "grad", &gp);
        check_grads(&r, &gp, refs, gs);
        check_state(&r, fx, "state", gs);
        group_print("gradients and BN running statistics after the step (every entry):", gs);
        prove_blind_spots(&r, refs);
        hpff_model_sgd(&r.md, (float)fx->lr);
        check_update(&r, fx, refs);
        run e;
        memset(&e, 0, sizeof e);
        golden_relu_reset();
        if (run_step(&e, be, tr, fx, 1) == 0) {
            group_sum ge[G_N];
            memset(ge, 0, sizeof ge);
            check_state(&e, fx, "state_emulate", ge);
            TEST_CHECK(memcmp(e.g, r.g, r.md.params.total * sizeof(float)) == 0,
                       "bn_emulate changed the gradients (it may only change running statistics)");
            printf("bn_emulate step: gradients bitwise equal to the default step; the authors' literal running "
                   "statistics: %zu entries, max err/tol %.3f\n", ge[G_STATE].entries, ge[G_STATE].use);
            golden_relu_report("bn_emulate step");
            run_free(&e);
        }
        pack_free(&gp);
        free(refs);
        run_free(&r);
    }
    golden_relu_uninstall(be);
    tr->ops->destroy(tr);
    hpff_backend_destroy(be);
}

int main(int argc, char **argv) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (argc != 2) {
        fprintf(stderr, "usage: %s FIXTURE.h5\n", argv[0]);
        return 2;
    }
    fixture fx;
    if (fixture_open(argv[1], &fx) != 0) {
        fprintf(stderr, "FAIL %s: missing or incomplete fixture\n", argv[1]);
        fixture_close(&fx);
        return 1;
    }
    printf("%s: %s width %d, K=%d (M=%d), batch %d, %zu tensors\n", fx.name, fx.arch, fx.width, fx.K, fx.M, fx.B,
           fx.nmap);
    check_fixture(&fx);
    fixture_close(&fx);
    return hpff_test_summary("test_golden_infopro");
}
