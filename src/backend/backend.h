// backend.h — the backend ops table (seam 1 of ARCHITECTURE.md). One table for the CPU
// (kernels/cpu), one for CUDA (kernels/cuda). Layers call these and nothing else; every float
// pointer below is a *device* pointer of the backend (host memory for the CPU backend).
//
// Conventions:
//  - Tensors are NCHW fp32, contiguous. `n` is the runtime batch (<= the planned maximum). The
//    optional blocked entries below (CPU on oneDNN) also take channel-blocked tensors: block B
//    (8 or 16, dividing c) stores element (i, ch, s) of an (n, c, hw) tensor at
//    ((i*(c/B) + ch/B)*hw + s)*B + ch%B (oneDNN's nChw8c / nChw16c), the same size as NCHW;
//    element-wise ops (add, axpy, relu, copy) work on any layout whose operands agree.
//  - Parameter-gradient outputs (dw, db, dgamma, dbeta) ACCUMULATE (+=): several backward sweeps
//    and PFF patches add into one gradient arena that is zeroed once per step.
//  - Data-gradient outputs (dx) take `beta`: dx = beta*dx + result, beta in {0, 1}.
//  - Scalar results (losses, hit counts) stay in device memory: a loss op ADDS them into a stat
//    block (HPFF_STAT_FLOATS floats, zeroed by the caller), so a training step reads every loss
//    it made with one copy at its end instead of synchronising the device once per loss.
#ifndef HPFF_BACKEND_H
#define HPFF_BACKEND_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hpff_conv_desc {
    int n;                     // batch
    int c_in, h_in, w_in;      // input  (n, c_in, h_in, w_in)
    int c_out, h_out, w_out;   // output (n, c_out, h_out, w_out); the caller computes h_out/w_out
    int kh, kw;                // kernel
    int sh, sw;                // stride
    int ph, pw;                // zero padding
    int groups;                // c_in and c_out divisible by groups; weight (c_out, c_in/groups, kh, kw)
    // Layouts of the activations: x and dx (x_block), y and dy (y_block). 0: NCHW (always so
    // unless be->conv_block returned that block for this shape); B: channel-blocked (above).
    int x_block, y_block;
} hpff_conv_desc;

typedef struct hpff_pool_desc {
    int n, c;
    int h_in, w_in, h_out, w_out;
    int kh, kw, sh, sw, ph, pw;  // max: padding is -inf; avg: padded zeros are counted (PyTorch default)
} hpff_pool_desc;

// A stat block: loss, top-1 hits, top-5 hits, bad labels (see the losses below).
#define HPFF_STAT_FLOATS 4
enum { HPFF_STAT_LOSS = 0, HPFF_STAT_TOP1 = 1, HPFF_STAT_TOP5 = 2, HPFF_STAT_BAD_LABELS = 3 };

// Device memory as a backend sees it (mem_stats).
typedef struct hpff_mem_stats {
    size_t alloc_bytes, alloc_peak;    // through be->alloc: now, and the high-water mark
    size_t internal_bytes;             // the backend's own buffers (library workspaces, scratch)
    size_t device_used, device_total;  // the whole device as the driver reports it (cudaMemGetInfo:
                                       //   every process and the CUDA context included)
} hpff_mem_stats;

typedef struct hpff_backend hpff_backend;
struct hpff_backend {
    const char *name;   // "cpu" or "cuda"
    int host_memory;    // 1: its pointers are host memory (CPU), so transports need no staging
    void *ctx;          // backend-private state (handles, streams, workspace)
    void (*destroy)(hpff_backend *be);

