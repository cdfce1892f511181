// cpu_bn.c — CPU batch norm (ALGORITHM §1.2), train and eval, with the fused ReLU. Statistics
// are summed in float lanes flushed to double (see sums_shifted); every inner loop runs over a
// contiguous row; channels are split over the worker pool.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "cpu_bn.h"
#include "cpu_internal.h"

// Batch-norm sums run in 16 float lanes (a GCC vector: one AVX-512 register, four SSE ones)
// over blocks of BN_BLOCK elements (at most 16 terms per lane), each block's lanes then added in
// double, in lane order: vector float arithmetic with the accuracy of a double sum of short float
// sums. A row's tail short of 16 adds in double. Built for AVX-512 as well (HPFF_CPU_CLONES).
// cpu_bn_blocked.c adds the same terms in the same order on channel-blocked tensors.
typedef float bn_vec __attribute__((vector_size(BN_LANES * sizeof(float))));
typedef int32_t bn_ivec __attribute__((vector_size(BN_LANES * sizeof(float))));

static inline void bn_load(bn_vec *v, const float *p) { memcpy(v, p, sizeof *v); }

static inline double bn_flush(bn_vec *a) {
    double s = 0.0;
    for (int l = 0; l < BN_LANES; l++) s += (double)(*a)[l];
    *a = (bn_vec){0};
    return s;
}

// Sums of (x - k) and (x - k)^2 over the channel's n rows of hw (row stride rs); the shift k (a
// sample of the channel) keeps the one-pass variance free of cancellation.
HPFF_CPU_CLONES static void sums_shifted(const float *x, int n, size_t hw, size_t rs, float k, double *s1,
                                   double *s2) {
    bn_vec a = {0}, b = {0}, kv = (bn_vec){0} + k;
    double d1 = 0.0, d2 = 0.0;
    size_t fill = 0;
    for (int i = 0; i < n; i++) {
        const float *r = x + i * rs;
        size_t j = 0;
        for (; j + BN_LANES <= hw; j += BN_LANES) {
            bn_vec v;
            bn_load(&v, r + j);
            v -= kv;
            a += v;
            b += v * v;
            if ((fill += BN_LANES) == BN_BLOCK) {
                d1 += bn_flush(&a);
                d2 += bn_flush(&b);
                fill = 0;
            }
        }
        for (; j < hw; j++) {
            double v = (double)r[j] - k;
            d1 += v;
            d2 += v * v;
        }
    }
    *s1 += d1 + bn_flush(&a);
    *s2 += d2 + bn_flush(&b);
}

// Sums of dy and dy*(x - mean) over the channel's n rows (as sums_shifted). With `mask` (a fused
// ReLU's output) dy counts only where mask > 0 (relu_pass): what relu_bwd passes on.
HPFF_CPU_CLONES static void sums_dy(const float *x, const float *dy, const float *mask, int n, size_t hw,
                              size_t rs, float mean, double *sdy, double *sdyx) {
    bn_vec a = {0}, b = {0}, mv = (bn_vec){0} + mean, zero = {0};
    double d1 = 0.0, d2 = 0.0;
    size_t fill = 0;
    for (int i = 0; i < n; i++) {
        const float *xr = x + i * rs, *g = dy + i * rs, *m = mask ? mask + i * rs : NULL;
        size_t j = 0;
        for (; j + BN_LANES <= hw; j += BN_LANES) {
            bn_vec v, xv, mk;
            bn_load(&v, g + j);
            bn_load(&xv, xr + j);
            if (m) {
                bn_load(&mk, m + j);
                v = (bn_vec)((bn_ivec)v & (bn_ivec)(mk > zero));
            }
            a += v;
            b += v * (xv - mv);
            if ((fill += BN_LANES) == BN_BLOCK) {
                d1 += bn_flush(&a);
                d2 += bn_flush(&b);
                fill = 0;
            }
        }
        for (; j < hw; j++) {
            double v = (double)(m ? hpff_cpu_relu_pass(m[j], g[j]) : g[j]);
            d1 += v;
            d2 += v * ((double)xr[j] - mean);
        }
    }
    *sdy += d1 + bn_flush(&a);
    *sdyx += d2 + bn_flush(&b);
}

