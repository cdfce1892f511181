// cuda_pool.cu — max / average / adaptive-average pooling, forward and backward. Backward passes
// gather (one thread per input element, summing over the outputs whose windows cover it), so they
// are deterministic and apply `beta` without a separate pass.
#include "cuda_internal.h"

// Outputs o (0 <= o < out) whose window [o*s - p, o*s - p + k) contains input index i.
__device__ __forceinline__ void pool_cover(int i, int k, int s, int p, int out, int *lo, int *hi) {
    int a = i + p;
    *lo = a < k ? 0 : (a - k) / s + 1;
    int h = a / s;
    *hi = h < out - 1 ? h : out - 1;
}

// Flat input index of the max of output (oh, ow) in plane `xp` (first max in row-major order;
// a NaN wins, the last one if several, as in PyTorch); -1 if the window has no valid input.
__device__ __forceinline__ int max_argmax(const float *xp, const hpff_pool_desc d, int oh, int ow) {
    int h0 = oh * d.sh - d.ph, w0 = ow * d.sw - d.pw;
    int h1 = min(h0 + d.kh, d.h_in), w1 = min(w0 + d.kw, d.w_in);
    h0 = max(h0, 0);
    w0 = max(w0, 0);
    int best = -1;
    float m = -INFINITY;
    for (int h = h0; h < h1; h++)
        for (int w = w0; w < w1; w++) {
            float v = xp[h * d.w_in + w];
            if (best < 0 || v > m || isnan(v)) {
                m = v;
                best = h * d.w_in + w;
            }
        }
    return best;
}

__global__ void k_maxpool_fwd(hpff_pool_desc d, const float *x, float *y, size_t total) {
    HPFF_GRID_LOOP(i, total) {
        const unsigned u = (unsigned)i, wo = (unsigned)d.w_out, ho = (unsigned)d.h_out;
        int ow = (int)(u % wo), oh = (int)(u / wo % ho);
        size_t plane = u / (wo * ho);
        const float *xp = x + plane * d.h_in * d.w_in;
        int a = max_argmax(xp, d, oh, ow);
        y[i] = a < 0 ? -INFINITY : xp[a];
    }
}

__global__ void k_maxpool_bwd(hpff_pool_desc d, const float *x, const float *dy, float *dx, float beta,
                              size_t total) {
    HPFF_GRID_LOOP(i, total) {
        const unsigned u = (unsigned)i, wi = (unsigned)d.w_in, hi = (unsigned)d.h_in;
        int iw = (int)(u % wi), ih = (int)(u / wi % hi);
        size_t plane = u / (wi * hi);
        const float *xp = x + plane * d.h_in * d.w_in;
        const float *dyp = dy + plane * d.h_out * d.w_out;
        int oh0, oh1, ow0, ow1, self = ih * d.w_in + iw;
        pool_cover(ih, d.kh, d.sh, d.ph, d.h_out, &oh0, &oh1);
        pool_cover(iw, d.kw, d.sw, d.pw, d.w_out, &ow0, &ow1);
        float g = 0.0f;
        for (int oh = oh0; oh <= oh1; oh++)
            for (int ow = ow0; ow <= ow1; ow++)
                if (max_argmax(xp, d, oh, ow) == self) g += dyp[oh * d.w_out + ow];
        hpff_store_beta(&dx[i], g, beta);
    }
}

// PyTorch's divisor with count_include_pad: the window clipped to the padded input.
__device__ __forceinline__ int avg_divisor(const hpff_pool_desc d, int oh, int ow) {
    int h0 = oh * d.sh - d.ph, w0 = ow * d.sw - d.pw;
    int h1 = min(h0 + d.kh, d.h_in + d.ph), w1 = min(w0 + d.kw, d.w_in + d.pw);
    return (h1 - h0) * (w1 - w0);
}

__global__ void k_avgpool_fwd(hpff_pool_desc d, const float *x, float *y, size_t total) {
    HPFF_GRID_LOOP(i, total) {
        const unsigned u = (unsigned)i, wo = (unsigned)d.w_out, ho = (unsigned)d.h_out;
        int ow = (int)(u % wo), oh = (int)(u / wo % ho);
        size_t plane = u / (wo * ho);
        const float *xp = x + plane * d.h_in * d.w_in;
        int h0 = oh * d.sh - d.ph, w0 = ow * d.sw - d.pw;
        int h1 = min(h0 + d.kh, d.h_in), w1 = min(w0 + d.kw, d.w_in);
        float s = 0.0f;
        for (int h = max(h0, 0); h < h1; h++)
            for (int w = max(w0, 0); w < w1; w++) s += xp[h * d.w_in + w];
        y[i] = s / (float)avg_divisor(d, oh, ow);
    }
}

