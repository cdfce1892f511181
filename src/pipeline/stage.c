// stage.c — the HiLo step of ALGORITHM §4.3 on the modules one rank owns, and §9's protocol
// with its neighbours. Every block runs forward once per step; each module gets two backward
// sweeps: the cascade seed c_m alone for the data gradient u_{m-1} (parameters untouched), then
// (a_m + c_m) + u_m for the parameter gradients (no data gradient).
#include "stage.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "replicas.h"
#include "sizes.h"
#include "system.h"

static size_t numel(hpff_shape sh, int n) { return (size_t)n * hpff_shape_numel(sh); }

// ---- buffers ----

// The delayed boundary's two steps of activations, its weight shadow and pending gradient.
static void delayed_buffers(hpff_delayed *d, const hpff_module *last, int n, hpff_ledger *l) {
    size_t pn = last->p_end - last->p_begin;
    d->in_floats = numel(last->seq.in, n);
    size_t f = last->seq.slot_floats + d->in_floats + last->seq.out_floats;   // activations | input | output
    for (int i = 0; i < 2; i++) d->act[i] = hpff_ledger_floats(l, "delayed boundary module", f);
    d->shadow = hpff_ledger_floats(l, "delayed weight shadow", 2 * pn);   // previous | current
    d->pending = hpff_ledger_floats(l, "delayed pending gradient", pn);
}

void hpff_stage_buffers(hpff_stage *s, const hpff_model *md, int m0, int m1, hpff_ledger *l) {
    const hpff_hilo_module *hm = md->hilo.mod;
    const hpff_module *first = hpff_model_module(md, m0), *last = hpff_model_module(md, m1);
    int n = md->n_max, M = md->M;
    size_t seed_by[2] = {0, 0}, grad = 0, u_need = 0;   // seed k % 2 of the held modules (k = m - m0)
    for (int m = m0; m <= m1; m++) {
        const hpff_module *mo = hpff_model_module(md, m);
        seed_by[(m - m0) % 2] = hpff_zmax(seed_by[(m - m0) % 2], numel(mo->seq.out, n));
        grad = hpff_zmax(grad, mo->seq.grad_floats);
        if (m > m0 && hm[m].push_up) u_need = hpff_zmax(u_need, numel(mo->seq.in, n));
    }
    if (md->cfg->cascade == HPFF_CASCADE_DELAYED && m1 < M - 1) delayed_buffers(&s->d, last, n, l);
    for (int i = 0; i < 2; i++) s->seed[i] = hpff_ledger_floats(l, "module seed", seed_by[i]);
    // Φ's cascade part; u_{m-1} of a module after the rank's first goes to the backward sweep's
    // spare gradient buffer (hpff_seq_spare_grad) when that is large enough, else to its own.
    s->cbuf = m1 == M - 1 && hm[M - 1].push_up ? hpff_ledger_floats(l, "final cascade seed", numel(last->seq.out, n)) : NULL;
    s->ubuf = u_need > grad ? hpff_ledger_floats(l, "cascade gradient", u_need) : NULL;
    // Cascade gradients cross rank boundaries only where a module pushes one upstream.
    s->up_send = m0 > 0 && hm[m0].push_up ? hpff_ledger_floats(l, "upstream send", numel(first->seq.in, n)) : NULL;
    s->u_recv = m1 < M - 1 && hm[m1 + 1].push_up ? hpff_ledger_floats(l, "downstream receive", numel(last->seq.out, n)) : NULL;
}

// The model's and the stage's buffers of a rank owning [m0, m1], counted into two sizing ledgers.
static const char *rank_ledgers(const hpff_model *md, int m0, int m1, hpff_ledger *lm, hpff_ledger *ls) {
    hpff_ledger_init(lm, md->be, 1);
    hpff_ledger_init(ls, md->be, 1);
    hpff_model v = *md;   // a view: only its buffer fields are written (NULL: sizing)
    hpff_model_buffers(&v, m0, m1, lm);
    hpff_stage s;
    memset(&s, 0, sizeof s);
    hpff_stage_buffers(&s, md, m0, m1, ls);
    return v.work_head;
}

size_t hpff_rank_bytes(const hpff_model *md, int m0, int m1) {
    hpff_ledger lm, ls;
    rank_ledgers(md, m0, m1, &lm, &ls);
    return hpff_ledger_bytes(&lm) + hpff_ledger_bytes(&ls);
}

