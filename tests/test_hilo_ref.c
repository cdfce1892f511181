// test_hilo_ref.c — the HiLo step against independent references (ALGORITHM §4.2, §4.3, §9):
//  1. gradient equivalence: the single-pass stage (one forward per block, two sweeps) against a
//     reference that literally runs the authors' x/y/z streams (three forwards per module,
//     separate backward calls), on ResNet-32 K=8 (width 4, 8x8 inputs) for DGL, and with
//     il_first and last_cascade=off; BN running statistics equal under bn_emulate;
//  2. isolation: an independent head's loss reaches only its module, a cascade head's exactly
//     its two modules;
//  3. the delayed rule: two in-process stages joined by a queue transport (the real delayed
//     code) against an explicit single-process implementation of §9 D, over 3 SGD steps.
// The reference networks are built separately with the same tensor names, so they start from
// the same values (initial values depend only on (seed, name)).
#include <math.h>
#include <string.h>
#include "aux_select.h"
#include "model.h"
#include "stage.h"
#include "test_util.h"
#include "transport.h"

#define N 4
static const hpff_shape IMG = {3, 8, 8};

static void base_config(hpff_config *c, const char *method) {
    hpff_config_defaults(c);
    c->arch = HPFF_ARCH_RESNET32;
    c->width = 4;
    c->batch = N;
    test_set_method(c, method);
    c->K = 8;
    c->pff = 0;
}

// ------------------------------------------------------------------ the reference network
typedef struct ref {
    const hpff_config *cfg;
    hpff_backend *be;
    hpff_registry params, state;
    hpff_exec ex;
    hpff_split split;
    hpff_hilo hl;
    int M;
    hpff_seq stem, E[HPFF_MAX_MODULES];   // E[0] = module 0 without the stem
    hpff_head *il[HPFF_MAX_MODULES], *cl[HPFF_MAX_MODULES], *phi;
    float *pool;                          // bump allocator for activations: two halves, one per
    size_t pool_used, pool_cap, pool_base; // step parity, so step t-1's activations survive step t
    float *mom;                           // momentum (delayed-rule reference)
    int opt_first;
    float *work, *g0, *g1;
    int32_t labels[N];
    float target[N * 3 * 8 * 8];
} ref;

static float *bump(ref *r, size_t floats) {
    floats = (floats + 15) & ~(size_t)15;
    HPFF_CHECK(r->pool_used + floats <= r->pool_cap / 2, "reference pool too small");
    float *p = r->pool + r->pool_base + r->pool_used;
    r->pool_used += floats;
    memset(p, 0, floats * sizeof(float));
    return p;
}

