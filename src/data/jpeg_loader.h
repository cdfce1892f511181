// jpeg_loader.h — the loader's sample source for encoded-JPEG datasets (jpegds.h): each loader
// thread reads an image's bytes, decodes only the region the transform needs (jpeg_dec.h, at
// 1/2, 1/4 or 1/8 scale when the region is that many times the output), resamples it as
// Pillow does (resample.h), flips and normalises it with the file's mean/std. Train: the
// RandomResizedCrop + flip of jpeg_tf.h, drawn from (seed, epoch, index); eval: shorter side to
// `resize`, centre crop.
#ifndef HPFF_JPEG_LOADER_H
#define HPFF_JPEG_LOADER_H
#include "check.h"
#include "jpegds.h"
#include "ring.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hpff_jpeg_loader_opts {
    int train;                  // 1: RandomResizedCrop + flip ("imagenet"); 0: eval transform
    int out;                    // output side (224)
    int resize;                 // eval: shorter side before the centre crop (256), >= out
    int dct_scaling;            // 1: DCT-domain downscaling where it applies
    int batch, threads;
    uint64_t seed;
    int shuffle;                // 1: a permutation per epoch
    hpff_share share;           // data-parallel share of each epoch (sampler.h)
} hpff_jpeg_loader_opts;

// Validates the options; the error names the option, the value and what is accepted.
hpff_status hpff_jpeg_loader_check(const hpff_jpegds *ds, const hpff_jpeg_loader_opts *o);
// A loader whose samples are (3, out, out) normalised floats. ds must outlive it. A read or
// decode failure during training ends the run naming the file and the image.
hpff_loader *hpff_jpeg_loader_create(const hpff_jpegds *ds, const hpff_jpeg_loader_opts *o);

#ifdef __cplusplus
}
#endif
#endif
