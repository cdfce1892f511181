// jpeg_tf.h — the ImageNet transforms as geometry: what to decode from a stored JPEG of H x W,
// at which DCT scale, and how to resample it, for one sample. Train: torchvision's
// RandomResizedCrop(out, scale, ratio) + RandomHorizontalFlip, its random draws a pure function
// of (seed, epoch, index). Eval: Resize(resize) (shorter side) + CenterCrop(out). Rounding follows
// torchvision 0.14 (Python's round half to even, int() truncation), so with DCT scaling off both
// equal torchvision's on PIL images up to Pillow's own arithmetic, which resample.h reproduces.
#ifndef HPFF_JPEG_TF_H
#define HPFF_JPEG_TF_H
#include <stdint.h>
#include "resample.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hpff_jtf {
    int train;                  // 1: RandomResizedCrop + flip; 0: resize + centre crop
    int out;                    // output side (224)
    int resize;                 // eval: shorter side before the crop (256); >= out
    float scale_lo, scale_hi;   // train: crop area fraction (0.08, 1)
    float ratio_lo, ratio_hi;   // train: crop aspect ratio w / h (3/4, 4/3)
    int dct_scaling;            // 1: decode at 1/2, 1/4, 1/8 when the region is that many times
                                //    the output in both directions; 0: always full resolution
} hpff_jtf;

// A crop in stored-image pixels and the flip.
typedef struct hpff_jcrop {
    int x, y, w, h;
    int flip;
} hpff_jcrop;

// What one sample needs: decode rows [y0, y1) and columns [x0, x1) of the image scaled by
// 1/denom, then resample with ax, ay (their shift is the frame origin in scaled pixels: the
// caller subtracts the decoded region's origin), then flip.
typedef struct hpff_jplan {
    int denom;
    int x0, y0, x1, y1;
    hpff_rs_axis ax, ay;
    int flip;
} hpff_jplan;

// The train transform with torchvision's defaults for output side `out`.
hpff_jtf hpff_jtf_train(int out);
// The eval transform: shorter side to `resize`, centre crop `out`.
hpff_jtf hpff_jtf_eval(int out, int resize);
// RandomResizedCrop's crop and the flip for sample `idx` of epoch `epoch` of an H x W image.
hpff_jcrop hpff_jtf_draw(const hpff_jtf *t, uint64_t seed, int epoch, int idx, int H, int W);
// The plan for one sample (train: hpff_jtf_draw; eval: the centre crop).
void hpff_jtf_plan(const hpff_jtf *t, uint64_t seed, int epoch, int idx, int H, int W,
                   hpff_jplan *p);

#ifdef __cplusplus
}
#endif
#endif
