// train_plan.h — the grid and the pipeline plan at start-up: S stages x R replicas (grid.h); the
// module ranges of a resumed checkpoint, pipeline.ranges, or a partition by cost (FLOP counts,
// or rank 0's timed step of every module: pipeline.balance = measure). One sizing build of the network gives every module's cost inputs
// and every rank's bytes; rank 0 prints the plan.
#ifndef HPFF_TRAIN_PLAN_H
#define HPFF_TRAIN_PLAN_H
#include "train.h"
#ifdef __cplusplus
extern "C" {
#endif

// Collective, before the data (every replica's first stage reads its own share): the grid of S
// stages x R replicas into r->grid, with M from the configuration alone and S from
// pipeline.stages, pipeline.ranges or the checkpoint being resumed (r->resume_step set; its
// ranges into r->resumed). Returns 0, or 2 after an error message.
int hpff_train_grid(hpff_run *r);
// Collective: fills r->plan, one range per stage (r->grid, r->be and r->info set; a resumed run
// keeps its checkpoint's partition); rank 0 prints it with the grid. Returns 0, or 2 after an
// error message.
int hpff_train_plan(hpff_run *r);

#ifdef __cplusplus
}
#endif
#endif
