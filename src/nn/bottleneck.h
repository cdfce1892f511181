// bottleneck.h — the torchvision v1.5 bottleneck block (ALGORITHM §2.2): conv1x1 -> BN -> ReLU ->
// conv3x3 (stride, groups) -> BN -> ReLU -> conv1x1 (x4) -> BN, plus the identity or the projection
// shortcut conv1x1(stride) -> BN ("downsample.0/1"), then ReLU of the sum.
#ifndef HPFF_BOTTLENECK_H
#define HPFF_BOTTLENECK_H
#include "layers.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hpff_bottleneck_params {
    int planes;            // output channels are 4 * planes
    int stride;            // on the 3x3 conv and the projection
    int groups;            // of the 3x3 conv
    int width_per_group;   // inner width floor(planes * width_per_group / 64) * groups
    int projection;        // 1: downsample shortcut (first block of a stage), 0: identity
} hpff_bottleneck_params;

hpff_layer *hpff_bottleneck_create(hpff_build *b, const char *name, hpff_shape in, const hpff_bottleneck_params *p);

#ifdef __cplusplus
}
#endif
#endif