    // ---- memory ----
    void *(*alloc)(hpff_backend *be, size_t bytes);   // zero-filled; fatal on failure
    void (*free)(hpff_backend *be, void *p);
    void (*to_device)(hpff_backend *be, void *dst, const void *host_src, size_t bytes);
    void (*to_host)(hpff_backend *be, void *host_dst, const void *src, size_t bytes);
    void (*copy)(hpff_backend *be, void *dst, const void *src, size_t bytes);  // device to device
    void (*sync)(hpff_backend *be);
    // ---- optional: record a sequence of ops once, replay it many times (CUDA graphs); NULL
    // where unsupported. graph_begin: the ops issued next are recorded instead of run (returns 0
    // when recording cannot start). graph_end: stops recording and returns the replayable graph,
    // or NULL with the reason in `why` (the recorded ops did not run). graph_run replays every
    // recorded op with the same pointers and arguments; graph_free releases the graph. Between
    // begin and end nothing may synchronise, allocate or copy from pageable host memory.
    int (*graph_begin)(hpff_backend *be);
    void *(*graph_end)(hpff_backend *be, char *why, size_t why_len);
    void (*graph_run)(hpff_backend *be, void *graph);
    void (*graph_free)(hpff_backend *be, void *graph);
    // Optional (NULL for host memory, where the process's peak RSS says it): device memory use.
    void (*mem_stats)(hpff_backend *be, hpff_mem_stats *st);
    // Bytes of workspace conv_* may use at most for this shape (the caller sizes one buffer).
    size_t (*conv_workspace)(hpff_backend *be, const hpff_conv_desc *d);
    void (*set_threads)(hpff_backend *be, int threads);  // CPU: BLAS threads; CUDA: ignored

    // ---- elementwise ----
    void (*fill)(hpff_backend *be, float *x, float v, size_t n);
    void (*scale)(hpff_backend *be, float *x, float a, size_t n);                       // x *= a
    void (*axpy)(hpff_backend *be, float *y, float a, const float *x, size_t n);        // y += a*x
    void (*add)(hpff_backend *be, float *y, const float *a, const float *b, size_t n);  // y = a + b
    void (*relu_fwd)(hpff_backend *be, float *y, const float *x, size_t n);
    // dx = beta*dx + dy*(y > 0); y is the ReLU output (in-place-safe for dx == dy when beta=0).
    void (*relu_bwd)(hpff_backend *be, float *dx, const float *y, const float *dy, size_t n, float beta);
    void (*sigmoid_fwd)(hpff_backend *be, float *y, const float *x, size_t n);
    void (*sigmoid_bwd)(hpff_backend *be, float *dx, const float *y, const float *dy, size_t n, float beta);

    // ---- convolution (weight (c_out, c_in/groups, kh, kw); bias (c_out) or NULL) ----
    void (*conv_fwd)(hpff_backend *be, const hpff_conv_desc *d, const float *x, const float *w,
                     const float *bias, float *y, void *ws);
    // conv_bwd_data right after conv_bwd_filter with the same d, dy and ws (as layers.c calls
    // them) may reuse what the filter pass left in ws (the CPU backend's reordered dy): dy must
    // not change between the two calls.
    void (*conv_bwd_data)(hpff_backend *be, const hpff_conv_desc *d, const float *w, const float *dy,
                          float *dx, float beta, void *ws);
    void (*conv_bwd_filter)(hpff_backend *be, const hpff_conv_desc *d, const float *x, const float *dy,
                            float *dw, float *dbias /* NULL if no bias */, void *ws);

    // ---- batch norm over (n, h*w) per channel; hw = 1 for BatchNorm1d on (n, c) ----
    // Train: batch mean / biased variance; running_var gets the unbiased variance (ALGORITHM §1.2).
    // save_mean / save_invstd (c) are kept for backward. relu = 1 applies ReLU to the output (the
    // same values as relu_fwd after it: one pass, one launch fewer).
    void (*bn_fwd_train)(hpff_backend *be, int n, int c, int hw, const float *x, const float *gamma,
                         const float *beta, float *y, float *running_mean, float *running_var,
                         float momentum, float eps, float *save_mean, float *save_invstd, int relu);
    void (*bn_fwd_eval)(hpff_backend *be, int n, int c, int hw, const float *x, const float *gamma,
                        const float *beta, float *y, const float *running_mean,
                        const float *running_var, float eps, int relu);
    // Train-mode backward incl. the batch-statistics terms. dx may be NULL (parameter grads only);
    // dgamma/dbeta may be NULL (data grad only). relu_y (may be NULL): the forward applied ReLU and
    // relu_y is its output; dy is then taken at the ReLU's output, as relu_bwd would pass it on.
    void (*bn_bwd)(hpff_backend *be, int n, int c, int hw, const float *x, const float *dy,
                   const float *gamma, const float *save_mean, const float *save_invstd,
                   const float *relu_y, float *dx, float beta_dx, float *dgamma, float *dbeta);

