// dgl_predsim.c — DGL and PredSim heads, whole-map (n = 1) or PFF-B (ALGORITHM §3.1, §3.3, §5.4).
//
// Schedule (memory-faithful, §5.4): pass 1 forwards each patch and keeps only its logits and
// PredSim vector v_p, averaged into z̄ and v̄; the loss and g = dL/dz̄ (dL/dv̄) follow; pass 2
// recomputes each patch's forward with activation storage and back-propagates g/n² through it,
// scattering the patch's input gradient into dh. The work area therefore holds one patch's
// activations (plus the patch copy and its gradient): those of pass 1's last patch are still
// there, so pass 2 starts with that patch and recomputes the other n² - 1. With n = 1 nothing is
// copied or recomputed.
//
// BN running statistics: pass 2 runs in train mode with the same batch statistics as pass 1
// (identical activations), but would update the aux BN running statistics a second time. The
// head saves them before pass 2 and restores them afterwards, so each step updates them exactly
// n² times, once per patch of pass 1, as §5.4 specifies. They are never used at test time.
//
// Pooled patches (DGL): the DGL aux net begins with an adaptive average pool to p1 = ceil(s/4).
// When the patches are equal and p1 divides their sides, that pool's bins tile the whole map, so
// the head pools the whole map once per step to n*p1 x n*p1 and hands each patch's net its
// p1 x p1 window; pass 2 gathers the windows' gradients and runs the pool's backward once into
// dh. Same bins, same sums (cpu_pool.c adds a bin's rows, then its columns, wherever the bin
// lies), so the values are the per-patch pool's; what goes is copying every patch of h out and
// its gradient back, twice a step, and pooling each patch again in pass 2. A module's IL and CL
// heads pool the same h alike: the second finds the first's pooled map through io->memo.
#include "dgl_predsim.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "method_nets.h"
#include "auxnet.h"
#include "sizes.h"

#define PB_MAX_NETS 4   // distinct patch shapes: row and column sizes take at most two values

typedef enum pb_sim { PB_SIM_NONE, PB_SIM_PATCH, PB_SIM_WHOLE } pb_sim;

typedef struct pb_net { hpff_shape in; hpff_auxnet cls, sim; } pb_net;   // sim: PB_SIM_PATCH only

typedef struct pb_priv {
    hpff_shape in;
    int np;                      // patches (1: the whole map)
    hpff_patch *patch;           // (np)
    int *net_of;                 // (np) the net built for the patch's shape
    pb_net nets[PB_MAX_NETS];    // one per distinct patch shape, all sharing one set of weights
    int n_nets;
    pb_sim sim;                  // where PredSim's similarity branch runs
    int pooled;                  // DGL: the first pool runs on the whole map (see the top)
    hpff_shape pool;             // pooled: the whole map pooled, (c, n*p1h, n*p1w)
    hpff_patch *pwin;            // pooled: (np) each patch's p1h x p1w window of it
    int sim_std;                 // v = spatial std of the conv map (C > 3, H > 1), else the map
    int vdim;                    // similarity vector size per sample
    hpff_auxnet whole;           // PB_SIM_WHOLE: the similarity conv on the whole map
    int classes;
    float beta;                  // PredSim: L = beta L_sim + (1 - beta) L_pred
    size_t st_off, st_floats;    // this head's BN running statistics (restored after pass 2)
    // Work area offsets (floats).
    size_t w_z, w_dz, w_v, w_dv, w_vt, w_st, w_pin, w_pgrad, w_cls, w_sim, w_sdy, w_whole, w_wdy, w_grad;
    size_t w_pool, w_dpool;      // pooled: the pooled map and its gradient
} pb_priv;


// ---------------------------------------------------------------- running

