// net.h — the backbones, built unit by unit so a rank builds only the modules it owns: CIFAR-style
// ResNets (ALGORITHM §2.1), the torchvision-layout bottleneck ResNets and ResNeXts (§2.2) and VGG13
// (§2.3), each with its final head Φ. A network is an optional stem (unit 0) followed by stages of
// blocks (VGG: of convs), units numbered stage-major. Tensor names follow the PyTorch state_dict of
// the same model: the CIFAR nets the golden scripts' (stem.conv.weight, layer2.0.shortcut.bn.bias),
// the ImageNet nets torchvision's (conv1.weight, layer3.17.bn2.running_var, features.7.bias, fc.bias).
#ifndef HPFF_NET_H
#define HPFF_NET_H
#include "check.h"
#include "config.h"
#include "layers.h"
#include "seq.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef enum hpff_net_kind {
    HPFF_NET_CIFAR = 0,     // 3 stages of BasicBlocks, widths w, 2w, 4w
    HPFF_NET_BOTTLENECK,    // ImageNet stem + 4 stages of bottlenecks, planes w..8w, expansion 4
    HPFF_NET_VGG,           // no stem; 5 stages of conv+BN+ReLU, a 2x2 max-pool before stages 2..5
} hpff_net_kind;

#define HPFF_NET_MAX_STAGES 5

typedef struct hpff_net_spec {
    hpff_net_kind kind;
    int stages;                        // 3, 4 or 5
    int blocks[HPFF_NET_MAX_STAGES];   // blocks (VGG: convs) per stage
    int stem;                          // 1 when unit 0 is a stem
    int width;                         // CIFAR stage-1 width; ImageNet nets: the stem width (64 full)
    int groups, width_per_group;       // bottleneck 3x3 conv (1, 64: ResNet; 32, 8: ResNeXt 32x8d)
    hpff_shape in;                     // input sample shape
    int classes;
} hpff_net_spec;

// The kind of network `arch` names.
hpff_net_kind hpff_net_kind_of(hpff_arch arch);
// The spec of model.arch with model.width (CIFAR stage-1 width; the ImageNet nets' stem is 4 x it)
// and model.blocks ("" or comma-separated blocks per stage, e.g. "1,1,3,1"); fails naming the
// value it cannot use.
hpff_status hpff_net_spec_make(hpff_arch arch, int width, const char *blocks, hpff_shape in, int classes,
                               hpff_net_spec *out);
// Units (stem + blocks) and blocks of the network.
int hpff_net_units(const hpff_net_spec *s);
int hpff_net_blocks(const hpff_net_spec *s);
// Unit of block b (0-based) of stage st (1-based).
int hpff_net_unit_of(const hpff_net_spec *s, int st, int b);
// Stage (1-based) and block of unit u (not the stem).
void hpff_net_stage_block(const hpff_net_spec *s, int u, int *st, int *b);
// Output and input shapes of unit u.
hpff_shape hpff_net_unit_out(const hpff_net_spec *s, int u);
hpff_shape hpff_net_unit_in(const hpff_net_spec *s, int u);
// Pushes the layers of units u0..u1 (inclusive) onto seq (initialised with unit u0's input).
void hpff_net_push_units(hpff_build *b, const hpff_net_spec *s, int u0, int u1, hpff_seq *seq);
// Φ on the last unit's output: GAP + Linear "fc" (ResNets); max-pool 2x2 + the three-layer
// classifier "classifier.{0,3,6}" (VGG, hidden 64 * width = 4096 at full width).
void hpff_net_final_push(hpff_build *b, const hpff_net_spec *s, hpff_seq *seq);
// Φ of a ResNet: global average pooling + Linear(c -> classes) with bias, named "fc".
void hpff_final_head_push(hpff_build *b, int classes, hpff_seq *seq);

#ifdef __cplusplus
}
#endif
#endif
