// bench_step.c — training-step throughput and memory of one configuration, on synthetic data,
// single process: img/s, ms/step, the model's buffer bytes and the process's peak RSS.
//   bench_step [--set section.key=value ...] [--shape C,H,W] [--steps N] [--warmup N] [--label TEXT]
//              [--profile] [--memory] [--ops]
// Prints one JSON line (and nothing else on stdout), so scripts can collect rows. --profile adds
// one line per module with the milliseconds per step of its forward, heads, cascade data sweep
// and parameter sweep (the input of bench/pipeline_sim.py). --memory prints the model's buffers
// by role (hpff_model_memory_report) after building it and exits without stepping.
// --ops runs the model on a profiling wrapper of the backend (src/backend/backend_prof.h): after the
// usual timed steps (wrapper idle: the true ms/step), up to 3 more steps count and time every op
// and print, on stderr, the ops per step and the device ms in library ops (cuDNN / cuBLAS), in
// our own kernels and idle (true ms/step - both), then the top ops by time and by count; the
// JSON line gains an "ops" object. Steps run op by op under the wrapper (no graph replay).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend_prof.h"
#include "backend_record.h"
#include "metrics.h"
#include "model.h"
#include "stage.h"
#include "transport.h"

#define OPS_MARKS (1 << 17)   // marks per profiled step: two per op, so 65,536 timed ops
#define OPS_STEPS 3           // profiled steps after the timed ones
#define OPS_TOP 8             // ops listed by time and by count

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
            "                  [--label TEXT] [--profile] [--memory] [--ops]\n"
            "       bench_step --help\n\n"
            "Training-step throughput and memory of one configuration (hpff_pipe's keys, see\n"
            "hpff_pipe --help) on synthetic data in one process. Prints one JSON line on stdout.\n\n"
            "  --set S.K=V     override one configuration key (repeatable)\n"
            "  --shape C,H,W   input image shape (default 3,32,32; 10 classes)\n"
            "  --steps N       timed steps (default 10)\n"
            "  --warmup N      untimed steps first (default 2; 3 with backend.graph)\n"
            "  --label TEXT    copied into the JSON line\n"
            "  --profile       also one JSON line per module: ms per step of forward, heads, cascade\n"
            "                  data sweep, parameter sweep (bench/pipeline_sim.py reads them)\n"
            "  --memory        print the model's buffers by role and exit without stepping\n"
            "  --ops           count and time every backend op of up to 3 more steps (stderr, and an\n"
            "                  \"ops\" object in the JSON line)\n"
            "  --help          this text\n");
}

