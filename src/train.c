// train.c — one training run from start (or a checkpoint) to the summary.
#include "train.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend.h"
#include "backend_record.h"
#include "ckpt.h"
#include "datasrc.h"
#include "metrics.h"
#include "model.h"
#include "plan.h"
#include "stage.h"
#include "transport.h"

float hpff_lr_at(const hpff_config *c, int epoch) {
    const double pi = 3.14159265358979323846;
    double E = c->epochs, eta0 = c->lr;
    if (strcmp(c->schedule, "constant") == 0) return (float)eta0;
    if (strcmp(c->schedule, "cosine") == 0) return (float)(0.5 * eta0 * (1 + cos(pi * epoch / E)));
    int e = epoch + 1;   // the CIFAR code counts epochs from 1, with a 10-epoch warm-up from 0.01
    double cosv = 0.5 * eta0 * (1 + cos(pi * e / E));
    if (e <= 10) return (float)(cosv * (e - 1) / 10.0 + 0.01 * (11 - e) / 10.0);
    return (float)cosv;
}

// What every rank must know about the data; only rank 0 reads the files.
typedef struct data_info {
    int ok;
    char err[512];
    int c, h, w, classes;
    int train_batches, test_batches;
    long n_train, n_test;
    float mean[4], std[4];
    char augment[16];
} data_info;

static hpff_status open_data(const hpff_config *c, hpff_datasrc *d, data_info *info) {
    hpff_status st = hpff_datasrc_open(c, 0, 1, d);
    if (st.code) return st;
    info->c = d->c;
    info->h = d->h;
    info->w = d->w;
    info->classes = d->classes;
    info->train_batches = hpff_loader_batches(d->train_ld);
    info->test_batches = hpff_loader_batches(d->test_ld);
    info->n_train = d->n_train;
    info->n_test = d->n_test;
    for (int i = 0; i < 4; i++) { info->mean[i] = d->mean[i]; info->std[i] = d->std[i]; }
    snprintf(info->augment, sizeof info->augment, "%s", d->augment);
    return hpff_status_ok();
}

static hpff_backend *make_backend(const hpff_config *c, const hpff_world *w, char *why, size_t n) {
    int want_cuda = strcmp(c->device, "cuda") == 0, auto_dev = strcmp(c->device, "auto") == 0;
    if (want_cuda || auto_dev) {
        // The ranks of a node take its GPUs in turn; with more ranks than GPUs some share one.
        int gpus = hpff_cuda_device_count();
        hpff_backend *be = hpff_backend_cuda_create(gpus > 0 ? w->local_rank % gpus : 0, c->tf32);
        if (be) return be;
        if (want_cuda) {
            snprintf(why, n, "backend.device = cuda but no usable GPU (or this build has no CUDA backend)");
            return NULL;
        }
    }
    hpff_backend *be = hpff_backend_cpu_create();
    be->set_threads(be, c->threads);
    // backend.graph on the CPU: an op recorder gives the same record-and-replay semantics as a
    // CUDA graph (no speed gain), so the graph path is the one that runs.
    return c->graph ? hpff_backend_recorder(be) : be;
}

