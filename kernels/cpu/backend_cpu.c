// backend_cpu.c — the CPU backend's ops table: memory, elementwise ops, losses and the
// SGD-Nesterov update. Convolution and linear layers live in conv_cpu.c; batch norm, pooling,
// resize and patches in nn_cpu.c. train.threads workers split the convolutions (cpu_pool.c).
#include "aux_cpu.h"
#include "backend.h"
#include "check.h"
#include "conv_cpu.h"
#include "cpu_ctx.h"
#include "cpu_pool.h"
#include "cpu_util.h"
#include "nn_cpu.h"
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// Declared by OpenBLAS's cblas.h; repeated so that another cblas.h still compiles.
void openblas_set_num_threads(int num_threads);

// ---- memory ----

static void *cpu_alloc(hpff_backend *be, size_t bytes) {
    (void)be;
    void *p = NULL;
    size_t sz = (bytes + 63) / 64 * 64;
    HPFF_CHECK(posix_memalign(&p, 64, sz ? sz : 64) == 0 && p != NULL,
               "out of host memory allocating %zu bytes", bytes);
    memset(p, 0, sz);
    return p;
}

static void cpu_free(hpff_backend *be, void *p) {
    (void)be;
    free(p);
}

static void cpu_memcpy(hpff_backend *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    if (bytes) memmove(dst, src, bytes);
}

static void cpu_sync(hpff_backend *be) { (void)be; }

// Threads split the convolutions' images (cpu_pool.c); BLAS stays single-threaded inside them.
// Call before workspaces are sized: conv_workspace grows with the thread count.
static void cpu_set_threads(hpff_backend *be, int threads) {
    hpff_cpu_ctx *cx = be->ctx;
    openblas_set_num_threads(1);
    hpff_cpu_pool_destroy(cx->pool);
    cx->pool = hpff_cpu_pool_create(threads < 1 ? 1 : threads);
}

// ---- profiling marks: the CPU runs each op to completion in the call, so a mark is "now" ----

static void cpu_prof_reserve(hpff_backend *be, int marks) {
    hpff_cpu_ctx *cx = be->ctx;
    if (marks <= cx->n_marks) return;
    double *m = realloc(cx->marks, (size_t)marks * sizeof *m);
    HPFF_CHECK(m != NULL, "out of host memory reserving %d profiling marks", marks);
    for (int i = cx->n_marks; i < marks; i++) m[i] = -1.0;   // "never recorded"
    cx->marks = m;
    cx->n_marks = marks;
}

static void cpu_prof_mark(hpff_backend *be, int i) {
    hpff_cpu_ctx *cx = be->ctx;
    HPFF_CHECK(i >= 0 && i < cx->n_marks, "profiling mark %d outside the %d reserved", i, cx->n_marks);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    cx->marks[i] = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_prof_elapsed_ms(hpff_backend *be, int a, int b) {
    hpff_cpu_ctx *cx = be->ctx;
    HPFF_CHECK(a >= 0 && b >= 0 && a < cx->n_marks && b < cx->n_marks && cx->marks[a] >= 0 &&
               cx->marks[b] >= 0, "profiling marks %d and %d: not both recorded (%d reserved)", a, b,
               cx->n_marks);
    return 1000.0 * (cx->marks[b] - cx->marks[a]);
}

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

// ---- losses ----

// One row of CE: returns logsumexp(z) - z[y]; writes weight*(softmax - onehot)/n into dz.
static double xent_row(const float *z, int k, int y, double gscale, float *dz) {
    float m = z[0];
    for (int j = 1; j < k; j++) m = z[j] > m ? z[j] : m;
    double se = 0.0;
    for (int j = 0; j < k; j++) se += exp((double)z[j] - m);
    if (dz)
        for (int j = 0; j < k; j++)
            dz[j] = (float)(gscale * (exp((double)z[j] - m) / se - (j == y ? 1.0 : 0.0)));
    return (double)m + log(se) - (double)z[y];
}

static void cpu_softmax_xent(hpff_backend *be, int n, int k, const float *logits,
                             const int32_t *labels, float weight, float *dlogits, float *stat,
                             float stat_scale) {
    (void)be;
    double total = 0.0;
    int hit1 = 0, hit5 = 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k;
        int y = labels[i];
        HPFF_CHECK(y >= 0 && y < k, "softmax_xent: label %d of sample %d outside [0, %d)", y, i, k);
        total += xent_row(z, k, y, (double)weight / n, dlogits ? dlogits + (size_t)i * k : NULL);
        int rank = 0;   // classes ranked before y (ties go to the lower index)
        for (int j = 0; j < k; j++) rank += z[j] > z[y] || (z[j] == z[y] && j < y);
        hit1 += rank < 1;
        hit5 += rank < 5;
    }
    if (!stat) return;
    stat[HPFF_STAT_LOSS] += stat_scale * (n > 0 ? (float)(total / n) : 0.0f);
    stat[HPFF_STAT_TOP1] += (float)hit1;
    stat[HPFF_STAT_TOP5] += (float)hit5;
}