// The input of patch k: h itself for the whole map, else a copy of the window (of the pooled
// map when pooled).
static const float *pb_input(const pb_priv *p, hpff_backend *be, const hpff_head_io *io, int k, float *w) {
    if (p->np == 1) return io->h;
    float *x = w + p->w_pin;   // (n, c, q->h, q->w)
    if (p->pooled) {
        const hpff_patch *q = &p->pwin[k];
        be->patch_extract(be, io->n, p->pool.c, p->pool.h, p->pool.w, q->r0, q->c0, q->h, q->w, w + p->w_pool, x);
    } else {
        const hpff_patch *q = &p->patch[k];
        be->patch_extract(be, io->n, p->in.c, p->in.h, p->in.w, q->r0, q->c0, q->h, q->w, io->h, x);
    }
    return x;
}

// PredSim similarity vector of a conv map m: its spatial std (into vt) or m itself.
static const float *pb_simvec(const pb_priv *p, hpff_backend *be, int n, const hpff_auxnet *net,
                              const float *m, float *vt) {
    if (!p->sim_std) return m;
    be->spatial_std_fwd(be, (size_t)n * net->out.c, net->out.h * net->out.w, m, vt);
    return vt;
}

// Gradient at the conv map m given dv: through the spatial std (into dm), or dv itself.
static const float *pb_simgrad(const pb_priv *p, hpff_backend *be, int n, const hpff_auxnet *net,
                               const float *m, float *vt, const float *dv, float *dm) {
    if (!p->sim_std) return dv;
    size_t rows = (size_t)n * net->out.c;
    int hw = net->out.h * net->out.w;
    be->spatial_std_fwd(be, rows, hw, m, vt);
    be->spatial_std_bwd(be, rows, hw, m, vt, dv, dm, 0.f);
    return dm;
}

static int same_memo(const hpff_pool_memo *a, const hpff_pool_memo *b) {
    return a->src == b->src && a->at == b->at && a->n == b->n && a->c == b->c && a->h == b->h && a->w == b->w &&
           a->ph == b->ph && a->pw == b->pw;
}

// The whole map pooled into `pool`, unless the module's other head left it there (io->memo).
static void pb_pool(const pb_priv *p, hpff_backend *be, const hpff_head_io *io, float *pool) {
    hpff_pool_memo key = {io->h, pool, io->n, p->in.c, p->in.h, p->in.w, p->pool.h, p->pool.w};
    if (io->memo && same_memo(io->memo, &key)) return;
    be->adaptive_avgpool_fwd(be, io->n, p->in.c, p->in.h, p->in.w, p->pool.h, p->pool.w, io->h, pool);
    if (io->memo) *io->memo = key;
}

// Pass 1: z̄ = mean_p logits_p, v̄ = mean_p v_p (or v of the whole map).
static void pb_forward(pb_priv *p, hpff_exec *ex, const hpff_head_io *io, float *w) {
    hpff_backend *be = ex->be;
    int n = io->n;
    size_t zn = (size_t)n * p->classes, vn = (size_t)n * p->vdim;
    float *z = w + p->w_z, *v = w + p->w_v, a = 1.f / (float)p->np;
    be->fill(be, z, 0.f, zn);
    if (p->sim) be->fill(be, v, 0.f, vn);
    if (p->pooled) pb_pool(p, be, io, w + p->w_pool);
    for (int k = 0; k < p->np; k++) {
        pb_net *N = &p->nets[p->net_of[k]];
        const float *x = pb_input(p, be, io, k, w);
        be->axpy(be, z, a, hpff_auxnet_forward(&N->cls, ex, n, x, w + p->w_cls), zn);
        if (p->sim == PB_SIM_PATCH) {
            const float *m = hpff_auxnet_forward(&N->sim, ex, n, x, w + p->w_sim);
            be->axpy(be, v, a, pb_simvec(p, be, n, &N->sim, m, w + p->w_vt), vn);
        }
    }
    if (p->sim == PB_SIM_WHOLE) {
        const float *m = hpff_auxnet_forward(&p->whole, ex, n, io->h, w + p->w_whole);
        be->axpy(be, v, 1.f, pb_simvec(p, be, n, &p->whole, m, w + p->w_vt), vn);
    }
}

