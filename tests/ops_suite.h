// ops_suite.h — the backend op tests, written once. A driver names a backend under test and a
// reference backend (host memory) that gives the expected values, and how close they must be:
//   test_ops_cpu.c   CPU backend  vs the double-precision reference (ops_ref_backend.h)
//   test_ops_gpu.c   CUDA backend vs the CPU backend, fp32 and TF32
// and a third pair (e.g. an alternative CPU convolution vs the im2col one) is one more driver
// that calls ops_suite_run. Every case of ops_cases.h runs on both sides from the same inputs:
// outputs of the backend under test live between guard values (checked after copying back),
// beta = 0 outputs start as NaN (which must not leak), beta = 1 and accumulating outputs start
// from random priors both sides see.
#ifndef HPFF_OPS_SUITE_H
#define HPFF_OPS_SUITE_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend.h"
#include "ops_cases.h"
#include "test_util.h"

// How a check may be loosened by a driver that compares with a scale-relative tolerance:
// exact (bit for bit on every backend), plain (element-wise ops, reductions), mm (convolution
// and linear: library GEMMs, TF32).
typedef enum { OPS_EXACT, OPS_PLAIN, OPS_MM } ops_class;
// A check's own tolerance |got - want| <= atol + rtol*|want| (used by drivers with relative = 0).
typedef struct ops_tol { double atol, rtol; ops_class cls; } ops_tol;

typedef struct ops_driver {
    const char *name;       // printed with every check, e.g. "tf32"
    hpff_backend *be;       // under test
    hpff_backend *ref;      // the expected values (host memory)
    int relative;           // 1: |got - want| <= tol*max|want| + tol*|want|, tol by class (below);
                            // 0: each check's own atol / rtol
    double tol, tol_mm;     // relative: plain and mm classes (exact is 0)
    int ws_keep_max;        // conv workspace: one buffer of the largest size asked so far (as a
                            //   trainer sizes it); 0: exactly the case's size
    size_t ws_max;
} ops_driver;

// ---- buffers ----