size_t hpff_rank_memory_report(const hpff_model *md, int m0, int m1, FILE *f) {
    hpff_ledger lm, ls;
    const char *work_head = rank_ledgers(md, m0, m1, &lm, &ls);
    const hpff_ledger *both[2] = {&lm, &ls};
    hpff_ledger_report(both, 2, f);
    if (work_head) fprintf(f, "  (the head work area is sized by head %s)\n", work_head);
    return hpff_ledger_bytes(&lm) + hpff_ledger_bytes(&ls);
}

size_t hpff_stage_bytes(const hpff_stage *s) { return hpff_ledger_bytes(&s->md->mem) + hpff_ledger_bytes(&s->mem); }

size_t hpff_stage_boundary_params(const hpff_stage *s) {
    const hpff_module *last = hpff_model_module(s->md, s->md->m1);
    return last->p_end - last->p_begin;
}

// ---- life cycle ----

void hpff_stage_init(hpff_stage *s, hpff_model *md, hpff_transport *tr, const float *mean,
                     const float *std, int img_c) {
    memset(s, 0, sizeof *s);
    s->md = md;
    s->tr = tr;
    s->delayed = md->cfg->cascade == HPFF_CASCADE_DELAYED;
    s->boundary_up = md->m1 < md->M - 1 && md->hilo.mod[md->m1 + 1].push_up;
    HPFF_CHECK(img_c == md->net.in.c && img_c <= 4, "stage: %d image channels (model %d, at most 4)", img_c,
               md->net.in.c);
    hpff_ledger_init(&s->mem, md->be, 0);
    hpff_stage_buffers(s, md, md->m0, md->m1, &s->mem);
    if (md->target_map) {   // x~ = x*std + mean as a batch-norm evaluation: gamma std, beta mean, 0, 1
        float map[16];
        for (int c = 0; c < img_c; c++) {
            map[c] = std[c];
            map[img_c + c] = mean[c];
            map[2 * img_c + c] = 0.f;
            map[3 * img_c + c] = 1.f;
        }
        md->be->to_device(md->be, md->target_map, map, 4 * (size_t)img_c * sizeof(float));
    }
    s->host_stat = hpff_xmalloc(hpff_model_stat_floats(md) * sizeof(float));
}

void hpff_stage_free(hpff_stage *s) {
    hpff_stage_graph_free(s);
    hpff_ledger_free(&s->mem);
    free(s->host_stat);
}

// ---- losses of a step ----

// The stat block of local module k's head of `level` (0 il, 1 cl), or of Φ (k = count).
static float *stat_block(hpff_model *md, int k, int level) {
    int count = md->m1 - md->m0 + 1;
    return md->stat + (size_t)(k < count ? 2 * k + level : 2 * count) * HPFF_STAT_FLOATS;
}

// Reads every head's stat block of this step with one copy (the step's one synchronisation
// besides the transports) into st; the module heads' only when `heads` (train steps).
static void read_stats(hpff_stage *s, hpff_step_stats *st, int heads) {
    hpff_model *md = s->md;
    int count = md->m1 - md->m0 + 1;
    const float *h = s->host_stat;
    md->be->to_host(md->be, s->host_stat, md->stat, hpff_model_stat_floats(md) * sizeof(float));
    hpff_head_result r;
    for (int k = 0; heads && k < count; k++) {
        hpff_module *mo = &md->mod[k];
        hpff_head *hd[2] = {mo->il, mo->cl};
        hpff_head_stats *out[2] = {&st->il[mo->m], &st->cl[mo->m]};
        for (int level = 0; level < 2; level++) {
            if (!hd[level]) continue;
            hpff_head_result_of(hd[level], h + (2 * k + level) * HPFF_STAT_FLOATS, &r);
            out[level]->loss = r.loss;
            out[level]->correct1 = r.correct1;
            out[level]->present = 1;
        }
    }
    if (st->has_final) {
        hpff_head_result_of(md->final, h + 2 * count * HPFF_STAT_FLOATS, &r);
        st->final_loss = r.loss;
        st->final_correct1 = r.correct1;
        st->final_correct5 = r.correct5;
    }
}

// ---- the step ----

// The phase hook, where one is attached (profiling).
static void phase(hpff_stage *s, int m, hpff_phase p) {
    if (s->on_phase) s->on_phase(s->phase_ctx, m, p);
}