// y = x*a + b over the channel's n rows of hw (row stride rs), then ReLU when `relu` (the
// expression of relu_fwd, so fused and separate give the same values).
HPFF_CPU_CLONES static void affine_rows(const float *x, float *y, int n, size_t hw, size_t rs, float a, float b, int relu) {
    for (int i = 0; i < n; i++) {
        const float *restrict xi = x + i * rs;
        float *restrict yi = y + i * rs;
        for (size_t k = 0; k < hw; k++) yi[k] = xi[k] * a + b;
        if (relu)
            for (size_t k = 0; k < hw; k++) yi[k] = yi[k] < 0.0f ? 0.0f : yi[k];
    }
}

typedef hpff_cpu_bn_job bn_job;   // channels split over the pool

void hpff_cpu_bn_fwd_stats(const hpff_cpu_bn_job *j, int ch, double k, double s1, double s2, float *a,
                           float *b) {
    const size_t cnt = (size_t)j->n * j->hw;
    double dm = s1 / (double)cnt;
    double var = s2 / (double)cnt - dm * dm;
    if (var < 0.0) var = 0.0;
    double mean = k + dm, invstd = 1.0 / sqrt(var + (double)j->eps);
    if (j->save_mean) j->save_mean[ch] = (float)mean;
    if (j->save_invstd) j->save_invstd[ch] = (float)invstd;
    if (j->running_mean)
        j->running_mean[ch] = (float)((1.0 - j->momentum) * j->running_mean[ch] + j->momentum * mean);
    if (j->running_var)
        j->running_var[ch] = (float)((1.0 - j->momentum) * j->running_var[ch] +
                                     j->momentum * var * (double)cnt / (double)(cnt - 1));
    *a = (float)((j->gamma ? j->gamma[ch] : 1.0f) * invstd);
    *b = (float)((j->beta ? j->beta[ch] : 0.0f) - mean * *a);
}

void hpff_cpu_bn_eval_affine(const hpff_cpu_bn_job *j, int ch, float *a, float *b) {
    double invstd = 1.0 / sqrt((double)j->running_var[ch] + (double)j->eps);
    *a = (float)((j->gamma ? j->gamma[ch] : 1.0f) * invstd);
    *b = (float)((j->beta ? j->beta[ch] : 0.0f) - (double)j->running_mean[ch] * *a);
}

void hpff_cpu_bn_bwd_consts(const hpff_cpu_bn_job *j, int ch, double sdy, double sdyx, float c[4]) {
    const size_t cnt = (size_t)j->n * j->hw;
    double mean = j->save_mean_in[ch], invstd = j->save_invstd_in[ch];
    if (j->dgamma) j->dgamma[ch] += (float)(sdyx * invstd);
    if (j->dbeta) j->dbeta[ch] += (float)sdy;
    // dx = (dy - (x - mean)*proj - mean_dy) * invstd*gamma
    c[0] = (float)mean;
    c[1] = (float)(sdyx * invstd * invstd / (double)cnt);
    c[2] = (float)(sdy / (double)cnt);
    c[3] = (float)(invstd * (j->gamma ? j->gamma[ch] : 1.0f));
}

