// profile.h — the whole network in one process on a synthetic batch, and where its step's time
// goes by module and phase. One piece serves the trainer's measured plan (pipeline.balance =
// measure) and bench_step.
#ifndef HPFF_PROFILE_H
#define HPFF_PROFILE_H
#include "model.h"
#include "stage.h"
#ifdef __cplusplus
extern "C" {
#endif

// Every module of the network, its stage over the local transport, and one synthetic batch.
typedef struct hpff_solo {
    hpff_model md;
    hpff_stage s;
    hpff_transport *tr;
    float *x;               // (batch, in) uniform in [-2, 2)
    int32_t *y;             // (batch) i % classes
    int n;                  // train.batch
} hpff_solo;

// Builds and initialises it (parameters from cfg->seed, the data from a fixed seed).
hpff_status hpff_solo_init(hpff_solo *r, const hpff_config *cfg, hpff_backend *be, hpff_shape in, int classes);
// `steps` training steps at a fixed learning rate; the last one's statistics in *last (may be NULL).
void hpff_solo_steps(hpff_solo *r, int steps, hpff_step_stats *last);
// hpff_solo_steps with the device synchronised at every phase boundary: ms per step of each
// module's forward, heads, cascade data sweep and parameter sweep into ms (M, HPFF_PHASES).
void hpff_solo_profile(hpff_solo *r, int steps, double *ms, hpff_step_stats *last);
void hpff_solo_free(hpff_solo *r);

// pipeline.balance = measure: ms per step of every module (cost[M], forward + heads + sweeps)
// from one warm-up step and two profiled steps of the whole network on `be`.
hpff_status hpff_measure_module_ms(const hpff_config *cfg, hpff_backend *be, hpff_shape in, int classes,
                                   double *cost);

#ifdef __cplusplus
}
#endif
#endif
