// cuda_conv.cu — convolutions through cuDNN's legacy API. Each distinct hpff_conv_desc gets one
// plan: descriptors and one algorithm per direction, chosen once with the _v7 heuristics
// (deterministic algorithms preferred) within a workspace bound. Plans are created on the first
// use of a shape (start-up / warm-up) and kept until destroy.
//
// Workspace contract: conv_workspace(d) creates d's plan within HPFF_CUDNN_WS_MB (default 256
// MiB) and reports its largest need; the caller allocates one buffer of at least the maximum over
// all shapes. A shape first seen by conv_fwd/bwd (e.g. a smaller last batch) is planned within
// the largest need reported so far, so it always fits that buffer.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cuda_internal.h"

typedef struct hpff_conv_plan {
    hpff_conv_desc key;
    cudnnTensorDescriptor_t x, y, bias;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv[3];   // forward, backward data, backward filter
    int algo[3];                            // chosen algorithm per direction (cuDNN enum values)
    size_t ws[3];                           // workspace bytes per direction
    size_t ws_max;
} hpff_conv_plan;

struct hpff_conv_cache {
    hpff_conv_plan **slots;   // open addressing, capacity a power of two, load <= 1/2
    size_t cap, count;
    size_t ws_reported;       // largest conv_workspace answer so far
    size_t ws_cap;            // bound for shapes asked through conv_workspace
};

enum { DIR_FWD = 0, DIR_DATA = 1, DIR_FILTER = 2 };

static uint64_t desc_hash(const hpff_conv_desc *d) {
    const int *v = (const int *)d;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < sizeof *d / sizeof(int); i++) h = (h ^ (uint32_t)v[i]) * 1099511628211ull;
    return h;
}

static hpff_conv_cache *cache_of(hpff_cuda_ctx *cx) {
    if (!cx->conv) {
        hpff_conv_cache *c = (hpff_conv_cache *)hpff_xcalloc(1, sizeof *c);
        c->cap = 64;
        c->slots = (hpff_conv_plan **)hpff_xcalloc(c->cap, sizeof *c->slots);
        const char *mb = getenv("HPFF_CUDNN_WS_MB");
        c->ws_cap = (size_t)(mb && atol(mb) > 0 ? atol(mb) : 256) << 20;
        cx->conv = c;
    }
    return cx->conv;
}

static hpff_conv_plan **cache_slot(hpff_conv_cache *c, const hpff_conv_desc *d) {
    size_t i = (size_t)desc_hash(d) & (c->cap - 1);
    while (c->slots[i] && memcmp(&c->slots[i]->key, d, sizeof *d) != 0) i = (i + 1) & (c->cap - 1);
    return &c->slots[i];
}

static void cache_insert(hpff_conv_cache *c, hpff_conv_plan *p) {
    if (2 * (c->count + 1) > c->cap) {
        hpff_conv_plan **old = c->slots;
        size_t old_cap = c->cap;
        c->cap *= 2;
        c->slots = (hpff_conv_plan **)hpff_xcalloc(c->cap, sizeof *c->slots);
        for (size_t i = 0; i < old_cap; i++)
            if (old[i]) *cache_slot(c, &old[i]->key) = old[i];
        free(old);
    }
    *cache_slot(c, &p->key) = p;
    c->count++;
}

// One heuristic result, direction-neutral.
typedef struct algo_cand {
    int algo;
    cudnnStatus_t status;
    cudnnDeterminism_t determinism;
    cudnnMathType_t math;
} algo_cand;

static void plan_fail(const hpff_conv_desc *d, const char *dir, size_t limit) {
    hpff_fatal(__FILE__, __LINE__, "cuDNN algorithm choice",
               "no cuDNN %s algorithm for conv n=%d c_in=%d %dx%d -> c_out=%d %dx%d k=%dx%d s=%dx%d "
               "p=%dx%d groups=%d within %zu bytes of workspace", dir, d->n, d->c_in, d->h_in,
               d->w_in, d->c_out, d->h_out, d->w_out, d->kh, d->kw, d->sh, d->sw, d->ph, d->pw,
               d->groups, limit);
}

