// cpu_conv.c — CPU convolution on OpenBLAS sgemm.
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
#include <cblas.h>
#include <string.h>
#include "check.h"
#include "cpu_internal.h"

// Convs with fewer output channels per group than this batch images up to CONV_TARGET_COLS
// columns per gemm (both measured on ResNet-32 / InfoPro-decoder shapes); col is capped in size.
#define CONV_SMALL_COUT 8
#define CONV_TARGET_COLS 2048
#define CONV_MAX_COL_BYTES ((size_t)32 << 20)
// OpenBLAS (0.3.21 and later, SkylakeX/Cooperlake kernels) runs a gemm of at most 1e6
// multiply-adds through unpacked "small-matrix" kernels, up to twice as fast as its packed path
// when one side has few rows (ResNet-32 stage 1 forward: 53 -> 110 GFLOP/s). Forward and
// backward-data gemms are therefore split into column blocks under that size (multiples of 64
// columns run best). Its transposed-A variant, which backward-filter hits, is only taken while
// the result has at most 1200 elements; that pays for <= 32 output channels (measured) and is
// used there. Other BLAS builds merely see a few more, still large, gemm calls.
#define CONV_SMALL_GEMM 1000000.0
#define CONV_SMALL_TN_RESULT 1200
#define CONV_FILTER_SPLIT_MAX_COUT 32

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
               "conv: output %dx%d does not match input %dx%d, kernel %dx%d, stride %dx%d, "
               "pad %dx%d",
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
    size_t ncol = nb == 1 && p.pointwise ? 0 : p.kg * cols;
    size_t ntmp = nb > 1 ? (size_t)p.cog * cols : 0;
    float *base = ws;
    p.col = base;
    p.tmp = base ? base + ncol : NULL;
    p.dwt = base ? base + ncol + ntmp : NULL;
    if (ws_floats) *ws_floats = ncol + ntmp + p.kg * p.cog * (size_t)d->groups;
    return p;
}

// One region per worker thread: each runs its own images through its own col/tmp/dwt.
static size_t cpu_conv_workspace(hpff_backend *be, const hpff_conv_desc *d) {
    conv_check(d);
    size_t floats;
    conv_plan_make(d, NULL, &floats);
    return floats * sizeof(float) * (size_t)hpff_cpu_pool_threads(hpff_cpu_pool_of(be));
}

// C (m, cols; ldc cols) = op(A) (m, k) * B (k, cols; ldb cols) + beta*C, in column blocks (see
// CONV_SMALL_GEMM). A is W_g (cog, kg) itself (trans_a 0) or transposed (trans_a 1).
static void gemm_cols(int trans_a, int m, int k, int cols, const float *a, int lda,
                      const float *b, float beta, float *c) {
    double fit = CONV_SMALL_GEMM / ((double)m * k);
    int blk = fit >= cols ? cols : fit >= 64 ? (int)fit / 64 * 64 : (int)fit / 16 * 16;
    if (blk < 16) blk = cols;
    for (int c0 = 0; c0 < cols; c0 += blk) {
        int nc = cols - c0 < blk ? cols - c0 : blk;
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, CblasNoTrans, m, nc, k,
                    1.0f, a, lda, b + c0, cols, beta, c + c0, cols);
    }
}

// dwt (kg, cog) += col (kg, cols) * dy^T (cols, cog) (both lds cols), in row blocks (see
// CONV_SMALL_GEMM).
static void gemm_filter(int kg, int cog, int cols, const float *col, const float *dy, float *dwt) {
    int blk = kg;
    if (cog <= CONV_FILTER_SPLIT_MAX_COUT) {
        double fit = CONV_SMALL_GEMM / ((double)cog * cols);
        int rows = CONV_SMALL_TN_RESULT / cog;
        if (fit < rows) rows = (int)fit;
        if (rows < kg && rows >= 4) blk = rows / 4 * 4;
    }
    for (int r0 = 0; r0 < kg; r0 += blk) {
        int nr = kg - r0 < blk ? kg - r0 : blk;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, cog, cols, 1.0f,
                    col + (size_t)r0 * cols, cols, dy, cols, 1.0f, dwt + (size_t)r0 * cog, cog);
    }
}

