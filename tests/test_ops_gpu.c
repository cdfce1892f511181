// test_ops_gpu.c — every CUDA backend op against the CPU backend on random inputs of odd shapes.
// Each device output lives inside guard values (checked after copying back); beta = 0 outputs
// start as NaN (which must not leak), beta = 1 and accumulating outputs start from random priors
// that both backends see. Runs twice: strict fp32 (tolerance 1e-5) and TF32 (1e-2 for the
// cuDNN/cuBLAS ops). Exits 77 (ctest: skipped) when no CUDA device is present, unless
// HPFF_REQUIRE_GPU=1 (tests/gpu/run.sh), which makes that a failure.
#include <stdio.h>
#include <stdlib.h>
#include "backend.h"
#include "cuda_backend.h"
#include "test_util.h"

static hpff_backend *g_cpu, *g_gpu;
static double g_tol = 1e-5;      // element-wise, batch norm, pooling, resize, losses
static double g_tol_mm = 1e-5;   // convolution and linear (1e-2 under TF32)
static const char *g_mode = "fp32";
static size_t g_ws_max;          // largest conv_workspace answer of the current CUDA backend

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

// One shape through all three directions; `gws` holds the largest conv_workspace answer so far.
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
    if (wsb > g_ws_max) g_ws_max = wsb;
    // As a trainer does: one buffer of the largest size conv_workspace has reported.
    void *gws = g_ws_max ? g_gpu->alloc(g_gpu, g_ws_max) : NULL;
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

// relu = 1: the fused BN+ReLU forms (relu flag, relu_y = the forward's output) on both sides.
static void test_bn(int n, int c, int hw, float momentum, float eps, uint64_t seed, int relu) {
    char tag[96];
    snprintf(tag, sizeof tag, "bn%s n%d c%d hw%d", relu ? "+relu" : "", n, c, hw);
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
    g_cpu->bn_fwd_train(g_cpu, n, c, hw, x, g, b, y, rm, rv, momentum, eps, sm, si, relu);
    g_cpu->bn_fwd_eval(g_cpu, n, c, hw, x, g, b, ye, rm0, rv0, eps, relu);
    const float *ry = relu ? y : NULL;
    g_cpu->bn_bwd(g_cpu, n, c, hw, x, dy, g, sm, si, ry, dx0, 0.0f, dg, db);
    g_cpu->bn_bwd(g_cpu, n, c, hw, x, dy, g, sm, si, ry, dx1, 1.0f, NULL, NULL);
    g_cpu->bn_bwd(g_cpu, n, c, hw, x, dy, g, sm, si, ry, NULL, 0.0f, dg, db);   // params twice

    dbuf gx = dev_put(x, nx), gg = dev_put(g, nc), gb = dev_put(b, nc), gdy = dev_put(dy, nx);
    dbuf gy = dev_put(NULL, nx), gye = dev_put(NULL, nx), gsm = dev_put(NULL, nc), gsi = dev_put(NULL, nc);
    dbuf grm = dev_put(rm0, nc), grv = dev_put(rv0, nc), grm0 = dev_put(rm0, nc), grv0 = dev_put(rv0, nc);
    dbuf gdx0 = dev_put(NULL, nx), gdx1 = dev_put(dxp, nx), gdg = dev_put(dgp, nc), gdb = dev_put(dbp, nc);
    g_gpu->bn_fwd_train(g_gpu, n, c, hw, gx.d, gg.d, gb.d, gy.d, grm.d, grv.d, momentum, eps, gsm.d, gsi.d, relu);
    g_gpu->bn_fwd_eval(g_gpu, n, c, hw, gx.d, gg.d, gb.d, gye.d, grm0.d, grv0.d, eps, relu);
    // The GPU backward masks by the CPU's forward output (uploaded), so both sides clip alike
    // even where the two forwards round a value near zero differently.
    dbuf gry = dev_put(y, nx);
    const float *gr = relu ? gry.d : NULL;
    g_gpu->bn_bwd(g_gpu, n, c, hw, gx.d, gdy.d, gg.d, gsm.d, gsi.d, gr, gdx0.d, 0.0f, gdg.d, gdb.d);
    g_gpu->bn_bwd(g_gpu, n, c, hw, gx.d, gdy.d, gg.d, gsm.d, gsi.d, gr, gdx1.d, 1.0f, NULL, NULL);
    g_gpu->bn_bwd(g_gpu, n, c, hw, gx.d, gdy.d, gg.d, gsm.d, gsi.d, gr, NULL, 0.0f, gdg.d, gdb.d);
    dev_free(gry);
    dev_check(tag, "train y", gy, y, g_tol);
    dev_check(tag, "save_mean", gsm, sm, g_tol);
    dev_check(tag, "save_invstd", gsi, si, g_tol);
    dev_check(tag, "running_mean", grm, rm, g_tol);
    dev_check(tag, "running_var", grv, rv, g_tol);
    dev_check(tag, "eval y", gye, ye, g_tol);
    dev_check(tag, "bwd dx beta=0", gdx0, dx0, g_tol);
    dev_check(tag, "bwd dx beta=1", gdx1, dx1, g_tol);
    dev_check(tag, "bwd dgamma += (twice)", gdg, dg, g_tol);
    dev_check(tag, "bwd dbeta += (twice)", gdb, db, g_tol);

    dbuf all[] = {gx, gg, gb, gdy, gy, gye, gsm, gsi, grm, grv, grm0, grv0, gdx0, gdx1, gdg, gdb};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) dev_free(all[i]);
    float *hall[] = {x, g, b, rm0, rv0, dy, dxp, dgp, dbp, y, ye, sm, si, rm, rv, dx0, dx1, dg, db};
    for (size_t i = 0; i < sizeof hall / sizeof hall[0]; i++) free(hall[i]);
}

