// h5util.h — small HDF5 helpers shared by the dataset reader (dataset.c) and writer (dsfile.c):
// silencing HDF5's own error-stack printing, type names for error messages, and attributes
// written the way h5py reads them (variable-length UTF-8 strings, native numbers).
#ifndef HPFF_H5UTIL_H
#define HPFF_H5UTIL_H
#include <stddef.h>
#include <hdf5.h>
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
// Reads a numeric attribute of exactly `count` elements converted to `mem_type`. Returns 0,
// -1 when absent, -2 when not numeric, -3 when the element count differs (*found set).
int hpff_h5_read_num_attr(hid_t obj, const char *name, hid_t mem_type, void *out, int count,
                          int *found);

// Writers; each returns 0 on success, -1 on failure.
int hpff_h5_write_str_attr(hid_t obj, const char *name, const char *value);
int hpff_h5_write_str_array_attr(hid_t obj, const char *name, const char *const *values, int n);
int hpff_h5_write_num_attr(hid_t obj, const char *name, hid_t file_type, hid_t mem_type,
                           const void *values, int n);   // n = 0: scalar

#ifdef __cplusplus
}
#endif
#endif