// Along one axis, the outputs o in [*lo, *hi) read an input inside [0, in) at o*stride + off
// (off = kernel tap - padding).
static void tap_range(int off, int stride, int in, int out, int *lo, int *hi) {
    int l = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int h = in - 1 - off < 0 ? 0 : (in - 1 - off) / stride + 1;
    if (l > out) l = out;
    if (h > out) h = out;
    if (h < l) h = l;
    *lo = l;
    *hi = h;
}

// Stride 1 with w_out == w_in ("same" width): the valid part of one col row is a single shifted
// run of the input plane, except the wo - (hi - lo) border columns of each row, which the run
// fills with neighbouring-row values. The fast paths copy / add that run and clear the borders.
static int conv_same_rows(const hpff_conv_desc *d) {
    return d->sh == 1 && d->sw == 1 && d->w_out == d->w_in;
}

// Zeroes columns [0, lo) and [hi, wo) of rows [r0, r1) of a (rows, wo) block.
static void clear_borders(float *restrict m, int wo, int r0, int r1, int lo, int hi) {
    for (int r = r0; r < r1; r++) {
        for (int c = 0; c < lo; c++) m[(size_t)r * wo + c] = 0.0f;
        for (int c = hi; c < wo; c++) m[(size_t)r * wo + c] = 0.0f;
    }
}

// One image-plane row block of col for kernel tap (ki, kj): dst (h_out, w_out) from plane src.
static void im2col_plane(const hpff_conv_desc *d, int ki, int kj, const float *src,
                         float *restrict dst) {
    const int wo = d->w_out;
    int lo, hi, rlo, rhi, off = kj - d->pw;
    tap_range(off, d->sw, d->w_in, d->w_out, &lo, &hi);
    tap_range(ki - d->ph, d->sh, d->h_in, d->h_out, &rlo, &rhi);
    if (rlo > 0) memset(dst, 0, (size_t)rlo * wo * sizeof(float));
    if (rhi < d->h_out)
        memset(dst + (size_t)rhi * wo, 0, (size_t)(d->h_out - rhi) * wo * sizeof(float));
    if (rhi == rlo || hi == lo) {
        memset(dst + (size_t)rlo * wo, 0, (size_t)(rhi - rlo) * wo * sizeof(float));
        return;
    }
    if (conv_same_rows(d)) {
        size_t first = (size_t)rlo * wo + lo, last = (size_t)(rhi - 1) * wo + hi;
        const float *s = src + (size_t)(rlo + ki - d->ph) * d->w_in + lo + off;
        memcpy(dst + first, s, (last - first) * sizeof(float));
        clear_borders(dst, wo, rlo, rhi, lo, hi);
        return;
    }
    for (int oh = rlo; oh < rhi; oh++) {
        float *restrict o = dst + (size_t)oh * wo;
        const float *restrict r = src + (size_t)(oh * d->sh - d->ph + ki) * d->w_in;
        for (int ow = 0; ow < lo; ow++) o[ow] = 0.0f;
        if (d->sw == 1)
            memcpy(o + lo, r + lo + off, (size_t)(hi - lo) * sizeof(float));
        else if (d->sw == 2)   // the downsampling convs; a constant stride lets gcc vectorise
            for (int ow = lo; ow < hi; ow++) o[ow] = r[2 * ow + off];
        else
            for (int ow = lo; ow < hi; ow++) o[ow] = r[ow * d->sw + off];
        for (int ow = hi; ow < wo; ow++) o[ow] = 0.0f;
    }
}

