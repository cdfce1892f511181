// train_plan.c — the pipeline plan at start-up (train_plan.h).
#include "train_plan.h"
#include <stdio.h>
#include <string.h>
#include "profile.h"

// The module ranges of a run being resumed (so a measured plan is not re-measured into another
// partition); empty when the checkpoint has none or the user set pipeline.ranges.
static void resumed_ranges(const hpff_run *r, char *ranges, size_t n) {
    ranges[0] = 0;
    if (r->resume_step < 0 || r->cfg->ranges[0]) return;
    if (r->w->rank == 0) hpff_ckpt_read_ranges(r->ckpt_dir, r->resume_step, ranges, n);
    hpff_world_bcast(r->w, ranges, n, 0);
}

// The stage count of a resumed run: the checkpoint's (a different pipeline.stages is refused);
// 0 when there is no checkpoint to follow. -1 after an error message.
static int resumed_stages(const hpff_run *r) {
    const hpff_world *w = r->w;
    int stored = 1;
    for (const char *q = r->resumed; *q; q++) stored += *q == ',';
    if (!r->resumed[0]) return 0;
    const char *why = NULL;
    char msg[512];
    if (r->cfg->stages && r->cfg->stages != stored) {
        snprintf(msg, sizeof msg, "pipeline.stages = %d but the checkpoint was written by %d pipeline stages; resume "
                 "with pipeline.stages = %d (or 0) and mpirun -np a multiple of %d", r->cfg->stages, stored, stored, stored);
        why = msg;
    } else if (w->size % stored) {
        snprintf(msg, sizeof msg, "the checkpoint was written by %d pipeline stages; this run has %d rank%s. Resume "
                 "with mpirun -np %d (or a multiple of it: replicas of the pipeline)", stored, w->size,
                 w->size == 1 ? "" : "s", stored);
        why = msg;
    }
    if (!why) return stored;
    if (w->rank == 0) fprintf(stderr, "hpff_pipe: resuming %s: %s\n", r->cfg->run_dir, why);
    return -1;
}

int hpff_train_grid(hpff_run *r) {
    const hpff_config *c = r->cfg;
    const hpff_world *w = r->w;
    hpff_split sp;
    hpff_status st = hpff_model_split(c, &sp);
    resumed_ranges(r, r->resumed, sizeof r->resumed);
    int stored = st.code ? 0 : resumed_stages(r), S = 0;
    if (stored < 0) return 2;
    int listed = c->ranges[0] ? 1 : 0;   // pipeline.ranges fixes the stage count too
    for (const char *q = c->ranges; *q; q++) listed += *q == ',';
    int want = stored ? stored : c->stages ? c->stages : listed;
    if (!st.code) st = hpff_grid_stages(w->size, sp.M, want, &S);
    if (st.code) {
        if (w->rank == 0) fprintf(stderr, "hpff_pipe: %s\n", st.msg);
        return 2;
    }
    hpff_grid_init(&r->grid, w, S);
    return 0;
}

// pipeline.balance = measure: rank 0 times a step of the whole network and every rank plans
// from the same numbers (ms per step of each module).
static void measure(const hpff_run *r, hpff_shape shape, hpff_module_cost *cost, int M) {
    double ms[HPFF_MAX_MODULES];
    if (r->w->rank == 0) {
        hpff_status st = hpff_measure_module_ms(r->cfg, r->be, shape, r->info.classes, ms);
        HPFF_CHECK(!st.code, "%s", st.msg);
    }
    hpff_world_bcast(r->w, ms, sizeof(double) * (size_t)M, 0);
    for (int m = 0; m < M; m++) cost[m].cost = ms[m];
}

// Rank 0: what the run is and the plan (each rank's buffers counted from the sizing build).
static void print_plan(hpff_run *r, const hpff_model *full, const hpff_module_cost *cost, int measured,
                       const char *ranges) {
    const hpff_config *c = r->cfg;
    const hpff_data_info *in = &r->info;
    for (int k = 0; k < r->plan.ranks; k++) r->plan.bytes[k] = (double)hpff_rank_bytes(full, r->plan.m0[k], r->plan.m1[k]);
    printf("hpff_pipe: %s, %s on %s (%d x %d x %d, %d classes, %ld train / %ld test), backend %s, %d rank%s\n",
           hpff_config_enum_name(c, &c->arch), hpff_config_enum_name(c, &c->method), c->train_file, in->c, in->h,
           in->w, in->classes, in->n_train, in->n_test, r->be->name, r->w->size, r->w->size > 1 ? "s" : "");
    if (r->grid.replicas > 1)
        printf("replicas: train.batch = %d per replica, %d per step in all; replica r reads the images at positions "
               "r, r+%d, ... of each epoch's order (%d steps per epoch)\n", c->batch, c->batch * r->grid.replicas,
               r->grid.replicas, in->train_batches);
    hpff_plan_print(&r->plan, cost, measured ? 1.0 : 0.0, stdout);
    if (ranges[0]) printf("  (module ranges of the checkpoint being resumed: %s)\n", ranges);
}

int hpff_train_plan(hpff_run *r) {
    const hpff_config *c = r->cfg;
    const hpff_world *w = r->w;
    hpff_shape shape = {r->info.c, r->info.h, r->info.w};
    hpff_model full;   // the one sizing build: every module's cost inputs, every rank's bytes
    hpff_status st = hpff_model_size_all(&full, c, r->be, shape, r->info.classes);
    static hpff_module_cost cost[HPFF_MAX_MODULES];
    if (!st.code) hpff_model_module_costs(&full, cost);
    const char *ranges = r->resumed;   // read with the grid
    int rc = 0, S = r->grid.stages;
    int measured = !st.code && S > 1 && !c->ranges[0] && !ranges[0] && c->balance == HPFF_BALANCE_MEASURE;
    if (measured) measure(r, shape, cost, full.M);
    if (!st.code) st = hpff_plan_make(cost, full.M, S, ranges[0] ? ranges : c->ranges, &r->plan);
    if (st.code) {
        if (w->rank == 0) fprintf(stderr, "hpff_pipe: %s\n", st.msg);
        rc = 2;
    }
    if (!rc && w->rank == 0) print_plan(r, &full, cost, measured, ranges);
    if (!rc && w->size > 1) hpff_grid_print(&r->grid, stdout);   // collective: the host of every rank
    hpff_model_free(&full);
    return rc;
}
