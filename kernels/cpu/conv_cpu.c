// conv_cpu.c — CPU convolution and linear layers on OpenBLAS sgemm.
//
// A convolution is, per group g and image, Y_g (cog, hw_out) = W_g (cog, kg) * col (kg, hw_out),
// col being the im2col matrix (row = (c, ki, kj), column = (oh, ow)); a 1x1/stride-1/unpadded
// conv uses x itself as col. One image per gemm is fastest on ResNet shapes (col stays in L2), but
// a gemm with a handful of output channels runs far below peak, so convs with fewer than
// CONV_SMALL_COUT output channels per group batch `nb` images side by side in col (columns
// (image, oh, ow)) and copy the result back to NCHW. Backward-filter computes dW^T = col * dY^T
// into the workspace and adds its transpose into dw at the end: OpenBLAS runs that orientation
// up to twice as fast for few output channels. Workspace (floats): col kg*cols (absent for a
// pointwise one-image plan), tmp cog*cols (only when nb > 1), dwt kg*cog.
#include "conv_cpu.h"
#include "check.h"
#include "cpu_util.h"
#include <cblas.h>
#include <string.h>

// Convs with fewer output channels per group than this batch images up to CONV_TARGET_COLS
// columns per gemm (both measured on ResNet-32 / InfoPro-decoder shapes); col is capped in size.
#define CONV_SMALL_COUT 8
#define CONV_TARGET_COLS 2048
#define CONV_MAX_COL_BYTES ((size_t)32 << 20)

typedef struct conv_plan {
    int cig, cog;     // channels per group
    size_t kg;        // cig*kh*kw: rows of col
    size_t hw_in, hw_out;
    int nb;           // images per gemm
    int pointwise;    // 1x1, stride 1, no padding: col of one image is x itself
    float *col, *tmp, *dwt;   // workspace regions
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

// The plan for d; with ws != NULL its regions point into ws. Sizes depend on d->n only through
// nb <= n, so a workspace sized at the planned batch serves every smaller runtime batch.
static conv_plan conv_plan_make(const hpff_conv_desc *d, void *ws, size_t *ws_floats) {
    conv_plan p;
    p.cig = d->c_in / d->groups;
    p.cog = d->c_out / d->groups;
    p.kg = (size_t)p.cig * d->kh * d->kw;
    p.hw_in = (size_t)d->h_in * d->w_in;
    p.hw_out = (size_t)d->h_out * d->w_out;
    p.pointwise = d->kh == 1 && d->kw == 1 && d->sh == 1 && d->sw == 1 && d->ph == 0 && d->pw == 0;
    size_t nb = 1;
    if (p.cog < CONV_SMALL_COUT) {
        nb = (CONV_TARGET_COLS + p.hw_out - 1) / p.hw_out;
        size_t cap = CONV_MAX_COL_BYTES / (p.kg * p.hw_out * sizeof(float));
        if (nb > cap) nb = cap;
        if (nb > (size_t)d->n) nb = (size_t)d->n;
        if (nb < 1) nb = 1;
    }
    p.nb = (int)nb;
    size_t cols = nb * p.hw_out;
    size_t ncol = nb == 1 && p.pointwise ? 0 : p.kg * cols, ntmp = nb > 1 ? (size_t)p.cog * cols : 0;
    float *base = ws;
    p.col = base;
    p.tmp = base ? base + ncol : NULL;
    p.dwt = base ? base + ncol + ntmp : NULL;
    if (ws_floats) *ws_floats = ncol + ntmp + p.kg * p.cog;
    return p;
}

size_t hpff_cpu_conv_workspace(hpff_backend *be, const hpff_conv_desc *d) {
    (void)be;
    conv_check(d);
    size_t floats;
    conv_plan_make(d, NULL, &floats);
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

// m (c, nb*hw) <- the c channels at t of nb images (image stride t_img).
static void nchw_to_cm(const float *t, size_t t_img, int nb, int c, size_t hw, float *restrict m) {
    for (int ch = 0; ch < c; ch++)
        for (int i = 0; i < nb; i++)
            memcpy(m + ((size_t)ch * nb + i) * hw, t + i * t_img + ch * hw, hw * sizeof(float));
}

// The c channels at t of nb images (image stride t_img) <- m (c, nb*hw) + bias (may be NULL).
static void cm_to_nchw(const float *restrict m, int nb, int c, size_t hw, const float *bias,
                       float *t, size_t t_img) {
    for (int i = 0; i < nb; i++)
        for (int ch = 0; ch < c; ch++) {
            const float *restrict s = m + ((size_t)ch * nb + i) * hw;
            float *restrict o = t + i * t_img + ch * hw;
            float b = bias ? bias[ch] : 0.0f;
            for (size_t k = 0; k < hw; k++) o[k] = s[k] + b;
        }
}

void hpff_cpu_conv_fwd(hpff_backend *be, const hpff_conv_desc *d, const float *x, const float *w,
                       const float *bias, float *y, void *ws) {
    (void)be;
    conv_check(d);
    conv_plan p = conv_plan_make(d, ws, NULL);
    HPFF_CHECK(ws != NULL, "conv_fwd: workspace missing");
    const size_t xs = (size_t)d->c_in * p.hw_in, ys = (size_t)d->c_out * p.hw_out;
    for (int g = 0; g < d->groups; g++) {
        const float *wg = w + (size_t)g * p.cog * p.kg, *bg = bias ? bias + g * p.cog : NULL;
        for (int i0 = 0; i0 < d->n; i0 += p.nb) {
            int nb = d->n - i0 < p.nb ? d->n - i0 : p.nb, cols = nb * (int)p.hw_out;
            const float *xg = x + i0 * xs + (size_t)g * p.cig * p.hw_in, *b = xg;
            float *yg = y + i0 * ys + (size_t)g * p.cog * p.hw_out;
            if (!(nb == 1 && p.pointwise)) {
                im2col(d, &p, xg, xs, nb, p.col);
                b = p.col;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p.cog, cols, (int)p.kg, 1.0f,
                        wg, (int)p.kg, b, cols, 0.0f, nb == 1 ? yg : p.tmp, cols);
            if (nb > 1)
                cm_to_nchw(p.tmp, nb, p.cog, p.hw_out, bg, yg, ys);
            else if (bg)
                for (int ch = 0; ch < p.cog; ch++) {
                    float *restrict o = yg + ch * p.hw_out, bv = bg[ch];
                    for (size_t k = 0; k < p.hw_out; k++) o[k] += bv;
                }
        }
    }
}

void hpff_cpu_conv_bwd_data(hpff_backend *be, const hpff_conv_desc *d, const float *w,
                            const float *dy, float *dx, float beta, void *ws) {
    (void)be;
    conv_check(d);
    conv_plan p = conv_plan_make(d, ws, NULL);
    HPFF_CHECK(ws != NULL, "conv_bwd_data: workspace missing");
    const size_t xs = (size_t)d->c_in * p.hw_in, ys = (size_t)d->c_out * p.hw_out;
    const int direct = p.nb == 1 && p.pointwise;   // gemm straight into dx, honouring beta
    for (int g = 0; g < d->groups; g++) {
        const float *wg = w + (size_t)g * p.cog * p.kg;
        for (int i0 = 0; i0 < d->n; i0 += p.nb) {
            int nb = d->n - i0 < p.nb ? d->n - i0 : p.nb, cols = nb * (int)p.hw_out;
            const float *dyg = dy + i0 * ys + (size_t)g * p.cog * p.hw_out;
            float *dxg = dx + i0 * xs + (size_t)g * p.cig * p.hw_in;
            if (nb > 1) {
                nchw_to_cm(dyg, ys, nb, p.cog, p.hw_out, p.tmp);
                dyg = p.tmp;
            }
            if (direct) {
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)p.kg, cols, p.cog, 1.0f,
                            wg, (int)p.kg, dyg, cols, beta, dxg, cols);
            } else {
                if (beta == 0.0f)
                    for (int i = 0; i < nb; i++)
                        memset(dxg + i * xs, 0, (size_t)p.cig * p.hw_in * sizeof(float));
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)p.kg, cols, p.cog, 1.0f,
                            wg, (int)p.kg, dyg, cols, 0.0f, p.col, cols);
                col2im_add(d, &p, p.col, nb, dxg, xs);
            }
        }
    }
}