// Workspace of `algo` in direction `dir` with the plan's current math type; SIZE_MAX if refused.
static size_t ws_query(hpff_cuda_ctx *cx, const hpff_conv_plan *p, int dir, int algo) {
    size_t b = 0;
    cudnnStatus_t st;
    if (dir == DIR_FWD)
        st = cudnnGetConvolutionForwardWorkspaceSize(cx->cudnn, p->x, p->w, p->conv[dir], p->y,
                                                     (cudnnConvolutionFwdAlgo_t)algo, &b);
    else if (dir == DIR_DATA)
        st = cudnnGetConvolutionBackwardDataWorkspaceSize(cx->cudnn, p->w, p->y, p->conv[dir], p->x,
                                                          (cudnnConvolutionBwdDataAlgo_t)algo, &b);
    else
        st = cudnnGetConvolutionBackwardFilterWorkspaceSize(cx->cudnn, p->x, p->y, p->conv[dir], p->w,
                                                            (cudnnConvolutionBwdFilterAlgo_t)algo, &b);
    return st == CUDNN_STATUS_SUCCESS ? b : SIZE_MAX;
}

// Takes the best-ranked usable candidate: it ran in the heuristics, respects the TF32 switch and
// fits `limit`; deterministic algorithms first, so that runs repeat bit for bit.
static void choose(hpff_cuda_ctx *cx, hpff_conv_plan *p, int dir, const algo_cand *c, int n, size_t limit) {
    static const char *names[3] = {"forward", "backward-data", "backward-filter"};
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            if (c[i].status != CUDNN_STATUS_SUCCESS || c[i].math == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)
                continue;
            if (!cx->allow_tf32 && c[i].math == CUDNN_TENSOR_OP_MATH) continue;
            if (pass == 0 && c[i].determinism != CUDNN_DETERMINISTIC) continue;
            if (cx->allow_tf32) HPFF_CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv[dir], c[i].math));
            size_t ws = ws_query(cx, p, dir, c[i].algo);
            if (ws > limit) continue;
            p->algo[dir] = c[i].algo;
            p->ws[dir] = ws;
            return;
        }
    plan_fail(&p->key, names[dir], limit);
}

#define TO_CANDS(perf, n, cands)                                                           \
    for (int i_ = 0; i_ < (n); i_++) {                                                     \
        (cands)[i_].algo = (int)(perf)[i_].algo;                                           \
        (cands)[i_].status = (perf)[i_].status;                                            \
        (cands)[i_].determinism = (perf)[i_].determinism;                                  \
        (cands)[i_].math = (perf)[i_].mathType;                                            \
    }

static void choose_algos(hpff_cuda_ctx *cx, hpff_conv_plan *p, size_t limit) {
    algo_cand c[16];
    int n = 0;
    cudnnConvolutionFwdAlgoPerf_t pf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    HPFF_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(cx->cudnn, p->x, p->w, p->conv[DIR_FWD], p->y,
                                                            CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, pf));
    TO_CANDS(pf, n, c);
    choose(cx, p, DIR_FWD, c, n, limit);
    cudnnConvolutionBwdDataAlgoPerf_t pd[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    HPFF_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(cx->cudnn, p->w, p->y, p->conv[DIR_DATA], p->x,
                                                                 CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, pd));
    TO_CANDS(pd, n, c);
    choose(cx, p, DIR_DATA, c, n, limit);
    cudnnConvolutionBwdFilterAlgoPerf_t pw[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    HPFF_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(cx->cudnn, p->x, p->y, p->conv[DIR_FILTER], p->w,
                                                                   CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, pw));
    TO_CANDS(pw, n, c);
    choose(cx, p, DIR_FILTER, c, n, limit);
}