static void cpu_bce(hpff_backend *be, size_t count, const float *p, const float *t, float weight,
                    float *dp, float *stat, float stat_scale) {
    (void)be;
    // The logs in float as PyTorch takes them; the sum in double.
    double total = 0.0;
    const float gscale = count ? (float)((double)weight / (double)count) : 0.0f;
    for (size_t i = 0; i < count; i++) {
        float pi = p[i], ti = t[i];
        float lp = logf(pi), lq = logf(1.0f - pi);
        lp = lp < -100.0f ? -100.0f : lp;
        lq = lq < -100.0f ? -100.0f : lq;
        total -= (double)ti * lp + (1.0 - (double)ti) * lq;
        if (dp) {
            float den = pi * (1.0f - pi);
            dp[i] = gscale * (pi - ti) / (den > 1e-12f ? den : 1e-12f);
        }
    }
    if (stat) stat[HPFF_STAT_LOSS] += stat_scale * (count ? (float)(total / (double)count) : 0.0f);
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

// ---- the table ----

static void cpu_destroy(hpff_backend *be) {
    hpff_cpu_ctx *cx = be->ctx;
    hpff_cpu_pool_destroy(cx->pool);
    free(cx->marks);
    free(cx);
    free(be);
}

hpff_backend *hpff_backend_cpu_create(void) {
    hpff_backend *be = hpff_xcalloc(1, sizeof *be);
    *be = (hpff_backend){
        .name = "cpu",
        .host_memory = 1,
        .ctx = hpff_xcalloc(1, sizeof(hpff_cpu_ctx)),
        .destroy = cpu_destroy,
        .alloc = cpu_alloc,
        .free = cpu_free,
        .to_device = cpu_memcpy,
        .to_host = cpu_memcpy,
        .copy = cpu_memcpy,
        .sync = cpu_sync,
        .conv_workspace = hpff_cpu_conv_workspace,
        .set_threads = cpu_set_threads,
        .fill = cpu_fill,
        .scale = cpu_scale,
        .axpy = cpu_axpy,
        .add = cpu_add,
        .relu_fwd = cpu_relu_fwd,
        .relu_bwd = cpu_relu_bwd,
        .sigmoid_fwd = cpu_sigmoid_fwd,
        .sigmoid_bwd = cpu_sigmoid_bwd,
        .conv_fwd = hpff_cpu_conv_fwd,
        .conv_bwd_data = hpff_cpu_conv_bwd_data,
        .conv_bwd_filter = hpff_cpu_conv_bwd_filter,
        .bn_fwd_train = hpff_cpu_bn_fwd_train,
        .bn_fwd_eval = hpff_cpu_bn_fwd_eval,
        .bn_bwd = hpff_cpu_bn_bwd,
        .maxpool_fwd = hpff_cpu_maxpool_fwd,
        .maxpool_bwd = hpff_cpu_maxpool_bwd,
        .avgpool_fwd = hpff_cpu_avgpool_fwd,
        .avgpool_bwd = hpff_cpu_avgpool_bwd,
        .adaptive_avgpool_fwd = hpff_cpu_adaptive_avgpool_fwd,
        .adaptive_avgpool_bwd = hpff_cpu_adaptive_avgpool_bwd,
        .linear_fwd = hpff_cpu_linear_fwd,
        .linear_bwd_data = hpff_cpu_linear_bwd_data,
        .linear_bwd_weight = hpff_cpu_linear_bwd_weight,
        .resize_bilinear_fwd = hpff_cpu_resize_bilinear_fwd,
        .resize_bilinear_bwd = hpff_cpu_resize_bilinear_bwd,
        .patch_extract = hpff_cpu_patch_extract,
        .patch_scatter = hpff_cpu_patch_scatter,
        .softmax_xent = cpu_softmax_xent,
        .bce = cpu_bce,
        .sgd_nesterov = cpu_sgd_nesterov,
        .spatial_std_fwd = hpff_cpu_spatial_std_fwd,
        .spatial_std_bwd = hpff_cpu_spatial_std_bwd,
        .simmat_mse = hpff_cpu_simmat_mse,
        .supcon = hpff_cpu_supcon,
        .prof_reserve = cpu_prof_reserve,
        .prof_mark = cpu_prof_mark,
        .prof_elapsed_ms = cpu_prof_elapsed_ms,
    };
    openblas_set_num_threads(1);   // one thread until set_threads says otherwise
    return be;
}

void hpff_backend_destroy(hpff_backend *be) {
    if (be) be->destroy(be);
}
