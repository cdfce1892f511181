// test_dnnl_conv.c — the CPU backend's two convolution paths (backend.cpu_conv = dnnl and im2col)
// against the double references of ops_ref.h: forward with and without bias, backward-data with
// beta 0 (NaN-filled output) and 1, backward-filter accumulating, a smaller runtime batch in the
// workspace sized for the planned one, guards around every output and the workspace. Then what
// only the oneDNN path has: ResNet / ResNeXt / decoder shapes really run on a oneDNN primitive
// (no silent fallback), results are bitwise repeatable run to run and across backends at 1 and
// 2 threads. Built with HPFF_DNNL only (tests/ops.cmake).
#include <stdio.h>
#include <string.h>
#include "backend.h"
#include "ops_ref.h"
#include "test_util.h"

typedef struct conv_case { int n, ci, h, w, co, kh, kw, sh, sw, ph, pw, g, bias, dnnl; } conv_case;

// dnnl = 1: the oneDNN path must run a primitive of its own for this shape (every direction).
static const conv_case k_cases[] = {
    {4, 16, 12, 12, 16, 3, 3, 1, 1, 1, 1, 1, 0, 1},    // ResNet stage 1
    {3, 16, 12, 10, 32, 3, 3, 2, 2, 1, 1, 1, 0, 1},    // downsampling
    {3, 16, 12, 10, 32, 1, 1, 2, 2, 0, 0, 1, 0, 1},    // 1x1 projection, stride 2
    {2, 3, 13, 11, 16, 3, 3, 1, 1, 1, 1, 1, 0, 1},     // stem: 3 input channels
    {3, 32, 8, 8, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1},      // InfoPro decoder C -> 12, bias
    {3, 12, 8, 8, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1},       // decoder 12 -> 3, bias
    // backward-data as the transposed forward (dnnl_conv.c): 5x3 kernel with padding 2 / 0, and
    // an unpadded 3x3 (padding k-1-p = 2 on the transposed problem)
    {2, 24, 9, 7, 5, 5, 3, 1, 1, 2, 0, 1, 0, 1},
    {2, 20, 8, 8, 6, 3, 3, 1, 1, 0, 0, 1, 1, 1},
    {2, 64, 5, 7, 64, 3, 3, 1, 1, 1, 1, 2, 0, 1},      // groups 2
    {2, 64, 6, 6, 64, 3, 3, 1, 1, 1, 1, 32, 0, 1},     // groups 32 (ResNeXt's cardinality)
    {2, 256, 4, 4, 256, 3, 3, 2, 2, 1, 1, 32, 0, 1},   // 32x8d: 8 channels per group, stride 2
    {2, 64, 9, 9, 128, 1, 1, 1, 1, 0, 0, 1, 1, 1},     // bottleneck 1x1 with bias
    {1, 3, 17, 19, 8, 7, 7, 2, 2, 3, 3, 1, 0, 1},      // 7x7 stride-2 stem
    {3, 5, 7, 9, 7, 3, 3, 1, 1, 1, 1, 1, 1, 0},        // odd channel counts
    {2, 8, 9, 7, 4, 3, 3, 2, 2, 2, 2, 4, 1, 0},
    {2, 3, 11, 10, 4, 5, 3, 3, 2, 2, 0, 1, 1, 0},
    {2, 3, 6, 5, 9, 1, 1, 2, 1, 0, 1, 1, 1, 0},
    {3, 6, 5, 6, 6, 3, 3, 1, 1, 0, 0, 6, 0, 0},        // depthwise
};
#define N_CASES (sizeof k_cases / sizeof k_cases[0])

static hpff_conv_desc conv_desc(const conv_case *c) {
    hpff_conv_desc d = {c->n, c->ci, c->h, c->w, c->co, 0, 0, c->kh, c->kw, c->sh, c->sw, c->ph, c->pw, c->g, 0, 0};
    d.h_out = (c->h + 2 * c->ph - c->kh) / c->sh + 1;
    d.w_out = (c->w + 2 * c->pw - c->kw) / c->sw + 1;
    return d;
}

static float *guarded(size_t n, float fill, uint64_t seed) {
    float *p = test_guarded_alloc(n);
    if (seed) test_fill_uniform(p, n, -1.0f, 1.0f, seed);
    else for (size_t i = 0; i < n; i++) p[i] = fill;
    return p;
}

typedef struct conv_out { float *y, *dx0, *dx1, *dw, *db, *y2; } conv_out;

