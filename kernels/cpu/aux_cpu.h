// aux_cpu.h — CPU versions of the auxiliary-head ops (PredSim spatial std and similarity loss,
// InfoPro SupCon loss); entries of the CPU ops table (semantics in backend.h).
#ifndef HPFF_AUX_CPU_H
#define HPFF_AUX_CPU_H
#include "backend.h"

// Unbiased standard deviation of each row of x (rows, hw).
void hpff_cpu_spatial_std_fwd(hpff_backend *be, size_t rows, int hw, const float *x, float *y);
// Its adjoint: dx = beta*dx + dy (x - mean) / ((hw - 1) y); zero where y == 0.
void hpff_cpu_spatial_std_bwd(hpff_backend *be, size_t rows, int hw, const float *x, const float *y,
                              const float *dy, float *dx, float beta);
// PredSim similarity-matrix MSE against the label similarity; adds stat_scale * loss to stat[0].
void hpff_cpu_simmat_mse(hpff_backend *be, int n, int d, const float *v, const int32_t *labels,
                         int classes, float weight, float *dv, float *stat, float stat_scale);
// Supervised contrastive loss on L2-normalised rows of f; adds stat_scale * loss to stat[0].
void hpff_cpu_supcon(hpff_backend *be, int n, int d, const float *f, const int32_t *labels, float tau,
                     float weight, float *df, float *stat, float stat_scale);

#endif
