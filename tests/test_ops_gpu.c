// test_ops_gpu.c — every CUDA backend op against the CPU backend on the op suite's cases
// (ops_suite.h: one case table, guard values around every device output, NaN-prefilled beta = 0
// outputs, random priors both backends see), with |got - want| <= tol*max|want| + tol*|want|.
// Runs twice: strict fp32 (tolerance 1e-5) and TF32 (1e-2 for the cuDNN/cuBLAS ops). Then what
// only the CUDA backend promises: bad labels are counted (not fatal), the loss without a
// gradient is the same number, memory accounting. Exits 77 (ctest: skipped) when no CUDA device
// is present, unless HPFF_REQUIRE_GPU=1 (tests/gpu/run.sh), which makes that a failure.
#include <stdio.h>
#include <stdlib.h>
#include "backend.h"
#include "cuda_backend.h"
#include "ops_suite.h"
#include "test_util.h"

static hpff_backend *g_cpu, *g_gpu;
static ops_driver g_drv;

// The loss without a gradient equals the loss with one; a label out of range is counted once.
static void test_xent_stats(void) {
    const int n = 6, k = 7;
    int32_t lab[6] = {0, 1, 2, 3, 4, 5};
    float *z = ops_rand((size_t)n * k, -3, 3, 1201);
    float gs[HPFF_STAT_FLOATS], gs2[HPFF_STAT_FLOATS];
    ops_buf gz = ops_put(&g_drv, z, (size_t)n * k), gdz = ops_put(&g_drv, NULL, (size_t)n * k);
    int32_t *glab = (int32_t *)g_gpu->alloc(g_gpu, sizeof lab);
    g_gpu->to_device(g_gpu, glab, lab, sizeof lab);
    OPS_STAT_RUN(g_gpu, gs, g_gpu->softmax_xent(g_gpu, n, k, gz.d, glab, 0.7f, gdz.d, stat_d, 1.f));
    OPS_STAT_RUN(g_gpu, gs2, g_gpu->softmax_xent(g_gpu, n, k, gz.d, glab, 0.7f, NULL, stat_d, 1.f));
    TEST_CHECK(gs2[HPFF_STAT_LOSS] == gs[HPFF_STAT_LOSS], "[%s] loss without gradient differs (%.9g vs %.9g)",
               g_drv.name, gs2[HPFF_STAT_LOSS], gs[HPFF_STAT_LOSS]);
    lab[n - 1] = k;   // out of range: counted in the stat block (the reader refuses the step)
    g_gpu->to_device(g_gpu, glab, lab, sizeof lab);
    OPS_STAT_RUN(g_gpu, gs2, g_gpu->softmax_xent(g_gpu, n, k, gz.d, glab, 0.7f, NULL, stat_d, 1.f));
    TEST_CHECK(gs2[HPFF_STAT_BAD_LABELS] == 1.f, "[%s] bad label counted %g times (want 1)", g_drv.name,
               gs2[HPFF_STAT_BAD_LABELS]);
    g_gpu->free(g_gpu, glab);
    ops_drop(&g_drv, gz); ops_drop(&g_drv, gdz);
    free(z);
}

// Non-finite logits count as wrong, as on the CPU (issue 11).
static void test_xent_nonfinite(void) {
    const int n = 4, k = 3;
    int32_t lab[4] = {0, 1, 2, 0};
    float z[12] = {NAN, NAN, NAN, 0, INFINITY, 0, 1, 2, NAN, 5, -INFINITY, 0}, gs[HPFF_STAT_FLOATS];
    ops_buf gz = ops_put(&g_drv, z, (size_t)n * k);
    int32_t *glab = (int32_t *)g_gpu->alloc(g_gpu, sizeof lab);
    g_gpu->to_device(g_gpu, glab, lab, sizeof lab);
    OPS_STAT_RUN(g_gpu, gs, g_gpu->softmax_xent(g_gpu, n, k, gz.d, glab, 1.f, NULL, stat_d, 1.f));
    TEST_CHECK(gs[HPFF_STAT_TOP1] == 0 && gs[HPFF_STAT_TOP5] == 0 && isnan(gs[HPFF_STAT_LOSS]),
               "[%s] non-finite rows counted %g / %g right, loss %g (want 0 / 0, NaN)", g_drv.name,
               gs[HPFF_STAT_TOP1], gs[HPFF_STAT_TOP5], gs[HPFF_STAT_LOSS]);
    g_gpu->free(g_gpu, glab);
    ops_drop(&g_drv, gz);
}