// Rank input: the batch (rank 0) or the payload of rank-1. Returns n.
static int stage_input(hpff_stage *s, const float *x_host, const int32_t *y_host, int n) {
    hpff_model *md = s->md;
    hpff_backend *be = md->be;
    hpff_shape img = md->net.in;
    if (md->m0 > 0)
        return s->tr->ops->recv_down(s->tr, md->x_in, md->x_in_floats, md->labels, md->target,
                                     md->target ? numel(img, md->n_max) : 0);
    be->to_device(be, md->x_in, x_host, numel(img, n) * sizeof(float));
    be->to_device(be, md->labels, y_host, (size_t)n * sizeof(int32_t));
    return n;
}

// Rank 0 of an InfoPro run: the reconstruction target x~ = x*std + mean, channel by channel
// (§6), on the device: a batch-norm evaluation with mean 0, variance 1, eps 0 computes exactly
// x*std + mean (the scale 1/sqrt(1) is 1), the values the host loop gave, with no host pass and
// no second upload.
static void make_target(hpff_model *md, int n) {
    if (!md->target_map) return;
    hpff_shape img = md->net.in;
    const float *m = md->target_map;
    md->be->bn_fwd_eval(md->be, n, img.c, img.h * img.w, md->x_in, m, m + img.c, md->target, m + 2 * img.c,
                        m + 3 * img.c, 0.f, 0);
}

// A module's IL and CL heads share their first pool through md->pool_memo (head.h): the stage
// clears it after each forward, and nothing but these heads writes the head work area between.
static void run_head(hpff_head *hd, hpff_model *md, int n, const float *h, float w, float *dh, float beta,
                     float *stat) {
    hpff_pool_memo *memo = hd == md->final ? NULL : &md->pool_memo;
    hpff_head_io io = {n, h, md->labels, md->target, w, dh, beta, md->head_work, stat, memo};
    hd->ops->step(hd, &md->ex, &io);
}

// The seeds of module k are formed in S in two parts so that no separate buffer holds the
// cascade seed c_m: first S = c_m (this function), from which the data sweep computes u_{m-1},
// then S += a_m (independent_seed), the seed of the parameter sweep. Returns the data sweep's
// seed: S, or at Φ, whose seed carries both levels, c_M-1 = S * w_C / (w_I + w_C) in s->cbuf.
static const float *cascade_seed(hpff_stage *s, int k, hpff_module *mo, int n, const float *h, float *S,
                                 hpff_step_stats *st) {
    hpff_model *md = s->md;
    const hpff_hilo *hl = &md->hilo;
    if (mo->m == md->M - 1) {   // Φ serves both levels: seed (w_I + w_C) dℓF, cascade part w_C dℓF
        float W = hl->w_final_a + hl->w_final_c;
        run_head(md->final, md, n, h, W, S, 0.f, stat_block(md, k + 1, 0));
        st->has_final = 1;
        if (!s->cbuf) return S;   // no cascade from Φ
        size_t hn = numel(mo->seq.out, n);
        md->be->copy(md->be, s->cbuf, S, hn * sizeof(float));
        md->be->scale(md->be, s->cbuf, hl->w_final_c / W, hn);
        return s->cbuf;
    }
    if (mo->cl) run_head(mo->cl, md, n, h, hl->mod[mo->m].w_cl, S, 0.f, stat_block(md, k, 1));
    return S;
}

static void independent_seed(hpff_stage *s, int k, hpff_module *mo, int n, const float *h, float *S) {
    hpff_model *md = s->md;
    if (mo->m == md->M - 1) return;   // Φ's seed is complete
    if (mo->il) run_head(mo->il, md, n, h, md->hilo.mod[mo->m].w_il, S, mo->cl ? 1.f : 0.f, stat_block(md, k, 0));
    else if (!mo->cl) md->be->fill(md->be, S, 0.f, numel(mo->seq.out, n));
}

// A module's activations as the step placed them: input, slot (all but the output), output.
typedef struct mod_act { const float *x; float *slot; float *out; } mod_act;

static void param_sweep(hpff_model *md, hpff_module *mo, int n, mod_act a, const float *seed) {
    hpff_seq_backward_out(&mo->seq, &md->ex, n, a.x, a.slot, a.out, seed, NULL, 0.f, 1, md->g0, md->g1);
}

// The boundary module's buffer of one step parity (delayed mode): activations | input | output.
static mod_act boundary_act(const hpff_stage *s, const hpff_module *last, int parity) {
    float *b = s->d.act[parity];
    mod_act a = {b + last->seq.slot_floats, b, b + last->seq.slot_floats + s->d.in_floats};
    return a;
}

