// bench_step.c — training-step throughput and memory of one configuration, on synthetic data,
// single process: img/s, ms/step, the model's buffer bytes and the process's peak RSS.
//   bench_step [--set section.key=value ...] [--shape C,H,W] [--steps N] [--warmup N] [--label TEXT]
//              [--profile]
// Prints one JSON line (and nothing else on stdout), so scripts can collect rows. --profile adds
// one line per module with the milliseconds per step of its forward, heads, cascade data sweep
// and parameter sweep (the input of bench/pipeline_sim.py).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "metrics.h"
#include "model.h"
#include "stage.h"
#include "transport.h"

int main(int argc, char **argv) {
    hpff_config cfg;
    hpff_config_defaults(&cfg);
    hpff_shape in = {3, 32, 32};
    int steps = 10, warm = 2, profile = 0;
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
        else { fprintf(stderr, "bench_step: unknown argument '%s'\n", argv[i]); return 2; }
    }
    hpff_status st = hpff_config_validate(&cfg);
    if (st.code) { fprintf(stderr, "bench_step: %s\n", st.msg); return 2; }
    hpff_backend *be = NULL;
    if (strcmp(cfg.device, "cpu") != 0) be = hpff_backend_cuda_create(0, cfg.tf32);
    if (!be) {
        be = hpff_backend_cpu_create();
        be->set_threads(be, cfg.threads);
    }
    hpff_model md;
    hpff_module_cost cost[HPFF_MAX_MODULES];   // parameters and slot sizes for --profile
    int n_modules = 0;
    st = hpff_model_costs(&cfg, be, in, 10, cost, &n_modules);
    if (!st.code) st = hpff_model_build_all(&md, &cfg, be, in, 10);
    if (st.code) { fprintf(stderr, "bench_step: %s\n", st.msg); return 2; }
    hpff_model_init_values(&md);
    hpff_transport *tr = hpff_transport_local_create();
    hpff_stage s;
    float mean[3] = {0.49f, 0.48f, 0.45f}, sd[3] = {0.25f, 0.24f, 0.26f};
    hpff_stage_init(&s, &md, tr, mean, sd, in.c);
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
    printf("{\"label\":\"%s\",\"backend\":\"%s\",\"arch\":\"%s\",\"method\":\"%s\",\"K\":%d,\"modules\":%d,"
           "\"pff\":%d,\"il\":%d,\"cl\":%d,\"batch\":%d,\"threads\":%d,\"steps\":%d,\"img_per_s\":%.1f,"
           "\"ms_per_step\":%.2f,\"arena_mb\":%.1f,\"peak_rss_mb\":%.1f,\"loss\":%.4f}\n",
           label, be->name, cfg.arch, cfg.method, cfg.K, md.M, cfg.pff, cfg.il, cfg.cl, cfg.batch, cfg.threads,
           steps, steps * cfg.batch / dt, 1000.0 * dt / steps, hpff_model_bytes(&md) / 1048576.0,
           hpff_peak_rss_bytes() / 1048576.0, stats.final_loss);
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
    hpff_backend_destroy(be);
    return 0;
}