static void ref_build(ref *r, const hpff_config *cfg) {
    memset(r, 0, sizeof *r);
    r->cfg = cfg;
    r->be = hpff_backend_cpu_create();
    hpff_net_spec net;
    hpff_status st = hpff_net_spec_make(cfg->arch, cfg->width, cfg->blocks, IMG, 10, &net);
    HPFF_CHECK(!st.code, "%s", st.msg);
    st = hpff_split_make(&net, cfg->K, cfg->split, cfg->modules, &r->split);
    HPFF_CHECK(!st.code, "%s", st.msg);
    r->M = r->split.M;
    st = hpff_hilo_plan(cfg, r->M, &r->hl);
    HPFF_CHECK(!st.code, "%s", st.msg);
    hpff_build b = {r->be, &r->params, &r->state, 0, N, 0.1f, 0.f};
    hpff_seq_init(&r->stem, IMG);
    hpff_net_push_units(&b, &net, 0, 0, &r->stem);
    hpff_seq_plan(&r->stem, N);
    size_t ws = r->stem.ws_bytes, sc = r->stem.scratch_floats, work = 0, grad = r->stem.grad_floats;
    for (int m = 0; m < r->M; m++) {
        int u0 = m ? r->split.first[m] : 1;
        hpff_seq_init(&r->E[m], hpff_net_unit_in(&net, u0));
        hpff_net_push_units(&b, &net, u0, r->split.last[m], &r->E[m]);
        hpff_seq_plan(&r->E[m], N);
        ws = ws > r->E[m].ws_bytes ? ws : r->E[m].ws_bytes;
        sc = sc > r->E[m].scratch_floats ? sc : r->E[m].scratch_floats;
        grad = grad > r->E[m].grad_floats ? grad : r->E[m].grad_floats;
    }
    for (int m = 0; m < r->M - 1; m++) {
        const hpff_hilo_module *hm = &r->hl.mod[m];
        hpff_head **hs[2] = {&r->il[m], &r->cl[m]};
        for (int lv = 0; lv < 2; lv++) {
            if (!(lv ? hm->cl : hm->il)) continue;
            *hs[lv] = hpff_aux_create(&b, cfg, m, lv ? HPFF_LEVEL_CL : HPFF_LEVEL_IL, r->E[m].out, IMG, 10, hm, &st);
            HPFF_CHECK(*hs[lv], "%s", st.msg);
            hpff_head *h = *hs[lv];
            ws = ws > h->ws_bytes ? ws : h->ws_bytes;
            sc = sc > h->scratch_floats ? sc : h->scratch_floats;
            work = work > h->work_floats ? work : h->work_floats;
        }
    }
    hpff_seq phi;
    hpff_seq_init(&phi, r->E[r->M - 1].out);
    hpff_final_head_push(&b, 10, &phi);
    hpff_seq_plan(&phi, N);
    r->phi = hpff_head_classifier("fc", &phi, 10);
    work = work > r->phi->work_floats ? work : r->phi->work_floats;
    r->ex.be = r->be;
    r->ex.params = calloc(r->params.total + 16, sizeof(float));
    r->ex.grads = calloc(r->params.total + 16, sizeof(float));
    r->ex.state = calloc(r->state.total + 16, sizeof(float));
    hpff_registry_init_values(&r->params, (uint64_t)cfg->seed, r->ex.params);
    hpff_registry_init_values(&r->state, (uint64_t)cfg->seed, r->ex.state);
    r->ex.ws_bytes = ws;
    r->ex.ws = malloc(ws + 64);
    r->ex.scratch_floats = sc + r->params.total;
    r->ex.scratch = calloc(r->ex.scratch_floats + 16, sizeof(float));
    r->ex.train = 1;
    r->work = calloc(work + 16, sizeof(float));
    r->g0 = calloc(grad + 16, sizeof(float));
    r->g1 = calloc(grad + 16, sizeof(float));
    r->pool_cap = 32u << 20;
    r->mom = calloc(r->params.total + 16, sizeof(float));
    r->opt_first = 1;
    r->pool = malloc(r->pool_cap * sizeof(float));
}

static void ref_free(ref *r) {
    hpff_seq_free(&r->stem);
    for (int m = 0; m < r->M; m++) {
        hpff_seq_free(&r->E[m]);
        hpff_head_free(r->il[m]);
        hpff_head_free(r->cl[m]);
    }
    hpff_head_free(r->phi);
    free(r->ex.params); free(r->ex.grads); free(r->ex.state); free(r->ex.ws); free(r->ex.scratch);
    free(r->work); free(r->g0); free(r->g1); free(r->pool); free(r->mom);
    hpff_registry_free(&r->params);
    hpff_registry_free(&r->state);
    hpff_backend_destroy(r->be);
}

typedef struct act { hpff_seq *s; const float *x; float *slot; float *y; } act;

static act run(ref *r, hpff_seq *s, const float *x) {
    act a = {s, x, bump(r, s->slot_floats), NULL};
    a.y = hpff_seq_forward(s, &r->ex, N, x, a.slot);
    return a;
}

// Backward of one forward call; dx may be NULL. Parameter gradients unless params == 0.
static float *back(ref *r, const act *a, const float *dy, int want_dx, int params) {
    float *dx = want_dx ? bump(r, (size_t)N * hpff_shape_numel(a->s->in)) : NULL;
    hpff_seq_backward(a->s, &r->ex, N, a->x, a->slot, dy, dx, 0.f, params, r->g0, r->g1);
    return dx;
}