// Runs every direction of case c on be; inputs from `seed`. Checks guards.
static void run_case(hpff_backend *be, const conv_case *c, uint64_t seed, conv_out *o, const char *tag) {
    hpff_conv_desc d = conv_desc(c), d2 = d;
    d2.n = c->n - 1;
    size_t nx = ref_conv_x(&d), ny = ref_conv_y(&d), nw = ref_conv_w(&d), nb = (size_t)c->co;
    float *x = guarded(nx, 0, seed), *w = guarded(nw, 0, seed + 1), *b = guarded(nb, 0, seed + 2);
    float *dy = guarded(ny, 0, seed + 3);
    size_t wsb = be->conv_workspace(be, &d), wsf = (wsb + 3) / 4;
    float *ws = guarded(wsf, NAN, 0);
    o->y = guarded(ny, NAN, 0);
    o->dx0 = guarded(nx, NAN, 0);
    o->dx1 = guarded(nx, 0, seed + 4);
    o->dw = guarded(nw, 0, seed + 5);
    o->db = guarded(nb, 0, seed + 6);
    o->y2 = guarded(d2.n ? ref_conv_y(&d2) : 1, NAN, 0);
    be->conv_fwd(be, &d, x, w, c->bias ? b : NULL, o->y, ws);
    be->conv_bwd_data(be, &d, w, dy, o->dx0, 0.0f, ws);
    be->conv_bwd_data(be, &d, w, dy, o->dx1, 1.0f, ws);
    be->conv_bwd_filter(be, &d, x, dy, o->dw, c->bias ? o->db : NULL, ws);
    if (d2.n) be->conv_fwd(be, &d2, x, w, c->bias ? b : NULL, o->y2, ws);
    char what[256];
    snprintf(what, sizeof what, "%s workspace", tag);
    test_guard_ok(what, ws, wsf);
    const float *outs[6] = {o->y, o->dx0, o->dx1, o->dw, o->db, o->y2};
    size_t lens[6] = {ny, nx, nx, nw, nb, d2.n ? ref_conv_y(&d2) : 1};
    for (int i = 0; i < 6; i++) {
        snprintf(what, sizeof what, "%s output %d", tag, i);
        test_guard_ok(what, outs[i], lens[i]);
    }
    test_guarded_free(x); test_guarded_free(w); test_guarded_free(b); test_guarded_free(dy);
    test_guarded_free(ws);
}

static void free_out(conv_out *o) {
    test_guarded_free(o->y); test_guarded_free(o->dx0); test_guarded_free(o->dx1);
    test_guarded_free(o->dw); test_guarded_free(o->db); test_guarded_free(o->y2);
}

// prior (the fill of seed) + ref.
static double *plus_prior(uint64_t seed, const double *ref, size_t n) {
    float *p = malloc(n * sizeof(float));
    test_fill_uniform(p, n, -1.0f, 1.0f, seed);
    double *e = ref_alloc(n);
    for (size_t i = 0; i < n; i++) e[i] = (double)p[i] + ref[i];
    free(p);
    return e;
}

// Case c on be against the double references.
static void check_case(hpff_backend *be, const conv_case *c, uint64_t seed) {
    hpff_conv_desc d = conv_desc(c);
    char tag[200];
    snprintf(tag, sizeof tag, "%s conv n%d %d->%d %dx%d k%dx%d s%d p%d g%d%s", hpff_backend_cpu_conv(be), c->n,
             c->ci, c->co, c->h, c->w, c->kh, c->kw, c->sh, c->ph, c->g, c->bias ? " bias" : "");
    conv_out o;
    run_case(be, c, seed, &o, tag);
    size_t nx = ref_conv_x(&d), ny = ref_conv_y(&d), nw = ref_conv_w(&d), nb = (size_t)c->co;
    double *xd, *wd, *bd, *dyd;
    free(ref_rand(nx, -1, 1, seed, &xd));
    free(ref_rand(nw, -1, 1, seed + 1, &wd));
    free(ref_rand(nb, -1, 1, seed + 2, &bd));
    free(ref_rand(ny, -1, 1, seed + 3, &dyd));
    double *yr = ref_alloc(ny), *dxr = ref_alloc(nx), *dwr = ref_alloc(nw), *dbr = ref_alloc(nb);
    ref_conv_fwd(&d, xd, wd, c->bias ? bd : NULL, yr);
    ref_conv_bwd_data(&d, wd, dyd, dxr);
    ref_conv_bwd_filter(&d, xd, dyd, dwr, dbr);
    char what[260];
#define CLOSE(name, got, ref, n, atol, rtol) \
    (snprintf(what, sizeof what, "%s %s", tag, name), ref_close(what, got, ref, n, atol, rtol))
    CLOSE("fwd", o.y, yr, ny, 1e-5, 1e-4);
    CLOSE("bwd_data beta=0", o.dx0, dxr, nx, 1e-5, 1e-4);
    double *e = plus_prior(seed + 4, dxr, nx);
    CLOSE("bwd_data beta=1", o.dx1, e, nx, 1e-5, 1e-4);
    free(e);
    e = plus_prior(seed + 5, dwr, nw);
    CLOSE("bwd_filter dw +=", o.dw, e, nw, 2e-4, 1e-4);
    free(e);
    e = plus_prior(seed + 6, dbr, nb);
    if (c->bias) CLOSE("bwd_filter db +=", o.db, e, nb, 2e-4, 1e-4);
    else {
        float *p = malloc(nb * sizeof(float));
        test_fill_uniform(p, nb, -1.0f, 1.0f, seed + 6);
        TEST_CHECK(memcmp(p, o.db, nb * sizeof(float)) == 0, "%s: db touched without bias", tag);
        free(p);
    }
    free(e);
    if (c->n > 1) CLOSE("fwd at n-1", o.y2, yr, ny / c->n * (c->n - 1), 1e-5, 1e-4);
#undef CLOSE
    free(xd); free(wd); free(bd); free(dyd); free(yr); free(dxr); free(dwr); free(dbr);
    free_out(&o);
}

