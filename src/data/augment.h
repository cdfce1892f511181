// augment.h — the data order and training augmentation of ALGORITHM §6, as pure functions of
// (seed, epoch, sample): a counter-based RNG, the per-epoch permutation, per-sample draws, and
// rendering one uint8 HWC image into normalised CHW floats. Nothing here depends on threads.
#ifndef HPFF_AUGMENT_H
#define HPFF_AUGMENT_H
#include <stdint.h>
#include "check.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef enum hpff_aug_kind {
    HPFF_AUG_NONE,
    HPFF_AUG_CIFAR,     // reflect-pad 4 (edge not repeated), random crop, h-flip p = 0.5
    HPFF_AUG_SVHN,      // zero-pad 2, random crop, no flip
    HPFF_AUG_STL        // zero-pad 4, random crop, h-flip p = 0.5
} hpff_aug_kind;

typedef struct hpff_aug {
    hpff_aug_kind kind;
    int pad;            // pixels on each side before the crop
    int reflect;        // 1: mirror padding (index -1 -> 1); 0: black (0) pixels
    int flip;           // 1: horizontal flip with p = 0.5
} hpff_aug;

// Resolves an augment name (none | cifar | svhn | stl | auto); auto picks by the file's source
// attribute (cifar10, cifar100, fashion-mnist, folder -> cifar; svhn -> svhn; stl10 -> stl).
hpff_status hpff_aug_resolve(const char *name, const char *source, hpff_aug *out);
const char *hpff_aug_name(hpff_aug_kind kind);

// 64 random bits that depend only on the arguments (stream separates independent uses).
uint64_t hpff_rng_at(uint64_t seed, uint64_t stream, uint64_t epoch, uint64_t counter);
// Maps 64 random bits to [0, bound) (multiply-shift; bias < bound / 2^64).
uint32_t hpff_rng_below(uint64_t bits, uint32_t bound);
// perm (n): the order of epoch `epoch` (Fisher-Yates driven by hpff_rng_at).
void hpff_shuffle_order(int32_t *perm, int n, uint64_t seed, int epoch);

// The random choices for dataset sample `sample` in epoch `epoch`.
typedef struct hpff_aug_draw {
    int oy, ox;         // crop offsets in [0, 2 * pad]
    int flip;           // 0 or 1
} hpff_aug_draw;
hpff_aug_draw hpff_aug_draw_at(const hpff_aug *a, uint64_t seed, int epoch, int sample);

// Where the output comes from: an (h, w, c) image, zero-padded (centred) to (oh, ow) first.
typedef struct hpff_aug_geom {
    int h, w, c;        // stored image
    int oh, ow;         // output side (= pad_to, or the image side)
} hpff_aug_geom;
// Renders one image into out (c, oh, ow): pad_to, then pad/crop/flip per `a` and `d`, then
// out = lut[ch * 256 + value] (lut (c, 256) holds the normalised value of every byte).
// scratch: at least oh + ow ints. a = NULL or kind NONE: no augmentation.
void hpff_aug_render(const uint8_t *img, const hpff_aug_geom *g, const hpff_aug *a,
                     hpff_aug_draw d, const float *lut, float *out, int *scratch);
// lut (c, 256): ((float)v / 255 - mean[ch]) / std[ch].
void hpff_aug_lut(float *lut, int c, const float *mean, const float *std);

#ifdef __cplusplus
}
#endif
#endif
