// train_report.h — what a run tells: a progress line and a metrics record per log window (the
// last rank prints the loss, the others where their time went), the test error per epoch, the
// epoch and summary records and the per-rank time table at the end.
#ifndef HPFF_TRAIN_REPORT_H
#define HPFF_TRAIN_REPORT_H
#include "train.h"
#ifdef __cplusplus
extern "C" {
#endif

int hpff_is_last_rank(const hpff_run *r);
// Adds a step to running sums; data_wait: seconds the step waited for the loader.
void hpff_window_add(hpff_window *a, const hpff_step_stats *st, double data_wait);
// train.nan_policy = abort: ends the run when a loss of this step is not finite.
void hpff_check_finite(const hpff_config *c, const hpff_step_stats *st, long step);
// The end of a log window at batch b of the epoch: a "step" record and a progress line, and win
// reset; with `quiet` (a signal pending on this rank) neither, and the window goes on. Collective
// over the last stage's replicas either way (the window's totals), so every rank makes the call.
void hpff_report_window(hpff_run *r, const hpff_step_stats *st, int epoch, int b, long step, float lr,
                        hpff_window *win, int quiet);
// Last rank: updates the best test error (only from a finite evaluation: tl finite) and prints
// the epoch's line, saying when the model is not finite.
void hpff_report_test(hpff_run *r, int epoch, double e1, double e5, double tl, double wall);
// The "epoch" record (test errors on the last rank); resets the epoch window.
void hpff_log_epoch(hpff_run *r, int epoch, double e1, double e5, double tl, double wall);
// The final line (last rank) and the "summary" record (every rank).
void hpff_log_summary(hpff_run *r, double wall, double final_err, double final_err5, double final_loss);
// Per-rank time split and memory, gathered and printed by rank 0 (collective).
void hpff_print_rank_summary(hpff_run *r, double wall);

#ifdef __cplusplus
}
#endif
#endif
