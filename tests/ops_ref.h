// ops_ref.h — naive double-precision reference implementations of the backend ops, written
// straight from ALGORITHM.md §1 (PyTorch semantics), for the op tests and finite differences.
// Every reference overwrites its outputs; the tests add the beta / accumulate semantics.
#ifndef HPFF_OPS_REF_H
#define HPFF_OPS_REF_H
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "backend.h"
#include "test_util.h"

// ---- buffers ----

static inline double *ref_alloc(size_t n) { return (double *)calloc(n ? n : 1, sizeof(double)); }
static inline void ref_to_double(const float *x, double *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = x[i];
}
static inline float *ref_to_float(const double *x, size_t n) {
    float *y = (float *)malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) y[i] = (float)x[i];
    return y;
}
// Compares a float result with a double reference (rounded to float first).
static inline int ref_close(const char *what, const float *got, const double *ref, size_t n,
                            double atol, double rtol) {
    float *r = ref_to_float(ref, n);
    int ok = test_close(what, got, r, n, atol, rtol);
    free(r);
    return ok;
}
// A random float array, also returned in double.
static inline float *ref_rand(size_t n, float lo, float hi, uint64_t seed, double **dcopy) {
    float *x = (float *)malloc((n ? n : 1) * sizeof(float));
    test_fill_uniform(x, n, lo, hi, seed);
    if (dcopy) {
        *dcopy = ref_alloc(n);
        ref_to_double(x, *dcopy, n);
    }
    return x;
}

// ---- convolution ----

static inline size_t ref_conv_x(const hpff_conv_desc *d) {
    return (size_t)d->n * d->c_in * d->h_in * d->w_in;
}
static inline size_t ref_conv_y(const hpff_conv_desc *d) {
    return (size_t)d->n * d->c_out * d->h_out * d->w_out;
}
static inline size_t ref_conv_w(const hpff_conv_desc *d) {
    return (size_t)d->c_out * (d->c_in / d->groups) * d->kh * d->kw;
}

// Visits every (output, weight, input) triple of the convolution; mode 0: y += w*x,
// mode 1: dx += w*dy, mode 2: dw += dy*x.
static inline void ref_conv_visit(const hpff_conv_desc *d, int mode, const double *a,
                                  const double *b, double *out) {
    int cig = d->c_in / d->groups, cog = d->c_out / d->groups;
    for (int n = 0; n < d->n; n++)
        for (int co = 0; co < d->c_out; co++) {
            int g = co / cog;
            for (int oh = 0; oh < d->h_out; oh++)
                for (int ow = 0; ow < d->w_out; ow++) {
                    size_t yi = (((size_t)n * d->c_out + co) * d->h_out + oh) * d->w_out + ow;
                    for (int ci = 0; ci < cig; ci++)
                        for (int ki = 0; ki < d->kh; ki++)
                            for (int kj = 0; kj < d->kw; kj++) {
                                int ih = oh * d->sh - d->ph + ki, iw = ow * d->sw - d->pw + kj;
                                if (ih < 0 || ih >= d->h_in || iw < 0 || iw >= d->w_in) continue;
                                size_t xi = (((size_t)n * d->c_in + g * cig + ci) * d->h_in + ih) *
                                                d->w_in + iw;
                                size_t wi = (((size_t)co * cig + ci) * d->kh + ki) * d->kw + kj;
                                if (mode == 0) out[yi] += a[wi] * b[xi];   // a = w, b = x
                                if (mode == 1) out[xi] += a[wi] * b[yi];   // a = w, b = dy
                                if (mode == 2) out[wi] += a[yi] * b[xi];   // a = dy, b = x
                            }
                }
        }
}

