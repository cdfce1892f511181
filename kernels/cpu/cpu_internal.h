// cpu_internal.h — state and helpers shared by the CPU backend's translation units (the mirror of
// kernels/cuda/cuda_internal.h): the backend context (the worker pool of train.threads, the
// oneDNN state and the profiling marks), the install function of each cpu_*.c file, and a
// vectorised double sum.
#ifndef HPFF_CPU_INTERNAL_H
#define HPFF_CPU_INTERNAL_H
#include <stddef.h>
#include "backend.h"
#include "cpu_threads.h"
#include "dnnl_cpu.h"

// The convolution entries of the im2col path (cpu_conv.c): the reference that the oneDNN
// entries (dnnl_conv.c) fall back to.
typedef struct hpff_cpu_conv_ops {
    size_t (*workspace)(hpff_backend *be, const hpff_conv_desc *d);
    void (*fwd)(hpff_backend *be, const hpff_conv_desc *d, const float *x, const float *w,
                const float *bias, float *y, void *ws);
    void (*bwd_data)(hpff_backend *be, const hpff_conv_desc *d, const float *w, const float *dy,
                     float *dx, float beta, void *ws);
    void (*bwd_filter)(hpff_backend *be, const hpff_conv_desc *d, const float *x, const float *dy,
                       float *dw, float *dbias, void *ws);
} hpff_cpu_conv_ops;

// One struct that lives as long as the backend, so that be->ctx never changes after creation (a
// profiling wrapper shares it; see src/backend/backend_prof.c).
typedef struct hpff_cpu_ctx {
    hpff_cpu_pool *pool;   // NULL: everything on the calling thread
    hpff_dnnl *dnnl;       // oneDNN convolutions (dnnl_conv.c); NULL: the im2col reference
    hpff_cpu_conv_ops im2col;   // the im2col entries, kept when oneDNN's replace them
    double *marks;         // prof_mark timestamps, seconds of CLOCK_MONOTONIC
    int n_marks;
} hpff_cpu_ctx;

// The backend's worker pool; NULL (one thread) for a NULL backend, as tests call ops directly.
static inline hpff_cpu_pool *hpff_cpu_pool_of(hpff_backend *be) {
    return be && be->ctx ? ((hpff_cpu_ctx *)be->ctx)->pool : NULL;
}

// Hot loops built for AVX-512 as well as the baseline (GCC function multi-versioning, chosen at
// load time); the ISO C build contracts no FMAs, so both clones give the same bits.
#define HPFF_CPU_CLONES __attribute__((noinline, target_clones("arch=x86-64-v4", "default")))

// Sum of x[0..n) in double; eight lanes so that gcc -O3 vectorises the loop.
static inline double hpff_cpu_sum(const float *x, size_t n) {
    double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) a[j] += (double)x[i + j];
    for (; i < n; i++) a[0] += (double)x[i];
    return ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
}

// Each cpu_*.c file sets its own entries of the ops table (semantics in backend.h).
void hpff_cpu_install_elementwise(hpff_backend *be);   // and sgd_nesterov
void hpff_cpu_install_conv(hpff_backend *be);          // and conv_workspace
void hpff_cpu_install_dnnl_conv(hpff_backend *be);     // oneDNN over cpu_conv.c's (HPFF_DNNL)
// dbias (c_out) += the sums of dy (n, c_out, h_out, w_out) per channel, in double (cpu_conv.c).
void hpff_cpu_conv_bias_grad(const hpff_conv_desc *d, const float *dy, float *dbias);
void hpff_cpu_install_bn(hpff_backend *be);
void hpff_cpu_install_bn_blocked(hpff_backend *be);   // batch norm on channel-blocked tensors
void hpff_cpu_install_layout(hpff_backend *be);       // reorder (NCHW <-> blocked)
void hpff_cpu_install_pool(hpff_backend *be);
void hpff_cpu_install_linear(hpff_backend *be);
void hpff_cpu_install_resize(hpff_backend *be);        // and the patch copies
void hpff_cpu_install_loss(hpff_backend *be);
void hpff_cpu_install_aux(hpff_backend *be);

#endif