// Where module k's activations go: slot k % 2 and output k % 3, or on a delayed boundary this
// step's kept copy, input included (the next step's pending gradient reads them).
static mod_act module_act(hpff_stage *s, int k, int n, const float *in) {
    hpff_model *md = s->md;
    hpff_module *mo = &md->mod[k];
    if (k < md->m1 - md->m0 || !s->delayed || mo->m == md->M - 1) {
        mod_act a = {in, md->slot[k % 2], md->out[k % 3]};
        return a;
    }
    mod_act a = boundary_act(s, mo, (int)(s->step % 2));
    md->be->copy(md->be, (float *)a.x, in, numel(mo->seq.in, n) * sizeof(float));
    return a;
}

// Delayed mode (§9 D): G = VJP_θ(F_m1; u^{t-1}) at the step-(t-1) activations *and* weights,
// computed into s->d.pending (then added), so a checkpoint can hold it between steps.
static void delayed_pending(hpff_stage *s) {
    hpff_model *md = s->md;
    hpff_backend *be = md->be;
    hpff_delayed *d = &s->d;
    hpff_module *last = hpff_model_module(md, md->m1);
    size_t pn = last->p_end - last->p_begin;
    float *p = md->p + last->p_begin;
    size_t un = numel(last->seq.out, d->prev_n);
    hpff_stage_transport(s, (hpff_stage_action){HPFF_ACT_RECV_UP, NULL, s->u_recv, un, d->prev_n, 0});
    float *cur = d->shadow + pn;   // second half of the shadow buffer holds the current weights
    be->copy(be, cur, p, pn * sizeof(float));
    be->copy(be, p, d->shadow, pn * sizeof(float));
    be->fill(be, d->pending, 0.f, pn);
    float *grads = md->ex.grads;
    md->ex.grads = d->pending - last->p_begin;   // F_m1's gradient offsets now land in pending
    param_sweep(md, last, d->prev_n, boundary_act(s, last, (int)((s->step - 1) % 2)), s->u_recv);
    md->ex.grads = grads;
    be->copy(be, p, cur, pn * sizeof(float));
    d->pending_ready = 1;
}

static void delayed_boundary(hpff_stage *s) {
    hpff_model *md = s->md;
    hpff_module *last = hpff_model_module(md, md->m1);
    size_t pn = last->p_end - last->p_begin;
    if (s->step > 0 && !s->d.pending_ready) delayed_pending(s);
    // with replicas the pending gradient is added after the averages (hpff_stage_end_step marks it)
    if (s->d.pending_ready && !s->reducer) md->be->axpy(md->be, md->g + last->p_begin, 1.f, s->d.pending, pn);
    s->d.pending_ready = 0;
    md->be->copy(md->be, s->d.shadow, md->p + last->p_begin, pn * sizeof(float));
}

// ---- replicas: gradient averages ----

// Starts averaging held module k's gradients (its bucket) over the stage's replicas.
static void start_bucket(hpff_stage *s, int k) {
    hpff_span sp[8];
    int n = hpff_replicas_module_spans(s->md, k, sp, 8);
    char what[64];
    snprintf(what, sizeof what, "module %d's gradients", s->md->m0 + k);
    s->reducer->ops->start(s->reducer, sp, n, what);
    s->reduced = k + 1;
}

// After held module k's parameter sweep: its average travels while the rank goes on. Not while
// a step is being recorded as graphs (a replayed step starts them all after its segments).
static void reduce_module(hpff_stage *s, int k) {
    if (s->reducer && !s->graph.recording) start_bucket(s, k);
}

// The pending boundary gradient's average over the replicas, once (the span is the same on
// every replica of the stage).
static void start_pending(hpff_stage *s) {
    hpff_span sp = {s->d.pending, hpff_stage_boundary_params(s)};
    char what[80];
    snprintf(what, sizeof what, "module %d's delayed boundary gradient", s->md->m1);
    s->reducer->ops->start(s->reducer, &sp, 1, what);
    s->d.pending_avg = 1;
}

// The end of a step's gradients with replicas: the averages not yet started (graph replays),
// the owed boundary gradient's own average, waiting for all, then adding the boundary gradient.
static void average(hpff_stage *s, hpff_step_stats *st) {
    hpff_model *md = s->md;
    if (!s->reducer) return;
    for (int k = s->reduced; k < md->m1 - md->m0 + 1; k++) start_bucket(s, k);
    if (s->d.pending_add && !s->d.pending_avg) start_pending(s);
    s->reducer->ops->finish(s->reducer);
    if (s->d.pending_add) {
        hpff_module *last = hpff_model_module(md, md->m1);
        md->be->axpy(md->be, md->g + last->p_begin, 1.f, s->d.pending, last->p_end - last->p_begin);
    }
    s->d.pending_add = s->d.pending_avg = 0;
    s->reduced = 0;
    st->t_wait_reduce = s->reducer->wait_s;
    s->reducer->wait_s = 0;
}