static hpff_backend *backend(const char *path, int threads) {
    hpff_backend *be = hpff_backend_cpu_create();
    TEST_CHECK(hpff_backend_cpu_set_conv(be, path), "set_conv %s", path);
    be->set_threads(be, threads);
    TEST_CHECK(strcmp(hpff_backend_cpu_conv(be), path) == 0, "path %s in use", path);
    return be;
}

// Every direction of c on oneDNN's own primitive (not the fallback) where the case says so.
static void check_impl(hpff_backend *be, const conv_case *c) {
    hpff_conv_desc d = conv_desc(c);
    be->conv_workspace(be, &d);
    for (int dir = 0; dir < 3; dir++) {
        const char *impl = hpff_backend_cpu_conv_impl(be, &d, dir);
        if (c->dnnl)
            TEST_CHECK(strcmp(impl, "im2col") != 0, "conv %d->%d %dx%d g%d direction %d fell back to im2col",
                       c->ci, c->co, c->h, c->w, c->g, dir);
        hpff_conv_desc d2 = d;   // a smaller runtime batch fits the workspace sized for d
        d2.n = d.n - 1;
        if (c->dnnl && d2.n > 0)
            TEST_CHECK(strcmp(hpff_backend_cpu_conv_impl(be, &d2, dir), "im2col") != 0,
                       "conv %d->%d %dx%d g%d direction %d at batch n-1 fell back to im2col", c->ci, c->co, c->h,
                       c->w, c->g, dir);
        if (dir == 0 && c->dnnl) printf("  %d->%d %dx%d k%d s%d g%d: %s\n", c->ci, c->co, c->h, c->w, c->kh, c->sh,
                                      c->g, impl);
    }
}

static int same(const conv_out *a, const conv_out *b, const conv_case *c) {
    hpff_conv_desc d = conv_desc(c);
    size_t nx = ref_conv_x(&d), ny = ref_conv_y(&d), nw = ref_conv_w(&d);
    return !memcmp(a->y, b->y, ny * 4) && !memcmp(a->dx0, b->dx0, nx * 4) && !memcmp(a->dx1, b->dx1, nx * 4) &&
           !memcmp(a->dw, b->dw, nw * 4) && !memcmp(a->db, b->db, (size_t)c->co * 4);
}

// Bitwise: the same backend twice, and a second backend, at `threads`.
static void check_repeatable(int threads) {
    hpff_backend *a = backend("dnnl", threads), *b = backend("dnnl", threads);
    for (size_t i = 0; i < N_CASES; i++) {
        conv_out o1, o2, o3;
        run_case(a, &k_cases[i], 500 + 10 * i, &o1, "repeat 1");
        run_case(a, &k_cases[i], 500 + 10 * i, &o2, "repeat 2");
        run_case(b, &k_cases[i], 500 + 10 * i, &o3, "repeat 3");
        TEST_CHECK(same(&o1, &o2, &k_cases[i]) && same(&o1, &o3, &k_cases[i]),
                   "case %zu at %d threads: not bitwise repeatable", i, threads);
        free_out(&o1); free_out(&o2); free_out(&o3);
    }
    hpff_backend_destroy(a);
    hpff_backend_destroy(b);
}