static inline float *ops_host(size_t n) { return (float *)malloc((n ? n : 1) * sizeof(float)); }
static inline float *ops_rand(size_t n, float lo, float hi, uint64_t seed) {
    float *p = ops_host(n);
    test_fill_uniform(p, n, lo, hi, seed);
    return p;
}
static inline float *ops_copy(const float *x, size_t n) {
    float *p = ops_host(n);
    memcpy(p, x, n * sizeof(float));
    return p;
}
static inline float *ops_nan(size_t n) {
    float *p = ops_host(n);
    for (size_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}

// A buffer of the backend under test between TEST_GUARD guard values on both sides.
typedef struct ops_buf { float *base, *d; size_t n; } ops_buf;

// Uploads `host` (n floats; NaN when host is NULL) between guard regions.
static inline ops_buf ops_put(const ops_driver *drv, const float *host, size_t n) {
    size_t tot = n + 2 * TEST_GUARD;
    float *stage = ops_host(tot);
    for (size_t i = 0; i < tot; i++) stage[i] = TEST_GUARD_VALUE;
    for (size_t i = 0; i < n; i++) stage[TEST_GUARD + i] = host ? host[i] : NAN;
    ops_buf b = {(float *)drv->be->alloc(drv->be, tot * sizeof(float)), NULL, n};
    b.d = b.base + TEST_GUARD;
    drv->be->to_device(drv->be, b.base, stage, tot * sizeof(float));
    free(stage);
    return b;
}
static inline void ops_drop(const ops_driver *drv, ops_buf b) { drv->be->free(drv->be, b.base); }

// Compares the buffer with `want` (the reference's result) and checks its guards.
static inline void ops_check(const ops_driver *drv, const char *tag, const char *what, ops_buf b,
                             const float *want, ops_tol t) {
    size_t tot = b.n + 2 * TEST_GUARD;
    float *stage = ops_host(tot);
    drv->be->to_host(drv->be, stage, b.base, tot * sizeof(float));
    double atol = t.atol, rtol = t.rtol;
    if (drv->relative) {
        double amax = 0.0;
        for (size_t i = 0; i < b.n; i++) amax = fabs(want[i]) > amax ? fabs(want[i]) : amax;
        rtol = t.cls == OPS_EXACT ? 0.0 : t.cls == OPS_MM ? drv->tol_mm : drv->tol;
        atol = rtol * (amax > 0 ? amax : 1.0);
    }
    char name[256];
    snprintf(name, sizeof name, "[%s] %s %s", drv->name, tag, what);
    test_close(name, stage + TEST_GUARD, want, b.n, atol, rtol);
    test_guard_ok(name, stage + TEST_GUARD, b.n);
    free(stage);
}

static const ops_tol OPS_EXACT_TOL = {0, 0, OPS_EXACT};

// ---- convolution ----

static inline hpff_conv_desc ops_conv_desc(const ops_conv_case *c, int n) {
    hpff_conv_desc d = {n, c->ci, c->h, c->w, c->co, 0, 0, c->kh, c->kw, c->sh, c->sw, c->ph, c->pw, c->g, 0, 0};
    d.h_out = (c->h + 2 * c->ph - c->kh) / c->sh + 1;
    d.w_out = (c->w + 2 * c->pw - c->kw) / c->sw + 1;
    return d;
}

// One shape through all three directions on both backends; ws: the workspace under test.
static void ops_conv_run(const ops_driver *drv, const char *tag, const hpff_conv_desc *d, int bias, void *ws,
                         uint64_t seed) {
    hpff_backend *rf = drv->ref, *be = drv->be;
    size_t nx = (size_t)d->n * d->c_in * d->h_in * d->w_in, ny = (size_t)d->n * d->c_out * d->h_out * d->w_out;
    size_t nw = (size_t)d->c_out * (d->c_in / d->groups) * d->kh * d->kw, nb = (size_t)d->c_out;
    float *x = ops_rand(nx, -1, 1, seed), *w = ops_rand(nw, -1, 1, seed + 1), *b = ops_rand(nb, -1, 1, seed + 2);
    float *dy = ops_rand(ny, -1, 1, seed + 3), *dxp = ops_rand(nx, -1, 1, seed + 4);
    float *dwp = ops_rand(nw, -1, 1, seed + 5), *dbp = ops_rand(nb, -1, 1, seed + 6);
    void *rws = rf->alloc(rf, rf->conv_workspace(rf, d) + 64);
    float *y = ops_nan(ny), *dx0 = ops_nan(nx), *dx1 = ops_copy(dxp, nx), *dw = ops_copy(dwp, nw), *db = ops_copy(dbp, nb);
    rf->conv_fwd(rf, d, x, w, bias ? b : NULL, y, rws);
    rf->conv_bwd_data(rf, d, w, dy, dx0, 0.0f, rws);
    rf->conv_bwd_data(rf, d, w, dy, dx1, 1.0f, rws);
    rf->conv_bwd_filter(rf, d, x, dy, dw, bias ? db : NULL, rws);
    ops_buf gx = ops_put(drv, x, nx), gw = ops_put(drv, w, nw), gb = ops_put(drv, b, nb), gdy = ops_put(drv, dy, ny);
    ops_buf gy = ops_put(drv, NULL, ny), gdx0 = ops_put(drv, NULL, nx), gdx1 = ops_put(drv, dxp, nx);
    ops_buf gdw = ops_put(drv, dwp, nw), gdb = ops_put(drv, dbp, nb);
    be->conv_fwd(be, d, gx.d, gw.d, bias ? gb.d : NULL, gy.d, ws);
    be->conv_bwd_data(be, d, gw.d, gdy.d, gdx0.d, 0.0f, ws);
    be->conv_bwd_data(be, d, gw.d, gdy.d, gdx1.d, 1.0f, ws);
    be->conv_bwd_filter(be, d, gx.d, gdy.d, gdw.d, bias ? gdb.d : NULL, ws);
    ops_check(drv, tag, "fwd", gy, y, (ops_tol){1e-5, 1e-4, OPS_MM});
    ops_check(drv, tag, "bwd_data beta=0", gdx0, dx0, (ops_tol){1e-5, 1e-4, OPS_MM});
    ops_check(drv, tag, "bwd_data beta=1", gdx1, dx1, (ops_tol){1e-5, 1e-4, OPS_MM});
    ops_check(drv, tag, "bwd_filter dw +=", gdw, dw, (ops_tol){2e-4, 1e-4, OPS_MM});
    ops_check(drv, tag, bias ? "bwd_filter db +=" : "db untouched", gdb, db,
              bias ? (ops_tol){2e-4, 1e-4, OPS_MM} : OPS_EXACT_TOL);
    ops_buf all[] = {gx, gw, gb, gdy, gy, gdx0, gdx1, gdw, gdb};
    for (size_t i = 0; i < OPS_COUNT(all); i++) ops_drop(drv, all[i]);
    float *hall[] = {x, w, b, dy, dxp, dwp, dbp, y, dx0, dx1, dw, db};
    for (size_t i = 0; i < OPS_COUNT(hall); i++) free(hall[i]);
    rf->free(rf, rws);
}

// conv_workspace answers the same twice; a smaller batch than the one the workspace was sized
// for runs in the same buffer, whose guards stay intact.
static void ops_conv(ops_driver *drv, const ops_conv_case *c, uint64_t seed) {
    hpff_backend *be = drv->be;
    hpff_conv_desc d = ops_conv_desc(c, c->n);
    char tag[160];
    snprintf(tag, sizeof tag, "conv n%d %d->%d %dx%d k%dx%d s%dx%d p%dx%d g%d%s", c->n, c->ci, c->co, c->h, c->w,
             c->kh, c->kw, c->sh, c->sw, c->ph, c->pw, c->g, c->bias ? " bias" : "");
    size_t wsb = be->conv_workspace(be, &d);
    TEST_CHECK(be->conv_workspace(be, &d) == wsb, "[%s] %s: conv_workspace not stable", drv->name, tag);
    if (wsb > drv->ws_max) drv->ws_max = wsb;
    size_t bytes = drv->ws_keep_max ? drv->ws_max : wsb;
    ops_buf ws = ops_put(drv, NULL, (bytes + sizeof(float) - 1) / sizeof(float));
    ops_conv_run(drv, tag, &d, c->bias, ws.d, seed);
    if (c->n > 1) {   // a smaller runtime batch with the workspace sized for the planned one
        hpff_conv_desc d1 = ops_conv_desc(c, c->n - 1);
        strncat(tag, " (batch-1, unsized)", sizeof tag - strlen(tag) - 1);
        ops_conv_run(drv, tag, &d1, c->bias, ws.d, seed + 50);
    }
    size_t tot = ws.n + 2 * TEST_GUARD;
    float *stage = ops_host(tot);
    be->to_host(be, stage, ws.base, tot * sizeof(float));
    test_guard_ok("conv workspace", stage + TEST_GUARD, ws.n);
    free(stage);
    ops_drop(drv, ws);
}

// ---- batch norm ----

typedef struct ops_bn_io {
    float *x, *g, *b, *rm0, *rv0, *dy, *dxp, *dgp, *dbp;        // inputs and priors
    float *y, *ye, *sm, *si, *rm, *rv, *dx0, *dx1, *dg1, *db1, *dg2, *db2;   // the reference's results
} ops_bn_io;

// The reference's results: train forward, eval forward (pre-update running statistics), backward
// with dx (beta 0) and parameter grads, dx only (beta 1), parameter grads only (a second time).
static void ops_bn_reference(const ops_driver *drv, const ops_bn_case *k, ops_bn_io *o) {
    hpff_backend *rf = drv->ref;
    int n = k->n, c = k->c, hw = k->hw;
    size_t nx = (size_t)n * c * hw, nc = (size_t)c;
    o->y = ops_nan(nx), o->ye = ops_nan(nx), o->sm = ops_nan(nc), o->si = ops_nan(nc);
    o->rm = ops_copy(o->rm0, nc), o->rv = ops_copy(o->rv0, nc);
    o->dx0 = ops_nan(nx), o->dx1 = ops_copy(o->dxp, nx), o->dg1 = ops_copy(o->dgp, nc), o->db1 = ops_copy(o->dbp, nc);
    rf->bn_fwd_train(rf, n, c, hw, o->x, o->g, o->b, o->y, o->rm, o->rv, k->momentum, k->eps, o->sm, o->si, k->relu);
    rf->bn_fwd_eval(rf, n, c, hw, o->x, o->g, o->b, o->ye, o->rm0, o->rv0, k->eps, k->relu);
    const float *ry = k->relu ? o->y : NULL;
    rf->bn_bwd(rf, n, c, hw, o->x, o->dy, o->g, o->sm, o->si, ry, o->dx0, 0.0f, o->dg1, o->db1);
    rf->bn_bwd(rf, n, c, hw, o->x, o->dy, o->g, o->sm, o->si, ry, o->dx1, 1.0f, NULL, NULL);
    o->dg2 = ops_copy(o->dg1, nc), o->db2 = ops_copy(o->db1, nc);
    rf->bn_bwd(rf, n, c, hw, o->x, o->dy, o->g, o->sm, o->si, ry, NULL, 0.0f, o->dg2, o->db2);
}

static void ops_bn(const ops_driver *drv, const ops_bn_case *k) {
    hpff_backend *be = drv->be;
    int n = k->n, c = k->c, hw = k->hw;
    size_t nx = (size_t)n * c * hw, nc = (size_t)c;
    char tag[96];
    snprintf(tag, sizeof tag, "bn%s n%d c%d hw%d m%g", k->relu ? "+relu" : "", n, c, hw, k->momentum);
    ops_bn_io o;
    o.x = ops_rand(nx, -1, 1, k->seed);
    for (size_t i = 0; i < nx; i++) o.x[i] = 3.0f + 1.5f * o.x[i];   // a mean far from 0
    o.g = ops_rand(nc, 0.5f, 1.5f, k->seed + 1), o.b = ops_rand(nc, -0.5f, 0.5f, k->seed + 2);
    o.rm0 = ops_rand(nc, -1, 1, k->seed + 3), o.rv0 = ops_rand(nc, 0.5f, 2, k->seed + 4);
    o.dy = ops_rand(nx, -1, 1, k->seed + 5), o.dxp = ops_rand(nx, -1, 1, k->seed + 6);
    o.dgp = ops_rand(nc, -1, 1, k->seed + 7), o.dbp = ops_rand(nc, -1, 1, k->seed + 8);
    ops_bn_reference(drv, k, &o);
    ops_buf gx = ops_put(drv, o.x, nx), gg = ops_put(drv, o.g, nc), gb = ops_put(drv, o.b, nc), gdy = ops_put(drv, o.dy, nx);
    ops_buf gy = ops_put(drv, NULL, nx), gye = ops_put(drv, NULL, nx), gsm = ops_put(drv, NULL, nc), gsi = ops_put(drv, NULL, nc);
    ops_buf grm = ops_put(drv, o.rm0, nc), grv = ops_put(drv, o.rv0, nc), grm0 = ops_put(drv, o.rm0, nc), grv0 = ops_put(drv, o.rv0, nc);
    ops_buf gdx0 = ops_put(drv, NULL, nx), gdx1 = ops_put(drv, o.dxp, nx), gdg = ops_put(drv, o.dgp, nc), gdb = ops_put(drv, o.dbp, nc);
    // The backward masks by the reference's forward output (uploaded), so both sides clip alike
    // even where the two forwards round a value near zero differently.
    ops_buf gry = ops_put(drv, o.y, nx);
    const float *ry = k->relu ? gry.d : NULL;
    be->bn_fwd_train(be, n, c, hw, gx.d, gg.d, gb.d, gy.d, grm.d, grv.d, k->momentum, k->eps, gsm.d, gsi.d, k->relu);
    be->bn_fwd_eval(be, n, c, hw, gx.d, gg.d, gb.d, gye.d, grm0.d, grv0.d, k->eps, k->relu);
    ops_check(drv, tag, "train y", gy, o.y, (ops_tol){2e-5, 1e-4, OPS_PLAIN});
    ops_check(drv, tag, "save_mean", gsm, o.sm, (ops_tol){1e-6, 1e-5, OPS_PLAIN});
    ops_check(drv, tag, "save_invstd", gsi, o.si, (ops_tol){1e-6, 1e-5, OPS_PLAIN});
    ops_check(drv, tag, "running_mean", grm, o.rm, (ops_tol){1e-6, 1e-5, OPS_PLAIN});
    ops_check(drv, tag, "running_var", grv, o.rv, (ops_tol){1e-6, 1e-5, OPS_PLAIN});
    ops_check(drv, tag, "eval y", gye, o.ye, (ops_tol){2e-5, 1e-4, OPS_PLAIN});
    be->bn_bwd(be, n, c, hw, gx.d, gdy.d, gg.d, gsm.d, gsi.d, ry, gdx0.d, 0.0f, gdg.d, gdb.d);
    ops_check(drv, tag, "bwd dx beta=0", gdx0, o.dx0, (ops_tol){2e-5, 1e-4, OPS_PLAIN});
    ops_check(drv, tag, "bwd dgamma +=", gdg, o.dg1, (ops_tol){2e-5, 1e-4, OPS_PLAIN});
    ops_check(drv, tag, "bwd dbeta +=", gdb, o.db1, (ops_tol){2e-5, 1e-4, OPS_PLAIN});
    be->bn_bwd(be, n, c, hw, gx.d, gdy.d, gg.d, gsm.d, gsi.d, ry, gdx1.d, 1.0f, NULL, NULL);
    ops_check(drv, tag, "bwd dx beta=1 (no param grads)", gdx1, o.dx1, (ops_tol){2e-5, 1e-4, OPS_PLAIN});
    be->bn_bwd(be, n, c, hw, gx.d, gdy.d, gg.d, gsm.d, gsi.d, ry, NULL, 0.0f, gdg.d, gdb.d);
    ops_check(drv, tag, "bwd dgamma twice", gdg, o.dg2, (ops_tol){4e-5, 1e-4, OPS_PLAIN});
    ops_check(drv, tag, "bwd dbeta twice", gdb, o.db2, (ops_tol){4e-5, 1e-4, OPS_PLAIN});
    ops_buf all[] = {gx, gg, gb, gdy, gy, gye, gsm, gsi, grm, grv, grm0, grv0, gdx0, gdx1, gdg, gdb, gry};
    for (size_t i = 0; i < OPS_COUNT(all); i++) ops_drop(drv, all[i]);
    float *hall[] = {o.x, o.g, o.b, o.rm0, o.rv0, o.dy, o.dxp, o.dgp, o.dbp, o.y, o.ye, o.sm, o.si, o.rm,
                     o.rv, o.dx0, o.dx1, o.dg1, o.db1, o.dg2, o.db2};
    for (size_t i = 0; i < OPS_COUNT(hall); i++) free(hall[i]);
}

// ---- pooling, adaptive pooling, resize, patches ----

// A forward x -> y and its backward dy -> dx (beta 0 and 1) of one map op, on either backend.
typedef struct ops_map_op {
    const char *tag;
    size_t nx, ny;
    void (*fwd)(const void *arg, hpff_backend *be, const float *x, float *y);
    void (*bwd)(const void *arg, hpff_backend *be, const float *x, const float *y, const float *dy, float *dx, float beta);
    const void *arg;
    ops_tol fwd_tol, bwd_tol;
} ops_map_op;

static void ops_map(const ops_driver *drv, const ops_map_op *op, uint64_t seed) {
    hpff_backend *rf = drv->ref, *be = drv->be;
    size_t nx = op->nx, ny = op->ny;
    float *x = ops_rand(nx, -1, 1, seed), *dy = ops_rand(ny, -1, 1, seed + 1), *dxp = ops_rand(nx, -1, 1, seed + 2);
    float *y = ops_nan(ny), *dx0 = ops_nan(nx), *dx1 = ops_copy(dxp, nx);
    op->fwd(op->arg, rf, x, y);
    op->bwd(op->arg, rf, x, y, dy, dx0, 0.0f);
    op->bwd(op->arg, rf, x, y, dy, dx1, 1.0f);
    ops_buf gx = ops_put(drv, x, nx), gdy = ops_put(drv, dy, ny), gy = ops_put(drv, NULL, ny);
    ops_buf gdx0 = ops_put(drv, NULL, nx), gdx1 = ops_put(drv, dxp, nx);
    op->fwd(op->arg, be, gx.d, gy.d);
    op->bwd(op->arg, be, gx.d, gy.d, gdy.d, gdx0.d, 0.0f);
    op->bwd(op->arg, be, gx.d, gy.d, gdy.d, gdx1.d, 1.0f);
    ops_check(drv, op->tag, "fwd", gy, y, op->fwd_tol);
    ops_check(drv, op->tag, "bwd beta=0", gdx0, dx0, op->bwd_tol);
    ops_check(drv, op->tag, "bwd beta=1", gdx1, dx1, op->bwd_tol);
    ops_drop(drv, gx); ops_drop(drv, gdy); ops_drop(drv, gy); ops_drop(drv, gdx0); ops_drop(drv, gdx1);
    free(x); free(dy); free(dxp); free(y); free(dx0); free(dx1);
}

static void ops_maxpool_fwd(const void *a, hpff_backend *be, const float *x, float *y) { be->maxpool_fwd(be, a, x, y); }
static void ops_maxpool_bwd(const void *a, hpff_backend *be, const float *x, const float *y, const float *dy,
                            float *dx, float beta) { be->maxpool_bwd(be, a, x, y, dy, dx, beta); }
static void ops_avgpool_fwd(const void *a, hpff_backend *be, const float *x, float *y) { be->avgpool_fwd(be, a, x, y); }
static void ops_avgpool_bwd(const void *a, hpff_backend *be, const float *x, const float *y, const float *dy,
                            float *dx, float beta) { (void)x; (void)y; be->avgpool_bwd(be, a, dy, dx, beta); }

static void ops_pool(const ops_driver *drv, const ops_pool_case *q, uint64_t seed) {
    hpff_pool_desc d = {3, 5, q->h, q->w, 0, 0, q->kh, q->kw, q->s, q->s, q->ph, q->pw};
    d.h_out = (d.h_in + 2 * d.ph - d.kh) / d.sh + 1;
    d.w_out = (d.w_in + 2 * d.pw - d.kw) / d.sw + 1;
    char tag[128];
    snprintf(tag, sizeof tag, "%s n%d c%d %dx%d k%dx%d s%dx%d p%dx%d", q->is_max ? "maxpool" : "avgpool", d.n, d.c,
             d.h_in, d.w_in, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw);
    ops_map_op op = {tag, (size_t)d.n * d.c * d.h_in * d.w_in, (size_t)d.n * d.c * d.h_out * d.w_out,
                     q->is_max ? ops_maxpool_fwd : ops_avgpool_fwd, q->is_max ? ops_maxpool_bwd : ops_avgpool_bwd,
                     &d, {1e-6, 1e-5, OPS_PLAIN}, {1e-6, 1e-5, OPS_PLAIN}};
    ops_map(drv, &op, seed);
}

// Adaptive average pooling (resize = 0) or bilinear resize (1) of (n, c, hi, wi) -> (ho, wo).
typedef struct ops_grid { int resize, n, c; ops_map_case m; } ops_grid;
static void ops_grid_fwd(const void *a, hpff_backend *be, const float *x, float *y) {
    const ops_grid *g = a;
    const ops_map_case *m = &g->m;
    if (g->resize) be->resize_bilinear_fwd(be, g->n, g->c, m->hi, m->wi, m->ho, m->wo, x, y);
    else be->adaptive_avgpool_fwd(be, g->n, g->c, m->hi, m->wi, m->ho, m->wo, x, y);
}
static void ops_grid_bwd(const void *a, hpff_backend *be, const float *x, const float *y, const float *dy,
                         float *dx, float beta) {
    const ops_grid *g = a;
    const ops_map_case *m = &g->m;
    (void)x; (void)y;
    if (g->resize) be->resize_bilinear_bwd(be, g->n, g->c, m->hi, m->wi, m->ho, m->wo, dy, dx, beta);
    else be->adaptive_avgpool_bwd(be, g->n, g->c, m->hi, m->wi, m->ho, m->wo, dy, dx, beta);
}

// One adaptive-average-pool or bilinear-resize case on g (n, c and the map case k) under `name`.
static void ops_grid_case(const ops_driver *drv, ops_grid g, const char *name, ops_tol fwd, ops_tol bwd) {
    const ops_map_case *k = &g.m;
    char tag[96];
    snprintf(tag, sizeof tag, "%s %dx%d->%dx%d", name, k->hi, k->wi, k->ho, k->wo);
    ops_map_op op = {tag, (size_t)g.n * g.c * k->hi * k->wi, (size_t)g.n * g.c * k->ho * k->wo, ops_grid_fwd,
                     ops_grid_bwd, &g, fwd, bwd};
    ops_map(drv, &op, k->seed);
}

static void ops_adaptive(const ops_driver *drv, const ops_map_case *k) {
    ops_grid_case(drv, (ops_grid){0, 3, 5, *k}, "adaptive_avgpool", (ops_tol){1e-6, 1e-5, OPS_PLAIN},
                  (ops_tol){1e-6, 1e-5, OPS_PLAIN});
}

static void ops_resize(const ops_driver *drv, const ops_map_case *k) {
    ops_grid_case(drv, (ops_grid){1, 2, 3, *k}, "resize_bilinear", (ops_tol){2e-6, 1e-5, OPS_PLAIN},
                  (ops_tol){1e-5, 1e-5, OPS_PLAIN});
}

// Extract is a copy; scatter with beta = 0 writes the window only (the rest keeps its prior).
static void ops_patch(const ops_driver *drv, const ops_patch_case *k) {
    hpff_backend *rf = drv->ref, *be = drv->be;
    const int n = 2, c = 3;
    char tag[96];
    snprintf(tag, sizeof tag, "patch %dx%d [%d+%d, %d+%d]", k->h, k->w, k->r0, k->ph, k->c0, k->pw);
    size_t nx = (size_t)n * c * k->h * k->w, np = (size_t)n * c * k->ph * k->pw;
    float *x = ops_rand(nx, -1, 1, k->seed), *dp = ops_rand(np, -1, 1, k->seed + 1);
    float *dx0p = ops_rand(nx, -1, 1, k->seed + 2), *dx1p = ops_rand(nx, -1, 1, k->seed + 3);
    float *p = ops_nan(np), *dx0 = ops_copy(dx0p, nx), *dx1 = ops_copy(dx1p, nx);
    rf->patch_extract(rf, n, c, k->h, k->w, k->r0, k->c0, k->ph, k->pw, x, p);
    rf->patch_scatter(rf, n, c, k->h, k->w, k->r0, k->c0, k->ph, k->pw, dp, dx0, 0.0f);
    rf->patch_scatter(rf, n, c, k->h, k->w, k->r0, k->c0, k->ph, k->pw, dp, dx1, 1.0f);
    ops_buf gx = ops_put(drv, x, nx), gdp = ops_put(drv, dp, np), gp = ops_put(drv, NULL, np);
    ops_buf gdx0 = ops_put(drv, dx0p, nx), gdx1 = ops_put(drv, dx1p, nx);
    be->patch_extract(be, n, c, k->h, k->w, k->r0, k->c0, k->ph, k->pw, gx.d, gp.d);
    be->patch_scatter(be, n, c, k->h, k->w, k->r0, k->c0, k->ph, k->pw, gdp.d, gdx0.d, 0.0f);
    be->patch_scatter(be, n, c, k->h, k->w, k->r0, k->c0, k->ph, k->pw, gdp.d, gdx1.d, 1.0f);
    ops_check(drv, tag, "extract", gp, p, OPS_EXACT_TOL);
    ops_check(drv, tag, "scatter beta=0 (outside kept)", gdx0, dx0, OPS_EXACT_TOL);
    ops_check(drv, tag, "scatter beta=1", gdx1, dx1, (ops_tol){1e-7, 1e-7, OPS_PLAIN});
    ops_drop(drv, gx); ops_drop(drv, gdp); ops_drop(drv, gp); ops_drop(drv, gdx0); ops_drop(drv, gdx1);
    free(x); free(dp); free(dx0p); free(dx1p); free(p); free(dx0); free(dx1);
}

// ---- linear ----

static void ops_linear(const ops_driver *drv, const ops_linear_case *k) {
    hpff_backend *rf = drv->ref, *be = drv->be;
    int n = k->n, in = k->in, out = k->out, bias = k->bias;
    char tag[96];
    snprintf(tag, sizeof tag, "linear n%d %d->%d%s", n, in, out, bias ? " bias" : "");
    size_t nx = (size_t)n * in, ny = (size_t)n * out, nw = (size_t)out * in, nb = (size_t)out;
    float *x = ops_rand(nx, -1, 1, k->seed), *w = ops_rand(nw, -1, 1, k->seed + 1), *b = ops_rand(nb, -1, 1, k->seed + 2);
    float *dy = ops_rand(ny, -1, 1, k->seed + 3), *dxp = ops_rand(nx, -1, 1, k->seed + 4);
    float *dwp = ops_rand(nw, -1, 1, k->seed + 5), *dbp = ops_rand(nb, -1, 1, k->seed + 6);
    float *y = ops_nan(ny), *dx0 = ops_nan(nx), *dx1 = ops_copy(dxp, nx), *dw = ops_copy(dwp, nw), *db = ops_copy(dbp, nb);
    rf->linear_fwd(rf, n, in, out, x, w, bias ? b : NULL, y);
    rf->linear_bwd_data(rf, n, in, out, w, dy, dx0, 0.0f);
    rf->linear_bwd_data(rf, n, in, out, w, dy, dx1, 1.0f);
    rf->linear_bwd_weight(rf, n, in, out, x, dy, dw, bias ? db : NULL);
    ops_buf gx = ops_put(drv, x, nx), gw = ops_put(drv, w, nw), gb = ops_put(drv, b, nb), gdy = ops_put(drv, dy, ny);
    ops_buf gy = ops_put(drv, NULL, ny), gdx0 = ops_put(drv, NULL, nx), gdx1 = ops_put(drv, dxp, nx);
    ops_buf gdw = ops_put(drv, dwp, nw), gdb = ops_put(drv, dbp, nb);
    be->linear_fwd(be, n, in, out, gx.d, gw.d, bias ? gb.d : NULL, gy.d);
    be->linear_bwd_data(be, n, in, out, gw.d, gdy.d, gdx0.d, 0.0f);
    be->linear_bwd_data(be, n, in, out, gw.d, gdy.d, gdx1.d, 1.0f);
    be->linear_bwd_weight(be, n, in, out, gx.d, gdy.d, gdw.d, bias ? gdb.d : NULL);
    ops_tol t = {1e-5, 1e-4, OPS_MM};
    ops_check(drv, tag, "fwd", gy, y, t);
    ops_check(drv, tag, "bwd_data beta=0", gdx0, dx0, t);
    ops_check(drv, tag, "bwd_data beta=1", gdx1, dx1, t);
    ops_check(drv, tag, "bwd_weight dw +=", gdw, dw, t);
    ops_check(drv, tag, bias ? "bwd_weight db +=" : "db untouched", gdb, db, bias ? t : OPS_EXACT_TOL);
    ops_buf all[] = {gx, gw, gb, gdy, gy, gdx0, gdx1, gdw, gdb};
    for (size_t i = 0; i < OPS_COUNT(all); i++) ops_drop(drv, all[i]);
    float *hall[] = {x, w, b, dy, dxp, dwp, dbp, y, dx0, dx1, dw, db};
    for (size_t i = 0; i < OPS_COUNT(hall); i++) free(hall[i]);
}

// ---- element-wise ----

// fill, scale, axpy, add (also in place) on n elements.
static void ops_arith(const ops_driver *drv, size_t n, const float *x, const float *yv, ops_buf go) {
    hpff_backend *rf = drv->ref, *be = drv->be;
    ops_buf gx = ops_put(drv, x, n), gyv = ops_put(drv, yv, n);
    float *o = ops_nan(n);
    rf->fill(rf, o, 0.375f, n);
    be->fill(be, go.d, 0.375f, n);
    ops_check(drv, "fill", "", go, o, OPS_EXACT_TOL);
    memcpy(o, x, n * sizeof(float));
    rf->scale(rf, o, -1.25f, n);
    be->copy(be, go.d, gx.d, n * sizeof(float));
    be->scale(be, go.d, -1.25f, n);
    ops_check(drv, "scale", "", go, o, (ops_tol){0, 1e-7, OPS_PLAIN});
    memcpy(o, yv, n * sizeof(float));
    rf->axpy(rf, o, 0.5f, x, n);
    be->copy(be, go.d, gyv.d, n * sizeof(float));
    be->axpy(be, go.d, 0.5f, gx.d, n);
    ops_check(drv, "axpy", "", go, o, (ops_tol){1e-7, 1e-7, OPS_PLAIN});
    rf->add(rf, o, x, yv, n);
    be->add(be, go.d, gx.d, gyv.d, n);
    ops_check(drv, "add", "", go, o, (ops_tol){1e-7, 1e-7, OPS_PLAIN});
    be->copy(be, go.d, gx.d, n * sizeof(float));
    be->add(be, go.d, go.d, gyv.d, n);   // in place
    ops_check(drv, "add in place", "", go, o, (ops_tol){1e-7, 1e-7, OPS_PLAIN});
    ops_drop(drv, gx); ops_drop(drv, gyv);
    free(o);
}

// ReLU forward (also in place), backward beta 0 / 1 and in place (dx == dy); sigmoid both ways
// (with large |x|), the backwards from the reference's forward output on both sides.
static void ops_activations(const ops_driver *drv, size_t n, const float *x, const float *dy, const float *prior) {
    hpff_backend *rf = drv->ref, *be = drv->be;
    ops_buf gx = ops_put(drv, x, n), gdy = ops_put(drv, dy, n), gy = ops_put(drv, NULL, n);
    ops_buf gdx = ops_put(drv, NULL, n), gdx1 = ops_put(drv, prior, n);
    float *y = ops_nan(n), *r = ops_nan(n), *o = ops_copy(prior, n);
    rf->relu_fwd(rf, y, x, n);
    be->relu_fwd(be, gy.d, gx.d, n);
    ops_check(drv, "relu_fwd", "", gy, y, OPS_EXACT_TOL);
    rf->relu_bwd(rf, r, y, dy, n, 0.0f);
    be->relu_bwd(be, gdx.d, gy.d, gdy.d, n, 0.0f);
    ops_check(drv, "relu_bwd", "beta=0", gdx, r, OPS_EXACT_TOL);
    be->copy(be, gdx.d, gdy.d, n * sizeof(float));
    be->relu_bwd(be, gdx.d, gy.d, gdx.d, n, 0.0f);
    ops_check(drv, "relu_bwd", "in place", gdx, r, OPS_EXACT_TOL);
    rf->relu_bwd(rf, o, y, dy, n, 1.0f);
    be->relu_bwd(be, gdx1.d, gy.d, gdy.d, n, 1.0f);
    ops_check(drv, "relu_bwd", "beta=1", gdx1, o, (ops_tol){1e-7, 1e-7, OPS_PLAIN});
    be->copy(be, gdx.d, gx.d, n * sizeof(float));
    be->relu_fwd(be, gdx.d, gdx.d, n);
    ops_check(drv, "relu_fwd", "in place", gdx, y, OPS_EXACT_TOL);
    rf->sigmoid_fwd(rf, y, x, n);
    be->sigmoid_fwd(be, gy.d, gx.d, n);
    ops_check(drv, "sigmoid_fwd", "", gy, y, (ops_tol){1e-7, 1e-6, OPS_PLAIN});
    be->to_device(be, gy.d, y, n * sizeof(float));   // same y for both backwards
    rf->sigmoid_bwd(rf, r, y, dy, n, 0.0f);
    be->sigmoid_bwd(be, gdx.d, gy.d, gdy.d, n, 0.0f);
    ops_check(drv, "sigmoid_bwd", "beta=0", gdx, r, (ops_tol){1e-7, 1e-6, OPS_PLAIN});
    memcpy(o, prior, n * sizeof(float));
    be->to_device(be, gdx1.d, prior, n * sizeof(float));
    rf->sigmoid_bwd(rf, o, y, dy, n, 1.0f);
    be->sigmoid_bwd(be, gdx1.d, gy.d, gdy.d, n, 1.0f);
    ops_check(drv, "sigmoid_bwd", "beta=1", gdx1, o, (ops_tol){1e-7, 1e-6, OPS_PLAIN});
    ops_buf all[] = {gx, gdy, gy, gdx, gdx1};
    for (size_t i = 0; i < OPS_COUNT(all); i++) ops_drop(drv, all[i]);
    free(y); free(r); free(o);
}

static void ops_elementwise(const ops_driver *drv, const ops_size_case *k) {
    size_t n = k->n;
    float *x = ops_rand(n, -2, 2, k->seed), *yv = ops_rand(n, -2, 2, k->seed + 1);
    float *dy = ops_rand(n, -1, 1, k->seed + 2), *prior = ops_rand(n, -1, 1, k->seed + 3);
    ops_buf go = ops_put(drv, NULL, n);
    ops_arith(drv, n, x, yv, go);
    ops_drop(drv, go);
    const float big[6] = {-100.0f, -30.0f, 0.0f, 30.0f, 100.0f, 1e-3f};
    memcpy(x, big, sizeof big);
    ops_activations(drv, n, x, dy, prior);
    free(x); free(yv); free(dy); free(prior);
}

// ---- losses ----

// Runs `call` into a zeroed stat block of `be` (device memory) and copies it to h.
#define OPS_STAT_RUN(be, h, call)                                                       \
    do {                                                                                \
        float *stat_d = (float *)(be)->alloc((be), HPFF_STAT_FLOATS * sizeof(float));   \
        call;                                                                           \
        (be)->to_host((be), (h), stat_d, HPFF_STAT_FLOATS * sizeof(float));             \
        (be)->free((be), stat_d);                                                       \
    } while (0)

// A loss value: the check's own tolerance, or (relative drivers) tol * |want|.
static inline void ops_check_scalar(const ops_driver *drv, const char *tag, float got, float want, ops_tol t) {
    double rtol = drv->relative ? (t.cls == OPS_MM ? drv->tol_mm : drv->tol) : t.rtol;
    double atol = drv->relative ? rtol * fabs(want) : t.atol;
    char name[160];
    snprintf(name, sizeof name, "[%s] %s", drv->name, tag);
    test_close(name, &got, &want, 1, atol, rtol);
}

// Logits and labels of a case: a top-1 hit (sample 0), a rank-5 hit (sample 1) and a tie
// (sample 2; ties rank the lower index first) where the shape allows.
static float *ops_xent_inputs(const ops_xent_case *k, int32_t *lab) {
    int n = k->n, kk = k->k;
    float *z = ops_rand((size_t)n * kk, -k->scale, k->scale, k->seed);
    uint64_t s = k->seed;
    for (int i = 0; i < n; i++) lab[i] = (int32_t)(test_rng_next(&s) % (uint64_t)kk);
    if (n > 1) {
        lab[0] = 0;
        z[0] = 2 * k->scale;
    }
    if (n > 1 && kk > 5) {
        for (int j = 0; j < kk; j++) z[kk + j] = (float)(j + 1);
        lab[1] = kk - 5;
    }
    if (n > 2 && kk > 5) {
        z[2 * kk + 1] = z[2 * kk + 3];
        lab[2] = 3;
    }
    return z;
}

// Loss, dlogits and hit counts against the reference; no label counted as out of range.
static void ops_xent(const ops_driver *drv, const ops_xent_case *k) {
    hpff_backend *rf = drv->ref, *be = drv->be;
    char tag[64];
    snprintf(tag, sizeof tag, "softmax_xent n%d k%d x%g", k->n, k->k, k->scale);
    size_t nz = (size_t)k->n * k->k;
    int32_t *lab = (int32_t *)malloc((size_t)k->n * sizeof(int32_t));
    float *z = ops_xent_inputs(k, lab);
    const float weight = 0.7f;
    float *dz = ops_nan(nz), rs[HPFF_STAT_FLOATS] = {0}, gs[HPFF_STAT_FLOATS];
    rf->softmax_xent(rf, k->n, k->k, z, lab, weight, dz, rs, 1.f);
    ops_buf gz = ops_put(drv, z, nz), gdz = ops_put(drv, NULL, nz);
    int32_t *glab = (int32_t *)be->alloc(be, (size_t)k->n * sizeof(int32_t));
    be->to_device(be, glab, lab, (size_t)k->n * sizeof(int32_t));
    OPS_STAT_RUN(be, gs, be->softmax_xent(be, k->n, k->k, gz.d, glab, weight, gdz.d, stat_d, 1.f));
    ops_check_scalar(drv, tag, gs[HPFF_STAT_LOSS], rs[HPFF_STAT_LOSS], (ops_tol){1e-6, 1e-6, OPS_PLAIN});
    ops_check(drv, tag, "dlogits", gdz, dz, (ops_tol){1e-7, 1e-5, OPS_PLAIN});
    TEST_CHECK(gs[HPFF_STAT_TOP1] == rs[HPFF_STAT_TOP1] && gs[HPFF_STAT_TOP5] == rs[HPFF_STAT_TOP5],
               "[%s] %s: top-1 %g (want %g), top-5 %g (want %g)", drv->name, tag, gs[HPFF_STAT_TOP1],
               rs[HPFF_STAT_TOP1], gs[HPFF_STAT_TOP5], rs[HPFF_STAT_TOP5]);
    TEST_CHECK(gs[HPFF_STAT_BAD_LABELS] == 0.f, "[%s] %s: %g bad labels counted", drv->name, tag, gs[HPFF_STAT_BAD_LABELS]);
    be->free(be, glab);
    ops_drop(drv, gz); ops_drop(drv, gdz);
    free(z); free(lab); free(dz);
}

// BCE with the saturated cases (the log clamp at -100, the 1e-12 floor of the gradient's
// denominator) into a stat block that already holds 2, at scale 0.25.
static void ops_bce(const ops_driver *drv, const ops_size_case *k) {
    hpff_backend *rf = drv->ref, *be = drv->be;
    size_t n = k->n;
    char tag[64];
    snprintf(tag, sizeof tag, "bce n%zu", n);
    float *p = ops_rand(n, 0.01f, 0.99f, k->seed), *t = ops_rand(n, 0, 1, k->seed + 1);
    const float sp[8] = {0.0f, 0.0f, 1.0f, 1.0f, 1e-30f, 1.0f - 1e-7f, 0.0f, 1.0f};
    const float st[8] = {1.0f, 0.0f, 0.0f, 1.0f, 1.0f, 0.0f, 0.5f, 0.25f};
    for (size_t i = 0; i < 8 && i < n; i++) {
        p[i] = sp[i];
        t[i] = st[i];
    }
    const float weight = 1.5f, two[HPFF_STAT_FLOATS] = {2.f, 0.f, 0.f, 0.f};
    float *dp = ops_nan(n), rs[HPFF_STAT_FLOATS] = {2.f, 0.f, 0.f, 0.f}, gs[HPFF_STAT_FLOATS];
    rf->bce(rf, n, p, t, weight, dp, rs, 0.25f);
    ops_buf gp = ops_put(drv, p, n), gt = ops_put(drv, t, n), gdp = ops_put(drv, NULL, n);
    OPS_STAT_RUN(be, gs, be->to_device(be, stat_d, two, sizeof two);
                 be->bce(be, n, gp.d, gt.d, weight, gdp.d, stat_d, 0.25f));
    float got = (gs[HPFF_STAT_LOSS] - 2.f) / 0.25f, want = (rs[HPFF_STAT_LOSS] - 2.f) / 0.25f;
    char name[96];
    snprintf(name, sizeof name, "%s loss (added with scale 0.25)", tag);
    ops_check_scalar(drv, name, got, want, (ops_tol){1e-5, 1e-5, OPS_PLAIN});
    ops_check(drv, tag, "dp", gdp, dp, (ops_tol){1e-7, 1e-5, OPS_PLAIN});
    ops_drop(drv, gp); ops_drop(drv, gt); ops_drop(drv, gdp);
    free(p); free(t); free(dp);
}

// ---- optimizer ----

// Three steps from an unset momentum buffer (first = 1 on step 0); g is decayed in place.
static void ops_sgd(const ops_driver *drv, const ops_size_case *k) {
    hpff_backend *rf = drv->ref, *be = drv->be;
    size_t n = k->n;
    float *p = ops_rand(n, -1, 1, k->seed), *g = ops_nan(n), *buf = ops_nan(n);
    ops_buf gp = ops_put(drv, p, n), gg = ops_put(drv, NULL, n), gbuf = ops_put(drv, NULL, n);
    for (int step = 0; step < 3; step++) {
        test_fill_uniform(g, n, -1, 1, k->seed + 9 + (uint64_t)step);
        be->to_device(be, gg.d, g, n * sizeof(float));
        rf->sgd_nesterov(rf, p, g, buf, n, 0.1f, 0.9f, 1e-4f, step == 0);
        be->sgd_nesterov(be, gp.d, gg.d, gbuf.d, n, 0.1f, 0.9f, 1e-4f, step == 0);
        char tag[48];
        snprintf(tag, sizeof tag, "sgd_nesterov n%zu step %d", n, step);
        ops_check(drv, tag, "p", gp, p, (ops_tol){1e-6, 1e-5, OPS_PLAIN});
        ops_check(drv, tag, "buf", gbuf, buf, (ops_tol){1e-6, 1e-5, OPS_PLAIN});
        ops_check(drv, tag, "g (decayed in place)", gg, g, (ops_tol){1e-6, 1e-5, OPS_PLAIN});
    }
    ops_drop(drv, gp); ops_drop(drv, gg); ops_drop(drv, gbuf);
    free(p); free(g); free(buf);
}

// ---- the whole table ----

// Every entry the op suite and the layers call is set.
static void ops_table_complete(const hpff_backend *be) {
#define HAS(f) TEST_CHECK(be->f != NULL, "%s: %s is NULL", be->name, #f)
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

static void ops_suite_run(ops_driver *drv) {
    HPFF_CHECK(drv->ref->host_memory, "the reference backend of driver %s must use host memory", drv->name);
    ops_table_complete(drv->be);
    for (size_t i = 0; i < OPS_COUNT(k_elementwise_cases); i++) ops_elementwise(drv, &k_elementwise_cases[i]);
    for (size_t i = 0; i < OPS_COUNT(k_sgd_cases); i++) ops_sgd(drv, &k_sgd_cases[i]);
    for (size_t i = 0; i < OPS_COUNT(k_conv_cases); i++) ops_conv(drv, &k_conv_cases[i], 100 + 10 * i);
    for (size_t i = 0; i < OPS_COUNT(k_bn_cases); i++) ops_bn(drv, &k_bn_cases[i]);
    for (size_t i = 0; i < OPS_COUNT(k_pool_cases); i++) ops_pool(drv, &k_pool_cases[i], 300 + 10 * i);
    for (size_t i = 0; i < OPS_COUNT(k_adaptive_cases); i++) ops_adaptive(drv, &k_adaptive_cases[i]);
    for (size_t i = 0; i < OPS_COUNT(k_resize_cases); i++) ops_resize(drv, &k_resize_cases[i]);
    for (size_t i = 0; i < OPS_COUNT(k_patch_cases); i++) ops_patch(drv, &k_patch_cases[i]);
    for (size_t i = 0; i < OPS_COUNT(k_linear_cases); i++) ops_linear(drv, &k_linear_cases[i]);
    for (size_t i = 0; i < OPS_COUNT(k_xent_cases); i++) ops_xent(drv, &k_xent_cases[i]);
    for (size_t i = 0; i < OPS_COUNT(k_bce_cases); i++) ops_bce(drv, &k_bce_cases[i]);
}

#endif
