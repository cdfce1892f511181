// conv_cpu.c — CPU convolution and linear layers on OpenBLAS sgemm.
//
// A convolution is, per group g, Y_g (cog, cols) = W_g (cog, kg) * col_g (kg, cols) where col_g is
// the im2col matrix (row = (c, ki, kj), column = (image, oh, ow)). Small maps make one image's
// gemm too small for BLAS to run well, so images are processed in chunks of `nb` whose columns
// sit side by side (cols = nb*hw_out); the chunk's result is then copied back to NCHW. A chunk of
// one image writes straight into the output, and a 1x1/stride-1/unpadded conv of one image uses
// x itself as col. The workspace holds col (kg x cols) and, when nb > 1, the (c_out x cols) matrix
// of the chunk's output / output gradient.
#include "conv_cpu.h"
#include "check.h"
#include "cpu_util.h"
#include <cblas.h>
#include <string.h>

// Target columns per chunk (measured on ResNet-32 CIFAR shapes) and a cap on the col buffer.
#define CONV_TARGET_COLS 2048
#define CONV_MAX_COL_BYTES ((size_t)32 << 20)

typedef struct conv_plan {
    int cig, cog;     // channels per group
    size_t kg;        // cig*kh*kw: rows of col
    size_t hw_in, hw_out;
    int nb;           // images per chunk
    int pointwise;    // 1x1, stride 1, no padding: col of one image is x itself
} conv_plan;

static void conv_check(const hpff_conv_desc *d) {
    HPFF_CHECK(d->groups >= 1 && d->c_in % d->groups == 0 && d->c_out % d->groups == 0,
               "conv: channels %d -> %d not divisible by groups %d", d->c_in, d->c_out, d->groups);
    HPFF_CHECK(d->kh >= 1 && d->kw >= 1 && d->sh >= 1 && d->sw >= 1 && d->ph >= 0 && d->pw >= 0,
               "conv: bad kernel %dx%d / stride %dx%d / padding %dx%d", d->kh, d->kw, d->sh, d->sw,
               d->ph, d->pw);
    HPFF_CHECK(d->h_out == (d->h_in + 2 * d->ph - d->kh) / d->sh + 1 &&
                   d->w_out == (d->w_in + 2 * d->pw - d->kw) / d->sw + 1 && d->h_out > 0 &&
                   d->w_out > 0,
               "conv: output %dx%d does not match input %dx%d, kernel %dx%d, stride %dx%d, pad %dx%d",
               d->h_out, d->w_out, d->h_in, d->w_in, d->kh, d->kw, d->sh, d->sw, d->ph, d->pw);
    HPFF_CHECK(d->n >= 0, "conv: negative batch %d", d->n);
}

static conv_plan conv_plan_make(const hpff_conv_desc *d) {
    conv_plan p;
    p.cig = d->c_in / d->groups;
    p.cog = d->c_out / d->groups;
    p.kg = (size_t)p.cig * d->kh * d->kw;
    p.hw_in = (size_t)d->h_in * d->w_in;
    p.hw_out = (size_t)d->h_out * d->w_out;
    p.pointwise = d->kh == 1 && d->kw == 1 && d->sh == 1 && d->sw == 1 && d->ph == 0 && d->pw == 0;
    size_t nb = (CONV_TARGET_COLS + p.hw_out - 1) / p.hw_out;
    size_t cap = CONV_MAX_COL_BYTES / (p.kg * p.hw_out * sizeof(float));
    if (nb > cap) nb = cap;
    if (nb > (size_t)d->n) nb = (size_t)d->n;
    p.nb = nb < 1 ? 1 : (int)nb;
    return p;
}

size_t hpff_cpu_conv_workspace(hpff_backend *be, const hpff_conv_desc *d) {
    (void)be;
    conv_check(d);
    conv_plan p = conv_plan_make(d);
    if (p.nb == 1 && p.pointwise) return 0;
    size_t cols = (size_t)p.nb * p.hw_out;
    size_t floats = p.kg * cols + (p.nb > 1 ? (size_t)d->c_out * cols : 0);
    return floats * sizeof(float);
}