static hpff_transport *make_transport(const hpff_config *c, const hpff_world *w, hpff_backend *be,
                                      size_t max_floats, char *why, size_t n) {
    if (w->size == 1) return hpff_transport_local_create();
    if (strcmp(c->transport, "local") == 0) {
        snprintf(why, n, "pipeline.transport = local cannot connect %d ranks; use auto or mpi", w->size);
        return NULL;
    }
    char reason[256] = "pipeline.transport = mpi";
    if (strcmp(c->transport, "mpi") != 0) {   // auto or nccl, decided alike on every rank
        int want = strcmp(c->transport, "nccl") == 0;
        int cuda = !be->host_memory, gpus = cuda ? hpff_cuda_device_count() : 0;
        int n_cuda = (int)hpff_world_sum(w, cuda);
        int all_own = (int)hpff_world_sum(w, cuda && w->local_size <= gpus) == w->size;
        int ranks = (int)hpff_world_max(w, w->local_size), fewest = -(int)hpff_world_max(w, -gpus);
        const char *pre = want ? "pipeline.transport = nccl" : "auto";
        if (n_cuda < w->size) {
            snprintf(reason, sizeof reason, "%s: NCCL needs the CUDA backend, which %d of %d ranks have", pre,
                     n_cuda, w->size);
        } else if (!all_own) {
            snprintf(reason, sizeof reason, "%s: %d ranks on a node with %d GPU%s, and NCCL refuses two ranks on one GPU",
                     pre, ranks, fewest, fewest == 1 ? "" : "s");
        } else {
            hpff_transport *t = hpff_transport_nccl_create(be, max_floats);   // collective
            if (t) {
                if (w->rank == 0)
                    printf("hpff_pipe: transport nccl (%s: CUDA backend and a GPU per rank, %d rank%s on a node with %d GPU%s)\n",
                           pre, ranks, ranks == 1 ? "" : "s", fewest, fewest == 1 ? "" : "s");
                return t;
            }
            snprintf(reason, sizeof reason, "%s: this build has no NCCL transport (configure with -DHPFF_NCCL=ON)", pre);
        }
        if (want) {
            snprintf(why, n, "%s; use pipeline.transport=mpi", reason);
            return NULL;
        }
    }
    hpff_transport *t = hpff_transport_mpi_create(be, max_floats);
    if (!t) snprintf(why, n, "this build has no MPI transport (configure with -DHPFF_MPI=ON)");
    else if (w->rank == 0) printf("hpff_pipe: transport mpi (%s)\n", reason);
    return t;
}

// Running sums for one log window and for the epoch.
typedef struct window {
    double t0, loss, busy, wait_down, wait_up, wait_send, data;
    long imgs, correct, steps;
} window;

static void window_add(window *a, const hpff_step_stats *st, double data_wait) {
    a->loss += st->final_loss * st->n;
    a->correct += st->final_correct1;
    a->imgs += st->n;
    a->steps++;
    a->busy += st->t_total - st->t_wait_down - st->t_wait_up - st->t_wait_send;
    a->wait_down += st->t_wait_down;
    a->wait_up += st->t_wait_up;
    a->wait_send += st->t_wait_send;
    a->data += data_wait;
}

// The time split of a window: computing, and waiting for input, cascade gradient, sends, data.
static void log_time_split(hpff_metrics *mt, const window *w) {
    hpff_json_num(mt, "t_busy", w->busy);
    hpff_json_num(mt, "t_wait_input", w->wait_down);
    hpff_json_num(mt, "t_wait_cascade", w->wait_up);
    hpff_json_num(mt, "t_wait_send", w->wait_send);
    hpff_json_num(mt, "t_wait_data", w->data);
}