static inline void ref_conv_fwd(const hpff_conv_desc *d, const double *x, const double *w,
                                const double *bias, double *y) {
    size_t hw = (size_t)d->h_out * d->w_out;
    for (size_t i = 0; i < ref_conv_y(d); i++) y[i] = bias ? bias[(i / hw) % d->c_out] : 0.0;
    ref_conv_visit(d, 0, w, x, y);
}
static inline void ref_conv_bwd_data(const hpff_conv_desc *d, const double *w, const double *dy,
                                     double *dx) {
    memset(dx, 0, ref_conv_x(d) * sizeof(double));
    ref_conv_visit(d, 1, w, dy, dx);
}
static inline void ref_conv_bwd_filter(const hpff_conv_desc *d, const double *x, const double *dy,
                                       double *dw, double *db) {
    memset(dw, 0, ref_conv_w(d) * sizeof(double));
    ref_conv_visit(d, 2, dy, x, dw);
    if (db) {
        size_t hw = (size_t)d->h_out * d->w_out;
        memset(db, 0, (size_t)d->c_out * sizeof(double));
        for (size_t i = 0; i < ref_conv_y(d); i++) db[(i / hw) % d->c_out] += dy[i];
    }
}

// ---- batch norm (x (n, c, hw)) ----

// Batch mean and biased variance per channel.
static inline void ref_bn_stats(int n, int c, int hw, const double *x, double *mean, double *var) {
    for (int ch = 0; ch < c; ch++) {
        double s = 0.0, q = 0.0, cnt = (double)n * hw;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < hw; k++) s += x[((size_t)i * c + ch) * hw + k];
        double m = s / cnt;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < hw; k++) {
                double v = x[((size_t)i * c + ch) * hw + k] - m;
                q += v * v;
            }
        mean[ch] = m;
        var[ch] = q / cnt;
    }
}
// y = gamma*(x - mean)/sqrt(var + eps) + beta with the given per-channel mean / var.
static inline void ref_bn_apply(int n, int c, int hw, const double *x, const double *gamma,
                                const double *beta, const double *mean, const double *var,
                                double eps, double *y) {
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (int k = 0; k < hw; k++) {
                size_t j = ((size_t)i * c + ch) * hw + k;
                y[j] = gamma[ch] * (x[j] - mean[ch]) / sqrt(var[ch] + eps) + beta[ch];
            }
}
static inline void ref_bn_train(int n, int c, int hw, const double *x, const double *gamma,
                                const double *beta, double eps, double *y, double *mean,
                                double *var) {
    ref_bn_stats(n, c, hw, x, mean, var);
    ref_bn_apply(n, c, hw, x, gamma, beta, mean, var, eps, y);
}
// Train-mode backward from the closed form, with the batch mean of x and the forward's 1/std
// per channel (`invstd`, as the backend saves it).
static inline void ref_bn_bwd(int n, int c, int hw, const double *x, const double *dy,
                              const double *gamma, const double *invstd, double *dx, double *dgamma,
                              double *dbeta) {
    double *mean = ref_alloc((size_t)c), *var = ref_alloc((size_t)c);
    ref_bn_stats(n, c, hw, x, mean, var);
    double cnt = (double)n * hw;
    for (int ch = 0; ch < c; ch++) {
        double is = invstd[ch], sdy = 0.0, sdyh = 0.0;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < hw; k++) {
                size_t j = ((size_t)i * c + ch) * hw + k;
                sdy += dy[j];
                sdyh += dy[j] * (x[j] - mean[ch]) * is;
            }
        dgamma[ch] = sdyh;
        dbeta[ch] = sdy;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < hw; k++) {
                size_t j = ((size_t)i * c + ch) * hw + k;
                double xh = (x[j] - mean[ch]) * is;
                dx[j] = gamma[ch] * is / cnt * (cnt * dy[j] - sdy - xh * sdyh);
            }
    }
    free(mean);
    free(var);
}

// ---- pooling ----