// The adjoint of im2col_plane: plane dx += the taps of col block src (which may be modified:
// its border columns are cleared on the fast path).
static void col2im_plane(const hpff_conv_desc *d, int ki, int kj, float *restrict src,
                         float *restrict dx) {
    const int wo = d->w_out;
    int lo, hi, rlo, rhi, off = kj - d->pw;
    tap_range(off, d->sw, d->w_in, d->w_out, &lo, &hi);
    tap_range(ki - d->ph, d->sh, d->h_in, d->h_out, &rlo, &rhi);
    if (rhi == rlo || hi == lo) return;
    if (conv_same_rows(d)) {
        clear_borders(src, wo, rlo, rhi, lo, hi);
        size_t first = (size_t)rlo * wo + lo, last = (size_t)(rhi - 1) * wo + hi;
        float *restrict o = dx + (size_t)(rlo + ki - d->ph) * d->w_in + lo + off;
        const float *restrict s = src + first;
        for (size_t k = 0; k < last - first; k++) o[k] += s[k];
        return;
    }
    for (int oh = rlo; oh < rhi; oh++) {
        const float *restrict s = src + (size_t)oh * wo;
        float *restrict r = dx + (size_t)(oh * d->sh - d->ph + ki) * d->w_in;
        if (d->sw == 1)
            for (int ow = lo; ow < hi; ow++) r[ow + off] += s[ow];
        else
            for (int ow = lo; ow < hi; ow++) r[ow * d->sw + off] += s[ow];
    }
}

// col (kg, nb*hw_out) from the cig channels at x of nb images (image stride x_img floats).
static void im2col(const hpff_conv_desc *d, const conv_plan *p, const float *x, size_t x_img,
                   int nb, float *col) {
    const size_t ld = (size_t)nb * p->hw_out;
    for (int c = 0; c < p->cig; c++)
        for (int ki = 0; ki < d->kh; ki++)
            for (int kj = 0; kj < d->kw; kj++) {
                float *row = col + ((size_t)(c * d->kh + ki) * d->kw + kj) * ld;
                for (int i = 0; i < nb; i++)
                    im2col_plane(d, ki, kj, x + i * x_img + c * p->hw_in, row + i * p->hw_out);
            }
}

