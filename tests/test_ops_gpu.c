// test_ops_gpu.c — every CUDA backend op against the CPU backend on random inputs of odd shapes.
// Each device output lives inside guard values (checked after copying back); beta = 0 outputs
// start as NaN (which must not leak), beta = 1 and accumulating outputs start from random priors
// that both backends see. Runs twice: strict fp32 (tolerance 1e-5) and TF32 (1e-2 for the
// cuDNN/cuBLAS ops). Exits 77 (ctest: skipped) when no CUDA device is present.
#include <stdio.h>
#include <stdlib.h>
#include "backend.h"
#include "cuda_backend.h"
#include "test_util.h"

static hpff_backend *g_cpu, *g_gpu;
static double g_tol = 1e-5;      // element-wise, batch norm, pooling, resize, losses
static double g_tol_mm = 1e-5;   // convolution and linear (1e-2 under TF32)
static const char *g_mode = "fp32";

// ---- host helpers ----

static float *h_rand(size_t n, float lo, float hi, uint64_t seed) {
    float *p = (float *)malloc((n ? n : 1) * sizeof(float));
    test_fill_uniform(p, n, lo, hi, seed);
    return p;
}
static float *h_copy(const float *x, size_t n) {
    float *p = (float *)malloc((n ? n : 1) * sizeof(float));
    memcpy(p, x, n * sizeof(float));
    return p;
}
static float *h_nan(size_t n) {
    float *p = (float *)malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}

// ---- guarded device buffers: TEST_GUARD floats of TEST_GUARD_VALUE on both sides ----

typedef struct dbuf {
    float *base, *d;   // allocation, and its body (base + TEST_GUARD)
    size_t n;
} dbuf;

// Uploads `host` (n floats; NaN when host is NULL) between guard regions.
static dbuf dev_put(const float *host, size_t n) {
    size_t tot = n + 2 * TEST_GUARD;
    float *stage = (float *)malloc(tot * sizeof(float));
    for (size_t i = 0; i < tot; i++) stage[i] = TEST_GUARD_VALUE;
    for (size_t i = 0; i < n; i++) stage[TEST_GUARD + i] = host ? host[i] : NAN;
    dbuf b;
    b.base = (float *)g_gpu->alloc(g_gpu, tot * sizeof(float));
    b.d = b.base + TEST_GUARD;
    b.n = n;
    g_gpu->to_device(g_gpu, b.base, stage, tot * sizeof(float));
    free(stage);
    return b;
}

static void dev_free(dbuf b) { g_gpu->free(g_gpu, b.base); }

// Compares the device body with `ref` (a CPU-backend result) and checks the guards; the tolerance
// is |got - ref| <= tol*max|ref| + tol*|ref|.
static void dev_check(const char *tag, const char *what, dbuf b, const float *ref, double tol) {
    size_t tot = b.n + 2 * TEST_GUARD;
    float *stage = (float *)malloc(tot * sizeof(float));
    g_gpu->to_host(g_gpu, stage, b.base, tot * sizeof(float));
    double amax = 0.0;
    for (size_t i = 0; i < b.n; i++) amax = fabs(ref[i]) > amax ? fabs(ref[i]) : amax;
    char name[256];
    snprintf(name, sizeof name, "[%s] %s %s", g_mode, tag, what);
    test_close(name, stage + TEST_GUARD, ref, b.n, tol * (amax > 0 ? amax : 1.0), tol);
    test_guard_ok(name, stage + TEST_GUARD, b.n);
    free(stage);
}

// ---- convolution ----

typedef struct conv_case { int n, ci, h, w, co, kh, kw, sh, sw, ph, pw, g, bias; } conv_case;

static hpff_conv_desc conv_desc(const conv_case *c, int n) {
    hpff_conv_desc d = {n, c->ci, c->h, c->w, c->co, 0, 0, c->kh, c->kw, c->sh, c->sw, c->ph, c->pw, c->g};
    d.h_out = (c->h + 2 * c->ph - c->kh) / c->sh + 1;
    d.w_out = (c->w + 2 * c->pw - c->kw) / c->sw + 1;
    return d;
}

