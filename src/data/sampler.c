// sampler.c — per-replica shares of an epoch's order (see sampler.h).
#include "sampler.h"
#include "augment.h"

int hpff_sampler_count(int n, hpff_share s) {
    if (s.pad) return (int)(((long long)n + s.replicas - 1) / s.replicas);
    return n / s.replicas + (s.replica < n % s.replicas ? 1 : 0);
}

void hpff_sampler_epoch(int32_t *out, int32_t *perm, int n, uint64_t seed, int epoch,
                        int shuffle, hpff_share s) {
    if (shuffle) hpff_shuffle_order(perm, n, seed, epoch);
    else
        for (int i = 0; i < n; i++) perm[i] = i;
    int m = hpff_sampler_count(n, s);
    for (int k = 0; k < m; k++) {
        long long pos = (long long)s.replica + (long long)k * s.replicas;   // < ceil(n / R) * R
        out[k] = perm[pos % n];
    }
}
