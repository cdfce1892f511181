// h5util.h — small HDF5 helpers shared by the dataset readers and writers, checkpoints and weight
// files: silencing HDF5's own error-stack printing, type names for error messages, attributes
// written the way h5py reads them (variable-length UTF-8 strings, native numbers), and the
// exclusive creation of a temporary file that every writer renames into place.
#ifndef HPFF_H5UTIL_H
#define HPFF_H5UTIL_H
#include <stddef.h>
#include <hdf5.h>
#include "check.h"
#ifdef __cplusplus
extern "C" {
#endif

// Saved automatic error handler of the calling thread; quiet_begin clears it, quiet_end
// restores it, so our own messages replace HDF5's stack dumps.
typedef struct hpff_h5_quiet {
    H5E_auto2_t func;
    void *data;
} hpff_h5_quiet;
void hpff_h5_quiet_begin(hpff_h5_quiet *q);
void hpff_h5_quiet_end(const hpff_h5_quiet *q);

// Writes a readable name of a datatype ("uint8", "int64", "float32", "string", ...) into buf.
void hpff_h5_type_name(hid_t type, char *buf, size_t len);
// Short description of a dataset's type and shape, e.g. "float32 (10, 5, 5)".
void hpff_h5_describe(hid_t dset, char *buf, size_t len);

// Reads a scalar string attribute (fixed or variable length). Returns 0 on success, -1 when
// the attribute does not exist, -2 when it is not a scalar string or cannot be read.
int hpff_h5_read_str_attr(hid_t obj, const char *name, char *buf, size_t len);
// A character dataset (e.g. a checkpoint's config or tensor table) as a NUL-terminated string
// the caller frees; NULL when the dataset is absent or cannot be read.
char *hpff_h5_read_text(hid_t obj, const char *name);
// Reads a numeric attribute of exactly `count` elements converted to `mem_type`. Returns 0,
// -1 when absent, -2 when not numeric, -3 when the element count differs (*found set).
int hpff_h5_read_num_attr(hid_t obj, const char *name, hid_t mem_type, void *out, int count,
                          int *found);

// Creates the HDF5 file `tmp` (the temporary name of `final`) exclusively: an existing file or
// symbolic link of that name is never followed, truncated or reused (O_CREAT | O_EXCL). With
// `replace_leftover` (a writer that owns the folder, e.g. under the run-dir lock, so the name can
// only be a killed predecessor's) an existing name is removed first; otherwise it is refused.
// fapl: file access properties (H5P_DEFAULT). Returns the file, or -1 with *st naming tmp and the
// reason; a file a failed create left behind (a full disk) is removed.
hid_t hpff_h5_create_tmp(const char *tmp, const char *final, hid_t fapl, int replace_leftover, hpff_status *st);

// Writers; each returns 0 on success, -1 on failure.
int hpff_h5_write_str_attr(hid_t obj, const char *name, const char *value);
int hpff_h5_write_str_array_attr(hid_t obj, const char *name, const char *const *values, int n);
int hpff_h5_write_num_attr(hid_t obj, const char *name, hid_t file_type, hid_t mem_type,
                           const void *values, int n);   // n = 0: scalar

#ifdef __cplusplus
}
#endif
#endif