// The output columns ow in [*lo, *hi) read an input column inside [0, w_in) for kernel column kj.
static void ow_range(const hpff_conv_desc *d, int kj, int *lo, int *hi) {
    int off = kj - d->pw;   // input column = ow*sw + off
    int l = off >= 0 ? 0 : (-off + d->sw - 1) / d->sw;
    int h = d->w_in - 1 - off < 0 ? 0 : (d->w_in - 1 - off) / d->sw + 1;
    if (l > d->w_out) l = d->w_out;
    if (h > d->w_out) h = d->w_out;
    if (h < l) h = l;
    *lo = l;
    *hi = h;
}

// col (kg, nb*hw_out) from the cig channels at x of nb images (image stride x_img floats).
static void im2col(const hpff_conv_desc *d, const conv_plan *p, const float *x, size_t x_img,
                   int nb, float *restrict col) {
    const int wo = d->w_out, sw = d->sw;
    const size_t ld = (size_t)nb * p->hw_out;
    for (int c = 0; c < p->cig; c++)
        for (int ki = 0; ki < d->kh; ki++)
            for (int kj = 0; kj < d->kw; kj++) {
                float *row = col + ((size_t)(c * d->kh + ki) * d->kw + kj) * ld;
                int lo, hi, off = kj - d->pw;
                ow_range(d, kj, &lo, &hi);
                for (int i = 0; i < nb; i++) {
                    const float *xp = x + i * x_img + c * p->hw_in;
                    for (int oh = 0; oh < d->h_out; oh++) {
                        float *restrict dst = row + i * p->hw_out + (size_t)oh * wo;
                        int ih = oh * d->sh - d->ph + ki;
                        if (ih < 0 || ih >= d->h_in) {
                            memset(dst, 0, (size_t)wo * sizeof(float));
                            continue;
                        }
                        const float *restrict src = xp + (size_t)ih * d->w_in;
                        for (int ow = 0; ow < lo; ow++) dst[ow] = 0.0f;
                        if (sw == 1)
                            memcpy(dst + lo, src + lo + off, (size_t)(hi - lo) * sizeof(float));
                        else
                            for (int ow = lo; ow < hi; ow++) dst[ow] = src[ow * sw + off];
                        for (int ow = hi; ow < wo; ow++) dst[ow] = 0.0f;
                    }
                }
            }
}

// The adjoint of im2col: dx (the cig channels of nb images) += col2im(col).
static void col2im_add(const hpff_conv_desc *d, const conv_plan *p, const float *restrict col,
                       int nb, float *dx, size_t x_img) {
    const int wo = d->w_out, sw = d->sw;
    const size_t ld = (size_t)nb * p->hw_out;
    for (int c = 0; c < p->cig; c++)
        for (int ki = 0; ki < d->kh; ki++)
            for (int kj = 0; kj < d->kw; kj++) {
                const float *row = col + ((size_t)(c * d->kh + ki) * d->kw + kj) * ld;
                int lo, hi, off = kj - d->pw;
                ow_range(d, kj, &lo, &hi);
                for (int i = 0; i < nb; i++) {
                    float *xp = dx + i * x_img + c * p->hw_in;
                    for (int oh = 0; oh < d->h_out; oh++) {
                        int ih = oh * d->sh - d->ph + ki;
                        if (ih < 0 || ih >= d->h_in) continue;
                        const float *restrict src = row + i * p->hw_out + (size_t)oh * wo;
                        float *restrict dst = xp + (size_t)ih * d->w_in + off;
                        if (sw == 1)
                            for (int ow = lo; ow < hi; ow++) dst[ow] += src[ow];
                        else
                            for (int ow = lo; ow < hi; ow++) dst[ow * sw] += src[ow];
                    }
                }
            }
}

