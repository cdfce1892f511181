// stage.c — the HiLo step of ALGORITHM §4.3 on the modules one rank owns, and §9's protocol
// with its neighbours. Every block runs forward once per step; each module gets two backward
// sweeps: the cascade seed c_m alone for the data gradient u_{m-1} (parameters untouched), then
// (a_m + c_m) + u_m for the parameter gradients (no data gradient).
#include "stage.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "check.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void hpff_stage_init(hpff_stage *s, hpff_model *md, hpff_transport *tr, const float *mean,
                     const float *std, int img_c) {
    memset(s, 0, sizeof *s);
    s->md = md;
    s->tr = tr;
    s->delayed = strcmp(md->cfg->cascade, "delayed") == 0;
    s->boundary_up = md->m1 < md->M - 1 && md->hilo.mod[md->m1 + 1].push_up;
    s->img_c = img_c;
    for (int c = 0; c < img_c && c < 4; c++) { s->mean[c] = mean[c]; s->std[c] = std[c]; }
    if (md->needs_target && md->m0 == 0)
        s->host_target = hpff_xmalloc((size_t)md->n_max * hpff_shape_numel(md->net.in) * sizeof(float));
    s->host_stat = hpff_xmalloc(hpff_model_stat_floats(md) * sizeof(float));
}

void hpff_stage_free(hpff_stage *s) {
    free(s->host_target);
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
    double t = now_s();
    if (m >= 0) s->prof[4 * m + phase] += t - since;
    return t;
}

static int stage_input(hpff_stage *s, const float *x_host, const int32_t *y_host, int n) {
    hpff_model *md = s->md;
    hpff_backend *be = md->be;
    hpff_shape img = md->net.in;
    if (md->m0 > 0)
        return s->tr->ops->recv_down(s->tr, md->x_in, md->in_floats_max, md->labels, md->target,
                                     md->target ? numel(img, md->n_max) : 0);
    be->to_device(be, md->x_in, x_host, numel(img, n) * sizeof(float));
    be->to_device(be, md->labels, y_host, (size_t)n * sizeof(int32_t));
    if (md->target) {   // x~ = x*std + mean, channel by channel (§6)
        size_t plane = (size_t)img.h * img.w;
        for (int i = 0; i < n; i++)
            for (int c = 0; c < img.c; c++) {
                const float *src = x_host + ((size_t)i * img.c + c) * plane;
                float *dst = s->host_target + ((size_t)i * img.c + c) * plane;
                for (size_t j = 0; j < plane; j++) dst[j] = src[j] * s->std[c] + s->mean[c];
            }
        be->to_device(be, md->target, s->host_target, numel(img, n) * sizeof(float));
    }
    return n;
}

static void run_head(hpff_head *hd, hpff_model *md, int n, const float *h, float w, float *dh, float *stat) {
    hpff_head_io io = {n, h, md->labels, md->target, w, dh, 0.f, md->head_work, stat};
    hd->ops->step(hd, &md->ex, &io);
}

// S = a_m + c_m (seed of the parameter sweep), cbuf = c_m (seed pushed upstream).
static void module_seeds(hpff_stage *s, int k, hpff_module *mo, int n, const float *h, float *S,
                         hpff_step_stats *st) {
    hpff_model *md = s->md;
    hpff_backend *be = md->be;
    const hpff_hilo *hl = &md->hilo;
    size_t hn = numel(mo->seq.out, n);
    int m = mo->m;
    if (m == md->M - 1) {   // Φ serves both levels: seed (w_I + w_C) dℓF, cascade part w_C dℓF
        float W = hl->w_final_a + hl->w_final_c;
        hpff_head_io io = {n, h, md->labels, md->target, W, S, 0.f, md->head_work, stat_block(md, k + 1, 0)};
        md->final->ops->step(md->final, &md->ex, &io);
        st->has_final = 1;
        if (hl->mod[m].push_up) {
            be->copy(be, md->cbuf, S, hn * sizeof(float));
            be->scale(be, md->cbuf, hl->w_final_c / W, hn);
        }
        return;
    }
    const hpff_hilo_module *hm = &hl->mod[m];
    if (mo->il) run_head(mo->il, md, n, h, hm->w_il, S, stat_block(md, k, 0));
    if (mo->cl) {
        run_head(mo->cl, md, n, h, hm->w_cl, md->cbuf, stat_block(md, k, 1));
        if (mo->il) be->axpy(be, S, 1.f, md->cbuf, hn);
        else be->copy(be, S, md->cbuf, hn * sizeof(float));
    }
    if (!mo->il && !mo->cl) be->fill(be, S, 0.f, hn);
}

static void param_sweep(hpff_model *md, hpff_module *mo, int n, const float *x, float *slot, const float *seed) {
    hpff_seq_backward(&mo->seq, &md->ex, n, x, slot, seed, NULL, 0.f, 1, md->g0, md->g1);
}

