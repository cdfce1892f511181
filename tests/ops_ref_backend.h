// ops_ref_backend.h — the double-precision references of ops_ref.h as a backend table (host
// memory): every op converts its inputs to double, computes the reference, applies the beta /
// accumulate rule of backend.h in double and rounds once. The op suite (ops_suite.h) compares
// a backend under test with a reference backend; this one is the CPU driver's reference.
#ifndef HPFF_OPS_REF_BACKEND_H
#define HPFF_OPS_REF_BACKEND_H
#include "ops_ref.h"

// ---- helpers: a double copy of an input; an output written with the beta rule ----

static inline double *rb_in(const float *x, size_t n) {
    double *d = ref_alloc(n);
    if (x) ref_to_double(x, d, n);
    return d;
}
// out = beta * out + r (beta 0: out is not read, NaN there must not leak), rounded once.
static inline void rb_out(float *out, const double *r, size_t n, float beta) {
    for (size_t i = 0; i < n; i++) out[i] = (float)(beta != 0.f ? (double)out[i] + r[i] : r[i]);
}
static inline void rb_stat(float *stat, int slot, double v, float scale) {
    if (stat) stat[slot] = (float)((double)stat[slot] + (double)scale * v);
}

// ---- memory ----

static void *rb_alloc(hpff_backend *be, size_t bytes) {
    (void)be;
    void *p = NULL;
    size_t sz = (bytes + 63) / 64 * 64;
    HPFF_CHECK(posix_memalign(&p, 64, sz ? sz : 64) == 0, "out of host memory");
    memset(p, 0, sz ? sz : 64);
    return p;
}
static void rb_free(hpff_backend *be, void *p) { (void)be; free(p); }
static void rb_copy(hpff_backend *be, void *dst, const void *src, size_t bytes) { (void)be; memmove(dst, src, bytes); }
static void rb_sync(hpff_backend *be) { (void)be; }
static void rb_destroy(hpff_backend *be) { free(be); }
static size_t rb_conv_ws(hpff_backend *be, const hpff_conv_desc *d) { (void)be; (void)d; return 0; }
static void rb_threads(hpff_backend *be, int t) { (void)be; (void)t; }

// ---- elementwise ----

static void rb_fill(hpff_backend *be, float *x, float v, size_t n) { (void)be; for (size_t i = 0; i < n; i++) x[i] = v; }
static void rb_scale(hpff_backend *be, float *x, float a, size_t n) {
    (void)be;
    for (size_t i = 0; i < n; i++) x[i] = (float)((double)a * x[i]);
}
static void rb_axpy(hpff_backend *be, float *y, float a, const float *x, size_t n) {
    (void)be;
    for (size_t i = 0; i < n; i++) y[i] = (float)((double)y[i] + (double)a * x[i]);
}
static void rb_add(hpff_backend *be, float *y, const float *a, const float *b, size_t n) {
    (void)be;
    for (size_t i = 0; i < n; i++) y[i] = (float)((double)a[i] + (double)b[i]);
}
static void rb_relu_fwd(hpff_backend *be, float *y, const float *x, size_t n) {
    (void)be;
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0.f;
}
static void rb_relu_bwd(hpff_backend *be, float *dx, const float *y, const float *dy, size_t n, float beta) {
    (void)be;
    for (size_t i = 0; i < n; i++) {
        double g = y[i] > 0 ? (double)dy[i] : 0.0;
        dx[i] = (float)(beta != 0.f ? (double)dx[i] + g : g);
    }
}
static void rb_sigmoid_fwd(hpff_backend *be, float *y, const float *x, size_t n) {
    (void)be;
    for (size_t i = 0; i < n; i++) y[i] = (float)ref_sigmoid(x[i]);
}
static void rb_sigmoid_bwd(hpff_backend *be, float *dx, const float *y, const float *dy, size_t n, float beta) {
    (void)be;
    for (size_t i = 0; i < n; i++) {
        double g = (double)dy[i] * y[i] * (1.0 - y[i]);
        dx[i] = (float)(beta != 0.f ? (double)dx[i] + g : g);
    }
}

// ---- convolution ----

