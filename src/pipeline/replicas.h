// replicas.h — what keeps the replicas of the pipeline one model besides the gradient average
// (reducer.h): pipeline.check_replicas compares a checksum of every rank's parameters and
// momentum with replica 0's of its stage and stops the job naming the first replica that differs;
// before evaluation and checkpoints the other replicas take replica 0's BatchNorm running
// statistics, so what is evaluated and saved is replica 0's (as DDP's broadcast_buffers gives
// rank 0's buffers to every rank), while during training each replica's statistics follow its own
// batches.
#ifndef HPFF_REPLICAS_H
#define HPFF_REPLICAS_H
#include <stdint.h>
#include "grid.h"
#include "model.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hpff_replicas {
    const hpff_grid *g;
    hpff_model *md;
    float *host;                // host copy of an arena (checksums, broadcasts)
    size_t host_floats;
} hpff_replicas;

void hpff_replicas_init(hpff_replicas *r, const hpff_grid *g, hpff_model *md);
void hpff_replicas_free(hpff_replicas *r);
// FNV-1a (64 bits) over the bit patterns of x[0..n), continuing from h (start: HPFF_CHECKSUM_SEED).
#define HPFF_CHECKSUM_SEED 1469598103934665603ull
uint64_t hpff_checksum_floats(const float *x, size_t n, uint64_t h);
// This rank's parameters and momentum, checksummed.
uint64_t hpff_replicas_checksum(hpff_replicas *r);
// Collective over the world: every rank's checksum against replica 0's of its stage. On a
// difference rank 0 ends the job naming the first (lowest) replica and its stage; `step` is the
// optimizer step the parameters are after.
void hpff_replicas_check(hpff_replicas *r, long step);
// Collective over each stage's replicas: replica 0's BatchNorm running statistics to the others.
void hpff_replicas_share_bn(hpff_replicas *r);

#ifdef __cplusplus
}
#endif
#endif
