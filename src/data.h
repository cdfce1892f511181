// data.h — datasets in the project's HDF5 layout (datasets/README.md) and the training loader:
// per-epoch shuffle and augmentation that depend only on (seed, epoch, sample), never on the
// number of prefetch threads, so runs and resumes are reproducible.
#ifndef HPFF_DATA_H
#define HPFF_DATA_H
#include <stddef.h>
#include <stdint.h>
#include "check.h"
#include "ring.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hpff_dataset {
    int n, h, w, c;             // images stored (n, h, w, c) uint8
    int classes;
    uint8_t *images;
    int32_t *labels;            // (n), each in [0, classes)
    float mean[4], std[4];      // per channel, in [0, 1] units (normalise: (v/255 - mean)/std)
    char source[128];           // e.g. "fashion-mnist", "cifar10"
    char path[256];
} hpff_dataset;

// Loads split "train" or "test" of the file. Every defect of the file (missing, not HDF5,
// wrong dataset names, dtype, rank, counts, labels out of range, empty) is an error naming the
// file, the dataset and what was expected.
hpff_status hpff_dataset_load(const char *path, const char *split, hpff_dataset *ds);
void hpff_dataset_free(hpff_dataset *ds);
// Train and test must share the image shape (h, w, c) and the number of classes.
hpff_status hpff_dataset_check_compatible(const hpff_dataset *train, const hpff_dataset *test);

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
