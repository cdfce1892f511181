// stage_graph.c — backend.graph for the stage (see stage_graph.h): the step's device work
// recorded as segments between its transport calls, replayed with the same calls.
#include "stage_graph.h"
#include <stdio.h>
#include <string.h>
#include "check.h"
#include "stage.h"

#define GRAPH_WARM_STEPS 2   // eager steps first: they size the scratch and plan every conv shape

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

static void free_set(hpff_stage *s, hpff_graph_set *gs) {
    for (int i = 0; i < gs->n_segs; i++) s->md->be->graph_free(s->md->be, gs->segs[i]);
    memset(gs, 0, sizeof *gs);
}

void hpff_stage_graph_free(hpff_stage *s) {
    free_set(s, &s->graph.sets[0]);
    free_set(s, &s->graph.sets[1]);
}

// Ends the segment being recorded and runs it (its work comes before the transport call).
static void seg_close(hpff_stage *s) {
    hpff_backend *be = s->md->be;
    hpff_graph_set *gs = s->graph.recording;
    char why[256] = "";
    HPFF_CHECK(gs->n_segs < HPFF_STAGE_MAX_SEGS, "more than %d graph segments in a step", HPFF_STAGE_MAX_SEGS);
    void *g = be->graph_end(be, why, sizeof why);
    HPFF_CHECK(g != NULL, "recording segment %d of the training step as a graph failed after transport "
               "calls had run (%s); set backend.graph = off", gs->n_segs + 1, why);
    gs->segs[gs->n_segs++] = g;
    be->graph_run(be, g);
}

void hpff_stage_transport(hpff_stage *s, hpff_stage_action a) {
    hpff_graph_set *gs = s->graph.recording;
    if (!gs) {
        act_run(s, &a);
        return;
    }
    seg_close(s);
    act_run(s, &a);
    gs->acts[gs->n_segs - 1] = a;   // after the segment just closed
    HPFF_CHECK(s->md->be->graph_begin(s->md->be), "the backend could not resume recording the step "
               "after a transport call; set backend.graph = off");
}

// A rank with a delayed boundary keeps two steps' boundary activations (one graph set per step
// parity), and its step runs the previous step's pending gradient only when that step was full
// and no flush (checkpoint, evaluation) computed it already.
int hpff_stage_graph_eligible(const hpff_stage *s, int n) {
    const hpff_model *md = s->md;
    const hpff_stage_graph *g = &s->graph;
    if (!g->wanted || g->failed || s->on_phase || !md->be->graph_begin || n != md->n_max) return 0;
    if (!(s->delayed && s->boundary_up)) return 1;
    return s->step > 0 && !s->d.pending_ready && s->d.prev_n == md->n_max;
}

int hpff_stage_graphs_ready(const hpff_stage *s) {
    return s->graph.sets[0].ready && (!(s->delayed && s->boundary_up) || s->graph.sets[1].ready);
}

// The set the next step replays or records: by step parity on a delayed boundary rank.
static hpff_graph_set *graph_set(hpff_stage *s) {
    return &s->graph.sets[s->delayed && s->boundary_up ? s->step % 2 : 0];
}

// Records the next step into gs (each segment runs as it closes); 0 if nothing of it ran.
static int record_step(hpff_stage *s, hpff_graph_set *gs, int n, hpff_step_stats *st, char *why, size_t why_len) {
    hpff_backend *be = s->md->be;
    if (!be->graph_begin(be)) {
        snprintf(why, why_len, "the backend could not start recording");
        return 0;
    }
    s->graph.recording = gs;
    hpff_stage_compute(s, n, st);
    s->graph.recording = NULL;
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

// The first full step after the warm-up: recorded, or run op by op from then on if the backend
// cannot record it.
static void record_or_fall_back(hpff_stage *s, hpff_graph_set *gs, int n, hpff_step_stats *st) {
    char why[256] = "";
    long step0 = s->step;
    if (record_step(s, gs, n, st, why, sizeof why)) {
        if (s->graph.verbose)
            printf("hpff_pipe: training step recorded as %d graph%s (last: %s)\n", gs->n_segs,
                   gs->n_segs > 1 ? "s between transport calls" : "", why);
        return;
    }
    fprintf(stderr, "hpff_pipe: recording the training step as a graph failed (%s); training "
                    "continues without graphs (backend.graph = off silences this)\n", why);
    hpff_stage_graph_free(s);
    s->graph.failed = 1;
    s->step = step0;
    hpff_stage_compute(s, n, st);
}

// The replay repeats the device work and the transport calls; the host-side effects of
// hpff_stage_compute are redone by hpff_stage_end_step.
void hpff_stage_compute_graph(hpff_stage *s, int n, hpff_step_stats *st) {
    hpff_backend *be = s->md->be;
    hpff_graph_set *gs = graph_set(s);
    if (!gs->ready && s->graph.warm < GRAPH_WARM_STEPS) {
        s->graph.warm++;
        hpff_stage_compute(s, n, st);
        return;
    }
    if (!gs->ready) {
        record_or_fall_back(s, gs, n, st);
        return;
    }
    for (int i = 0; i < gs->n_segs; i++) {
        be->graph_run(be, gs->segs[i]);
        if (i < gs->n_segs - 1) act_run(s, &gs->acts[i]);
    }
    hpff_stage_end_step(s, n, st);
}
