// stage.h — one rank's step loop over the modules it owns (seam 6): forward each module once,
// run its heads, push the cascade seed one module upstream, sweep parameters, update. The only
// place that knows rank boundaries: it asks the transport for the input payload and the
// cascade gradient from downstream (strict: this step's; delayed: the previous step's). The
// stage owns the step's seed buffers and everything pipeline.cascade needs (the buffers that
// cross rank boundaries, the delayed boundary's two steps of activations and weights).
#ifndef HPFF_STAGE_H
#define HPFF_STAGE_H
#include "ledger.h"
#include "model.h"
#include "reducer.h"
#include "stage_graph.h"
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
    double t_wait_reduce;                   // replicas: the host's wait for the gradient averages
} hpff_step_stats;

// The phases of one module's work in a step, as the phase hook reports them.
typedef enum hpff_phase {
    HPFF_PHASE_FORWARD,     // F_m forward
    HPFF_PHASE_HEADS,       // its heads (cascade and independent seeds)
    HPFF_PHASE_CASCADE,     // the data sweep for u_{m-1}
    HPFF_PHASE_PARAMS,      // the parameter sweep (and a delayed boundary's pending gradient)
    HPFF_PHASES,
    HPFF_PHASE_BEGIN = -1   // m = -1: a timed stretch starts here (nothing ended)
} hpff_phase;
// Called at the end of each phase of module m (and with HPFF_PHASE_BEGIN before a stretch).
typedef void (*hpff_phase_hook)(void *ctx, int m, hpff_phase phase);

// Buffers of the delayed boundary (pipeline.cascade = delayed on a rank with a downstream
// cascade): module m1's activations | input | output of the previous and this step, its weights
// of the previous step, and the parameter gradient that step's u contributes.
typedef struct hpff_delayed {
    float *act[2];          // (slot | n_max * in | out) by step parity
    size_t in_floats;       // n_max * |input of m1|
    float *shadow;          // (2 * pn) F_m1's parameters of the previous step | swap space
    float *pending;         // (pn) F_m1's gradient from the previous step's u, computed early
    int pending_ready;      //   (checkpoints save it, so delayed resume is exact)
    int pending_avg;        // replicas: pending already holds the replicas' average (made by a
                            //   flush, or read from a checkpoint)
    int pending_add;        // replicas: this step's pending gradient is added after the averages
    int prev_n;             // batch of the previous step
} hpff_delayed;

typedef struct hpff_stage {
    hpff_model *md;
    hpff_transport *tr;
    int delayed;            // pipeline.cascade = delayed
    int boundary_up;        // a cascade gradient arrives from downstream for module m1
    long step;              // training steps done
    hpff_ledger mem;        // the buffers below, by role
    float *seed[2];         // (largest output of the held modules k = m - m0 with k % 2 = i) c, then
                            // (a + c) [+ u], of the two modules in flight
    float *cbuf;            // (n_max, out of M-1) Φ's cascade seed w_C dℓF (rank owning M-1, else NULL)
    float *ubuf;            // (n_max, largest in) u_{m-1} when it stays on the rank and g0/g1 are too
                            //   small (else NULL)
    float *up_send;         // (x_in_floats) u_{m0-1} while it is sent upstream (NULL: nothing to send)
    float *u_recv;          // (n_max, out of m1) u_{m1} received from downstream (NULL: nothing arrives)
    hpff_delayed d;         // delayed mode only
    float *host_stat;       // host copy of md->stat, read once per step
    hpff_stage_graph graph; // backend.graph: recorded steps (stage_graph.h)
    hpff_phase_hook on_phase;   // optional: told where each module's phases end (profiling;
    void *phase_ctx;            //   it may synchronise the device, so graphs are off while set)
    hpff_reducer *reducer;      // replicas of the pipeline (PP x DP): averages every module's
                                //   gradients over this stage's replicas before the update
                                //   (NULL: one replica); set by the caller, not owned
    int reduced;                // held modules whose average this step has started
} hpff_stage;

// mean/std (img_c channels): the dataset normalisation, for the reconstruction target
// x~ = x*std + mean (ALGORITHM §6) that rank 0 forms on the device for InfoPro. Allocates the
// stage's buffers.
void hpff_stage_init(hpff_stage *s, hpff_model *md, hpff_transport *tr, const float *mean,
                     const float *std, int img_c);
void hpff_stage_free(hpff_stage *s);
// The stage buffers a rank owning modules [m0, m1] of md allocates, recorded into `l` (a sizing
// ledger counts them), their pointers into s. md holds at least those modules.
void hpff_stage_buffers(hpff_stage *s, const hpff_model *md, int m0, int m1, hpff_ledger *l);
// Bytes of every buffer a rank owning modules [m0, m1] allocates, the model's and the stage's,
// counted without allocating from a model that holds those modules (e.g. hpff_model_size_all).
size_t hpff_rank_bytes(const hpff_model *md, int m0, int m1);
// The same buffers by role (hpff_ledger_report) on f; returns their bytes.
size_t hpff_rank_memory_report(const hpff_model *md, int m0, int m1, FILE *f);
// Bytes the rank allocated (model and stage), and one line per buffer role.
size_t hpff_stage_bytes(const hpff_stage *s);
void hpff_stage_memory_report(const hpff_stage *s, FILE *f);
// One training step. Rank 0 passes the host batch; other ranks pass NULLs and receive it. With
// replicas (s->reducer) each module's gradients are averaged over the stage's replicas, the
// average of a module starting as soon as its parameter sweep ends; on a delayed boundary the
// boundary gradient owed from the previous step is averaged on its own and added after
// (G = avg(g) + avg(pending), which for one replica is g + pending as before).
void hpff_stage_step(hpff_stage *s, const float *x_host, const int32_t *y_host, int n, float lr,
                     hpff_step_stats *st);
// The step without the optimizer update: every gradient of this rank's parameters for the batch
// (averaged over the replicas where there are some).
void hpff_stage_grads(hpff_stage *s, const float *x_host, const int32_t *y_host, int n,
                      hpff_step_stats *st);
// The device work of one training step after its input arrived (ARCHITECTURE.md, one step on
// one rank): every module's forward, heads, cascade data sweep and parameter sweep.
void hpff_stage_compute(hpff_stage *s, int n, hpff_step_stats *st);
// The host-side effects that end a step: counters, the delayed boundary's state (a replayed
// step redoes them; stage_graph.c).
void hpff_stage_end_step(hpff_stage *s, int n, hpff_step_stats *st);
// One evaluation batch (running BN statistics); fills the final-head fields on the last rank.
void hpff_stage_eval(hpff_stage *s, const float *x_host, const int32_t *y_host, int n,
                     hpff_step_stats *st);
// Delayed mode, between steps: receives the pending cascade gradient and turns it into the
// boundary module's pending parameter gradient (done before a checkpoint is written); with
// replicas it is averaged over them at once (collective over the stage's replicas).
void hpff_stage_flush(hpff_stage *s);
// Ends training: consumes a delayed cascade gradient that will never be applied.
void hpff_stage_finish(hpff_stage *s);
// F_m1's parameter count (the delayed pending gradient's length).
size_t hpff_stage_boundary_params(const hpff_stage *s);

#ifdef __cplusplus
}
#endif
#endif