// ---- pooling ----

static void test_pool(int is_max, hpff_pool_desc d, uint64_t seed) {
    char tag[128];
    d.h_out = (d.h_in + 2 * d.ph - d.kh) / d.sh + 1;
    d.w_out = (d.w_in + 2 * d.pw - d.kw) / d.sw + 1;
    snprintf(tag, sizeof tag, "%s n%d c%d %dx%d k%dx%d s%dx%d p%dx%d", is_max ? "maxpool" : "avgpool", d.n,
             d.c, d.h_in, d.w_in, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw);
    size_t nx = (size_t)d.n * d.c * d.h_in * d.w_in, ny = (size_t)d.n * d.c * d.h_out * d.w_out;
    float *x = h_rand(nx, -1, 1, seed), *dy = h_rand(ny, -1, 1, seed + 1), *dxp = h_rand(nx, -1, 1, seed + 2);
    float *y = h_nan(ny), *dx0 = h_nan(nx), *dx1 = h_copy(dxp, nx);
    dbuf gx = dev_put(x, nx), gdy = dev_put(dy, ny), gy = dev_put(NULL, ny);
    dbuf gdx0 = dev_put(NULL, nx), gdx1 = dev_put(dxp, nx);
    if (is_max) {
        g_cpu->maxpool_fwd(g_cpu, &d, x, y);
        g_cpu->maxpool_bwd(g_cpu, &d, x, y, dy, dx0, 0.0f);
        g_cpu->maxpool_bwd(g_cpu, &d, x, y, dy, dx1, 1.0f);
        g_gpu->maxpool_fwd(g_gpu, &d, gx.d, gy.d);
        g_gpu->maxpool_bwd(g_gpu, &d, gx.d, gy.d, gdy.d, gdx0.d, 0.0f);
        g_gpu->maxpool_bwd(g_gpu, &d, gx.d, gy.d, gdy.d, gdx1.d, 1.0f);
    } else {
        g_cpu->avgpool_fwd(g_cpu, &d, x, y);
        g_cpu->avgpool_bwd(g_cpu, &d, dy, dx0, 0.0f);
        g_cpu->avgpool_bwd(g_cpu, &d, dy, dx1, 1.0f);
        g_gpu->avgpool_fwd(g_gpu, &d, gx.d, gy.d);
        g_gpu->avgpool_bwd(g_gpu, &d, gdy.d, gdx0.d, 0.0f);
        g_gpu->avgpool_bwd(g_gpu, &d, gdy.d, gdx1.d, 1.0f);
    }
    dev_check(tag, "fwd", gy, y, g_tol);
    dev_check(tag, "bwd beta=0", gdx0, dx0, g_tol);
    dev_check(tag, "bwd beta=1", gdx1, dx1, g_tol);
    dev_free(gx); dev_free(gdy); dev_free(gy); dev_free(gdx0); dev_free(gdx1);
    free(x); free(dy); free(dxp); free(y); free(dx0); free(dx1);
}