static inline size_t ref_pool_x(const hpff_pool_desc *d) {
    return (size_t)d->n * d->c * d->h_in * d->w_in;
}
static inline size_t ref_pool_y(const hpff_pool_desc *d) {
    return (size_t)d->n * d->c * d->h_out * d->w_out;
}
// Max pooling; arg (may be NULL) receives the flat input index of the first maximum.
static inline void ref_maxpool_fwd(const hpff_pool_desc *d, const double *x, double *y, long *arg) {
    size_t o = 0;
    for (int p = 0; p < d->n * d->c; p++)
        for (int oh = 0; oh < d->h_out; oh++)
            for (int ow = 0; ow < d->w_out; ow++, o++) {
                double m = -INFINITY;
                long a = -1;
                for (int ki = 0; ki < d->kh; ki++)
                    for (int kj = 0; kj < d->kw; kj++) {
                        int ih = oh * d->sh - d->ph + ki, iw = ow * d->sw - d->pw + kj;
                        if (ih < 0 || ih >= d->h_in || iw < 0 || iw >= d->w_in) continue;
                        long xi = ((long)p * d->h_in + ih) * d->w_in + iw;
                        if (a < 0 || x[xi] > m) { m = x[xi]; a = xi; }
                    }
                y[o] = m;
                if (arg) arg[o] = a;
            }
}
static inline void ref_maxpool_bwd(const hpff_pool_desc *d, const double *x, const double *dy,
                                   double *dx) {
    long *arg = (long *)malloc(ref_pool_y(d) * sizeof(long));
    double *y = ref_alloc(ref_pool_y(d));
    ref_maxpool_fwd(d, x, y, arg);
    memset(dx, 0, ref_pool_x(d) * sizeof(double));
    for (size_t o = 0; o < ref_pool_y(d); o++)
        if (arg[o] >= 0) dx[arg[o]] += dy[o];
    free(arg);
    free(y);
}
// Average pooling with count_include_pad: divisor = window clipped to the padded extent.
// mode 0: y = avg(x); mode 1: dx = adjoint(dy).
static inline void ref_avgpool(const hpff_pool_desc *d, int mode, const double *in, double *out) {
    if (mode == 1) memset(out, 0, ref_pool_x(d) * sizeof(double));
    size_t o = 0;
    for (int p = 0; p < d->n * d->c; p++)
        for (int oh = 0; oh < d->h_out; oh++)
            for (int ow = 0; ow < d->w_out; ow++, o++) {
                int h0 = oh * d->sh - d->ph, w0 = ow * d->sw - d->pw;
                int h1 = h0 + d->kh < d->h_in + d->ph ? h0 + d->kh : d->h_in + d->ph;
                int w1 = w0 + d->kw < d->w_in + d->pw ? w0 + d->kw : d->w_in + d->pw;
                double div = (double)(h1 - h0) * (w1 - w0), s = 0.0;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) {
                        if (ih < 0 || ih >= d->h_in || iw < 0 || iw >= d->w_in) continue;
                        size_t xi = ((size_t)p * d->h_in + ih) * d->w_in + iw;
                        if (mode == 0) s += in[xi];
                        else out[xi] += in[o] / div;
                    }
                if (mode == 0) out[o] = s / div;
            }
}
// Adaptive average pooling; mode 0 forward, mode 1 adjoint (overwrites).
static inline void ref_adaptive(int n, int c, int hi, int wi, int ho, int wo, int mode,
                                const double *in, double *out) {
    if (mode == 1) memset(out, 0, (size_t)n * c * hi * wi * sizeof(double));
    size_t o = 0;
    for (int p = 0; p < n * c; p++)
        for (int oh = 0; oh < ho; oh++)
            for (int ow = 0; ow < wo; ow++, o++) {
                int h0 = (int)floor((double)oh * hi / ho);
                int h1 = (int)ceil((double)(oh + 1) * hi / ho);
                int w0 = (int)floor((double)ow * wi / wo);
                int w1 = (int)ceil((double)(ow + 1) * wi / wo);
                double div = (double)(h1 - h0) * (w1 - w0), s = 0.0;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) {
                        size_t xi = ((size_t)p * hi + ih) * wi + iw;
                        if (mode == 0) s += in[xi];
                        else out[xi] += in[o] / div;
                    }
                if (mode == 0) out[o] = s / div;
            }
}