// Delayed mode (§9 D): G = VJP_θ(F_m1; u^{t-1}) at the step-(t-1) activations *and* weights,
// computed into md->pending (then added), so a checkpoint can hold it between steps.
static void delayed_pending(hpff_stage *s) {
    hpff_model *md = s->md;
    hpff_backend *be = md->be;
    hpff_module *last = &md->mod[md->m1 - md->m0];
    size_t pn = last->p_end - last->p_begin;
    float *p = md->p + last->p_begin;
    s->tr->ops->recv_up(s->tr, md->u_recv, numel(last->seq.out, s->prev_n));
    float *buf = md->bnd[(s->step - 1) % 2];
    float *cur = md->shadow + pn;   // second half of the shadow buffer holds the current weights
    be->copy(be, cur, p, pn * sizeof(float));
    be->copy(be, p, md->shadow, pn * sizeof(float));
    be->fill(be, md->pending, 0.f, pn);
    float *grads = md->ex.grads;
    md->ex.grads = md->pending - last->p_begin;   // F_m1's gradient offsets now land in pending
    param_sweep(md, last, s->prev_n, buf + last->seq.slot_floats, buf, md->u_recv);
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
    double t0 = now_s();
    stage_grads(s, x_host, y_host, n, st);
    hpff_model_sgd(s->md, lr);
    read_stats(s, st, 1);   // after the update is queued, so the device never waits on the host
    st->t_total = now_s() - t0;
}

void hpff_stage_grads(hpff_stage *s, const float *x_host, const int32_t *y_host, int n,
                      hpff_step_stats *st) {
    double t0 = now_s();
    stage_grads(s, x_host, y_host, n, st);
    read_stats(s, st, 1);
    st->t_total = now_s() - t0;
}

static void stage_grads(hpff_stage *s, const float *x_host, const int32_t *y_host, int n,
                        hpff_step_stats *st) {
    hpff_model *md = s->md;
    hpff_backend *be = md->be;
    hpff_transport *tr = s->tr;
    memset(st, 0, sizeof *st);
    tr->ops->wait_sends(tr);   // last step's payload buffers are about to be reused
    be->fill(be, md->g, 0.f, md->params.total);
    be->fill(be, md->stat, 0.f, hpff_model_stat_floats(md));
    md->ex.train = 1;
    n = stage_input(s, x_host, y_host, n);
    st->n = n;
    int count = md->m1 - md->m0 + 1;
    const float *in = md->x_in;
    hpff_module *prev = NULL;
    const float *prev_in = NULL;
    float *prev_slot = NULL, *prev_seed = NULL;
    for (int k = 0; k < count; k++) {
        hpff_module *mo = &md->mod[k];
        int m = mo->m;
        float *slot = md->slot[k % 3];
        const float *xin = in;
        int last = k == count - 1;
        if (last && s->delayed && m < md->M - 1) {   // keep this step's boundary activations
            slot = md->bnd[s->step % 2];
            float *copy_in = slot + mo->seq.slot_floats;
            be->copy(be, copy_in, in, numel(mo->seq.in, n) * sizeof(float));
            xin = copy_in;
        }
        double tp = prof_mark(s, -1, 0, 0);
        float *h = hpff_seq_forward(&mo->seq, &md->ex, n, xin, slot);
        tp = prof_mark(s, m, 0, tp);
        if (last && m < md->M - 1)   // post downstream first: the next rank starts now
            tr->ops->send_down(tr, h, numel(mo->seq.out, n), md->labels, n, md->target,
                               md->target ? numel(md->net.in, n) : 0);
        float *S = md->seed[k % 2];
        module_seeds(s, k, mo, n, h, S, st);
        tp = prof_mark(s, m, 1, tp);
        if (md->hilo.mod[m].push_up) {   // u_{m-1} = VJP_in(F_m; c_m), the one-hop hand-over
            float *u = k > 0 ? md->ubuf : md->up_send;
            hpff_seq_backward(&mo->seq, &md->ex, n, xin, slot, md->cbuf, u, 0.f, 0, md->g0, md->g1);
            if (k > 0) be->axpy(be, prev_seed, 1.f, u, numel(prev->seq.out, n));
            else tr->ops->send_up(tr, u, numel(mo->seq.in, n));
        }
        tp = prof_mark(s, m, 2, tp);
        if (prev) param_sweep(md, prev, n, prev_in, prev_slot, prev_seed);
        if (prev) prof_mark(s, prev->m, 3, tp);
        prev = mo;
        prev_in = xin;
        prev_slot = slot;
        prev_seed = S;
        in = h;
    }
    if (s->boundary_up && !s->delayed) {   // strict: this step's u_{m1} from rank+1
        tr->ops->recv_up(tr, md->u_recv, numel(prev->seq.out, n));
        be->axpy(be, prev_seed, 1.f, md->u_recv, numel(prev->seq.out, n));
    }
    double tp = prof_mark(s, -1, 0, 0);
    param_sweep(md, prev, n, prev_in, prev_slot, prev_seed);
    tp = prof_mark(s, prev->m, 3, tp);
    if (s->boundary_up && s->delayed) delayed_boundary(s);
    prof_mark(s, prev->m, 3, tp);
    s->prev_n = n;
    s->step++;
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
        in = hpff_seq_forward(&mo->seq, &md->ex, n, in, md->slot[k % 3]);
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
