// layers.h — the layer types built on the backend table: convolution, batch norm, ReLU,
// sigmoid, linear, pooling, bilinear resize, and the CIFAR ResNet basic block. Constructors
// take a build context (where tensors are declared) and a parameter struct.
#ifndef HPFF_LAYERS_H
#define HPFF_LAYERS_H
#include "layer.h"
#ifdef __cplusplus
extern "C" {
#endif

// Where constructors declare their tensors and learn the planned batch.
typedef struct hpff_build {
    hpff_backend *be;         // for workspace queries
    hpff_registry *params;    // trainable tensors
    hpff_registry *state;     // batch-norm running statistics
    int group;                // owner recorded on each new tensor
    int n_max;                // largest batch the layers will see
    float bn_momentum;        // running-statistics momentum of new BN layers (0.1 by default)
    float linear_std;         // > 0: new Linear layers draw W ~ N(0, linear_std^2) with bias 0, and
                              //   new conv biases start at 0 (the VGG-DGL init, ALGORITHM §1.9)
} hpff_build;

typedef struct hpff_conv_params {
    int c_out, kh, kw, sh, sw, ph, pw, groups;
    int bias;                 // 1: conv has a bias
    hpff_init_kind w_init;    // weight init (default: He fan-out normal, ALGORITHM §1.9)
    float w_a;                // std/bound for w_init; 0 = He fan-out std
} hpff_conv_params;

// Square k x k conv, stride s, padding p, no bias, He fan-out init.
hpff_conv_params hpff_conv3(int c_out, int k, int s, int p);
hpff_layer *hpff_conv_create(hpff_build *b, const char *name, hpff_shape in, const hpff_conv_params *p);
// BatchNorm2d over (n, h, w) per channel; BatchNorm1d when in.h == in.w == 1.
hpff_layer *hpff_bn_create(hpff_build *b, const char *name, hpff_shape in);
hpff_layer *hpff_relu_create(hpff_shape in);
hpff_layer *hpff_sigmoid_create(hpff_shape in);
// Linear on the flattened input (c*h*w) -> (out, 1, 1). PyTorch default init U(+-1/sqrt(fan_in))
// for weight and bias unless w_zero (weight 0, PredSim official) is set.
typedef struct hpff_linear_params { int out; int bias; int w_zero; } hpff_linear_params;
hpff_layer *hpff_linear_create(hpff_build *b, const char *name, hpff_shape in, const hpff_linear_params *p);
hpff_layer *hpff_adaptive_avgpool_create(hpff_shape in, int h_out, int w_out);
typedef struct hpff_pool_params { int kh, kw, sh, sw, ph, pw; } hpff_pool_params;
hpff_layer *hpff_avgpool_create(hpff_shape in, const hpff_pool_params *p);
hpff_layer *hpff_maxpool_create(hpff_shape in, const hpff_pool_params *p);
hpff_layer *hpff_resize_create(hpff_shape in, int h_out, int w_out);
// CIFAR ResNet BasicBlock (ALGORITHM §2.1): projection shortcut when stride != 1 or c changes.
hpff_layer *hpff_basic_block_create(hpff_build *b, const char *name, hpff_shape in, int c_out, int stride);

// Output side of a conv/pool: floor((in + 2p - k) / s) + 1.
static inline int hpff_out_side(int in, int k, int s, int p) { return (in + 2 * p - k) / s + 1; }

#ifdef __cplusplus
}
#endif
#endif
