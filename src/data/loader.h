// loader.h — the loader of pixel datasets (dataset.h): per-epoch shuffle and augmentation that
// depend only on (seed, epoch, sample), never on the number of prefetch threads, so runs and
// resumes are reproducible. The threads and the batch ring are ring.h's (hpff_loader_next,
// hpff_loader_start_epoch, ...), shared with the encoded-JPEG loader.
#ifndef HPFF_LOADER_H
#define HPFF_LOADER_H
#include <stddef.h>
#include <stdint.h>
#include "dataset.h"
#include "ring.h"
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

// Validates the options against the dataset (batch, threads, pad_to, augment and the source
// attribute for "auto"); the error names the option, the value and what is accepted.
hpff_status hpff_loader_check(const hpff_dataset *ds, const hpff_loader_opts *o);
// A loader (ring.h) over a pixel dataset (fatal on options hpff_loader_check rejects). ds
// must outlive the loader. Samples are (c, pad_to or h, pad_to or w) normalised floats; the
// augmentation is "none" when shuffle is 0.
hpff_loader *hpff_loader_create(const hpff_dataset *ds, const hpff_loader_opts *o);
// The same for data-parallel replica share.replica of share.replicas (sampler.h).
hpff_loader *hpff_loader_create_share(const hpff_dataset *ds, const hpff_loader_opts *o,
                                      hpff_share share);

#ifdef __cplusplus
}
#endif
#endif