// Small maps (hw <= BN_LANES: the heads' 4x4 ... 1x1 maps, BN1d). A row shorter than a lane row
// never reaches the float lanes (sums_shifted / sums_dy add its every term in double); a row of
// exactly BN_LANES fills the lanes once, position l into lane l, flushed every BN_BLOCK terms.
// Here a chunk of channels runs side by side instead of one channel at a time, so that each
// sample's values are read in one contiguous sweep rather than n strided visits per channel;
// every channel's terms still meet the same lanes and doubles in the same order, so the sums and
// results are the per-channel loops' to the bit (test_cpu_blocked: the blocked kernels keep the
// per-channel order, and small maps must match them).
#define BN_SMALL_CH 64
#define BN_SMALL_EL (BN_SMALL_CH * BN_LANES)   // a chunk's values in one sample row, at most

static double lanes_flush(float *a) {   // bn_flush on one channel's lanes
    double s = 0.0;
    for (int l = 0; l < BN_LANES; l++) s += (double)a[l];
    memset(a, 0, BN_LANES * sizeof *a);
    return s;
}

// One sample row of a chunk (nc channels of hw < BN_LANES values) into the double sums, each
// channel's values in order. Inlined with a constant hw, so that it vectorises across channels.
static inline __attribute__((always_inline)) void small_sums_fwd(const float *restrict r, int nc, const int hw,
                                                                 const double *restrict k, double *restrict d1,
                                                                 double *restrict d2) {
    for (int q = 0; q < nc; q++)
        for (int t = 0; t < hw; t++) {
            double v = (double)r[q * hw + t] - k[q];
            d1[q] += v;
            d2[q] += v * v;
        }
}

static inline __attribute__((always_inline)) void small_sums_bwd(const float *restrict x, const float *restrict g,
                                                                 const float *restrict m, int nc, const int hw,
                                                                 const double *restrict mean, double *restrict d1,
                                                                 double *restrict d2) {
    for (int q = 0; q < nc; q++)
        for (int t = 0; t < hw; t++) {
            int e = q * hw + t;
            double v = (double)(m ? hpff_cpu_relu_pass(m[e], g[e]) : g[e]);
            d1[q] += v;
            d2[q] += v * ((double)x[e] - mean[q]);
        }
}

// A row of exactly BN_LANES values per channel: position l into lane l of its channel; the
// chunk's lanes lie as its values do, so the loop runs over them flat (kf: the shift per value).
static inline void lane_sums_fwd(const float *restrict r, int ne, const float *restrict kf, float *restrict l1,
                                 float *restrict l2) {
    for (int e = 0; e < ne; e++) {
        float v = r[e] - kf[e];
        l1[e] += v;
        l2[e] += v * v;
    }
}

static inline void lane_sums_bwd(const float *restrict x, const float *restrict g, const float *restrict m, int ne,
                                 const float *restrict mf, float *restrict l1, float *restrict l2) {
    for (int e = 0; e < ne; e++) {
        float v = m ? hpff_cpu_relu_pass(m[e], g[e]) : g[e];
        l1[e] += v;
        l2[e] += v * (x[e] - mf[e]);
    }
}