static void test_pools(void) {
    static const int cfg[][8] = {   // h, w, kh, kw, stride, ph, pw, max?
        {9, 7, 3, 3, 2, 1, 1, 1}, {7, 9, 2, 2, 2, 0, 0, 1}, {7, 9, 3, 3, 1, 1, 1, 1},
        {8, 11, 3, 2, 2, 1, 1, 1}, {56, 56, 3, 3, 2, 1, 1, 1}, {7, 9, 2, 2, 2, 0, 0, 0},
        {8, 7, 3, 3, 3, 1, 1, 0}, {9, 7, 3, 3, 2, 1, 0, 0}, {5, 5, 5, 5, 5, 2, 2, 0},
        {10, 9, 4, 3, 4, 2, 1, 0},
    };
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
        const int *q = cfg[i];
        hpff_pool_desc d = {3, 5, q[0], q[1], 0, 0, q[2], q[3], q[4], q[4], q[5], q[6]};
        test_pool(q[7], d, 300 + 10 * i);
    }
}

// ---- adaptive pooling, resize, patches ----

static void test_adaptive(int hi, int wi, int ho, int wo, uint64_t seed) {
    char tag[96];
    snprintf(tag, sizeof tag, "adaptive_avgpool %dx%d -> %dx%d", hi, wi, ho, wo);
    const int n = 2, c = 3;
    size_t nx = (size_t)n * c * hi * wi, ny = (size_t)n * c * ho * wo;
    float *x = h_rand(nx, -1, 1, seed), *dy = h_rand(ny, -1, 1, seed + 1), *dxp = h_rand(nx, -1, 1, seed + 2);
    float *y = h_nan(ny), *dx0 = h_nan(nx), *dx1 = h_copy(dxp, nx);
    g_cpu->adaptive_avgpool_fwd(g_cpu, n, c, hi, wi, ho, wo, x, y);
    g_cpu->adaptive_avgpool_bwd(g_cpu, n, c, hi, wi, ho, wo, dy, dx0, 0.0f);
    g_cpu->adaptive_avgpool_bwd(g_cpu, n, c, hi, wi, ho, wo, dy, dx1, 1.0f);
    dbuf gx = dev_put(x, nx), gdy = dev_put(dy, ny), gy = dev_put(NULL, ny);
    dbuf gdx0 = dev_put(NULL, nx), gdx1 = dev_put(dxp, nx);
    g_gpu->adaptive_avgpool_fwd(g_gpu, n, c, hi, wi, ho, wo, gx.d, gy.d);
    g_gpu->adaptive_avgpool_bwd(g_gpu, n, c, hi, wi, ho, wo, gdy.d, gdx0.d, 0.0f);
    g_gpu->adaptive_avgpool_bwd(g_gpu, n, c, hi, wi, ho, wo, gdy.d, gdx1.d, 1.0f);
    dev_check(tag, "fwd", gy, y, g_tol);
    dev_check(tag, "bwd beta=0", gdx0, dx0, g_tol);
    dev_check(tag, "bwd beta=1", gdx1, dx1, g_tol);
    dev_free(gx); dev_free(gdy); dev_free(gy); dev_free(gdx0); dev_free(gdx1);
    free(x); free(dy); free(dxp); free(y); free(dx0); free(dx1);
}

static void test_resize(int hi, int wi, int ho, int wo, uint64_t seed) {
    char tag[96];
    snprintf(tag, sizeof tag, "resize_bilinear %dx%d -> %dx%d", hi, wi, ho, wo);
    const int n = 2, c = 3;
    size_t nx = (size_t)n * c * hi * wi, ny = (size_t)n * c * ho * wo;
    float *x = h_rand(nx, -1, 1, seed), *dy = h_rand(ny, -1, 1, seed + 1), *dxp = h_rand(nx, -1, 1, seed + 2);
    float *y = h_nan(ny), *dx0 = h_nan(nx), *dx1 = h_copy(dxp, nx);
    g_cpu->resize_bilinear_fwd(g_cpu, n, c, hi, wi, ho, wo, x, y);
    g_cpu->resize_bilinear_bwd(g_cpu, n, c, hi, wi, ho, wo, dy, dx0, 0.0f);
    g_cpu->resize_bilinear_bwd(g_cpu, n, c, hi, wi, ho, wo, dy, dx1, 1.0f);
    dbuf gx = dev_put(x, nx), gdy = dev_put(dy, ny), gy = dev_put(NULL, ny);
    dbuf gdx0 = dev_put(NULL, nx), gdx1 = dev_put(dxp, nx);
    g_gpu->resize_bilinear_fwd(g_gpu, n, c, hi, wi, ho, wo, gx.d, gy.d);
    g_gpu->resize_bilinear_bwd(g_gpu, n, c, hi, wi, ho, wo, gdy.d, gdx0.d, 0.0f);
    g_gpu->resize_bilinear_bwd(g_gpu, n, c, hi, wi, ho, wo, gdy.d, gdx1.d, 1.0f);
    dev_check(tag, "fwd", gy, y, g_tol);
    dev_check(tag, "bwd beta=0", gdx0, dx0, g_tol);
    dev_check(tag, "bwd beta=1", gdx1, dx1, g_tol);
    dev_free(gx); dev_free(gdy); dev_free(gy); dev_free(gdx0); dev_free(gdx1);
    free(x); free(dy); free(dxp); free(y); free(dx0); free(dx1);
}

