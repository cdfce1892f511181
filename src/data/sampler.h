// sampler.h — which samples one data-parallel replica reads in an epoch, with the semantics of
// torch.utils.data.DistributedSampler: every replica computes the same epoch permutation (a pure
// function of (seed, epoch), augment.h) and takes every R-th element starting at its own index.
//
// Remainder rule, pad = 1 (training; DistributedSampler's default drop_last = False): the
// permutation is extended by repeating its first elements (cyclically) to a multiple of R, so
// every replica reads ceil(n / R) samples and takes the same number of steps; at most R - 1
// samples are read twice per epoch. pad = 0 (evaluation): no repeats; replicas r < n % R read
// floor(n / R) + 1 samples, the others floor(n / R). With R = 1 both give the permutation itself.
#ifndef HPFF_SAMPLER_H
#define HPFF_SAMPLER_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

// A replica's share: replica `replica` of `replicas` (replicas 0 means 1, everything) with the
// remainder rule `pad` above.
typedef struct hpff_share {
    int replica, replicas;
    int pad;
} hpff_share;

// Samples the replica of `s` reads per epoch (s.replicas must be >= 1).
int hpff_sampler_count(int n, hpff_share s);
// out (hpff_sampler_count): the dataset indices the replica of `s` reads in epoch `epoch`, in
// order. shuffle = 0: the identity order 0..n-1 instead of the permutation. perm: scratch of n.
void hpff_sampler_epoch(int32_t *out, int32_t *perm, int n, uint64_t seed, int epoch,
                        int shuffle, hpff_share s);

#ifdef __cplusplus
}
#endif
#endif
