// cpu_bn.h — what the CPU batch norms on NCHW tensors (cpu_bn.c) and on channel-blocked ones
// (cpu_bn_blocked.c) share: a call's arguments, the summation constants, and the per-channel
// maths between the sums and the element-wise pass, so that both give the same bits.
#ifndef HPFF_CPU_BN_H
#define HPFF_CPU_BN_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "backend.h"

// Sums run in 16 float lanes per channel (lane l takes the positions s = l mod 16 of a row),
// flushed to double every BN_BLOCK terms of the channel, lanes in order; a row's tail short of
// 16 adds in double (cpu_bn.c, sums_shifted).
#define BN_LANES 16
#define BN_BLOCK 256

// Batch-norm arguments shared by the workers of one call (backend.h names them).
typedef struct hpff_cpu_bn_job {
    int n, c, hw, block;   // block: 0 (NCHW) or the channel block
    const float *x, *dy, *gamma, *beta, *save_mean_in, *save_invstd_in, *relu_y;
    float *y, *dx, *running_mean, *running_var, *save_mean, *save_invstd, *dgamma, *dbeta;
    float momentum, eps, beta_dx;
    int relu;
    float *cst;            // cpu_bn_blocked.c: per-channel constants between its two passes
} hpff_cpu_bn_job;

// Training forward of channel ch from its sums s1, s2 of (x - k) and (x - k)^2 over n*hw values:
// saves the mean and inverse std, updates the running statistics, returns y = x*a + b's a, b.
void hpff_cpu_bn_fwd_stats(const hpff_cpu_bn_job *j, int ch, double k, double s1, double s2, float *a,
                           float *b);
// Eval forward of channel ch: y = x*a + b from the running statistics.
void hpff_cpu_bn_eval_affine(const hpff_cpu_bn_job *j, int ch, float *a, float *b);
// Backward of channel ch from its sums sdy (of dy) and sdyx (of dy*(x - mean)): adds dgamma and
// dbeta (where asked) and gives dx's constants c[0..3] = mean, proj, mean of dy, a for
// dx = ((dy - (x - c0)*c1) - c2)*c3.
void hpff_cpu_bn_bwd_consts(const hpff_cpu_bn_job *j, int ch, double sdy, double sdyx, float c[4]);

// The NCHW batch norms (cpu_bn.c; backend.h's bn_fwd_train / bn_fwd_eval / bn_bwd). With hw = 1
// (BatchNorm1d) a channel-blocked tensor is laid out as an NCHW one, and the blocked entries
// hand such calls to these.
void hpff_cpu_bn_fwd_train_nchw(hpff_backend *be, int n, int c, int hw, const float *x, const float *gamma,
                                const float *beta, float *y, float *running_mean, float *running_var, float momentum,
                                float eps, float *save_mean, float *save_invstd, int relu);
void hpff_cpu_bn_fwd_eval_nchw(hpff_backend *be, int n, int c, int hw, const float *x, const float *gamma,
                               const float *beta, float *y, const float *running_mean, const float *running_var,
                               float eps, int relu);
void hpff_cpu_bn_bwd_nchw(hpff_backend *be, int n, int c, int hw, const float *x, const float *dy, const float *gamma,
                          const float *save_mean, const float *save_invstd, const float *relu_y, float *dx,
                          float beta_dx, float *dgamma, float *dbeta);

// g where m > 0, else +0: relu_bwd's select, as a bit mask so that no branch depends on the
// (random) sign pattern — a branch here mispredicts half the time and costs 10x.
static inline float hpff_cpu_relu_pass(float m, float g) {
    uint32_t b;
    memcpy(&b, &g, sizeof b);
    b &= 0u - (uint32_t)(m > 0.0f);
    memcpy(&g, &b, sizeof g);
    return g;
}

#endif