// One shape through all three directions. `gws` is the device workspace sized for the case.
static void conv_run(const char *tag, const hpff_conv_desc *d, int bias, void *gws, uint64_t seed) {
    size_t nx = (size_t)d->n * d->c_in * d->h_in * d->w_in, ny = (size_t)d->n * d->c_out * d->h_out * d->w_out;
    size_t nw = (size_t)d->c_out * (d->c_in / d->groups) * d->kh * d->kw, nb = (size_t)d->c_out;
    float *x = h_rand(nx, -1, 1, seed), *w = h_rand(nw, -1, 1, seed + 1), *b = h_rand(nb, -1, 1, seed + 2);
    float *dy = h_rand(ny, -1, 1, seed + 3), *dxp = h_rand(nx, -1, 1, seed + 4);
    float *dwp = h_rand(nw, -1, 1, seed + 5), *dbp = h_rand(nb, -1, 1, seed + 6);
    size_t cws = g_cpu->conv_workspace(g_cpu, d);
    void *cw = malloc(cws ? cws : 1);
    float *y = h_nan(ny), *dx0 = h_nan(nx), *dx1 = h_copy(dxp, nx), *dw = h_copy(dwp, nw), *db = h_copy(dbp, nb);
    g_cpu->conv_fwd(g_cpu, d, x, w, bias ? b : NULL, y, cw);
    g_cpu->conv_bwd_data(g_cpu, d, w, dy, dx0, 0.0f, cw);
    g_cpu->conv_bwd_data(g_cpu, d, w, dy, dx1, 1.0f, cw);
    g_cpu->conv_bwd_filter(g_cpu, d, x, dy, dw, bias ? db : NULL, cw);

    dbuf gx = dev_put(x, nx), gw = dev_put(w, nw), gb = dev_put(b, nb), gdy = dev_put(dy, ny);
    dbuf gy = dev_put(NULL, ny), gdx0 = dev_put(NULL, nx), gdx1 = dev_put(dxp, nx);
    dbuf gdw = dev_put(dwp, nw), gdb = dev_put(dbp, nb);
    g_gpu->conv_fwd(g_gpu, d, gx.d, gw.d, bias ? gb.d : NULL, gy.d, gws);
    g_gpu->conv_bwd_data(g_gpu, d, gw.d, gdy.d, gdx0.d, 0.0f, gws);
    g_gpu->conv_bwd_data(g_gpu, d, gw.d, gdy.d, gdx1.d, 1.0f, gws);
    g_gpu->conv_bwd_filter(g_gpu, d, gx.d, gdy.d, gdw.d, bias ? gdb.d : NULL, gws);
    dev_check(tag, "fwd", gy, y, g_tol_mm);
    dev_check(tag, "bwd_data beta=0", gdx0, dx0, g_tol_mm);
    dev_check(tag, "bwd_data beta=1", gdx1, dx1, g_tol_mm);
    dev_check(tag, "bwd_filter dw +=", gdw, dw, g_tol_mm);
    dev_check(tag, bias ? "bwd_filter db +=" : "db untouched", gdb, db, g_tol_mm);

    dev_free(gx); dev_free(gw); dev_free(gb); dev_free(gdy); dev_free(gy); dev_free(gdx0);
    dev_free(gdx1); dev_free(gdw); dev_free(gdb);
    free(x); free(w); free(b); free(dy); free(dxp); free(dwp); free(dbp); free(cw); free(y);
    free(dx0); free(dx1); free(dw); free(db);
}

static void test_conv(const conv_case *c, uint64_t seed) {
    hpff_conv_desc d = conv_desc(c, c->n);
    char tag[160];
    snprintf(tag, sizeof tag, "conv n%d %d->%d %dx%d k%dx%d s%dx%d p%dx%d g%d%s", c->n, c->ci, c->co, c->h,
             c->w, c->kh, c->kw, c->sh, c->sw, c->ph, c->pw, c->g, c->bias ? " bias" : "");
    size_t wsb = g_gpu->conv_workspace(g_gpu, &d);
    TEST_CHECK(g_gpu->conv_workspace(g_gpu, &d) == wsb, "%s: conv_workspace not stable", tag);
    void *gws = wsb ? g_gpu->alloc(g_gpu, wsb) : NULL;
    conv_run(tag, &d, c->bias, gws, seed);
    if (c->n > 1) {   // a smaller batch never sized by conv_workspace must fit the same buffer
        hpff_conv_desc d1 = conv_desc(c, c->n - 1);
        strncat(tag, " (batch-1, unsized)", sizeof tag - strlen(tag) - 1);
        conv_run(tag, &d1, c->bias, gws, seed + 50);
    }
    if (gws) g_gpu->free(g_gpu, gws);
}