// bwd_data right after bwd_filter (one reorder of dy shared): the same bits as alone; with another
// dy, or another call in between, that dy's result.
static void check_kept(const conv_case *c, int threads) {
    hpff_backend *be = backend("dnnl", threads);
    hpff_conv_desc d = conv_desc(c);
    size_t nx = ref_conv_x(&d), ny = ref_conv_y(&d), nw = ref_conv_w(&d);
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *dy = malloc(ny * 4), *dy2 = malloc(ny * 4), *y = malloc(ny * 4);
    float *dw = calloc(nw, 4), *alone = malloc(nx * 4), *after = malloc(nx * 4), *other = malloc(nx * 4);
    test_fill_uniform(x, nx, -1, 1, 61);
    test_fill_uniform(w, nw, -1, 1, 62);
    test_fill_uniform(dy, ny, -1, 1, 63);
    test_fill_uniform(dy2, ny, -1, 1, 64);
    void *ws = malloc(be->conv_workspace(be, &d));
    be->conv_bwd_data(be, &d, w, dy2, other, 0.0f, ws);
    be->conv_bwd_data(be, &d, w, dy, alone, 0.0f, ws);
    be->conv_bwd_filter(be, &d, x, dy, dw, NULL, ws);
    be->conv_bwd_data(be, &d, w, dy, after, 0.0f, ws);
    TEST_CHECK(memcmp(alone, after, nx * 4) == 0, "bwd_data after bwd_filter differs (%d threads)", threads);
    be->conv_bwd_filter(be, &d, x, dy, dw, NULL, ws);
    be->conv_bwd_data(be, &d, w, dy2, after, 0.0f, ws);
    TEST_CHECK(memcmp(other, after, nx * 4) == 0, "bwd_data with another dy used the kept one (%d threads)", threads);
    be->conv_bwd_filter(be, &d, x, dy, dw, NULL, ws);
    be->conv_fwd(be, &d, x, w, NULL, y, ws);   // clobbers the workspace
    be->conv_bwd_data(be, &d, w, dy, after, 0.0f, ws);
    TEST_CHECK(memcmp(alone, after, nx * 4) == 0, "bwd_data after a forward used a stale copy (%d threads)", threads);
    free(x); free(w); free(dy); free(dy2); free(y); free(dw); free(alone); free(after); free(other); free(ws);
    hpff_backend_destroy(be);
}

// Two workspaces sized for one shape (batches 4 and 2): a call at batch 3 is unsized; its
// primitives need more than the smaller workspace, so it runs on im2col, with the reference's
// bits.
static void check_unsized(void) {
    hpff_backend *be = backend("dnnl", 1), *ref = backend("im2col", 1);
    conv_case c = k_cases[9];   // pointwise: im2col needs no column buffer, oneDNN's copies dominate
    c.n = 4;
    hpff_conv_desc d4 = conv_desc(&c), d2 = d4, d3 = d4;
    d2.n = 2;
    d3.n = 3;
    size_t ws4 = be->conv_workspace(be, &d4);
    be->conv_workspace(be, &d2);
    ref->conv_workspace(ref, &d4);
    TEST_CHECK(strcmp(hpff_backend_cpu_conv_impl(be, &d3, 0), "im2col") == 0, "unsized batch 3 not on im2col");
    TEST_CHECK(strcmp(hpff_backend_cpu_conv_impl(be, &d4, 0), "im2col") != 0, "sized batch 4 on im2col");
    size_t nx = ref_conv_x(&d3), ny = ref_conv_y(&d3), nw = ref_conv_w(&d3);
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *y = malloc(ny * 4), *yr = malloc(ny * 4), *ws = malloc(ws4);
    test_fill_uniform(x, nx, -1, 1, 71);
    test_fill_uniform(w, nw, -1, 1, 72);
    be->conv_fwd(be, &d3, x, w, NULL, y, ws);
    ref->conv_fwd(ref, &d3, x, w, NULL, yr, ws);
    TEST_CHECK(memcmp(y, yr, ny * 4) == 0, "unsized batch: not the im2col result");
    free(x); free(w); free(y); free(yr); free(ws);
    hpff_backend_destroy(be);
    hpff_backend_destroy(ref);
}

int main(void) {
    hpff_backend *ref = backend("im2col", 1);
    for (size_t i = 0; i < N_CASES; i++) check_case(ref, &k_cases[i], 100 + 10 * i);
    hpff_backend_destroy(ref);
    check_unsized();
    for (int threads = 1; threads <= 2; threads++) {
        hpff_backend *be = backend("dnnl", threads);
        for (size_t i = 0; i < N_CASES; i++) check_case(be, &k_cases[i], 100 + 10 * i);
        if (threads == 1)
            for (size_t i = 0; i < N_CASES; i++) check_impl(be, &k_cases[i]);
        hpff_backend_destroy(be);
        check_repeatable(threads);
        check_kept(&k_cases[0], threads);
        check_kept(&k_cases[4], threads);
    }
    return hpff_test_summary("test_dnnl_conv");
}