    // ---- pooling ----
    void (*maxpool_fwd)(hpff_backend *be, const hpff_pool_desc *d, const float *x, float *y);
    void (*maxpool_bwd)(hpff_backend *be, const hpff_pool_desc *d, const float *x, const float *y,
                        const float *dy, float *dx, float beta);
    void (*avgpool_fwd)(hpff_backend *be, const hpff_pool_desc *d, const float *x, float *y);
    void (*avgpool_bwd)(hpff_backend *be, const hpff_pool_desc *d, const float *dy, float *dx, float beta);
    // Adaptive average pooling (ALGORITHM §1.3): bins may overlap; out > in replicates.
    void (*adaptive_avgpool_fwd)(hpff_backend *be, int n, int c, int h_in, int w_in, int h_out,
                                 int w_out, const float *x, float *y);
    void (*adaptive_avgpool_bwd)(hpff_backend *be, int n, int c, int h_in, int w_in, int h_out,
                                 int w_out, const float *dy, float *dx, float beta);

    // ---- linear: y (n, out) = x (n, in) W^T (W: (out, in)) + b ----
    void (*linear_fwd)(hpff_backend *be, int n, int in, int out, const float *x, const float *w,
                       const float *b, float *y);
    void (*linear_bwd_data)(hpff_backend *be, int n, int in, int out, const float *w, const float *dy,
                            float *dx, float beta);
    void (*linear_bwd_weight)(hpff_backend *be, int n, int in, int out, const float *x, const float *dy,
                              float *dw, float *db /* NULL if no bias */);

    // ---- resize / patches ----
    // Bilinear, align_corners=True (ALGORITHM §1.6), (n, c, h_in, w_in) -> (n, c, h_out, w_out).
    void (*resize_bilinear_fwd)(hpff_backend *be, int n, int c, int h_in, int w_in, int h_out, int w_out,
                                const float *x, float *y);
    void (*resize_bilinear_bwd)(hpff_backend *be, int n, int c, int h_in, int w_in, int h_out, int w_out,
                                const float *dy, float *dx, float beta);
    // Copy the window rows [r0, r0+ph) x cols [c0, c0+pw) of x (n, c, h, w) into p (n, c, ph, pw).
    void (*patch_extract)(hpff_backend *be, int n, int c, int h, int w, int r0, int c0, int ph, int pw,
                          const float *x, float *p);
    // dx[window] = beta*dx[window] + dp (the adjoint of patch_extract on that window only).
    void (*patch_scatter)(hpff_backend *be, int n, int c, int h, int w, int r0, int c0, int ph, int pw,
                          const float *dp, float *dx, float beta);

    // ---- losses: add the loss to a device stat block; write its gradient scaled by `weight` ----
    // stat (may be NULL): stat[0] += stat_scale * loss; softmax_xent also adds top-1 / top-5 hits
    // to stat[1] / stat[2] and labels outside [0, k) to stat[3] (the reader refuses them; the CPU
    // backend fails at once). Counts are exact in fp32 up to 2^24 samples.
    // CE (ALGORITHM §1.7): mean over the batch. dlogits = weight * d(loss)/d(logits) (may be NULL).
    void (*softmax_xent)(hpff_backend *be, int n, int k, const float *logits, const int32_t *labels,
                         float weight, float *dlogits, float *stat, float stat_scale);
    // BCE (ALGORITHM §1.8) with the log clamp at -100, mean over all `count` elements;
    // dp = weight * d(loss)/dp, PyTorch's form (p - t) / max(p (1 - p), 1e-12).
    void (*bce)(hpff_backend *be, size_t count, const float *p, const float *t, float weight, float *dp,
                float *stat, float stat_scale);

