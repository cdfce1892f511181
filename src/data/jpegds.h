// jpegds.h — datasets of encoded JPEG images in HDF5 (the "jpeg" layout of datasets/README.md:
// root attribute format = "jpeg"; per split a uint8 byte dataset, int64 offsets, labels,
// heights and widths), possibly spread over several shard files read as one dataset. Opening
// reads and checks everything but the image bytes, maps where the bytes lie in each file
// (contiguous or unfiltered chunked storage) and closes HDF5; images are then read with pread,
// from any number of threads at once, without HDF5 (whose serial build is not thread-safe).
#ifndef HPFF_JPEGDS_H
#define HPFF_JPEGDS_H
#include <stddef.h>
#include <stdint.h>
#include "check.h"
#ifdef __cplusplus
extern "C" {
#endif

struct hpff_jpegds_file;

typedef struct hpff_jpegds {
    int n, classes;             // images over all files; classes (root attribute)
    int32_t *labels;            // (n) in [0, classes)
    int32_t *heights, *widths;  // (n) stored image sizes
    float mean[3], std[3];      // normalisation, [0, 1] units (root attributes)
    char source[64];            // root attribute source, e.g. "imagenet"
    char split[8];
    int files;
    struct hpff_jpegds_file *f; // (files)
} hpff_jpegds;

// 1 when the file (the first of a list, see below) has root attribute format = "jpeg", 0 when
// it has no format attribute (the pixel layout), -1 when it cannot be read as HDF5 (the pixel
// reader then says why), -2 for another format value (msg says which).
int hpff_jpegds_probe(const char *paths, char *msg, size_t len);
// Opens split "train" or "test". paths: one file, or a comma-separated list of files and glob
// patterns (each pattern's matches sorted), concatenated in that order. Every defect (missing
// file, wrong types or counts, offsets not increasing, labels out of range, shards of different
// conversions, compressed byte storage) is an error naming the file, the dataset and what was
// expected.
hpff_status hpff_jpegds_open(const char *paths, const char *split, hpff_jpegds *ds);
void hpff_jpegds_close(hpff_jpegds *ds);
// The encoded bytes of image i into *buf (grown as needed; *cap its size), *len set.
// Thread-safe. Errors name the file and the image.
hpff_status hpff_jpegds_read(const hpff_jpegds *ds, int i, uint8_t **buf, size_t *cap,
                             size_t *len);
// "file:/split image k" of image i, for messages.
void hpff_jpegds_where(const hpff_jpegds *ds, int i, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