static float *head(ref *r, hpff_head *h, const float *x, float w) {
    float *dh = bump(r, (size_t)N * hpff_shape_numel(h->in));
    float stat[HPFF_STAT_FLOATS] = {0};   // CPU backend: host memory
    hpff_head_io io = {N, x, r->labels, r->target, w, dh, 0.f, r->work, stat, NULL};
    h->ops->step(h, &r->ex, &io);
    return dh;
}

// The authors' code, literally (§4.2): x-stream (independent level), y/z streams (cascade).
static void ref_xyz_step(ref *r, const float *img) {
    const hpff_hilo *hl = &r->hl;
    int M = r->M;
    r->pool_used = r->pool_base = 0;
    memset(r->ex.grads, 0, r->params.total * sizeof(float));
    act stem = run(r, &r->stem, img);
    act x = run(r, &r->E[0], stem.y);                     // i = 0: x <- E_0(x)
    if (hl->mod[0].il) {                                   // OPTION il_first
        float *d = back(r, &x, head(r, r->il[0], x.y, hl->mod[0].w_il), 1, 1);
        back(r, &stem, d, 0, 1);
    }
    const float *yprev = NULL;
    for (int i = 1; i <= M - 2; i++) {
        act xi = run(r, &r->E[i], x.y);                    // x-stream, input detached
        if (hl->mod[i].il) back(r, &xi, head(r, r->il[i], xi.y, hl->mod[i].w_il), 0, 1);
        act yi = run(r, &r->E[i - 1], i == 1 ? stem.y : yprev);   // y <- E_{i-1}(y)
        act z = run(r, &r->E[i], yi.y);                    // z <- E_i(y)
        if (hl->mod[i].cl) {
            float *dy = back(r, &z, head(r, r->cl[i], z.y, hl->mod[i].w_cl), 1, 1);
            float *ds = back(r, &yi, dy, i == 1, 1);
            if (i == 1) back(r, &stem, ds, 0, 1);
        }
        x = xi;
        yprev = yi.y;
    }
    act xl = run(r, &r->E[M - 1], x.y);
    if (hl->w_final_a != 0) back(r, &xl, head(r, r->phi, xl.y, hl->w_final_a), 0, 1);
    act y1 = run(r, &r->E[M - 2], M - 2 == 0 ? stem.y : yprev);
    act yl = run(r, &r->E[M - 1], y1.y);
    if (hl->w_final_c != 0) {
        int push = hl->mod[M - 1].push_up;
        float *dy = back(r, &yl, head(r, r->phi, yl.y, hl->w_final_c), push, 1);
        if (push) back(r, &y1, dy, 0, 1);
    }
}

// ------------------------------------------------------------------ the model under test
typedef struct sut {
    hpff_backend *be;
    hpff_model md;
    hpff_transport *tr;
    hpff_stage st;
} sut;

static void sut_build(sut *s, const hpff_config *cfg, int m0, int m1, hpff_transport *tr) {
    s->be = hpff_backend_cpu_create();
    hpff_status st = hpff_model_build(&s->md, cfg, s->be, IMG, 10, m0, m1);
    HPFF_CHECK(!st.code, "%s", st.msg);
    hpff_model_init_values(&s->md);
    s->tr = tr;
    float mean[3] = {0.5f, 0.4f, 0.3f}, sd[3] = {0.2f, 0.25f, 0.3f};
    hpff_stage_init(&s->st, &s->md, tr, mean, sd, 3);
}

static void sut_free(sut *s) {
    hpff_stage_free(&s->st);
    hpff_model_free(&s->md);
    s->tr->ops->destroy(s->tr);
    hpff_backend_destroy(s->be);
}