HPFF_CPU_CLONES static void bn_fwd_train_small(const bn_job *j, int c0, int c1) {
    const int n = j->n, hw = j->hw, every = BN_BLOCK / BN_LANES;
    const size_t rs = (size_t)j->c * hw;
    for (int cb = c0; cb < c1; cb += BN_SMALL_CH) {
        const int nc = c1 - cb < BN_SMALL_CH ? c1 - cb : BN_SMALL_CH, ne = nc * hw;
        const float *xb = j->x + (size_t)cb * hw;
        double k[BN_SMALL_CH], d1[BN_SMALL_CH] = {0}, d2[BN_SMALL_CH] = {0};
        float kf[BN_SMALL_EL], av[BN_SMALL_EL], bv[BN_SMALL_EL], l1[BN_SMALL_EL] = {0}, l2[BN_SMALL_EL] = {0};
        for (int q = 0; q < nc; q++) {   // the shift: the channel's first value
            k[q] = (double)xb[(size_t)q * hw];
            for (int t = 0; t < hw; t++) kf[q * hw + t] = xb[(size_t)q * hw];
        }
        for (int i = 0; i < n; i++) {
            const float *r = xb + i * rs;
            switch (hw) {
            case BN_LANES:
                lane_sums_fwd(r, ne, kf, l1, l2);
                if ((i + 1) % every == 0)
                    for (int q = 0; q < nc; q++) {
                        d1[q] += lanes_flush(l1 + q * BN_LANES);
                        d2[q] += lanes_flush(l2 + q * BN_LANES);
                    }
                break;
            case 1: small_sums_fwd(r, nc, 1, k, d1, d2); break;
            case 4: small_sums_fwd(r, nc, 4, k, d1, d2); break;
            default: small_sums_fwd(r, nc, hw, k, d1, d2); break;
            }
        }
        for (int q = 0; q < nc; q++) {   // sums_shifted's closing adds (no lanes below BN_LANES: + 0)
            double t1 = hw == BN_LANES ? lanes_flush(l1 + q * BN_LANES) : 0.0;
            double t2 = hw == BN_LANES ? lanes_flush(l2 + q * BN_LANES) : 0.0;
            float a, b;
            hpff_cpu_bn_fwd_stats(j, cb + q, k[q], 0.0 + (d1[q] + t1), 0.0 + (d2[q] + t2), &a, &b);
            for (int t = 0; t < hw; t++) {
                av[q * hw + t] = a;
                bv[q * hw + t] = b;
            }
        }
        for (int i = 0; i < n; i++) {   // affine_rows' expressions
            const float *restrict xr = xb + i * rs;
            float *restrict yr = j->y + (size_t)cb * hw + i * rs;
            for (int e = 0; e < ne; e++) yr[e] = xr[e] * av[e] + bv[e];
            if (j->relu)
                for (int e = 0; e < ne; e++) yr[e] = yr[e] < 0.0f ? 0.0f : yr[e];
        }
    }
}

HPFF_CPU_CLONES static void bn_bwd_small(const bn_job *j, int c0, int c1) {
    const int n = j->n, hw = j->hw, every = BN_BLOCK / BN_LANES;
    const size_t rs = (size_t)j->c * hw;
    for (int cb = c0; cb < c1; cb += BN_SMALL_CH) {
        const int nc = c1 - cb < BN_SMALL_CH ? c1 - cb : BN_SMALL_CH, ne = nc * hw;
        const size_t off = (size_t)cb * hw;
        double d1[BN_SMALL_CH] = {0}, d2[BN_SMALL_CH] = {0}, mean[BN_SMALL_CH];
        float mf[BN_SMALL_EL], l1[BN_SMALL_EL] = {0}, l2[BN_SMALL_EL] = {0};
        float c0v[BN_SMALL_EL], c1v[BN_SMALL_EL], c2v[BN_SMALL_EL], c3v[BN_SMALL_EL];
        for (int q = 0; q < nc; q++) {
            mean[q] = (double)j->save_mean_in[cb + q];
            for (int t = 0; t < hw; t++) mf[q * hw + t] = j->save_mean_in[cb + q];
        }
        for (int i = 0; i < n; i++) {
            const float *xr = j->x + off + i * rs, *g = j->dy + off + i * rs;
            const float *m = j->relu_y ? j->relu_y + off + i * rs : NULL;
            switch (hw) {
            case BN_LANES:
                lane_sums_bwd(xr, g, m, ne, mf, l1, l2);
                if ((i + 1) % every == 0)
                    for (int q = 0; q < nc; q++) {
                        d1[q] += lanes_flush(l1 + q * BN_LANES);
                        d2[q] += lanes_flush(l2 + q * BN_LANES);
                    }
                break;
            case 1: small_sums_bwd(xr, g, m, nc, 1, mean, d1, d2); break;
            case 4: small_sums_bwd(xr, g, m, nc, 4, mean, d1, d2); break;
            default: small_sums_bwd(xr, g, m, nc, hw, mean, d1, d2); break;
            }
        }
        for (int q = 0; q < nc; q++) {   // sums_dy's closing adds
            double t1 = hw == BN_LANES ? lanes_flush(l1 + q * BN_LANES) : 0.0;
            double t2 = hw == BN_LANES ? lanes_flush(l2 + q * BN_LANES) : 0.0;
            float c[4];
            hpff_cpu_bn_bwd_consts(j, cb + q, 0.0 + (d1[q] + t1), 0.0 + (d2[q] + t2), c);
            for (int t = 0; t < hw; t++) {
                c0v[q * hw + t] = c[0];
                c1v[q * hw + t] = c[1];
                c2v[q * hw + t] = c[2];
                c3v[q * hw + t] = c[3];
            }
        }
        if (!j->dx) continue;
        const int add = j->beta_dx != 0.0f;
        for (int i = 0; i < n; i++) {   // bn_dx_row's expression, a row of the chunk at a time
            const size_t r0 = off + i * rs;
            const float *restrict x = j->x + r0, *restrict g = j->dy + r0;
            const float *restrict m = j->relu_y ? j->relu_y + r0 : NULL;
            float *restrict d = j->dx + r0;
#define BN_DX_SMALL(G) ((((G) - (x[e] - c0v[e]) * c1v[e]) - c2v[e]) * c3v[e])
            if (m && add)
                for (int e = 0; e < ne; e++) d[e] += BN_DX_SMALL(hpff_cpu_relu_pass(m[e], g[e]));
            else if (m)
                for (int e = 0; e < ne; e++) d[e] = BN_DX_SMALL(hpff_cpu_relu_pass(m[e], g[e]));
            else if (add)
                for (int e = 0; e < ne; e++) d[e] += BN_DX_SMALL(g[e]);
            else
                for (int e = 0; e < ne; e++) d[e] = BN_DX_SMALL(g[e]);
#undef BN_DX_SMALL
        }
    }
}

