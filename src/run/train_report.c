// train_report.c — what a run tells: progress lines, metrics records, the per-epoch and final
// summaries, the per-rank time table (train_report.h).
#include "train_report.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hpff_is_last_rank(const hpff_run *r) { return r->grid.stage == r->grid.stages - 1; }

// The rank that prints the run's lines: replica 0's last stage.
static int is_reporter(const hpff_run *r) { return hpff_is_last_rank(r) && r->grid.replica == 0; }

void hpff_window_add(hpff_window *a, const hpff_step_stats *st, double data_wait) {
    a->loss += st->final_loss * st->n;
    a->correct += st->final_correct1;
    a->imgs += st->n;
    a->steps++;
    a->busy += st->t_total - st->t_wait_down - st->t_wait_up - st->t_wait_send - st->t_wait_reduce;
    a->wait_down += st->t_wait_down;
    a->wait_up += st->t_wait_up;
    a->wait_send += st->t_wait_send;
    a->reduce += st->t_wait_reduce;
    a->data += data_wait;
}

// The time split of a window: computing, and waiting for input, cascade gradient, sends, data
// (and, with replicas, for the gradient averages).
static void log_time_split(hpff_metrics *mt, const hpff_window *w, int replicas) {
    hpff_json_num(mt, "t_busy", w->busy);
    hpff_json_num(mt, "t_wait_input", w->wait_down);
    hpff_json_num(mt, "t_wait_cascade", w->wait_up);
    hpff_json_num(mt, "t_wait_send", w->wait_send);
    hpff_json_num(mt, "t_wait_data", w->data);
    if (replicas > 1) hpff_json_num(mt, "t_wait_reduce", w->reduce);
}

// The step record; on the last stage `all` holds the window's loss sum, hits and images over
// every replica (the loss and error are the whole step's).
static void log_step_record(const hpff_run *r, const hpff_step_stats *st, int epoch, long step, float lr,
                            const hpff_window *win, const double *all, double dt) {
    hpff_metrics *mt = r->mt;
    const hpff_model *md = &r->md;
    hpff_json_begin(mt, "step");
    hpff_json_int(mt, "epoch", epoch + 1);
    hpff_json_int(mt, "step", step);
    hpff_json_num(mt, "lr", lr);
    if (st->has_final) {
        hpff_json_num(mt, "loss", all[0] / all[2]);
        hpff_json_num(mt, "train_err", 100.0 * (1.0 - all[1] / all[2]));
    }
    hpff_json_num(mt, "img_per_s", (double)win->imgs / dt);
    if (r->grid.replicas > 1) {   // every replica's images in the window: the run's rate
        hpff_json_int(mt, "replicas", r->grid.replicas);
        hpff_json_num(mt, "global_img_per_s", (double)win->imgs * r->grid.replicas / dt);
    }
    log_time_split(mt, win, r->grid.replicas);
    double il[HPFF_MAX_MODULES], cl[HPFF_MAX_MODULES], ilacc[HPFF_MAX_MODULES], clacc[HPFF_MAX_MODULES];
    int cnt = md->m1 - md->m0 + 1, any = 0;
    for (int k = 0; k < cnt; k++) {
        int m = md->m0 + k;
        il[k] = st->il[m].present ? st->il[m].loss : NAN;
        cl[k] = st->cl[m].present ? st->cl[m].loss : NAN;
        ilacc[k] = st->il[m].present ? 100.0 * st->il[m].correct1 / st->n : NAN;
        clacc[k] = st->cl[m].present ? 100.0 * st->cl[m].correct1 / st->n : NAN;
        any |= st->il[m].present | st->cl[m].present;
    }
    if (any) {
        hpff_json_int(mt, "first_module", md->m0);
        hpff_json_num_array(mt, "il_loss", il, (size_t)cnt);
        hpff_json_num_array(mt, "cl_loss", cl, (size_t)cnt);
        hpff_json_num_array(mt, "il_acc", ilacc, (size_t)cnt);
        hpff_json_num_array(mt, "cl_acc", clacc, (size_t)cnt);
    }
    hpff_json_end(mt);
}

void hpff_check_finite(const hpff_config *c, const hpff_step_stats *st, long step) {
    if (c->nan_policy != HPFF_NAN_ABORT) return;
    int bad = st->has_final && !isfinite(st->final_loss);
    for (int m = 0; m < HPFF_MAX_MODULES && !bad; m++)
        bad = (st->il[m].present && !isfinite(st->il[m].loss)) || (st->cl[m].present && !isfinite(st->cl[m].loss));
    HPFF_CHECK(!bad, "loss is not finite at step %ld (train.nan_policy = abort); lower train.lr or check the data", step);
}

