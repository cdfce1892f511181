// bench_step.c — training-step throughput and memory of one configuration, on synthetic data,
// single process: img/s, ms/step, the model's buffer bytes and the process's peak RSS.
//   bench_step [--set section.key=value ...] [--shape C,H,W] [--steps N] [--warmup N] [--label TEXT]
//              [--profile] [--memory [--ranks R]] [--ops]
// Prints one JSON line (and nothing else on stdout), so scripts can collect rows. --profile adds
// one line per module with the milliseconds per step of its forward, heads, cascade data sweep
// and parameter sweep, with its forward and head multiply-adds per sample (the input of
// bench/pipeline_sim.py). --memory prints the buffers of the
// whole model in one process by role from the sizing build (nothing allocated: configurations
// larger than this machine can be sized) and a JSON line with their total; --ranks R adds each
// rank's bytes under the trainer's FLOP-balanced plan of R ranks (or pipeline.ranges).
// The model, its stage and the synthetic batch are the trainer's measured plan's (hpff_solo,
// src/pipeline/profile.h). --ops runs the model on a profiling wrapper of the backend (src/backend/backend_prof.h): after the
// usual timed steps (wrapper idle: the true ms/step), up to 3 more steps count and time every op
// and print, on stderr, the ops per step and the device ms in library ops (cuDNN / cuBLAS), in
// our own kernels and idle (true ms/step - both), then the top ops by time and by count; the
// JSON line gains an "ops" object. Steps run op by op under the wrapper (no graph replay).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "backend_prof.h"
#include "plan.h"
#include "profile.h"
#include "registry.h"
#include "system.h"

#define OPS_MARKS (1 << 17)   // marks per profiled step: two per op, so 65,536 timed ops
#define OPS_STEPS 3           // profiled steps after the timed ones
#define OPS_TOP 16             // ops listed by time and by count

// One profiled step per iteration; prints a line per step, returns their sum. `true_ms` is the
// step time measured without the marks. On the CPU backend "idle" is the host's time outside
// the ops (the stage's bookkeeping, copies to and from the "device"), not an idle device. On a
// GPU it is a lower bound: a starved device waits for each launch inside the op's marks.
static hpff_op_profile ops_steps(hpff_stage *s, hpff_backend *be, const float *x, const int32_t *y, int n,
                                 int steps, double true_ms, double *wrapped_ms) {
    hpff_op_profile sum, one;
    memset(&sum, 0, sizeof sum);
    hpff_step_stats stats;
    double t0 = hpff_now();
    for (int i = 0; i < steps; i++) {
        hpff_backend_profiled_step_begin(be);
        hpff_stage_step(s, x, y, n, 0.01f, &stats);
        hpff_backend_profiled_step_end(be, &one);
        hpff_op_profile_add(&sum, &one);
        double busy = one.library_ms + one.own_ms, idle = true_ms - busy;
        fprintf(stderr, "ops step %d: %ld ops (%ld library, %ld own) + %ld memory; device ms: library %.3f, "
                        "own %.3f, idle %.3f of %.3f ms/step (span of the marks %.3f)%s\n",
                i + 1, one.calls, one.library_calls, one.own_calls, one.memory_calls, one.library_ms, one.own_ms,
                idle > 0 ? idle : 0.0, true_ms, one.span_ms, one.untimed ? " (some ops untimed: out of marks)" : "");
    }
    *wrapped_ms = steps ? 1000.0 * (hpff_now() - t0) / steps : 0;
    return sum;
}

static void ops_table(const hpff_op_profile *p, int by_calls) {
    int idx[HPFF_PROF_MAX_OPS], n = hpff_op_profile_rank(p, by_calls, idx), k = p->steps ? p->steps : 1;
    static const char *const kind[] = {"own", "library", "memory"};
    fprintf(stderr, "top ops by %s (per step): %-22s %-8s %10s %10s\n", by_calls ? "count" : "time", "op", "kind",
            "calls", "ms");
    for (int i = 0; i < n && i < OPS_TOP; i++) {
        const hpff_op_stat *o = &p->op[idx[i]];
        fprintf(stderr, "  %-22s %-8s %10.1f %10.3f\n", o->name, kind[o->kind], (double)o->calls / k, o->ms / k);
    }
}