static void log_step(hpff_metrics *mt, const hpff_model *md, const hpff_step_stats *st, int epoch,
                     long step, float lr, const window *win, double dt) {
    hpff_json_begin(mt, "step");
    hpff_json_int(mt, "epoch", epoch + 1);
    hpff_json_int(mt, "step", step);
    hpff_json_num(mt, "lr", lr);
    if (st->has_final) {
        hpff_json_num(mt, "loss", win->loss / (double)win->imgs);
        hpff_json_num(mt, "train_err", 100.0 * (1.0 - (double)win->correct / (double)win->imgs));
    }
    hpff_json_num(mt, "img_per_s", (double)win->imgs / dt);
    log_time_split(mt, win);
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

static void check_finite(const hpff_config *c, const hpff_step_stats *st, long step) {
    if (strcmp(c->nan_policy, "abort") != 0) return;
    int bad = st->has_final && !isfinite(st->final_loss);
    for (int m = 0; m < HPFF_MAX_MODULES && !bad; m++)
        bad = (st->il[m].present && !isfinite(st->il[m].loss)) || (st->cl[m].present && !isfinite(st->cl[m].loss));
    HPFF_CHECK(!bad, "loss is not finite at step %ld (train.nan_policy = abort); lower train.lr or check the data", step);
}

typedef struct run {
    const hpff_config *cfg;
    const hpff_world *w;
    hpff_datasrc data;
    data_info info;
    hpff_backend *be;
    hpff_transport *tr;
    hpff_model md;
    hpff_stage stage;
    hpff_metrics *mt;
    float *x;          // host batch (rank 0)
    int32_t *y;
    char ckpt_dir[512];
    hpff_ckpt_pos pos;
    hpff_plan plan;
    double t_start;
    window total, epoch;   // the whole run, the current epoch
} run;

static void save_checkpoint(run *r, int epoch, int batch) {
    hpff_stage_flush(&r->stage);   // delayed mode: the owed boundary gradient goes in the file
    r->pos.epoch = epoch;
    r->pos.batch = batch;
    r->pos.wall += hpff_now() - r->t_start;
    r->t_start = hpff_now();
    char ranges[1024] = "";
    for (int k = 0, len = 0; k < r->plan.ranks; k++)
        len += snprintf(ranges + len, sizeof ranges - (size_t)len, "%s%d-%d", k ? "," : "", r->plan.m0[k], r->plan.m1[k]);
    hpff_status st = hpff_ckpt_write_rank(r->ckpt_dir, &r->md, r->cfg, &r->pos, r->w->rank, r->w->size, ranges);
    HPFF_CHECK(!st.code, "%s", st.msg);
    hpff_world_barrier(r->w);
    if (r->w->rank == 0) {
        st = hpff_ckpt_mark_complete(r->ckpt_dir, r->pos.step, 2);
        HPFF_CHECK(!st.code, "%s", st.msg);
    }
}

// Test-set evaluation through the pipeline; returns top-1 / top-5 error (%) on the last rank.
static void evaluate(run *r, double *err1, double *err5, double *loss) {
    data_info *in = &r->info;
    long c1 = 0, c5 = 0, seen = 0;
    double lsum = 0;
    // Delayed mode: take the owed cascade gradient first; its send would otherwise hold the
    // downstream rank in wait_sends while this rank waits for it to take evaluation payloads.
    hpff_stage_flush(&r->stage);
    if (r->w->rank == 0) hpff_loader_start_epoch(r->data.test_ld, 0, 0);
    for (int b = 0; b < in->test_batches; b++) {
        int n = 0;
        double wait = 0;
        if (r->w->rank == 0) n = hpff_loader_next(r->data.test_ld, r->x, r->y, &wait);
        hpff_step_stats st;
        hpff_stage_eval(&r->stage, r->x, r->y, n, &st);
        if (st.has_final) {
            c1 += st.final_correct1;
            c5 += st.final_correct5;
            lsum += (double)st.final_loss * st.n;
            seen += st.n;
        }
    }
    *err1 = seen ? 100.0 * (1.0 - (double)c1 / seen) : NAN;
    *err5 = seen ? 100.0 * (1.0 - (double)c5 / seen) : NAN;
    *loss = seen ? lsum / seen : NAN;
}

static int is_last(const run *r) { return r->w->rank == r->w->size - 1; }

static void print_progress(run *r, int epoch, int b, long step, float lr, const window *win, double dt) {
    const hpff_config *c = r->cfg;
    long per_epoch = r->info.train_batches;
    long total = (long)c->epochs * per_epoch;
    if (c->max_steps > 0 && c->max_steps < total) total = c->max_steps;
    double rate = dt > 0 ? (double)win->steps / dt : 0;
    char eta[32];
    hpff_format_duration(rate > 0 ? (double)(total - step) / rate : -1, eta, sizeof eta);
    printf("%sepoch %d/%d  step %d/%ld  loss %.4f  err %5.2f%%  lr %.4g  %.0f img/s  ETA %s\n",
           r->w->size > 1 ? "[last rank] " : "", epoch + 1, c->epochs, b + 1, per_epoch,
           win->loss / (double)win->imgs, 100.0 * (1.0 - (double)win->correct / (double)win->imgs),
           lr, (double)win->imgs / dt, eta);
    fflush(stdout);
}

// Ranks before the last: where their time went in this window (the last rank prints the loss).
static void print_rank_progress(const run *r, long step, const window *win, double dt) {
    double t = dt > 0 ? dt : 1;
    printf("[rank %d] step %ld  %.0f img/s  busy %.0f%%  waiting: input %.0f%%, cascade %.0f%%, data %.0f%%\n",
           r->w->rank, step, (double)win->imgs / t, 100 * win->busy / t, 100 * win->wait_down / t,
           100 * win->wait_up / t, 100 * win->data / t);
    fflush(stdout);
}

// Per-rank time split and memory, gathered and printed by rank 0.
static void print_rank_summary(run *r, double wall) {
    hpff_mem_stats ms;
    int dev = hpff_backend_mem_stats(r->md.be, &ms);
    enum { F = 8 };
    double mine[F] = {r->total.busy, r->total.wait_down, r->total.wait_up, r->total.wait_send,
                      r->total.data, (double)hpff_peak_rss_bytes(), (double)hpff_model_bytes(&r->md),
                      dev ? (double)hpff_mem_held_peak(&ms) : -1.0};
    double *all = hpff_xcalloc((size_t)r->w->size * F, sizeof(double));
    hpff_world_gather(r->w, mine, all, sizeof mine);
    if (r->w->rank == 0) {
        printf("per-rank time (s) over %.1f s of training:\n", wall);
        printf("  rank  modules   compute  wait-input  wait-cascade  wait-send  wait-data  peak-RSS  arenas  device-peak\n");
        for (int k = 0; k < r->w->size; k++) {
            double *v = all + F * k;
            char mods[32], devs[32] = "-";
            snprintf(mods, sizeof mods, "%d-%d", r->plan.m0[k], r->plan.m1[k]);
            if (v[7] >= 0) snprintf(devs, sizeof devs, "%.0f MiB", v[7] / (1 << 20));
            printf("  %4d  %8s  %8.1f  %10.1f  %12.1f  %9.1f  %9.1f  %5.0f MiB  %4.0f MiB  %11s\n", k, mods, v[0],
                   v[1], v[2], v[3], v[4], v[5] / (1 << 20), v[6] / (1 << 20), devs);
        }
    }
    free(all);
}

// pipeline.balance = measure: rank 0 times two steps of the whole network on random data
// (after one warm-up step) and every module's forward, heads and sweeps become its cost in ms.
static void measure_costs(const hpff_config *c, hpff_backend *be, hpff_shape shape, int classes,
                          hpff_module_cost *cost, int M) {
    hpff_model md;
    hpff_status st = hpff_model_build_all(&md, c, be, shape, classes);
    HPFF_CHECK(!st.code, "%s", st.msg);
    hpff_model_init_values(&md);
    hpff_transport *tr = hpff_transport_local_create();
    hpff_stage s;
    float mean[4] = {0, 0, 0, 0}, sd[4] = {1, 1, 1, 1};
    hpff_stage_init(&s, &md, tr, mean, sd, shape.c);
    size_t xn = (size_t)c->batch * hpff_shape_numel(shape);
    float *x = hpff_xmalloc(xn * sizeof(float));
    int32_t *y = hpff_xmalloc((size_t)c->batch * sizeof(int32_t));
    uint64_t rng = 99;
    for (size_t i = 0; i < xn; i++) x[i] = (float)(2.0 * hpff_rng_uniform01(&rng) - 1.0);
    for (int i = 0; i < c->batch; i++) y[i] = i % classes;
    double *prof = hpff_xcalloc((size_t)4 * M, sizeof(double));
    hpff_step_stats stats;
    hpff_stage_step(&s, x, y, c->batch, 0.f, &stats);
    s.prof = prof;
    for (int i = 0; i < 2; i++) hpff_stage_step(&s, x, y, c->batch, 0.f, &stats);
    for (int m = 0; m < M; m++)
        cost[m].cost = 1000.0 * (prof[4 * m] + prof[4 * m + 1] + prof[4 * m + 2] + prof[4 * m + 3]) / 2;
    free(prof);
    free(x);
    free(y);
    hpff_stage_free(&s);
    hpff_model_free(&md);
    tr->ops->destroy(tr);
}

// The module ranges of a run being resumed (so a measured plan is not re-measured into another
// partition); empty when the checkpoint has none or the user set pipeline.ranges.
static void resumed_ranges(const hpff_config *c, const hpff_world *w, const char *resume_dir, char *ranges, size_t n) {
    ranges[0] = 0;
    if (!resume_dir || c->ranges[0]) return;
    if (w->rank == 0) {
        char dir[600];
        snprintf(dir, sizeof dir, "%s/checkpoints", resume_dir);
        long step = hpff_ckpt_latest(dir);
        if (step >= 0) hpff_ckpt_read_ranges(dir, step, ranges, n);
    }
    hpff_world_bcast(w, ranges, n, 0);
}

// The pipeline plan: the ranges of a resumed checkpoint, pipeline.ranges, or a partition by
// cost (measured on rank 0 or FLOPs); rank 0 prints it. Returns 0, or 2 after an error message.
static int plan_ranks(run *r, const char *resume_dir, hpff_shape shape) {
    const hpff_config *c = r->cfg;
    const hpff_world *w = r->w;
    const data_info *in = &r->info;
    static hpff_module_cost cost[HPFF_MAX_MODULES];
    int M = 0;
    hpff_status st = hpff_model_costs(c, r->be, shape, in->classes, cost, &M);
    char ranges[1024];
    resumed_ranges(c, w, resume_dir, ranges, sizeof ranges);
    int stored = 0;
    for (const char *q = ranges; *q; q++) stored += *q == ',';
    if (ranges[0] && stored + 1 != w->size) {
        if (w->rank == 0)
            fprintf(stderr, "hpff_pipe: --resume %s: the checkpoint was written by %d ranks; this run has %d. "
                    "Resume with mpirun -np %d\n", resume_dir, stored + 1, w->size, stored + 1);
        return 2;
    }
    int measured = !st.code && w->size > 1 && !c->ranges[0] && !ranges[0] && strcmp(c->balance, "measure") == 0;
    if (measured) {   // rank 0 times the modules; everyone plans from the same numbers
        if (w->rank == 0) measure_costs(c, r->be, shape, in->classes, cost, M);
        double ms[HPFF_MAX_MODULES];
        for (int m = 0; m < M; m++) ms[m] = cost[m].cost;
        hpff_world_bcast(w, ms, sizeof(double) * (size_t)M, 0);
        for (int m = 0; m < M; m++) cost[m].cost = ms[m];
    }
    if (!st.code) st = hpff_plan_make(cost, M, w->size, ranges[0] ? ranges : c->ranges, &r->plan);
    if (st.code) { if (w->rank == 0) fprintf(stderr, "hpff_pipe: %s\n", st.msg); return 2; }
    if (w->rank == 0) {
        for (int k = 0; k < w->size; k++) {   // each rank's buffers, counted without allocating
            size_t b = 0;
            if (!hpff_model_plan_bytes(c, r->be, shape, in->classes, r->plan.m0[k], r->plan.m1[k], &b).code)
                r->plan.bytes[k] = (double)b;
        }
        printf("hpff_pipe: %s, %s on %s (%d x %d x %d, %d classes, %ld train / %ld test), backend %s, %d rank%s\n",
               c->arch, c->method, c->train_file, in->c, in->h, in->w, in->classes, in->n_train, in->n_test,
               r->be->name, w->size, w->size > 1 ? "s" : "");
        hpff_plan_print(&r->plan, cost, measured ? 1.0 : 0.0, stdout);
        if (ranges[0]) printf("  (module ranges of the checkpoint being resumed: %s)\n", ranges);
    }
    return 0;
}

// Sets up data (rank 0 reads, everyone learns the shapes), backend, plan, model and stage.
static int setup(run *r, const char *resume_dir) {
    const hpff_config *c = r->cfg;
    const hpff_world *w = r->w;
    data_info *in = &r->info;
    if (w->rank == 0) {
        hpff_status st = open_data(c, &r->data, in);
        in->ok = !st.code;
        snprintf(in->err, sizeof in->err, "%s", st.msg);
    }
    hpff_world_bcast(w, in, sizeof *in, 0);
    if (!in->ok) {
        if (w->rank == 0) fprintf(stderr, "hpff_pipe: %s\n", in->err);
        return 2;
    }
    char why[512] = "";
    r->be = make_backend(c, w, why, sizeof why);
    if (!r->be) { if (w->rank == 0) fprintf(stderr, "hpff_pipe: %s\n", why); return 2; }
    hpff_shape shape = {in->c, in->h, in->w};
    if (plan_ranks(r, resume_dir, shape)) return 2;
    hpff_status st;
    int m0 = r->plan.m0[w->rank], m1 = r->plan.m1[w->rank];
    st = hpff_model_build(&r->md, c, r->be, shape, in->classes, m0, m1);
    if (st.code) { fprintf(stderr, "hpff_pipe: %s\n", st.msg); return 2; }
    size_t maxf = r->md.in_floats_max > r->md.out_floats_max ? r->md.in_floats_max : r->md.out_floats_max;
    r->tr = make_transport(c, w, r->be, maxf + (size_t)c->batch * hpff_shape_numel(shape), why, sizeof why);
    if (!r->tr) { if (w->rank == 0) fprintf(stderr, "hpff_pipe: %s\n", why); return 2; }
    hpff_model_init_values(&r->md);
    r->pos.best_err = -1;
    snprintf(r->ckpt_dir, sizeof r->ckpt_dir, "%s/checkpoints", c->run_dir);
    if (resume_dir) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/checkpoints", resume_dir);
        long step = hpff_ckpt_latest(dir);
        if (step < 0) { if (w->rank == 0) fprintf(stderr, "hpff_pipe: --resume %s: no complete checkpoint in %s\n", resume_dir, dir); return 2; }
        st = hpff_ckpt_read_rank(dir, step, &r->md, c, w->rank, w->size, &r->pos);
        int ok = !st.code, all_ok = (int)hpff_world_sum(w, ok) == w->size;
        if (!ok) fprintf(stderr, "hpff_pipe: %s\n", st.msg);
        if (!all_ok) return 2;
        if (w->rank == 0) printf("resumed from %s/step-%09ld (epoch %d, batch %d)\n", dir, step, r->pos.epoch + 1, r->pos.batch);
    }
    hpff_stage_init(&r->stage, &r->md, r->tr, in->mean, in->std, in->c);
    r->stage.step = r->pos.step;
    r->stage.graph_wanted = c->graph;
    r->stage.graph_verbose = w->rank == 0;
    if (c->graph && w->rank == 0 && hpff_backend_is_recorder(r->md.be))
        printf("note: backend.graph on the CPU: steps are recorded and replayed by an op recorder (the graph "
               "path, no faster than op by op)\n");
    size_t xs = (size_t)c->batch * hpff_shape_numel(shape);
    r->x = hpff_xcalloc(xs, sizeof(float));
    r->y = hpff_xcalloc((size_t)c->batch, sizeof(int32_t));
    r->mt = hpff_metrics_open(c->run_dir, w->rank);
    HPFF_CHECK(r->mt != NULL, "cannot open the metrics file under '%s'", c->run_dir);
    if (w->rank == 0) {
        char p[600];
        snprintf(p, sizeof p, "%s/config.ini", c->run_dir);
        FILE *f = fopen(p, "w");
        HPFF_CHECK(f != NULL, "cannot write '%s'", p);
        hpff_config_write(c, f);
        fclose(f);
    }
    return 0;
}

