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

// ---- channel-blocked chains (backend.h, conv_block): tensors between oneDNN convolutions kept
// in the layout the convolutions work in, with batch norms on it; NCHW wherever they disagree.
// The block in which conv layer L takes its input (tensor 0) or gives its output (tensor 1)
// without a reorder; 0 for NCHW, or a backend without blocked layouts.
int hpff_conv_block(const hpff_layer *L, int tensor);
// Conv layer L's input (tensor 0: x, dx) or output (1: y, dy) in block `block` (0: NCHW) from
// now on; its workspace is sized again.
void hpff_conv_set_block(hpff_layer *L, int tensor, int block);
// Batch-norm layer L on tensors in block `block` (0: NCHW); 0 (nothing changed) when the
// backend has no blocked batch norm or the block does not divide the channels.
int hpff_bn_set_block(hpff_layer *L, hpff_backend *be, int block);
// The outputs of the convolutions `prod`, the inputs of `cons` and the batch norms `bns` (NULL
// entries skipped) in one block when all of them can take the same one: returns it, else 0
// (nothing changed). Callers size workspaces after it.
int hpff_block_link(hpff_layer *const *prod, int n_prod, hpff_layer *const *cons, int n_cons, hpff_layer *const *bns,
                    int n_bns);
// Resize layer L with its output in block `block` (0: NCHW); 0 when the backend lacks the blocked
// resize or the block does not divide the channels. hpff_resize_link: resize -> conv with the
// tensor between them in the block the convolution takes (returns it, or 0: nothing changed).
int hpff_resize_set_block(hpff_layer *L, hpff_backend *be, int block);
int hpff_resize_link(hpff_layer *resize, hpff_layer *conv);
// A residual block's end (basic, bottleneck): y (NCHW) = relu(u + sc) for the last BN's output u
// (in `block`; with block 0, u is y itself) and the shortcut sc (NCHW x, or the shortcut BN's
// output in `block` when sc_blocked; u may be overwritten). hpff_block_sum_back: the gradient
// at the sum, g (in `block`) = dy where y > 0, else 0.
void hpff_block_sum_out(hpff_exec *ex, int block, int n, hpff_shape out, float *u, const float *sc, int sc_blocked,
                        float *y);
void hpff_block_sum_back(hpff_exec *ex, int block, int n, hpff_shape out, const float *y, const float *dy, float *g);

// Output side of a conv/pool: floor((in + 2p - k) / s) + 1.
static inline int hpff_out_side(int in, int k, int s, int p) { return (in + 2 * p - k) / s + 1; }

#ifdef __cplusplus
}
#endif
#endif