// m (c, nb*hw) <- t (nb, c, hw).
static void nchw_to_cm(const float *restrict t, int nb, int c, size_t hw, float *restrict m) {
    for (int ch = 0; ch < c; ch++)
        for (int i = 0; i < nb; i++)
            memcpy(m + ((size_t)ch * nb + i) * hw, t + ((size_t)i * c + ch) * hw, hw * sizeof(float));
}

// t (nb, c, hw) <- m (c, nb*hw) + bias (bias may be NULL).
static void cm_to_nchw(const float *restrict m, int nb, int c, size_t hw, const float *bias,
                       float *restrict t) {
    for (int i = 0; i < nb; i++)
        for (int ch = 0; ch < c; ch++) {
            const float *restrict s = m + ((size_t)ch * nb + i) * hw;
            float *restrict o = t + ((size_t)i * c + ch) * hw;
            float b = bias ? bias[ch] : 0.0f;
            for (size_t k = 0; k < hw; k++) o[k] = s[k] + b;
        }
}

void hpff_cpu_conv_fwd(hpff_backend *be, const hpff_conv_desc *d, const float *x, const float *w,
                       const float *bias, float *y, void *ws) {
    (void)be;
    conv_check(d);
    conv_plan p = conv_plan_make(d);
    HPFF_CHECK(ws != NULL || (p.nb == 1 && p.pointwise), "conv_fwd: workspace missing");
    float *col = ws, *tmp = col ? col + p.kg * p.nb * p.hw_out : NULL;
    const size_t xs = (size_t)d->c_in * p.hw_in, ys = (size_t)d->c_out * p.hw_out;
    for (int i0 = 0; i0 < d->n; i0 += p.nb) {
        int nb = d->n - i0 < p.nb ? d->n - i0 : p.nb;
        int cols = nb * (int)p.hw_out;
        for (int g = 0; g < d->groups; g++) {
            const float *xg = x + i0 * xs + (size_t)g * p.cig * p.hw_in;
            const float *b = xg;
            if (!(nb == 1 && p.pointwise)) {
                im2col(d, &p, xg, xs, nb, col);
                b = col;
            }
            float *c = nb == 1 ? y + i0 * ys + (size_t)g * p.cog * p.hw_out
                               : tmp + (size_t)g * p.cog * cols;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p.cog, cols, (int)p.kg, 1.0f,
                        w + (size_t)g * p.cog * p.kg, (int)p.kg, b, cols, 0.0f, c, cols);
        }
        if (nb > 1)
            cm_to_nchw(tmp, nb, d->c_out, p.hw_out, bias, y + i0 * ys);
        else if (bias)
            for (int ch = 0; ch < d->c_out; ch++) {
                float *restrict o = y + i0 * ys + ch * p.hw_out, b = bias[ch];
                for (size_t k = 0; k < p.hw_out; k++) o[k] += b;
            }
    }
}

void hpff_cpu_conv_bwd_data(hpff_backend *be, const hpff_conv_desc *d, const float *w,
                            const float *dy, float *dx, float beta, void *ws) {
    (void)be;
    conv_check(d);
    conv_plan p = conv_plan_make(d);
    HPFF_CHECK(ws != NULL || (p.nb == 1 && p.pointwise), "conv_bwd_data: workspace missing");
    float *col = ws, *tmp = col ? col + p.kg * p.nb * p.hw_out : NULL;
    const size_t xs = (size_t)d->c_in * p.hw_in, ys = (size_t)d->c_out * p.hw_out;
    for (int i0 = 0; i0 < d->n; i0 += p.nb) {
        int nb = d->n - i0 < p.nb ? d->n - i0 : p.nb;
        int cols = nb * (int)p.hw_out;
        const float *dym = dy + i0 * ys;   // (c_out, cols) when nb == 1
        if (nb > 1) {
            nchw_to_cm(dym, nb, d->c_out, p.hw_out, tmp);
            dym = tmp;
        }
        float *dxc = dx + i0 * xs;
        int direct = nb == 1 && p.pointwise;
        if (!direct && beta == 0.0f) memset(dxc, 0, (size_t)nb * xs * sizeof(float));
        for (int g = 0; g < d->groups; g++) {
            const float *wg = w + (size_t)g * p.cog * p.kg;
            const float *dyg = dym + (size_t)g * p.cog * cols;
            float *dxg = dxc + (size_t)g * p.cig * p.hw_in;
            if (direct) {
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)p.kg, cols, p.cog, 1.0f,
                            wg, (int)p.kg, dyg, cols, beta, dxg, cols);
            } else {
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)p.kg, cols, p.cog, 1.0f,
                            wg, (int)p.kg, dyg, cols, 0.0f, col, cols);
                col2im_add(d, &p, col, nb, dxg, xs);
            }
        }
    }
}

