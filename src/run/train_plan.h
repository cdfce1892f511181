// train_plan.h — the pipeline plan at start-up: the module ranges of a resumed checkpoint,
// pipeline.ranges, or a partition by cost (FLOP counts, or rank 0's timed step of every module:
// pipeline.balance = measure). One sizing build of the network gives every module's cost inputs
// and every rank's bytes; rank 0 prints the plan.
#ifndef HPFF_TRAIN_PLAN_H
#define HPFF_TRAIN_PLAN_H
#include "train.h"
#ifdef __cplusplus
extern "C" {
#endif

// Collective: fills r->plan (r->be, r->info and r->resume_step set; a resumed run keeps its
// checkpoint's partition). Returns 0, or 2 after an error message.
int hpff_train_plan(hpff_run *r);

#ifdef __cplusplus
}
#endif
#endif