int main(int argc, char **argv) {
    hpff_config cfg;
    hpff_config_defaults(&cfg);
    hpff_shape in = {3, 32, 32};
    int steps = 10, warm = 2, profile = 0, memory_only = 0, ops = 0;
    const char *label = "";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--set") && i + 1 < argc) {
            hpff_status st = hpff_config_set(&cfg, argv[++i], "--set");
            if (st.code) { fprintf(stderr, "bench_step: %s\n", st.msg); return 2; }
        } else if (!strcmp(argv[i], "--shape") && i + 1 < argc) {
            if (sscanf(argv[++i], "%d,%d,%d", &in.c, &in.h, &in.w) != 3) { fprintf(stderr, "bench_step: --shape C,H,W\n"); return 2; }
        } else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) warm = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--label") && i + 1 < argc) label = argv[++i];
        else if (!strcmp(argv[i], "--profile")) profile = 1;
        else if (!strcmp(argv[i], "--memory")) memory_only = 1;
        else if (!strcmp(argv[i], "--ops")) ops = 1;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        else { fprintf(stderr, "bench_step: unknown argument '%s' (see bench_step --help)\n", argv[i]); return 2; }
    }
    hpff_status st = hpff_config_validate(&cfg);
    if (st.code) { fprintf(stderr, "bench_step: %s\n", st.msg); return 2; }
    hpff_backend *be = NULL;
    if (cfg.device != HPFF_DEVICE_CPU) be = hpff_backend_cuda_create(0, cfg.tf32);
    if (!be && cfg.device == HPFF_DEVICE_CUDA) {
        fprintf(stderr, "bench_step: backend.device = cuda but no usable GPU (or no CUDA backend in this build)\n");
        return 2;
    }
    if (!be) {
        be = hpff_backend_cpu_create();
        be->set_threads(be, cfg.threads);
        if (cfg.graph) be = hpff_backend_recorder(be);   // the graph path on the CPU (train.c)
    }
    hpff_backend *inner = be;   // --ops: the model runs on the wrapper; both are destroyed at the end
    if (ops) be = hpff_backend_profiled(inner, OPS_MARKS);
    if (ops && cfg.graph) fprintf(stderr, "bench_step: --ops runs every step op by op (backend.graph ignored)\n");
    hpff_model md;
    hpff_module_cost cost[HPFF_MAX_MODULES];   // parameters and slot sizes for --profile
    int n_modules = 0;
    st = hpff_model_costs(&cfg, be, in, 10, cost, &n_modules);
    if (!st.code) st = hpff_model_build_all(&md, &cfg, be, in, 10);
    if (st.code) { fprintf(stderr, "bench_step: %s\n", st.msg); return 2; }
    if (memory_only) {
        hpff_model_memory_report(&md, stdout);
        hpff_model_free(&md);
        if (be != inner) hpff_backend_destroy(be);
        hpff_backend_destroy(inner);
        return 0;
    }
    hpff_model_init_values(&md);
    hpff_transport *tr = hpff_transport_local_create();
    hpff_stage s;
    float mean[3] = {0.49f, 0.48f, 0.45f}, sd[3] = {0.25f, 0.24f, 0.26f};
    hpff_stage_init(&s, &md, tr, mean, sd, in.c);
    s.graph_wanted = cfg.graph;
    s.graph_verbose = 0;   // stdout is the JSON line; "graph" there says whether one was recorded
    if (cfg.graph && !profile && warm < 3) warm = 3;   // 2 eager steps + the recording, all untimed
    size_t xn = (size_t)cfg.batch * hpff_shape_numel(in);
    float *x = malloc(xn * sizeof(float));
    int32_t *y = malloc((size_t)cfg.batch * sizeof(int32_t));
    uint64_t r = 12345;
    for (size_t i = 0; i < xn; i++) x[i] = (float)(hpff_rng_uniform01(&r) * 4.0 - 2.0);
    for (int i = 0; i < cfg.batch; i++) y[i] = i % 10;
    hpff_step_stats stats;
    for (int i = 0; i < warm; i++) hpff_stage_step(&s, x, y, cfg.batch, 0.01f, &stats);
    be->sync(be);
    double *prof = profile ? calloc((size_t)4 * md.M, sizeof(double)) : NULL;
    s.prof = prof;
    double t0 = hpff_now();
    for (int i = 0; i < steps; i++) hpff_stage_step(&s, x, y, cfg.batch, 0.01f, &stats);
    be->sync(be);
    double dt = hpff_now() - t0;
    s.prof = NULL;   // the profiled steps below must not synchronise per phase
    double wrapped_ms = 0;
    hpff_op_profile op_sum;
    memset(&op_sum, 0, sizeof op_sum);
    if (ops) {
        op_sum = ops_steps(&s, be, x, y, cfg.batch, steps < OPS_STEPS ? steps : OPS_STEPS, 1000.0 * dt / steps,
                           &wrapped_ms);
        fprintf(stderr, "ops: %.2f ms/step with the marks (event overhead inflates the op times)\n", wrapped_ms);
        ops_table(&op_sum, 0);
        ops_table(&op_sum, 1);
    }
    printf("{\"label\":\"%s\",\"backend\":\"%s\",\"arch\":\"%s\",\"method\":\"%s\",\"K\":%d,\"modules\":%d,"
           "\"pff\":%d,\"il\":%d,\"cl\":%d,\"batch\":%d,\"threads\":%d,\"steps\":%d,\"img_per_s\":%.1f,"
           "\"ms_per_step\":%.2f,\"arena_mb\":%.1f,\"peak_rss_mb\":%.1f,\"loss\":%.4f,\"graph\":%d",
           label, be->name, hpff_config_enum_name(&cfg, &cfg.arch), hpff_config_enum_name(&cfg, &cfg.method), cfg.K, md.M, cfg.pff, cfg.il, cfg.cl, cfg.batch, cfg.threads,
           steps, steps * cfg.batch / dt, 1000.0 * dt / steps, hpff_model_bytes(&md) / 1048576.0,
           hpff_peak_rss_bytes() / 1048576.0, stats.final_loss, hpff_stage_graphs_ready(&s));
    hpff_mem_stats ms;
    if (hpff_backend_mem_stats(be, &ms))   // device: held by hpff_pipe (peak), and the card's use
        printf(",\"device_mb\":%.1f,\"device_used_mb\":%.1f", hpff_mem_held_peak(&ms) / 1048576.0,
               ms.device_used / 1048576.0);
    if (ops) ops_json(&op_sum, 1000.0 * dt / steps, wrapped_ms);
    printf("}\n");
    for (int m = 0; prof && m < md.M; m++)
        printf("{\"module\":%d,\"fwd_ms\":%.3f,\"heads_ms\":%.3f,\"up_ms\":%.3f,\"param_ms\":%.3f,"
               "\"params\":%zu,\"act_mb\":%.2f,\"out_mb\":%.2f}\n", m, 1000 * prof[4 * m] / steps,
               1000 * prof[4 * m + 1] / steps, 1000 * prof[4 * m + 2] / steps, 1000 * prof[4 * m + 3] / steps,
               cost[m].params, cost[m].act_bytes / 1048576.0,
               (double)cfg.batch * hpff_shape_numel(md.mod[m].seq.out) * 4 / 1048576.0);
    free(prof);
    free(x);
    free(y);
    hpff_stage_free(&s);
    hpff_model_free(&md);
    tr->ops->destroy(tr);
    if (be != inner) hpff_backend_destroy(be);
    hpff_backend_destroy(inner);
    return 0;
}
