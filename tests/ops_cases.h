// ops_cases.h — the one case table of the op tests: the shapes every driver of ops_suite.h runs
// (CPU vs the double reference, CUDA vs CPU, and any later pair). Odd sizes throughout, so that
// tails, partial blocks and uneven windows are exercised; seeds make each case reproducible.
#ifndef HPFF_OPS_CASES_H
#define HPFF_OPS_CASES_H
#include <stddef.h>
#include <stdint.h>

#define OPS_COUNT(a) (sizeof(a) / sizeof((a)[0]))

// Convolutions, chosen to reach every path of kernels/cpu/cpu_conv.c (one image per gemm for
// >= 8 output channels per group, multi-image chunks for fewer, a last partial chunk, 1x1
// direct and gathered, groups, odd kernels, strides and pads, gemms split into blocks with
// remainders) and the cuDNN shapes of the networks (ImageNet stem, ResNeXt-like grouped 3x3).
typedef struct ops_conv_case { int n, ci, h, w, co, kh, kw, sh, sw, ph, pw, g, bias; } ops_conv_case;
static const ops_conv_case k_conv_cases[] = {
    {3, 5, 7, 9, 7, 3, 3, 1, 1, 1, 1, 1, 1},    {3, 4, 7, 9, 6, 3, 3, 2, 2, 1, 1, 2, 0},
    {2, 8, 9, 7, 4, 3, 3, 2, 2, 2, 2, 4, 1},    {3, 5, 7, 9, 7, 1, 1, 1, 1, 0, 0, 1, 0},
    {3, 6, 8, 7, 10, 1, 1, 2, 2, 0, 0, 2, 1},   {2, 4, 45, 47, 6, 1, 1, 1, 1, 0, 0, 2, 1},
    {4, 3, 26, 27, 5, 3, 3, 1, 1, 1, 1, 1, 1},  {2, 3, 11, 10, 4, 5, 3, 3, 2, 2, 0, 1, 1},
    {3, 6, 5, 6, 6, 3, 3, 1, 1, 0, 0, 6, 0},    {2, 3, 48, 48, 4, 3, 3, 1, 1, 1, 1, 1, 1},
    {1, 3, 9, 11, 5, 7, 7, 2, 2, 3, 3, 1, 0},   {3, 4, 7, 9, 8, 1, 1, 1, 1, 1, 1, 4, 1},
    {5, 2, 3, 3, 3, 3, 3, 1, 1, 0, 0, 1, 1},    {3, 5, 7, 9, 16, 3, 3, 1, 1, 1, 1, 1, 1},
    {2, 6, 7, 9, 18, 1, 1, 1, 1, 0, 0, 2, 0},   {3, 8, 9, 7, 16, 3, 3, 2, 2, 1, 1, 2, 1},
    {2, 3, 6, 5, 9, 1, 1, 2, 1, 0, 1, 1, 1},    {2, 3, 8, 9, 5, 3, 5, 1, 1, 0, 2, 1, 1},
    {2, 4, 6, 5, 9, 5, 5, 1, 1, 2, 2, 1, 0},    {3, 3, 4, 3, 4, 5, 5, 1, 1, 2, 2, 1, 1},
    {2, 16, 29, 31, 16, 3, 3, 1, 1, 1, 1, 1, 1}, {2, 64, 9, 7, 64, 3, 3, 1, 1, 1, 1, 1, 0},
    {1, 3, 19, 17, 5, 7, 7, 2, 2, 3, 3, 1, 0},  // ImageNet-stem-like 7x7/2
    {8, 16, 16, 16, 32, 3, 3, 2, 2, 1, 1, 1, 0},
    {4, 32, 8, 8, 32, 3, 3, 1, 1, 1, 1, 8, 0},  // ResNeXt-like grouped 3x3
    {6, 32, 12, 12, 16, 3, 3, 1, 1, 1, 1, 1, 1},
    // ResNeXt 32x8d's grouped 3x3 (groups 32, 8 channels per group) on odd maps, stride 1 and 2
    // (bias), and groups 2 with odd channels per group
    {3, 256, 7, 9, 256, 3, 3, 1, 1, 1, 1, 32, 0}, {2, 64, 9, 7, 64, 3, 3, 2, 2, 1, 1, 32, 1},
    {3, 6, 11, 9, 10, 3, 3, 2, 2, 1, 1, 2, 1},
};

