// replicas.h — what keeps the replicas of the pipeline one model besides the gradient average
// (reducer.h): pipeline.check_replicas compares a checksum of every rank's parameters and
// momentum with replica 0's of its stage and stops the job naming the first replica that differs.
// BatchNorm running statistics stay per replica (each follows its own batches, DDP's default);
// what is evaluated and saved as the model's is replica 0's: for evaluation every replica uses
// replica 0's statistics and then takes its own back (as DDP's broadcast_buffers evaluates rank
// 0's), and a checkpoint keeps replica 0's as the model's state plus every replica's, so a resume
// with the same replicas continues each one exactly.
#ifndef HPFF_REPLICAS_H
#define HPFF_REPLICAS_H
#include <stdint.h>
#include "grid.h"
#include "model.h"
#include "reducer.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hpff_replicas {
    const hpff_grid *g;
    hpff_model *md;
    float *host;                // host copy of an arena (checksums, broadcasts)
    size_t host_floats;
    float *own_bn;              // (state.total) this replica's BN statistics during evaluation
    float *all_bn;              // (replicas, state.total) on replica 0: every replica's, for a checkpoint
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
// Collective over each stage's replicas: every replica evaluates with replica 0's BatchNorm
// running statistics (begin) and takes its own back afterwards (end).
void hpff_replicas_eval_begin(hpff_replicas *r);
void hpff_replicas_eval_end(hpff_replicas *r);
// Collective over each stage's replicas: every replica's BatchNorm statistics, gathered on
// replica 0 as (replicas, state floats) host floats (the checkpoint's); NULL elsewhere and for
// one replica.
const float *hpff_replicas_gather_bn(hpff_replicas *r);
// The gradient bucket of the rank's k-th module (0 = its first): the contiguous runs of the
// gradient arena that hold the module's tensors (backbone and heads, and Φ with module M-1),
// padding included. Returns the number of spans written to out (at most max).
int hpff_replicas_module_spans(const hpff_model *md, int k, hpff_span *out, int max);
// Resuming a checkpoint written with old_r replicas after `batch` steps of an epoch with new_r
// replicas: the batch to continue with, so that the samples of the epoch's permutation read so
// far (batch * old_r batches' worth) are not read again; *inexact = 1 when that count is not a
// whole number of new batches (then up to one new global batch of samples is read again).
int hpff_replicas_resume_batch(int batch, int old_r, int new_r, int *inexact);

#ifdef __cplusplus
}
#endif
#endif
