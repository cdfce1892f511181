// cuda_resize.cu — bilinear resize with align_corners=True (ALGORITHM §1.6) and its adjoint, and
// patch extract / scatter. The resize backward gathers: each input pixel sums the weighted output
// gradients of the (few) output rows and columns that read it, so it is deterministic.
#include <math.h>
#include "cuda_internal.h"

// One axis of the align_corners map, as PyTorch computes it in float: output index o reads
// input i0 with weight l0 and i0 + step with weight l1 (step 0 at the last input index).
struct axis_map {
    float scale;
    int in, out;
};

__device__ __forceinline__ void axis_at(axis_map a, int o, int *i0, int *step, float *l0, float *l1) {
    float src = a.scale * (float)o;
    int i = (int)src;
    *i0 = i;
    *step = i < a.in - 1 ? 1 : 0;
    *l1 = src - (float)i;
    *l0 = 1.0f - *l1;
}

static axis_map axis_make(int in, int out) {
    axis_map a;
    a.scale = out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
    a.in = in;
    a.out = out;
    return a;
}

// Weight with which output index o reads input index i (0 when it does not).
__device__ __forceinline__ float axis_weight(axis_map a, int o, int i) {
    int i0, step;
    float l0, l1;
    axis_at(a, o, &i0, &step, &l0, &l1);
    return (i0 == i ? l0 : 0.0f) + (i0 + step == i ? l1 : 0.0f);
}

// Output indices that may read input i: those with i0 in {i-1, i}, widened by 2 for rounding.
__device__ __forceinline__ void axis_cover(axis_map a, int i, int *lo, int *hi) {
    if (a.scale == 0.0f) {
        *lo = 0;
        *hi = a.out - 1;
        return;
    }
    int l = (int)floorf((float)(i - 1) / a.scale) - 2, h = (int)ceilf((float)(i + 1) / a.scale) + 2;
    *lo = l < 0 ? 0 : l;
    *hi = h > a.out - 1 ? a.out - 1 : h;
}

__global__ void k_resize_fwd(axis_map ah, axis_map aw, const float *x, float *y, size_t total) {
    HPFF_GRID_LOOP(i, total) {
        const unsigned u = (unsigned)i, wo = (unsigned)aw.out, ho = (unsigned)ah.out;
        int ow = (int)(u % wo), oh = (int)(u / wo % ho);
        size_t plane = u / (wo * ho);
        const float *xp = x + plane * ah.in * aw.in;
        int h0, hs, w0, ws;
        float hl0, hl1, wl0, wl1;
        axis_at(ah, oh, &h0, &hs, &hl0, &hl1);
        axis_at(aw, ow, &w0, &ws, &wl0, &wl1);
        const float *r0 = xp + (size_t)h0 * aw.in, *r1 = xp + (size_t)(h0 + hs) * aw.in;
        y[i] = hl0 * (wl0 * r0[w0] + wl1 * r0[w0 + ws]) + hl1 * (wl0 * r1[w0] + wl1 * r1[w0 + ws]);
    }
}

__global__ void k_resize_bwd(axis_map ah, axis_map aw, const float *dy, float *dx, float beta, size_t total) {
    HPFF_GRID_LOOP(i, total) {
        const unsigned u = (unsigned)i, wi = (unsigned)aw.in, hi = (unsigned)ah.in;
        int iw = (int)(u % wi), ih = (int)(u / wi % hi);
        size_t plane = u / (wi * hi);
        const float *dyp = dy + plane * ah.out * aw.out;
        int oh0, oh1, ow0, ow1;
        axis_cover(ah, ih, &oh0, &oh1);
        axis_cover(aw, iw, &ow0, &ow1);
        float g = 0.0f;
        for (int oh = oh0; oh <= oh1; oh++) {
            float wh = axis_weight(ah, oh, ih);
            if (wh == 0.0f) continue;
            for (int ow = ow0; ow <= ow1; ow++) {
                float ww = axis_weight(aw, ow, iw);
                if (ww != 0.0f) g += wh * ww * dyp[(size_t)oh * aw.out + ow];
            }
        }
        hpff_store_beta(&dx[i], g, beta);
    }
}

// Window (r0, c0, ph, pw) of x (n*c planes of h x w) <-> p (n*c planes of ph x pw).
__global__ void k_patch_extract(int h, int w, int r0, int c0, int ph, int pw, const float *x, float *p,
                                size_t total) {
    HPFF_GRID_LOOP(i, total) {
        const unsigned u = (unsigned)i;
        int q = (int)(u % (unsigned)pw), r = (int)(u / (unsigned)pw % (unsigned)ph);
        size_t plane = u / ((unsigned)pw * (unsigned)ph);
        p[i] = x[(plane * h + r0 + r) * w + c0 + q];
    }
}

