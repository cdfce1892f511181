// test_ops_fd.c — finite-difference checks of the CPU backend's backward ops. For an op f and a
// random upstream gradient r, J = <r, f(inputs)> is evaluated with the double reference forward of
// ops_ref.h and differentiated by central differences (step 1e-5, in double, so the numeric
// gradient is accurate to ~1e-9); the backend's float backward must match it. Losses use
// J = weight * loss directly.
#include <stdio.h>
#include "backend.h"
#include "ops_ref.h"
#include "test_util.h"

static hpff_backend *g_be;

typedef struct fd_prob fd_prob;
struct fd_prob {
    void (*fwd)(const fd_prob *p, double *out);   // reference forward at the current inputs
    size_t n_out;
    double *in[3];                                 // the op's differentiable inputs
    const void *desc;                              // hpff_conv_desc / hpff_pool_desc
    int dims[6];                                   // other shapes (op specific)
    const int32_t *labels;
    const double *t;                               // BCE targets
    double eps;
};

static double fd_objective(const fd_prob *p, const double *r, double *out) {
    p->fwd(p, out);
    double j = 0.0;
    for (size_t i = 0; i < p->n_out; i++) j += r[i] * out[i];
    return j;
}

// Numeric dJ/d in[k][0..n) compared with the backend's gradient `got`.
static void fd_check(const char *what, const fd_prob *p, int k, size_t n, const double *r,
                     const float *got) {
    const double h = 1e-5;
    double *out = ref_alloc(p->n_out), *num = ref_alloc(n), big = 1.0;
    double *x = p->in[k];
    for (size_t i = 0; i < n; i++) {
        double s = x[i];
        x[i] = s + h;
        double jp = fd_objective(p, r, out);
        x[i] = s - h;
        double jm = fd_objective(p, r, out);
        x[i] = s;
        num[i] = (jp - jm) / (2.0 * h);
        big = fabs(num[i]) > big ? fabs(num[i]) : big;
    }
    ref_close(what, got, num, n, 1e-4 * big, 1e-3);
    free(out);
    free(num);
}

// ---- convolution: data, filter, bias ----

static void fwd_conv(const fd_prob *p, double *out) {
    ref_conv_fwd((const hpff_conv_desc *)p->desc, p->in[0], p->in[1], p->in[2], out);
}

static void fd_conv(hpff_conv_desc d, uint64_t seed) {
    d.h_out = (d.h_in + 2 * d.ph - d.kh) / d.sh + 1;
    d.w_out = (d.w_in + 2 * d.pw - d.kw) / d.sw + 1;
    char tag[128];
    snprintf(tag, sizeof tag, "fd conv %d->%d %dx%d k%dx%d s%d p%d g%d", d.c_in, d.c_out, d.h_in,
             d.w_in, d.kh, d.kw, d.sh, d.ph, d.groups);
    size_t nx = ref_conv_x(&d), ny = ref_conv_y(&d), nw = ref_conv_w(&d);
    double *xd, *wd, *bd, *r;
    float *x = ref_rand(nx, -1, 1, seed, &xd), *w = ref_rand(nw, -1, 1, seed + 1, &wd);
    float *b = ref_rand((size_t)d.c_out, -1, 1, seed + 2, &bd);
    float *dy = ref_rand(ny, -1, 1, seed + 3, &r);
    size_t wsb = g_be->conv_workspace(g_be, &d);
    void *ws = wsb ? malloc(wsb) : NULL;
    float *dx = calloc(nx, sizeof(float)), *dw = calloc(nw, sizeof(float));
    float *db = calloc((size_t)d.c_out, sizeof(float));
    g_be->conv_bwd_data(g_be, &d, w, dy, dx, 0.0f, ws);
    g_be->conv_bwd_filter(g_be, &d, x, dy, dw, db, ws);
    fd_prob p = {fwd_conv, ny, {xd, wd, bd}, &d, {0}, NULL, NULL, 0};
    char name[160];
    snprintf(name, sizeof name, "%s dx", tag);
    fd_check(name, &p, 0, nx, r, dx);
    snprintf(name, sizeof name, "%s dw", tag);
    fd_check(name, &p, 1, nw, r, dw);
    snprintf(name, sizeof name, "%s db", tag);
    fd_check(name, &p, 2, (size_t)d.c_out, r, db);
    free(x); free(w); free(b); free(dy); free(xd); free(wd); free(bd); free(r);
    free(ws); free(dx); free(dw); free(db);
}