// ,"ops":{...}: per-step averages and the top ops (the JSON line's tail).
static void ops_json(const hpff_op_profile *p, double true_ms, double wrapped_ms) {
    double k = p->steps ? p->steps : 1, busy = (p->library_ms + p->own_ms) / k, idle = true_ms - busy;
    printf(",\"ops\":{\"steps\":%d,\"timed\":%d,\"ops_per_step\":%.1f,\"library_calls\":%.1f,\"own_calls\":%.1f,"
           "\"memory_calls\":%.1f,\"library_ms\":%.3f,\"own_ms\":%.3f,\"idle_ms\":%.3f,\"span_ms\":%.3f,"
           "\"wrapped_ms_per_step\":%.2f,\"untimed\":%ld",
           p->steps, p->timed, p->calls / k, p->library_calls / k, p->own_calls / k, p->memory_calls / k,
           p->library_ms / k, p->own_ms / k, idle > 0 ? idle : 0.0, p->span_ms / k, wrapped_ms, p->untimed);
    for (int by_calls = 0; by_calls < 2; by_calls++) {
        int idx[HPFF_PROF_MAX_OPS], n = hpff_op_profile_rank(p, by_calls, idx);
        printf(",\"%s\":[", by_calls ? "top_calls" : "top_ms");
        for (int i = 0; i < n && i < OPS_TOP; i++)
            printf("%s{\"op\":\"%s\",\"calls\":%.1f,\"ms\":%.3f}", i ? "," : "", p->op[idx[i]].name,
                   p->op[idx[i]].calls / k, p->op[idx[i]].ms / k);
        printf("]");
    }
    printf("}");
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: bench_step [--set section.key=value ...] [--shape C,H,W] [--steps N] [--warmup N]\n"
            "                  [--label TEXT] [--profile] [--memory [--ranks R]] [--ops]\n"
            "       bench_step --help\n\n"
            "Training-step throughput and memory of one configuration (hpff_pipe's keys, see\n"
            "hpff_pipe --help) on synthetic data in one process. Prints one JSON line on stdout.\n\n"
            "  --set S.K=V     override one configuration key (repeatable)\n"
            "  --shape C,H,W   input image shape (default 3,32,32; 10 classes unless model.classes)\n"
            "  --steps N       timed steps (default 10)\n"
            "  --warmup N      untimed steps first (default 2; 3 with backend.graph)\n"
            "  --label TEXT    copied into the JSON line\n"
            "  --profile       also one JSON line per module: ms per step of forward, heads, cascade\n"
            "                  data sweep, parameter sweep (bench/pipeline_sim.py reads them)\n"
            "  --memory        print the buffers of the whole model in one process by role, counted\n"
            "                  without allocating, and exit without stepping\n"
            "  --ranks R       with --memory: also each rank's buffers under the plan of R ranks\n"
            "  --ops           count and time every backend op of up to 3 more steps (stderr, and an\n"
            "                  \"ops\" object in the JSON line)\n"
            "  --help          this text\n");
}

typedef struct opts {
    hpff_config cfg;
    hpff_shape in;
    int steps, warm, profile, memory_only, ops, ranks;
    const char *label;
} opts;

// Returns -1 to go on, else the exit code.
static int parse(int argc, char **argv, opts *o) {
    hpff_config_defaults(&o->cfg);
    o->in = (hpff_shape){3, 32, 32};
    o->steps = 10;
    o->warm = 2;
    o->label = "";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--set") && more) {
            hpff_status st = hpff_config_set(&o->cfg, argv[++i], "--set");
            if (st.code) { fprintf(stderr, "bench_step: %s\n", st.msg); return 2; }
        } else if (!strcmp(a, "--shape") && more) {
            if (sscanf(argv[++i], "%d,%d,%d", &o->in.c, &o->in.h, &o->in.w) != 3) { fprintf(stderr, "bench_step: --shape C,H,W\n"); return 2; }
        } else if (!strcmp(a, "--steps") && more) o->steps = atoi(argv[++i]);
        else if (!strcmp(a, "--warmup") && more) o->warm = atoi(argv[++i]);
        else if (!strcmp(a, "--label") && more) o->label = argv[++i];
        else if (!strcmp(a, "--profile")) o->profile = 1;
        else if (!strcmp(a, "--memory")) o->memory_only = 1;
        else if (!strcmp(a, "--ranks") && more) o->ranks = atoi(argv[++i]);
        else if (!strcmp(a, "--ops")) o->ops = 1;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else { fprintf(stderr, "bench_step: unknown argument '%s' (see bench_step --help)\n", a); return 2; }
    }
    hpff_status st = hpff_config_validate(&o->cfg);
    if (st.code) { fprintf(stderr, "bench_step: %s\n", st.msg); return 2; }
    return -1;
}

