// test_step_gpu.c — one whole HPFF training step on the CUDA backend against the CPU backend:
// ResNet-32 K=16 (DGL and InfoPro, HiLo with PFF as configured by default), batch 16 of random
// 3x32x32 images, TF32 off. Both models start from the same values (hpff_model_init_values
// depends only on the seed and the tensor names); hpff_stage_grads on the same batch must give
// every head loss and the final loss within 1e-4 relative, and every parameter gradient within
// atol 1e-5 + rtol 1e-3. The worst tensors are printed either way. Exits 77 (ctest: skipped)
// without a CUDA device, unless HPFF_REQUIRE_GPU=1 (tests/gpu/run.sh), which makes that a failure.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "model.h"
#include "stage.h"
#include "test_util.h"
#include "transport.h"

#define N 16
#define CLASSES 10
static const hpff_shape IMG = {3, 32, 32};

typedef struct side {
    hpff_backend *be;
    hpff_model md;
    hpff_stage st;
    hpff_step_stats stats;
} side;

static void side_run(side *s, const hpff_config *cfg, hpff_backend *be, int M, const float *img,
                     const int32_t *labels) {
    memset(s, 0, sizeof *s);
    s->be = be;
    hpff_status st = hpff_model_build(&s->md, cfg, be, IMG, CLASSES, 0, M - 1);
    HPFF_CHECK(!st.code, "%s", st.msg);
    hpff_model_init_values(&s->md);
    float mean[3] = {0.49f, 0.48f, 0.45f}, sd[3] = {0.25f, 0.24f, 0.26f};
    hpff_stage_init(&s->st, &s->md, hpff_transport_local_create(), mean, sd, 3);
    hpff_stage_grads(&s->st, img, labels, N, &s->stats);
    be->sync(be);
}

static void side_free(side *s) {
    hpff_transport *tr = s->st.tr;
    hpff_stage_free(&s->st);
    hpff_model_free(&s->md);
    tr->ops->destroy(tr);
}

static void loss_close(const char *what, float gpu, float cpu) {
    double err = fabs((double)gpu - cpu), lim = 1e-4 * fmax(fabs((double)cpu), 1e-6);
    TEST_CHECK(err <= lim && isfinite(gpu), "%s: GPU %.9g, CPU %.9g (rel err %.3g)", what, gpu, cpu,
               err / fmax(fabs((double)cpu), 1e-30));
}

typedef struct worst { char name[112]; double ratio, max_err; size_t count; } worst;

