// feature_export.h — `hpff_pipe --export-features RUN_DIR`: a run's backbone and final head Φ
// from its newest complete, intact checkpoint (any rank count or partition), in evaluation mode
// over a data split; every unit's output (stem, each residual block) globally average-pooled, optionally one
// unit's full map, Φ's logits and the labels, into one HDF5 file for analysis/ (issue 17).
#ifndef HPFF_FEATURE_EXPORT_H
#define HPFF_FEATURE_EXPORT_H
#include "config.h"
#include "world.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hpff_features_opts {
    const char *run_dir;    // the run (its config.ini and checkpoints/)
    const char *split;      // "test" or "train" (no augmentation, file order)
    long n;                 // images, the first n of the split (0: all)
    const char *out;        // output file; NULL: RUN_DIR/features_<split>.h5
    int map_unit;           // unit whose full output map is written too (-1: none)
    int map_module;         // the same by the run's module index: its last unit (-1: none)
    int batch;              // images per forward (0: train.batch)
} hpff_features_opts;

// Writes the file; the configuration is the run's (config.ini) with the caller's overrides
// (backend.device, data.test_file, ...); w is a one-rank world. Returns 0, or 2 after a
// message naming what is wrong.
int hpff_features_export(const hpff_config *cfg, const hpff_world *w, const hpff_features_opts *o);

#ifdef __cplusplus
}
#endif
#endif
