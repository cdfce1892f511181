// dataset.h — datasets in the project's HDF5 layout (datasets/README.md), loaded whole into
// host memory with every defect of the file named.
#ifndef HPFF_DATASET_H
#define HPFF_DATASET_H
#include <stddef.h>
#include <stdint.h>
#include "check.h"
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

#ifdef __cplusplus
}
#endif
#endif