// The process's CPU time (all threads): on a loaded machine a steadier measure than the clock.
static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// The JSON line: the configuration, throughput (wall and CPU time), memory, the last loss (and
// --ops' object). "conv": the CPU backend's convolution path (dnnl or im2col), else "library".
static void json_line(const opts *o, hpff_solo *r, double dt, double cpu, const hpff_step_stats *last,
                      const hpff_op_profile *ops, double wrapped_ms) {
    const hpff_config *c = &o->cfg;
    hpff_backend *be = r->md.be;
    const char *conv = strcmp(be->name, "cpu") == 0 ? hpff_backend_cpu_conv(be) : "library";
    printf("{\"label\":\"%s\",\"backend\":\"%s\",\"conv\":\"%s\",\"arch\":\"%s\",\"method\":\"%s\",\"K\":%d,"
           "\"modules\":%d,\"pff\":%d,\"il\":%d,\"cl\":%d,\"batch\":%d,\"threads\":%d,\"steps\":%d,"
           "\"img_per_s\":%.1f,\"ms_per_step\":%.2f,\"cpu_ms_per_step\":%.2f,\"arena_mb\":%.1f,"
           "\"peak_rss_mb\":%.1f,\"loss\":%.4f,\"graph\":%d",
           o->label, be->name, conv, hpff_config_enum_name(c, &c->arch), hpff_config_enum_name(c, &c->method), c->K,
           r->md.M, c->pff, c->il, c->cl, c->batch, c->threads, o->steps, o->steps * c->batch / dt,
           1000.0 * dt / o->steps, 1000.0 * cpu / o->steps, hpff_stage_bytes(&r->s) / 1048576.0, hpff_peak_rss_bytes() / 1048576.0,
           last->final_loss, hpff_stage_graphs_ready(&r->s));
    hpff_mem_stats ms;
    if (hpff_backend_mem_stats(be, &ms))   // device: held by hpff_pipe (peak), and the card's use
        printf(",\"device_mb\":%.1f,\"device_used_mb\":%.1f", hpff_mem_held_peak(&ms) / 1048576.0,
               ms.device_used / 1048576.0);
    if (ops) ops_json(ops, 1000.0 * dt / o->steps, wrapped_ms);
    printf("}\n");
}

// --profile: one line per module, ms per step of each phase (bench/pipeline_sim.py's input).
static void module_lines(const hpff_solo *r, const double *ms) {
    hpff_module_cost cost[HPFF_MAX_MODULES];
    hpff_model_module_costs(&r->md, cost);
    for (int m = 0; m < r->md.M; m++) {
        const double *p = ms + HPFF_PHASES * m;
        printf("{\"module\":%d,\"fwd_ms\":%.3f,\"heads_ms\":%.3f,\"up_ms\":%.3f,\"param_ms\":%.3f,"
               "\"params\":%zu,\"act_mb\":%.2f,\"out_mb\":%.2f,\"fwd_mflops\":%.3f,\"head_mflops\":%.3f,"
               "\"push_up\":%d}\n", m, p[HPFF_PHASE_FORWARD], p[HPFF_PHASE_HEADS],
               p[HPFF_PHASE_CASCADE], p[HPFF_PHASE_PARAMS], cost[m].params, cost[m].act_bytes / 1048576.0,
               (double)r->n * hpff_shape_numel(r->md.mod[m].seq.out) * 4 / 1048576.0, cost[m].fwd_flops / 1e6,
               cost[m].head_flops / 1e6, r->md.hilo.mod[m].push_up);
    }
}

