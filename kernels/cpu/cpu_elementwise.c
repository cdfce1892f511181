// cpu_elementwise.c — element-wise ops of the CPU backend: fill, scale, axpy, add, ReLU and
// sigmoid forward/backward, and the SGD-Nesterov update (ALGORITHM §1.10).
#include <math.h>
#include <stddef.h>
#include "cpu_internal.h"

// ---- elementwise (outputs may alias inputs, so no restrict here) ----

static void cpu_fill(hpff_backend *be, float *x, float v, size_t n) {
    (void)be;
    for (size_t i = 0; i < n; i++) x[i] = v;
}

static void cpu_scale(hpff_backend *be, float *x, float a, size_t n) {
    (void)be;
    for (size_t i = 0; i < n; i++) x[i] *= a;
}

static void cpu_axpy(hpff_backend *be, float *y, float a, const float *x, size_t n) {
    (void)be;
    for (size_t i = 0; i < n; i++) y[i] += a * x[i];
}

static void cpu_add(hpff_backend *be, float *y, const float *a, const float *b, size_t n) {
    (void)be;
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

static void cpu_relu_fwd(hpff_backend *be, float *y, const float *x, size_t n) {
    (void)be;
    for (size_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];   // NaN passes, as in PyTorch
}

static void cpu_relu_bwd(hpff_backend *be, float *dx, const float *y, const float *dy, size_t n,
                         float beta) {
    (void)be;
    if (beta == 0.0f)
        for (size_t i = 0; i < n; i++) {
            float g = dy[i];
            dx[i] = y[i] > 0.0f ? g : 0.0f;
        }
    else
        for (size_t i = 0; i < n; i++) {
            float g = dy[i];
            dx[i] += y[i] > 0.0f ? g : 0.0f;
        }
}

static void cpu_sigmoid_fwd(hpff_backend *be, float *y, const float *x, size_t n) {
    (void)be;
    for (size_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
}

static void cpu_sigmoid_bwd(hpff_backend *be, float *dx, const float *y, const float *dy, size_t n,
                            float beta) {
    (void)be;
    if (beta == 0.0f)
        for (size_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i]) * y[i];
    else
        for (size_t i = 0; i < n; i++) dx[i] += dy[i] * (1.0f - y[i]) * y[i];
}

// ---- optimizer ----

static void cpu_sgd_nesterov(hpff_backend *be, float *restrict p, float *restrict g,
                             float *restrict buf, size_t count, float lr, float mom, float wd,
                             int first) {
    (void)be;
    if (first)
        for (size_t i = 0; i < count; i++) {
            float gi = g[i] + wd * p[i];
            g[i] = gi;
            buf[i] = gi;
            p[i] -= lr * (gi + mom * gi);
        }
    else
        for (size_t i = 0; i < count; i++) {
            float gi = g[i] + wd * p[i];
            float b = mom * buf[i] + gi;
            g[i] = gi;
            buf[i] = b;
            p[i] -= lr * (gi + mom * b);
        }
}

void hpff_cpu_install_elementwise(hpff_backend *be) {
    be->fill = cpu_fill;
    be->scale = cpu_scale;
    be->axpy = cpu_axpy;
    be->add = cpu_add;
    be->relu_fwd = cpu_relu_fwd;
    be->relu_bwd = cpu_relu_bwd;
    be->sigmoid_fwd = cpu_sigmoid_fwd;
    be->sigmoid_bwd = cpu_sigmoid_bwd;
    be->sgd_nesterov = cpu_sgd_nesterov;
}
