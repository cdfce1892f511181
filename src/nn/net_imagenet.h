// net_imagenet.h — the units of the ImageNet networks (ALGORITHM §2.2, §2.3): the torchvision
// stem (conv 7x7/s2/p3, BN, ReLU, max-pool 3x3/s2/p1) and bottleneck stages of the ResNets and
// ResNeXts, the conv+BN+ReLU modules of VGG13 (a 2x2 max-pool opens stages 2..5), and VGG's Φ.
#ifndef HPFF_NET_IMAGENET_H
#define HPFF_NET_IMAGENET_H
#include "net.h"
#ifdef __cplusplus
extern "C" {
#endif

// Output shape of unit u of a bottleneck or VGG network.
hpff_shape hpff_imagenet_unit_out(const hpff_net_spec *s, int u);
// Pushes unit u (stem, one bottleneck block, or one VGG conv module) onto seq.
void hpff_imagenet_push_unit(hpff_build *b, const hpff_net_spec *s, int u, hpff_seq *seq);
// VGG's Φ: max-pool 2x2, Linear (flattened) -> 64w, ReLU, Linear 64w -> 64w, ReLU, Linear -> classes,
// named classifier.0 / .3 / .6 as torchvision's VGG (whose dropouts sit at .2 and .5).
void hpff_vgg_final_push(hpff_build *b, const hpff_net_spec *s, hpff_seq *seq);
// torchvision's index of VGG conv module u in `features` (its BN is the next index).
int hpff_vgg_feature_index(const hpff_net_spec *s, int u);

#ifdef __cplusplus
}
#endif
#endif