static void teardown(run *r) {
    hpff_stage_free(&r->stage);
    hpff_model_free(&r->md);
    if (r->tr) r->tr->ops->destroy(r->tr);
    if (r->be) hpff_backend_destroy(r->be);
    hpff_datasrc_close(&r->data);
    hpff_metrics_close(r->mt);
    free(r->x);
    free(r->y);
}

// One epoch of training from batch `first`. Returns 0 at the end of the epoch, 1 when
// train.max_steps stops it inside the epoch (*next = the batch to continue with), 2 when it
// stops exactly at the end.
static int train_epoch(run *r, int epoch, int first, int *next) {
    const hpff_config *c = r->cfg;
    float lr = hpff_lr_at(c, epoch);
    if (r->w->rank == 0) hpff_loader_start_epoch(r->data.train_ld, epoch, first);
    window win = {0};
    win.t0 = hpff_now();
    for (int b = first; b < r->info.train_batches; b++) {
        int n = 0;
        double wait = 0;
        if (r->w->rank == 0) n = hpff_loader_next(r->data.train_ld, r->x, r->y, &wait);
        hpff_step_stats st;
        hpff_stage_step(&r->stage, r->x, r->y, n, lr, &st);
        long step = ++r->pos.step;
        check_finite(c, &st, step);
        window_add(&win, &st, wait);
        window_add(&r->total, &st, wait);
        window_add(&r->epoch, &st, wait);
        int end = b + 1 == r->info.train_batches, stop = c->max_steps > 0 && step >= c->max_steps;
        if (step % c->log_every == 0 || end || stop) {
            double dt = hpff_now() - win.t0;
            log_step(r->mt, &r->md, &st, epoch, step, lr, &win, dt);
            if (is_last(r)) print_progress(r, epoch, b, step, lr, &win, dt);
            else print_rank_progress(r, step, &win, dt);
            memset(&win, 0, sizeof win);
            win.t0 = hpff_now();
        }
        if (c->ckpt_every > 0 && step % c->ckpt_every == 0 && !end) save_checkpoint(r, epoch, b + 1);
        *next = b + 1;
        if (stop) return end ? 2 : 1;
    }
    return 0;
}