static void batch(float *img, int32_t *labels, float *target, int t) {
    size_t n = (size_t)N * hpff_shape_numel(IMG), plane = 64;
    test_fill_uniform(img, n, -2.f, 2.f, 100 + (uint64_t)t);
    for (int i = 0; i < N; i++) labels[i] = (i * 3 + t) % 10;
    labels[N - 1] = labels[0];
    float mean[3] = {0.5f, 0.4f, 0.3f}, sd[3] = {0.2f, 0.25f, 0.3f};
    for (size_t i = 0; i < n; i++) target[i] = img[i] * sd[(i / plane) % 3] + mean[(i / plane) % 3];
}

// Compares the gradients (or parameters / state) of every tensor of the model with the
// reference tensor of the same name; returns how many were compared.
static int compare(const char *what, const hpff_registry *mr, const float *mv, const hpff_registry *rr,
                    const float *rv, double atol, double rtol) {
    int matched = 0;
    for (int i = 0; i < mr->n; i++) {
        int j = hpff_registry_find(rr, mr->t[i].name);
        TEST_CHECK(j >= 0, "%s: %s missing in the reference", what, mr->t[i].name);
        if (j < 0) continue;
        char name[200];
        snprintf(name, sizeof name, "%s %s", what, mr->t[i].name);
        test_close(name, mv + mr->t[i].off, rv + rr->t[j].off, mr->t[i].count, atol, rtol);
        matched++;
    }
    return matched;
}

static void equivalence(const char *label, hpff_config *cfg) {
    ref r;
    ref_build(&r, cfg);
    sut s;
    sut_build(&s, cfg, 0, r.M - 1, hpff_transport_local_create());
    float img[N * 3 * 64];
    batch(img, r.labels, r.target, 0);
    hpff_step_stats stats;
    hpff_stage_grads(&s.st, img, r.labels, N, &stats);
    ref_xyz_step(&r, img);
    char what[128];
    snprintf(what, sizeof what, "%s grad", label);
    int n = compare(what, &s.md.params, s.md.g, &r.params, r.ex.grads, 2e-6, 2e-3);
    TEST_CHECK(n == r.params.n, "%s: %d of the reference's %d tensors compared", what, n, r.params.n);
    if (cfg->bn_emulate) {
        snprintf(what, sizeof what, "%s running stats", label);
        n = compare(what, &s.md.state, s.md.st, &r.state, r.ex.state, 1e-6, 1e-5);
        TEST_CHECK(n == r.state.n, "%s: %d of the reference's %d tensors compared", what, n, r.state.n);
    }
    sut_free(&s);
    ref_free(&r);
}

