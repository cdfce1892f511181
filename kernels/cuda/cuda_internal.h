// cuda_internal.h — state and helpers shared by the CUDA backend's translation units: the backend
// context, the launch check (HPFF_SYNC_CHECK), the reusable device scratch buffer, the install
// function of each .cu file, and (for device code) deterministic block reductions.
#ifndef HPFF_CUDA_INTERNAL_H
#define HPFF_CUDA_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#include "backend.h"
#include "cuda_check.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hpff_cuda_alloc_rec {
    void *p;
    size_t bytes;
} hpff_cuda_alloc_rec;

typedef struct hpff_conv_cache hpff_conv_cache;   // cuda_conv.cu

typedef struct hpff_cuda_ctx {
    int device;
    int allow_tf32;
    int sync_check;                // HPFF_SYNC_CHECK=1: synchronise and check after every launch
    cudaStream_t stream;           // the one compute stream: every kernel and library call
    cudnnHandle_t cudnn;
    cublasHandle_t cublas;
    void *cublas_ws;               // cuBLAS workspace, fixed at start-up
    size_t cublas_ws_bytes;
    hpff_cuda_alloc_rec *allocs;   // live allocations made through be->alloc
    size_t n_allocs, cap_allocs;
    size_t cur_bytes, peak_bytes;
    void *scratch;                 // device temporaries of one op (reductions, loss partials)
    size_t scratch_bytes;
    int graphs;                    // recorded graphs alive: they hold the scratch's address
    hpff_conv_cache *conv;         // per-shape cuDNN descriptors and algorithms
    cudaEvent_t *prof_ev;          // profiling marks (prof_reserve), timing events on `stream`
    int n_prof_ev;
} hpff_cuda_ctx;

static inline hpff_cuda_ctx *hpff_cuda_ctx_of(hpff_backend *be) { return (hpff_cuda_ctx *)be->ctx; }

// Checks the launch just made (or library call) and, under HPFF_SYNC_CHECK, synchronises the
// stream so that an asynchronous fault is reported with `what`.
void hpff_cuda_launched(hpff_cuda_ctx *cx, const char *what, const char *file, int line);
#define HPFF_CUDA_LAUNCHED(cx, what) hpff_cuda_launched((cx), (what), __FILE__, __LINE__)
// After a cuDNN/cuBLAS call (which reports its own errors by status): clears any error a library
// left in the runtime's last-error slot, and under HPFF_SYNC_CHECK synchronises and checks.
void hpff_cuda_library_done(hpff_cuda_ctx *cx, const char *what, const char *file, int line);
#define HPFF_CUDA_LIBRARY_DONE(cx, what) hpff_cuda_library_done((cx), (what), __FILE__, __LINE__)
// Device scratch of at least `bytes` (256-byte aligned); valid until the next call. Grows (with
// a stream synchronisation) only when a larger shape is first seen, i.e. during warm-up.
void *hpff_cuda_scratch(hpff_cuda_ctx *cx, size_t bytes);

// Each .cu file sets its own entries of the ops table.
void hpff_cuda_install_elementwise(hpff_backend *be);
void hpff_cuda_install_conv(hpff_backend *be);
void hpff_cuda_install_bn(hpff_backend *be);
void hpff_cuda_install_pool(hpff_backend *be);
void hpff_cuda_install_linear(hpff_backend *be);
void hpff_cuda_install_resize(hpff_backend *be);
void hpff_cuda_install_loss(hpff_backend *be);
void hpff_cuda_install_aux(hpff_backend *be);   // spatial_std_fwd/bwd, simmat_mse, supcon
// Frees the convolution cache (descriptors); called by destroy.
void hpff_cuda_conv_cache_free(hpff_cuda_ctx *cx);

// Structured kernels (pooling, resize, patches, batch norm) split flat indices with 32-bit
// divisions; they check their element count with this first.
#define HPFF_CUDA_CHECK_INDEX(total, what)                                                  \
    HPFF_CHECK((size_t)(total) <= 0x7FFFFFFFull, "%s: %zu elements exceed the 2^31 index limit", \
               (what), (size_t)(total))

#define HPFF_CUDA_THREADS 256
// Blocks for a grid-stride loop over `n` items (n > 0), capped so huge tensors loop.
static inline unsigned hpff_cuda_blocks(size_t n) {
    size_t b = (n + HPFF_CUDA_THREADS - 1) / HPFF_CUDA_THREADS;
    return (unsigned)(b > 65536 ? 65536 : b);
}

#ifdef __cplusplus
}
#endif

#ifdef __CUDACC__
#define HPFF_GRID_LOOP(i, n)                                                         \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (size_t)(n); \
         i += (size_t)gridDim.x * blockDim.x)

// dst = beta*dst + r, without reading dst when beta == 0 (so stale values never leak in).
__device__ __forceinline__ void hpff_store_beta(float *dst, float r, float beta) {
    *dst = beta == 0.0f ? r : beta * *dst + r;
}

// Sum over the block in a fixed order (deterministic); every thread gets the result.
// blockDim.x must be a multiple of 32 and at most 1024; `sh` holds 32 values of T.
template <typename T>
__device__ __forceinline__ T hpff_block_sum(T v, T *sh) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    __syncthreads();   // sh may still be read by a previous reduction
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < nw ? sh[lane] : (T)0;
        for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
        if (lane == 0) sh[0] = v;
    }
    __syncthreads();
    return sh[0];
}

template <typename T>
__device__ __forceinline__ T hpff_block_max(T v, T *sh) {
    for (int o = 16; o > 0; o >>= 1) v = max(v, __shfl_down_sync(0xffffffffu, v, o));
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < nw ? sh[lane] : sh[0];
        for (int o = 16; o > 0; o >>= 1) v = max(v, __shfl_down_sync(0xffffffffu, v, o));
        if (lane == 0) sh[0] = v;
    }
    __syncthreads();
    return sh[0];
}
#endif
#endif