static void test_patch(int h, int w, int r0, int c0, int ph, int pw, uint64_t seed) {
    char tag[96];
    snprintf(tag, sizeof tag, "patch %dx%d [%d+%d, %d+%d]", h, w, r0, ph, c0, pw);
    const int n = 2, c = 3;
    size_t nx = (size_t)n * c * h * w, np = (size_t)n * c * ph * pw;
    float *x = h_rand(nx, -1, 1, seed), *dp = h_rand(np, -1, 1, seed + 1);
    float *dx0p = h_rand(nx, -7, -7, seed), *dxp = h_rand(nx, -1, 1, seed + 2);   // -7: must stay outside the window
    float *p = h_nan(np), *dx0 = h_copy(dx0p, nx), *dx1 = h_copy(dxp, nx);
    g_cpu->patch_extract(g_cpu, n, c, h, w, r0, c0, ph, pw, x, p);
    g_cpu->patch_scatter(g_cpu, n, c, h, w, r0, c0, ph, pw, dp, dx0, 0.0f);
    g_cpu->patch_scatter(g_cpu, n, c, h, w, r0, c0, ph, pw, dp, dx1, 1.0f);
    dbuf gx = dev_put(x, nx), gdp = dev_put(dp, np), gp = dev_put(NULL, np);
    dbuf gdx0 = dev_put(dx0p, nx), gdx1 = dev_put(dxp, nx);
    g_gpu->patch_extract(g_gpu, n, c, h, w, r0, c0, ph, pw, gx.d, gp.d);
    g_gpu->patch_scatter(g_gpu, n, c, h, w, r0, c0, ph, pw, gdp.d, gdx0.d, 0.0f);
    g_gpu->patch_scatter(g_gpu, n, c, h, w, r0, c0, ph, pw, gdp.d, gdx1.d, 1.0f);
    dev_check(tag, "extract", gp, p, 0.0);
    dev_check(tag, "scatter beta=0", gdx0, dx0, 0.0);
    dev_check(tag, "scatter beta=1", gdx1, dx1, g_tol);
    dev_free(gx); dev_free(gdp); dev_free(gp); dev_free(gdx0); dev_free(gdx1);
    free(x); free(dp); free(dx0p); free(dxp); free(p); free(dx0); free(dx1);
}

// ---- linear ----

static void test_linear(int n, int in, int out, int bias, uint64_t seed) {
    char tag[96];
    snprintf(tag, sizeof tag, "linear n%d %d->%d%s", n, in, out, bias ? " bias" : "");
    size_t nx = (size_t)n * in, ny = (size_t)n * out, nw = (size_t)out * in;
    float *x = h_rand(nx, -1, 1, seed), *w = h_rand(nw, -1, 1, seed + 1), *b = h_rand(out, -1, 1, seed + 2);
    float *dy = h_rand(ny, -1, 1, seed + 3), *dxp = h_rand(nx, -1, 1, seed + 4);
    float *dwp = h_rand(nw, -1, 1, seed + 5), *dbp = h_rand(out, -1, 1, seed + 6);
    float *y = h_nan(ny), *dx0 = h_nan(nx), *dx1 = h_copy(dxp, nx), *dw = h_copy(dwp, nw), *db = h_copy(dbp, out);
    g_cpu->linear_fwd(g_cpu, n, in, out, x, w, bias ? b : NULL, y);
    g_cpu->linear_bwd_data(g_cpu, n, in, out, w, dy, dx0, 0.0f);
    g_cpu->linear_bwd_data(g_cpu, n, in, out, w, dy, dx1, 1.0f);
    g_cpu->linear_bwd_weight(g_cpu, n, in, out, x, dy, dw, bias ? db : NULL);
    dbuf gx = dev_put(x, nx), gw = dev_put(w, nw), gb = dev_put(b, out), gdy = dev_put(dy, ny);
    dbuf gy = dev_put(NULL, ny), gdx0 = dev_put(NULL, nx), gdx1 = dev_put(dxp, nx);
    dbuf gdw = dev_put(dwp, nw), gdb = dev_put(dbp, out);
    g_gpu->linear_fwd(g_gpu, n, in, out, gx.d, gw.d, bias ? gb.d : NULL, gy.d);
    g_gpu->linear_bwd_data(g_gpu, n, in, out, gw.d, gdy.d, gdx0.d, 0.0f);
    g_gpu->linear_bwd_data(g_gpu, n, in, out, gw.d, gdy.d, gdx1.d, 1.0f);
    g_gpu->linear_bwd_weight(g_gpu, n, in, out, gx.d, gdy.d, gdw.d, bias ? gdb.d : NULL);
    dev_check(tag, "fwd", gy, y, g_tol_mm);
    dev_check(tag, "bwd_data beta=0", gdx0, dx0, g_tol_mm);
    dev_check(tag, "bwd_data beta=1", gdx1, dx1, g_tol_mm);
    dev_check(tag, "bwd_weight dw +=", gdw, dw, g_tol_mm);
    dev_check(tag, bias ? "bwd_weight db +=" : "db untouched", gdb, db, g_tol_mm);
    dbuf all[] = {gx, gw, gb, gdy, gy, gdx0, gdx1, gdw, gdb};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) dev_free(all[i]);
    float *hall[] = {x, w, b, dy, dxp, dwp, dbp, y, dx0, dx1, dw, db};
    for (size_t i = 0; i < sizeof hall / sizeof hall[0]; i++) free(hall[i]);
}