// The loss on z̄ (and v̄); in train mode dz (dv) = weight * dL/dz̄ (dv̄) / n² per patch.
static void pb_loss(pb_priv *p, hpff_backend *be, const hpff_head_io *io, float *w, int train) {
    int n = io->n;
    float beta = p->sim ? p->beta : 0.f;
    float *dz = train ? w + p->w_dz : NULL, *dv = train ? w + p->w_dv : NULL;
    // L = beta L_sim + (1 - beta) L_pred (beta = 0 for DGL) goes straight into the stat block.
    be->softmax_xent(be, n, p->classes, w + p->w_z, io->labels, io->weight * (1.f - beta), dz, io->stat,
                     1.f - beta);
    if (p->sim)
        be->simmat_mse(be, n, p->vdim, w + p->w_v, io->labels, p->classes, io->weight * beta, dv, io->stat, beta);
    if (train && p->np > 1) {
        be->scale(be, dz, 1.f / (float)p->np, (size_t)n * p->classes);
        if (p->sim == PB_SIM_PATCH) be->scale(be, dv, 1.f / (float)p->np, (size_t)n * p->vdim);
    }
}

// Pass 2: each patch's backward, after recomputing its forward when n > 1 — except for the
// last patch of pass 1, whose input and activations are still in the work area: it goes first.
static void pb_backward(pb_priv *p, hpff_exec *ex, const hpff_head_io *io, float *w) {
    hpff_backend *be = ex->be;
    int n = io->n, multi = p->np > 1;
    float *dz = w + p->w_dz, *dv = w + p->w_dv, *grad = w + p->w_grad;
    for (int i = 0; i < p->np; i++) {
        int k = i == 0 ? p->np - 1 : i - 1, recompute = multi && i > 0;
        pb_net *N = &p->nets[p->net_of[k]];
        const float *x = recompute || !multi ? pb_input(p, be, io, k, w) : w + p->w_pin;   // (n = 1: h)
        float *dx = io->dh ? (multi ? w + p->w_pgrad : io->dh) : NULL;
        float *cs = w + p->w_cls, *ss = w + p->w_sim;
        if (recompute) hpff_auxnet_forward(&N->cls, ex, n, x, cs);
        hpff_auxnet_backward(&N->cls, ex, n, x, cs, dz, dx, multi ? 0.f : io->beta, grad);
        if (p->sim == PB_SIM_PATCH) {
            const float *m = recompute ? hpff_auxnet_forward(&N->sim, ex, n, x, ss) : hpff_auxnet_output(&N->sim, ss);
            const float *dm = pb_simgrad(p, be, n, &N->sim, m, w + p->w_vt, dv, w + p->w_sdy);
            hpff_auxnet_backward(&N->sim, ex, n, x, ss, dm, dx, 1.f, grad);
        }
        if (multi && io->dh && p->pooled) {
            const hpff_patch *q = &p->pwin[k];   // the windows tile the pooled map: no fill needed
            be->patch_scatter(be, n, p->pool.c, p->pool.h, p->pool.w, q->r0, q->c0, q->h, q->w, dx, w + p->w_dpool, 0.f);
        } else if (multi && io->dh) {
            const hpff_patch *q = &p->patch[k];
            be->patch_scatter(be, n, p->in.c, p->in.h, p->in.w, q->r0, q->c0, q->h, q->w, dx, io->dh, io->beta);
        }
    }
    if (p->pooled && io->dh)
        be->adaptive_avgpool_bwd(be, n, p->in.c, p->in.h, p->in.w, p->pool.h, p->pool.w, w + p->w_dpool, io->dh,
                                 io->beta);
    if (p->sim == PB_SIM_WHOLE) {
        float *ws = w + p->w_whole;
        const float *m = hpff_auxnet_output(&p->whole, ws);
        const float *dm = pb_simgrad(p, be, n, &p->whole, m, w + p->w_vt, dv, w + p->w_wdy);
        hpff_auxnet_backward(&p->whole, ex, n, io->h, ws, dm, io->dh, 1.f, grad);
    }
}