void hpff_cpu_conv_bwd_filter(hpff_backend *be, const hpff_conv_desc *d, const float *x,
                              const float *dy, float *dw, float *dbias, void *ws) {
    (void)be;
    conv_check(d);
    conv_plan p = conv_plan_make(d);
    HPFF_CHECK(ws != NULL || (p.nb == 1 && p.pointwise), "conv_bwd_filter: workspace missing");
    float *col = ws, *tmp = col ? col + p.kg * p.nb * p.hw_out : NULL;
    const size_t xs = (size_t)d->c_in * p.hw_in, ys = (size_t)d->c_out * p.hw_out;
    for (int i0 = 0; i0 < d->n; i0 += p.nb) {
        int nb = d->n - i0 < p.nb ? d->n - i0 : p.nb;
        int cols = nb * (int)p.hw_out;
        const float *dym = dy + i0 * ys;
        if (nb > 1) {
            nchw_to_cm(dym, nb, d->c_out, p.hw_out, tmp);
            dym = tmp;
        }
        for (int g = 0; g < d->groups; g++) {
            const float *xg = x + i0 * xs + (size_t)g * p.cig * p.hw_in;
            const float *b = xg;
            if (!(nb == 1 && p.pointwise)) {
                im2col(d, &p, xg, xs, nb, col);
                b = col;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, p.cog, (int)p.kg, cols, 1.0f,
                        dym + (size_t)g * p.cog * cols, cols, b, cols, 1.0f,
                        dw + (size_t)g * p.cog * p.kg, (int)p.kg);
        }
    }
    if (dbias)
        for (int ch = 0; ch < d->c_out; ch++) {
            double s = 0.0;
            for (int i = 0; i < d->n; i++) s += hpff_cpu_sum(dy + i * ys + ch * p.hw_out, p.hw_out);
            dbias[ch] += (float)s;
        }
}

void hpff_cpu_linear_fwd(hpff_backend *be, int n, int in, int out, const float *x, const float *w,
                         const float *b, float *y) {
    (void)be;
    if (n <= 0 || out <= 0) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, w, in, 0.0f, y,
                out);
    if (b)
        for (int i = 0; i < n; i++) {
            float *restrict yi = y + (size_t)i * out;
            for (int o = 0; o < out; o++) yi[o] += b[o];
        }
}

void hpff_cpu_linear_bwd_data(hpff_backend *be, int n, int in, int out, const float *w,
                              const float *dy, float *dx, float beta) {
    (void)be;
    if (n <= 0 || in <= 0) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, dy, out, w, in, beta,
                dx, in);
}

void hpff_cpu_linear_bwd_weight(hpff_backend *be, int n, int in, int out, const float *x,
                                const float *dy, float *dw, float *db) {
    (void)be;
    if (n <= 0 || out <= 0) return;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, dy, out, x, in, 1.0f,
                dw, in);
    if (db)
        for (int o = 0; o < out; o++) {
            double s = 0.0;
            for (int i = 0; i < n; i++) s += (double)dy[(size_t)i * out + o];
            db[o] += (float)s;
        }
}