static void print_progress(hpff_run *r, int epoch, int b, long step, float lr, const hpff_window *win,
                           const double *all, double dt) {
    const hpff_config *c = r->cfg;
    long per_epoch = r->info.train_batches;
    long total = (long)c->epochs * per_epoch;
    if (c->max_steps > 0 && c->max_steps < total) total = c->max_steps;
    double rate = dt > 0 ? (double)win->steps / dt : 0;
    char eta[32];
    hpff_format_duration(rate > 0 ? (double)(total - step) / rate : -1, eta, sizeof eta);
    printf("%sepoch %d/%d  step %d/%ld  loss %.4f  err %5.2f%%  lr %.4g  %.0f img/s%s  ETA %s\n",
           r->w->size > 1 ? "[last rank] " : "", epoch + 1, c->epochs, b + 1, per_epoch, all[0] / all[2],
           100.0 * (1.0 - all[1] / all[2]), lr, all[2] / dt, r->grid.replicas > 1 ? " (all replicas)" : "", eta);
    fflush(stdout);
}

// Ranks before the last: where their time went in this window (the last rank prints the loss).
static void print_rank_progress(const hpff_run *r, long step, const hpff_window *win, double dt) {
    double t = dt > 0 ? dt : 1;
    printf("[rank %d] step %ld  %.0f img/s  busy %.0f%%  waiting: input %.0f%%, cascade %.0f%%, data %.0f%%\n",
           r->w->rank, step, (double)win->imgs / t, 100 * win->busy / t, 100 * win->wait_down / t,
           100 * win->wait_up / t, 100 * win->data / t);
    fflush(stdout);
}

// Per-rank time split and memory, gathered and printed by rank 0 (with replicas, each rank's
// replica and its wait for the gradient averages in the last columns).
void hpff_print_rank_summary(hpff_run *r, double wall) {
    hpff_mem_stats ms;
    int dev = hpff_backend_mem_stats(r->be, &ms), R = r->grid.replicas;
    enum { F = 9 };
    double mine[F] = {r->total.busy, r->total.wait_down, r->total.wait_up, r->total.wait_send,
                      r->total.data, (double)hpff_peak_rss_bytes(), (double)hpff_stage_bytes(&r->stage),
                      dev ? (double)hpff_mem_held_peak(&ms) : -1.0, r->total.reduce};
    double *all = hpff_xcalloc((size_t)r->w->size * F, sizeof(double));
    hpff_world_gather(r->w, mine, all, sizeof mine);
    if (r->w->rank == 0) {
        printf("per-rank time (s) over %.1f s of training:\n", wall);
        printf("  rank  modules   compute  wait-input  wait-cascade  wait-send  wait-data  peak-RSS  arenas  device-peak%s\n",
               R > 1 ? "  replica  wait-average" : "");
        for (int k = 0; k < r->w->size; k++) {
            double *v = all + F * k;
            int stage = k % r->grid.stages;
            char mods[32], devs[32] = "-";
            snprintf(mods, sizeof mods, "%d-%d", r->plan.m0[stage], r->plan.m1[stage]);
            if (v[7] >= 0) snprintf(devs, sizeof devs, "%.0f MiB", v[7] / (1 << 20));
            printf("  %4d  %8s  %8.1f  %10.1f  %12.1f  %9.1f  %9.1f  %5.0f MiB  %6.1f MiB  %11s", k, mods, v[0],
                   v[1], v[2], v[3], v[4], v[5] / (1 << 20), v[6] / (1 << 20), devs);
            if (R > 1) printf("  %7d  %12.1f", k / r->grid.stages, v[8]);
            printf("\n");
        }
    }
    free(all);
}

void hpff_log_epoch(hpff_run *r, int epoch, double e1, double e5, double tl, double wall) {
    hpff_json_begin(r->mt, "epoch");
    hpff_json_int(r->mt, "epoch", epoch + 1);
    hpff_json_num(r->mt, "lr", hpff_lr_at(r->cfg, epoch));
    if (hpff_is_last_rank(r)) {
        hpff_json_num(r->mt, "test_err", e1);
        hpff_json_num(r->mt, "test_err5", e5);
        hpff_json_num(r->mt, "test_loss", tl);
        if (r->cfg->eval) hpff_json_int(r->mt, "test_images", r->eval_images);   // every replica's share
    }
    hpff_json_num(r->mt, "wall", wall);
    log_time_split(r->mt, &r->epoch, r->grid.replicas);
    hpff_json_num(r->mt, "peak_rss_mb", hpff_peak_rss_bytes() / 1048576.0);
    hpff_json_end(r->mt);
    memset(&r->epoch, 0, sizeof r->epoch);
}

