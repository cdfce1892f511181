// hilo.h — the HiLo schedule (seam 5, ALGORITHM §4): for each module, which losses exist
// (independent head, cascade head of pair (m-1, m)), their weights, and whether the cascade
// seed crosses one module upstream. It knows nothing about ranks.
#ifndef HPFF_HILO_H
#define HPFF_HILO_H
#include "config.h"
#include "split.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hpff_hilo_module {
    int il;           // independent head reads h_m
    int cl;           // cascade head of pair (m-1, m) reads h_m
    float w_il, w_cl; // seed weights a_m = w_il dL/dh, c_m = w_cl dL/dh
    int push_up;      // u_{m-1} = VJP_in(F_m; c_m) is sent into F_{m-1}
    float lambda_rec, lambda_ce;   // InfoPro λ(m) of §3.2 (1, 1 for other methods)
} hpff_hilo_module;

typedef struct hpff_hilo {
    int M;
    hpff_hilo_module mod[HPFF_MAX_MODULES];
    // The final head Φ on h_{M-1}: seed (w_final_a + w_final_c) dℓF, cascade part w_final_c dℓF.
    float w_final_a, w_final_c;
} hpff_hilo;

// Builds the schedule for config c and M modules (c->K is the paper's K for λ ratios).
hpff_status hpff_hilo_plan(const hpff_config *c, int M, hpff_hilo *h);

#ifdef __cplusplus
}
#endif
#endif
