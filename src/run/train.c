// train.c — one training run from start (or a checkpoint) to the summary: set-up, the epochs,
// evaluation and checkpoints. The plan is train_plan.c's, the reporting train_report.c's.
#include "train.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "backend_record.h"
#include "registry.h"
#include "signals.h"
#include "train_plan.h"
#include "train_report.h"
#include "weights.h"

float hpff_lr_at(const hpff_config *c, int epoch) {
    const double pi = 3.14159265358979323846;
    double E = c->epochs, eta0 = c->lr;
    if (c->schedule == HPFF_SCHEDULE_CONSTANT) return (float)eta0;
    if (c->schedule == HPFF_SCHEDULE_COSINE) return (float)(0.5 * eta0 * (1 + cos(pi * epoch / E)));
    int e = epoch + 1;   // the CIFAR code counts epochs from 1, with a 10-epoch warm-up from 0.01
    double cosv = 0.5 * eta0 * (1 + cos(pi * e / E));
    if (e <= 10) return (float)(cosv * (e - 1) / 10.0 + 0.01 * (11 - e) / 10.0);
    return (float)cosv;
}

// ---- set-up ----

static int fail(const hpff_run *r, int all_ranks, const char *msg) {
    if (all_ranks || r->w->rank == 0) fprintf(stderr, "hpff_pipe: %s\n", msg);
    return 2;
}

static int select_backend(hpff_run *r) {
    char why[512] = "";
    r->be = hpff_backend_select(r->cfg, r->w->local_rank, why, sizeof why);
    return r->be ? 0 : fail(r, 0, why);
}

// This rank's modules (its stage's range), the transport to its pipeline neighbours, the stage
// that steps them and, with replicas, the reducer that averages its gradients over them.
static int build_rank(hpff_run *r) {
    const hpff_config *c = r->cfg;
    const hpff_data_info *in = &r->info;
    hpff_shape shape = {in->c, in->h, in->w};
    int m0 = r->plan.m0[r->grid.stage], m1 = r->plan.m1[r->grid.stage];
    hpff_status st = hpff_model_build(&r->md, c, r->be, shape, in->classes, m0, m1);
    if (st.code) return fail(r, 1, st.msg);
    size_t maxf = r->md.in_floats_max > r->md.out_floats_max ? r->md.in_floats_max : r->md.out_floats_max;
    char why[512] = "";
    r->tr = hpff_transport_select(c, r->w, r->grid.stages, r->be, maxf + (size_t)c->batch * hpff_shape_numel(shape),
                                  why, sizeof why);
    if (!r->tr) return fail(r, 0, why);
    hpff_model_init_values(&r->md);
    hpff_stage_init(&r->stage, &r->md, r->tr, in->mean, in->std, in->c);
    size_t averaged = r->md.params.total + (r->stage.d.pending ? hpff_stage_boundary_params(&r->stage) : 0);
    r->reducer = hpff_reducer_select(c, r->w, &r->grid, r->be, averaged, why, sizeof why);   // collective
    if (r->grid.replicas > 1 && !r->reducer) return fail(r, 0, why);
    r->stage.reducer = r->reducer;
    hpff_replicas_init(&r->reps, &r->grid, &r->md);
    r->stage.graph.wanted = c->graph;
    r->stage.graph.verbose = r->w->rank == 0;
    if (c->graph && r->w->rank == 0 && hpff_backend_is_recorder(r->be))
        printf("note: backend.graph on the CPU: steps are recorded and replayed by an op recorder (the graph "
               "path, no faster than op by op)\n");
    return 0;
}

// model.init_from: every rank loads its tensors (and reaches the same verdict on the file).
static int init_from(hpff_run *r) {
    hpff_shape shape = {r->info.c, r->info.h, r->info.w};
    int loaded = 0;
    hpff_status st = hpff_weights_load(&r->md, r->cfg->init_from, shape, r->info.classes, &loaded);
    int ok = !st.code, all_ok = (int)hpff_world_sum(r->w, ok) == r->w->size;
    if (!ok) fail(r, 0, st.msg);
    if (all_ok && r->w->rank == 0)
        printf("initial weights from %s (%d tensors on rank 0)\n", r->cfg->init_from, loaded);
    return all_ok ? 0 : 2;
}