static void log_epoch(run *r, int epoch, double e1, double e5, double tl, double wall) {
    hpff_json_begin(r->mt, "epoch");
    hpff_json_int(r->mt, "epoch", epoch + 1);
    hpff_json_num(r->mt, "lr", hpff_lr_at(r->cfg, epoch));
    if (is_last(r)) {
        hpff_json_num(r->mt, "test_err", e1);
        hpff_json_num(r->mt, "test_err5", e5);
        hpff_json_num(r->mt, "test_loss", tl);
    }
    hpff_json_num(r->mt, "wall", wall);
    log_time_split(r->mt, &r->epoch);
    hpff_json_num(r->mt, "peak_rss_mb", hpff_peak_rss_bytes() / 1048576.0);
    hpff_json_end(r->mt);
    memset(&r->epoch, 0, sizeof r->epoch);
}

// The final line (last rank) and the summary record (every rank).
static void log_summary(run *r, double wall, double final_err, double final_err5) {
    if (is_last(r)) {
        char d[32];
        hpff_format_duration(wall, d, sizeof d);
        printf("done: %ld steps in %s", r->pos.step, d);
        if (isfinite(final_err))
            printf("; final test err %.2f%% (top-5 %.2f%%), best %.2f%% at epoch %d", final_err, final_err5,
                   r->pos.best_err, r->pos.best_epoch);
        else
            printf("; no evaluation in this run%s", r->pos.best_err >= 0 ? "" : " (train.eval = 0 or stopped by train.max_steps)");
        printf("; peak RSS %.0f MiB\n", hpff_peak_rss_bytes() / 1048576.0);
        fflush(stdout);
    }
    hpff_json_begin(r->mt, "summary");
    hpff_json_int(r->mt, "steps", r->pos.step);
    if (is_last(r)) {
        hpff_json_num(r->mt, "final_test_err", final_err);
        hpff_json_num(r->mt, "final_test_err5", final_err5);
        hpff_json_num(r->mt, "best_test_err", r->pos.best_err);
        hpff_json_int(r->mt, "best_epoch", r->pos.best_epoch);
    }
    hpff_json_num(r->mt, "wall", wall);
    log_time_split(r->mt, &r->total);
    hpff_json_num(r->mt, "peak_rss_mb", hpff_peak_rss_bytes() / 1048576.0);
    hpff_json_num(r->mt, "arena_mb", hpff_model_bytes(&r->md) / 1048576.0);
    hpff_mem_stats ms;
    if (hpff_backend_mem_stats(r->md.be, &ms)) {   // GPU: what hpff_pipe held at peak, the card's use
        hpff_json_num(r->mt, "device_mb", hpff_mem_held_peak(&ms) / 1048576.0);
        hpff_json_num(r->mt, "device_used_mb", ms.device_used / 1048576.0);
    }
    hpff_json_end(r->mt);
}

