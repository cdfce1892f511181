// loader.h — the training loader: per-epoch shuffle and augmentation that depend only on
// (seed, epoch, sample), never on the number of prefetch threads, so runs and resumes are
// reproducible.
#ifndef HPFF_LOADER_H
#define HPFF_LOADER_H
#include <stddef.h>
#include <stdint.h>
#include "dataset.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hpff_loader_opts {
    const char *augment;        // none | cifar | svhn | stl (ALGORITHM §6); "auto" picks by source
    int pad_to;                 // 0 or a side >= the image side: zero-pad (centred) before anything
    int batch;
    int threads;                // prefetch threads (>= 1)
    uint64_t seed;
    int shuffle;                // 1 for training, 0 for evaluation (augment is then ignored too)
} hpff_loader_opts;

typedef struct hpff_loader hpff_loader;
// Validates the options against the dataset (batch, threads, pad_to, augment and the source
// attribute for "auto"); the error names the option, the value and what is accepted.
hpff_status hpff_loader_check(const hpff_dataset *ds, const hpff_loader_opts *o);
// Starts the prefetch threads (fatal on options hpff_loader_check rejects). ds must outlive L.
hpff_loader *hpff_loader_create(const hpff_dataset *ds, const hpff_loader_opts *o);
void hpff_loader_destroy(hpff_loader *L);
// Output sample shape (c, h, w) after padding/cropping.
void hpff_loader_shape(const hpff_loader *L, int *c, int *h, int *w);
// Mini-batches per epoch (the last partial batch is kept).
int hpff_loader_batches(const hpff_loader *L);
// The augmentation in use after resolving "auto": none | cifar | svhn | stl.
const char *hpff_loader_augment(const hpff_loader *L);
// Starts epoch `epoch` (0-based) at batch `first_batch` (resume continues mid-epoch). Must be
// called before the first hpff_loader_next; may be called at any time (drops what was fetched).
void hpff_loader_start_epoch(hpff_loader *L, int epoch, int first_batch);
// Next batch of the epoch into host buffers: x (n, c, h, w) normalised floats, y (n) labels.
// Returns n, or 0 when the epoch is over. Adds the seconds spent waiting for data to *wait_s.
int hpff_loader_next(hpff_loader *L, float *x, int32_t *y, double *wait_s);

#ifdef __cplusplus
}
#endif
#endif