// ---- element-wise and optimizer ----

static void test_elementwise(void) {
    const size_t n = 70001;   // several blocks, odd tail
    float *x = h_rand(n, -2, 2, 501), *yv = h_rand(n, -2, 2, 502), *dy = h_rand(n, -1, 1, 503);
    float *prior = h_rand(n, -1, 1, 504);
    const float big[6] = {-100.0f, -30.0f, 0.0f, 30.0f, 100.0f, 1e-3f};
    memcpy(x, big, sizeof big);
    dbuf gx = dev_put(x, n), gyv = dev_put(yv, n), gdy = dev_put(dy, n), go = dev_put(NULL, n);
    float *o = h_nan(n), *r = h_nan(n);

    g_cpu->fill(g_cpu, o, 0.375f, n);
    g_gpu->fill(g_gpu, go.d, 0.375f, n);
    dev_check("fill", "", go, o, 0.0);
    memcpy(o, x, n * sizeof(float));
    g_cpu->scale(g_cpu, o, -1.25f, n);
    g_gpu->copy(g_gpu, go.d, gx.d, n * sizeof(float));
    g_gpu->scale(g_gpu, go.d, -1.25f, n);
    dev_check("scale", "", go, o, g_tol);
    memcpy(o, yv, n * sizeof(float));
    g_cpu->axpy(g_cpu, o, 0.5f, x, n);
    g_gpu->copy(g_gpu, go.d, gyv.d, n * sizeof(float));
    g_gpu->axpy(g_gpu, go.d, 0.5f, gx.d, n);
    dev_check("axpy", "", go, o, g_tol);
    g_cpu->add(g_cpu, o, x, yv, n);
    g_gpu->add(g_gpu, go.d, gx.d, gyv.d, n);
    dev_check("add", "", go, o, g_tol);

    float *y = h_nan(n);   // relu: forward, backward beta 0/1 and in place (dx == dy)
    dbuf gy = dev_put(NULL, n), gdx = dev_put(NULL, n), gdx1 = dev_put(prior, n);
    g_cpu->relu_fwd(g_cpu, y, x, n);
    g_gpu->relu_fwd(g_gpu, gy.d, gx.d, n);
    dev_check("relu_fwd", "", gy, y, 0.0);
    g_cpu->relu_bwd(g_cpu, r, y, dy, n, 0.0f);
    g_gpu->relu_bwd(g_gpu, gdx.d, gy.d, gdy.d, n, 0.0f);
    dev_check("relu_bwd", "beta=0", gdx, r, 0.0);
    g_gpu->copy(g_gpu, gdx.d, gdy.d, n * sizeof(float));
    g_gpu->relu_bwd(g_gpu, gdx.d, gy.d, gdx.d, n, 0.0f);
    dev_check("relu_bwd", "in place", gdx, r, 0.0);
    memcpy(o, prior, n * sizeof(float));
    g_cpu->relu_bwd(g_cpu, o, y, dy, n, 1.0f);
    g_gpu->relu_bwd(g_gpu, gdx1.d, gy.d, gdy.d, n, 1.0f);
    dev_check("relu_bwd", "beta=1", gdx1, o, g_tol);

    g_cpu->sigmoid_fwd(g_cpu, y, x, n);
    g_gpu->sigmoid_fwd(g_gpu, gy.d, gx.d, n);
    dev_check("sigmoid_fwd", "", gy, y, g_tol);
    g_gpu->to_device(g_gpu, gy.d, y, n * sizeof(float));   // same y for both backwards
    g_cpu->sigmoid_bwd(g_cpu, r, y, dy, n, 0.0f);
    g_gpu->sigmoid_bwd(g_gpu, gdx.d, gy.d, gdy.d, n, 0.0f);
    dev_check("sigmoid_bwd", "beta=0", gdx, r, g_tol);
    memcpy(o, prior, n * sizeof(float));
    g_gpu->to_device(g_gpu, gdx1.d, prior, n * sizeof(float));
    g_cpu->sigmoid_bwd(g_cpu, o, y, dy, n, 1.0f);
    g_gpu->sigmoid_bwd(g_gpu, gdx1.d, gy.d, gdy.d, n, 1.0f);
    dev_check("sigmoid_bwd", "beta=1", gdx1, o, g_tol);

    dbuf all[] = {gx, gyv, gdy, go, gy, gdx, gdx1};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) dev_free(all[i]);
    free(x); free(yv); free(dy); free(prior); free(o); free(r); free(y);
}

