// ring.h — the prefetching batch loader (hpff_loader) shared by every data layout. A sample
// source renders one sample (c, h, w) of the epoch from (index, epoch) alone; threads claim the
// samples of the next batches (a few at a time, so that several threads share one batch) and
// fill a small ring of batches ahead of the consumer. The order of an epoch and a replica's share
// of it come from sampler.h. Batches are identical for any number of threads, and
// hpff_loader_start_epoch(L, epoch, b) resumes mid-epoch with exactly the data a continuous run
// would have seen.
#ifndef HPFF_RING_H
#define HPFF_RING_H
#include <stdint.h>
#include "sampler.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hpff_sample_src {
    int n;                      // samples in the dataset
    int c, h, w;                // one rendered sample (c, h, w) floats
    const char *augment;        // what hpff_loader_augment reports (static string)
    void *ctx;
    // Per-thread state (scratch, a decoder); NULL functions: none.
    void *(*thread_new)(void *ctx);
    void (*thread_free)(void *tstate);
    // Sample idx of epoch `epoch` into x (c, h, w) and its label into *y; a function of
    // (idx, epoch) and the source only. Unrecoverable read errors end the run (HPFF_CHECK).
    void (*render)(void *ctx, void *tstate, int idx, int epoch, float *x, int32_t *y);
    void (*destroy)(void *ctx); // called by hpff_loader_destroy; NULL: nothing
} hpff_sample_src;

typedef struct hpff_ring_opts {
    int batch;
    int threads;                // >= 1
    uint64_t seed;              // of the epoch permutation
    int shuffle;                // 1: permutation per epoch; 0: index order
    hpff_share share;           // this replica's share of each epoch (sampler.h)
} hpff_ring_opts;

typedef struct hpff_loader hpff_loader;
// Starts the threads. The source's ctx belongs to the loader from here on.
hpff_loader *hpff_loader_from_source(const hpff_sample_src *src, const hpff_ring_opts *o);
void hpff_loader_destroy(hpff_loader *L);
// Output sample shape (c, h, w).
void hpff_loader_shape(const hpff_loader *L, int *c, int *h, int *w);
// Mini-batches per epoch for this replica (the last partial batch is kept).
int hpff_loader_batches(const hpff_loader *L);
// Samples this replica reads per epoch.
int hpff_loader_samples(const hpff_loader *L);
// The augmentation in use, as the source names it.
const char *hpff_loader_augment(const hpff_loader *L);
// Starts epoch `epoch` (0-based) at batch `first_batch` (resume continues mid-epoch). Must be
// called before the first hpff_loader_next; may be called at any time (drops what was fetched).
void hpff_loader_start_epoch(hpff_loader *L, int epoch, int first_batch);
// Next batch of the epoch into host buffers: x (n, c, h, w) floats, y (n) labels. Returns n, or
// 0 when the epoch is over. Adds the seconds spent waiting for data to *wait_s.
int hpff_loader_next(hpff_loader *L, float *x, int32_t *y, double *wait_s);

#ifdef __cplusplus
}
#endif
#endif
