// cpu_linear.c — CPU fully connected layers on OpenBLAS sgemm: y (n, out) = x (n, in) W^T + b.
#include <cblas.h>
#include <stddef.h>
#include "cpu_internal.h"

static void cpu_linear_fwd(hpff_backend *be, int n, int in, int out, const float *x, const float *w,
                           const float *b, float *y) {
    (void)be;
    if (n <= 0 || out <= 0) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, w, in, 0.0f, y,
                out);
    if (b)
        for (int i = 0; i < n; i++) {
            float *restrict yi = y + (size_t)i * out;
            for (int o = 0; o < out; o++) yi[o] += b[o];
        }
}

static void cpu_linear_bwd_data(hpff_backend *be, int n, int in, int out, const float *w,
                                const float *dy, float *dx, float beta) {
    (void)be;
    if (n <= 0 || in <= 0) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, dy, out, w, in, beta,
                dx, in);
}

static void cpu_linear_bwd_weight(hpff_backend *be, int n, int in, int out, const float *x,
                                  const float *dy, float *dw, float *db) {
    (void)be;
    if (n <= 0 || out <= 0) return;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, dy, out, x, in, 1.0f,
                dw, in);
    if (db)
        for (int o = 0; o < out; o++) {
            double s = 0.0;
            for (int i = 0; i < n; i++) s += (double)dy[(size_t)i * out + o];
            db[o] += (float)s;
        }
}

void hpff_cpu_install_linear(hpff_backend *be) {
    be->linear_fwd = cpu_linear_fwd;
    be->linear_bwd_data = cpu_linear_bwd_data;
    be->linear_bwd_weight = cpu_linear_bwd_weight;
}