static void pb_run(hpff_head *hd, hpff_exec *ex, const hpff_head_io *io, int train) {
    pb_priv *p = hd->priv;
    hpff_backend *be = ex->be;
    float *w = io->work;
    int saved_train = ex->train, keep_stats = train && p->np > 1 && p->st_floats;
    ex->train = train;
    pb_forward(p, ex, io, w);
    pb_loss(p, be, io, w, train);
    if (train) {
        size_t bytes = p->st_floats * sizeof(float);
        if (keep_stats) be->copy(be, w + p->w_st, ex->state + p->st_off, bytes);
        pb_backward(p, ex, io, w);
        if (keep_stats) be->copy(be, ex->state + p->st_off, w + p->w_st, bytes);
    }
    ex->train = saved_train;
}

static void pb_step(hpff_head *hd, hpff_exec *ex, const hpff_head_io *io) { pb_run(hd, ex, io, 1); }

static void pb_eval(hpff_head *hd, hpff_exec *ex, const hpff_head_io *io) { pb_run(hd, ex, io, 0); }

static void pb_free(pb_priv *p) {
    for (int i = 0; i < PB_MAX_NETS; i++) {
        hpff_auxnet_free(&p->nets[i].cls);
        hpff_auxnet_free(&p->nets[i].sim);
    }
    hpff_auxnet_free(&p->whole);
    free(p->patch);
    free(p->pwin);
    free(p->net_of);
}

static void pb_destroy(hpff_head *hd) { pb_free(hd->priv); }

static const hpff_head_ops pb_ops = {"pffb", pb_step, pb_eval, pb_destroy};

// ---------------------------------------------------------------- construction

typedef struct pb_build_arg { const hpff_pffb_spec *s; pb_priv *p; hpff_shape shape[PB_MAX_NETS]; } pb_build_arg;

// The shared net(s) for patch shape k (hpff_build_shared).
static void pb_build_one(hpff_build *b, void *arg, int k) {
    pb_build_arg *a = arg;
    const hpff_pffb_spec *s = a->s;
    pb_net *N = &a->p->nets[k];
    char nm[64];
    N->in = a->shape[k];
    if (s->kind == HPFF_PFFB_DGL && a->p->pooled) {   // the net's input: the patch's pooled window
        hpff_dgl_dims dd = hpff_aux_dgl_dims(N->in, s->dgl_official);
        N->in = (hpff_shape){N->in.c, dd.p1h, dd.p1w};
        hpff_auxnet_init(&N->cls, N->in);
        snprintf(nm, sizeof nm, "%s.cls", s->prefix);
        hpff_aux_dgl_push_pooled(b, nm, s->dgl_official, s->classes, dd, &N->cls);
    } else if (s->kind == HPFF_PFFB_DGL) {
        hpff_auxnet_init(&N->cls, N->in);
        snprintf(nm, sizeof nm, "%s.cls", s->prefix);
        hpff_aux_dgl_push(b, nm, s->dgl_official, s->classes, &N->cls);
    } else {
        hpff_auxnet_init(&N->cls, N->in);
        if (a->p->sim == PB_SIM_PATCH) {
            hpff_auxnet_init(&N->sim, N->in);
            snprintf(nm, sizeof nm, "%s.sim", s->prefix);
            hpff_aux_predsim_sim_push(b, nm, &N->sim);
            hpff_auxnet_plan(&N->sim, b->n_max);
        }
        snprintf(nm, sizeof nm, "%s.pred", s->prefix);
        hpff_aux_predsim_pred_push(b, nm, s->predsim_T, s->classes, s->predsim_w_zero, &N->cls);
    }
    hpff_auxnet_plan(&N->cls, b->n_max);
}