static void rb_conv_fwd(hpff_backend *be, const hpff_conv_desc *d, const float *x, const float *w,
                        const float *bias, float *y, void *ws) {
    (void)be; (void)ws;
    double *xd = rb_in(x, ref_conv_x(d)), *wd = rb_in(w, ref_conv_w(d)), *bd = bias ? rb_in(bias, d->c_out) : NULL;
    double *yd = ref_alloc(ref_conv_y(d));
    ref_conv_fwd(d, xd, wd, bd, yd);
    rb_out(y, yd, ref_conv_y(d), 0.f);
    free(xd); free(wd); free(bd); free(yd);
}
static void rb_conv_bwd_data(hpff_backend *be, const hpff_conv_desc *d, const float *w, const float *dy,
                             float *dx, float beta, void *ws) {
    (void)be; (void)ws;
    double *wd = rb_in(w, ref_conv_w(d)), *dyd = rb_in(dy, ref_conv_y(d)), *r = ref_alloc(ref_conv_x(d));
    ref_conv_bwd_data(d, wd, dyd, r);
    rb_out(dx, r, ref_conv_x(d), beta);
    free(wd); free(dyd); free(r);
}
static void rb_conv_bwd_filter(hpff_backend *be, const hpff_conv_desc *d, const float *x, const float *dy,
                               float *dw, float *dbias, void *ws) {
    (void)be; (void)ws;
    double *xd = rb_in(x, ref_conv_x(d)), *dyd = rb_in(dy, ref_conv_y(d));
    double *rw = ref_alloc(ref_conv_w(d)), *rb = ref_alloc((size_t)d->c_out);
    ref_conv_bwd_filter(d, xd, dyd, rw, rb);
    rb_out(dw, rw, ref_conv_w(d), 1.f);
    if (dbias) rb_out(dbias, rb, (size_t)d->c_out, 1.f);
    free(xd); free(dyd); free(rw); free(rb);
}

// ---- batch norm ----

static void rb_relu_inplace(double *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = y[i] > 0 ? y[i] : 0.0;
}
static void rb_bn_fwd_train(hpff_backend *be, int n, int c, int hw, const float *x, const float *gamma,
                            const float *beta, float *y, float *rm, float *rv, float momentum, float eps,
                            float *save_mean, float *save_invstd, int relu) {
    (void)be;
    size_t nx = (size_t)n * c * hw;
    double *xd = rb_in(x, nx), *gd = rb_in(gamma, c), *bd = rb_in(beta, c), *yd = ref_alloc(nx);
    double *mean = ref_alloc(c), *var = ref_alloc(c), cnt = (double)n * hw;
    ref_bn_train(n, c, hw, xd, gd, bd, eps, yd, mean, var);
    if (relu) rb_relu_inplace(yd, nx);
    rb_out(y, yd, nx, 0.f);
    for (int k = 0; k < c; k++) {
        save_mean[k] = (float)mean[k];
        save_invstd[k] = (float)(1.0 / sqrt(var[k] + eps));
        rm[k] = (float)((1.0 - momentum) * rm[k] + momentum * mean[k]);
        rv[k] = (float)((1.0 - momentum) * rv[k] + momentum * var[k] * cnt / (cnt - 1.0));
    }
    free(xd); free(gd); free(bd); free(yd); free(mean); free(var);
}
static void rb_bn_fwd_eval(hpff_backend *be, int n, int c, int hw, const float *x, const float *gamma,
                           const float *beta, float *y, const float *rm, const float *rv, float eps, int relu) {
    (void)be;
    size_t nx = (size_t)n * c * hw;
    double *xd = rb_in(x, nx), *gd = rb_in(gamma, c), *bd = rb_in(beta, c), *md = rb_in(rm, c), *vd = rb_in(rv, c);
    double *yd = ref_alloc(nx);
    ref_bn_apply(n, c, hw, xd, gd, bd, md, vd, eps, yd);
    if (relu) rb_relu_inplace(yd, nx);
    rb_out(y, yd, nx, 0.f);
    free(xd); free(gd); free(bd); free(md); free(vd); free(yd);
}
// ref_bn_bwd with the forward's saved 1/std; relu_y: dy masked where the forward clipped.
static void rb_bn_bwd(hpff_backend *be, int n, int c, int hw, const float *x, const float *dy,
                      const float *gamma, const float *save_mean, const float *save_invstd, const float *relu_y,
                      float *dx, float beta_dx, float *dgamma, float *dbeta) {
    (void)be; (void)save_mean;
    size_t nx = (size_t)n * c * hw;
    double *xd = rb_in(x, nx), *g = rb_in(dy, nx), *gd = rb_in(gamma, c), *is = rb_in(save_invstd, c);
    double *rdx = ref_alloc(nx), *rg = ref_alloc(c), *rbt = ref_alloc(c);
    if (relu_y)
        for (size_t i = 0; i < nx; i++) g[i] = relu_y[i] > 0 ? g[i] : 0.0;
    ref_bn_bwd(n, c, hw, xd, g, gd, is, rdx, rg, rbt);
    if (dx) rb_out(dx, rdx, nx, beta_dx);
    if (dgamma) rb_out(dgamma, rg, c, 1.f);
    if (dbeta) rb_out(dbeta, rbt, c, 1.f);
    free(xd); free(g); free(gd); free(is); free(rdx); free(rg); free(rbt);
}

