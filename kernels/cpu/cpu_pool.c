// cpu_pool.c — CPU max / average / adaptive-average pooling, forward and backward (ALGORITHM
// §1.3-§1.5).
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "cpu_internal.h"

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

static void cpu_maxpool_fwd(hpff_backend *be, const hpff_pool_desc *d, const float *x, float *y) {
    (void)be;
    pool_check(d);
    pool_pass(d, POOL_MAX_FWD, x, NULL, y);
}

static void cpu_maxpool_bwd(hpff_backend *be, const hpff_pool_desc *d, const float *x,
                            const float *y, const float *dy, float *dx, float beta) {
    (void)be;
    (void)y;
    pool_check(d);
    if (beta == 0.0f) memset(dx, 0, (size_t)d->n * d->c * d->h_in * d->w_in * sizeof(float));
    pool_pass(d, POOL_MAX_BWD, x, dy, dx);
}

static void cpu_avgpool_fwd(hpff_backend *be, const hpff_pool_desc *d, const float *x, float *y) {
    (void)be;
    pool_check(d);
    pool_pass(d, POOL_AVG_FWD, x, NULL, y);
}

static void cpu_avgpool_bwd(hpff_backend *be, const hpff_pool_desc *d, const float *dy, float *dx,
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

// Uniform, non-overlapping bins (in a multiple of out on both axes: every CIFAR / PFF head) run
// row-wise: the bin's rows summed into a double row (vectorised), then its columns, instead of
// a call per window and row; the generic loops below handle the rest. The common bin widths 2
// and 4 are compiled with the width fixed, so the column sums and the backward's broadcast
// vectorise: the DGL heads pool whole 32x32 .. 8x8 maps with 4x4 bins.
#define POOL_ROW_MAX 1024
static inline __attribute__((always_inline)) void fwd_uniform_rows(size_t planes, int h_in, int w_in, int h_out,
                                                                  int w_out, int kw, const float *x, float *y) {
    const int kh = h_in / h_out;
    const double inv = 1.0 / ((double)kh * kw);
    double row[POOL_ROW_MAX];
    for (size_t pl = 0; pl < planes; pl++)
        for (int oh = 0; oh < h_out; oh++) {
            const float *xr = x + (pl * h_in + (size_t)oh * kh) * w_in;
            for (int iw = 0; iw < w_in; iw++) row[iw] = (double)xr[iw];
            for (int ih = 1; ih < kh; ih++)
                for (int iw = 0; iw < w_in; iw++) row[iw] += (double)xr[(size_t)ih * w_in + iw];
            float *yr = y + (pl * h_out + oh) * w_out;
            for (int ow = 0; ow < w_out; ow++) {
                double t = 0.0;
                for (int k = 0; k < kw; k++) t += row[ow * kw + k];
                yr[ow] = (float)(t * inv);
            }
        }
}

HPFF_CPU_CLONES static void adaptive_fwd_uniform(size_t planes, int h_in, int w_in, int h_out, int w_out,
                                                 const float *x, float *y) {
    switch (w_in / w_out) {
    case 2: fwd_uniform_rows(planes, h_in, w_in, h_out, w_out, 2, x, y); break;
    case 4: fwd_uniform_rows(planes, h_in, w_in, h_out, w_out, 4, x, y); break;
    default: fwd_uniform_rows(planes, h_in, w_in, h_out, w_out, w_in / w_out, x, y);
    }
}

// dx = beta*dx + the adjoint of adaptive_fwd_uniform: each input takes dy/count of its one bin
// (the generic loop's values, without its memset).
static inline __attribute__((always_inline)) void bwd_uniform_rows(size_t planes, int h_in, int w_in, int h_out,
                                                                  int w_out, int kw, const float *dy, float *dx,
                                                                  float beta) {
    const int kh = h_in / h_out;
    const float cnt = (float)(kh * kw);
    float g[POOL_ROW_MAX], v[POOL_ROW_MAX];
    for (size_t pl = 0; pl < planes; pl++)
        for (int oh = 0; oh < h_out; oh++) {
            const float *dr = dy + (pl * h_out + oh) * w_out;
            for (int ow = 0; ow < w_out; ow++) v[ow] = dr[ow] / cnt;
            for (int ow = 0; ow < w_out; ow++)
                for (int k = 0; k < kw; k++) g[ow * kw + k] = v[ow];
            for (int ih = 0; ih < kh; ih++) {
                float *restrict o = dx + (pl * h_in + (size_t)oh * kh + ih) * w_in;
                if (beta == 0.0f)
                    for (int iw = 0; iw < w_in; iw++) o[iw] = 0.0f + g[iw];
                else
                    for (int iw = 0; iw < w_in; iw++) o[iw] += g[iw];
            }
        }
}

HPFF_CPU_CLONES static void adaptive_bwd_uniform(size_t planes, int h_in, int w_in, int h_out, int w_out,
                                                 const float *dy, float *dx, float beta) {
    switch (w_in / w_out) {
    case 2: bwd_uniform_rows(planes, h_in, w_in, h_out, w_out, 2, dy, dx, beta); break;
    case 4: bwd_uniform_rows(planes, h_in, w_in, h_out, w_out, 4, dy, dx, beta); break;
    default: bwd_uniform_rows(planes, h_in, w_in, h_out, w_out, w_in / w_out, dy, dx, beta);
    }
}

static int adaptive_uniform(int h_in, int w_in, int h_out, int w_out) {
    return h_out > 0 && w_out > 0 && h_in % h_out == 0 && w_in % w_out == 0 && w_in <= POOL_ROW_MAX;
}

static void cpu_adaptive_avgpool_fwd(hpff_backend *be, int n, int c, int h_in, int w_in, int h_out,
                                     int w_out, const float *x, float *y) {
    (void)be;
    if (adaptive_uniform(h_in, w_in, h_out, w_out)) {
        adaptive_fwd_uniform((size_t)n * c, h_in, w_in, h_out, w_out, x, y);
        return;
    }
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

static void cpu_adaptive_avgpool_bwd(hpff_backend *be, int n, int c, int h_in, int w_in, int h_out,
                                     int w_out, const float *dy, float *dx, float beta) {
    (void)be;
    if (adaptive_uniform(h_in, w_in, h_out, w_out)) {
        adaptive_bwd_uniform((size_t)n * c, h_in, w_in, h_out, w_out, dy, dx, beta);
        return;
    }
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

void hpff_cpu_install_pool(hpff_backend *be) {
    be->maxpool_fwd = cpu_maxpool_fwd;
    be->maxpool_bwd = cpu_maxpool_bwd;
    be->avgpool_fwd = cpu_avgpool_fwd;
    be->avgpool_bwd = cpu_avgpool_bwd;
    be->adaptive_avgpool_fwd = cpu_adaptive_avgpool_fwd;
    be->adaptive_avgpool_bwd = cpu_adaptive_avgpool_bwd;
}