int hpff_train_run(const hpff_config *cfg, const hpff_world *w, const char *resume_dir) {
    run R;
    memset(&R, 0, sizeof R);
    run *r = &R;
    r->cfg = cfg;
    r->w = w;
    int rc = setup(r, resume_dir);
    if (rc) { teardown(r); return rc; }
    r->t_start = hpff_now();
    double wall0 = r->t_start - r->pos.wall;
    double final_err = NAN, final_err5 = NAN;
    int epoch = r->pos.epoch, first = r->pos.batch, stopped = 0;
    for (; epoch < cfg->epochs && !stopped; epoch++, first = 0) {
        int next = first;
        int s = first < r->info.train_batches ? train_epoch(r, epoch, first, &next) : 0;
        stopped = s != 0;
        if (s == 1) { save_checkpoint(r, epoch, next); break; }
        double e1 = NAN, e5 = NAN, tl = NAN;
        if (cfg->eval) evaluate(r, &e1, &e5, &tl);
        if (is_last(r) && cfg->eval) {
            final_err = e1;
            final_err5 = e5;
            if (r->pos.best_err < 0 || e1 < r->pos.best_err) { r->pos.best_err = e1; r->pos.best_epoch = epoch + 1; }
            printf("epoch %d/%d done: test err %.2f%% (top-5 %.2f%%), loss %.4f, best %.2f%% (epoch %d), %.1f s\n",
                   epoch + 1, cfg->epochs, e1, e5, tl, r->pos.best_err, r->pos.best_epoch, hpff_now() - wall0);
            fflush(stdout);
        }
        log_epoch(r, epoch, e1, e5, tl, hpff_now() - wall0);
        int ckpt_now = cfg->ckpt_every_epochs > 0 && (epoch + 1) % cfg->ckpt_every_epochs == 0;
        if (ckpt_now || epoch + 1 == cfg->epochs || stopped) save_checkpoint(r, epoch + 1, 0);
    }
    hpff_stage_finish(&r->stage);
    double wall = hpff_now() - wall0;
    log_summary(r, wall, final_err, final_err5);
    print_rank_summary(r, wall);
    teardown(r);
    return 0;
}