// ---- bilinear resize, align_corners=True ----

static inline void ref_lerp(int o, int in, int out, int *i0, int *i1, double *l) {
    double src = out > 1 ? (double)o * (in - 1) / (out - 1) : 0.0;
    *i0 = (int)floor(src);
    if (*i0 > in - 1) *i0 = in - 1;
    *i1 = *i0 + 1 < in ? *i0 + 1 : in - 1;
    *l = src - *i0;
}
// mode 0: y = resize(x); mode 1: dx = adjoint(dy) (overwrites).
static inline void ref_resize(int n, int c, int hi, int wi, int ho, int wo, int mode,
                              const double *in, double *out) {
    if (mode == 1) memset(out, 0, (size_t)n * c * hi * wi * sizeof(double));
    size_t o = 0;
    for (int p = 0; p < n * c; p++)
        for (int oh = 0; oh < ho; oh++)
            for (int ow = 0; ow < wo; ow++, o++) {
                int h0, h1, w0, w1;
                double lh, lw;
                ref_lerp(oh, hi, ho, &h0, &h1, &lh);
                ref_lerp(ow, wi, wo, &w0, &w1, &lw);
                size_t b = (size_t)p * hi * wi;
                size_t idx[4] = {b + (size_t)h0 * wi + w0, b + (size_t)h0 * wi + w1,
                                 b + (size_t)h1 * wi + w0, b + (size_t)h1 * wi + w1};
                double wt[4] = {(1 - lh) * (1 - lw), (1 - lh) * lw, lh * (1 - lw), lh * lw};
                if (mode == 0) out[o] = 0.0;
                for (int k = 0; k < 4; k++) {
                    if (mode == 0) out[o] += wt[k] * in[idx[k]];
                    else out[idx[k]] += wt[k] * in[o];
                }
            }
}

// ---- linear, losses ----

static inline void ref_linear_fwd(int n, int in, int out, const double *x, const double *w,
                                  const double *b, double *y) {
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double s = b ? b[o] : 0.0;
            for (int k = 0; k < in; k++) s += x[(size_t)i * in + k] * w[(size_t)o * in + k];
            y[(size_t)i * out + o] = s;
        }
}
// CE mean over the batch; dz (may be NULL) = weight * d(loss)/dz.
static inline double ref_xent(int n, int k, const double *z, const int32_t *y, double weight,
                              double *dz) {
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        const double *zi = z + (size_t)i * k;
        double m = zi[0], s = 0.0;
        for (int j = 1; j < k; j++) m = zi[j] > m ? zi[j] : m;
        for (int j = 0; j < k; j++) s += exp(zi[j] - m);
        total += m + log(s) - zi[y[i]];
        if (dz)
            for (int j = 0; j < k; j++)
                dz[(size_t)i * k + j] = weight * (exp(zi[j] - m) / s - (j == y[i])) / n;
    }
    return total / n;
}
// BCE mean over all elements with the log clamp at -100; dp (may be NULL) in PyTorch's form.
static inline double ref_bce(size_t count, const double *p, const double *t, double weight,
                             double *dp) {
    double total = 0.0;
    for (size_t i = 0; i < count; i++) {
        double lp = fmax(log(p[i]), -100.0), lq = fmax(log(1.0 - p[i]), -100.0);
        total += -(t[i] * lp + (1.0 - t[i]) * lq);
        if (dp) dp[i] = weight * (p[i] - t[i]) / fmax(p[i] * (1.0 - p[i]), 1e-12) / (double)count;
    }
    return total / (double)count;
}
static inline double ref_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

#endif