static void test_sgd(void) {
    const size_t n = 1037;
    float *p = h_rand(n, -1, 1, 701), *g = h_nan(n), *buf = h_nan(n);   // buf unset before step 0
    dbuf gp = dev_put(p, n), gg = dev_put(NULL, n), gbuf = dev_put(NULL, n);
    for (int step = 0; step < 3; step++) {
        test_fill_uniform(g, n, -1, 1, 710 + step);
        g_gpu->to_device(g_gpu, gg.d, g, n * sizeof(float));
        g_cpu->sgd_nesterov(g_cpu, p, g, buf, n, 0.1f, 0.9f, 1e-4f, step == 0);
        g_gpu->sgd_nesterov(g_gpu, gp.d, gg.d, gbuf.d, n, 0.1f, 0.9f, 1e-4f, step == 0);
        char tag[32];
        snprintf(tag, sizeof tag, "sgd_nesterov step %d", step);
        dev_check(tag, "p", gp, p, g_tol);
        dev_check(tag, "buf", gbuf, buf, g_tol);
        dev_check(tag, "g (decayed in place)", gg, g, g_tol);
    }
    dev_free(gp); dev_free(gg); dev_free(gbuf);
    free(p); free(g); free(buf);
}

// ---- losses ----

// Runs `call` into a zeroed device stat block of `be` and returns the block's host copy in h.
#define STAT_RUN(be, h, call)                                                      \
    do {                                                                           \
        float *stat_d = (float *)(be)->alloc((be), HPFF_STAT_FLOATS * sizeof(float)); \
        call;                                                                      \
        (be)->to_host((be), (h), stat_d, HPFF_STAT_FLOATS * sizeof(float));        \
        (be)->free((be), stat_d);                                                  \
    } while (0)