// Rank 0: the newest intact checkpoint to resume, or -1 after an error in *st.
static long pick_checkpoint(const hpff_run *r, hpff_status *st) {
    long step = hpff_ckpt_latest_intact(r->ckpt_dir, stderr);
    const char *rd = r->cfg->run_dir;
    if (step == -1) *st = hpff_status_fail("resuming %s: no complete checkpoint in %s", rd, r->ckpt_dir);
    if (step == -2)
        *st = hpff_status_fail("resuming %s: no intact checkpoint in %s (every complete one is damaged, see above)",
                               rd, r->ckpt_dir);
    if (step >= 0) *st = hpff_ckpt_check_config(r->ckpt_dir, step, r->cfg);
    return st->code ? -1 : step;
}

// Rank 0's part of claim_run_dir: lock, checkpoint folder, then resume (--resume, or
// train.resume = auto with a complete checkpoint) or a fresh start.
static hpff_status claim_on_rank0(hpff_run *r, int resume, int overwrite, long *step) {
    const char *rd = r->cfg->run_dir;
    hpff_status st = hpff_rundir_lock_take(&r->lock, rd);
    if (!st.code) st = hpff_rundir_check_ckpt_path(rd);
    if (st.code) return st;
    int automatic = !resume && r->cfg->resume == HPFF_RESUME_AUTO;
    if (automatic && overwrite)
        return hpff_status_fail("--overwrite starts afresh and train.resume = auto continues: give one of them");
    if (resume || (automatic && hpff_ckpt_latest(r->ckpt_dir) >= 0)) {
        *step = pick_checkpoint(r, &st);
        return st;
    }
    return hpff_rundir_prepare_fresh(rd, overwrite ? "--overwrite"
                                         : automatic ? "train.resume = auto, no complete checkpoint" : NULL);
}

// Rank 0 takes train.run_dir: the lock, a usable checkpoint folder, and either the newest intact
// checkpoint to resume (of this model configuration) or a fresh start that mixes with no earlier
// run's checkpoints. Every rank learns the outcome. Returns 0, or 2 after an error message.
static int claim_run_dir(hpff_run *r, int resume, int overwrite) {
    struct { int ok; long step; char msg[512]; } out = {1, -1, ""};
    if (r->w->rank == 0) {
        hpff_status st = claim_on_rank0(r, resume, overwrite, &out.step);
        out.ok = !st.code;
        snprintf(out.msg, sizeof out.msg, "%s", st.msg);
    }
    hpff_world_bcast(r->w, &out, sizeof out, 0);
    r->resume_step = out.step;
    return out.ok ? 0 : fail(r, 0, out.msg);
}

// With another replica count than the checkpoint's: the same place in the epoch's order, in
// batches of the new grid.
static void replace_position(hpff_run *r) {
    const hpff_grid *g = &r->grid;
    if (r->pos.replicas == g->replicas) return;
    int inexact = 0, b = hpff_replicas_resume_batch(r->pos.batch, r->pos.replicas, g->replicas, &inexact);
    if (r->w->rank == 0)
        printf("  written by %d replica%s after %d batches each of this epoch: with %d replica%s it continues at "
               "batch %d%s\n", r->pos.replicas, r->pos.replicas > 1 ? "s" : "", r->pos.batch, g->replicas,
               g->replicas > 1 ? "s" : "", b, inexact ? " (the images read since that batch began are read again)" : "");
    r->pos.batch = b;
    r->pos.replicas = g->replicas;
}

// Resuming: every rank loads its stage's file of the checkpoint claim_run_dir chose.
static int resume(hpff_run *r) {
    const hpff_world *w = r->w;
    const hpff_grid *g = &r->grid;
    hpff_status st = hpff_ckpt_read_rank(r->ckpt_dir, r->resume_step, &r->stage, r->cfg, g->stage, g->stages,
                                         g->replica, &r->pos);
    int ok = !st.code, all_ok = (int)hpff_world_sum(w, ok) == w->size;
    if (!ok) fprintf(stderr, "hpff_pipe: %s\n", st.msg);
    if (!all_ok) return 2;
    r->stage.step = r->pos.step;
    if (w->rank == 0)
        printf("resumed from %s/step-%09ld (epoch %d, batch %d)\n", r->ckpt_dir, r->resume_step, r->pos.epoch + 1,
               r->pos.batch);
    replace_position(r);
    return 0;
}

