// aux_imagenet.h — the InfoPro auxiliary nets of the authors' ImageNet code (HPFF `Exp on
// Imagenet/networks/InfoProAux.py`, ALGORITHM §3.2 "ImageNet InfoPro aux"), with every width times
// width/64 (64 = the ImageNet networks' stem width: the authors' nets at full width) and the decoder's
// resize targets relative to its target image side T (112, 56, 112, 224 = T/2, T/4, T/2, T at 224).
#ifndef HPFF_AUX_IMAGENET_H
#define HPFF_AUX_IMAGENET_H
#include "auxnet.h"
#include "check.h"
#ifdef __cplusplus
extern "C" {
#endif

// Whether the authors' table has nets for features `in` of a network of stem width `width`
// reconstructing images `image`: the classifier for 4w, 8w or 16w channels (256, 512, 1024; their
// AuxClassifier(2048) does not run), the decoder for features 1/4, 1/8 or 1/16 of the image side
// (decoder1..3; decoder4 is unreachable in their code).
hpff_status hpff_aux_imagenet_supported(hpff_shape in, hpff_shape image, int width);
// Classifier: conv1x1 C -> c1 (128 for 256/512 channels, 256 for 1024), BN, ReLU, conv3x3/s2 c1 ->
// 256, BN, ReLU, conv3x3/s2 256 -> 512, BN, ReLU, conv1x1 512 -> 2048, BN, ReLU, GAP, Linear ->
// out_dim (all widths times width/64); names <prefix>.conv1..4, .bn1..4, .fc.
void hpff_aux_imagenet_cls_push(hpff_build *b, const char *prefix, int width, int out_dim, hpff_auxnet *net);
// Decoder for an out_h x out_w target (convs with bias, BN and ReLU after all but the last, bilinear
// align_corners resizes, sigmoid): 1/4: conv1x1 -> 128, T/2, conv3x3 -> 16, T, conv3x3 -> 3;
// 1/8: 128, T/4, 32, T/2, 16, T, 3; 1/16: 128, T/2, 64, T/4, 32, T/2, 16, T, 3.
// Names <prefix>.conv1.., .bn1..
void hpff_aux_imagenet_decoder_push(hpff_build *b, const char *prefix, int width, int out_h, int out_w,
                                    int img_c, hpff_auxnet *net);

#ifdef __cplusplus
}
#endif
#endif