// The adjoint of im2col: dx (the cig channels of nb images) += col2im(col); col is clobbered.
static void col2im_add(const hpff_conv_desc *d, const conv_plan *p, float *col, int nb,
                       float *dx, size_t x_img) {
    const size_t ld = (size_t)nb * p->hw_out;
    for (int c = 0; c < p->cig; c++)
        for (int ki = 0; ki < d->kh; ki++)
            for (int kj = 0; kj < d->kw; kj++) {
                float *row = col + ((size_t)(c * d->kh + ki) * d->kw + kj) * ld;
                for (int i = 0; i < nb; i++)
                    col2im_plane(d, ki, kj, row + i * p->hw_out, dx + i * x_img + c * p->hw_in);
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

// A convolution call split over the pool: items are chunks of p.nb images, each worker uses
// the workspace region of its index.
typedef struct conv_job {
    const hpff_conv_desc *d;
    float *ws;
    size_t ws_floats;          // per worker
    const float *x, *w, *bias, *dy;
    float *y, *dx;
    float beta;
} conv_job;

static conv_plan job_plan(const conv_job *j, int worker) {
    return conv_plan_make(j->d, j->ws + (size_t)worker * j->ws_floats, NULL);
}

static int job_chunks(const hpff_conv_desc *d) {
    conv_plan p = conv_plan_make(d, NULL, NULL);
    return (d->n + p.nb - 1) / p.nb;
}

static conv_job job_make(hpff_backend *be, const hpff_conv_desc *d, void *ws) {
    conv_check(d);
    HPFF_CHECK(ws != NULL, "conv: workspace missing");
    conv_job j;
    memset(&j, 0, sizeof j);
    j.d = d;
    j.ws = ws;
    conv_plan_make(d, NULL, &j.ws_floats);
    (void)be;
    return j;
}

// Chunk c of a job: images [i0, i0 + nb), the gemm columns they make (nb * hw_out), and the
// offsets of those images' group-g channels in x (or dx) and in y (or dy).
typedef struct conv_chunk {
    int i0, nb, cols;
    size_t x_off, y_off;
} conv_chunk;

static conv_chunk chunk_at(const hpff_conv_desc *d, const conv_plan *p, int c, int g) {
    conv_chunk k;
    k.i0 = c * p->nb;
    k.nb = d->n - k.i0 < p->nb ? d->n - k.i0 : p->nb;
    k.cols = k.nb * (int)p->hw_out;
    k.x_off = k.i0 * ((size_t)d->c_in * p->hw_in) + (size_t)g * p->cig * p->hw_in;
    k.y_off = k.i0 * ((size_t)d->c_out * p->hw_out) + (size_t)g * p->cog * p->hw_out;
    return k;
}

// The chunk's input as gemm columns (kg, cols): x itself for one image of a 1x1 stride-1 conv,
// else im2col into p->col.  xg: (nb, C_in, H, W) images with stride x_img, at group g.
static const float *chunk_cols(const hpff_conv_desc *d, const conv_plan *p, const float *xg,
                               size_t x_img, int nb) {
    if (nb == 1 && p->pointwise) return xg;
    im2col(d, p, xg, x_img, nb, p->col);
    return p->col;
}

// The chunk's dy as a (cog, cols) channel-major matrix: dy itself for one image, else copied
// into p->tmp.  dyg: (nb, C_out, Ho, Wo) images with stride y_img, at group g.
static const float *chunk_dy(const conv_plan *p, const float *dyg, size_t y_img, int nb) {
    if (nb == 1) return dyg;
    nchw_to_cm(dyg, y_img, nb, p->cog, p->hw_out, p->tmp);
    return p->tmp;
}

static void fwd_worker(void *arg, int worker, int c0, int c1) {
    const conv_job *j = arg;
    const hpff_conv_desc *d = j->d;
    conv_plan p = job_plan(j, worker);
    const size_t xs = (size_t)d->c_in * p.hw_in, ys = (size_t)d->c_out * p.hw_out;
    for (int g = 0; g < d->groups; g++) {
        const float *wg = j->w + (size_t)g * p.cog * p.kg, *bg = j->bias ? j->bias + g * p.cog : NULL;
        for (int c = c0; c < c1; c++) {
            conv_chunk k = chunk_at(d, &p, c, g);
            const float *b = chunk_cols(d, &p, j->x + k.x_off, xs, k.nb);
            float *yg = j->y + k.y_off;
            gemm_cols(0, p.cog, (int)p.kg, k.cols, wg, (int)p.kg, b, 0.0f, k.nb == 1 ? yg : p.tmp);
            if (k.nb > 1)
                cm_to_nchw(p.tmp, k.nb, p.cog, p.hw_out, bg, yg, ys);
            else if (bg)
                for (int ch = 0; ch < p.cog; ch++) {
                    float *restrict o = yg + ch * p.hw_out, bv = bg[ch];
                    for (size_t q = 0; q < p.hw_out; q++) o[q] += bv;
                }
        }
    }
}

static void cpu_conv_fwd(hpff_backend *be, const hpff_conv_desc *d, const float *x, const float *w,
                         const float *bias, float *y, void *ws) {
    conv_job j = job_make(be, d, ws);
    j.x = x;
    j.w = w;
    j.bias = bias;
    j.y = y;
    hpff_cpu_pool_run(hpff_cpu_pool_of(be), job_chunks(d), fwd_worker, &j);
}

static void bwd_data_worker(void *arg, int worker, int c0, int c1) {
    const conv_job *j = arg;
    const hpff_conv_desc *d = j->d;
    conv_plan p = job_plan(j, worker);
    const size_t xs = (size_t)d->c_in * p.hw_in, ys = (size_t)d->c_out * p.hw_out;
    const int direct = p.nb == 1 && p.pointwise;   // gemm straight into dx, honouring beta
    for (int g = 0; g < d->groups; g++) {
        const float *wg = j->w + (size_t)g * p.cog * p.kg;
        for (int c = c0; c < c1; c++) {
            conv_chunk k = chunk_at(d, &p, c, g);
            const float *dyg = chunk_dy(&p, j->dy + k.y_off, ys, k.nb);
            float *dxg = j->dx + k.x_off;
            if (direct) {
                gemm_cols(1, (int)p.kg, p.cog, k.cols, wg, (int)p.kg, dyg, j->beta, dxg);
            } else {
                if (j->beta == 0.0f)
                    for (int i = 0; i < k.nb; i++)
                        memset(dxg + i * xs, 0, (size_t)p.cig * p.hw_in * sizeof(float));
                gemm_cols(1, (int)p.kg, p.cog, k.cols, wg, (int)p.kg, dyg, 0.0f, p.col);
                col2im_add(d, &p, p.col, k.nb, dxg, xs);
            }
        }
    }
}

static void cpu_conv_bwd_data(hpff_backend *be, const hpff_conv_desc *d, const float *w,
                              const float *dy, float *dx, float beta, void *ws) {
    conv_job j = job_make(be, d, ws);
    j.w = w;
    j.dy = dy;
    j.dx = dx;
    j.beta = beta;
    hpff_cpu_pool_run(hpff_cpu_pool_of(be), job_chunks(d), bwd_data_worker, &j);
}

// Each worker sums dW^T of its images into its own dwt (all groups); the caller adds the
// workers' sums into dw in worker order, so results depend on the thread count, not on timing.
static void bwd_filter_worker(void *arg, int worker, int c0, int c1) {
    const conv_job *j = arg;
    const hpff_conv_desc *d = j->d;
    conv_plan p = job_plan(j, worker);
    const size_t xs = (size_t)d->c_in * p.hw_in, ys = (size_t)d->c_out * p.hw_out;
    memset(p.dwt, 0, p.kg * p.cog * (size_t)d->groups * sizeof(float));
    for (int g = 0; g < d->groups; g++) {
        float *dwt = p.dwt + (size_t)g * p.kg * p.cog;
        for (int c = c0; c < c1; c++) {
            conv_chunk k = chunk_at(d, &p, c, g);
            const float *dyg = chunk_dy(&p, j->dy + k.y_off, ys, k.nb);
            const float *a = chunk_cols(d, &p, j->x + k.x_off, xs, k.nb);
            // dW^T (kg, cog) += col (kg, cols) * dY^T (cols, cog)
            gemm_filter((int)p.kg, p.cog, k.cols, a, dyg, dwt);
        }
    }
}

static void cpu_conv_bwd_filter(hpff_backend *be, const hpff_conv_desc *d, const float *x,
                                const float *dy, float *dw, float *dbias, void *ws) {
    conv_job j = job_make(be, d, ws);
    j.x = x;
    j.dy = dy;
    int chunks = job_chunks(d), threads = hpff_cpu_pool_threads(hpff_cpu_pool_of(be));
    int used = chunks < threads ? chunks : threads;
    hpff_cpu_pool_run(hpff_cpu_pool_of(be), chunks, bwd_filter_worker, &j);
    conv_plan p = conv_plan_make(d, NULL, NULL);
    for (int t = 0; t < used; t++) {
        const conv_plan pt = job_plan(&j, t);
        for (int g = 0; g < d->groups; g++) {
            const float *dwt = pt.dwt + (size_t)g * p.kg * p.cog;
            float *dwg = dw + (size_t)g * p.cog * p.kg;
            for (int o = 0; o < p.cog; o++)
                for (size_t k = 0; k < p.kg; k++) dwg[o * p.kg + k] += dwt[k * p.cog + o];
        }
    }
    if (dbias) hpff_cpu_conv_bias_grad(d, dy, dbias);
}

void hpff_cpu_conv_bias_grad(const hpff_conv_desc *d, const float *dy, float *dbias) {
    const size_t hw = (size_t)d->h_out * d->w_out, ys = (size_t)d->c_out * hw;
    for (int ch = 0; ch < d->c_out; ch++) {
        double s = 0.0;
        for (int i = 0; i < d->n; i++) s += hpff_cpu_sum(dy + i * ys + ch * hw, hw);
        dbias[ch] += (float)s;
    }
}

void hpff_cpu_install_conv(hpff_backend *be) {
    be->conv_workspace = cpu_conv_workspace;
    be->conv_fwd = cpu_conv_fwd;
    be->conv_bwd_data = cpu_conv_bwd_data;
    be->conv_bwd_filter = cpu_conv_bwd_filter;
}
