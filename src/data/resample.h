// resample.h — antialiased bilinear resampling of uint8 images, computed the way Pillow's
// Image.resize(BILINEAR) computes it (triangle filter widened by the downscale factor, taps in
// 22-bit fixed point, a horizontal pass rounded to uint8, then a vertical pass), so that the
// ImageNet eval transform matches torchvision's Resize + CenterCrop on PIL images. Only a window
// of the output is computed, from a buffer that holds only the input rows and columns it needs.
#ifndef HPFF_RESAMPLE_H
#define HPFF_RESAMPLE_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

// One axis. The input span [in0, in1) of a frame (float, as Pillow's box) is resized to
// out_total pixels, of which [out_first, out_first + out_count) are computed. Taps are clipped
// to the frame pixels [clip_lo, clip_hi); frame pixel p is buffer pixel p - shift.
typedef struct hpff_rs_axis {
    float in0, in1;
    int out_total, out_first, out_count;
    int clip_lo, clip_hi;
    int shift;
} hpff_rs_axis;

// Buffer pixels [*lo, *hi) that the taps of `a` read.
void hpff_rs_axis_span(const hpff_rs_axis *a, int *lo, int *hi);
// Scratch bytes hpff_resample needs for these axes and c channels.
size_t hpff_resample_scratch(const hpff_rs_axis *ax, const hpff_rs_axis *ay, int c);
// dst (ay->out_count, ax->out_count, c) from src, whose row r (buffer coordinates) starts at
// src + r * stride; src must hold the span of each axis.
void hpff_resample(const uint8_t *src, size_t stride, int c, const hpff_rs_axis *ax,
                   const hpff_rs_axis *ay, uint8_t *dst, void *scratch);

#ifdef __cplusplus
}
#endif
#endif