static void test_convs(void) {
    static const conv_case cases[] = {
        {3, 5, 7, 9, 7, 3, 3, 1, 1, 1, 1, 1, 1},    // 3x3 pad 1, bias
        {3, 4, 7, 9, 6, 3, 3, 2, 2, 1, 1, 2, 0},    // stride 2, groups 2
        {2, 8, 9, 7, 4, 3, 3, 2, 2, 2, 2, 4, 1},    // groups 4, pad 2
        {3, 5, 7, 9, 7, 1, 1, 1, 1, 0, 0, 1, 0},    // 1x1
        {3, 6, 8, 7, 10, 1, 1, 2, 2, 0, 0, 2, 1},   // 1x1 stride 2 (projection), groups
        {2, 3, 11, 10, 4, 5, 3, 3, 2, 2, 0, 1, 1},  // non-square kernel, stride and pad
        {3, 6, 5, 6, 6, 3, 3, 1, 1, 0, 0, 6, 0},    // depthwise
        {1, 3, 19, 17, 5, 7, 7, 2, 2, 3, 3, 1, 0},  // ImageNet-stem-like 7x7/2
        {8, 16, 16, 16, 32, 3, 3, 2, 2, 1, 1, 1, 0},
        {4, 32, 8, 8, 32, 3, 3, 1, 1, 1, 1, 8, 0},  // ResNeXt-like grouped 3x3
        {6, 32, 12, 12, 16, 3, 3, 1, 1, 1, 1, 1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) test_conv(&cases[i], 100 + 10 * i);
}

// ---- batch norm ----

static void test_bn(int n, int c, int hw, float momentum, float eps, uint64_t seed) {
    char tag[96];
    snprintf(tag, sizeof tag, "bn n%d c%d hw%d", n, c, hw);
    size_t nx = (size_t)n * c * hw, nc = (size_t)c;
    float *x = h_rand(nx, -1, 1, seed);
    for (size_t i = 0; i < nx; i++) x[i] = 3.0f + 1.5f * x[i];   // mean far from 0
    float *g = h_rand(nc, 0.5f, 1.5f, seed + 1), *b = h_rand(nc, -0.5f, 0.5f, seed + 2);
    float *rm0 = h_rand(nc, -1, 1, seed + 3), *rv0 = h_rand(nc, 0.5f, 2, seed + 4);
    float *dy = h_rand(nx, -1, 1, seed + 5), *dxp = h_rand(nx, -1, 1, seed + 6);
    float *dgp = h_rand(nc, -1, 1, seed + 7), *dbp = h_rand(nc, -1, 1, seed + 8);
    float *y = h_nan(nx), *ye = h_nan(nx), *sm = h_nan(nc), *si = h_nan(nc);
    float *rm = h_copy(rm0, nc), *rv = h_copy(rv0, nc);
    float *dx0 = h_nan(nx), *dx1 = h_copy(dxp, nx), *dg = h_copy(dgp, nc), *db = h_copy(dbp, nc);
    g_cpu->bn_fwd_train(g_cpu, n, c, hw, x, g, b, y, rm, rv, momentum, eps, sm, si);
    g_cpu->bn_fwd_eval(g_cpu, n, c, hw, x, g, b, ye, rm0, rv0, eps);
    g_cpu->bn_bwd(g_cpu, n, c, hw, x, dy, g, sm, si, dx0, 0.0f, dg, db);
    g_cpu->bn_bwd(g_cpu, n, c, hw, x, dy, g, sm, si, dx1, 1.0f, NULL, NULL);
    g_cpu->bn_bwd(g_cpu, n, c, hw, x, dy, g, sm, si, NULL, 0.0f, dg, db);   // params twice

    dbuf gx = dev_put(x, nx), gg = dev_put(g, nc), gb = dev_put(b, nc), gdy = dev_put(dy, ny_dummy(nx));
    (void)0;
    free(x);
    (void)gx; (void)gg; (void)gb; (void)gdy;
}
