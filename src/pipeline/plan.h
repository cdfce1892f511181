// plan.h — assigning contiguous module ranges to ranks: by cost (the largest per-rank cost as
// small as possible) or from pipeline.ranges; and the plan table rank 0 prints at start.
#ifndef HPFF_PLAN_H
#define HPFF_PLAN_H
#include <stdio.h>
#include "check.h"
#include "model.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hpff_plan {
    int ranks, M;
    int m0[HPFF_MAX_MODULES], m1[HPFF_MAX_MODULES];   // per rank
    double cost[HPFF_MAX_MODULES];                    // per rank, relative
    double bytes[HPFF_MAX_MODULES];                   // per rank: its model buffers (0: not counted)
} hpff_plan;

// ranges: "" (by cost) or "a-b,c-d,..." covering 0..M-1 in order, one range per rank.
hpff_status hpff_plan_make(const hpff_module_cost *cost, int M, int ranks, const char *ranges, hpff_plan *p);
// The plan table: modules, parameters, predicted relative time and memory per rank (the model
// buffers counted exactly where p->bytes is set, else parameters and activation slots estimated).
void hpff_plan_print(const hpff_plan *p, const hpff_module_cost *cost, double ms_per_cost, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