// ---- pooling, resize, patches ----

static void rb_maxpool_fwd(hpff_backend *be, const hpff_pool_desc *d, const float *x, float *y) {
    (void)be;
    double *xd = rb_in(x, ref_pool_x(d)), *yd = ref_alloc(ref_pool_y(d));
    ref_maxpool_fwd(d, xd, yd, NULL);
    rb_out(y, yd, ref_pool_y(d), 0.f);
    free(xd); free(yd);
}
static void rb_maxpool_bwd(hpff_backend *be, const hpff_pool_desc *d, const float *x, const float *y,
                           const float *dy, float *dx, float beta) {
    (void)be; (void)y;
    double *xd = rb_in(x, ref_pool_x(d)), *dyd = rb_in(dy, ref_pool_y(d)), *r = ref_alloc(ref_pool_x(d));
    ref_maxpool_bwd(d, xd, dyd, r);
    rb_out(dx, r, ref_pool_x(d), beta);
    free(xd); free(dyd); free(r);
}
static void rb_avgpool_fwd(hpff_backend *be, const hpff_pool_desc *d, const float *x, float *y) {
    (void)be;
    double *xd = rb_in(x, ref_pool_x(d)), *yd = ref_alloc(ref_pool_y(d));
    ref_avgpool(d, 0, xd, yd);
    rb_out(y, yd, ref_pool_y(d), 0.f);
    free(xd); free(yd);
}
static void rb_avgpool_bwd(hpff_backend *be, const hpff_pool_desc *d, const float *dy, float *dx, float beta) {
    (void)be;
    double *dyd = rb_in(dy, ref_pool_y(d)), *r = ref_alloc(ref_pool_x(d));
    ref_avgpool(d, 1, dyd, r);
    rb_out(dx, r, ref_pool_x(d), beta);
    free(dyd); free(r);
}
// Adaptive pooling and bilinear resize: ref(n, c, hi, wi, ho, wo, mode, in, out), mode 0 the
// map x -> y, mode 1 its adjoint dy -> dx.
typedef void (*rb_grid_ref)(int, int, int, int, int, int, int, const double *, double *);
static void rb_grid(rb_grid_ref ref, int mode, int n, int c, int hi, int wi, int ho, int wo, const float *in,
                    float *out, float beta) {
    size_t nx = (size_t)n * c * hi * wi, ny = (size_t)n * c * ho * wo;
    double *ind = rb_in(in, mode ? ny : nx), *r = ref_alloc(mode ? nx : ny);
    ref(n, c, hi, wi, ho, wo, mode, ind, r);
    rb_out(out, r, mode ? nx : ny, beta);
    free(ind); free(r);
}
static void rb_adaptive_fwd(hpff_backend *be, int n, int c, int hi, int wi, int ho, int wo, const float *x, float *y) {
    (void)be;
    rb_grid(ref_adaptive, 0, n, c, hi, wi, ho, wo, x, y, 0.f);
}
static void rb_adaptive_bwd(hpff_backend *be, int n, int c, int hi, int wi, int ho, int wo, const float *dy,
                            float *dx, float beta) {
    (void)be;
    rb_grid(ref_adaptive, 1, n, c, hi, wi, ho, wo, dy, dx, beta);
}
static void rb_resize_fwd(hpff_backend *be, int n, int c, int hi, int wi, int ho, int wo, const float *x, float *y) {
    (void)be;
    rb_grid(ref_resize, 0, n, c, hi, wi, ho, wo, x, y, 0.f);
}
static void rb_resize_bwd(hpff_backend *be, int n, int c, int hi, int wi, int ho, int wo, const float *dy,
                          float *dx, float beta) {
    (void)be;
    rb_grid(ref_resize, 1, n, c, hi, wi, ho, wo, dy, dx, beta);
}
static void rb_patch_extract(hpff_backend *be, int n, int c, int h, int w, int r0, int c0, int ph, int pw,
                             const float *x, float *p) {
    (void)be;
    for (int pl = 0; pl < n * c; pl++)
        for (int i = 0; i < ph; i++)
            for (int j = 0; j < pw; j++) p[((size_t)pl * ph + i) * pw + j] = x[((size_t)pl * h + r0 + i) * w + c0 + j];
}
static void rb_patch_scatter(hpff_backend *be, int n, int c, int h, int w, int r0, int c0, int ph, int pw,
                             const float *dp, float *dx, float beta) {
    (void)be;
    for (int pl = 0; pl < n * c; pl++)
        for (int i = 0; i < ph; i++)
            for (int j = 0; j < pw; j++) {
                float *o = &dx[((size_t)pl * h + r0 + i) * w + c0 + j];
                double g = dp[((size_t)pl * ph + i) * pw + j];
                *o = (float)(beta != 0.f ? (double)*o + g : g);
            }
}