// The host batch, the metrics file and (rank 0) the effective configuration in run_dir,
// written atomically: a resume without --config reads it back.
static void open_outputs(hpff_run *r) {
    const hpff_config *c = r->cfg;
    size_t xs = (size_t)c->batch * r->info.c * r->info.h * r->info.w;
    r->x = hpff_xcalloc(xs, sizeof(float));
    r->y = hpff_xcalloc((size_t)c->batch, sizeof(int32_t));
    r->mt = hpff_metrics_open(c->run_dir, r->w->rank);
    HPFF_CHECK(r->mt != NULL, "cannot open the metrics file under '%s'", c->run_dir);
    if (r->w->rank != 0) return;
    char p[600], *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    HPFF_CHECK(m != NULL, "open_memstream failed");
    hpff_config_write(c, m);
    fclose(m);
    snprintf(p, sizeof p, "%s/config.ini", c->run_dir);
    hpff_status st = hpff_write_file_atomic(p, text, len);
    free(text);
    HPFF_CHECK(!st.code, "%s", st.msg);
}

// The run dir (lock, checkpoint to continue from), data (rank 0 reads, everyone learns the
// shapes), backend, plan, this rank's model, transport and stage, the outputs.
static int setup(hpff_run *r, const char *resume_dir, int overwrite) {
    r->pos.best_err = -1;
    snprintf(r->ckpt_dir, sizeof r->ckpt_dir, "%s/checkpoints", r->cfg->run_dir);
    r->pos.replicas = 1;
    if (claim_run_dir(r, resume_dir != NULL, overwrite)) return 2;
    if (hpff_train_grid(r)) return 2;
    r->grid.timeout_s = r->cfg->timeout;
    r->pos.replicas = r->grid.replicas;
    if (hpff_train_data_open(r->cfg, r->w, &r->grid, &r->data, &r->info)) return 2;
    if (select_backend(r)) return 2;
    if (hpff_train_plan(r)) return 2;
    if (build_rank(r)) return 2;
    if (r->resume_step < 0 && r->cfg->init_from[0] && init_from(r)) return 2;
    if (r->resume_step >= 0 && resume(r)) return 2;
    open_outputs(r);
    return 0;
}

static void teardown(hpff_run *r) {
    hpff_signals_restore();   // outside training a signal has its default action again
    hpff_vote_destroy(r->vote);
    hpff_rundir_lock_release(&r->lock);
    hpff_replicas_free(&r->reps);
    if (r->reducer) r->reducer->ops->destroy(r->reducer);
    if (r->stage.md) hpff_stage_free(&r->stage);
    hpff_model_free(&r->md);
    if (r->tr) r->tr->ops->destroy(r->tr);
    if (r->be) hpff_backend_destroy(r->be);
    hpff_train_data_close(&r->data);
    hpff_metrics_close(r->mt);
    free(r->x);
    free(r->y);
    hpff_grid_free(&r->grid);
}

// ---- training ----

static void save_checkpoint(hpff_run *r, int epoch, int batch) {
    hpff_stage_flush(&r->stage);   // delayed mode: the owed boundary gradient goes in the file
    r->pos.epoch = epoch;
    r->pos.batch = batch;
    r->pos.wall += hpff_now() - r->t_start;
    r->t_start = hpff_now();
    char ranges[1024] = "";
    for (int k = 0, len = 0; k < r->plan.ranks; k++)
        len += snprintf(ranges + len, sizeof ranges - (size_t)len, "%s%d-%d", k ? "," : "", r->plan.m0[k], r->plan.m1[k]);
    const float *bn = hpff_replicas_gather_bn(&r->reps);   // every replica's statistics, on replica 0
    if (r->grid.replica == 0) {   // the parameters are the same on every replica
        hpff_status st = hpff_ckpt_write_rank(r->ckpt_dir, &r->stage, r->cfg, &r->pos, r->grid.stage, r->grid.stages,
                                              ranges, bn);
        HPFF_CHECK(!st.code, "%s", st.msg);
    }
    hpff_grid_barrier(&r->grid);   // every stage has written (a stopped rank ends the job: pipeline.timeout)
    if (r->w->rank == 0) {
        hpff_status st = hpff_ckpt_mark_complete(r->ckpt_dir, r->pos.step, 2);
        HPFF_CHECK(!st.code, "%s", st.msg);
    }
    hpff_grid_barrier(&r->grid);   // complete on every rank's return: a pre-empted rank may exit now
    r->saved_step = r->pos.step;
}