static void bn_fwd_train_channels(void *arg, int worker, int c0, int c1) {
    (void)worker;
    const bn_job *j = arg;
    const int n = j->n, hw = j->hw;
    const size_t rs = (size_t)j->c * hw;
    if (hw <= BN_LANES) {
        bn_fwd_train_small(j, c0, c1);
        return;
    }
    for (int ch = c0; ch < c1; ch++) {
        const float *xc = j->x + (size_t)ch * hw;
        double s1 = 0.0, s2 = 0.0;
        sums_shifted(xc, n, (size_t)hw, rs, xc[0], &s1, &s2);
        float a, b;
        hpff_cpu_bn_fwd_stats(j, ch, xc[0], s1, s2, &a, &b);
        affine_rows(xc, j->y + (size_t)ch * hw, n, (size_t)hw, rs, a, b, j->relu);
    }
}

void hpff_cpu_bn_fwd_train_nchw(hpff_backend *be, int n, int c, int hw, const float *x,
                             const float *gamma, const float *beta, float *y, float *running_mean,
                             float *running_var, float momentum, float eps, float *save_mean,
                             float *save_invstd, int relu) {
    HPFF_CHECK((size_t)n * hw > 1, "batch norm: training needs more than one value per channel (n %d, hw %d)",
               n, hw);
    bn_job j = {.n = n, .c = c, .hw = hw, .x = x, .gamma = gamma, .beta = beta, .y = y,
                .running_mean = running_mean, .running_var = running_var, .save_mean = save_mean,
                .save_invstd = save_invstd, .momentum = momentum, .eps = eps, .relu = relu};
    hpff_cpu_pool_run(hpff_cpu_pool_of(be), c, bn_fwd_train_channels, &j);
}

