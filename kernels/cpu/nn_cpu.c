// nn_cpu.c — CPU batch norm, pooling, adaptive pooling, bilinear resize and patch copies.
// Statistics are accumulated in double; every inner loop runs over a contiguous row.
#include "nn_cpu.h"
#include "cpu_ctx.h"
#include "check.h"
#include "cpu_util.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// Sums of (x - k) and (x - k)^2 in double; the shift k (a sample of the channel) keeps the
// one-pass variance free of cancellation. Eight lanes so that the loop vectorises; kept out of
// line because gcc 12 stops vectorising it once inlined into the channel loop.
__attribute__((noinline)) static void sums_shifted(const float *restrict x, size_t n, double k,
                                                    double *s1, double *s2) {
    double a[8] = {0}, b[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) {
            double v = (double)x[i + j] - k;
            a[j] += v;
            b[j] += v * v;
        }
    double r1 = 0.0, r2 = 0.0;
    for (; i < n; i++) {
        double v = (double)x[i] - k;
        r1 += v;
        r2 += v * v;
    }
    for (int j = 0; j < 8; j++) {
        r1 += a[j];
        r2 += b[j];
    }
    *s1 += r1;
    *s2 += r2;
}

// g where m > 0, else +0: relu_bwd's select, as a bit mask so that no branch depends on the
// (random) sign pattern — a branch here mispredicts half the time and costs 10x.
static inline float relu_pass(float m, float g) {
    uint32_t b;
    memcpy(&b, &g, sizeof b);
    b &= 0u - (uint32_t)(m > 0.0f);
    memcpy(&g, &b, sizeof g);
    return g;
}

// Sums of dy and dy*(x - mean) in double. With `mask` (a fused ReLU's output) dy counts only where
// mask > 0: what relu_bwd passes on. Two loops rather than a test per element, so both vectorise.
__attribute__((noinline)) static void sums_dy(const float *restrict x, const float *restrict dy,
                                               const float *restrict mask, size_t n, double mean,
                                               double *sdy, double *sdyx) {
    double a[8] = {0}, b[8] = {0};
    size_t i = 0;
    if (mask)
        for (; i + 8 <= n; i += 8)
            for (int j = 0; j < 8; j++) {
                double g = (double)relu_pass(mask[i + j], dy[i + j]);
                a[j] += g;
                b[j] += g * ((double)x[i + j] - mean);
            }
    else
        for (; i + 8 <= n; i += 8)
            for (int j = 0; j < 8; j++) {
                double g = (double)dy[i + j];
                a[j] += g;
                b[j] += g * ((double)x[i + j] - mean);
            }
    double r1 = 0.0, r2 = 0.0;
    for (; i < n; i++) {
        double g = (double)(mask ? relu_pass(mask[i], dy[i]) : dy[i]);
        r1 += g;
        r2 += g * ((double)x[i] - mean);
    }
    for (int j = 0; j < 8; j++) {
        r1 += a[j];
        r2 += b[j];
    }
    *sdy += r1;
    *sdyx += r2;
}

// y = x*a + b over the channel's n rows of hw (row stride rs), then ReLU when `relu` (the
// expression of relu_fwd, so fused and separate give the same values).
static void affine_rows(const float *x, float *y, int n, size_t hw, size_t rs, float a, float b, int relu) {
    for (int i = 0; i < n; i++) {
        const float *restrict xi = x + i * rs;
        float *restrict yi = y + i * rs;
        for (size_t k = 0; k < hw; k++) yi[k] = xi[k] * a + b;
        if (relu)
            for (size_t k = 0; k < hw; k++) yi[k] = yi[k] < 0.0f ? 0.0f : yi[k];
    }
}

// Batch-norm arguments shared by the per-channel workers (channels split over the pool).
typedef struct bn_job {
    int n, c, hw;
    const float *x, *dy, *gamma, *beta, *save_mean_in, *save_invstd_in, *relu_y;
    float *y, *dx, *running_mean, *running_var, *save_mean, *save_invstd, *dgamma, *dbeta;
    float momentum, eps, beta_dx;
    int relu;
} bn_job;