    // ---- optimizer (ALGORITHM §1.10), over `count` contiguous parameters ----
    // g += wd*p; buf = first ? g : mom*buf + g; p -= lr*(g + mom*buf). g is modified in place.
    void (*sgd_nesterov)(hpff_backend *be, float *p, float *g, float *buf, size_t count, float lr,
                         float mom, float wd, int first);

    // ---- auxiliary-head ops (ALGORITHM §3.2, §3.3; kernels/cpu/cpu_aux.c, kernels/cuda/cuda_aux.cu) ----
    // PredSim spatial statistic: y (rows) = unbiased std of each row of x (rows, hw), hw >= 2.
    void (*spatial_std_fwd)(hpff_backend *be, size_t rows, int hw, const float *x, float *y);
    // dx = beta*dx + dy * (x - mean) / ((hw - 1) * y) per row, y from the forward; a row with
    // y == 0 gets a zero gradient (PyTorch would produce NaN).
    void (*spatial_std_bwd)(hpff_backend *be, size_t rows, int hw, const float *x, const float *y,
                            const float *dy, float *dx, float beta);
    // PredSim similarity loss: mean over the n^2 entries of (S(v) - S(onehot(labels)))^2, where
    // S centres each row of v (n, d), divides it by 1e-8 + its L2 norm and clamps V V^T to
    // [-1, 1] (the clamp passes no gradient outside). dv = weight * dL/dv (may be NULL); a row
    // whose centred norm is 0 gets a zero gradient (PyTorch would produce NaN).
    void (*simmat_mse)(hpff_backend *be, int n, int d, const float *v, const int32_t *labels,
                       int classes, float weight, float *dv, float *stat, float stat_scale);
    // SupCon loss (InfoPro contrast mode): z = f / max(|f|, 1e-12) per row of f (n, d); for each
    // anchor i, -(1/|P(i)|) sum_{p in P(i)} log(exp(z_i.z_p/tau) / sum_{a != i} exp(z_i.z_a/tau)),
    // P(i) = other samples with label y_i (term 0 if empty); mean over the n anchors.
    // df = weight * dL/df (may be NULL). Both add stat_scale * loss to stat[0] like the losses above.
    void (*supcon)(hpff_backend *be, int n, int d, const float *f, const int32_t *labels, float tau,
                   float weight, float *df, float *stat, float stat_scale);

    // ---- optional: channel-blocked activations (the CPU backend on oneDNN; NULL elsewhere) ----
    // A layer sequence keeps the tensors between two convolutions (conv -> BN(+ReLU) -> conv, a
    // residual block's inside) in the layout the convolutions work in, so that nothing is
    // reordered there. conv_block: the block (8 or 16) in which the convolution of d (its layout
    // fields ignored) takes x (tensor 0) or gives y (tensor 1) without reordering it, read from
    // the library's choice for this shape; 0 where that is NCHW or no channel-blocked layout,
    // or the backend would not run d in the library.
    int (*conv_block)(hpff_backend *be, const hpff_conv_desc *d, int tensor);
    // bn_fwd_train / bn_fwd_eval / bn_bwd on tensors in block `block` (every tensor argument in
    // it): the same results, bit for bit.
    void (*bn_fwd_train_blocked)(hpff_backend *be, int block, int n, int c, int hw, const float *x,
                                 const float *gamma, const float *beta, float *y, float *running_mean,
                                 float *running_var, float momentum, float eps, float *save_mean,
                                 float *save_invstd, int relu);
    void (*bn_fwd_eval_blocked)(hpff_backend *be, int block, int n, int c, int hw, const float *x,
                                const float *gamma, const float *beta, float *y, const float *running_mean,
                                const float *running_var, float eps, int relu);
    void (*bn_bwd_blocked)(hpff_backend *be, int block, int n, int c, int hw, const float *x, const float *dy,
                           const float *gamma, const float *save_mean, const float *save_invstd,
                           const float *relu_y, float *dx, float beta_dx, float *dgamma, float *dbeta);
    // resize_bilinear_fwd / _bwd on tensors in block `block`: the same results, bit for bit.
    void (*resize_bilinear_fwd_blocked)(hpff_backend *be, int block, int n, int c, int h_in, int w_in, int h_out,
                                        int w_out, const float *x, float *y);
    void (*resize_bilinear_bwd_blocked)(hpff_backend *be, int block, int n, int c, int h_in, int w_in, int h_out,
                                        int w_out, const float *dy, float *dx, float beta);
    // The layout change at a sequence's edge, with its element-wise neighbours fused: y (n, c, hw;
    // layout `to`) = r(m(x) + add), where x is in layout `from`; m(x) = x, or with mask (layout
    // `from`, may be NULL) x where mask > 0 and +0 elsewhere (relu_bwd's select); add (layout
    // `to`) may be NULL or alias y; r = ReLU when relu, else identity. from, to: 0 or a block.
    void (*reorder)(hpff_backend *be, int n, int c, int hw, int from, const float *x, const float *mask,
                    int to, float *y, const float *add, int relu);