// ---- batch norm (train): data, gamma, beta ----

static void fwd_bn(const fd_prob *p, double *out) {
    int n = p->dims[0], c = p->dims[1], hw = p->dims[2];
    double *mean = ref_alloc((size_t)c), *var = ref_alloc((size_t)c);
    ref_bn_train(n, c, hw, p->in[0], p->in[1], p->in[2], p->eps, out, mean, var);
    free(mean);
    free(var);
}

static void fd_bn(int n, int c, int hw, uint64_t seed) {
    char tag[64];
    snprintf(tag, sizeof tag, "fd bn n%d c%d hw%d", n, c, hw);
    size_t nx = (size_t)n * c * hw, nc = (size_t)c;
    const float eps = 1e-5f;
    double *xd, *gd, *bd, *r;
    float *x = ref_rand(nx, -2, 3, seed, &xd), *g = ref_rand(nc, 0.5f, 1.5f, seed + 1, &gd);
    float *b = ref_rand(nc, -1, 1, seed + 2, &bd), *dy = ref_rand(nx, -1, 1, seed + 3, &r);
    float *y = malloc(nx * sizeof(float)), *sm = malloc(nc * sizeof(float));
    float *si = malloc(nc * sizeof(float)), *rm = calloc(nc, sizeof(float));
    float *rv = calloc(nc, sizeof(float)), *dx = malloc(nx * sizeof(float));
    float *dg = calloc(nc, sizeof(float)), *db = calloc(nc, sizeof(float));
    g_be->bn_fwd_train(g_be, n, c, hw, x, g, b, y, rm, rv, 0.1f, eps, sm, si, 0);
    g_be->bn_bwd(g_be, n, c, hw, x, dy, g, sm, si, NULL, dx, 0.0f, dg, db);
    fd_prob p = {fwd_bn, nx, {xd, gd, bd}, NULL, {n, c, hw}, NULL, NULL, eps};
    char name[96];
    snprintf(name, sizeof name, "%s dx", tag);
    fd_check(name, &p, 0, nx, r, dx);
    snprintf(name, sizeof name, "%s dgamma", tag);
    fd_check(name, &p, 1, nc, r, dg);
    snprintf(name, sizeof name, "%s dbeta", tag);
    fd_check(name, &p, 2, nc, r, db);
    free(x); free(g); free(b); free(dy); free(xd); free(gd); free(bd); free(r); free(y); free(sm);
    free(si); free(rm); free(rv); free(dx); free(dg); free(db);
}

// ---- pools, adaptive pool, resize, sigmoid ----

static void fwd_maxpool(const fd_prob *p, double *out) {
    ref_maxpool_fwd((const hpff_pool_desc *)p->desc, p->in[0], out, NULL);
}
static void fwd_avgpool(const fd_prob *p, double *out) {
    ref_avgpool((const hpff_pool_desc *)p->desc, 0, p->in[0], out);
}

static void fd_pool(int is_max, hpff_pool_desc d, uint64_t seed) {
    d.h_out = (d.h_in + 2 * d.ph - d.kh) / d.sh + 1;
    d.w_out = (d.w_in + 2 * d.pw - d.kw) / d.sw + 1;
    char tag[96];
    snprintf(tag, sizeof tag, "fd %s %dx%d k%d s%d p%d dx", is_max ? "maxpool" : "avgpool", d.h_in,
             d.w_in, d.kh, d.sh, d.ph);
    size_t nx = ref_pool_x(&d), ny = ref_pool_y(&d);
    double *xd, *r;
    float *x = ref_rand(nx, -1, 1, seed, &xd), *dy = ref_rand(ny, -1, 1, seed + 1, &r);
    float *y = malloc(ny * sizeof(float)), *dx = malloc(nx * sizeof(float));
    if (is_max) {
        g_be->maxpool_fwd(g_be, &d, x, y);
        g_be->maxpool_bwd(g_be, &d, x, y, dy, dx, 0.0f);
    } else {
        g_be->avgpool_bwd(g_be, &d, dy, dx, 0.0f);
    }
    fd_prob p = {is_max ? fwd_maxpool : fwd_avgpool, ny, {xd}, &d, {0}, NULL, NULL, 0};
    fd_check(tag, &p, 0, nx, r, dx);
    free(x); free(dy); free(xd); free(r); free(y); free(dx);
}

