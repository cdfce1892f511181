// nn_cpu.h — CPU batch norm, pooling, bilinear resize and patch copies; entries of the CPU ops
// table (semantics in backend.h and ALGORITHM.md §1).
#ifndef HPFF_NN_CPU_H
#define HPFF_NN_CPU_H
#include "backend.h"

// Train-mode batch norm over (n, hw) per channel; updates the running statistics; relu: ReLU on
// the output.
void hpff_cpu_bn_fwd_train(hpff_backend *be, int n, int c, int hw, const float *x,
                           const float *gamma, const float *beta, float *y, float *running_mean,
                           float *running_var, float momentum, float eps, float *save_mean,
                           float *save_invstd, int relu);
// Eval-mode batch norm with the running statistics.
void hpff_cpu_bn_fwd_eval(hpff_backend *be, int n, int c, int hw, const float *x,
                          const float *gamma, const float *beta, float *y,
                          const float *running_mean, const float *running_var, float eps, int relu);
// Train-mode backward incl. the batch-statistics terms; relu_y: dy masked by relu_y > 0 first.
void hpff_cpu_bn_bwd(hpff_backend *be, int n, int c, int hw, const float *x, const float *dy,
                     const float *gamma, const float *save_mean, const float *save_invstd,
                     const float *relu_y, float *dx, float beta_dx, float *dgamma, float *dbeta);
// Max pooling (padding is -inf); backward routes dy to the first maximum of each window.
void hpff_cpu_maxpool_fwd(hpff_backend *be, const hpff_pool_desc *d, const float *x, float *y);
void hpff_cpu_maxpool_bwd(hpff_backend *be, const hpff_pool_desc *d, const float *x,
                          const float *y, const float *dy, float *dx, float beta);
// Average pooling, padded zeros counted (PyTorch's count_include_pad=True).
void hpff_cpu_avgpool_fwd(hpff_backend *be, const hpff_pool_desc *d, const float *x, float *y);
void hpff_cpu_avgpool_bwd(hpff_backend *be, const hpff_pool_desc *d, const float *dy, float *dx,
                          float beta);
// Adaptive average pooling, bin i = [floor(i*In/Out), ceil((i+1)*In/Out)).
void hpff_cpu_adaptive_avgpool_fwd(hpff_backend *be, int n, int c, int h_in, int w_in, int h_out,
                                   int w_out, const float *x, float *y);
void hpff_cpu_adaptive_avgpool_bwd(hpff_backend *be, int n, int c, int h_in, int w_in, int h_out,
                                   int w_out, const float *dy, float *dx, float beta);
// Bilinear resize with align_corners=True and its exact adjoint.
void hpff_cpu_resize_bilinear_fwd(hpff_backend *be, int n, int c, int h_in, int w_in, int h_out,
                                  int w_out, const float *x, float *y);
void hpff_cpu_resize_bilinear_bwd(hpff_backend *be, int n, int c, int h_in, int w_in, int h_out,
                                  int w_out, const float *dy, float *dx, float beta);
// Window copy out of / adjoint back into (n, c, h, w).
void hpff_cpu_patch_extract(hpff_backend *be, int n, int c, int h, int w, int r0, int c0, int ph,
                            int pw, const float *x, float *p);
void hpff_cpu_patch_scatter(hpff_backend *be, int n, int c, int h, int w, int r0, int c0, int ph,
                            int pw, const float *dp, float *dx, float beta);

#endif
