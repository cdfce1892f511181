// dgl_predsim.h — DGL and PredSim heads, on the whole map or under PFF-B (ALGORITHM §5.4): one aux
// net shared by the n x n patches of h, its logits (and PredSim's similarity vector) averaged over
// the patches before the loss, run patch by patch in two passes so that only one patch's
// activations are alive at a time. n = 1 is the plain whole-map head of §3.1 / §3.3.
#ifndef HPFF_DGL_PREDSIM_H
#define HPFF_DGL_PREDSIM_H
#include "check.h"
#include "head.h"
#include "layers.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef enum hpff_pffb_kind { HPFF_PFFB_DGL = 0, HPFF_PFFB_PREDSIM = 1 } hpff_pffb_kind;

typedef struct hpff_pffb_spec {
    const char *prefix;     // head name and tensor prefix, e.g. "aux3.cl"
    hpff_pffb_kind kind;
    int n;                  // patches per side (1 = whole map)
    int classes;
    int dgl_official;       // DGL: official MLP-SR-aux instead of the CIFAR port
    float predsim_beta;     // PredSim: L = beta*L_sim + (1 - beta)*L_pred
    int predsim_T;          // PredSim: pooling target of the prediction branch
    int predsim_w_zero;     // PredSim: zero-initialised prediction weight (official)
    int sim_patch;          // PredSim under PFF-B: similarity branch per patch (else whole map)
} hpff_pffb_spec;

// Builds the head for features of shape `in`; NULL (with *st) when the patches cannot share one
// net (e.g. a pooling rule that gives different sizes for unequal patches).
hpff_head *hpff_pffb_create(hpff_build *b, const hpff_pffb_spec *s, hpff_shape in, hpff_status *st);

#ifdef __cplusplus
}
#endif
#endif
