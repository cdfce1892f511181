// split.h — cutting a CIFAR ResNet into M local modules (ALGORITHM §2.4). A network is a list
// of units: unit 0 is the stem, unit 1 + (stage-1)*n + b is block b of stage `stage`. A split
// is the last unit of each module; it is data, from the code tables, the paper convention,
// an even rule, or an explicit list in the config.
#ifndef HPFF_SPLIT_H
#define HPFF_SPLIT_H
#include "check.h"
#include "config.h"
#ifdef __cplusplus
extern "C" {
#endif

#define HPFF_MAX_MODULES 256

typedef struct hpff_split {
    int M;                          // number of modules
    int first[HPFF_MAX_MODULES];    // first unit of module m
    int last[HPFF_MAX_MODULES];     // last unit of module m (inclusive)
} hpff_split;

// n = blocks per stage (3 stages), K = the paper's module count, mode = code|paper|even|list,
// list = "stage:block,..." end points (list mode). K == 1 gives one module (end-to-end).
hpff_status hpff_split_make(int n, int K, hpff_split_mode mode, const char *list, hpff_split *out);
// Units per network: 1 + 3n.
static inline int hpff_split_units(int n) { return 1 + 3 * n; }

#ifdef __cplusplus
}
#endif
#endif