// Distinct patch shapes and the similarity-vector layout; 0 with *st on failure.
static int pb_shapes(pb_priv *p, pb_build_arg *a, const hpff_pffb_spec *s, hpff_status *st) {
    for (int k = 0; k < p->np; k++) {
        hpff_shape sh = {p->in.c, p->patch[k].h, p->patch[k].w};
        int i = 0;
        while (i < p->n_nets && (a->shape[i].h != sh.h || a->shape[i].w != sh.w)) i++;
        if (i == p->n_nets) a->shape[p->n_nets++] = sh;
        p->net_of[k] = i;
    }
    if (p->sim == PB_SIM_NONE) return 1;
    hpff_shape m = p->sim == PB_SIM_WHOLE ? p->in : a->shape[0];   // the conv keeps the shape
    p->sim_std = m.c > 3 && m.h > 1;
    p->vdim = p->sim_std ? m.c : (int)hpff_shape_numel(m);
    if (p->sim == PB_SIM_PATCH && !p->sim_std && p->n_nets > 1) {
        *st = hpff_status_fail("%s: PredSim similarity vectors of %dx%d and %dx%d patches differ in size "
                               "(local.pff_n = %d on %dx%d features)", s->prefix, a->shape[0].h,
                               a->shape[0].w, a->shape[1].h, a->shape[1].w, s->n, p->in.h, p->in.w);
        return 0;
    }
    return 1;
}

// DGL with equal patches whose first pool's bins tile them: pool the whole map once (see the top).
static void pb_pool_plan(pb_priv *p, const pb_build_arg *a, const hpff_pffb_spec *s) {
    if (s->kind != HPFF_PFFB_DGL || p->np == 1 || p->n_nets != 1) return;
    hpff_dgl_dims dd = hpff_aux_dgl_dims(a->shape[0], s->dgl_official);
    if (a->shape[0].h % dd.p1h || a->shape[0].w % dd.p1w) return;
    p->pooled = 1;
    p->pool = (hpff_shape){p->in.c, s->n * dd.p1h, s->n * dd.p1w};
    p->pwin = hpff_xcalloc((size_t)p->np, sizeof *p->pwin);
    hpff_patch_grid(p->pool.h, p->pool.w, s->n, p->pwin);
}

// Work-area layout (see pb_forward / pb_backward for who uses what when).
static size_t pb_layout(pb_priv *p, int n_max) {
    size_t off = 0, nn = (size_t)n_max, pin = 0, cls = 0, sim = 0, sdy = 0, grad = 0;
    for (int i = 0; i < p->n_nets; i++) {
        pb_net *N = &p->nets[i];
        pin = hpff_zmax(pin, nn * hpff_shape_numel(N->in));
        cls = hpff_zmax(cls, N->cls.slot_floats);
        grad = hpff_zmax(grad, N->cls.grad_floats);
        if (p->sim == PB_SIM_PATCH) {
            sim = hpff_zmax(sim, N->sim.slot_floats);
            sdy = hpff_zmax(sdy, nn * hpff_shape_numel(N->sim.out));
            grad = hpff_zmax(grad, N->sim.grad_floats);
        }
    }
#define TAKE(field, floats) (p->field = off, off += hpff_align16(floats))
    TAKE(w_z, nn * p->classes);
    TAKE(w_dz, nn * p->classes);
    if (p->sim) {
        TAKE(w_v, nn * p->vdim);
        TAKE(w_dv, nn * p->vdim);
        TAKE(w_vt, nn * p->vdim);
    }
    if (p->np > 1) {
        TAKE(w_st, p->st_floats);
        TAKE(w_pin, pin);
        TAKE(w_pgrad, pin);
    }
    if (p->pooled) {
        TAKE(w_pool, nn * hpff_shape_numel(p->pool));
        TAKE(w_dpool, nn * hpff_shape_numel(p->pool));
    }
    TAKE(w_cls, cls);
    if (p->sim == PB_SIM_PATCH) {
        TAKE(w_sim, sim);
        TAKE(w_sdy, sdy);
    }
    if (p->sim == PB_SIM_WHOLE) {
        TAKE(w_whole, p->whole.slot_floats);
        TAKE(w_wdy, nn * hpff_shape_numel(p->whole.out));
        grad = hpff_zmax(grad, p->whole.grad_floats);
    }
    TAKE(w_grad, grad);
#undef TAKE
    return off;
}

