// dsfile.h — writes a dataset file in the project's HDF5 layout (datasets/README.md), all or
// nothing: everything goes to "<path>.tmp", which is renamed to <path> only by a successful
// commit; any failure or an abort removes it. Used by hpff_data, the tests and the benchmark.
#ifndef HPFF_DSFILE_H
#define HPFF_DSFILE_H
#include <stdint.h>
#include "check.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hpff_dsfile hpff_dsfile;

// What the root attributes say besides the counts. mean/std NULL: the statistics computed over
// the train split are stored. class_names NULL: no class_names attribute.
typedef struct hpff_dsfile_meta {
    const char *source;              // e.g. "cifar10"
    const char *const *class_names;  // (classes) or NULL
    const float *mean, *std;         // (c) in [0, 1] units, or NULL
} hpff_dsfile_meta;

// Creates "<path>.tmp" for a dataset of `classes` classes.
hpff_status hpff_dsfile_create(hpff_dsfile **out, const char *path, int classes);
// Starts split "train" or "test" of n images (h, w, c); the previous split must be complete.
hpff_status hpff_dsfile_begin(hpff_dsfile *f, const char *split, int n, int h, int w, int c);
// Appends `count` images (count, h, w, c) uint8 and their labels to the current split.
hpff_status hpff_dsfile_append(hpff_dsfile *f, const uint8_t *images, const int32_t *labels,
                               int count);
// Per-channel mean and std ([0, 1] units, population std) of the train split written so far.
void hpff_dsfile_train_stats(const hpff_dsfile *f, float *mean, float *std);
// Images per class (classes entries) of split "train" or "test"; NULL if not started.
const int64_t *hpff_dsfile_class_counts(const hpff_dsfile *f, const char *split);
// Writes the root attributes, closes and renames to the final path. Frees f on every outcome
// (on failure the temporary file is removed).
hpff_status hpff_dsfile_commit(hpff_dsfile *f, const hpff_dsfile_meta *meta);
// Closes, removes the temporary file, frees f. NULL is a no-op.
void hpff_dsfile_abort(hpff_dsfile *f);
// The temporary path used for `path` ("<path>.tmp") into buf.
void hpff_dsfile_tmp_path(const char *path, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
