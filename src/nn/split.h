// split.h — cutting a network into M local modules (ALGORITHM §2.4). A network is a list of units
// (net.h: an optional stem, then the blocks stage by stage); a split is the last unit of each
// module. It is data: the authors' code tables, the paper convention, an even rule, or an explicit
// list of block end points in the config.
#ifndef HPFF_SPLIT_H
#define HPFF_SPLIT_H
#include "check.h"
#include "net.h"
#ifdef __cplusplus
extern "C" {
#endif

#define HPFF_MAX_MODULES 256

typedef struct hpff_split {
    int M;                          // number of modules
    int first[HPFF_MAX_MODULES];    // first unit of module m
    int last[HPFF_MAX_MODULES];     // last unit of module m (inclusive)
} hpff_split;

// K = the paper's module count, mode = code|paper|even|list, list = "stage:block,..." end points
// (list mode, stage 1-based). K == 1 gives one module (end-to-end). The stem (if any) always
// belongs to module 0 except under paper, where it is module 0 by itself.
hpff_status hpff_split_make(const hpff_net_spec *net, int K, hpff_split_mode mode, const char *list, hpff_split *out);

#ifdef __cplusplus
}
#endif
#endif