static void check_desc(const hpff_conv_desc *d) {
    HPFF_CHECK(d->n > 0 && d->c_in > 0 && d->c_out > 0 && d->groups > 0 && d->kh > 0 && d->kw > 0 &&
                   d->sh > 0 && d->sw > 0 && d->ph >= 0 && d->pw >= 0,
               "bad conv descriptor (n=%d c_in=%d c_out=%d groups=%d k=%dx%d s=%dx%d p=%dx%d)", d->n,
               d->c_in, d->c_out, d->groups, d->kh, d->kw, d->sh, d->sw, d->ph, d->pw);
    HPFF_CHECK(d->c_in % d->groups == 0 && d->c_out % d->groups == 0,
               "conv channels %d -> %d not divisible by groups %d", d->c_in, d->c_out, d->groups);
    int ho = (d->h_in + 2 * d->ph - d->kh) / d->sh + 1, wo = (d->w_in + 2 * d->pw - d->kw) / d->sw + 1;
    HPFF_CHECK(ho == d->h_out && wo == d->w_out && ho > 0 && wo > 0,
               "conv output %dx%d given, but %dx%d input with k=%dx%d s=%dx%d p=%dx%d gives %dx%d",
               d->h_out, d->w_out, d->h_in, d->w_in, d->kh, d->kw, d->sh, d->sw, d->ph, d->pw, ho, wo);
}

static hpff_conv_plan *plan_create(hpff_cuda_ctx *cx, const hpff_conv_desc *d, size_t limit) {
    check_desc(d);
    hpff_conv_plan *p = (hpff_conv_plan *)hpff_xcalloc(1, sizeof *p);
    p->key = *d;
    HPFF_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
    HPFF_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
    HPFF_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->bias));
    HPFF_CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
    HPFF_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, d->n, d->c_in, d->h_in, d->w_in));
    HPFF_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, d->n, d->c_out, d->h_out, d->w_out));
    HPFF_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, d->c_out, 1, 1));
    HPFF_CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, d->c_out,
                                                d->c_in / d->groups, d->kh, d->kw));
    for (int i = 0; i < 3; i++) {
        HPFF_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv[i]));
        HPFF_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv[i], d->ph, d->pw, d->sh, d->sw, 1, 1,
                                                         CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
        HPFF_CUDNN_CHECK(cudnnSetConvolutionGroupCount(p->conv[i], d->groups));
        HPFF_CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv[i], cx->allow_tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
    }
    int on, oc, oh, ow;
    HPFF_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(p->conv[DIR_FWD], p->x, p->w, &on, &oc, &oh, &ow));
    HPFF_CHECK(on == d->n && oc == d->c_out && oh == d->h_out && ow == d->w_out,
               "cuDNN conv output (%d,%d,%d,%d) differs from the descriptor (%d,%d,%d,%d)", on, oc, oh,
               ow, d->n, d->c_out, d->h_out, d->w_out);
    choose_algos(cx, p, limit);
    p->ws_max = p->ws[0] > p->ws[1] ? p->ws[0] : p->ws[1];
    if (p->ws[2] > p->ws_max) p->ws_max = p->ws[2];
    return p;
}

// The plan for `d`; created within `limit` bytes of workspace if new.
static hpff_conv_plan *plan_get(hpff_cuda_ctx *cx, const hpff_conv_desc *d, size_t limit) {
    hpff_conv_cache *c = cache_of(cx);
    hpff_conv_plan *p = *cache_slot(c, d);
    if (p) return p;
    p = plan_create(cx, d, limit);
    cache_insert(c, p);
    return p;
}

static hpff_conv_plan *plan_for_run(hpff_cuda_ctx *cx, const hpff_conv_desc *d, const void *ws, int dir) {
    hpff_conv_plan *p = plan_get(cx, d, cache_of(cx)->ws_reported);
    HPFF_CHECK(p->ws[dir] == 0 || ws != NULL,
               "conv needs %zu bytes of workspace but ws is NULL (size it with conv_workspace)", p->ws[dir]);
    return p;
}

