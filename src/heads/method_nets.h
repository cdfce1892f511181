// method_nets.h — the auxiliary nets of the base methods (ALGORITHM §3): DGL classifiers, InfoPro
// classifier and decoder, PredSim similarity and prediction branches, with their shape rules.
// Every builder appends layers to an initialised hpff_auxnet (which the caller plans) and names
// its tensors "<prefix>.<layer>.<tensor>".
#ifndef HPFF_METHOD_NETS_H
#define HPFF_METHOD_NETS_H
#include "auxnet.h"
#ifdef __cplusplus
extern "C" {
#endif

// DGL pooling sizes for an input C x h x w (§3.1): p1 = ceil(side/4); port p2 = min(p1, 2),
// official p2 = 2; d = C * p2h * p2w is the width of the MLP.
typedef struct hpff_dgl_dims { int p1h, p1w, p2h, p2w, d; } hpff_dgl_dims;
hpff_dgl_dims hpff_aux_dgl_dims(hpff_shape in, int official);
// DGL classifier: port (AugLocal, 2 bias-free hidden FCs) or official MLP-SR-aux (3 hidden FCs).
void hpff_aux_dgl_push(hpff_build *b, const char *prefix, int official, int classes, hpff_auxnet *net);
// The same net without its first adaptive pool, on a map already pooled to dd.p1h x dd.p1w (dd
// from the unpooled input): PFF-B pools the whole map once for all its patches (dgl_predsim.c).
void hpff_aux_dgl_push_pooled(hpff_build *b, const char *prefix, int official, int classes, hpff_dgl_dims dd,
                              hpff_auxnet *net);

// InfoPro CIFAR classifier (§3.2): conv3x3 (C -> 2C stride 2, or C -> C stride 1 at the last
// stage), BN, ReLU [, conv3x3 c' -> c', BN, ReLU when two_conv], GAP, Linear c' -> 128, ReLU,
// Linear 128 -> out_dim (classes for CE, 128 for SupCon).
void hpff_aux_infopro_cls_push(hpff_build *b, const char *prefix, int two_conv, int last_stage,
                               int out_dim, hpff_auxnet *net);
// InfoPro decoder (§3.2): bilinear resize to out_h x out_w (skipped when the size is unchanged),
// conv3x3 C -> 12 (bias), BN, ReLU, conv3x3 12 -> img_c (bias), sigmoid.
void hpff_aux_decoder_push(hpff_build *b, const char *prefix, int out_h, int out_w, int img_c,
                           hpff_auxnet *net);

// PredSim pooling by the dim-in-decoder rule (§3.3) for an input C x h x w and target T.
typedef struct hpff_predsim_pool {
    int identity;            // 1: no pooling (C*h*w <= T)
    int kh, kw, ph, pw;      // AvgPool2d kernel = stride, padding (padded zeros counted)
    int oh, ow, d;           // output side and the Linear's input size d = C*oh*ow
} hpff_predsim_pool;
hpff_predsim_pool hpff_aux_predsim_pool(hpff_shape in, int T);
// PredSim similarity branch: conv3x3 C -> C, stride 1, padding 1, no bias ("<prefix>.weight").
void hpff_aux_predsim_sim_push(hpff_build *b, const char *prefix, hpff_auxnet *net);
// PredSim prediction branch: the pooling above, then Linear d -> classes with bias; w_zero
// zero-initialises the weight (official local-loss).
void hpff_aux_predsim_pred_push(hpff_build *b, const char *prefix, int T, int classes, int w_zero,
                                hpff_auxnet *net);

#ifdef __cplusplus
}
#endif
#endif