// Pre-emption, once every rank agreed on the step: a complete checkpoint (unless this step has
// one), a "stop" record, one line saying where and how to continue; returns 128 + the signal.
static int preempt_stop(hpff_run *r, int epoch, int batch) {
    if (r->saved_step != r->pos.step) save_checkpoint(r, epoch, batch);
    const char *name = hpff_signal_name(r->stop_sig);
    hpff_json_begin(r->mt, "stop");
    hpff_json_str(r->mt, "signal", name);
    hpff_json_int(r->mt, "step", r->pos.step);
    hpff_json_end(r->mt);
    if (r->w->rank == 0) {   // never blocking: mpirun may have stopped reading our output
        char line[2400];
        snprintf(line, sizeof line, "hpff_pipe: stopped by %s after step %ld: checkpoint %s/step-%09ld is complete; "
                 "continue with hpff_pipe --resume %s (or train.resume = auto); exit code %d\n", name, r->pos.step,
                 r->ckpt_dir, r->pos.step, r->cfg->run_dir, 128 + r->stop_sig);
        hpff_say_nonblocking(STDOUT_FILENO, line);
    }
    return 128 + r->stop_sig;
}

// Test-set evaluation through the pipeline, every replica on its share of the test set with
// replica 0's BN statistics; returns top-1 / top-5 error (%) over all of it on the last stage.
static void evaluate(hpff_run *r, double *err1, double *err5, double *loss) {
    double v[4] = {0, 0, 0, 0};   // top-1 hits, top-5 hits, loss sum, images
    // Delayed mode: take the owed cascade gradient first; its send would otherwise hold the
    // downstream rank in wait_sends while this rank waits for it to take evaluation payloads.
    hpff_stage_flush(&r->stage);
    hpff_replicas_eval_begin(&r->reps);
    int reads = r->grid.stage == 0;
    if (reads) hpff_loader_start_epoch(r->data.test_ld, 0, 0);
    for (int b = 0; b < r->info.test_batches; b++) {
        int n = 0;
        double wait = 0;
        if (reads) n = hpff_loader_next(r->data.test_ld, r->x, r->y, &wait);
        hpff_step_stats st;
        hpff_stage_eval(&r->stage, r->x, r->y, n, &st);
        if (st.has_final) {
            v[0] += st.final_correct1;
            v[1] += st.final_correct5;
            v[2] += (double)st.final_loss * st.n;
            v[3] += st.n;
        }
    }
    hpff_replicas_eval_end(&r->reps);
    if (hpff_is_last_rank(r)) hpff_grid_stage_sum(&r->grid, v, 4);   // over the replicas' shares
    r->eval_images = (long)v[3];
    *err1 = v[3] > 0 ? 100.0 * (1.0 - v[0] / v[3]) : NAN;
    *err5 = v[3] > 0 ? 100.0 * (1.0 - v[1] / v[3]) : NAN;
    *loss = v[3] > 0 ? v[2] / v[3] : NAN;
}

// One epoch of training from batch `first`. Returns 0 at the end of the epoch, 1 when
// train.max_steps stops it inside the epoch (*next = the batch to continue with), 2 when it
// stops exactly at the end, 3 when every rank agreed to stop for a signal (r->stop_sig).
static int train_epoch(hpff_run *r, int epoch, int first, int *next) {
    const hpff_config *c = r->cfg;
    float lr = hpff_lr_at(c, epoch);
    int reads = r->grid.stage == 0;   // every replica's first stage reads its share
    if (reads) hpff_loader_start_epoch(r->data.train_ld, epoch, first);
    hpff_window win = {0};
    win.t0 = hpff_now();
    for (int b = first; b < r->info.train_batches; b++) {
        int n = 0;
        double wait = 0;
        if (reads) n = hpff_loader_next(r->data.train_ld, r->x, r->y, &wait);
        hpff_step_stats st;
        hpff_stage_step(&r->stage, r->x, r->y, n, lr, &st);
        long step = ++r->pos.step;
        hpff_check_finite(c, &st, step);
        if (c->check_replicas > 0 && r->grid.replicas > 1 && step % c->check_replicas == 0)
            hpff_replicas_check(&r->reps, step);   // collective
        hpff_window_add(&win, &st, wait);
        hpff_window_add(&r->total, &st, wait);
        hpff_window_add(&r->epoch, &st, wait);
        int end = b + 1 == r->info.train_batches, stop = c->max_steps > 0 && step >= c->max_steps;
        // no progress lines once a signal is pending: they could block in a pipe mpirun no longer
        // reads (the record and the replicas' totals still, so every rank makes the same calls)
        if (step % c->log_every == 0 || end || stop)
            hpff_report_window(r, &st, epoch, b, step, lr, &win, hpff_signal_pending());
        if (c->ckpt_every > 0 && step % c->ckpt_every == 0 && !end) save_checkpoint(r, epoch, b + 1);
        *next = b + 1;
        if (stop) return end ? 2 : 1;
        if ((r->stop_sig = hpff_vote_step(r->vote, hpff_signal_pending()))) return 3;
    }
    return 0;
}

