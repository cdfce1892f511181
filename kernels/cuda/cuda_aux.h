// cuda_aux.h — installs the CUDA auxiliary-head ops (cuda_aux.cu) into the ops table.
#ifndef HPFF_CUDA_AUX_H
#define HPFF_CUDA_AUX_H
#include "backend.h"
#ifdef __cplusplus
extern "C" {
#endif

// Sets spatial_std_fwd/bwd, simmat_mse and supcon of a CUDA backend table.
void hpff_cuda_install_aux(hpff_backend *be);

#ifdef __cplusplus
}
#endif
#endif