static void bn_fwd_train_channels(void *arg, int worker, int c0, int c1) {
    (void)worker;
    const bn_job *j = arg;
    const int n = j->n, hw = j->hw;
    const size_t cnt = (size_t)n * hw, rs = (size_t)j->c * hw;
    for (int ch = c0; ch < c1; ch++) {
        const float *xc = j->x + (size_t)ch * hw;
        double k = xc[0], s1 = 0.0, s2 = 0.0;
        for (int i = 0; i < n; i++) sums_shifted(xc + i * rs, (size_t)hw, k, &s1, &s2);
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
        float a = (float)((j->gamma ? j->gamma[ch] : 1.0f) * invstd);
        float b = (float)((j->beta ? j->beta[ch] : 0.0f) - mean * a);
        affine_rows(xc, j->y + (size_t)ch * hw, n, (size_t)hw, rs, a, b, j->relu);
    }
}

void hpff_cpu_bn_fwd_train(hpff_backend *be, int n, int c, int hw, const float *x,
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

void hpff_cpu_bn_fwd_eval(hpff_backend *be, int n, int c, int hw, const float *x,
                          const float *gamma, const float *beta, float *y,
                          const float *running_mean, const float *running_var, float eps, int relu) {
    (void)be;
    const size_t rs = (size_t)c * hw;
    for (int ch = 0; ch < c; ch++) {
        double invstd = 1.0 / sqrt((double)running_var[ch] + (double)eps);
        float a = (float)((gamma ? gamma[ch] : 1.0f) * invstd);
        float b = (float)((beta ? beta[ch] : 0.0f) - (double)running_mean[ch] * a);
        affine_rows(x + (size_t)ch * hw, y + (size_t)ch * hw, n, (size_t)hw, rs, a, b, relu);
    }
}

// One row of dx = (dy - (x - mean)*proj - mean_dy) * a, set or added; dy masked by a fused
// ReLU's output when m is set. One loop per case, so each vectorises.
static void bn_dx_row(float *restrict d, const float *restrict x, const float *restrict g,
                      const float *restrict m, int hw, float fm, float proj, float mdy, float a, int add) {
#define BN_DX(G) (((G) - (x[k] - fm) * proj) - mdy) * a
    if (m && add)
        for (int k = 0; k < hw; k++) d[k] += BN_DX(relu_pass(m[k], g[k]));
    else if (m)
        for (int k = 0; k < hw; k++) d[k] = BN_DX(relu_pass(m[k], g[k]));
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
    const size_t cnt = (size_t)n * hw, rs = (size_t)j->c * hw;
    for (int ch = c0; ch < c1; ch++) {
        const size_t off = (size_t)ch * hw;
        double mean = j->save_mean_in[ch], invstd = j->save_invstd_in[ch], sdy = 0.0, sdyx = 0.0;
        for (int i = 0; i < n; i++)
            sums_dy(j->x + off + i * rs, j->dy + off + i * rs, j->relu_y ? j->relu_y + off + i * rs : NULL,
                    (size_t)hw, mean, &sdy, &sdyx);
        if (j->dgamma) j->dgamma[ch] += (float)(sdyx * invstd);
        if (j->dbeta) j->dbeta[ch] += (float)sdy;
        if (!j->dx) continue;
        // dx = (dy - (x - mean)*proj - mean_dy) * invstd*gamma
        const float fm = (float)mean, proj = (float)(sdyx * invstd * invstd / (double)cnt);
        const float mdy = (float)(sdy / (double)cnt);
        const float a = (float)(invstd * (j->gamma ? j->gamma[ch] : 1.0f));
        for (int i = 0; i < n; i++) {
            const float *restrict xi = j->x + off + i * rs, *restrict gi = j->dy + off + i * rs;
            const float *restrict mi = j->relu_y ? j->relu_y + off + i * rs : NULL;
            bn_dx_row(j->dx + off + i * rs, xi, gi, mi, hw, fm, proj, mdy, a, j->beta_dx != 0.0f);
        }
    }
}

void hpff_cpu_bn_bwd(hpff_backend *be, int n, int c, int hw, const float *x, const float *dy,
                     const float *gamma, const float *save_mean, const float *save_invstd,
                     const float *relu_y, float *dx, float beta_dx, float *dgamma, float *dbeta) {
    bn_job j = {.n = n, .c = c, .hw = hw, .x = x, .dy = dy, .gamma = gamma, .save_mean_in = save_mean,
                .save_invstd_in = save_invstd, .relu_y = relu_y, .dx = dx, .beta_dx = beta_dx,
                .dgamma = dgamma, .dbeta = dbeta};
    hpff_cpu_pool_run(hpff_cpu_pool_of(be), c, bn_bwd_channels, &j);
}

// Window [*s, *e) of output index o along one axis, clipped to [0, in).
static inline void window(int o, int stride, int pad, int k, int in, int *s, int *e) {
    int a = o * stride - pad, b = a + k;
    *s = a < 0 ? 0 : a;
    *e = b > in ? in : b;
}

// Pools run in floor mode (ALGORITHM §1.4/§1.5): the caller's output size must match it.
static void pool_check(const hpff_pool_desc *d) {
    HPFF_CHECK(d->kh >= 1 && d->kw >= 1 && d->sh >= 1 && d->sw >= 1 && d->ph >= 0 && d->pw >= 0 &&
                   d->h_out == (d->h_in + 2 * d->ph - d->kh) / d->sh + 1 &&
                   d->w_out == (d->w_in + 2 * d->pw - d->kw) / d->sw + 1,
               "pool: output %dx%d does not match input %dx%d, kernel %dx%d, stride %dx%d, "
               "pad %dx%d",
               d->h_out, d->w_out, d->h_in, d->w_in, d->kh, d->kw, d->sh, d->sw, d->ph, d->pw);
}

// Index of the first maximum of the window in the plane (NaN wins, as in PyTorch), -1 if empty.
static long window_argmax(const float *plane, int w, int hs, int he, int ws, int we) {
    long best = -1;
    float m = -INFINITY;
    for (int ih = hs; ih < he; ih++)
        for (int iw = ws; iw < we; iw++) {
            float v = plane[(long)ih * w + iw];
            if (best < 0 || v > m || isnan(v)) {
                best = (long)ih * w + iw;
                m = v;
                if (isnan(v)) return best;
            }
        }
    return best;
}

typedef enum { POOL_MAX_FWD, POOL_MAX_BWD, POOL_AVG_FWD, POOL_AVG_BWD } pool_op;

// One pass over every (plane, output position) window of d doing `op` there. Average pooling
// counts padded zeros (count_include_pad): in floor mode no window reaches past the padding, so
// PyTorch's divisor (the window clipped to the padded extent) is always kh*kw. The backward ops
// add into out (the caller clears it for beta = 0).
static void pool_pass(const hpff_pool_desc *d, pool_op op, const float *x, const float *dy, float *out) {
    const size_t hwi = (size_t)d->h_in * d->w_in, hwo = (size_t)d->h_out * d->w_out;
    const int div = d->kh * d->kw;
    for (size_t pl = 0; pl < (size_t)d->n * d->c; pl++) {
        const float *xp = x ? x + pl * hwi : NULL;
        float *dxp = (op == POOL_MAX_BWD || op == POOL_AVG_BWD) ? out + pl * hwi : NULL;
        for (int oh = 0; oh < d->h_out; oh++) {
            int hs, he;
            window(oh, d->sh, d->ph, d->kh, d->h_in, &hs, &he);
            for (int ow = 0; ow < d->w_out; ow++) {
                int ws, we;
                window(ow, d->sw, d->pw, d->kw, d->w_in, &ws, &we);
                size_t o = pl * hwo + (size_t)oh * d->w_out + ow;
                switch (op) {
                case POOL_MAX_FWD: {
                    long a = window_argmax(xp, d->w_in, hs, he, ws, we);
                    out[o] = a < 0 ? -INFINITY : xp[a];
                    break;
                }
                case POOL_MAX_BWD: {   // the first maximum takes the gradient, as in PyTorch
                    long a = window_argmax(xp, d->w_in, hs, he, ws, we);
                    if (a >= 0) dxp[a] += dy[o];
                    break;
                }
                case POOL_AVG_FWD: {
                    double s = 0.0;
                    for (int ih = hs; ih < he; ih++)
                        for (int iw = ws; iw < we; iw++) s += xp[(size_t)ih * d->w_in + iw];
                    out[o] = (float)(s / div);
                    break;
                }
                case POOL_AVG_BWD: {
                    float g = dy[o] / (float)div;
                    for (int ih = hs; ih < he; ih++)
                        for (int iw = ws; iw < we; iw++) dxp[(size_t)ih * d->w_in + iw] += g;
                    break;
                }
                }
            }
        }
    }
}

void hpff_cpu_maxpool_fwd(hpff_backend *be, const hpff_pool_desc *d, const float *x, float *y) {
    (void)be;
    pool_check(d);
    pool_pass(d, POOL_MAX_FWD, x, NULL, y);
}

void hpff_cpu_maxpool_bwd(hpff_backend *be, const hpff_pool_desc *d, const float *x,
                          const float *y, const float *dy, float *dx, float beta) {
    (void)be;
    (void)y;
    pool_check(d);
    if (beta == 0.0f) memset(dx, 0, (size_t)d->n * d->c * d->h_in * d->w_in * sizeof(float));
    pool_pass(d, POOL_MAX_BWD, x, dy, dx);
}

void hpff_cpu_avgpool_fwd(hpff_backend *be, const hpff_pool_desc *d, const float *x, float *y) {
    (void)be;
    pool_check(d);
    pool_pass(d, POOL_AVG_FWD, x, NULL, y);
}

void hpff_cpu_avgpool_bwd(hpff_backend *be, const hpff_pool_desc *d, const float *dy, float *dx,
                          float beta) {
    (void)be;
    pool_check(d);
    if (beta == 0.0f) memset(dx, 0, (size_t)d->n * d->c * d->h_in * d->w_in * sizeof(float));
    pool_pass(d, POOL_AVG_BWD, NULL, dy, dx);
}

// Adaptive bin [*s, *e) of output index o: [floor(o*in/out), ceil((o+1)*in/out)).
static inline void adaptive_bin(int o, int in, int out, int *s, int *e) {
    *s = (int)(((long)o * in) / out);
    *e = (int)(((long)(o + 1) * in + out - 1) / out);
}

void hpff_cpu_adaptive_avgpool_fwd(hpff_backend *be, int n, int c, int h_in, int w_in, int h_out,
                                   int w_out, const float *x, float *y) {
    (void)be;
    const size_t hwi = (size_t)h_in * w_in, hwo = (size_t)h_out * w_out;
    for (size_t pl = 0; pl < (size_t)n * c; pl++)
        for (int oh = 0; oh < h_out; oh++) {
            int hs, he;
            adaptive_bin(oh, h_in, h_out, &hs, &he);
            for (int ow = 0; ow < w_out; ow++) {
                int ws, we;
                adaptive_bin(ow, w_in, w_out, &ws, &we);
                double s = 0.0;
                for (int ih = hs; ih < he; ih++)
                    s += hpff_cpu_sum(x + pl * hwi + (size_t)ih * w_in + ws, (size_t)(we - ws));
                double cnt = (double)(he - hs) * (we - ws);
                y[pl * hwo + (size_t)oh * w_out + ow] = (float)(s / cnt);
            }
        }
}

void hpff_cpu_adaptive_avgpool_bwd(hpff_backend *be, int n, int c, int h_in, int w_in, int h_out,
                                   int w_out, const float *dy, float *dx, float beta) {
    (void)be;
    const size_t hwi = (size_t)h_in * w_in, hwo = (size_t)h_out * w_out;
    if (beta == 0.0f) memset(dx, 0, (size_t)n * c * hwi * sizeof(float));
    for (size_t pl = 0; pl < (size_t)n * c; pl++)
        for (int oh = 0; oh < h_out; oh++) {
            int hs, he;
            adaptive_bin(oh, h_in, h_out, &hs, &he);
            for (int ow = 0; ow < w_out; ow++) {
                int ws, we;
                adaptive_bin(ow, w_in, w_out, &ws, &we);
                float g = dy[pl * hwo + (size_t)oh * w_out + ow] / (float)((he - hs) * (we - ws));
                for (int ih = hs; ih < he; ih++) {
                    float *restrict r = dx + pl * hwi + (size_t)ih * w_in;
                    for (int iw = ws; iw < we; iw++) r[iw] += g;
                }
            }
        }
}

// align_corners=True taps of one axis: output index o reads input i0[o] with weight w0[o] and
// i1[o] with weight w1[o] (ALGORITHM §1.6; the source position is computed in float as PyTorch
// does). One allocation holds the four arrays.
typedef struct lerp_taps { int *i0, *i1; float *w0, *w1; } lerp_taps;

static lerp_taps lerp_taps_make(int in, int out) {
    lerp_taps t;
    t.i0 = hpff_xmalloc((size_t)out * (2 * sizeof(int) + 2 * sizeof(float)));
    t.i1 = t.i0 + out;
    t.w0 = (float *)(t.i1 + out);
    t.w1 = t.w0 + out;
    const float scale = out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
    for (int o = 0; o < out; o++) {
        float src = scale * (float)o;
        int a = (int)src;
        if (a > in - 1) a = in - 1;
        float f = src - (float)a;
        f = f < 0.0f ? 0.0f : (f > 1.0f ? 1.0f : f);
        t.i0[o] = a;
        t.i1[o] = a < in - 1 ? a + 1 : a;
        t.w0[o] = 1.0f - f;
        t.w1[o] = f;
    }
    return t;
}

void hpff_cpu_resize_bilinear_fwd(hpff_backend *be, int n, int c, int h_in, int w_in, int h_out,
                                  int w_out, const float *x, float *y) {
    (void)be;
    const size_t hwi = (size_t)h_in * w_in, hwo = (size_t)h_out * w_out;
    lerp_taps th = lerp_taps_make(h_in, h_out), tw = lerp_taps_make(w_in, w_out);
    for (size_t pl = 0; pl < (size_t)n * c; pl++) {
        const float *xp = x + pl * hwi;
        for (int oh = 0; oh < h_out; oh++) {
            const float *r0 = xp + (size_t)th.i0[oh] * w_in, *r1 = xp + (size_t)th.i1[oh] * w_in;
            const float a0 = th.w0[oh], a1 = th.w1[oh];
            float *restrict yr = y + pl * hwo + (size_t)oh * w_out;
            for (int ow = 0; ow < w_out; ow++) {
                int j0 = tw.i0[ow], j1 = tw.i1[ow];
                float b0 = tw.w0[ow], b1 = tw.w1[ow];
                yr[ow] = a0 * (b0 * r0[j0] + b1 * r0[j1]) + a1 * (b0 * r1[j0] + b1 * r1[j1]);
            }
        }
    }
    free(th.i0);
    free(tw.i0);
}

void hpff_cpu_resize_bilinear_bwd(hpff_backend *be, int n, int c, int h_in, int w_in, int h_out,
                                  int w_out, const float *dy, float *dx, float beta) {
    (void)be;
    const size_t hwi = (size_t)h_in * w_in, hwo = (size_t)h_out * w_out;
    lerp_taps th = lerp_taps_make(h_in, h_out), tw = lerp_taps_make(w_in, w_out);
    if (beta == 0.0f) memset(dx, 0, (size_t)n * c * hwi * sizeof(float));
    for (size_t pl = 0; pl < (size_t)n * c; pl++) {
        float *xp = dx + pl * hwi;
        for (int oh = 0; oh < h_out; oh++) {
            float *r0 = xp + (size_t)th.i0[oh] * w_in, *r1 = xp + (size_t)th.i1[oh] * w_in;
            const float a0 = th.w0[oh], a1 = th.w1[oh];
            const float *gr = dy + pl * hwo + (size_t)oh * w_out;
            for (int ow = 0; ow < w_out; ow++) {
                int j0 = tw.i0[ow], j1 = tw.i1[ow];
                float b0 = tw.w0[ow], b1 = tw.w1[ow], g0 = a0 * gr[ow], g1 = a1 * gr[ow];
                r0[j0] += b0 * g0;
                r0[j1] += b1 * g0;
                r1[j0] += b0 * g1;
                r1[j1] += b1 * g1;
            }
        }
    }
    free(th.i0);
    free(tw.i0);
}

static void patch_check(int h, int w, int r0, int c0, int ph, int pw) {
    HPFF_CHECK(r0 >= 0 && c0 >= 0 && ph >= 0 && pw >= 0 && r0 + ph <= h && c0 + pw <= w,
               "patch: window rows [%d, %d) x cols [%d, %d) outside the %dx%d map", r0, r0 + ph,
               c0, c0 + pw, h, w);
}

void hpff_cpu_patch_extract(hpff_backend *be, int n, int c, int h, int w, int r0, int c0, int ph,
                            int pw, const float *x, float *p) {
    (void)be;
    patch_check(h, w, r0, c0, ph, pw);
    for (size_t pl = 0; pl < (size_t)n * c; pl++)
        for (int i = 0; i < ph; i++)
            memcpy(p + (pl * ph + i) * pw, x + (pl * h + r0 + i) * w + c0,
                   (size_t)pw * sizeof(float));
}

void hpff_cpu_patch_scatter(hpff_backend *be, int n, int c, int h, int w, int r0, int c0, int ph,
                            int pw, const float *dp, float *dx, float beta) {
    (void)be;
    patch_check(h, w, r0, c0, ph, pw);
    for (size_t pl = 0; pl < (size_t)n * c; pl++)
        for (int i = 0; i < ph; i++) {
            const float *restrict s = dp + (pl * ph + i) * pw;
            float *restrict o = dx + (pl * h + r0 + i) * w + c0;
            if (beta == 0.0f)
                memcpy(o, s, (size_t)pw * sizeof(float));
            else
                for (int k = 0; k < pw; k++) o[k] += s[k];
        }
}