static void pb_costs(const pb_priv *p, hpff_head *hd) {
    size_t flops = 0;
    for (int k = 0; k < p->np; k++) {
        const pb_net *N = &p->nets[p->net_of[k]];
        flops += N->cls.flops_per_sample + (p->sim == PB_SIM_PATCH ? N->sim.flops_per_sample : 0);
        if (p->pooled) flops += (size_t)p->in.c * p->patch[k].h * p->patch[k].w;   // its share of the pool
    }
    // The cost model counts a head as 3 forwards (forward + backward); pass 2's recomputation adds
    // a fourth for the patched part.
    if (p->np > 1) flops += flops / 3;
    if (p->sim == PB_SIM_WHOLE) flops += p->whole.flops_per_sample;
    hd->flops_per_sample = flops;
    for (int i = 0; i < p->n_nets; i++) {
        const pb_net *N = &p->nets[i];
        hd->ws_bytes = hpff_zmax(hd->ws_bytes, hpff_zmax(N->cls.ws_bytes, N->sim.ws_bytes));
        hd->scratch_floats = hpff_zmax(hd->scratch_floats, hpff_zmax(N->cls.scratch_floats, N->sim.scratch_floats));
    }
    hd->ws_bytes = hpff_zmax(hd->ws_bytes, p->whole.ws_bytes);
    hd->scratch_floats = hpff_zmax(hd->scratch_floats, p->whole.scratch_floats);
}

hpff_head *hpff_pffb_create(hpff_build *b, const hpff_pffb_spec *s, hpff_shape in, hpff_status *st) {
    HPFF_CHECK(s->n >= 1 && s->classes > 1, "%s: bad PFF-B spec n=%d classes=%d", s->prefix, s->n, s->classes);
    if (in.h < s->n || in.w < s->n) {
        *st = hpff_status_fail("%s: local.pff_n = %d cuts %dx%d features into empty patches", s->prefix,
                               s->n, in.h, in.w);
        return NULL;
    }
    pb_priv *p = hpff_xcalloc(1, sizeof *p);
    p->in = in;
    p->np = s->n * s->n;
    p->classes = s->classes;
    p->beta = s->predsim_beta;
    p->patch = hpff_xcalloc((size_t)p->np, sizeof *p->patch);
    p->net_of = hpff_xcalloc((size_t)p->np, sizeof *p->net_of);
    hpff_patch_grid(in.h, in.w, s->n, p->patch);
    p->sim = s->kind == HPFF_PFFB_DGL ? PB_SIM_NONE : (p->np > 1 && !s->sim_patch ? PB_SIM_WHOLE : PB_SIM_PATCH);
    pb_build_arg a = {s, p, {{0, 0, 0}}};
    char why[160] = "";
    size_t st0 = b->state->total;
    int ok = pb_shapes(p, &a, s, st);
    if (ok) pb_pool_plan(p, &a, s);
    if (ok && !hpff_build_shared(b, p->n_nets, pb_build_one, &a, why, sizeof why)) {
        *st = hpff_status_fail("%s: %s (local.pff_n = %d on %dx%d features; a side divisible by pff_n "
                               "avoids unequal patches)", s->prefix, why, s->n, in.h, in.w);
        ok = 0;
    }
    if (!ok) {
        pb_free(p);
        free(p);
        return NULL;
    }
    if (p->sim == PB_SIM_WHOLE) {
        char nm[64];
        snprintf(nm, sizeof nm, "%s.sim", s->prefix);
        hpff_auxnet_init(&p->whole, in);
        hpff_aux_predsim_sim_push(b, nm, &p->whole);
        hpff_auxnet_plan(&p->whole, b->n_max);
    }
    p->st_off = st0;
    p->st_floats = b->state->total - st0;
    hpff_head *hd = hpff_xcalloc(1, sizeof *hd);
    hd->ops = &pb_ops;
    hd->priv = p;
    hd->in = in;
    hd->work_floats = pb_layout(p, b->n_max);
    hd->has_acc = 1;
    pb_costs(p, hd);
    snprintf(hd->name, sizeof hd->name, "%s", s->prefix);
    return hd;
}