static void fwd_adaptive(const fd_prob *p, double *out) {
    const int *q = p->dims;
    ref_adaptive(q[0], q[1], q[2], q[3], q[4], q[5], 0, p->in[0], out);
}
static void fwd_resize(const fd_prob *p, double *out) {
    const int *q = p->dims;
    ref_resize(q[0], q[1], q[2], q[3], q[4], q[5], 0, p->in[0], out);
}

// Adaptive pool (resize = 0) or bilinear resize (resize = 1) from hi x wi to ho x wo.
static void fd_spatial(int resize, int hi, int wi, int ho, int wo, uint64_t seed) {
    const int n = 2, c = 2;
    char tag[96];
    snprintf(tag, sizeof tag, "fd %s %dx%d->%dx%d dx", resize ? "resize" : "adaptive_avgpool", hi,
             wi, ho, wo);
    size_t nx = (size_t)n * c * hi * wi, ny = (size_t)n * c * ho * wo;
    double *xd, *r;
    float *x = ref_rand(nx, -1, 1, seed, &xd), *dy = ref_rand(ny, -1, 1, seed + 1, &r);
    float *dx = malloc(nx * sizeof(float));
    if (resize) g_be->resize_bilinear_bwd(g_be, n, c, hi, wi, ho, wo, dy, dx, 0.0f);
    else g_be->adaptive_avgpool_bwd(g_be, n, c, hi, wi, ho, wo, dy, dx, 0.0f);
    fd_prob p = {resize ? fwd_resize : fwd_adaptive, ny, {xd}, NULL, {n, c, hi, wi, ho, wo}, NULL,
                 NULL, 0};
    fd_check(tag, &p, 0, nx, r, dx);
    free(x); free(dy); free(xd); free(r); free(dx);
}

static void fwd_sigmoid(const fd_prob *p, double *out) {
    for (size_t i = 0; i < p->n_out; i++) out[i] = ref_sigmoid(p->in[0][i]);
}

static void fd_sigmoid(void) {
    const size_t n = 61;
    double *xd, *r;
    float *x = ref_rand(n, -6, 6, 1301, &xd), *dy = ref_rand(n, -1, 1, 1302, &r);
    float *y = malloc(n * sizeof(float)), *dx = malloc(n * sizeof(float));
    g_be->sigmoid_fwd(g_be, y, x, n);
    g_be->sigmoid_bwd(g_be, dx, y, dy, n, 0.0f);
    fd_prob p = {fwd_sigmoid, n, {xd}, NULL, {0}, NULL, NULL, 0};
    fd_check("fd sigmoid dx", &p, 0, n, r, dx);
    free(x); free(dy); free(xd); free(r); free(y); free(dx);
}

// ---- linear: data, weight, bias ----

static void fwd_linear(const fd_prob *p, double *out) {
    ref_linear_fwd(p->dims[0], p->dims[1], p->dims[2], p->in[0], p->in[1], p->in[2], out);
}

static void fd_linear(int n, int in, int out, uint64_t seed) {
    size_t nx = (size_t)n * in, ny = (size_t)n * out, nw = (size_t)out * in;
    double *xd, *wd, *bd, *r;
    float *x = ref_rand(nx, -1, 1, seed, &xd), *w = ref_rand(nw, -1, 1, seed + 1, &wd);
    float *b = ref_rand((size_t)out, -1, 1, seed + 2, &bd), *dy = ref_rand(ny, -1, 1, seed + 3, &r);
    float *dx = malloc(nx * sizeof(float)), *dw = calloc(nw, sizeof(float));
    float *db = calloc((size_t)out, sizeof(float));
    g_be->linear_bwd_data(g_be, n, in, out, w, dy, dx, 0.0f);
    g_be->linear_bwd_weight(g_be, n, in, out, x, dy, dw, db);
    fd_prob p = {fwd_linear, ny, {xd, wd, bd}, NULL, {n, in, out}, NULL, NULL, 0};
    fd_check("fd linear dx", &p, 0, nx, r, dx);
    fd_check("fd linear dw", &p, 1, nw, r, dw);
    fd_check("fd linear db", &p, 2, (size_t)out, r, db);
    free(x); free(w); free(b); free(dy); free(xd); free(wd); free(bd); free(r); free(dx); free(dw);
    free(db);
}

// ---- losses: J = weight * loss ----

static void fwd_xent(const fd_prob *p, double *out) {
    out[0] = ref_xent(p->dims[0], p->dims[1], p->in[0], p->labels, 1.0, NULL);
}
static void fwd_bce(const fd_prob *p, double *out) {
    out[0] = ref_bce((size_t)p->dims[0], p->in[0], p->t, 1.0, NULL);
}