static void test_xent(int n, int k, float scale, uint64_t seed) {
    char tag[64];
    snprintf(tag, sizeof tag, "softmax_xent n%d k%d x%g", n, k, scale);
    size_t nz = (size_t)n * k;
    float *z = h_rand(nz, -scale, scale, seed);
    int32_t *lab = (int32_t *)malloc((size_t)n * sizeof(int32_t));
    uint64_t s = seed;
    for (int i = 0; i < n; i++) lab[i] = (int32_t)(test_rng_next(&s) % (uint64_t)k);
    if (n > 2 && k > 5) {   // a top-1 hit, a rank-5 hit and a tie (ties rank the lower index first)
        lab[0] = 0;
        z[0] = 2 * scale;
        for (int j = 0; j < k; j++) z[k + j] = (float)(j + 1);
        lab[1] = k - 5;
        z[2 * k + 1] = z[2 * k + 3];
        lab[2] = 3;
    }
    const float weight = 0.7f;
    float *dz = h_nan(nz);
    float cs[HPFF_STAT_FLOATS] = {0}, gs[HPFF_STAT_FLOATS], gs2[HPFF_STAT_FLOATS];
    g_cpu->softmax_xent(g_cpu, n, k, z, lab, weight, dz, cs, 1.f);
    dbuf gz = dev_put(z, nz), gdz = dev_put(NULL, nz);
    int32_t *glab = (int32_t *)g_gpu->alloc(g_gpu, (size_t)n * sizeof(int32_t));
    g_gpu->to_device(g_gpu, glab, lab, (size_t)n * sizeof(int32_t));
    STAT_RUN(g_gpu, gs, g_gpu->softmax_xent(g_gpu, n, k, gz.d, glab, weight, gdz.d, stat_d, 1.f));
    float loss = cs[HPFF_STAT_LOSS], gl = gs[HPFF_STAT_LOSS];
    int c1 = (int)cs[HPFF_STAT_TOP1], c5 = (int)cs[HPFF_STAT_TOP5];
    int gc1 = (int)gs[HPFF_STAT_TOP1], gc5 = (int)gs[HPFF_STAT_TOP5];
    char name[128];
    snprintf(name, sizeof name, "[%s] %s loss", g_mode, tag);
    test_close(name, &gl, &loss, 1, g_tol * fabs(loss), g_tol);
    dev_check(tag, "dlogits", gdz, dz, g_tol);
    TEST_CHECK(gc1 == c1 && gc5 == c5, "%s: top-1 %d (cpu %d), top-5 %d (cpu %d)", tag, gc1, c1, gc5, c5);
    TEST_CHECK(gs[HPFF_STAT_BAD_LABELS] == 0.f, "%s: %g bad labels counted", tag, gs[HPFF_STAT_BAD_LABELS]);
    STAT_RUN(g_gpu, gs2, g_gpu->softmax_xent(g_gpu, n, k, gz.d, glab, weight, NULL, stat_d, 1.f));
    TEST_CHECK(gs2[HPFF_STAT_LOSS] == gl, "%s: loss without gradient differs (%.9g vs %.9g)", tag,
               gs2[HPFF_STAT_LOSS], gl);
    // A label out of range is counted in the stat block (the reader refuses the step).
    lab[n - 1] = k;
    g_gpu->to_device(g_gpu, glab, lab, (size_t)n * sizeof(int32_t));
    STAT_RUN(g_gpu, gs2, g_gpu->softmax_xent(g_gpu, n, k, gz.d, glab, weight, NULL, stat_d, 1.f));
    TEST_CHECK(gs2[HPFF_STAT_BAD_LABELS] == 1.f, "%s: bad label counted %g times (want 1)", tag,
               gs2[HPFF_STAT_BAD_LABELS]);
    g_gpu->free(g_gpu, glab);
    dev_free(gz); dev_free(gdz);
    free(z); free(lab); free(dz);
}

static void test_bce(size_t n, uint64_t seed) {
    char tag[64];
    snprintf(tag, sizeof tag, "bce n%zu", n);
    float *p = h_rand(n, 0.01f, 0.99f, seed), *t = h_rand(n, 0, 1, seed + 1);
    // saturated cases: the log clamp at -100 and the 1e-12 floor of the gradient's denominator
    const float sp[8] = {0.0f, 0.0f, 1.0f, 1.0f, 1e-30f, 1.0f - 1e-7f, 0.0f, 1.0f};
    const float st[8] = {1.0f, 0.0f, 0.0f, 1.0f, 1.0f, 0.0f, 0.5f, 0.25f};
    memcpy(p, sp, sizeof sp);
    memcpy(t, st, sizeof st);
    const float weight = 1.5f;
    float *dp = h_nan(n);
    float cs[HPFF_STAT_FLOATS] = {0}, gs[HPFF_STAT_FLOATS], gs2[HPFF_STAT_FLOATS];
    g_cpu->bce(g_cpu, n, p, t, weight, dp, cs, 1.f);
    dbuf gp = dev_put(p, n), gt = dev_put(t, n), gdp = dev_put(NULL, n);
    STAT_RUN(g_gpu, gs, g_gpu->bce(g_gpu, n, gp.d, gt.d, weight, gdp.d, stat_d, 1.f));
    float loss = cs[HPFF_STAT_LOSS], gl = gs[HPFF_STAT_LOSS];
    char name[128];
    snprintf(name, sizeof name, "[%s] %s loss", g_mode, tag);
    test_close(name, &gl, &loss, 1, g_tol * fabs(loss), g_tol);
    dev_check(tag, "dp", gdp, dp, g_tol);
    // Accumulation with a scale: twice, at 0.5 each, gives the loss again.
    STAT_RUN(g_gpu, gs2, g_gpu->bce(g_gpu, n, gp.d, gt.d, weight, NULL, stat_d, 0.5f);
             g_gpu->bce(g_gpu, n, gp.d, gt.d, weight, NULL, stat_d, 0.5f));
    test_close(name, &gs2[HPFF_STAT_LOSS], &gl, 1, 1e-6 * fabs(gl), 1e-7);
    dev_free(gp); dev_free(gt); dev_free(gdp);
    free(p); free(t); free(dp);
}

// ---- memory and the table ----

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
    TEST_CHECK(strcmp(g_gpu->name, "cuda") == 0, "backend name %s", g_gpu->name);