// "best 12.34% (epoch 7)", or that no evaluation so far had a finite model.
static void best_text(const hpff_run *r, char *buf, size_t n) {
    if (r->pos.best_err >= 0) snprintf(buf, n, "best %.2f%% (epoch %d)", r->pos.best_err, r->pos.best_epoch);
    else snprintf(buf, n, "no best yet (no finite evaluation)");
}

// The final line (last rank) and the summary record (every rank).
void hpff_log_summary(hpff_run *r, double wall, double final_err, double final_err5, double final_loss) {
    int evaluated = isfinite(final_err), finite = isfinite(final_loss);
    if (is_reporter(r)) {
        char d[32], best[80];
        hpff_format_duration(wall, d, sizeof d);
        best_text(r, best, sizeof best);
        printf("done: %ld steps in %s", r->pos.step, d);
        if (evaluated && !finite)
            printf("; THE MODEL IS NOT FINITE (NaN/Inf outputs; the run diverged): final test err %.2f%% counts them "
                   "wrong; %s", final_err, best);
        else if (evaluated)
            printf("; final test err %.2f%% (top-5 %.2f%%), %s", final_err, final_err5, best);
        else
            printf("; no evaluation in this run%s", r->pos.best_err >= 0 ? "" : " (train.eval = 0 or stopped by train.max_steps)");
        printf("; peak RSS %.0f MiB\n", hpff_peak_rss_bytes() / 1048576.0);
        fflush(stdout);
    }
    hpff_json_begin(r->mt, "summary");
    hpff_json_int(r->mt, "steps", r->pos.step);
    if (hpff_is_last_rank(r)) {
        hpff_json_num(r->mt, "final_test_err", final_err);
        hpff_json_num(r->mt, "final_test_err5", final_err5);
        hpff_json_num(r->mt, "best_test_err", r->pos.best_err >= 0 ? r->pos.best_err : NAN);   // null: none
        hpff_json_int(r->mt, "best_epoch", r->pos.best_epoch);
        if (evaluated) hpff_json_int(r->mt, "model_finite", finite);
    }
    hpff_json_num(r->mt, "wall", wall);
    log_time_split(r->mt, &r->total, r->grid.replicas);
    hpff_json_num(r->mt, "peak_rss_mb", hpff_peak_rss_bytes() / 1048576.0);
    hpff_json_num(r->mt, "arena_mb", hpff_stage_bytes(&r->stage) / 1048576.0);
    hpff_mem_stats ms;
    if (hpff_backend_mem_stats(r->be, &ms)) {   // GPU: what hpff_pipe held at peak, the card's use
        hpff_json_num(r->mt, "device_mb", hpff_mem_held_peak(&ms) / 1048576.0);
        hpff_json_num(r->mt, "device_used_mb", ms.device_used / 1048576.0);
    }
    hpff_json_end(r->mt);
}

void hpff_report_window(hpff_run *r, const hpff_step_stats *st, int epoch, int b, long step, float lr,
                        hpff_window *win, int quiet) {
    double dt = hpff_now() - win->t0;
    double all[3] = {win->loss, (double)win->correct, (double)win->imgs};   // loss sum, hits, images
    if (hpff_is_last_rank(r)) hpff_grid_stage_sum(&r->grid, all, 3);   // over the replicas (collective)
    if (quiet) return;   // a signal is pending on this rank: no record, no line (the window goes on)
    log_step_record(r, st, epoch, step, lr, win, all, dt);
    if (is_reporter(r)) print_progress(r, epoch, b, step, lr, win, all, dt);
    else if (r->grid.replica == 0 && !hpff_is_last_rank(r)) print_rank_progress(r, step, win, dt);
    memset(win, 0, sizeof *win);
    win->t0 = hpff_now();
}

void hpff_report_test(hpff_run *r, int epoch, double e1, double e5, double tl, double wall) {
    // A non-finite test loss means NaN / Inf outputs: counted wrong, never the best.
    int finite = isfinite(tl);
    if (finite && (r->pos.best_err < 0 || e1 < r->pos.best_err)) {
        r->pos.best_err = e1;
        r->pos.best_epoch = epoch + 1;
    }
    if (!is_reporter(r)) return;
    char best[80];
    best_text(r, best, sizeof best);
    printf("epoch %d/%d done: test err %.2f%% (top-5 %.2f%%), loss %.4f%s, %s, %.1f s\n", epoch + 1,
           r->cfg->epochs, e1, e5, tl, finite ? "" : " (the model is not finite: NaN/Inf outputs count as wrong)",
           best, wall);
    fflush(stdout);
}
