// resnet.h — CIFAR-style ResNets (ALGORITHM §2.1) built unit by unit, so a rank builds only the
// modules it owns, and the final head Φ (GAP + linear). Tensor names follow PyTorch's
// state_dict names of the same model (stem.conv.weight, layer2.0.shortcut.bn.bias, fc.weight).
#ifndef HPFF_RESNET_H
#define HPFF_RESNET_H
#include "config.h"
#include "layers.h"
#include "seq.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hpff_resnet_spec {
    int n;              // blocks per stage
    int width;          // stage-1 width (16 in the paper); stages are w, 2w, 4w
    hpff_shape in;      // input sample shape
    int classes;
} hpff_resnet_spec;

// Blocks per stage n of the 6n+2-layer resnet8/14/20/32/44/56/110; 0 for another value.
int hpff_resnet_blocks(hpff_arch arch);
// Output shape of unit u (0 = stem, 1 + (s-1)*n + b = block b of stage s).
hpff_shape hpff_resnet_unit_out(const hpff_resnet_spec *r, int u);
// Input shape of unit u.
hpff_shape hpff_resnet_unit_in(const hpff_resnet_spec *r, int u);
// Pushes the layers of units u0..u1 (inclusive) onto seq (initialised with unit u0's input).
void hpff_resnet_push_units(hpff_build *b, const hpff_resnet_spec *r, int u0, int u1, hpff_seq *seq);
// Φ: global average pooling + Linear(c -> classes) with bias, named "fc".
void hpff_final_head_push(hpff_build *b, int classes, hpff_seq *seq);

#ifdef __cplusplus
}
#endif
#endif
