// cuda_check.h — the CUDA, cuDNN and cuBLAS arms of the one error path (src/base/check.h): each macro
// evaluates a library call once and, on failure, ends in hpff_fatal() with file:line, the
// statement and the library's own error string — except while a graph is being recorded, where
// the first failure is kept and recording is abandoned (the step then runs op by op).
#ifndef HPFF_CUDA_CHECK_H
#define HPFF_CUDA_CHECK_H
// check.h spells its no-return marker the C11 way; C++ (nvcc's host compiler) needs the attribute.
#if defined(__cplusplus) && !defined(_Noreturn)
#define _Noreturn [[noreturn]]
#endif
#include "check.h"
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#ifdef __cplusplus
extern "C" {
#endif

// hpff_fatal, or while recording a graph (cuda_backend.cu) a note that fails the recording.
void hpff_cuda_fail(const char *file, int line, const char *stmt, const char *fmt, ...);

#define HPFF_CUDA_CHECK(stmt)                                                              \
    do {                                                                                   \
        cudaError_t hpff_e_ = (stmt);                                                      \
        if (hpff_e_ != cudaSuccess)                                                        \
            hpff_cuda_fail(__FILE__, __LINE__, #stmt, "CUDA error %d (%s): %s", (int)hpff_e_, \
                           cudaGetErrorName(hpff_e_), cudaGetErrorString(hpff_e_));        \
    } while (0)

#define HPFF_CUDNN_CHECK(stmt)                                                             \
    do {                                                                                   \
        cudnnStatus_t hpff_s_ = (stmt);                                                    \
        if (hpff_s_ != CUDNN_STATUS_SUCCESS)                                               \
            hpff_cuda_fail(__FILE__, __LINE__, #stmt, "cuDNN error %d: %s", (int)hpff_s_,   \
                           cudnnGetErrorString(hpff_s_));                                  \
    } while (0)

#define HPFF_CUBLAS_CHECK(stmt)                                                            \
    do {                                                                                   \
        cublasStatus_t hpff_s_ = (stmt);                                                   \
        if (hpff_s_ != CUBLAS_STATUS_SUCCESS)                                              \
            hpff_cuda_fail(__FILE__, __LINE__, #stmt, "cuBLAS error %d: %s", (int)hpff_s_,  \
                           cublasGetStatusString(hpff_s_));                                \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
