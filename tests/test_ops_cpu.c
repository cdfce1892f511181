// test_ops_cpu.c — every CPU backend op against the naive double references of ops_ref.h
// (ops_ref_backend.h), through the op suite (ops_suite.h: one case table, guard values around
// every output, NaN-prefilled beta = 0 outputs, random priors for beta = 1 and +=), with each
// check's own tolerance; then what only the CPU backend promises: the fused BN+ReLU equals BN
// then ReLU bit for bit, max pooling propagates NaN, the stat block accumulates exactly.
#include <stdio.h>
#include "backend.h"
#include "ops_ref_backend.h"
#include "ops_suite.h"
#include "test_util.h"

static hpff_backend *g_be;

// BN with a fused ReLU (relu = 1 / relu_y) gives bitwise what BN followed by the separate ReLU
// ops gives: train and eval outputs, running statistics, and the backward of both.
static void test_bn_relu_fused(const char *tag, int n, int c, int hw, const float *x, const float *g,
                               const float *b, const float *dy, float momentum, float eps) {
    size_t nx = (size_t)n * c * hw, nc = (size_t)c;
    float *ya = calloc(nx, sizeof(float)), *yb = calloc(nx, sizeof(float));
    float *st = calloc(8 * nc, sizeof(float));   // rm, rv, sm, si for each side
    float *ga = calloc(nx, sizeof(float)), *gb = calloc(nx, sizeof(float)), *r = calloc(nx, sizeof(float));
    float *pa = calloc(4 * nc, sizeof(float)), *pb = pa + 2 * nc;   // dgamma | dbeta per side
    for (size_t k = 0; k < nc; k++) st[nc + k] = st[5 * nc + k] = 1.f;
    g_be->bn_fwd_train(g_be, n, c, hw, x, g, b, ya, st, st + nc, momentum, eps, st + 2 * nc, st + 3 * nc, 0);
    g_be->relu_fwd(g_be, ya, ya, nx);
    g_be->bn_fwd_train(g_be, n, c, hw, x, g, b, yb, st + 4 * nc, st + 5 * nc, momentum, eps, st + 6 * nc,
                       st + 7 * nc, 1);
    int same = memcmp(ya, yb, nx * sizeof(float)) == 0 && memcmp(st, st + 4 * nc, 4 * nc * sizeof(float)) == 0;
    TEST_CHECK(same, "%s: fused BN+ReLU forward (train) differs from BN then ReLU", tag);
    size_t zeros = 0;
    for (size_t k = 0; k < nx; k++) zeros += yb[k] == 0.f;
    TEST_CHECK(zeros > 0 && zeros < nx, "%s: the ReLU clipped %zu of %zu values (the test needs some)", tag,
               zeros, nx);
    g_be->relu_bwd(g_be, r, ya, dy, nx, 0.f);
    g_be->bn_bwd(g_be, n, c, hw, x, r, g, st + 2 * nc, st + 3 * nc, NULL, ga, 0.f, pa, pa + nc);
    g_be->bn_bwd(g_be, n, c, hw, x, dy, g, st + 6 * nc, st + 7 * nc, yb, gb, 0.f, pb, pb + nc);
    same = memcmp(ga, gb, nx * sizeof(float)) == 0 && memcmp(pa, pb, 2 * nc * sizeof(float)) == 0;
    TEST_CHECK(same, "%s: fused BN+ReLU backward differs from ReLU then BN backward", tag);
    g_be->bn_fwd_eval(g_be, n, c, hw, x, g, b, ya, st, st + nc, eps, 0);
    g_be->relu_fwd(g_be, ya, ya, nx);
    g_be->bn_fwd_eval(g_be, n, c, hw, x, g, b, yb, st, st + nc, eps, 1);
    TEST_CHECK(memcmp(ya, yb, nx * sizeof(float)) == 0, "%s: fused BN+ReLU forward (eval) differs", tag);
    free(ya); free(yb); free(st); free(ga); free(gb); free(r); free(pa);
}

// The fused forms on inputs like ops_suite's batch-norm cases.
static void test_bn_fused(int n, int c, int hw, float momentum, float eps, uint64_t seed) {
    char tag[96];
    snprintf(tag, sizeof tag, "bn n%d c%d hw%d m%g", n, c, hw, momentum);
    size_t nx = (size_t)n * c * hw, nc = (size_t)c;
    float *x = ops_rand(nx, -1, 1, seed);
    for (size_t i = 0; i < nx; i++) x[i] = 3.0f + 1.5f * x[i];
    float *g = ops_rand(nc, 0.5f, 1.5f, seed + 1), *b = ops_rand(nc, -0.5f, 0.5f, seed + 2);
    float *dy = ops_rand(nx, -1, 1, seed + 5);
    test_bn_relu_fused(tag, n, c, hw, x, g, b, dy, momentum, eps);
    free(x); free(g); free(b); free(dy);
}

// Max pooling propagates NaN (PyTorch): a window holding a NaN yields NaN.
static void test_maxpool_nan(void) {
    hpff_pool_desc d = {1, 1, 4, 4, 2, 2, 2, 2, 2, 2, 0, 0};
    float x[16], y[4];
    test_fill_uniform(x, 16, -1, 1, 351);
    x[5] = NAN;   // window (0, 0)
    g_be->maxpool_fwd(g_be, &d, x, y);
    TEST_CHECK(isnan(y[0]) && !isnan(y[1]) && !isnan(y[2]) && !isnan(y[3]),
               "maxpool NaN: got %g %g %g %g", y[0], y[1], y[2], y[3]);
}

