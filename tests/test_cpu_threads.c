// test_cpu_threads.c — the CPU backend's worker threads (train.threads): convolutions (forward,
// backward-data with beta 0 and 1, backward-filter accumulating) and batch norm with 2 and 3
// workers give the results of one worker (to float rounding: the filter gradient is summed per
// worker), and a run with the same thread count is bitwise repeatable.
#include <string.h>
#include "backend.h"
#include "test_util.h"

typedef struct outs { float *y, *dx, *dw, *db, *bny, *bndx, *dg, *dbeta, *rm, *rv; } outs;

static void run(int threads, const hpff_conv_desc *d0, outs *o) {
    hpff_backend *be = hpff_backend_cpu_create();
    be->set_threads(be, threads);
    hpff_conv_desc d = *d0;
    size_t xn = (size_t)d.n * d.c_in * d.h_in * d.w_in, yn = (size_t)d.n * d.c_out * d.h_out * d.w_out;
    size_t wn = (size_t)d.c_out * (d.c_in / d.groups) * d.kh * d.kw;
    float *x = malloc(xn * 4), *w = malloc(wn * 4), *b = malloc(d.c_out * 4), *dy = malloc(yn * 4);
    test_fill_uniform(x, xn, -1, 1, 1);
    test_fill_uniform(w, wn, -1, 1, 2);
    test_fill_uniform(b, d.c_out, -1, 1, 3);
    test_fill_uniform(dy, yn, -1, 1, 4);
    void *ws = malloc(be->conv_workspace(be, &d) + 64);
    o->y = calloc(yn, 4);
    o->dx = malloc(xn * 4);
    test_fill_uniform(o->dx, xn, -1, 1, 5);   // beta = 1 path adds into this
    o->dw = calloc(wn, 4);
    o->db = calloc(d.c_out, 4);
    be->conv_fwd(be, &d, x, w, b, o->y, ws);
    be->conv_bwd_data(be, &d, w, dy, o->dx, 1.f, ws);
    be->conv_bwd_filter(be, &d, x, dy, o->dw, o->db, ws);
    be->conv_bwd_filter(be, &d, x, dy, o->dw, o->db, ws);   // accumulates
    int c = d.c_out, hw = d.h_out * d.w_out;
    float *g = malloc(c * 4), *bt = malloc(c * 4), sm[64], si[64];
    test_fill_uniform(g, c, 0.5f, 1.5f, 6);
    test_fill_uniform(bt, c, -1, 1, 7);
    o->rm = calloc(c, 4);
    o->rv = malloc(c * 4);
    for (int i = 0; i < c; i++) o->rv[i] = 1;
    o->bny = malloc(yn * 4);
    o->bndx = malloc(yn * 4);
    o->dg = calloc(c, 4);
    o->dbeta = calloc(c, 4);
    be->bn_fwd_train(be, d.n, c, hw, o->y, g, bt, o->bny, o->rm, o->rv, 0.1f, 1e-5f, sm, si, 1);
    be->bn_bwd(be, d.n, c, hw, o->y, dy, g, sm, si, o->bny, o->bndx, 0.f, o->dg, o->dbeta);
    free(x); free(w); free(b); free(dy); free(ws); free(g); free(bt);
    hpff_backend_destroy(be);
}

static void compare(const char *name, const hpff_conv_desc *d, int threads) {
    outs a, b, c;
    run(1, d, &a);
    run(threads, d, &b);
    run(threads, d, &c);
    size_t xn = (size_t)d->n * d->c_in * d->h_in * d->w_in, yn = (size_t)d->n * d->c_out * d->h_out * d->w_out;
    size_t wn = (size_t)d->c_out * (d->c_in / d->groups) * d->kh * d->kw;
    char what[128];
#define CMP(field, cnt, atol, rtol)                                                   \
    snprintf(what, sizeof what, "%s threads=%d " #field, name, threads);              \
    test_close(what, b.field, a.field, cnt, atol, rtol);                              \
    TEST_CHECK(memcmp(b.field, c.field, (cnt) * 4) == 0, "%s not repeatable", what);
    CMP(y, yn, 0, 0)
    CMP(dx, xn, 0, 0)
    CMP(dw, wn, 1e-5, 1e-5)
    CMP(db, (size_t)d->c_out, 1e-5, 1e-5)
    CMP(bny, yn, 0, 0)
    CMP(bndx, yn, 0, 0)
    CMP(dg, (size_t)d->c_out, 0, 0)
    CMP(rv, (size_t)d->c_out, 0, 0)
    outs *all[3] = {&a, &b, &c};
    for (int i = 0; i < 3; i++) {
        outs *o = all[i];
        free(o->y); free(o->dx); free(o->dw); free(o->db); free(o->bny); free(o->bndx);
        free(o->dg); free(o->dbeta); free(o->rm); free(o->rv);
    }
}

int main(void) {
    hpff_conv_desc d1 = {7, 6, 9, 11, 10, 5, 6, 3, 3, 2, 2, 1, 1, 2, 0, 0};   // strided, grouped
    hpff_conv_desc d2 = {5, 8, 12, 12, 3, 12, 12, 3, 3, 1, 1, 1, 1, 1, 0, 0}; // few outputs: image blocks
    hpff_conv_desc d3 = {9, 16, 8, 8, 32, 8, 8, 1, 1, 1, 1, 0, 0, 1, 0, 0};   // pointwise
    for (int t = 2; t <= 3; t++) {
        compare("k3 s2 g2", &d1, t);
        compare("cout 3", &d2, t);
        compare("1x1", &d3, t);
    }
    return hpff_test_summary("test_cpu_threads");
}
