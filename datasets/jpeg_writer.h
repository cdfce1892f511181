// jpeg_writer.h — writes one file of the encoded-JPEG layout (datasets/README.md), all or
// nothing: everything goes to "<path>.tmp", created with O_CREAT | O_EXCL (HDF5's
// H5F_ACC_EXCL: an existing file or symbolic link of that name is refused, never followed or
// truncated), renamed to <path> only by a successful commit; a failure or abort removes it.
// The bytes of each split go to an extendible dataset in whole 1 MiB chunks as they arrive;
// offsets, labels, heights, widths and names are written when the split ends.
#ifndef HPFF_JPEG_WRITER_H
#define HPFF_JPEG_WRITER_H
#include <stddef.h>
#include <stdint.h>
#include "check.h"

typedef struct hpff_jw hpff_jw;

typedef struct hpff_jw_meta {
    const char *source;                 // e.g. "imagenet"
    int classes;
    const char *const *class_names;     // (classes) wnids
    const char *const *class_words;     // (classes) or NULL
    const float *mean, *std;            // (3) [0, 1] units
    int shard, shards;                  // this file's index and the count
    int max_resolution, quality;        // conversion options, recorded as attributes
} hpff_jw_meta;

hpff_status hpff_jw_create(hpff_jw **out, const char *path, const hpff_jw_meta *meta);
// Starts split "train" or "test"; the previous one must have been ended.
hpff_status hpff_jw_begin(hpff_jw *w, const char *split);
// One image: its encoded bytes, label, stored size and name (path relative to the source).
hpff_status hpff_jw_append(hpff_jw *w, const uint8_t *bytes, size_t len, int label, int height,
                           int width, const char *name);
hpff_status hpff_jw_end(hpff_jw *w);
// Writes the root attributes, closes and renames; frees w on every outcome.
hpff_status hpff_jw_commit(hpff_jw *w);
// Closes, removes the temporary file, frees w. NULL is a no-op.
void hpff_jw_abort(hpff_jw *w);
// The temporary path ("<path>.tmp").
const char *hpff_jw_tmp(const hpff_jw *w);

#endif