// ---- linear ----

static void rb_linear_fwd(hpff_backend *be, int n, int in, int out, const float *x, const float *w,
                          const float *b, float *y) {
    (void)be;
    double *xd = rb_in(x, (size_t)n * in), *wd = rb_in(w, (size_t)out * in), *bd = b ? rb_in(b, out) : NULL;
    double *yd = ref_alloc((size_t)n * out);
    ref_linear_fwd(n, in, out, xd, wd, bd, yd);
    rb_out(y, yd, (size_t)n * out, 0.f);
    free(xd); free(wd); free(bd); free(yd);
}
static void rb_linear_bwd_data(hpff_backend *be, int n, int in, int out, const float *w, const float *dy,
                               float *dx, float beta) {
    (void)be;
    double *r = ref_alloc((size_t)n * in);
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++)
            for (int k = 0; k < in; k++) r[(size_t)i * in + k] += (double)dy[(size_t)i * out + o] * w[(size_t)o * in + k];
    rb_out(dx, r, (size_t)n * in, beta);
    free(r);
}
static void rb_linear_bwd_weight(hpff_backend *be, int n, int in, int out, const float *x, const float *dy,
                                 float *dw, float *db) {
    (void)be;
    double *rw = ref_alloc((size_t)out * in), *rb = ref_alloc(out);
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double g = dy[(size_t)i * out + o];
            rb[o] += g;
            for (int k = 0; k < in; k++) rw[(size_t)o * in + k] += g * x[(size_t)i * in + k];
        }
    rb_out(dw, rw, (size_t)out * in, 1.f);
    if (db) rb_out(db, rb, out, 1.f);
    free(rw); free(rb);
}

// ---- losses, optimizer ----