// Accumulation with a scale: twice at 0.5 gives the loss again.
static void test_bce_accumulate(void) {
    const size_t n = 517;
    float *p = ops_rand(n, 0.01f, 0.99f, 601), *t = ops_rand(n, 0, 1, 602);
    float gs[HPFF_STAT_FLOATS], gs2[HPFF_STAT_FLOATS];
    ops_buf gp = ops_put(&g_drv, p, n), gt = ops_put(&g_drv, t, n);
    OPS_STAT_RUN(g_gpu, gs, g_gpu->bce(g_gpu, n, gp.d, gt.d, 1.5f, NULL, stat_d, 1.f));
    OPS_STAT_RUN(g_gpu, gs2, g_gpu->bce(g_gpu, n, gp.d, gt.d, 1.5f, NULL, stat_d, 0.5f);
                 g_gpu->bce(g_gpu, n, gp.d, gt.d, 1.5f, NULL, stat_d, 0.5f));
    char name[64];
    snprintf(name, sizeof name, "[%s] bce loss accumulated 0.5 + 0.5", g_drv.name);
    test_close(name, &gs2[HPFF_STAT_LOSS], &gs[HPFF_STAT_LOSS], 1, 1e-6 * fabs(gs[HPFF_STAT_LOSS]), 1e-7);
    ops_drop(&g_drv, gp); ops_drop(&g_drv, gt);
    free(p); free(t);
}

static void test_memory(void) {
    const size_t bytes = 4099;
    size_t peak0 = hpff_cuda_peak_bytes(g_gpu);
    unsigned char *a = g_gpu->alloc(g_gpu, bytes), *b = g_gpu->alloc(g_gpu, bytes);
    TEST_CHECK(hpff_cuda_peak_bytes(g_gpu) >= 2 * bytes && hpff_cuda_peak_bytes(g_gpu) >= peak0,
               "peak bytes %zu after two allocations of %zu", hpff_cuda_peak_bytes(g_gpu), bytes);
    unsigned char *h = malloc(bytes), *h2 = malloc(bytes);
    g_gpu->to_host(g_gpu, h2, a, bytes);
    int zero = 1;
    for (size_t i = 0; i < bytes; i++) zero &= h2[i] == 0;
    TEST_CHECK(zero, "alloc is not zero-filled");
    TEST_CHECK(((uintptr_t)a & 255) == 0, "alloc is not 256-byte aligned");
    for (size_t i = 0; i < bytes; i++) h[i] = (unsigned char)(i * 7 + 3);
    g_gpu->to_device(g_gpu, a, h, bytes);
    g_gpu->copy(g_gpu, b, a, bytes);
    g_gpu->sync(g_gpu);
    g_gpu->to_host(g_gpu, h2, b, bytes);
    TEST_CHECK(memcmp(h, h2, bytes) == 0, "to_device / copy / to_host round trip differs");
    g_gpu->free(g_gpu, a);
    g_gpu->free(g_gpu, b);
    g_gpu->free(g_gpu, NULL);
    g_gpu->set_threads(g_gpu, 4);
    size_t f = 0, t = 0;
    hpff_cuda_mem_info(&f, &t);
    TEST_CHECK(t > 0 && f <= t, "cudaMemGetInfo: free %zu total %zu", f, t);
    TEST_CHECK(hpff_cuda_stream(g_gpu) != NULL, "no compute stream");
    free(h);
    free(h2);
}

static void test_table(void) {
    TEST_CHECK(g_gpu != NULL && strcmp(g_gpu->name, "cuda") == 0, "backend name");
}

static void run_all(void) {
    test_table();
    test_memory();
    ops_suite_run(&g_drv);
    test_xent_stats();
    test_xent_nonfinite();
    test_bce_accumulate();
}

int main(void) {
    if (hpff_cuda_device_count() == 0) {
        const char *req = getenv("HPFF_REQUIRE_GPU");   // set on the GPU machine: no skipping
        int required = req && req[0] && strcmp(req, "0") != 0;
        printf("test_ops_gpu: no CUDA device; %s\n", required ? "FAIL (HPFF_REQUIRE_GPU is set)" : "skipped");
        return required ? 1 : 77;
    }
    setenv("HPFF_SYNC_CHECK", "1", 0);   // an asynchronous fault names its kernel
    g_cpu = hpff_backend_cpu_create();
    for (int tf32 = 0; tf32 <= 1; tf32++) {
        g_gpu = hpff_backend_cuda_create(0, tf32);
        if (!g_gpu) {
            fprintf(stderr, "FAIL: a CUDA device is present but the CUDA backend could not start\n");
            return 1;
        }
        // As a trainer does: one workspace of the largest size conv_workspace has reported.
        g_drv = (ops_driver){tf32 ? "tf32" : "fp32", g_gpu, g_cpu, 1, 1e-5, tf32 ? 1e-2 : 1e-5, 1, 0};
        run_all();
        printf("test_ops_gpu [%s]: peak %zu bytes through alloc\n", g_drv.name, hpff_cuda_peak_bytes(g_gpu));
        hpff_backend_destroy(g_gpu);
    }
    hpff_backend_destroy(g_cpu);
    return hpff_test_summary("test_ops_gpu");
}
