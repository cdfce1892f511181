// test_ops_cpu.c — every CPU backend op against the naive double references of ops_ref.h on
// odd shapes: guard values around every output, beta = 0 (output pre-filled with NaN, which must
// not leak) and beta = 1 (output pre-filled with random values) for data gradients, and the
// accumulate (+=) rule for parameter gradients.
#include <stdio.h>
#include "backend.h"
#include "ops_ref.h"
#include "test_util.h"

static hpff_backend *g_be;

// Guarded output buffers: NaN-filled (beta = 0 must overwrite) or random (beta = 1 / +=).
static float *out_nan(size_t n) {
    float *p = test_guarded_alloc(n);
    for (size_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}
static float *out_rand(size_t n, uint64_t seed) {
    float *p = test_guarded_alloc(n);
    test_fill_uniform(p, n, -1.0f, 1.0f, seed);
    return p;
}
// prior + ref, the expected result of an accumulating call.
static double *plus_prior(const float *prior, const double *ref, size_t n) {
    double *e = ref_alloc(n);
    for (size_t i = 0; i < n; i++) e[i] = (double)prior[i] + ref[i];
    return e;
}
static float *copy_f(const float *x, size_t n) {
    float *y = (float *)malloc((n ? n : 1) * sizeof(float));
    memcpy(y, x, n * sizeof(float));
    return y;
}
// Checks a guarded result against ref (beta = 0) or prior + ref (beta = 1 / accumulate).
static void check_out(const char *tag, const char *what, const float *got, const float *prior,
                      const double *ref, size_t n, double atol, double rtol) {
    char name[256];
    snprintf(name, sizeof name, "%s %s", tag, what);
    if (prior) {
        double *e = plus_prior(prior, ref, n);
        ref_close(name, got, e, n, atol, rtol);
        free(e);
    } else {
        ref_close(name, got, ref, n, atol, rtol);
    }
    test_guard_ok(name, got, n);
}

// ---------------------------------------------------------------------------------------------
// convolution

typedef struct conv_case { int n, ci, h, w, co, kh, kw, sh, sw, ph, pw, g, bias; } conv_case;

static hpff_conv_desc conv_desc(const conv_case *c) {
    hpff_conv_desc d = {c->n, c->ci, c->h, c->w, c->co, 0, 0, c->kh, c->kw, c->sh, c->sw,
                        c->ph, c->pw, c->g};
    d.h_out = (c->h + 2 * c->ph - c->kh) / c->sh + 1;
    d.w_out = (c->w + 2 * c->pw - c->kw) / c->sw + 1;
    return d;
}

static void test_conv(const conv_case *c, uint64_t seed) {
    hpff_conv_desc d = conv_desc(c);
    char tag[160];
    snprintf(tag, sizeof tag, "conv n%d %d->%d %dx%d k%dx%d s%dx%d p%dx%d g%d%s", c->n, c->ci,
             c->co, c->h, c->w, c->kh, c->kw, c->sh, c->sw, c->ph, c->pw, c->g,
             c->bias ? " bias" : "");
    size_t nx = ref_conv_x(&d), ny = ref_conv_y(&d), nw = ref_conv_w(&d), nb = (size_t)c->co;
    double *xd, *wd, *bd, *dyd;
    float *x = ref_rand(nx, -1, 1, seed, &xd), *w = ref_rand(nw, -1, 1, seed + 1, &wd);
    float *b = ref_rand(nb, -1, 1, seed + 2, &bd), *dy = ref_rand(ny, -1, 1, seed + 3, &dyd);
    size_t wsb = g_be->conv_workspace(g_be, &d), wsf = (wsb + sizeof(float) - 1) / sizeof(float);
    float *ws = out_nan(wsf);

    float *y = out_nan(ny);
    double *yr = ref_alloc(ny);
    g_be->conv_fwd(g_be, &d, x, w, c->bias ? b : NULL, y, ws);
    ref_conv_fwd(&d, xd, wd, c->bias ? bd : NULL, yr);
    check_out(tag, "fwd", y, NULL, yr, ny, 1e-5, 1e-4);

    double *dxr = ref_alloc(nx);
    ref_conv_bwd_data(&d, wd, dyd, dxr);
    float *dx0 = out_nan(nx), *dx1 = out_rand(nx, seed + 4), *dx1p = copy_f(dx1, nx);
    g_be->conv_bwd_data(g_be, &d, w, dy, dx0, 0.0f, ws);
    g_be->conv_bwd_data(g_be, &d, w, dy, dx1, 1.0f, ws);
    check_out(tag, "bwd_data beta=0", dx0, NULL, dxr, nx, 1e-5, 1e-4);
    check_out(tag, "bwd_data beta=1", dx1, dx1p, dxr, nx, 1e-5, 1e-4);

    double *dwr = ref_alloc(nw), *dbr = ref_alloc(nb);
    ref_conv_bwd_filter(&d, xd, dyd, dwr, dbr);
    float *dw = out_rand(nw, seed + 5), *dwp = copy_f(dw, nw);
    float *db = out_rand(nb, seed + 6), *dbp = copy_f(db, nb);
    g_be->conv_bwd_filter(g_be, &d, x, dy, dw, c->bias ? db : NULL, ws);
    check_out(tag, "bwd_filter dw +=", dw, dwp, dwr, nw, 2e-4, 1e-4);
    if (c->bias) check_out(tag, "bwd_filter db +=", db, dbp, dbr, nb, 2e-4, 1e-4);
    else TEST_CHECK(memcmp(db, dbp, nb * sizeof(float)) == 0, "%s: db touched without bias", tag);

    if (c->n > 1) {   // a smaller runtime batch with the workspace sized for the planned one
        hpff_conv_desc d2 = d;
        d2.n = c->n - 1;
        size_t ny2 = ref_conv_y(&d2);
        float *y2 = out_nan(ny2);
        g_be->conv_fwd(g_be, &d2, x, w, c->bias ? b : NULL, y2, ws);
        check_out(tag, "fwd at n-1", y2, NULL, yr, ny2, 1e-5, 1e-4);
        test_guarded_free(y2);
    }
    test_guard_ok("conv workspace", ws, wsf);

    free(x); free(w); free(b); free(dy); free(xd); free(wd); free(bd); free(dyd);
    free(yr); free(dxr); free(dwr); free(dbr); free(dx1p); free(dwp); free(dbp);
    test_guarded_free(ws); test_guarded_free(y); test_guarded_free(dx0); test_guarded_free(dx1);
    test_guarded_free(dw); test_guarded_free(db);
}

static void test_convs(void) {
    // Shapes chosen to reach every path of cpu_conv.c: one image per gemm (>= 8 output channels
    // per group), multi-image chunks (fewer), a last partial chunk (26x27 maps, batch 4), 1x1
    // direct and gathered, groups, odd kernels, strides and pads.
    static const conv_case cases[] = {
        {3, 5, 7, 9, 7, 3, 3, 1, 1, 1, 1, 1, 1},   {3, 4, 7, 9, 6, 3, 3, 2, 2, 1, 1, 2, 0},
        {2, 8, 9, 7, 4, 3, 3, 2, 2, 2, 2, 4, 1},   {3, 5, 7, 9, 7, 1, 1, 1, 1, 0, 0, 1, 0},
        {3, 6, 8, 7, 10, 1, 1, 2, 2, 0, 0, 2, 1},  {2, 4, 45, 47, 6, 1, 1, 1, 1, 0, 0, 2, 1},
        {4, 3, 26, 27, 5, 3, 3, 1, 1, 1, 1, 1, 1}, {2, 3, 11, 10, 4, 5, 3, 3, 2, 2, 0, 1, 1},
        {3, 6, 5, 6, 6, 3, 3, 1, 1, 0, 0, 6, 0},   {2, 3, 48, 48, 4, 3, 3, 1, 1, 1, 1, 1, 1},
        {1, 3, 9, 11, 5, 7, 7, 2, 2, 3, 3, 1, 0},  {3, 4, 7, 9, 8, 1, 1, 1, 1, 1, 1, 4, 1},
        {5, 2, 3, 3, 3, 3, 3, 1, 1, 0, 0, 1, 1},   {3, 5, 7, 9, 16, 3, 3, 1, 1, 1, 1, 1, 1},
        {2, 6, 7, 9, 18, 1, 1, 1, 1, 0, 0, 2, 0},  {3, 8, 9, 7, 16, 3, 3, 2, 2, 1, 1, 2, 1},
        {2, 3, 6, 5, 9, 1, 1, 2, 1, 0, 1, 1, 1},   {2, 3, 8, 9, 5, 3, 5, 1, 1, 0, 2, 1, 1},
        {2, 4, 6, 5, 9, 5, 5, 1, 1, 2, 2, 1, 0},   {3, 3, 4, 3, 4, 5, 5, 1, 1, 2, 2, 1, 1},
        // gemms split into blocks with remainders (ResNet stage-1 / stage-3 widths, odd maps)
        {2, 16, 29, 31, 16, 3, 3, 1, 1, 1, 1, 1, 1}, {2, 64, 9, 7, 64, 3, 3, 1, 1, 1, 1, 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) test_conv(&cases[i], 100 + 10 * i);
}

// ---------------------------------------------------------------------------------------------
// batch norm

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

static void test_bn(int n, int c, int hw, float momentum, float eps, uint64_t seed) {
    char tag[96];
    snprintf(tag, sizeof tag, "bn n%d c%d hw%d m%g", n, c, hw, momentum);
    size_t nx = (size_t)n * c * hw, nc = (size_t)c;
    double *xd, *gd, *bd, *rmd, *rvd, *dyd;
    float *x = ref_rand(nx, -1, 1, seed, NULL);
    for (size_t i = 0; i < nx; i++) x[i] = 3.0f + 1.5f * x[i];   // a mean far from 0
    xd = ref_alloc(nx);
    ref_to_double(x, xd, nx);
    float *g = ref_rand(nc, 0.5f, 1.5f, seed + 1, &gd);
    float *b = ref_rand(nc, -0.5f, 0.5f, seed + 2, &bd);
    float *rm = ref_rand(nc, -1, 1, seed + 3, &rmd), *rv = ref_rand(nc, 0.5f, 2, seed + 4, &rvd);
    float *dy = ref_rand(nx, -1, 1, seed + 5, &dyd);

    double *yr = ref_alloc(nx), *mean = ref_alloc(nc), *var = ref_alloc(nc);
    ref_bn_train(n, c, hw, xd, gd, bd, eps, yr, mean, var);
    double *invstd = ref_alloc(nc), *rm_e = ref_alloc(nc), *rv_e = ref_alloc(nc);
    double cnt = (double)n * hw;
    for (int k = 0; k < c; k++) {
        invstd[k] = 1.0 / sqrt(var[k] + eps);
        rm_e[k] = (1.0 - momentum) * rmd[k] + momentum * mean[k];
        rv_e[k] = (1.0 - momentum) * rvd[k] + momentum * var[k] * cnt / (cnt - 1.0);
    }
    float *y = out_nan(nx), *sm = out_nan(nc), *si = out_nan(nc);
    float *rmo = test_guarded_alloc(nc), *rvo = test_guarded_alloc(nc);
    memcpy(rmo, rm, nc * sizeof(float));
    memcpy(rvo, rv, nc * sizeof(float));
    g_be->bn_fwd_train(g_be, n, c, hw, x, g, b, y, rmo, rvo, momentum, eps, sm, si, 0);
    check_out(tag, "train y", y, NULL, yr, nx, 2e-5, 1e-4);
    check_out(tag, "save_mean", sm, NULL, mean, nc, 1e-6, 1e-5);
    check_out(tag, "save_invstd", si, NULL, invstd, nc, 1e-6, 1e-5);
    check_out(tag, "running_mean", rmo, NULL, rm_e, nc, 1e-6, 1e-5);
    check_out(tag, "running_var", rvo, NULL, rv_e, nc, 1e-6, 1e-5);

    // eval with the (pre-update) running statistics
    double *ye = ref_alloc(nx);
    ref_bn_apply(n, c, hw, xd, gd, bd, rmd, rvd, eps, ye);
    float *yv = out_nan(nx);
    g_be->bn_fwd_eval(g_be, n, c, hw, x, g, b, yv, rm, rv, eps, 0);
    check_out(tag, "eval y", yv, NULL, ye, nx, 2e-5, 1e-4);

    double *dxr = ref_alloc(nx), *dgr = ref_alloc(nc), *dbr = ref_alloc(nc);
    ref_bn_bwd(n, c, hw, xd, dyd, gd, eps, dxr, dgr, dbr);
    float *dx0 = out_nan(nx), *dx1 = out_rand(nx, seed + 6), *dx1p = copy_f(dx1, nx);
    float *dg = out_rand(nc, seed + 7), *dgp = copy_f(dg, nc);
    float *db = out_rand(nc, seed + 8), *dbp = copy_f(db, nc);
    g_be->bn_bwd(g_be, n, c, hw, x, dy, g, sm, si, NULL, dx0, 0.0f, dg, db);
    check_out(tag, "bwd dx beta=0", dx0, NULL, dxr, nx, 2e-5, 1e-4);
    check_out(tag, "bwd dgamma +=", dg, dgp, dgr, nc, 2e-5, 1e-4);
    check_out(tag, "bwd dbeta +=", db, dbp, dbr, nc, 2e-5, 1e-4);
    g_be->bn_bwd(g_be, n, c, hw, x, dy, g, sm, si, NULL, dx1, 1.0f, NULL, NULL);
    check_out(tag, "bwd dx beta=1 (no param grads)", dx1, dx1p, dxr, nx, 2e-5, 1e-4);
    // params only, a second time: dgamma/dbeta hold prior + 2 grads
    g_be->bn_bwd(g_be, n, c, hw, x, dy, g, sm, si, NULL, NULL, 0.0f, dg, db);
    for (size_t k = 0; k < nc; k++) { dgr[k] *= 2.0; dbr[k] *= 2.0; }
    check_out(tag, "bwd dgamma twice", dg, dgp, dgr, nc, 4e-5, 1e-4);
    check_out(tag, "bwd dbeta twice", db, dbp, dbr, nc, 4e-5, 1e-4);
    test_bn_relu_fused(tag, n, c, hw, x, g, b, dy, momentum, eps);

    free(x); free(g); free(b); free(rm); free(rv); free(dy); free(xd); free(gd); free(bd);
    free(rmd); free(rvd); free(dyd); free(yr); free(mean); free(var); free(invstd); free(rm_e);
    free(rv_e); free(ye); free(dxr); free(dgr); free(dbr); free(dx1p); free(dgp); free(dbp);
    test_guarded_free(y); test_guarded_free(sm); test_guarded_free(si); test_guarded_free(rmo);
    test_guarded_free(rvo); test_guarded_free(yv); test_guarded_free(dx0); test_guarded_free(dx1);
    test_guarded_free(dg); test_guarded_free(db);
}

// ---------------------------------------------------------------------------------------------
// pooling, adaptive pooling, resize, patches

static void test_pool(int is_max, hpff_pool_desc d, uint64_t seed) {
    char tag[128];
    d.h_out = (d.h_in + 2 * d.ph - d.kh) / d.sh + 1;
    d.w_out = (d.w_in + 2 * d.pw - d.kw) / d.sw + 1;
    snprintf(tag, sizeof tag, "%s n%d c%d %dx%d k%dx%d s%dx%d p%dx%d",
             is_max ? "maxpool" : "avgpool",
             d.n, d.c, d.h_in, d.w_in, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw);
    size_t nx = ref_pool_x(&d), ny = ref_pool_y(&d);
    double *xd, *dyd;
    float *x = ref_rand(nx, -1, 1, seed, &xd), *dy = ref_rand(ny, -1, 1, seed + 1, &dyd);
    double *yr = ref_alloc(ny), *dxr = ref_alloc(nx);
    float *y = out_nan(ny), *dx0 = out_nan(nx);
    float *dx1 = out_rand(nx, seed + 2), *dx1p = copy_f(dx1, nx);
    if (is_max) {
        ref_maxpool_fwd(&d, xd, yr, NULL);
        ref_maxpool_bwd(&d, xd, dyd, dxr);
        g_be->maxpool_fwd(g_be, &d, x, y);
        g_be->maxpool_bwd(g_be, &d, x, y, dy, dx0, 0.0f);
        g_be->maxpool_bwd(g_be, &d, x, y, dy, dx1, 1.0f);
    } else {
        ref_avgpool(&d, 0, xd, yr);
        ref_avgpool(&d, 1, dyd, dxr);
        g_be->avgpool_fwd(g_be, &d, x, y);
        g_be->avgpool_bwd(g_be, &d, dy, dx0, 0.0f);
        g_be->avgpool_bwd(g_be, &d, dy, dx1, 1.0f);
    }
    check_out(tag, "fwd", y, NULL, yr, ny, 1e-6, 1e-5);
    check_out(tag, "bwd beta=0", dx0, NULL, dxr, nx, 1e-6, 1e-5);
    check_out(tag, "bwd beta=1", dx1, dx1p, dxr, nx, 1e-6, 1e-5);
    free(x); free(dy); free(xd); free(dyd); free(yr); free(dxr); free(dx1p);
    test_guarded_free(y); test_guarded_free(dx0); test_guarded_free(dx1);
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

static void test_pools(void) {
    static const int cfg[][8] = {   // h, w, kh, kw, s, ph, pw, max?
        {9, 7, 3, 3, 2, 1, 1, 1}, {7, 9, 2, 2, 2, 0, 0, 1}, {7, 9, 3, 3, 1, 1, 1, 1},
        {8, 11, 3, 2, 2, 1, 1, 1}, {7, 9, 2, 2, 2, 0, 0, 0}, {8, 7, 3, 3, 3, 1, 1, 0},
        {9, 7, 3, 3, 2, 1, 0, 0}, {5, 5, 5, 5, 5, 2, 2, 0}, {10, 9, 4, 3, 4, 2, 1, 0},
    };
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
        const int *q = cfg[i];
        hpff_pool_desc d = {3, 5, q[0], q[1], 0, 0, q[2], q[3], q[4], q[4], q[5], q[6]};
        test_pool(q[7], d, 300 + 10 * i);
    }
}

static void test_adaptive(int hi, int wi, int ho, int wo, uint64_t seed) {
    char tag[96];
    snprintf(tag, sizeof tag, "adaptive_avgpool %dx%d->%dx%d", hi, wi, ho, wo);
    const int n = 3, c = 5;
    size_t nx = (size_t)n * c * hi * wi, ny = (size_t)n * c * ho * wo;
    double *xd, *dyd;
    float *x = ref_rand(nx, -1, 1, seed, &xd), *dy = ref_rand(ny, -1, 1, seed + 1, &dyd);
    double *yr = ref_alloc(ny), *dxr = ref_alloc(nx);
    ref_adaptive(n, c, hi, wi, ho, wo, 0, xd, yr);
    ref_adaptive(n, c, hi, wi, ho, wo, 1, dyd, dxr);
    float *y = out_nan(ny), *dx0 = out_nan(nx);
    float *dx1 = out_rand(nx, seed + 2), *dx1p = copy_f(dx1, nx);
    g_be->adaptive_avgpool_fwd(g_be, n, c, hi, wi, ho, wo, x, y);
    g_be->adaptive_avgpool_bwd(g_be, n, c, hi, wi, ho, wo, dy, dx0, 0.0f);
    g_be->adaptive_avgpool_bwd(g_be, n, c, hi, wi, ho, wo, dy, dx1, 1.0f);
    check_out(tag, "fwd", y, NULL, yr, ny, 1e-6, 1e-5);
    check_out(tag, "bwd beta=0", dx0, NULL, dxr, nx, 1e-6, 1e-5);
    check_out(tag, "bwd beta=1", dx1, dx1p, dxr, nx, 1e-6, 1e-5);
    free(x); free(dy); free(xd); free(dyd); free(yr); free(dxr); free(dx1p);
    test_guarded_free(y); test_guarded_free(dx0); test_guarded_free(dx1);
}

static void test_resize(int hi, int wi, int ho, int wo, uint64_t seed) {
    char tag[96];
    snprintf(tag, sizeof tag, "resize_bilinear %dx%d->%dx%d", hi, wi, ho, wo);
    const int n = 2, c = 3;
    size_t nx = (size_t)n * c * hi * wi, ny = (size_t)n * c * ho * wo;
    double *xd, *dyd;
    float *x = ref_rand(nx, -1, 1, seed, &xd), *dy = ref_rand(ny, -1, 1, seed + 1, &dyd);
    double *yr = ref_alloc(ny), *dxr = ref_alloc(nx);
    ref_resize(n, c, hi, wi, ho, wo, 0, xd, yr);
    ref_resize(n, c, hi, wi, ho, wo, 1, dyd, dxr);
    float *y = out_nan(ny), *dx0 = out_nan(nx);
    float *dx1 = out_rand(nx, seed + 2), *dx1p = copy_f(dx1, nx);
    g_be->resize_bilinear_fwd(g_be, n, c, hi, wi, ho, wo, x, y);
    g_be->resize_bilinear_bwd(g_be, n, c, hi, wi, ho, wo, dy, dx0, 0.0f);
    g_be->resize_bilinear_bwd(g_be, n, c, hi, wi, ho, wo, dy, dx1, 1.0f);
    check_out(tag, "fwd", y, NULL, yr, ny, 2e-6, 1e-5);
    check_out(tag, "bwd beta=0", dx0, NULL, dxr, nx, 1e-5, 1e-5);
    check_out(tag, "bwd beta=1", dx1, dx1p, dxr, nx, 1e-5, 1e-5);
    free(x); free(dy); free(xd); free(dyd); free(yr); free(dxr); free(dx1p);
    test_guarded_free(y); test_guarded_free(dx0); test_guarded_free(dx1);
}

static void test_patch(int h, int w, int r0, int c0, int ph, int pw, uint64_t seed) {
    char tag[96];
    snprintf(tag, sizeof tag, "patch %dx%d [%d+%d, %d+%d]", h, w, r0, ph, c0, pw);
    const int n = 2, c = 3;
    size_t nx = (size_t)n * c * h * w, np = (size_t)n * c * ph * pw;
    double *xd, *dpd;
    float *x = ref_rand(nx, -1, 1, seed, &xd), *dp = ref_rand(np, -1, 1, seed + 1, &dpd);
    double *pr = ref_alloc(np), *d0 = ref_alloc(nx), *d1 = ref_alloc(nx);
    float *p = out_nan(np), *dx0 = out_rand(nx, seed + 2), *dx1 = out_rand(nx, seed + 3);
    for (size_t i = 0; i < nx; i++) { d0[i] = dx0[i]; d1[i] = dx1[i]; }
    for (int pl = 0; pl < n * c; pl++)
        for (int i = 0; i < ph; i++)
            for (int j = 0; j < pw; j++) {
                size_t pi = ((size_t)pl * ph + i) * pw + j;
                size_t xi = ((size_t)pl * h + r0 + i) * w + c0 + j;
                pr[pi] = xd[xi];
                d0[xi] = dpd[pi];
                d1[xi] += dpd[pi];
            }
    g_be->patch_extract(g_be, n, c, h, w, r0, c0, ph, pw, x, p);
    g_be->patch_scatter(g_be, n, c, h, w, r0, c0, ph, pw, dp, dx0, 0.0f);
    g_be->patch_scatter(g_be, n, c, h, w, r0, c0, ph, pw, dp, dx1, 1.0f);
    check_out(tag, "extract", p, NULL, pr, np, 0, 0);
    check_out(tag, "scatter beta=0 (outside kept)", dx0, NULL, d0, nx, 0, 0);
    check_out(tag, "scatter beta=1", dx1, NULL, d1, nx, 1e-7, 1e-7);
    free(x); free(dp); free(xd); free(dpd); free(pr); free(d0); free(d1);
    test_guarded_free(p); test_guarded_free(dx0); test_guarded_free(dx1);
}

// ---------------------------------------------------------------------------------------------
// linear, elementwise, losses, optimizer, memory

static void test_linear(int n, int in, int out, int bias, uint64_t seed) {
    char tag[96];
    snprintf(tag, sizeof tag, "linear n%d %d->%d%s", n, in, out, bias ? " bias" : "");
    size_t nx = (size_t)n * in, ny = (size_t)n * out, nw = (size_t)out * in;
    double *xd, *wd, *bd, *dyd;
    float *x = ref_rand(nx, -1, 1, seed, &xd), *w = ref_rand(nw, -1, 1, seed + 1, &wd);
    float *b = ref_rand((size_t)out, -1, 1, seed + 2, &bd);
    float *dy = ref_rand(ny, -1, 1, seed + 3, &dyd);
    double *yr = ref_alloc(ny), *dxr = ref_alloc(nx);
    double *dwr = ref_alloc(nw), *dbr = ref_alloc((size_t)out);
    ref_linear_fwd(n, in, out, xd, wd, bias ? bd : NULL, yr);
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double g = dyd[(size_t)i * out + o];
            dbr[o] += g;
            for (int k = 0; k < in; k++) {
                dxr[(size_t)i * in + k] += g * wd[(size_t)o * in + k];
                dwr[(size_t)o * in + k] += g * xd[(size_t)i * in + k];
            }
        }
    float *y = out_nan(ny), *dx0 = out_nan(nx);
    float *dx1 = out_rand(nx, seed + 4), *dx1p = copy_f(dx1, nx);
    float *dw = out_rand(nw, seed + 5), *dwp = copy_f(dw, nw);
    float *db = out_rand((size_t)out, seed + 6), *dbp = copy_f(db, (size_t)out);
    g_be->linear_fwd(g_be, n, in, out, x, w, bias ? b : NULL, y);
    g_be->linear_bwd_data(g_be, n, in, out, w, dy, dx0, 0.0f);
    g_be->linear_bwd_data(g_be, n, in, out, w, dy, dx1, 1.0f);
    g_be->linear_bwd_weight(g_be, n, in, out, x, dy, dw, bias ? db : NULL);
    check_out(tag, "fwd", y, NULL, yr, ny, 1e-5, 1e-4);
    check_out(tag, "bwd_data beta=0", dx0, NULL, dxr, nx, 1e-5, 1e-4);
    check_out(tag, "bwd_data beta=1", dx1, dx1p, dxr, nx, 1e-5, 1e-4);
    check_out(tag, "bwd_weight dw +=", dw, dwp, dwr, nw, 1e-5, 1e-4);
    if (bias) check_out(tag, "bwd_weight db +=", db, dbp, dbr, (size_t)out, 1e-5, 1e-4);
    else TEST_CHECK(memcmp(db, dbp, (size_t)out * sizeof(float)) == 0, "%s: db touched", tag);
    free(x); free(w); free(b); free(dy); free(xd); free(wd); free(bd); free(dyd); free(yr);
    free(dxr); free(dwr); free(dbr); free(dx1p); free(dwp); free(dbp);
    test_guarded_free(y); test_guarded_free(dx0); test_guarded_free(dx1); test_guarded_free(dw);
    test_guarded_free(db);
}

static void test_elementwise(void) {
    const size_t n = 1003;
    double *xd, *yd, *dyd;
    float *x = ref_rand(n, -2, 2, 501, &xd), *yv = ref_rand(n, -2, 2, 502, &yd);
    float *dy = ref_rand(n, -1, 1, 503, &dyd);
    double *r = ref_alloc(n), *r1 = ref_alloc(n);
    float *o = out_nan(n), *o1 = out_rand(n, 504), *o1p = copy_f(o1, n);

    g_be->fill(g_be, o, 0.375f, n);
    for (size_t i = 0; i < n; i++) r[i] = 0.375;
    check_out("fill", "", o, NULL, r, n, 0, 0);
    memcpy(o, x, n * sizeof(float));
    g_be->scale(g_be, o, -1.25f, n);
    for (size_t i = 0; i < n; i++) r[i] = -1.25 * xd[i];
    check_out("scale", "", o, NULL, r, n, 0, 1e-7);
    memcpy(o, yv, n * sizeof(float));
    g_be->axpy(g_be, o, 0.5f, x, n);
    for (size_t i = 0; i < n; i++) r[i] = yd[i] + 0.5 * xd[i];
    check_out("axpy", "", o, NULL, r, n, 1e-7, 1e-7);
    g_be->add(g_be, o, x, yv, n);
    for (size_t i = 0; i < n; i++) r[i] = xd[i] + yd[i];
    check_out("add", "", o, NULL, r, n, 1e-7, 1e-7);
    memcpy(o, x, n * sizeof(float));
    g_be->add(g_be, o, o, yv, n);   // in place
    check_out("add in place", "", o, NULL, r, n, 1e-7, 1e-7);

    // relu: forward, backward beta 0/1, backward in place (dx == dy, beta 0)
    g_be->relu_fwd(g_be, o, x, n);
    for (size_t i = 0; i < n; i++) r[i] = xd[i] > 0 ? xd[i] : 0.0;
    check_out("relu_fwd", "", o, NULL, r, n, 0, 0);
    for (size_t i = 0; i < n; i++) r[i] = r[i] > 0 ? dyd[i] : 0.0;   // r holds y
    float *dx0 = out_nan(n);
    g_be->relu_bwd(g_be, dx0, o, dy, n, 0.0f);
    check_out("relu_bwd", "beta=0", dx0, NULL, r, n, 0, 0);
    g_be->relu_bwd(g_be, o1, o, dy, n, 1.0f);
    check_out("relu_bwd", "beta=1", o1, o1p, r, n, 1e-7, 1e-7);
    memcpy(dx0, dy, n * sizeof(float));
    g_be->relu_bwd(g_be, dx0, o, dx0, n, 0.0f);
    check_out("relu_bwd", "in place", dx0, NULL, r, n, 0, 0);
    memcpy(o, x, n * sizeof(float));
    g_be->relu_fwd(g_be, o, o, n);
    for (size_t i = 0; i < n; i++) r[i] = xd[i] > 0 ? xd[i] : 0.0;
    check_out("relu_fwd", "in place", o, NULL, r, n, 0, 0);

    // sigmoid, including large |x|
    float big[6] = {-100.0f, -30.0f, 0.0f, 30.0f, 100.0f, 1e-3f};
    memcpy(x, big, sizeof big);
    ref_to_double(x, xd, n);
    g_be->sigmoid_fwd(g_be, o, x, n);
    for (size_t i = 0; i < n; i++) r[i] = ref_sigmoid(xd[i]);
    check_out("sigmoid_fwd", "", o, NULL, r, n, 1e-7, 1e-6);
    for (size_t i = 0; i < n; i++) r1[i] = dyd[i] * o[i] * (1.0 - o[i]);
    memcpy(o1, o1p, n * sizeof(float));
    g_be->sigmoid_bwd(g_be, dx0, o, dy, n, 0.0f);
    g_be->sigmoid_bwd(g_be, o1, o, dy, n, 1.0f);
    check_out("sigmoid_bwd", "beta=0", dx0, NULL, r1, n, 1e-7, 1e-6);
    check_out("sigmoid_bwd", "beta=1", o1, o1p, r1, n, 1e-7, 1e-6);

    free(x); free(yv); free(dy); free(xd); free(yd); free(dyd); free(r); free(r1); free(o1p);
    test_guarded_free(o); test_guarded_free(o1); test_guarded_free(dx0);
}

static void test_xent(int n, int k, float scale, uint64_t seed) {
    char tag[64];
    snprintf(tag, sizeof tag, "softmax_xent n%d k%d x%g", n, k, scale);
    size_t nz = (size_t)n * k;
    double *zd;
    float *z = ref_rand(nz, -scale, scale, seed, &zd);
    int32_t *lab = (int32_t *)malloc((size_t)n * sizeof(int32_t));
    uint64_t s = seed;
    for (int i = 0; i < n; i++) lab[i] = (int32_t)(test_rng_next(&s) % (uint64_t)k);
    if (n > 1) {   // make sample 0 a top-1 hit and sample 1 a rank-5 (top-5 only) hit if k > 5
        lab[0] = 0;
        z[0] = (float)(2 * scale);
        if (k > 5) {
            for (int j = 0; j < k; j++) z[k + j] = (float)(j + 1);
            lab[1] = k - 5;
        }
        ref_to_double(z, zd, nz);
    }
    double *dr = ref_alloc(nz);
    const float weight = 0.7f;
    double loss = ref_xent(n, k, zd, lab, weight, dr);
    int c1e = 0, c5e = 0;
    for (int i = 0; i < n; i++) {
        int rank = 0;
        for (int j = 0; j < k; j++) rank += zd[(size_t)i * k + j] > zd[(size_t)i * k + lab[i]];
        c1e += rank < 1;
        c5e += rank < 5;
    }
    float *dz = out_nan(nz);
    float stat[HPFF_STAT_FLOATS] = {0};
    g_be->softmax_xent(g_be, n, k, z, lab, weight, dz, stat, 1.f);
    float got = stat[HPFF_STAT_LOSS], lossf = (float)loss;
    int c1 = (int)stat[HPFF_STAT_TOP1], c5 = (int)stat[HPFF_STAT_TOP5];
    test_close(tag, &got, &lossf, 1, 1e-6, 1e-6);
    check_out(tag, "dlogits", dz, NULL, dr, nz, 1e-7, 1e-5);
    TEST_CHECK(c1 == c1e && c5 == c5e, "%s: top-1 %d (want %d), top-5 %d (want %d)", tag, c1, c1e,
               c5, c5e);
    TEST_CHECK(stat[HPFF_STAT_BAD_LABELS] == 0.f, "%s: bad labels counted", tag);
    // The stat block accumulates: a second call without gradient adds 0.5 * loss and the hits again.
    g_be->softmax_xent(g_be, n, k, z, lab, weight, NULL, stat, 0.5f);
    float want2 = got + 0.5f * got;
    TEST_CHECK(stat[HPFF_STAT_LOSS] == want2 && (int)stat[HPFF_STAT_TOP1] == 2 * c1e &&
                   (int)stat[HPFF_STAT_TOP5] == 2 * c5e,
               "%s: accumulation gave loss %g hits %g/%g (want %g, %d/%d)", tag, stat[HPFF_STAT_LOSS],
               stat[HPFF_STAT_TOP1], stat[HPFF_STAT_TOP5], want2, 2 * c1e, 2 * c5e);
    g_be->softmax_xent(g_be, n, k, z, lab, weight, dz, NULL, 1.f);   // no stat block: gradient only
    check_out(tag, "dlogits without stat", dz, NULL, dr, nz, 1e-7, 1e-5);
    free(z); free(zd); free(lab); free(dr);
    test_guarded_free(dz);
}

static void test_bce(void) {
    const size_t n = 517;
    double *pd, *td;
    float *p = ref_rand(n, 0.01f, 0.99f, 601, &pd), *t = ref_rand(n, 0, 1, 602, &td);
    // saturated cases: the log clamp at -100 and the 1e-12 floor of the gradient's denominator
    const float sp[8] = {0.0f, 0.0f, 1.0f, 1.0f, 1e-30f, 1.0f - 1e-7f, 0.0f, 1.0f};
    const float st[8] = {1.0f, 0.0f, 0.0f, 1.0f, 1.0f, 0.0f, 0.5f, 0.25f};
    memcpy(p, sp, sizeof sp);
    memcpy(t, st, sizeof st);
    ref_to_double(p, pd, n);
    ref_to_double(t, td, n);
    const float weight = 1.5f;
    double *dr = ref_alloc(n);
    float lossr = (float)ref_bce(n, pd, td, weight, dr);
    float *dp = out_nan(n);
    float stat[HPFF_STAT_FLOATS] = {2.f, 0.f, 0.f, 0.f};
    g_be->bce(g_be, n, p, t, weight, dp, stat, 0.25f);
    float got = (stat[HPFF_STAT_LOSS] - 2.f) / 0.25f;
    test_close("bce loss (added with scale 0.25)", &got, &lossr, 1, 1e-5, 1e-5);
    check_out("bce", "dp", dp, NULL, dr, n, 1e-7, 1e-5);
    free(p); free(t); free(pd); free(td); free(dr);
    test_guarded_free(dp);
}

static void test_sgd(void) {
    const size_t n = 37;
    const double lr = 0.1, mom = 0.9, wd = 1e-4;
    float *p = out_rand(n, 701), *g = out_rand(n, 702), *buf = out_nan(n);   // buf unset: first
    double *pr = ref_alloc(n), *br = ref_alloc(n), *gr = ref_alloc(n);
    ref_to_double(p, pr, n);
    for (int step = 0; step < 3; step++) {
        test_fill_uniform(g, n, -1, 1, 710 + step);
        for (size_t i = 0; i < n; i++) {
            double gi = (double)g[i] + wd * pr[i];
            br[i] = step == 0 ? gi : mom * br[i] + gi;
            pr[i] -= lr * (gi + mom * br[i]);
            gr[i] = gi;
        }
        g_be->sgd_nesterov(g_be, p, g, buf, n, (float)lr, (float)mom, (float)wd, step == 0);
        char tag[32];
        snprintf(tag, sizeof tag, "sgd_nesterov step %d", step);
        check_out(tag, "p", p, NULL, pr, n, 1e-6, 1e-5);
        check_out(tag, "buf", buf, NULL, br, n, 1e-6, 1e-5);
        check_out(tag, "g (decayed in place)", g, NULL, gr, n, 1e-6, 1e-5);
    }
    free(pr); free(br); free(gr);
    test_guarded_free(p); test_guarded_free(g); test_guarded_free(buf);
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
#define HAS(f) TEST_CHECK(g_be->f != NULL, "%s is NULL", #f)
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

int main(void) {
    g_be = hpff_backend_cpu_create();
    test_table();
    test_memory();
    test_elementwise();
    test_convs();
    test_bn(3, 5, 63, 0.1f, 1e-5f, 401);
    test_bn(7, 3, 1, 0.25f, 1e-5f, 411);   // BatchNorm1d
    test_bn(1, 4, 10, 0.1f, 1e-3f, 421);
    test_bn(2, 3, 1024, 0.1f, 1e-5f, 431);
    test_pools();
    test_maxpool_nan();
    test_adaptive(7, 9, 3, 4, 801);
    test_adaptive(5, 5, 7, 8, 811);   // out > in replicates
    test_adaptive(8, 8, 1, 1, 821);   // GAP
    test_adaptive(9, 7, 4, 2, 831);
    test_adaptive(32, 32, 8, 8, 841);
    test_resize(5, 7, 11, 13, 901);
    test_resize(9, 8, 4, 3, 911);     // down-size
    test_resize(6, 5, 1, 1, 921);     // Out = 1
    test_resize(1, 1, 3, 4, 931);     // In = 1
    test_resize(7, 9, 7, 9, 941);     // identity
    test_resize(14, 14, 112, 112, 951);
    test_patch(7, 9, 2, 3, 4, 5, 1001);
    test_patch(8, 8, 0, 0, 8, 8, 1011);
    test_patch(9, 7, 8, 6, 1, 1, 1021);
    test_linear(3, 7, 5, 1, 1101);
    test_linear(5, 13, 11, 0, 1111);
    test_linear(1, 1, 1, 1, 1121);
    test_xent(6, 7, 3.0f, 1201);
    test_xent(5, 3, 3.0f, 1211);
    test_xent(4, 10, 200.0f, 1221);   // large logits: no overflow
    test_bce();
    test_sgd();
    hpff_backend_destroy(g_be);
    return hpff_test_summary("test_ops_cpu");
}