#define HAS(f) TEST_CHECK(g_gpu->f != NULL, "%s is NULL", #f)
    HAS(destroy); HAS(alloc); HAS(free); HAS(to_device); HAS(to_host); HAS(copy); HAS(sync);
    HAS(conv_workspace); HAS(set_threads); HAS(fill); HAS(scale); HAS(axpy); HAS(add);
    HAS(relu_fwd); HAS(relu_bwd); HAS(sigmoid_fwd); HAS(sigmoid_bwd); HAS(conv_fwd);
    HAS(conv_bwd_data); HAS(conv_bwd_filter); HAS(bn_fwd_train); HAS(bn_fwd_eval); HAS(bn_bwd);
    HAS(maxpool_fwd); HAS(maxpool_bwd); HAS(avgpool_fwd); HAS(avgpool_bwd);
    HAS(adaptive_avgpool_fwd); HAS(adaptive_avgpool_bwd); HAS(linear_fwd); HAS(linear_bwd_data);
    HAS(linear_bwd_weight); HAS(resize_bilinear_fwd); HAS(resize_bilinear_bwd);
    HAS(patch_extract); HAS(patch_scatter); HAS(softmax_xent); HAS(bce); HAS(sgd_nesterov);
#undef HAS
}

static void run_all(void) {
    test_table();
    test_memory();
    test_elementwise();
    test_sgd();
    test_convs();
    test_bn(3, 5, 63, 0.1f, 1e-5f, 401, 0);
    test_bn(7, 3, 1, 0.25f, 1e-5f, 411, 0);      // BatchNorm1d
    test_bn(64, 300, 1, 0.1f, 1e-5f, 415, 0);    // BatchNorm1d, many channels
    test_bn(1, 4, 10, 0.1f, 1e-3f, 421, 0);
    test_bn(2, 3, 1024, 0.1f, 1e-5f, 431, 0);
    test_bn(16, 4, 33 * 33, 0.1f, 1e-5f, 441, 0);   // several blocks per channel
    test_bn(64, 2, 4096, 0.1f, 1e-5f, 451, 0);      // many blocks per channel
    test_bn(5, 37, 49, 0.1f, 1e-5f, 461, 0);
    test_bn(5, 37, 49, 0.1f, 1e-5f, 471, 1);      // with the fused ReLU
    test_bn(64, 300, 1, 0.1f, 1e-5f, 475, 1);
    test_bn(16, 4, 33 * 33, 0.1f, 1e-5f, 481, 1);
    test_pools();
    test_adaptive(7, 9, 3, 4, 801);
    test_adaptive(5, 5, 7, 8, 811);   // out > in replicates
    test_adaptive(8, 8, 1, 1, 821);   // GAP
    test_adaptive(9, 7, 4, 2, 831);
    test_adaptive(32, 32, 8, 8, 841);
    test_adaptive(24, 24, 6, 6, 851);
    test_resize(5, 7, 11, 13, 901);
    test_resize(9, 8, 4, 3, 911);     // down-size
    test_resize(6, 5, 1, 1, 921);     // Out = 1
    test_resize(1, 1, 3, 4, 931);     // In = 1
    test_resize(7, 9, 7, 9, 941);     // identity
    test_resize(14, 14, 112, 112, 951);
    test_resize(32, 32, 17, 16, 961);
    test_patch(7, 9, 2, 3, 4, 5, 1001);
    test_patch(8, 8, 0, 0, 8, 8, 1011);
    test_patch(9, 7, 8, 6, 1, 1, 1021);
    test_linear(3, 7, 5, 1, 1101);
    test_linear(5, 13, 11, 0, 1111);
    test_linear(1, 1, 1, 1, 1121);
    test_linear(37, 129, 65, 1, 1131);
    test_linear(64, 256, 10, 1, 1141);
    test_xent(6, 7, 3.0f, 1201);
    test_xent(5, 3, 3.0f, 1211);       // k < 5: every sample is a top-5 hit
    test_xent(4, 10, 200.0f, 1221);    // large logits: no overflow
    test_xent(300, 1000, 5.0f, 1231);  // ImageNet-sized rows
    test_bce(517, 601);
    test_bce(300007, 611);             // many blocks
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
        g_mode = tf32 ? "tf32" : "fp32";
        g_tol_mm = tf32 ? 1e-2 : 1e-5;
        g_ws_max = 0;
        run_all();
        printf("test_ops_gpu [%s]: peak %zu bytes through alloc\n", g_mode, hpff_cuda_peak_bytes(g_gpu));
        hpff_backend_destroy(g_gpu);
    }
    hpff_backend_destroy(g_cpu);
    return hpff_test_summary("test_ops_gpu");
}