static void step_case(const char *method, hpff_backend *cpu, hpff_backend *gpu) {
    hpff_config cfg;
    hpff_config_defaults(&cfg);
    strcpy(cfg.arch, "resnet32");
    strcpy(cfg.method, method);
    cfg.K = 16;
    cfg.batch = N;
    cfg.tf32 = 0;
    hpff_status st = hpff_config_validate(&cfg);
    HPFF_CHECK(!st.code, "%s", st.msg);
    hpff_module_cost cost[HPFF_MAX_MODULES];
    int M = 0;
    st = hpff_model_costs(&cfg, cpu, IMG, CLASSES, cost, &M);
    HPFF_CHECK(!st.code, "%s", st.msg);

    size_t n_img = (size_t)N * hpff_shape_numel(IMG);
    float *img = malloc(n_img * sizeof(float));
    int32_t labels[N];
    test_fill_uniform(img, n_img, -2.f, 2.f, 20240601);
    for (int i = 0; i < N; i++) labels[i] = (i * 7 + 3) % CLASSES;

    side c, g;
    side_run(&c, &cfg, cpu, M, img, labels);
    side_run(&g, &cfg, gpu, M, img, labels);

    // losses: every head present on either side, and the final head
    char what[160];
    int heads = 0;
    for (int m = 0; m < M; m++) {
        const hpff_head_stats *hs[2][2] = {{&c.stats.il[m], &g.stats.il[m]}, {&c.stats.cl[m], &g.stats.cl[m]}};
        for (int lv = 0; lv < 2; lv++) {
            if (!hs[lv][0]->present && !hs[lv][1]->present) continue;
            snprintf(what, sizeof what, "%s %s loss of module %d", method, lv ? "cascade" : "independent", m);
            TEST_CHECK(hs[lv][0]->present && hs[lv][1]->present, "%s: present on one backend only", what);
            loss_close(what, hs[lv][1]->loss, hs[lv][0]->loss);
            heads++;
        }
    }
    TEST_CHECK(c.stats.has_final && g.stats.has_final, "%s: no final loss", method);
    snprintf(what, sizeof what, "%s final loss", method);
    loss_close(what, g.stats.final_loss, c.stats.final_loss);
    printf("%s: %d modules, %d head losses + final (CPU %.6f, GPU %.6f)\n", method, M, heads,
           c.stats.final_loss, g.stats.final_loss);

    // gradients, tensor by tensor; the 5 worst by err / (atol + rtol |ref|)
    const double atol = 1e-5, rtol = 1e-3;
    const hpff_registry *reg = &c.md.params;
    worst top[5];
    memset(top, 0, sizeof top);
    int bad = 0;
    for (int i = 0; i < reg->n; i++) {
        const hpff_tensor_info *t = &reg->t[i];
        float *a = malloc(t->count * sizeof(float)), *b = malloc(t->count * sizeof(float));
        int ok = hpff_model_get_grad(&c.md, t->name, a, t->count) >= 0 &&
                 hpff_model_get_grad(&g.md, t->name, b, t->count) >= 0;
        TEST_CHECK(ok, "%s: gradient of %s missing on one backend", method, t->name);
        if (ok) {
            double ratio = 0, max_err = 0;
            for (size_t j = 0; j < t->count; j++) {
                double e = fabs((double)b[j] - a[j]);
                double r = isfinite(b[j]) ? e / (atol + rtol * fabs((double)a[j])) : INFINITY;
                if (r > ratio) ratio = r;
                if (e > max_err) max_err = e;
            }
            worst w = {{0}, ratio, max_err, t->count};
            snprintf(w.name, sizeof w.name, "%s", t->name);
            for (int k = 0; k < 5; k++)
                if (w.ratio > top[k].ratio) { worst tmp = top[k]; top[k] = w; w = tmp; }
            snprintf(what, sizeof what, "%s grad %s", method, t->name);
            if (!test_close(what, b, a, t->count, atol, rtol)) bad++;
        }
        free(a);
        free(b);
    }
    printf("%s: %d gradient tensors, %d outside atol %g + rtol %g; worst (err / tolerance):\n", method, reg->n,
           bad, atol, rtol);
    for (int k = 0; k < 5 && top[k].name[0]; k++)
        printf("  %-48s %8.3f  (max abs err %.3g over %zu)\n", top[k].name, top[k].ratio, top[k].max_err,
               top[k].count);
    side_free(&c);
    side_free(&g);
    free(img);
}

int main(void) {
    if (hpff_cuda_device_count() == 0) {
        const char *req = getenv("HPFF_REQUIRE_GPU");   // set on the GPU machine: no skipping
        int required = req && req[0] && strcmp(req, "0") != 0;
        printf("test_step_gpu: no CUDA device; %s\n", required ? "FAIL (HPFF_REQUIRE_GPU is set)" : "skipped");
        return required ? 1 : 77;
    }
    hpff_backend *cpu = hpff_backend_cpu_create();
    hpff_backend *gpu = hpff_backend_cuda_create(0, 0);
    if (!gpu) {
        fprintf(stderr, "FAIL: a CUDA device is present but the CUDA backend could not start\n");
        return 1;
    }
    step_case("dgl", cpu, gpu);
    step_case("infopro", cpu, gpu);
    hpff_backend_destroy(gpu);
    hpff_backend_destroy(cpu);
    return hpff_test_summary("test_step_gpu");
}