    // ---- optional profiling hooks (src/backend/backend_prof.c); NULL where unsupported ----
    // Marks are timestamps taken in stream order, so that device time can be split by op
    // without synchronising after each one. prof_reserve makes marks [0, marks) usable (keeps
    // the existing ones; never shrinks). prof_mark records mark i when the device reaches this
    // point of the stream (CPU: at once), without waiting. prof_elapsed_ms gives the time from
    // mark a to mark b; both must have been recorded and reached (call be->sync first).
    void (*prof_reserve)(hpff_backend *be, int marks);
    void (*prof_mark)(hpff_backend *be, int i);
    double (*prof_elapsed_ms)(hpff_backend *be, int a, int b);
};

// The CPU backend (kernels/cpu). Always available.
hpff_backend *hpff_backend_cpu_create(void);
// The CPU backend's convolutions (backend.cpu_conv): "dnnl" (oneDNN, with the blocked layouts
// of be->conv_block), "dnnl_nchw" (oneDNN on NCHW tensors only: every convolution reorders at
// its own edges), "im2col" (the im2col + OpenBLAS reference) or "auto" (the environment's
// HPFF_CPU_CONV when it names one of those, else "dnnl" when the build has oneDNN: the default).
// Returns 0, changing nothing, when a oneDNN path is asked of a build without it. Call before
// layers are built (their workspaces and layouts are decided then).
int hpff_backend_cpu_set_conv(hpff_backend *be, const char *path);
// The path in use: "dnnl", "dnnl_nchw" or "im2col".
const char *hpff_backend_cpu_conv(const hpff_backend *be);
// What runs direction dir (0 forward, 1 backward-data, 2 backward-weights) of d: oneDNN's
// implementation name (e.g. "jit:avx512_core") or "im2col".
const char *hpff_backend_cpu_conv_impl(hpff_backend *be, const hpff_conv_desc *d, int dir);
// The CUDA backend for `device` (kernels/cuda); NULL when built without HPFF_CUDA.
hpff_backend *hpff_backend_cuda_create(int device, int allow_tf32);
// Usable CUDA devices (kernels/cuda/cuda_backend.h); 0 when built without HPFF_CUDA.
int hpff_cuda_device_count(void);
void hpff_backend_destroy(hpff_backend *be);
// be->mem_stats, or all zeros where the backend has none (host memory). Returns 1 when filled.
int hpff_backend_mem_stats(hpff_backend *be, hpff_mem_stats *st);
// Whether the backend has the blocked batch norm and reorder entries (the CPU backend).
static inline int hpff_backend_has_blocked(const hpff_backend *be) {
    return be->bn_fwd_train_blocked && be->bn_fwd_eval_blocked && be->bn_bwd_blocked && be->reorder;
}
// What hpff_pipe holds on the device: the peak through be->alloc plus the backend's own buffers.
static inline size_t hpff_mem_held_peak(const hpff_mem_stats *st) { return st->alloc_peak + st->internal_bytes; }

#ifdef __cplusplus
}
#endif
#endif
