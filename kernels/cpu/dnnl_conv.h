// dnnl_conv.h — CPU convolutions on oneDNN: the conv entries of the CPU ops table in builds with
// HPFF_DNNL (installed by hpff_cpu_install_dnnl_conv, cpu_internal.h). Each falls back to the
// im2col reference (cpu_conv.c) when the backend is set to it
// (backend.cpu_conv = im2col), when oneDNN has no primitive for the shape, and when a runtime
// batch would need more workspace than was handed out for the planned one.
#ifndef HPFF_DNNL_CONV_H
#define HPFF_DNNL_CONV_H
#include "backend.h"

// The implementation oneDNN chose for direction dir (0 forward, 1 backward-data, 2
// backward-weights) of d, e.g. "jit:avx512_core"; "im2col" where the reference runs (always,
// in a build without oneDNN).
#ifdef HPFF_DNNL
const char *hpff_dnnl_conv_impl(hpff_backend *be, const hpff_conv_desc *d, int dir);
#else
static inline const char *hpff_dnnl_conv_impl(hpff_backend *be, const hpff_conv_desc *d, int dir) {
    (void)be; (void)d; (void)dir;
    return "im2col";
}
#endif

#endif