// Warm-up, the timed steps (profiled by phase with --profile), then --ops' counted steps.
static void bench(const opts *o, hpff_solo *r) {
    hpff_backend *be = r->md.be;
    int warm = o->cfg.graph && !o->profile && o->warm < 3 ? 3 : o->warm;   // 2 eager + the recording, untimed
    hpff_step_stats last;
    memset(&last, 0, sizeof last);
    hpff_solo_steps(r, warm, &last);
    be->sync(be);
    double *ms = o->profile ? hpff_xcalloc((size_t)HPFF_PHASES * r->md.M, sizeof(double)) : NULL;
    double t0 = hpff_now(), c0 = cpu_seconds();
    if (ms) hpff_solo_profile(r, o->steps, ms, &last);
    else hpff_solo_steps(r, o->steps, &last);
    be->sync(be);
    double dt = hpff_now() - t0, cpu = cpu_seconds() - c0, wrapped_ms = 0;
    hpff_op_profile op_sum;
    memset(&op_sum, 0, sizeof op_sum);
    if (o->ops) {
        op_sum = ops_steps(&r->s, be, r->x, r->y, r->n, o->steps < OPS_STEPS ? o->steps : OPS_STEPS,
                           1000.0 * dt / o->steps, &wrapped_ms);
        fprintf(stderr, "ops: %.2f ms/step with the marks (event overhead inflates the op times)\n", wrapped_ms);
        ops_table(&op_sum, 0);
        ops_table(&op_sum, 1);
    }
    json_line(o, r, dt, cpu, &last, o->ops ? &op_sum : NULL, wrapped_ms);
    if (ms) module_lines(r, ms);
    free(ms);
}

// --memory: one process's buffers by role, then with --ranks R > 1 every rank's bytes under the
// trainer's plan (FLOP costs, or pipeline.ranges); all from one sizing build.
static int memory_report(const opts *o, hpff_backend *be, int classes) {
    const hpff_config *c = &o->cfg;
    hpff_model full;
    hpff_status st = hpff_model_size_all(&full, c, be, o->in, classes);
    if (st.code) { fprintf(stderr, "bench_step: %s\n", st.msg); return 2; }
    int M = full.M;
    size_t one = hpff_rank_memory_report(&full, 0, M - 1, stdout);
    printf("{\"label\":\"%s\",\"arch\":\"%s\",\"method\":\"%s\",\"K\":%d,\"modules\":%d,\"batch\":%d,"
           "\"side\":%d,\"one_process_mb\":%.1f", o->label, hpff_config_enum_name(c, &c->arch),
           hpff_config_enum_name(c, &c->method), c->K, M, c->batch, o->in.h, one / 1048576.0);
    if (o->ranks > 1) {
        static hpff_module_cost cost[HPFF_MAX_MODULES];
        hpff_plan plan;
        hpff_model_module_costs(&full, cost);
        st = hpff_plan_make(cost, M, o->ranks, c->ranges, &plan);
        if (st.code) { fprintf(stderr, "bench_step: %s\n", st.msg); hpff_model_free(&full); return 2; }
        double largest = 0;
        printf(",\"ranks\":[");
        for (int k = 0; k < o->ranks; k++) {
            double mb = hpff_rank_bytes(&full, plan.m0[k], plan.m1[k]) / 1048576.0;
            printf("%s{\"modules\":\"%d-%d\",\"mb\":%.1f}", k ? "," : "", plan.m0[k], plan.m1[k], mb);
            largest = mb > largest ? mb : largest;
        }
        printf("],\"largest_rank_mb\":%.1f", largest);
    }
    printf("}\n");
    hpff_model_free(&full);
    return 0;
}

int main(int argc, char **argv) {
    opts o;
    memset(&o, 0, sizeof o);
    int rc = parse(argc, argv, &o);
    if (rc >= 0) return rc;
    rc = 0;
    char why[256] = "";
    hpff_backend *inner = hpff_backend_select(&o.cfg, 0, why, sizeof why);
    if (!inner) { fprintf(stderr, "bench_step: %s\n", why); return 2; }
    // --ops: the model runs on the wrapper; both are destroyed at the end
    hpff_backend *be = o.ops ? hpff_backend_profiled(inner, OPS_MARKS) : inner;
    if (o.ops && o.cfg.graph) fprintf(stderr, "bench_step: --ops runs every step op by op (backend.graph ignored)\n");
    int classes = hpff_model_classes(&o.cfg, 10);
    if (o.memory_only) {
        rc = memory_report(&o, be, classes);
    } else {
        hpff_solo r;
        hpff_status st = hpff_solo_init(&r, &o.cfg, be, o.in, classes);
        if (st.code) { fprintf(stderr, "bench_step: %s\n", st.msg); rc = 2; }
        r.s.graph.wanted = o.cfg.graph;   // stdout is the JSON line; "graph" there says whether one was recorded
        if (!rc) bench(&o, &r);
        hpff_solo_free(&r);
    }
    if (be != inner) hpff_backend_destroy(be);
    hpff_backend_destroy(inner);
    return rc;
}
