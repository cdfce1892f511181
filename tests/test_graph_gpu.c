// test_graph_gpu.c — backend.graph: a training step recorded once as a CUDA graph and replayed
// must train exactly like the op-by-op step. ResNet-32 K=16 (DGL and InfoPro, HiLo + PFF as
// configured by default), batch 16, TF32 on (the default; the same kernels run either way), SGD
// at lr 0.05: two models from the same initial values take the same batches, one op by op, one
// with backend.graph (2 eager warm-up steps, the recorded step, replays), then a partial batch
// (which runs op by op on the graph side too). After every step each head's loss, the final loss
// and every parameter and BN statistic must be bitwise equal; the graph side must really have
// recorded a graph. A replay that missed an op, reused a stale pointer or skipped a host-side
// effect (the step counter, the final head's flag) breaks the equality.
// Exits 77 (ctest: skipped) without a CUDA device, unless HPFF_REQUIRE_GPU=1.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "step_fixture.h"

#define N 16
#define STEPS 6
typedef stepf_side side;

static void side_init(side *s, const hpff_config *cfg, hpff_backend *be, int M, int graph) {
    stepf_side_init(s, cfg, be, M);
    s->st.graph.wanted = graph;
    s->st.graph.verbose = graph;
}

// Every parameter and state value of both models, bitwise.
static void same_arenas(const char *what, const hpff_model *a, const hpff_model *b) {
    size_t np = a->params.total, ns = a->state.total;
    float *ha = malloc((np + ns) * sizeof(float)), *hb = malloc((np + ns) * sizeof(float));
    a->be->to_host(a->be, ha, a->p, np * sizeof(float));
    a->be->to_host(a->be, ha + np, a->st, ns * sizeof(float));
    b->be->to_host(b->be, hb, b->p, np * sizeof(float));
    b->be->to_host(b->be, hb + np, b->st, ns * sizeof(float));
    size_t diff = 0, first = 0;
    for (size_t i = 0; i < np + ns; i++)
        if (memcmp(&ha[i], &hb[i], sizeof(float)) != 0 && diff++ == 0) first = i;
    TEST_CHECK(diff == 0, "%s: %zu of %zu parameter/state values differ (first at %zu: %.9g vs %.9g)", what,
               diff, np + ns, first, diff ? ha[first] : 0.f, diff ? hb[first] : 0.f);
    free(ha);
    free(hb);
}

static void same_losses(const char *what, const hpff_step_stats *a, const hpff_step_stats *b, int M) {
    int bad = 0;
    for (int m = 0; m < M; m++) {
        bad += a->il[m].present != b->il[m].present || a->il[m].loss != b->il[m].loss ||
               a->il[m].correct1 != b->il[m].correct1;
        bad += a->cl[m].present != b->cl[m].present || a->cl[m].loss != b->cl[m].loss ||
               a->cl[m].correct1 != b->cl[m].correct1;
    }
    TEST_CHECK(bad == 0, "%s: %d head losses or hit counts differ", what, bad);
    TEST_CHECK(a->has_final && b->has_final && a->final_loss == b->final_loss &&
                   a->final_correct1 == b->final_correct1 && isfinite(a->final_loss),
               "%s: final loss %.9g (has %d) vs %.9g (has %d)", what, a->final_loss, a->has_final,
               b->final_loss, b->has_final);
}

static void graph_case(const char *method, hpff_backend *gpu) {
    hpff_config cfg;
    int M = stepf_config(&cfg, method, N, 1, gpu);
    size_t n_img = (size_t)N * hpff_shape_numel(STEPF_IMG);
    float *img = malloc(n_img * sizeof(float));
    int32_t labels[N];
    side e, g;
    side_init(&e, &cfg, gpu, M, 0);
    side_init(&g, &cfg, gpu, M, 1);
    char what[128];
    for (int t = 0; t <= STEPS; t++) {
        int n = t < STEPS ? N : N - 5;   // the last batch is partial: op by op on both sides
        test_fill_uniform(img, n_img, -2.f, 2.f, 4242 + t);
        for (int i = 0; i < N; i++) labels[i] = (i * 7 + 3 * t) % STEPF_CLASSES;
        hpff_stage_step(&e.st, img, labels, n, 0.05f, &e.stats);
        hpff_stage_step(&g.st, img, labels, n, 0.05f, &g.stats);
        snprintf(what, sizeof what, "%s step %d (%s)", method, t,
                 t < 2 ? "warm-up" : t == 2 ? "recorded" : t < STEPS ? "replay" : "partial batch");
        same_losses(what, &e.stats, &g.stats, M);
        same_arenas(what, &e.md, &g.md);
        TEST_CHECK(e.st.step == g.st.step && g.st.step == t + 1, "%s: step counters %ld / %ld", what,
                   e.st.step, g.st.step);
    }
    TEST_CHECK(hpff_stage_graphs_ready(&g.st) && !g.st.graph.failed, "%s: no graph was recorded", method);
    printf("%s: %d modules, %d steps bitwise equal with and without the graph (final loss %.6f)\n", method,
           M, STEPS + 1, g.stats.final_loss);
    stepf_side_free(&e);
    stepf_side_free(&g);
    free(img);
}

int main(void) {
    if (hpff_cuda_device_count() == 0) {
        const char *req = getenv("HPFF_REQUIRE_GPU");
        int required = req && req[0] && strcmp(req, "0") != 0;
        printf("test_graph_gpu: no CUDA device; %s\n", required ? "FAIL (HPFF_REQUIRE_GPU is set)" : "skipped");
        return required ? 1 : 77;
    }
    hpff_backend *gpu = hpff_backend_cuda_create(0, 1);
    if (!gpu) {
        fprintf(stderr, "FAIL: a CUDA device is present but the CUDA backend could not start\n");
        return 1;
    }
    graph_case("dgl", gpu);
    graph_case("infopro", gpu);
    hpff_backend_destroy(gpu);
    return hpff_test_summary("test_graph_gpu");
}
