// stage.h — one rank's step loop over the modules it owns (seam 6): forward each module once,
// run its heads, push the cascade seed one module upstream, sweep parameters, update. The only
// place that knows rank boundaries: it asks the transport for the input payload and the
// cascade gradient from downstream (strict: this step's; delayed: the previous step's).
#ifndef HPFF_STAGE_H
#define HPFF_STAGE_H
#include "model.h"
#include "transport.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hpff_head_stats { float loss; int correct1; int present; } hpff_head_stats;

typedef struct hpff_step_stats {
    int n;                                  // batch size of this step
    int has_final;                          // this rank owns Φ
    float final_loss;
    int final_correct1, final_correct5;
    hpff_head_stats il[HPFF_MAX_MODULES], cl[HPFF_MAX_MODULES];   // by global module index
    double t_total, t_wait_down, t_wait_up, t_wait_send;
} hpff_step_stats;

// A transport call of a step, as a recorded step replays it (stage.c).
#define HPFF_STAGE_MAX_SEGS 8
typedef enum { HPFF_ACT_SEND_DOWN, HPFF_ACT_SEND_UP, HPFF_ACT_RECV_UP } hpff_stage_action_kind;
typedef struct hpff_stage_action {
    hpff_stage_action_kind kind;
    const float *src;       // send: the payload
    float *dst;             // receive: where it lands
    size_t count;
    int n;                  // batch (send_down)
    size_t target_count;    // send_down: floats of the reconstruction target (0: none)
} hpff_stage_action;

// One recorded step: its device work between transport calls, and the calls.
typedef struct hpff_stage_graphs {
    void *segs[HPFF_STAGE_MAX_SEGS];          // segment i: device work before acts[i]
    hpff_stage_action acts[HPFF_STAGE_MAX_SEGS];   // the transport call after segs[i] (not after the last)
    int n_segs;
    int ready;
} hpff_stage_graphs;

typedef struct hpff_stage {
    hpff_model *md;
    hpff_transport *tr;
    int delayed;            // pipeline.cascade = delayed
    int boundary_up;        // a cascade gradient arrives from downstream for module m1
    long step;              // training steps done
    int prev_n;             // delayed: batch of the previous step
    float *host_stat;       // host copy of md->stat, read once per step
    int graph_wanted;       // backend.graph: replay full-batch steps from recorded graphs
    int graph_verbose;      // say once when the step was recorded
    int graph_warm;         // eager steps done before recording
    int graph_failed;       // recording failed once: eager from then on
    hpff_stage_graphs graphs[2]; // by step parity on a delayed boundary rank (its buffers alternate),
                            // else graphs[0] only
    hpff_stage_graphs *recording;   // the set stage_compute is being recorded into, else NULL
    double *prof;           // optional (4*M): seconds per module in forward, heads, cascade data
                            // sweep, parameter sweep (synchronises the device; for benchmarks)
} hpff_stage;

// mean/std (img_c channels): the dataset normalisation, for the reconstruction target
// x~ = x*std + mean (ALGORITHM §6) that rank 0 forms on the device for InfoPro.
void hpff_stage_init(hpff_stage *s, hpff_model *md, hpff_transport *tr, const float *mean,
                     const float *std, int img_c);
void hpff_stage_free(hpff_stage *s);
// One training step. Rank 0 passes the host batch; other ranks pass NULLs and receive it.
void hpff_stage_step(hpff_stage *s, const float *x_host, const int32_t *y_host, int n, float lr,
                     hpff_step_stats *st);
// The step without the optimizer update: every gradient of this rank's parameters for the batch.
void hpff_stage_grads(hpff_stage *s, const float *x_host, const int32_t *y_host, int n,
                      hpff_step_stats *st);
// One evaluation batch (running BN statistics); fills the final-head fields on the last rank.
void hpff_stage_eval(hpff_stage *s, const float *x_host, const int32_t *y_host, int n,
                     hpff_step_stats *st);
// Delayed mode, between steps: receives the pending cascade gradient and turns it into the
// boundary module's pending parameter gradient (done before a checkpoint is written).
void hpff_stage_flush(hpff_stage *s);
// 1 when backend.graph recorded every graph set this rank replays.
int hpff_stage_graphs_ready(const hpff_stage *s);
// Ends training: consumes a delayed cascade gradient that will never be applied.
void hpff_stage_finish(hpff_stage *s);

#ifdef __cplusplus
}
#endif
#endif