void hpff_cpu_conv_bwd_filter(hpff_backend *be, const hpff_conv_desc *d, const float *x,
                              const float *dy, float *dw, float *dbias, void *ws) {
    (void)be;
    conv_check(d);
    conv_plan p = conv_plan_make(d, ws, NULL);
    HPFF_CHECK(ws != NULL, "conv_bwd_filter: workspace missing");
    const size_t xs = (size_t)d->c_in * p.hw_in, ys = (size_t)d->c_out * p.hw_out;
    for (int g = 0; g < d->groups; g++) {
        memset(p.dwt, 0, p.kg * p.cog * sizeof(float));
        for (int i0 = 0; i0 < d->n; i0 += p.nb) {
            int nb = d->n - i0 < p.nb ? d->n - i0 : p.nb, cols = nb * (int)p.hw_out;
            const float *xg = x + i0 * xs + (size_t)g * p.cig * p.hw_in, *a = xg;
            const float *dyg = dy + i0 * ys + (size_t)g * p.cog * p.hw_out;
            if (nb > 1) {
                nchw_to_cm(dyg, ys, nb, p.cog, p.hw_out, p.tmp);
                dyg = p.tmp;
            }
            if (!(nb == 1 && p.pointwise)) {
                im2col(d, &p, xg, xs, nb, p.col);
                a = p.col;
            }
            // dW^T (kg, cog) += col (kg, cols) * dY^T (cols, cog)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)p.kg, p.cog, cols, 1.0f, a,
                        cols, dyg, cols, 1.0f, p.dwt, p.cog);
        }
        float *dwg = dw + (size_t)g * p.cog * p.kg;
        for (int o = 0; o < p.cog; o++)
            for (size_t k = 0; k < p.kg; k++) dwg[o * p.kg + k] += p.dwt[k * p.cog + o];
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