void hpff_cpu_bn_fwd_eval_nchw(hpff_backend *be, int n, int c, int hw, const float *x,
                            const float *gamma, const float *beta, float *y,
                            const float *running_mean, const float *running_var, float eps, int relu) {
    (void)be;
    const size_t rs = (size_t)c * hw;
    bn_job j = {.n = n, .c = c, .hw = hw, .gamma = gamma, .beta = beta, .running_mean = (float *)running_mean,
                .running_var = (float *)running_var, .eps = eps};
    for (int ch = 0; ch < c; ch++) {
        float a, b;
        hpff_cpu_bn_eval_affine(&j, ch, &a, &b);
        affine_rows(x + (size_t)ch * hw, y + (size_t)ch * hw, n, (size_t)hw, rs, a, b, relu);
    }
}

// One row of dx = (dy - (x - mean)*proj - mean_dy) * a, set or added; dy masked by a fused
// ReLU's output when m is set. One loop per case, so each vectorises.
HPFF_CPU_CLONES static void bn_dx_row(float *restrict d, const float *restrict x, const float *restrict g,
                      const float *restrict m, int hw, float fm, float proj, float mdy, float a, int add) {
#define BN_DX(G) (((G) - (x[k] - fm) * proj) - mdy) * a
    if (m && add)
        for (int k = 0; k < hw; k++) d[k] += BN_DX(hpff_cpu_relu_pass(m[k], g[k]));
    else if (m)
        for (int k = 0; k < hw; k++) d[k] = BN_DX(hpff_cpu_relu_pass(m[k], g[k]));
    else if (add)
        for (int k = 0; k < hw; k++) d[k] += BN_DX(g[k]);
    else
        for (int k = 0; k < hw; k++) d[k] = BN_DX(g[k]);
#undef BN_DX
}

static void bn_bwd_channels(void *arg, int worker, int c0, int c1) {
    (void)worker;
    const bn_job *j = arg;
    const int n = j->n, hw = j->hw;
    const size_t rs = (size_t)j->c * hw;
    if (hw <= BN_LANES) {
        bn_bwd_small(j, c0, c1);
        return;
    }
    for (int ch = c0; ch < c1; ch++) {
        const size_t off = (size_t)ch * hw;
        double sdy = 0.0, sdyx = 0.0;
        sums_dy(j->x + off, j->dy + off, j->relu_y ? j->relu_y + off : NULL, n, (size_t)hw, rs, j->save_mean_in[ch],
                &sdy, &sdyx);
        float k[4];
        hpff_cpu_bn_bwd_consts(j, ch, sdy, sdyx, k);
        if (!j->dx) continue;
        for (int i = 0; i < n; i++) {
            const float *restrict xi = j->x + off + i * rs, *restrict gi = j->dy + off + i * rs;
            const float *restrict mi = j->relu_y ? j->relu_y + off + i * rs : NULL;
            bn_dx_row(j->dx + off + i * rs, xi, gi, mi, hw, k[0], k[1], k[2], k[3], j->beta_dx != 0.0f);
        }
    }
}

void hpff_cpu_bn_bwd_nchw(hpff_backend *be, int n, int c, int hw, const float *x, const float *dy,
                       const float *gamma, const float *save_mean, const float *save_invstd,
                       const float *relu_y, float *dx, float beta_dx, float *dgamma, float *dbeta) {
    bn_job j = {.n = n, .c = c, .hw = hw, .x = x, .dy = dy, .gamma = gamma, .save_mean_in = save_mean,
                .save_invstd_in = save_invstd, .relu_y = relu_y, .dx = dx, .beta_dx = beta_dx,
                .dgamma = dgamma, .dbeta = dbeta};
    hpff_cpu_pool_run(hpff_cpu_pool_of(be), c, bn_bwd_channels, &j);
}

void hpff_cpu_install_bn(hpff_backend *be) {
    be->bn_fwd_train = hpff_cpu_bn_fwd_train_nchw;
    be->bn_fwd_eval = hpff_cpu_bn_fwd_eval_nchw;
    be->bn_bwd = hpff_cpu_bn_bwd_nchw;
}
