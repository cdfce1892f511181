// cuda_backend.h — CUDA-only entry points beside the ops table (hpff_backend_cuda_create is
// declared in backend.h). Plain C; safe to include from C files built with HPFF_CUDA.
#ifndef HPFF_CUDA_BACKEND_H
#define HPFF_CUDA_BACKEND_H
#include <stddef.h>
#include "backend.h"
#ifdef __cplusplus
extern "C" {
#endif

// Number of usable CUDA devices; 0 when there is no driver, no device or any error (never fatal).
int hpff_cuda_device_count(void);
// High-water mark of the bytes allocated through be->alloc (internal buffers such as cuBLAS's
// workspace and the loss/batch-norm scratch are not included).
size_t hpff_cuda_peak_bytes(hpff_backend *be);
// cudaMemGetInfo for the current device; both 0 on error.
void hpff_cuda_mem_info(size_t *free_b, size_t *total_b);
// The backend's compute stream (a cudaStream_t), for transports that order their own stream
// against it with events.
void *hpff_cuda_stream(hpff_backend *be);

#ifdef __cplusplus
}
#endif
#endif