// A resumed run that already reached train.max_steps or train.epochs does nothing.
static int finished(const hpff_run *r) {
    const hpff_config *c = r->cfg;
    int by_steps = c->max_steps > 0 && r->pos.step >= c->max_steps, by_epochs = r->pos.epoch >= c->epochs;
    if (r->resume_step < 0 || (!by_steps && !by_epochs)) return 0;
    if (r->w->rank == 0) {
        char why[96];
        if (by_steps) snprintf(why, sizeof why, "train.max_steps = %ld", c->max_steps);
        else snprintf(why, sizeof why, "train.epochs = %d", c->epochs);
        printf("hpff_pipe: the run in %s is finished (step %ld, epoch %d; %s): nothing to do. Raise train.epochs "
               "or train.max_steps to train on\n", c->run_dir, r->pos.step, r->pos.epoch, why);
    }
    return 1;
}

// The epochs from the checkpoint's position; returns 0, or 128 + signal when pre-empted.
static int train_epochs(hpff_run *r, double wall0, double *final_err, double *final_err5, double *final_loss) {
    const hpff_config *cfg = r->cfg;
    int epoch = r->pos.epoch, first = r->pos.batch, stopped = 0;
    for (; epoch < cfg->epochs && !stopped; epoch++, first = 0) {
        int next = first;
        int s = first < r->info.train_batches ? train_epoch(r, epoch, first, &next) : 0;
        stopped = s != 0;
        if (s == 3) return preempt_stop(r, epoch, next);
        if (s == 1) { save_checkpoint(r, epoch, next); break; }
        double e1 = NAN, e5 = NAN, tl = NAN;
        if (cfg->eval) evaluate(r, &e1, &e5, &tl);
        if (hpff_is_last_rank(r) && cfg->eval) {
            *final_err = e1;
            *final_err5 = e5;
            *final_loss = tl;
            hpff_report_test(r, epoch, e1, e5, tl, hpff_now() - wall0);
        }
        hpff_log_epoch(r, epoch, e1, e5, tl, hpff_now() - wall0);
        int ckpt_now = cfg->ckpt_every_epochs > 0 && (epoch + 1) % cfg->ckpt_every_epochs == 0;
        if (ckpt_now || epoch + 1 == cfg->epochs || stopped) save_checkpoint(r, epoch + 1, 0);
        // a signal during the evaluation: stop here, where every rank is
        if (!stopped && epoch + 1 < cfg->epochs && (r->stop_sig = hpff_grid_max_int(&r->grid, hpff_signal_pending())))
            return preempt_stop(r, epoch + 1, 0);
    }
    return 0;
}

int hpff_train_run(const hpff_config *cfg, const hpff_world *w, const char *resume_dir, int overwrite) {
    hpff_run R;
    memset(&R, 0, sizeof R);
    hpff_run *r = &R;
    r->cfg = cfg;
    r->w = w;
    r->lock.fd = -1;
    r->resume_step = r->saved_step = -1;
    hpff_signals_install();
    int rc = setup(r, resume_dir, overwrite);
    if (!rc && finished(r)) { teardown(r); return 0; }
    if (!rc && (r->stop_sig = (int)hpff_world_max(w, hpff_signal_pending()))) {
        if (w->rank == 0) hpff_say_nonblocking(STDOUT_FILENO, "hpff_pipe: stopped by a signal before training; nothing new to save\n");
        rc = 128 + r->stop_sig;
    }
    if (rc) { teardown(r); return rc; }
    r->vote = hpff_vote_create(&r->grid);
    r->t_start = hpff_now();
    double wall0 = r->t_start - r->pos.wall;
    double final_err = NAN, final_err5 = NAN, final_loss = NAN;
    rc = train_epochs(r, wall0, &final_err, &final_err5, &final_loss);
    hpff_stage_finish(&r->stage);
    double wall = hpff_now() - wall0;
    if (!rc) {
        hpff_log_summary(r, wall, final_err, final_err5, final_loss);
        hpff_print_rank_summary(r, wall);
    }
    teardown(r);
    return rc;
}