__global__ void k_patch_scatter(int h, int w, int r0, int c0, int ph, int pw, const float *dp, float *dx,
                                float beta, size_t total) {
    HPFF_GRID_LOOP(i, total) {
        const unsigned u = (unsigned)i;
        int q = (int)(u % (unsigned)pw), r = (int)(u / (unsigned)pw % (unsigned)ph);
        size_t plane = u / ((unsigned)pw * (unsigned)ph);
        hpff_store_beta(&dx[(plane * h + r0 + r) * w + c0 + q], dp[i], beta);
    }
}

static void resize_check(int n, int c, int h_in, int w_in, int h_out, int w_out) {
    HPFF_CHECK(n > 0 && c > 0 && h_in > 0 && w_in > 0 && h_out > 0 && w_out > 0,
               "bad resize shape n=%d c=%d %dx%d -> %dx%d", n, c, h_in, w_in, h_out, w_out);
}

static void cu_resize_fwd(hpff_backend *be, int n, int c, int h_in, int w_in, int h_out, int w_out,
                          const float *x, float *y) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    resize_check(n, c, h_in, w_in, h_out, w_out);
    size_t total = (size_t)n * c * h_out * w_out;
    HPFF_CUDA_CHECK_INDEX((size_t)n * c * h_in * w_in > total ? (size_t)n * c * h_in * w_in : total, "resize");
    k_resize_fwd<<<hpff_cuda_blocks(total), HPFF_CUDA_THREADS, 0, cx->stream>>>(
        axis_make(h_in, h_out), axis_make(w_in, w_out), x, y, total);
    HPFF_CUDA_LAUNCHED(cx, "k_resize_fwd");
}

static void cu_resize_bwd(hpff_backend *be, int n, int c, int h_in, int w_in, int h_out, int w_out,
                          const float *dy, float *dx, float beta) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    resize_check(n, c, h_in, w_in, h_out, w_out);
    size_t total = (size_t)n * c * h_in * w_in;
    HPFF_CUDA_CHECK_INDEX((size_t)n * c * h_out * w_out > total ? (size_t)n * c * h_out * w_out : total, "resize");
    k_resize_bwd<<<hpff_cuda_blocks(total), HPFF_CUDA_THREADS, 0, cx->stream>>>(
        axis_make(h_in, h_out), axis_make(w_in, w_out), dy, dx, beta, total);
    HPFF_CUDA_LAUNCHED(cx, "k_resize_bwd");
}

static void patch_check(int n, int c, int h, int w, int r0, int c0, int ph, int pw) {
    HPFF_CUDA_CHECK_INDEX((size_t)n * c * h * w, "patch");
    HPFF_CHECK(n > 0 && c > 0 && ph > 0 && pw > 0 && r0 >= 0 && c0 >= 0 && r0 + ph <= h && c0 + pw <= w,
               "patch rows [%d,%d) x cols [%d,%d) outside the %dx%d map (n=%d c=%d)", r0, r0 + ph, c0,
               c0 + pw, h, w, n, c);
}

static void cu_patch_extract(hpff_backend *be, int n, int c, int h, int w, int r0, int c0, int ph, int pw,
                             const float *x, float *p) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    patch_check(n, c, h, w, r0, c0, ph, pw);
    size_t total = (size_t)n * c * ph * pw;
    k_patch_extract<<<hpff_cuda_blocks(total), HPFF_CUDA_THREADS, 0, cx->stream>>>(h, w, r0, c0, ph, pw, x, p,
                                                                                  total);
    HPFF_CUDA_LAUNCHED(cx, "k_patch_extract");
}

static void cu_patch_scatter(hpff_backend *be, int n, int c, int h, int w, int r0, int c0, int ph, int pw,
                             const float *dp, float *dx, float beta) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    patch_check(n, c, h, w, r0, c0, ph, pw);
    size_t total = (size_t)n * c * ph * pw;
    k_patch_scatter<<<hpff_cuda_blocks(total), HPFF_CUDA_THREADS, 0, cx->stream>>>(h, w, r0, c0, ph, pw, dp, dx,
                                                                                  beta, total);
    HPFF_CUDA_LAUNCHED(cx, "k_patch_scatter");
}

extern "C" void hpff_cuda_install_resize(hpff_backend *be) {
    be->resize_bilinear_fwd = cu_resize_fwd;
    be->resize_bilinear_bwd = cu_resize_bwd;
    be->patch_extract = cu_patch_extract;
    be->patch_scatter = cu_patch_scatter;
}