static void rb_xent(hpff_backend *be, int n, int k, const float *logits, const int32_t *labels, float weight,
                    float *dlogits, float *stat, float stat_scale) {
    (void)be;
    double *zd = rb_in(logits, (size_t)n * k), *dz = ref_alloc((size_t)n * k);
    int ok = 1, hit1 = 0, hit5 = 0, bad = 0;
    for (int i = 0; i < n; i++) ok &= labels[i] >= 0 && labels[i] < k;
    double loss = ok ? ref_xent(n, k, zd, labels, weight, dz) : 0.0;
    for (int i = 0; i < n; i++) {
        int y = labels[i], rank = 0;   // classes ranked before y (ties go to the lower index)
        if (y < 0 || y >= k) { bad++; continue; }
        for (int j = 0; j < k; j++) rank += zd[(size_t)i * k + j] > zd[(size_t)i * k + y] ||
                                            (zd[(size_t)i * k + j] == zd[(size_t)i * k + y] && j < y);
        hit1 += rank < 1;
        hit5 += rank < 5;
    }
    if (dlogits && ok) rb_out(dlogits, dz, (size_t)n * k, 0.f);
    rb_stat(stat, HPFF_STAT_LOSS, loss, stat_scale);
    rb_stat(stat, HPFF_STAT_TOP1, hit1, 1.f);
    rb_stat(stat, HPFF_STAT_TOP5, hit5, 1.f);
    rb_stat(stat, HPFF_STAT_BAD_LABELS, bad, 1.f);
    free(zd); free(dz);
}
static void rb_bce(hpff_backend *be, size_t count, const float *p, const float *t, float weight, float *dp,
                   float *stat, float stat_scale) {
    (void)be;
    double *pd = rb_in(p, count), *td = rb_in(t, count), *r = ref_alloc(count);
    double loss = ref_bce(count, pd, td, weight, r);
    if (dp) rb_out(dp, r, count, 0.f);
    rb_stat(stat, HPFF_STAT_LOSS, loss, stat_scale);
    free(pd); free(td); free(r);
}
static void rb_sgd(hpff_backend *be, float *p, float *g, float *buf, size_t count, float lr, float mom, float wd,
                   int first) {
    (void)be;
    for (size_t i = 0; i < count; i++) {
        double gi = (double)g[i] + (double)wd * p[i];
        double b = first ? gi : (double)mom * buf[i] + gi;
        p[i] = (float)((double)p[i] - (double)lr * (gi + (double)mom * b));
        g[i] = (float)gi;
        buf[i] = (float)b;
    }
}

// The reference backend (no auxiliary-head ops, no graphs, no profiling marks).
static inline hpff_backend *ops_ref_backend_create(void) {
    hpff_backend *be = (hpff_backend *)calloc(1, sizeof *be);
    *be = (hpff_backend){
        .name = "double reference", .host_memory = 1, .destroy = rb_destroy, .alloc = rb_alloc,
        .free = rb_free, .to_device = rb_copy, .to_host = rb_copy, .copy = rb_copy, .sync = rb_sync,
        .conv_workspace = rb_conv_ws, .set_threads = rb_threads, .fill = rb_fill, .scale = rb_scale,
        .axpy = rb_axpy, .add = rb_add, .relu_fwd = rb_relu_fwd, .relu_bwd = rb_relu_bwd,
        .sigmoid_fwd = rb_sigmoid_fwd, .sigmoid_bwd = rb_sigmoid_bwd, .conv_fwd = rb_conv_fwd,
        .conv_bwd_data = rb_conv_bwd_data, .conv_bwd_filter = rb_conv_bwd_filter,
        .bn_fwd_train = rb_bn_fwd_train, .bn_fwd_eval = rb_bn_fwd_eval, .bn_bwd = rb_bn_bwd,
        .maxpool_fwd = rb_maxpool_fwd, .maxpool_bwd = rb_maxpool_bwd, .avgpool_fwd = rb_avgpool_fwd,
        .avgpool_bwd = rb_avgpool_bwd, .adaptive_avgpool_fwd = rb_adaptive_fwd,
        .adaptive_avgpool_bwd = rb_adaptive_bwd, .linear_fwd = rb_linear_fwd,
        .linear_bwd_data = rb_linear_bwd_data, .linear_bwd_weight = rb_linear_bwd_weight,
        .resize_bilinear_fwd = rb_resize_fwd, .resize_bilinear_bwd = rb_resize_bwd,
        .patch_extract = rb_patch_extract, .patch_scatter = rb_patch_scatter, .softmax_xent = rb_xent,
        .bce = rb_bce, .sgd_nesterov = rb_sgd,
    };
    return be;
}

#endif