// The stat block accumulates: a second call without gradient adds 0.5 * loss and the hits
// again, exactly; a call without a stat block still writes the gradient.
static void test_xent_accumulate(void) {
    const int n = 6, k = 7;
    int32_t lab[6] = {0, 1, 2, 3, 4, 5};
    float *z = ops_rand((size_t)n * k, -3, 3, 1201), *dz = ops_nan((size_t)n * k), *dz2 = ops_nan((size_t)n * k);
    float stat[HPFF_STAT_FLOATS] = {0};
    g_be->softmax_xent(g_be, n, k, z, lab, 0.7f, dz, stat, 1.f);
    float got = stat[HPFF_STAT_LOSS], want2 = got + 0.5f * got, c1 = stat[HPFF_STAT_TOP1], c5 = stat[HPFF_STAT_TOP5];
    g_be->softmax_xent(g_be, n, k, z, lab, 0.7f, NULL, stat, 0.5f);
    TEST_CHECK(stat[HPFF_STAT_LOSS] == want2 && stat[HPFF_STAT_TOP1] == 2 * c1 && stat[HPFF_STAT_TOP5] == 2 * c5,
               "accumulation gave loss %g hits %g/%g (want %g, %g/%g)", stat[HPFF_STAT_LOSS], stat[HPFF_STAT_TOP1],
               stat[HPFF_STAT_TOP5], want2, 2 * c1, 2 * c5);
    g_be->softmax_xent(g_be, n, k, z, lab, 0.7f, dz2, NULL, 1.f);   // no stat block: gradient only
    TEST_CHECK(memcmp(dz, dz2, (size_t)n * k * sizeof(float)) == 0, "dlogits without a stat block differ");
    free(z); free(dz); free(dz2);
}

// Non-finite logits are wrong answers (issue 11): NaN compares false and would rank first.
static void test_xent_nonfinite(void) {
    const int n = 4, k = 3;
    int32_t lab[4] = {0, 1, 2, 0};
    float z[12] = {NAN, NAN, NAN,  0, INFINITY, 0,  1, 2, NAN,  5, -INFINITY, 0};
    float stat[HPFF_STAT_FLOATS] = {0};
    g_be->softmax_xent(g_be, n, k, z, lab, 1.f, NULL, stat, 1.f);
    TEST_CHECK(stat[HPFF_STAT_TOP1] == 0 && stat[HPFF_STAT_TOP5] == 0 && isnan(stat[HPFF_STAT_LOSS]),
               "non-finite rows counted %g / %g right, loss %g (want 0 / 0, NaN)", stat[HPFF_STAT_TOP1],
               stat[HPFF_STAT_TOP5], stat[HPFF_STAT_LOSS]);
    float ok[3] = {2, 1, 0}, st2[HPFF_STAT_FLOATS] = {0};
    g_be->softmax_xent(g_be, 1, k, ok, lab, 1.f, NULL, st2, 1.f);
    TEST_CHECK(st2[HPFF_STAT_TOP1] == 1 && isfinite(st2[HPFF_STAT_LOSS]), "a finite right row: %g hits", st2[HPFF_STAT_TOP1]);
}

static void test_memory(void) {
    const size_t bytes = 4099;
    unsigned char *a = g_be->alloc(g_be, bytes), *b = g_be->alloc(g_be, bytes);
    int zero = 1;
    for (size_t i = 0; i < bytes; i++) zero &= a[i] == 0;
    TEST_CHECK(zero, "alloc is not zero-filled");
    TEST_CHECK(((uintptr_t)a & 15) == 0, "alloc is not 16-byte aligned");
    unsigned char *h = malloc(bytes), *h2 = malloc(bytes);
    for (size_t i = 0; i < bytes; i++) h[i] = (unsigned char)(i * 7 + 3);
    g_be->to_device(g_be, a, h, bytes);
    g_be->copy(g_be, b, a, bytes);
    g_be->sync(g_be);
    g_be->to_host(g_be, h2, b, bytes);
    TEST_CHECK(memcmp(h, h2, bytes) == 0, "to_device / copy / to_host round trip differs");
    g_be->free(g_be, a);
    g_be->free(g_be, b);
    g_be->set_threads(g_be, 1);
    free(h);
    free(h2);
}

static void test_table(void) {
    TEST_CHECK(g_be != NULL && strcmp(g_be->name, "cpu") == 0, "backend name");
}

int main(void) {
    g_be = hpff_backend_cpu_create();
    hpff_backend *ref = ops_ref_backend_create();
    test_table();
    test_memory();
    ops_driver drv = {"cpu", g_be, ref, 0, 0, 0, 0, 0};
    ops_suite_run(&drv);
    test_bn_fused(3, 5, 63, 0.1f, 1e-5f, 401);
    test_bn_fused(7, 3, 1, 0.25f, 1e-5f, 411);   // BatchNorm1d
    test_bn_fused(1, 4, 10, 0.1f, 1e-3f, 421);
    test_bn_fused(2, 3, 1024, 0.1f, 1e-5f, 431);
    test_maxpool_nan();
    test_xent_accumulate();
    test_xent_nonfinite();
    hpff_backend_destroy(ref);
    hpff_backend_destroy(g_be);
    return hpff_test_summary("test_ops_cpu");
}
