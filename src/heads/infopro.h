// infopro.h — InfoPro heads (ALGORITHM §3.2, §4.5, §5.2, §5.4): a whole-map classifier
// (CE or SupCon) plus zero or more reconstruction terms. Reconstruction: none (IL, code), one
// full-map decoder (InfoPro, pff off), n² separate quadrant decoders with summed BCE (PFF-A, the
// code's cascade decoder), one decoder shared by the n² patches with averaged BCE (pff_rec=shared)
// or one full-map decoder whose output is cut into n² patches with summed BCE (PFF-C, pff_rec=output).
#ifndef HPFF_INFOPRO_H
#define HPFF_INFOPRO_H
#include "check.h"
#include "head.h"
#include "layers.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef enum hpff_rec_kind {
    HPFF_REC_NONE = 0,     // classifier only
    HPFF_REC_FULL,         // one decoder on the whole map vs x~
    HPFF_REC_PFF_A,        // n² decoders, patch q resized to image patch q, BCEs summed
    HPFF_REC_SHARED,       // one decoder for every patch, BCEs averaged
    HPFF_REC_PFF_C,        // one full-map decoder, its output and x~ cut into n² patches, BCEs summed
} hpff_rec_kind;

typedef struct hpff_infopro_spec {
    const char *prefix;    // head name and tensor prefix, e.g. "aux3.cl"
    int classes;
    int two_conv;          // 2c2f (else 1c2f)
    int last_stage;        // classifier conv keeps the width at stride 1 (stage 3)
    int contrast;          // SupCon (feature dim 128, tau 0.07) instead of CE
    float lambda_ce;       // L = lambda_ce * classifier loss + lambda_rec * reconstruction
    float lambda_rec;
    hpff_rec_kind rec;
    int n;                 // patches per side for PFF_A / SHARED / PFF_C
    int imagenet_width;    // > 0: the ImageNet code's classifier and decoders (aux_imagenet.h) for a
                           // network of this stem width; 0: the CIFAR nets
} hpff_infopro_spec;

// Builds the head for features `in` and images `image` (the reconstruction target's shape);
// NULL with *st when the configuration cannot be built.
hpff_head *hpff_infopro_create(hpff_build *b, const hpff_infopro_spec *s, hpff_shape in,
                               hpff_shape image, hpff_status *st);

#ifdef __cplusplus
}
#endif
#endif
