// conv_cpu.h — CPU convolution (im2col + sgemm) and linear layers; entries of the CPU ops table.
#ifndef HPFF_CONV_CPU_H
#define HPFF_CONV_CPU_H
#include "backend.h"

// Bytes of `ws` the conv entries below use for this shape at batch d->n (0 when none).
size_t hpff_cpu_conv_workspace(hpff_backend *be, const hpff_conv_desc *d);
// y (n, c_out, h_out, w_out) = conv(x (n, c_in, h_in, w_in), w) + bias.
void hpff_cpu_conv_fwd(hpff_backend *be, const hpff_conv_desc *d, const float *x, const float *w,
                       const float *bias, float *y, void *ws);
// dx = beta*dx + conv^T(dy).
void hpff_cpu_conv_bwd_data(hpff_backend *be, const hpff_conv_desc *d, const float *w,
                            const float *dy, float *dx, float beta, void *ws);
// dw += dL/dw, dbias += dL/dbias (dbias may be NULL).
void hpff_cpu_conv_bwd_filter(hpff_backend *be, const hpff_conv_desc *d, const float *x,
                              const float *dy, float *dw, float *dbias, void *ws);
// y (n, out) = x (n, in) w^T + b (b may be NULL).
void hpff_cpu_linear_fwd(hpff_backend *be, int n, int in, int out, const float *x, const float *w,
                         const float *b, float *y);
// dx (n, in) = beta*dx + dy (n, out) w.
void hpff_cpu_linear_bwd_data(hpff_backend *be, int n, int in, int out, const float *w,
                              const float *dy, float *dx, float beta);
// dw (out, in) += dy^T x; db (out) += column sums of dy (db may be NULL).
void hpff_cpu_linear_bwd_weight(hpff_backend *be, int n, int in, int out, const float *x,
                                const float *dy, float *dw, float *db);

#endif