// Batch norm over (n, hw) per channel; hw = 1 is BatchNorm1d; relu: the fused ReLU.
typedef struct ops_bn_case { int n, c, hw; float momentum, eps; uint64_t seed; int relu; } ops_bn_case;
static const ops_bn_case k_bn_cases[] = {
    {3, 5, 63, 0.1f, 1e-5f, 401, 0},     {7, 3, 1, 0.25f, 1e-5f, 411, 0},     // BatchNorm1d
    {64, 300, 1, 0.1f, 1e-5f, 415, 0},   {1, 4, 10, 0.1f, 1e-3f, 421, 0},
    {2, 3, 1024, 0.1f, 1e-5f, 431, 0},   {16, 4, 33 * 33, 0.1f, 1e-5f, 441, 0},   // blocks per channel
    {64, 2, 4096, 0.1f, 1e-5f, 451, 0},  {5, 37, 49, 0.1f, 1e-5f, 461, 0},
    {5, 37, 49, 0.1f, 1e-5f, 471, 1},    {64, 300, 1, 0.1f, 1e-5f, 475, 1},
    {16, 4, 33 * 33, 0.1f, 1e-5f, 481, 1},
};

// Pooling on (3, 5, h, w): h, w, kh, kw, stride, ph, pw, max (else average).
typedef struct ops_pool_case { int h, w, kh, kw, s, ph, pw, is_max; } ops_pool_case;
static const ops_pool_case k_pool_cases[] = {
    {9, 7, 3, 3, 2, 1, 1, 1},  {7, 9, 2, 2, 2, 0, 0, 1},    {7, 9, 3, 3, 1, 1, 1, 1}, {8, 11, 3, 2, 2, 1, 1, 1},
    {56, 56, 3, 3, 2, 1, 1, 1}, {7, 9, 2, 2, 2, 0, 0, 0},   {8, 7, 3, 3, 3, 1, 1, 0}, {9, 7, 3, 3, 2, 1, 0, 0},
    {5, 5, 5, 5, 5, 2, 2, 0},  {10, 9, 4, 3, 4, 2, 1, 0},
};

// Adaptive average pooling and bilinear resize: in h, w -> out h, w.
typedef struct ops_map_case { int hi, wi, ho, wo; uint64_t seed; } ops_map_case;
static const ops_map_case k_adaptive_cases[] = {
    {7, 9, 3, 4, 801}, {5, 5, 7, 8, 811} /* out > in replicates */, {8, 8, 1, 1, 821} /* GAP */,
    {9, 7, 4, 2, 831}, {32, 32, 8, 8, 841}, {24, 24, 6, 6, 851},
};
static const ops_map_case k_resize_cases[] = {
    {5, 7, 11, 13, 901}, {9, 8, 4, 3, 911} /* down-size */, {6, 5, 1, 1, 921} /* out = 1 */,
    {1, 1, 3, 4, 931} /* in = 1 */, {7, 9, 7, 9, 941} /* identity */, {14, 14, 112, 112, 951},
    {32, 32, 17, 16, 961},
};

// Patch windows of (2, 3, h, w): rows [r0, r0 + ph) x cols [c0, c0 + pw).
typedef struct ops_patch_case { int h, w, r0, c0, ph, pw; uint64_t seed; } ops_patch_case;
static const ops_patch_case k_patch_cases[] = {
    {7, 9, 2, 3, 4, 5, 1001}, {8, 8, 0, 0, 8, 8, 1011}, {9, 7, 8, 6, 1, 1, 1021},
    // the widths the CPU copies with fixed moves (the DGL heads' pooled windows), PFF-A quadrants
    {8, 8, 4, 4, 4, 4, 1031}, {4, 6, 1, 2, 3, 2, 1041}, {16, 16, 8, 8, 8, 8, 1051}, {32, 32, 16, 0, 16, 16, 1061},
};

typedef struct ops_linear_case { int n, in, out, bias; uint64_t seed; } ops_linear_case;
static const ops_linear_case k_linear_cases[] = {
    {3, 7, 5, 1, 1101}, {5, 13, 11, 0, 1111}, {1, 1, 1, 1, 1121}, {37, 129, 65, 1, 1131}, {64, 256, 10, 1, 1141},
};

// Softmax cross-entropy: n samples of k logits uniform in [-scale, scale).
typedef struct ops_xent_case { int n, k; float scale; uint64_t seed; } ops_xent_case;
static const ops_xent_case k_xent_cases[] = {
    {6, 7, 3.0f, 1201}, {5, 3, 3.0f, 1211} /* k < 5: every sample a top-5 hit */,
    {4, 10, 200.0f, 1221} /* large logits: no overflow */, {300, 1000, 5.0f, 1231} /* ImageNet rows */,
};

typedef struct ops_size_case { size_t n; uint64_t seed; } ops_size_case;
static const ops_size_case k_bce_cases[] = {{517, 601}, {300007, 611} /* many blocks */};
static const ops_size_case k_elementwise_cases[] = {{1003, 501}, {70001, 501} /* several blocks, odd tail */};
static const ops_size_case k_sgd_cases[] = {{37, 701}, {1037, 701}};

#endif