// ------------------------------------------------------------------ isolation
// Changing one head's weight must change the gradients of exactly the tensors it reaches.
static void isolation(hpff_config *cfg, int j, int level) {
    sut s;
    hpff_module_cost cost[HPFF_MAX_MODULES];
    int M = 0;
    hpff_backend *tmp = hpff_backend_cpu_create();
    hpff_model_costs(cfg, tmp, IMG, 10, cost, &M);
    hpff_backend_destroy(tmp);
    sut_build(&s, cfg, 0, M - 1, hpff_transport_local_create());
    float img[N * 3 * 64], target[N * 3 * 64];
    int32_t labels[N];
    batch(img, labels, target, 0);
    hpff_step_stats st;
    float *p0 = malloc(s.md.params.total * sizeof(float)), *st0 = malloc(s.md.state.total * sizeof(float));
    memcpy(p0, s.md.p, s.md.params.total * sizeof(float));
    memcpy(st0, s.md.st, s.md.state.total * sizeof(float));
    hpff_stage_grads(&s.st, img, labels, N, &st);
    float *g1 = malloc(s.md.params.total * sizeof(float));
    memcpy(g1, s.md.g, s.md.params.total * sizeof(float));
    memcpy(s.md.st, st0, s.md.state.total * sizeof(float));
    hpff_hilo_module *hm = &s.md.hilo.mod[j];
    if (level == 0) hm->w_il *= 3.f; else hm->w_cl *= 3.f;
    hpff_stage_grads(&s.st, img, labels, N, &st);
    const char *tag = level == 0 ? ".il." : ".cl.";
    int changed_outside = 0, changed_inside = 0;
    for (int i = 0; i < s.md.params.n; i++) {
        const hpff_tensor_info *t = &s.md.params.t[i];
        int differs = memcmp(g1 + t->off, s.md.g + t->off, t->count * sizeof(float)) != 0;
        int is_head = strncmp(t->name, "aux", 3) == 0, own_head = 0;
        if (is_head) {
            char pre[32];
            snprintf(pre, sizeof pre, "aux%d%s", j, tag);
            own_head = strncmp(t->name, pre, strlen(pre)) == 0;
        }
        int in_module = !is_head && t->group <= s.md.M - 1 &&
                        (t->group == j || (level == 1 && t->group == j - 1));
        int allowed = own_head || in_module;
        if (differs && !allowed) {
            if (changed_outside < 3) fprintf(stderr, "  %s changed\n", t->name);
            changed_outside++;
        }
        if (differs && allowed) changed_inside++;
    }
    TEST_CHECK(changed_outside == 0, "%s head of module %d changed %d gradients outside its reach",
               level ? "cascade" : "independent", j, changed_outside);
    TEST_CHECK(changed_inside > 0, "%s head of module %d changed nothing", level ? "cascade" : "independent", j);
    if (level == 1) {   // and it does reach the module before
        int prev_changed = 0;
        for (int i = 0; i < s.md.params.n; i++) {
            const hpff_tensor_info *t = &s.md.params.t[i];
            if (t->group == j - 1 && strncmp(t->name, "aux", 3) != 0)
                prev_changed |= memcmp(g1 + t->off, s.md.g + t->off, t->count * sizeof(float)) != 0;
        }
        TEST_CHECK(prev_changed, "cascade head of module %d does not reach module %d", j, j - 1);
    }
    free(p0); free(st0); free(g1);
    sut_free(&s);
}

// ------------------------------------------------------------------ queue transport
#include "queue_transport.h"

// ------------------------------------------------------------------ delayed rule, explicitly
// One module's forward: the stem then E_0 for module 0, E_m otherwise.
typedef struct mod_act { act a[2]; int parts; const float *in; } mod_act;

static mod_act mod_fwd(ref *r, int m, const float *x) {
    mod_act ma;
    memset(&ma, 0, sizeof ma);
    ma.in = x;
    ma.parts = m == 0 ? 2 : 1;
    if (m == 0) { ma.a[0] = run(r, &r->stem, x); ma.a[1] = run(r, &r->E[0], ma.a[0].y); }
    else ma.a[0] = run(r, &r->E[m], x);
    return ma;
}
static const float *mod_out(const mod_act *ma) { return ma->a[ma->parts - 1].y; }
static float *mod_back(ref *r, const mod_act *ma, const float *dy, int want_dx, int params) {
    if (ma->parts == 2) {
        float *d = back(r, &ma->a[1], dy, 1, params);
        return back(r, &ma->a[0], d, want_dx, params);
    }
    return back(r, &ma->a[0], dy, want_dx, params);
}

typedef struct delayed_state {
    int have;                 // a step-(t-1) boundary term is pending
    mod_act acts;             // step t-1 activations of F_e (in the persistent pool)
    float *u;                 // u_e of step t-1
    float *params;            // F_e's parameters at step t-1
} delayed_state;

// Parameter range of module m in the reference registry (names of F_m's units).
static int in_module(const ref *r, const hpff_tensor_info *t, int m) {
    if (strncmp(t->name, "aux", 3) == 0 || strncmp(t->name, "fc.", 3) == 0) return 0;
    int u = 0;
    if (strncmp(t->name, "stem.", 5) != 0) {
        int s, b;
        if (sscanf(t->name, "layer%d.%d.", &s, &b) != 2) return 0;
        hpff_net_spec net;
        HPFF_CHECK(!hpff_net_spec_make(r->cfg->arch, r->cfg->width, r->cfg->blocks, IMG, 10, &net).code, "spec");
        u = hpff_net_unit_of(&net, s, b);
    }
    return u >= r->split.first[m] && u <= r->split.last[m];
}