__global__ void k_avgpool_bwd(hpff_pool_desc d, const float *dy, float *dx, float beta, size_t total) {
    HPFF_GRID_LOOP(i, total) {
        const unsigned u = (unsigned)i, wi = (unsigned)d.w_in, hi = (unsigned)d.h_in;
        int iw = (int)(u % wi), ih = (int)(u / wi % hi);
        size_t plane = u / (wi * hi);
        const float *dyp = dy + plane * d.h_out * d.w_out;
        int oh0, oh1, ow0, ow1;
        pool_cover(ih, d.kh, d.sh, d.ph, d.h_out, &oh0, &oh1);
        pool_cover(iw, d.kw, d.sw, d.pw, d.w_out, &ow0, &ow1);
        float g = 0.0f;
        for (int oh = oh0; oh <= oh1; oh++)
            for (int ow = ow0; ow <= ow1; ow++) g += dyp[oh * d.w_out + ow] / (float)avg_divisor(d, oh, ow);
        hpff_store_beta(&dx[i], g, beta);
    }
}

// Adaptive bins (ALGORITHM §1.3): bin o of `out` covers [floor(o*in/out), ceil((o+1)*in/out)).
__device__ __forceinline__ int ad_start(int o, int in, int out) { return (int)(((long long)o * in) / out); }
__device__ __forceinline__ int ad_end(int o, int in, int out) {
    return (int)(((long long)(o + 1) * in + out - 1) / out);
}

__global__ void k_adaptive_fwd(int h_in, int w_in, int h_out, int w_out, const float *x, float *y,
                               size_t total) {
    HPFF_GRID_LOOP(i, total) {
        const unsigned u = (unsigned)i;
        int ow = (int)(u % (unsigned)w_out), oh = (int)(u / (unsigned)w_out % (unsigned)h_out);
        size_t plane = u / ((unsigned)w_out * (unsigned)h_out);
        const float *xp = x + plane * h_in * w_in;
        int h0 = ad_start(oh, h_in, h_out), h1 = ad_end(oh, h_in, h_out);
        int w0 = ad_start(ow, w_in, w_out), w1 = ad_end(ow, w_in, w_out);
        float s = 0.0f;
        for (int h = h0; h < h1; h++)
            for (int w = w0; w < w1; w++) s += xp[h * w_in + w];
        y[i] = s / (float)((h1 - h0) * (w1 - w0));
    }
}

// Bins containing input index i: o in [floor(i*out/in), ceil((i+1)*out/in) - 1].
__device__ __forceinline__ void ad_cover(int i, int in, int out, int *lo, int *hi) {
    *lo = (int)(((long long)i * out) / in);
    int h = (int)(((long long)(i + 1) * out + in - 1) / in) - 1;
    *hi = h < out - 1 ? h : out - 1;
}

__global__ void k_adaptive_bwd(int h_in, int w_in, int h_out, int w_out, const float *dy, float *dx,
                               float beta, size_t total) {
    HPFF_GRID_LOOP(i, total) {
        const unsigned u = (unsigned)i;
        int iw = (int)(u % (unsigned)w_in), ih = (int)(u / (unsigned)w_in % (unsigned)h_in);
        size_t plane = u / ((unsigned)w_in * (unsigned)h_in);
        const float *dyp = dy + plane * h_out * w_out;
        int oh0, oh1, ow0, ow1;
        ad_cover(ih, h_in, h_out, &oh0, &oh1);
        ad_cover(iw, w_in, w_out, &ow0, &ow1);
        float g = 0.0f;
        for (int oh = oh0; oh <= oh1; oh++) {
            int h0 = ad_start(oh, h_in, h_out), h1 = ad_end(oh, h_in, h_out);
            if (ih < h0 || ih >= h1) continue;
            for (int ow = ow0; ow <= ow1; ow++) {
                int w0 = ad_start(ow, w_in, w_out), w1 = ad_end(ow, w_in, w_out);
                if (iw < w0 || iw >= w1) continue;
                g += dyp[oh * w_out + ow] / (float)((h1 - h0) * (w1 - w0));
            }
        }
        hpff_store_beta(&dx[i], g, beta);
    }
}