void hpff_stage_flush(hpff_stage *s) {
    if (!(s->delayed && s->boundary_up && s->step > 0 && !s->d.pending_ready)) return;
    delayed_pending(s);
    if (!s->reducer) return;
    start_pending(s);   // averaged now: the checkpoint holds what every replica adds
    s->reducer->ops->finish(s->reducer);
    s->reducer->wait_s = 0;
}

// The data sweep of module k for u_{m-1} = VJP_in(F_m; c_m), one hop: into the previous
// module's seed on this rank, or sent upstream from the rank's first module.
static void cascade_sweep(hpff_stage *s, int k, hpff_module *mo, int n, mod_act a, const float *cseed,
                          float *prev_seed) {
    hpff_model *md = s->md;
    if (!md->hilo.mod[mo->m].push_up || (k == 0 && !s->up_send)) return;
    float *u = k == 0 ? s->up_send : s->ubuf ? s->ubuf : hpff_seq_spare_grad(&mo->seq, md->g0, md->g1);
    size_t un = numel(mo->seq.in, n);
    hpff_seq_backward_out(&mo->seq, &md->ex, n, a.x, a.slot, a.out, cseed, u, 0.f, 0, md->g0, md->g1);
    if (k > 0) md->be->axpy(md->be, prev_seed, 1.f, u, un);
    else hpff_stage_transport(s, (hpff_stage_action){HPFF_ACT_SEND_UP, u, NULL, un, n, 0});
}

// The walk over the rank's modules: the next input and the module whose parameter sweep waits.
typedef struct walk {
    const float *in;
    hpff_module *prev;
    mod_act pa;             // the previous module's activations
    float *prev_seed;
} walk;

// Steps 1-3 of ARCHITECTURE.md for module k (forward, posting downstream, heads, the cascade
// data sweep), then step 4 for the module before it, whose seed is now complete.
static void module_step(hpff_stage *s, int k, int n, walk *w, hpff_step_stats *st) {
    hpff_model *md = s->md;
    hpff_module *mo = &md->mod[k];
    mod_act a = module_act(s, k, n, w->in);
    phase(s, -1, HPFF_PHASE_BEGIN);
    float *h = hpff_seq_forward_out(&mo->seq, &md->ex, n, a.x, a.slot, a.out);
    md->pool_memo.src = NULL;   // h is new (the same address as an earlier output, maybe)
    phase(s, mo->m, HPFF_PHASE_FORWARD);
    if (mo->m == md->m1 && mo->m < md->M - 1)   // post downstream first: the next rank starts now
        hpff_stage_transport(s, (hpff_stage_action){HPFF_ACT_SEND_DOWN, h, NULL, numel(mo->seq.out, n), n,
                                                    md->target ? numel(md->net.in, n) : 0});
    float *S = s->seed[k % 2];
    const float *cseed = cascade_seed(s, k, mo, n, h, S, st);
    phase(s, mo->m, HPFF_PHASE_HEADS);
    cascade_sweep(s, k, mo, n, a, cseed, w->prev_seed);
    phase(s, mo->m, HPFF_PHASE_CASCADE);
    independent_seed(s, k, mo, n, h, S);
    phase(s, mo->m, HPFF_PHASE_HEADS);
    if (w->prev) {
        param_sweep(md, w->prev, n, w->pa, w->prev_seed);
        reduce_module(s, k - 1);
        phase(s, w->prev->m, HPFF_PHASE_PARAMS);
    }
    *w = (walk){h, mo, a, S};
}

// The host-side effects of a step (a replayed step redoes these; stage_graph.c).
void hpff_stage_end_step(hpff_stage *s, int n, hpff_step_stats *st) {
    st->has_final = s->md->final != NULL;
    // replicas: a delayed boundary owes the previous step's gradient from the second step on
    // (made inside this step, or by a flush before it); it is added after the averages
    s->d.pending_add = s->reducer && s->delayed && s->boundary_up && s->step > 0;
    s->d.pending_ready = 0;   // a delayed boundary's pending gradient was made and applied
    s->d.prev_n = n;
    s->step++;
}

