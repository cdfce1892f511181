// cpu_elementwise.c — element-wise ops of the CPU backend: fill, scale, axpy, add, ReLU and
// sigmoid forward/backward, and the SGD-Nesterov update (ALGORITHM §1.10).
#include <math.h>
#include <stddef.h>
#include "cpu_internal.h"

// ---- elementwise (outputs may alias inputs, so no restrict here) ----
// Large calls (the backbone's maps: a module's seed additions, the identity shortcut's ReLU
// mask) split into ranges over the thread pool; each element's arithmetic is the same however
// the range is cut, so every thread count gives the same bits.

#define EW_CHUNK ((size_t)1 << 15)   // floats per range (128 KiB): small calls stay on the caller

typedef enum ew_kind { EW_FILL, EW_SCALE, EW_AXPY, EW_ADD, EW_RELU_FWD, EW_RELU_BWD, EW_RELU_BWD_ADD } ew_kind;

typedef struct ew_job {
    ew_kind kind;
    float *y;
    const float *a, *b;
    float s;
    size_t n;
} ew_job;

static void ew_range(const ew_job *j, size_t i0, size_t i1) {
    float *y = j->y, s = j->s;
    const float *a = j->a, *b = j->b;
    switch (j->kind) {
    case EW_FILL: for (size_t i = i0; i < i1; i++) y[i] = s; break;
    case EW_SCALE: for (size_t i = i0; i < i1; i++) y[i] *= s; break;
    case EW_AXPY: for (size_t i = i0; i < i1; i++) y[i] += s * a[i]; break;
    case EW_ADD: for (size_t i = i0; i < i1; i++) y[i] = a[i] + b[i]; break;
    case EW_RELU_FWD:   // NaN passes, as in PyTorch
        for (size_t i = i0; i < i1; i++) y[i] = a[i] < 0.0f ? 0.0f : a[i];
        break;
    case EW_RELU_BWD:   // a: the ReLU's output y, b: dy
        for (size_t i = i0; i < i1; i++) {
            float g = b[i];
            y[i] = a[i] > 0.0f ? g : 0.0f;
        }
        break;
    case EW_RELU_BWD_ADD:
        for (size_t i = i0; i < i1; i++) {
            float g = b[i];
            y[i] += a[i] > 0.0f ? g : 0.0f;
        }
        break;
    }
}

static void ew_worker(void *arg, int worker, int c0, int c1) {
    (void)worker;
    const ew_job *j = arg;
    size_t i0 = (size_t)c0 * EW_CHUNK, i1 = (size_t)c1 * EW_CHUNK;
    ew_range(j, i0, i1 < j->n ? i1 : j->n);
}

static void ew_run(hpff_backend *be, ew_job j) {
    hpff_cpu_pool *pool = hpff_cpu_pool_of(be);
    if (j.n < 2 * EW_CHUNK || hpff_cpu_pool_threads(pool) < 2) {
        ew_range(&j, 0, j.n);
        return;
    }
    hpff_cpu_pool_run(pool, (int)((j.n + EW_CHUNK - 1) / EW_CHUNK), ew_worker, &j);
}

static void cpu_fill(hpff_backend *be, float *x, float v, size_t n) {
    ew_run(be, (ew_job){EW_FILL, x, NULL, NULL, v, n});
}

static void cpu_scale(hpff_backend *be, float *x, float a, size_t n) {
    ew_run(be, (ew_job){EW_SCALE, x, NULL, NULL, a, n});
}

static void cpu_axpy(hpff_backend *be, float *y, float a, const float *x, size_t n) {
    ew_run(be, (ew_job){EW_AXPY, y, x, NULL, a, n});
}

static void cpu_add(hpff_backend *be, float *y, const float *a, const float *b, size_t n) {
    ew_run(be, (ew_job){EW_ADD, y, a, b, 0.f, n});
}

static void cpu_relu_fwd(hpff_backend *be, float *y, const float *x, size_t n) {
    ew_run(be, (ew_job){EW_RELU_FWD, y, x, NULL, 0.f, n});
}

static void cpu_relu_bwd(hpff_backend *be, float *dx, const float *y, const float *dy, size_t n,
                         float beta) {
    ew_run(be, (ew_job){beta == 0.0f ? EW_RELU_BWD : EW_RELU_BWD_ADD, dx, y, dy, 0.f, n});
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
