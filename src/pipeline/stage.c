// stage.c — the HiLo step of ALGORITHM §4.3 on the modules one rank owns, and §9's protocol
// with its neighbours. Every block runs forward once per step; each module gets two backward
// sweeps: the cascade seed c_m alone for the data gradient u_{m-1} (parameters untouched), then
// (a_m + c_m) + u_m for the parameter gradients (no data gradient).
#include "stage.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "system.h"

static void seg_transport(hpff_stage *s, hpff_stage_action a);   // transport calls of a step (graphs)

void hpff_stage_init(hpff_stage *s, hpff_model *md, hpff_transport *tr, const float *mean,
                     const float *std, int img_c) {
    memset(s, 0, sizeof *s);
    s->md = md;
    s->tr = tr;
    s->delayed = md->cfg->cascade == HPFF_CASCADE_DELAYED;
    s->boundary_up = md->m1 < md->M - 1 && md->hilo.mod[md->m1 + 1].push_up;
    HPFF_CHECK(img_c == md->net.in.c && img_c <= 4, "stage: %d image channels (model %d, at most 4)", img_c,
               md->net.in.c);
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

static void free_graphs(hpff_stage *s, hpff_stage_graphs *gs) {
    for (int i = 0; i < gs->n_segs; i++) s->md->be->graph_free(s->md->be, gs->segs[i]);
    memset(gs, 0, sizeof *gs);
}

void hpff_stage_free(hpff_stage *s) {
    free_graphs(s, &s->graphs[0]);
    free_graphs(s, &s->graphs[1]);
    free(s->host_stat);
}

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

static size_t numel(hpff_shape sh, int n) { return (size_t)n * hpff_shape_numel(sh); }

// Rank input: the batch (rank 0) or the payload of rank-1. Returns n.
// Profiling (s->prof != NULL): adds the seconds since `since` to phase `phase` of module m
// (0 forward, 1 heads, 2 cascade data sweep, 3 parameter sweep); returns the time now.
static double prof_mark(hpff_stage *s, int m, int phase, double since) {
    if (!s->prof) return 0;
    s->md->be->sync(s->md->be);
    double t = hpff_now();
    if (m >= 0) s->prof[4 * m + phase] += t - since;
    return t;
}

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

static void run_head(hpff_head *hd, hpff_model *md, int n, const float *h, float w, float *dh, float beta,
                     float *stat) {
    hpff_head_io io = {n, h, md->labels, md->target, w, dh, beta, md->head_work, stat};
    hd->ops->step(hd, &md->ex, &io);
}

// The seeds of module k are formed in S in two parts so that no separate buffer holds the
// cascade seed c_m: first S = c_m (this function), from which the data sweep computes u_{m-1},
// then S += a_m (independent_seed), the seed of the parameter sweep. Returns the data sweep's
// seed: S, or at Φ, whose seed carries both levels, c_M-1 = S * w_C / (w_I + w_C) in md->cbuf.
static const float *cascade_seed(hpff_stage *s, int k, hpff_module *mo, int n, const float *h, float *S,
                                 hpff_step_stats *st) {
    hpff_model *md = s->md;
    const hpff_hilo *hl = &md->hilo;
    if (mo->m == md->M - 1) {   // Φ serves both levels: seed (w_I + w_C) dℓF, cascade part w_C dℓF
        float W = hl->w_final_a + hl->w_final_c;
        run_head(md->final, md, n, h, W, S, 0.f, stat_block(md, k + 1, 0));
        st->has_final = 1;
        if (!md->cbuf) return S;   // no cascade from Φ
        size_t hn = numel(mo->seq.out, n);
        md->be->copy(md->be, md->cbuf, S, hn * sizeof(float));
        md->be->scale(md->be, md->cbuf, hl->w_final_c / W, hn);
        return md->cbuf;
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
static mod_act boundary_act(const hpff_model *md, const hpff_module *last, int parity) {
    float *b = md->bnd[parity];
    mod_act a = {b + last->seq.slot_floats, b, b + last->seq.slot_floats + md->bnd_in_floats};
    return a;
}

// Delayed mode (§9 D): G = VJP_θ(F_m1; u^{t-1}) at the step-(t-1) activations *and* weights,
// computed into md->pending (then added), so a checkpoint can hold it between steps.
static void delayed_pending(hpff_stage *s) {
    hpff_model *md = s->md;
    hpff_backend *be = md->be;
    hpff_module *last = &md->mod[md->m1 - md->m0];
    size_t pn = last->p_end - last->p_begin;
    float *p = md->p + last->p_begin;
    size_t un = numel(last->seq.out, s->prev_n);
    seg_transport(s, (hpff_stage_action){HPFF_ACT_RECV_UP, NULL, md->u_recv, un, s->prev_n, 0});
    float *cur = md->shadow + pn;   // second half of the shadow buffer holds the current weights
    be->copy(be, cur, p, pn * sizeof(float));
    be->copy(be, p, md->shadow, pn * sizeof(float));
    be->fill(be, md->pending, 0.f, pn);
    float *grads = md->ex.grads;
    md->ex.grads = md->pending - last->p_begin;   // F_m1's gradient offsets now land in pending
    param_sweep(md, last, s->prev_n, boundary_act(md, last, (int)((s->step - 1) % 2)), md->u_recv);
    md->ex.grads = grads;
    be->copy(be, p, cur, pn * sizeof(float));
    md->pending_ready = 1;
}

static void delayed_boundary(hpff_stage *s) {
    hpff_model *md = s->md;
    hpff_module *last = &md->mod[md->m1 - md->m0];
    size_t pn = last->p_end - last->p_begin;
    if (s->step > 0 && !md->pending_ready) delayed_pending(s);
    if (md->pending_ready) md->be->axpy(md->be, md->g + last->p_begin, 1.f, md->pending, pn);
    md->pending_ready = 0;
    md->be->copy(md->be, md->shadow, md->p + last->p_begin, pn * sizeof(float));
}

void hpff_stage_flush(hpff_stage *s) {
    if (s->delayed && s->boundary_up && s->step > 0 && !s->md->pending_ready) delayed_pending(s);
}

static void stage_grads(hpff_stage *s, const float *x_host, const int32_t *y_host, int n,
                        hpff_step_stats *st);

void hpff_stage_step(hpff_stage *s, const float *x_host, const int32_t *y_host, int n, float lr,
                     hpff_step_stats *st) {
    double t0 = hpff_now();
    stage_grads(s, x_host, y_host, n, st);
    hpff_model_sgd(s->md, lr);
    read_stats(s, st, 1);   // after the update is queued, so the device never waits on the host
    st->t_total = hpff_now() - t0;
}

void hpff_stage_grads(hpff_stage *s, const float *x_host, const int32_t *y_host, int n,
                      hpff_step_stats *st) {
    double t0 = hpff_now();
    stage_grads(s, x_host, y_host, n, st);
    read_stats(s, st, 1);
    st->t_total = hpff_now() - t0;
}

// ---- graphs (backend.graph): a step's device work between its transport calls ----
//
// A step is a fixed sequence: device work, transport call, device work, ... (the same calls with
// the same buffers every full-batch step). Recording captures each stretch of device work as one
// graph (a segment) and notes the transport calls between them; a replay launches the segments
// and makes the same calls, without running the step's host code.

static void act_run(hpff_stage *s, const hpff_stage_action *a) {
    hpff_transport *tr = s->tr;
    hpff_model *md = s->md;
    switch (a->kind) {
    case HPFF_ACT_SEND_DOWN:
        tr->ops->send_down(tr, a->src, a->count, md->labels, a->n, md->target, a->target_count);
        break;
    case HPFF_ACT_SEND_UP: tr->ops->send_up(tr, a->src, a->count); break;
    case HPFF_ACT_RECV_UP: tr->ops->recv_up(tr, a->dst, a->count); break;
    }
}

// Ends the segment being recorded and runs it (its work comes before the transport call).
static void seg_close(hpff_stage *s) {
    hpff_backend *be = s->md->be;
    hpff_stage_graphs *gs = s->recording;
    char why[256] = "";
    HPFF_CHECK(gs->n_segs < HPFF_STAGE_MAX_SEGS, "more than %d graph segments in a step", HPFF_STAGE_MAX_SEGS);
    void *g = be->graph_end(be, why, sizeof why);
    HPFF_CHECK(g != NULL, "recording segment %d of the training step as a graph failed after transport "
               "calls had run (%s); set backend.graph = off", gs->n_segs + 1, why);
    gs->segs[gs->n_segs++] = g;
    be->graph_run(be, g);
}

// A transport call inside a step: made at once, and noted (between two segments) while the step
// is being recorded.
static void seg_transport(hpff_stage *s, hpff_stage_action a) {
    if (!s->recording) {
        act_run(s, &a);
        return;
    }
    seg_close(s);
    act_run(s, &a);
    s->recording->acts[s->recording->n_segs - 1] = a;   // after the segment just closed
    HPFF_CHECK(s->md->be->graph_begin(s->md->be), "the backend could not resume recording the step "
               "after a transport call; set backend.graph = off");
}

// The device work of one training step on this rank's modules, after its input arrived.
static void stage_compute(hpff_stage *s, int n, hpff_step_stats *st) {
    hpff_model *md = s->md;
    hpff_backend *be = md->be;
    be->fill(be, md->g, 0.f, md->params.total);
    be->fill(be, md->stat, 0.f, hpff_model_stat_floats(md));
    make_target(md, n);
    md->ex.train = 1;
    int count = md->m1 - md->m0 + 1;
    const float *in = md->x_in;
    hpff_module *prev = NULL;
    mod_act pa = {NULL, NULL, NULL};   // the previous module's activations
    float *prev_seed = NULL;
    for (int k = 0; k < count; k++) {
        hpff_module *mo = &md->mod[k];
        int m = mo->m;
        mod_act a = {in, md->slot[k % 2], md->out[k % 3]};
        int last = k == count - 1;
        if (last && s->delayed && m < md->M - 1) {   // keep this step's boundary activations
            a = boundary_act(md, mo, (int)(s->step % 2));
            be->copy(be, (float *)a.x, in, numel(mo->seq.in, n) * sizeof(float));
        }
        double tp = prof_mark(s, -1, 0, 0);
        float *h = hpff_seq_forward_out(&mo->seq, &md->ex, n, a.x, a.slot, a.out);
        tp = prof_mark(s, m, 0, tp);
        if (last && m < md->M - 1)   // post downstream first: the next rank starts now
            seg_transport(s, (hpff_stage_action){HPFF_ACT_SEND_DOWN, h, NULL, numel(mo->seq.out, n), n,
                                            md->target ? numel(md->net.in, n) : 0});
        float *S = md->seed[k % 2];
        const float *cseed = cascade_seed(s, k, mo, n, h, S, st);
        tp = prof_mark(s, m, 1, tp);
        if (md->hilo.mod[m].push_up && (k > 0 || md->up_send)) {   // u_{m-1} = VJP_in(F_m; c_m), one hop
            float *u = k == 0 ? md->up_send : md->ubuf ? md->ubuf : hpff_seq_spare_grad(&mo->seq, md->g0, md->g1);
            size_t un = numel(mo->seq.in, n);
            hpff_seq_backward_out(&mo->seq, &md->ex, n, a.x, a.slot, a.out, cseed, u, 0.f, 0, md->g0, md->g1);
            if (k > 0) be->axpy(be, prev_seed, 1.f, u, un);
            else seg_transport(s, (hpff_stage_action){HPFF_ACT_SEND_UP, u, NULL, un, n, 0});
        }
        tp = prof_mark(s, m, 2, tp);
        independent_seed(s, k, mo, n, h, S);
        tp = prof_mark(s, m, 1, tp);
        if (prev) param_sweep(md, prev, n, pa, prev_seed);
        if (prev) prof_mark(s, prev->m, 3, tp);
        prev = mo;
        pa = a;
        prev_seed = S;
        in = h;
    }
    if (s->boundary_up && !s->delayed) {   // strict: this step's u_{m1} from rank+1
        seg_transport(s, (hpff_stage_action){HPFF_ACT_RECV_UP, NULL, md->u_recv, numel(prev->seq.out, n), n, 0});
        be->axpy(be, prev_seed, 1.f, md->u_recv, numel(prev->seq.out, n));
    }
    double tp = prof_mark(s, -1, 0, 0);
    param_sweep(md, prev, n, pa, prev_seed);
    tp = prof_mark(s, prev->m, 3, tp);
    if (s->boundary_up && s->delayed) delayed_boundary(s);
    prof_mark(s, prev->m, 3, tp);
    s->prev_n = n;
    s->step++;
}

// A step can be recorded once and replayed when its ops are the same every time: the batch is
// full, nothing synchronises between ops (profiling), and the backend can record. A rank with a
// delayed boundary keeps two steps' boundary activations (one graph set per step parity), and its
// step runs the previous step's pending gradient only when that step was full and no flush
// (checkpoint, evaluation) computed it already.
static int graph_eligible(const hpff_stage *s, int n) {
    const hpff_model *md = s->md;
    if (!s->graph_wanted || s->graph_failed || s->prof || !md->be->graph_begin || n != md->n_max) return 0;
    if (!(s->delayed && s->boundary_up)) return 1;
    return s->step > 0 && !md->pending_ready && s->prev_n == md->n_max;
}

#define GRAPH_WARM_STEPS 2   // eager steps first: they size the scratch and plan every conv shape

int hpff_stage_graphs_ready(const hpff_stage *s) {
    return s->graphs[0].ready && (!(s->delayed && s->boundary_up) || s->graphs[1].ready);
}

// The set the next step replays or records: by step parity on a delayed boundary rank.
static hpff_stage_graphs *graph_set(hpff_stage *s) {
    return &s->graphs[s->delayed && s->boundary_up ? s->step % 2 : 0];
}

// Records the next step into gs (each segment runs as it closes); 0 if nothing of it ran.
static int record_step(hpff_stage *s, hpff_stage_graphs *gs, int n, hpff_step_stats *st, char *why, size_t why_len) {
    hpff_backend *be = s->md->be;
    if (!be->graph_begin(be)) {
        snprintf(why, why_len, "the backend could not start recording");
        return 0;
    }
    s->recording = gs;
    stage_compute(s, n, st);
    s->recording = NULL;
    void *g = be->graph_end(be, why, why_len);
    if (!g) {
        // Earlier segments ran their work and their transport calls: the step cannot be run
        // again op by op without sending twice.
        HPFF_CHECK(gs->n_segs == 0, "recording the last of %d segments of the training step as a graph "
                   "failed after transport calls had run (%s); set backend.graph = off", gs->n_segs + 1, why);
        return 0;   // a step without transport calls: nothing of it ran
    }
    gs->segs[gs->n_segs++] = g;
    be->graph_run(be, g);
    gs->ready = 1;
    return 1;
}

// stage_compute through recorded graphs: warm up eagerly, record once (per parity), replay after.
// The replay repeats the device work and the transport calls; the host-side effects of
// stage_compute are redone here.
static void stage_compute_graph(hpff_stage *s, int n, hpff_step_stats *st) {
    hpff_model *md = s->md;
    hpff_backend *be = md->be;
    hpff_stage_graphs *gs = graph_set(s);
    if (!gs->ready && s->graph_warm < GRAPH_WARM_STEPS) {
        s->graph_warm++;
        stage_compute(s, n, st);
        return;
    }
    if (!gs->ready) {
        char why[256] = "";
        long step0 = s->step;
        if (record_step(s, gs, n, st, why, sizeof why)) {
            if (s->graph_verbose)
                printf("hpff_pipe: training step recorded as %d graph%s (last: %s)\n", gs->n_segs,
                       gs->n_segs > 1 ? "s between transport calls" : "", why);
            return;
        }
        fprintf(stderr, "hpff_pipe: recording the training step as a graph failed (%s); training "
                        "continues without graphs (backend.graph = off silences this)\n", why);
        free_graphs(s, &s->graphs[0]);
        free_graphs(s, &s->graphs[1]);
        s->graph_failed = 1;
        s->step = step0;
        stage_compute(s, n, st);
        return;
    }
    for (int i = 0; i < gs->n_segs; i++) {
        be->graph_run(be, gs->segs[i]);
        if (i < gs->n_segs - 1) act_run(s, &gs->acts[i]);
    }
    st->has_final = md->final != NULL;
    md->pending_ready = 0;   // a delayed boundary's pending gradient was made and applied
    s->prev_n = n;
    s->step++;
}

static void stage_grads(hpff_stage *s, const float *x_host, const int32_t *y_host, int n,
                        hpff_step_stats *st) {
    hpff_transport *tr = s->tr;
    memset(st, 0, sizeof *st);
    tr->ops->wait_sends(tr);   // last step's payload buffers are about to be reused
    n = stage_input(s, x_host, y_host, n);
    st->n = n;
    if (graph_eligible(s, n)) stage_compute_graph(s, n, st);
    else stage_compute(s, n, st);
    tr->ops->take_wait_times(tr, &st->t_wait_down, &st->t_wait_up, &st->t_wait_send);
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
        hpff_head_io io = {n, in, md->labels, NULL, 1.f, NULL, 0.f, md->head_work, stat_block(md, count, 0)};
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
    if (s->delayed && s->boundary_up && s->step > 0 && !md->pending_ready)   // the last u is dropped
        s->tr->ops->recv_up(s->tr, md->u_recv, numel(md->mod[md->m1 - md->m0].seq.out, s->prev_n));
    s->tr->ops->wait_sends(s->tr);
}