static void pool_check(const hpff_pool_desc *d) {
    HPFF_CHECK(d->n > 0 && d->c > 0 && d->h_in > 0 && d->w_in > 0 && d->h_out > 0 && d->w_out > 0 &&
                   d->kh > 0 && d->kw > 0 && d->sh > 0 && d->sw > 0 && d->ph >= 0 && d->pw >= 0,
               "bad pooling descriptor (n=%d c=%d %dx%d -> %dx%d k=%dx%d s=%dx%d p=%dx%d)", d->n, d->c,
               d->h_in, d->w_in, d->h_out, d->w_out, d->kh, d->kw, d->sh, d->sw, d->ph, d->pw);
}

#define POOL_LAUNCH(cx, total, kernel, ...)                                                      \
    do {                                                                                         \
        HPFF_CUDA_CHECK_INDEX(total, #kernel);                                                   \
        kernel<<<hpff_cuda_blocks(total), HPFF_CUDA_THREADS, 0, (cx)->stream>>>(__VA_ARGS__);    \
        HPFF_CUDA_LAUNCHED(cx, #kernel);                                                         \
    } while (0)

static void cu_maxpool_fwd(hpff_backend *be, const hpff_pool_desc *d, const float *x, float *y) {
    pool_check(d);
    size_t total = (size_t)d->n * d->c * d->h_out * d->w_out;
    POOL_LAUNCH(hpff_cuda_ctx_of(be), total, k_maxpool_fwd, *d, x, y, total);
}

// y is not needed: the argmax is recomputed from x with the forward's scan order.
static void cu_maxpool_bwd(hpff_backend *be, const hpff_pool_desc *d, const float *x, const float *y,
                           const float *dy, float *dx, float beta) {
    (void)y;
    pool_check(d);
    size_t total = (size_t)d->n * d->c * d->h_in * d->w_in;
    POOL_LAUNCH(hpff_cuda_ctx_of(be), total, k_maxpool_bwd, *d, x, dy, dx, beta, total);
}

static void cu_avgpool_fwd(hpff_backend *be, const hpff_pool_desc *d, const float *x, float *y) {
    pool_check(d);
    size_t total = (size_t)d->n * d->c * d->h_out * d->w_out;
    POOL_LAUNCH(hpff_cuda_ctx_of(be), total, k_avgpool_fwd, *d, x, y, total);
}

static void cu_avgpool_bwd(hpff_backend *be, const hpff_pool_desc *d, const float *dy, float *dx, float beta) {
    pool_check(d);
    size_t total = (size_t)d->n * d->c * d->h_in * d->w_in;
    POOL_LAUNCH(hpff_cuda_ctx_of(be), total, k_avgpool_bwd, *d, dy, dx, beta, total);
}

static void adaptive_check(int n, int c, int h_in, int w_in, int h_out, int w_out) {
    HPFF_CHECK(n > 0 && c > 0 && h_in > 0 && w_in > 0 && h_out > 0 && w_out > 0,
               "bad adaptive pooling shape n=%d c=%d %dx%d -> %dx%d", n, c, h_in, w_in, h_out, w_out);
}

static void cu_adaptive_fwd(hpff_backend *be, int n, int c, int h_in, int w_in, int h_out, int w_out,
                            const float *x, float *y) {
    adaptive_check(n, c, h_in, w_in, h_out, w_out);
    size_t total = (size_t)n * c * h_out * w_out;
    POOL_LAUNCH(hpff_cuda_ctx_of(be), total, k_adaptive_fwd, h_in, w_in, h_out, w_out, x, y, total);
}

static void cu_adaptive_bwd(hpff_backend *be, int n, int c, int h_in, int w_in, int h_out, int w_out,
                            const float *dy, float *dx, float beta) {
    adaptive_check(n, c, h_in, w_in, h_out, w_out);
    size_t total = (size_t)n * c * h_in * w_in;
    POOL_LAUNCH(hpff_cuda_ctx_of(be), total, k_adaptive_bwd, h_in, w_in, h_out, w_out, dy, dx, beta, total);
}

extern "C" void hpff_cuda_install_pool(hpff_backend *be) {
    be->maxpool_fwd = cu_maxpool_fwd;
    be->maxpool_bwd = cu_maxpool_bwd;
    be->avgpool_fwd = cu_avgpool_fwd;
    be->avgpool_bwd = cu_avgpool_bwd;
    be->adaptive_avgpool_fwd = cu_adaptive_fwd;
    be->adaptive_avgpool_bwd = cu_adaptive_bwd;
}