void hpff_stage_compute(hpff_stage *s, int n, hpff_step_stats *st) {
    hpff_model *md = s->md;
    hpff_backend *be = md->be;
    be->fill(be, md->g, 0.f, md->params.total);
    be->fill(be, md->stat, 0.f, hpff_model_stat_floats(md));
    make_target(md, n);
    md->ex.train = 1;
    walk w = {md->x_in, NULL, {NULL, NULL, NULL}, NULL};
    for (int k = 0; k < md->m1 - md->m0 + 1; k++) module_step(s, k, n, &w, st);
    if (s->boundary_up && !s->delayed) {   // strict: this step's u_{m1} from rank+1
        size_t un = numel(w.prev->seq.out, n);
        hpff_stage_transport(s, (hpff_stage_action){HPFF_ACT_RECV_UP, NULL, s->u_recv, un, n, 0});
        be->axpy(be, w.prev_seed, 1.f, s->u_recv, un);
    }
    phase(s, -1, HPFF_PHASE_BEGIN);
    param_sweep(md, w.prev, n, w.pa, w.prev_seed);
    if (s->boundary_up && s->delayed) delayed_boundary(s);
    reduce_module(s, md->m1 - md->m0);
    phase(s, w.prev->m, HPFF_PHASE_PARAMS);
    hpff_stage_end_step(s, n, st);
}

static void stage_grads(hpff_stage *s, const float *x_host, const int32_t *y_host, int n,
                        hpff_step_stats *st) {
    hpff_transport *tr = s->tr;
    memset(st, 0, sizeof *st);
    tr->ops->wait_sends(tr);   // last step's payload buffers are about to be reused
    n = stage_input(s, x_host, y_host, n);
    st->n = n;
    if (hpff_stage_graph_eligible(s, n)) hpff_stage_compute_graph(s, n, st);
    else hpff_stage_compute(s, n, st);
    tr->ops->take_wait_times(tr, &st->t_wait_down, &st->t_wait_up, &st->t_wait_send);
}

void hpff_stage_step(hpff_stage *s, const float *x_host, const int32_t *y_host, int n, float lr,
                     hpff_step_stats *st) {
    double t0 = hpff_now();
    stage_grads(s, x_host, y_host, n, st);
    average(s, st);
    hpff_model_sgd(s->md, lr);
    read_stats(s, st, 1);   // after the update is queued, so the device never waits on the host
    st->t_total = hpff_now() - t0;
}

void hpff_stage_grads(hpff_stage *s, const float *x_host, const int32_t *y_host, int n,
                      hpff_step_stats *st) {
    double t0 = hpff_now();
    stage_grads(s, x_host, y_host, n, st);
    average(s, st);
    read_stats(s, st, 1);
    st->t_total = hpff_now() - t0;
}

void hpff_stage_eval(hpff_stage *s, const float *x_host, const int32_t *y_host, int n,
                     hpff_step_stats *st) {
    hpff_model *md = s->md;
    memset(st, 0, sizeof *st);
    s->tr->ops->wait_sends(s->tr);
    md->ex.train = 0;
    md->be->fill(md->be, md->stat, 0.f, hpff_model_stat_floats(md));
    n = stage_input(s, x_host, y_host, n);
    st->n = n;
    const float *in = md->x_in;
    int count = md->m1 - md->m0 + 1;
    for (int k = 0; k < count; k++) {
        hpff_module *mo = &md->mod[k];
        in = hpff_seq_forward_out(&mo->seq, &md->ex, n, in, md->slot[k % 2], md->out[k % 3]);
    }
    hpff_module *last = &md->mod[count - 1];
    if (md->final) {
        hpff_head_io io = {n, in, md->labels, NULL, 1.f, NULL, 0.f, md->head_work, stat_block(md, count, 0), NULL};
        md->final->ops->eval(md->final, &md->ex, &io);
        st->has_final = 1;
        read_stats(s, st, 0);
    } else {
        s->tr->ops->send_down(s->tr, in, numel(last->seq.out, n), md->labels, n, NULL, 0);
    }
    md->ex.train = 1;
}

void hpff_stage_finish(hpff_stage *s) {
    hpff_model *md = s->md;
    if (s->delayed && s->boundary_up && s->step > 0 && !s->d.pending_ready)   // the last u is dropped
        s->tr->ops->recv_up(s->tr, s->u_recv, numel(hpff_model_module(md, md->m1)->seq.out, s->d.prev_n));
    s->tr->ops->wait_sends(s->tr);
}