static void swap_module_params(ref *r, int m, float *other) {
    size_t k = 0;
    for (int i = 0; i < r->params.n; i++) {
        const hpff_tensor_info *t = &r->params.t[i];
        if (!in_module(r, t, m)) continue;
        for (size_t j = 0; j < t->count; j++, k++) {
            float v = r->ex.params[t->off + j];
            r->ex.params[t->off + j] = other[k];
            other[k] = v;
        }
    }
}

static void ref_delayed_step(ref *r, const float *img, int e, delayed_state *ds, float lr, int t) {
    const hpff_hilo *hl = &r->hl;
    int M = r->M;
    r->pool_base = (size_t)(t % 2) * (r->pool_cap / 2);   // step t-1 lives in the other half
    r->pool_used = 0;
    memset(r->ex.grads, 0, r->params.total * sizeof(float));
    mod_act A[HPFF_MAX_MODULES];
    float *S[HPFF_MAX_MODULES], *C[HPFF_MAX_MODULES];
    const float *x = img;
    for (int m = 0; m < M; m++) {
        A[m] = mod_fwd(r, m, x);
        x = mod_out(&A[m]);
        size_t hn = (size_t)N * hpff_shape_numel(r->E[m].out);
        S[m] = bump(r, hn);
        C[m] = NULL;
        if (m == M - 1) {
            float W = hl->w_final_a + hl->w_final_c;
            float *d = head(r, r->phi, x, W);
            memcpy(S[m], d, hn * sizeof(float));
            C[m] = bump(r, hn);
            for (size_t i = 0; i < hn; i++) C[m][i] = d[i] * (hl->w_final_c / W);
            continue;
        }
        if (r->il[m]) { float *a = head(r, r->il[m], x, hl->mod[m].w_il); memcpy(S[m], a, hn * sizeof(float)); }
        if (r->cl[m]) {
            C[m] = head(r, r->cl[m], x, hl->mod[m].w_cl);
            for (size_t i = 0; i < hn; i++) S[m][i] = r->il[m] ? S[m][i] + C[m][i] : C[m][i];
        }
    }
    float *U[HPFF_MAX_MODULES] = {0};
    for (int m = 1; m < M; m++)
        if (hl->mod[m].push_up) U[m - 1] = mod_back(r, &A[m], C[m], 1, 0);
    for (int m = 0; m < M; m++) {
        size_t hn = (size_t)N * hpff_shape_numel(r->E[m].out);
        if (U[m] && m != e)
            for (size_t i = 0; i < hn; i++) S[m][i] += U[m][i];
        mod_back(r, &A[m], S[m], 0, 1);
    }
    if (ds->have) {   // u_e of step t-1 through F_e at step t-1's activations and weights
        swap_module_params(r, e, ds->params);
        mod_back(r, &ds->acts, ds->u, 0, 1);
        swap_module_params(r, e, ds->params);
    }
    // keep this step's boundary activations, u_e and F_e's weights for the next step
    size_t k = 0;
    for (int i = 0; i < r->params.n; i++)
        if (in_module(r, &r->params.t[i], e))
            for (size_t j = 0; j < r->params.t[i].count; j++) ds->params[k++] = r->ex.params[r->params.t[i].off + j];
    ds->acts = A[e];
    ds->u = U[e];
    ds->have = 1;
    r->be->sgd_nesterov(r->be, r->ex.params, r->ex.grads, r->mom, r->params.total, lr, r->cfg->momentum,
                        r->cfg->weight_decay, r->opt_first);
    r->opt_first = 0;
}

