// convert.h — the converters of hpff_data: one format per subcommand, each a probe (classes and
// names from the source folder) plus a reader per split that yields images in HWC uint8 order
// with 0-based labels. hpff_data.c drives them into dsfile.h's all-or-nothing writer.
#ifndef HPFF_CONVERT_H
#define HPFF_CONVERT_H
#include <stdint.h>
#include <stdio.h>
#include "check.h"

#define HPFF_CONV_MAX_CLASSES 100000

// What a source folder holds, found by probe.
typedef struct hpff_conv_info {
    int classes;
    char **class_names;         // (classes) or NULL; owned
    void *ctx;                  // format-private (e.g. the folder listing); freed by ctx_free
    void (*ctx_free)(void *ctx);
} hpff_conv_info;

// One split being read: n images of (h, w, c), handed out in order by read.
typedef struct hpff_conv_reader {
    int n, h, w, c;
    void *ctx;
    // Next `count` images (count, h, w, c) and labels in [0, classes).
    hpff_status (*read)(struct hpff_conv_reader *r, int count, uint8_t *images, int32_t *labels);
    void (*close)(struct hpff_conv_reader *r);
} hpff_conv_reader;

typedef struct hpff_conv_format {
    const char *name;           // the subcommand and the file's source attribute
    const char *files;          // what DIR must hold (for --help)
    const float *mean, *std;    // normalisation of ALGORITHM §6, or NULL (use the train stats)
    hpff_status (*probe)(const char *dir, hpff_conv_info *info);
    // Opens split "train" or "test"; on failure it has released everything it took.
    hpff_status (*open)(const char *dir, const char *split, const hpff_conv_info *info,
                        hpff_conv_reader *r);
} hpff_conv_format;

// The formats, in --help order; NULL-terminated.
extern const hpff_conv_format *const hpff_conv_formats[];
const hpff_conv_format *hpff_conv_find(const char *name);
extern const hpff_conv_format hpff_conv_fashion_mnist, hpff_conv_cifar10, hpff_conv_cifar100,
    hpff_conv_stl10, hpff_conv_svhn, hpff_conv_folder;

// Shared helpers.
void hpff_conv_info_free(hpff_conv_info *info);
// "<dir>/<name>" into buf; fails when it does not fit.
hpff_status hpff_conv_join(char *buf, size_t len, const char *dir, const char *name);
// Size of a regular file, or a status naming it and the reason. Notes the file as an input.
hpff_status hpff_conv_file_size(const char *path, long long *size);
// Remembers a file the conversion reads (by device and inode).
void hpff_conv_note_input(const char *path);
// Refuses an output path that is one of the noted inputs (it would be replaced by the rename).
hpff_status hpff_conv_check_output(const char *out);
// Forgets the noted inputs.
void hpff_conv_forget_inputs(void);
// Opens for reading with a message naming the file on failure.
hpff_status hpff_conv_fopen(const char *path, FILE **f);
// Reads exactly `bytes` or fails with "<path>: truncated at byte ...".
hpff_status hpff_conv_fread(FILE *f, void *buf, size_t bytes, const char *path, long long at);
// Class names: the non-empty lines of dir/file when it exists, else `fallback` (may be NULL).
void hpff_conv_names(hpff_conv_info *info, const char *dir, const char *file,
                     const char *const *fallback);
// Sorted (strcmp) names in `dir`: sub-folders (want_dirs) or regular files; hidden names
// skipped; entries of the other kind counted into *other (may be NULL). Free with
// hpff_conv_free_list.
hpff_status hpff_conv_list_dir(const char *dir, int want_dirs, char ***out, int *count, int *other);
void hpff_conv_free_list(char **v, int n);
// qsort / bsearch comparison of two char * elements.
int hpff_conv_cmp_str(const void *a, const void *b);
char *hpff_conv_strdup(const char *s);
// .png, .jpg or .jpeg in any case.
int hpff_conv_is_image_name(const char *name);

#endif
