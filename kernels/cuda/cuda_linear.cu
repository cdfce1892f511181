// cuda_linear.cu — fully connected layers through cuBLAS. Our tensors are row-major; cuBLAS is
// column-major, so a row-major (r, c) matrix is handed over as its column-major transpose (c, r):
//   forward      Y^T (out, n) = W^T' (out, in) X^T (in, n)     -> gemm(T, N, out, n, in)
//   data grad    dX^T (in, n) = W^T (in, out) dY^T (out, n)    -> gemm(N, N, in, n, out)
//   weight grad  dW^T (in, out) += X^T (in, n) dY (n, out)     -> gemm(N, T, in, out, n), beta 1
#include "cuda_internal.h"

// y (n, out) = b broadcast over rows.
__global__ void k_bias_rows(float *y, const float *b, int out, size_t total) {
    HPFF_GRID_LOOP(i, total) y[i] = b[i % out];
}

// db[o] += sum over rows of dy (n, out); one thread per column, rows in order (deterministic).
__global__ void k_col_sum_acc(const float *dy, int n, int out, float *db) {
    int o = blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= out) return;
    float s = 0.0f;
    for (int r = 0; r < n; r++) s += dy[(size_t)r * out + o];
    db[o] += s;
}

static void linear_check(int n, int in, int out) {
    HPFF_CHECK(n > 0 && in > 0 && out > 0, "bad linear shape n=%d in=%d out=%d", n, in, out);
}

static void cu_linear_fwd(hpff_backend *be, int n, int in, int out, const float *x, const float *w,
                          const float *b, float *y) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    linear_check(n, in, out);
    const float one = 1.0f, zero = 0.0f;
    if (b) {
        size_t total = (size_t)n * out;
        k_bias_rows<<<hpff_cuda_blocks(total), HPFF_CUDA_THREADS, 0, cx->stream>>>(y, b, out, total);
        HPFF_CUDA_LAUNCHED(cx, "k_bias_rows");
    }
    HPFF_CUBLAS_CHECK(cublasSgemm(cx->cublas, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one, w, in, x, in,
                                  b ? &one : &zero, y, out));
    HPFF_CUDA_LIBRARY_DONE(cx, "linear_fwd (cublasSgemm)");
}

static void cu_linear_bwd_data(hpff_backend *be, int n, int in, int out, const float *w, const float *dy,
                               float *dx, float beta) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    linear_check(n, in, out);
    const float one = 1.0f;
    HPFF_CUBLAS_CHECK(cublasSgemm(cx->cublas, CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, &one, w, in, dy, out,
                                  &beta, dx, in));
    HPFF_CUDA_LIBRARY_DONE(cx, "linear_bwd_data (cublasSgemm)");
}

static void cu_linear_bwd_weight(hpff_backend *be, int n, int in, int out, const float *x, const float *dy,
                                 float *dw, float *db) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    linear_check(n, in, out);
    const float one = 1.0f;
    HPFF_CUBLAS_CHECK(cublasSgemm(cx->cublas, CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, &one, x, in, dy, out,
                                  &one, dw, in));
    HPFF_CUDA_LIBRARY_DONE(cx, "linear_bwd_weight (cublasSgemm)");
    if (db) {
        k_col_sum_acc<<<(out + 127) / 128, 128, 0, cx->stream>>>(dy, n, out, db);
        HPFF_CUDA_LAUNCHED(cx, "k_col_sum_acc");
    }
}

extern "C" void hpff_cuda_install_linear(hpff_backend *be) {
    be->linear_fwd = cu_linear_fwd;
    be->linear_bwd_data = cu_linear_bwd_data;
    be->linear_bwd_weight = cu_linear_bwd_weight;
}
