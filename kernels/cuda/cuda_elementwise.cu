// cuda_elementwise.cu — element-wise ops of the CUDA backend: fill, scale, axpy, add, ReLU and
// sigmoid forward/backward, and the SGD-Nesterov update (ALGORITHM §1.10).
#include "cuda_internal.h"

__global__ void k_fill(float *x, float v, size_t n) {
    HPFF_GRID_LOOP(i, n) x[i] = v;
}
__global__ void k_scale(float *x, float a, size_t n) {
    HPFF_GRID_LOOP(i, n) x[i] *= a;
}
__global__ void k_axpy(float *y, float a, const float *x, size_t n) {
    HPFF_GRID_LOOP(i, n) y[i] += a * x[i];
}
__global__ void k_add(float *y, const float *a, const float *b, size_t n) {
    HPFF_GRID_LOOP(i, n) y[i] = a[i] + b[i];
}
__global__ void k_relu_fwd(float *y, const float *x, size_t n) {
    HPFF_GRID_LOOP(i, n) y[i] = x[i] < 0.0f ? 0.0f : x[i];   // NaN passes, as in PyTorch and the CPU op
}
__global__ void k_relu_bwd(float *dx, const float *y, const float *dy, size_t n, float beta) {
    HPFF_GRID_LOOP(i, n) hpff_store_beta(&dx[i], y[i] > 0.0f ? dy[i] : 0.0f, beta);
}
__global__ void k_sigmoid_fwd(float *y, const float *x, size_t n) {
    HPFF_GRID_LOOP(i, n) y[i] = 1.0f / (1.0f + expf(-x[i]));
}
__global__ void k_sigmoid_bwd(float *dx, const float *y, const float *dy, size_t n, float beta) {
    HPFF_GRID_LOOP(i, n) hpff_store_beta(&dx[i], dy[i] * y[i] * (1.0f - y[i]), beta);
}
__global__ void k_sgd_nesterov(float *p, float *g, float *buf, size_t n, float lr, float mom,
                               float wd, int first) {
    HPFF_GRID_LOOP(i, n) {
        float gi = g[i] + wd * p[i];
        float b = first ? gi : mom * buf[i] + gi;
        g[i] = gi;
        buf[i] = b;
        p[i] -= lr * (gi + mom * b);
    }
}

#define LAUNCH(be, n, kernel, ...)                                                          \
    do {                                                                                    \
        hpff_cuda_ctx *cx_ = hpff_cuda_ctx_of(be);                                          \
        if ((n) == 0) break;                                                                \
        kernel<<<hpff_cuda_blocks(n), HPFF_CUDA_THREADS, 0, cx_->stream>>>(__VA_ARGS__);    \
        HPFF_CUDA_LAUNCHED(cx_, #kernel);                                                   \
    } while (0)

static void cu_fill(hpff_backend *be, float *x, float v, size_t n) { LAUNCH(be, n, k_fill, x, v, n); }
static void cu_scale(hpff_backend *be, float *x, float a, size_t n) { LAUNCH(be, n, k_scale, x, a, n); }
static void cu_axpy(hpff_backend *be, float *y, float a, const float *x, size_t n) {
    LAUNCH(be, n, k_axpy, y, a, x, n);
}
static void cu_add(hpff_backend *be, float *y, const float *a, const float *b, size_t n) {
    LAUNCH(be, n, k_add, y, a, b, n);
}
static void cu_relu_fwd(hpff_backend *be, float *y, const float *x, size_t n) {
    LAUNCH(be, n, k_relu_fwd, y, x, n);
}
static void cu_relu_bwd(hpff_backend *be, float *dx, const float *y, const float *dy, size_t n, float beta) {
    LAUNCH(be, n, k_relu_bwd, dx, y, dy, n, beta);
}
static void cu_sigmoid_fwd(hpff_backend *be, float *y, const float *x, size_t n) {
    LAUNCH(be, n, k_sigmoid_fwd, y, x, n);
}
static void cu_sigmoid_bwd(hpff_backend *be, float *dx, const float *y, const float *dy, size_t n,
                           float beta) {
    LAUNCH(be, n, k_sigmoid_bwd, dx, y, dy, n, beta);
}
static void cu_sgd_nesterov(hpff_backend *be, float *p, float *g, float *buf, size_t count, float lr,
                            float mom, float wd, int first) {
    LAUNCH(be, count, k_sgd_nesterov, p, g, buf, count, lr, mom, wd, first);
}

extern "C" void hpff_cuda_install_elementwise(hpff_backend *be) {
    be->fill = cu_fill;
    be->scale = cu_scale;
    be->axpy = cu_axpy;
    be->add = cu_add;
    be->relu_fwd = cu_relu_fwd;
    be->relu_bwd = cu_relu_bwd;
    be->sigmoid_fwd = cu_sigmoid_fwd;
    be->sigmoid_bwd = cu_sigmoid_bwd;
    be->sgd_nesterov = cu_sgd_nesterov;
}