static void fd_losses(void) {
    const int n = 5, k = 7;
    const float weight = 0.8f;
    double wr = weight, *zd, *pd, *td;
    float *z = ref_rand((size_t)n * k, -3, 3, 1401, &zd);
    float *dz = malloc((size_t)n * k * sizeof(float));
    int32_t lab[5] = {0, 6, 3, 3, 1};
    g_be->softmax_xent(g_be, n, k, z, lab, weight, dz, NULL, 0.f);
    fd_prob p = {fwd_xent, 1, {zd}, NULL, {n, k}, lab, NULL, 0};
    fd_check("fd softmax_xent dlogits", &p, 0, (size_t)n * k, &wr, dz);

    const int m = 43;
    float *pp = ref_rand((size_t)m, 0.05f, 0.95f, 1402, &pd);
    float *t = ref_rand((size_t)m, 0, 1, 1403, &td);
    float *dp = malloc((size_t)m * sizeof(float));
    t[0] = 0.0f;
    t[1] = 1.0f;
    td[0] = 0.0;
    td[1] = 1.0;
    g_be->bce(g_be, (size_t)m, pp, t, weight, dp, NULL, 0.f);
    fd_prob q = {fwd_bce, 1, {pd}, NULL, {m}, NULL, td, 0};
    fd_check("fd bce dp", &q, 0, (size_t)m, &wr, dp);
    free(z); free(zd); free(dz); free(pp); free(t); free(pd); free(td); free(dp);
}

int main(void) {
    g_be = hpff_backend_cpu_create();
    fd_conv((hpff_conv_desc){2, 4, 6, 7, 4, 0, 0, 3, 3, 2, 2, 1, 1, 2, 0, 0}, 11);
    fd_conv((hpff_conv_desc){2, 3, 5, 5, 2, 0, 0, 3, 3, 1, 1, 0, 0, 1, 0, 0}, 21);
    fd_conv((hpff_conv_desc){3, 4, 4, 5, 6, 0, 0, 1, 1, 1, 1, 0, 0, 1, 0, 0}, 31);
    fd_conv((hpff_conv_desc){2, 2, 7, 6, 3, 0, 0, 5, 3, 3, 2, 2, 1, 1, 0, 0}, 41);
    fd_conv((hpff_conv_desc){2, 3, 5, 6, 3, 0, 0, 3, 3, 1, 1, 1, 1, 1, 0, 0}, 45);
    // grouped convolutions of the ResNeXt blocks: groups 32 (2 channels per group in, 1 out; odd
    // map, stride 2), groups 2 with odd channels per group, and groups 1 for contrast
    fd_conv((hpff_conv_desc){2, 64, 5, 7, 32, 0, 0, 3, 3, 2, 2, 1, 1, 32, 0, 0}, 47);
    fd_conv((hpff_conv_desc){2, 6, 5, 3, 10, 0, 0, 3, 3, 1, 1, 1, 1, 2, 0, 0}, 48);
    fd_conv((hpff_conv_desc){2, 5, 3, 5, 3, 0, 0, 3, 3, 2, 2, 1, 1, 1, 0, 0}, 49);
    fd_bn(3, 2, 5, 51);
    fd_bn(6, 3, 1, 61);
    fd_pool(1, (hpff_pool_desc){2, 2, 7, 6, 0, 0, 3, 3, 2, 2, 1, 1}, 71);
    fd_pool(1, (hpff_pool_desc){2, 2, 6, 7, 0, 0, 2, 2, 2, 2, 0, 0}, 81);
    fd_pool(0, (hpff_pool_desc){2, 2, 7, 6, 0, 0, 3, 3, 2, 2, 1, 1}, 91);
    fd_pool(0, (hpff_pool_desc){2, 2, 6, 7, 0, 0, 2, 2, 2, 2, 0, 0}, 101);
    fd_spatial(0, 7, 5, 3, 4, 111);
    fd_spatial(0, 3, 4, 5, 7, 121);
    fd_spatial(1, 5, 4, 9, 7, 131);
    fd_spatial(1, 6, 7, 4, 3, 141);
    fd_linear(3, 5, 4, 151);
    fd_losses();
    fd_sigmoid();
    hpff_backend_destroy(g_be);
    return hpff_test_summary("test_ops_fd");
}