// Two stages (modules 0..e and e+1..M-1) in delayed mode over a queue, against the reference.
static void delayed(hpff_config *cfg, int e, int steps) {
    cfg->cascade = HPFF_CASCADE_DELAYED;
    ref r;
    ref_build(&r, cfg);
    chan *c = calloc(1, sizeof *c);
    sut s0, s1;
    sut_build(&s0, cfg, 0, e, q_create(c, 0));
    sut_build(&s1, cfg, e + 1, r.M - 1, q_create(c, 1));
    delayed_state ds = {0};
    size_t pe = 0;
    for (int i = 0; i < r.params.n; i++)
        if (in_module(&r, &r.params.t[i], e)) pe += r.params.t[i].count;
    ds.params = malloc(pe * sizeof(float));
    float img[N * 3 * 64];
    const float lr = 0.05f;
    for (int t = 0; t < steps; t++) {
        batch(img, r.labels, r.target, t);
        hpff_step_stats st;
        hpff_stage_step(&s0.st, img, r.labels, N, lr, &st);
        hpff_stage_step(&s1.st, NULL, NULL, 0, lr, &st);
        ref_delayed_step(&r, img, e, &ds, lr, t);
    }
    int np = compare("delayed rank0 params", &s0.md.params, s0.md.p, &r.params, r.ex.params, 1e-6, 1e-4) +
             compare("delayed rank1 params", &s1.md.params, s1.md.p, &r.params, r.ex.params, 1e-6, 1e-4);
    int ns = compare("delayed rank0 state", &s0.md.state, s0.md.st, &r.state, r.ex.state, 1e-6, 1e-4) +
             compare("delayed rank1 state", &s1.md.state, s1.md.st, &r.state, r.ex.state, 1e-6, 1e-4);
    TEST_CHECK(np == r.params.n && ns == r.state.n, "delayed: %d/%d parameters and %d/%d state tensors compared",
               np, r.params.n, ns, r.state.n);
    // the rule differs from strict: the same steps in one strict process end elsewhere
    hpff_config strict = *cfg;
    strict.cascade = HPFF_CASCADE_STRICT;
    sut one;
    sut_build(&one, &strict, 0, r.M - 1, hpff_transport_local_create());
    for (int t = 0; t < steps; t++) {
        int32_t lab[N];
        float tg[N * 3 * 64];
        batch(img, lab, tg, t);
        hpff_step_stats st;
        hpff_stage_step(&one.st, img, lab, N, lr, &st);
    }
    double dsum = 0;
    for (int k = 0; k < one.md.params.n; k++) {
        int j = hpff_registry_find(&s0.md.params, one.md.params.t[k].name);
        if (j < 0) continue;
        for (size_t q = 0; q < one.md.params.t[k].count; q++)
            dsum += fabs(one.md.p[one.md.params.t[k].off + q] - s0.md.p[s0.md.params.t[j].off + q]);
    }
    TEST_CHECK(dsum > 0, "delayed and strict ended with identical rank-0 parameters");
    hpff_stage_finish(&s0.st);
    sut_free(&one);
    sut_free(&s0);
    sut_free(&s1);
    free(ds.params);
    free(c);
    ref_free(&r);
}

int main(void) {
    hpff_config cfg;
    base_config(&cfg, "dgl");
    equivalence("dgl", &cfg);
    base_config(&cfg, "dgl");
    cfg.il_first = 1;
    cfg.last_cascade = 0;
    equivalence("dgl il_first last_cascade=off", &cfg);
    base_config(&cfg, "dgl");
    cfg.bn_emulate = 1;
    equivalence("dgl bn_emulate", &cfg);
    base_config(&cfg, "infopro");
    cfg.pff = 1;
    equivalence("infopro+hpff", &cfg);
    base_config(&cfg, "predsim");
    cfg.pff = 1;
    equivalence("predsim+hpff", &cfg);
    base_config(&cfg, "dgl");
    cfg.pff = 1;
    cfg.w_il = 0.3f;
    cfg.w_cl = 0.7f;
    isolation(&cfg, 3, 0);
    isolation(&cfg, 3, 1);
    isolation(&cfg, 1, 1);
    base_config(&cfg, "dgl");
    cfg.pff = 1;
    delayed(&cfg, 3, 3);
    return hpff_test_summary("test_hilo_ref");
}