extern "C" void hpff_cuda_conv_cache_free(hpff_cuda_ctx *cx) {
    hpff_conv_cache *c = cx->conv;
    if (!c) return;
    for (size_t i = 0; i < c->cap; i++) {
        hpff_conv_plan *p = c->slots[i];
        if (!p) continue;
        cudnnDestroyTensorDescriptor(p->x);
        cudnnDestroyTensorDescriptor(p->y);
        cudnnDestroyTensorDescriptor(p->bias);
        cudnnDestroyFilterDescriptor(p->w);
        for (int k = 0; k < 3; k++) cudnnDestroyConvolutionDescriptor(p->conv[k]);
        free(p);
    }
    free(c->slots);
    free(c);
    cx->conv = NULL;
}

// ---- ops ----

static size_t cu_conv_workspace(hpff_backend *be, const hpff_conv_desc *d) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    hpff_conv_cache *c = cache_of(cx);
    hpff_conv_plan *p = plan_get(cx, d, c->ws_cap);
    if (p->ws_max > c->ws_reported) c->ws_reported = p->ws_max;
    return p->ws_max;
}

static void cu_conv_fwd(hpff_backend *be, const hpff_conv_desc *d, const float *x, const float *w,
                        const float *bias, float *y, void *ws) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    hpff_conv_plan *p = plan_for_run(cx, d, ws, DIR_FWD);
    const float one = 1.0f, zero = 0.0f;
    HPFF_CUDNN_CHECK(cudnnConvolutionForward(cx->cudnn, &one, p->x, x, p->w, w, p->conv[DIR_FWD], (cudnnConvolutionFwdAlgo_t)p->algo[DIR_FWD],
                                             ws, p->ws[DIR_FWD], &zero, p->y, y));
    if (bias) HPFF_CUDNN_CHECK(cudnnAddTensor(cx->cudnn, &one, p->bias, bias, &one, p->y, y));
    HPFF_CUDA_LIBRARY_DONE(cx, "conv_fwd (cudnnConvolutionForward)");
}

static void cu_conv_bwd_data(hpff_backend *be, const hpff_conv_desc *d, const float *w, const float *dy,
                             float *dx, float beta, void *ws) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    hpff_conv_plan *p = plan_for_run(cx, d, ws, DIR_DATA);
    const float one = 1.0f;
    HPFF_CUDNN_CHECK(cudnnConvolutionBackwardData(cx->cudnn, &one, p->w, w, p->y, dy, p->conv[DIR_DATA],
                                                  (cudnnConvolutionBwdDataAlgo_t)p->algo[DIR_DATA], ws, p->ws[DIR_DATA], &beta, p->x, dx));
    HPFF_CUDA_LIBRARY_DONE(cx, "conv_bwd_data (cudnnConvolutionBackwardData)");
}

static void cu_conv_bwd_filter(hpff_backend *be, const hpff_conv_desc *d, const float *x, const float *dy,
                               float *dw, float *dbias, void *ws) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    hpff_conv_plan *p = plan_for_run(cx, d, ws, DIR_FILTER);
    const float one = 1.0f;   // parameter gradients accumulate: beta = 1
    HPFF_CUDNN_CHECK(cudnnConvolutionBackwardFilter(cx->cudnn, &one, p->x, x, p->y, dy, p->conv[DIR_FILTER],
                                                    (cudnnConvolutionBwdFilterAlgo_t)p->algo[DIR_FILTER], ws, p->ws[DIR_FILTER], &one, p->w, dw));
    if (dbias) HPFF_CUDNN_CHECK(cudnnConvolutionBackwardBias(cx->cudnn, &one, p->y, dy, &one, p->bias, dbias));
    HPFF_CUDA_LIBRARY_DONE(cx, "conv_bwd_filter (cudnnConvolutionBackwardFilter)");
}

extern "C" void hpff_cuda_install_conv(hpff_backend *be) {
    be->conv_workspace = cu_conv_workspace;
    be->conv_fwd = cu_conv_fwd;
    be->conv_bwd_data = cu_conv_bwd_data;
    be->conv_bwd_filter = cu_conv_bwd_filter;
}
