// h5util.c — HDF5 helpers for the data layer (see h5util.h).
#include "h5util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void hpff_h5_quiet_begin(hpff_h5_quiet *q) {
    if (H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data) < 0) { q->func = NULL; q->data = NULL; }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void hpff_h5_quiet_end(const hpff_h5_quiet *q) { H5Eset_auto2(H5E_DEFAULT, q->func, q->data); }

void hpff_h5_type_name(hid_t type, char *buf, size_t len) {
    size_t bits = H5Tget_size(type) * 8;
    switch (H5Tget_class(type)) {
    case H5T_INTEGER:
        snprintf(buf, len, "%s%zu", H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int", bits);
        break;
    case H5T_FLOAT: snprintf(buf, len, "float%zu", bits); break;
    case H5T_STRING: snprintf(buf, len, "string"); break;
    case H5T_COMPOUND: snprintf(buf, len, "compound"); break;
    case H5T_ENUM: snprintf(buf, len, "enum (e.g. bool)"); break;
    case H5T_ARRAY: snprintf(buf, len, "array type"); break;
    case H5T_VLEN: snprintf(buf, len, "variable-length type"); break;
    case H5T_REFERENCE: snprintf(buf, len, "reference"); break;
    default: snprintf(buf, len, "an unsupported type"); break;
    }
}

void hpff_h5_describe(hid_t dset, char *buf, size_t len) {
    hid_t type = H5Dget_type(dset), space = H5Dget_space(dset);
    char tname[48] = "?";
    if (type >= 0) hpff_h5_type_name(type, tname, sizeof tname);
    int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    hsize_t dims[H5S_MAX_RANK];
    size_t used = (size_t)snprintf(buf, len, "%s (", tname);
    if (rank > 0 && H5Sget_simple_extent_dims(space, dims, NULL) == rank)
        for (int i = 0; i < rank && used < len; i++)
            used += (size_t)snprintf(buf + used, len - used, "%s%llu", i ? ", " : "",
                                     (unsigned long long)dims[i]);
    if (used < len) snprintf(buf + used, len - used, rank == 0 ? "scalar)" : ")");
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
}

char *hpff_h5_read_text(hid_t obj, const char *name) {
    hid_t ds = H5Dopen2(obj, name, H5P_DEFAULT);
    if (ds < 0) return NULL;
    hid_t sp = H5Dget_space(ds);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    char *s = hpff_xcalloc((size_t)n + 1, 1);
    if (H5Dread(ds, H5T_NATIVE_CHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, s) < 0) { free(s); s = NULL; }
    H5Sclose(sp);
    H5Dclose(ds);
    return s;
}

int hpff_h5_read_str_attr(hid_t obj, const char *name, char *buf, size_t len) {
    if (H5Aexists(obj, name) <= 0) return -1;
    int rc = -2;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t ft = a >= 0 ? H5Aget_type(a) : -1;
    hid_t sp = a >= 0 ? H5Aget_space(a) : -1;
    if (ft < 0 || sp < 0 || H5Tget_class(ft) != H5T_STRING || H5Sget_simple_extent_npoints(sp) != 1)
        goto done;
    if (H5Tis_variable_str(ft) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft));
        char *s = NULL;
        if (H5Aread(a, mt, &s) >= 0 && s) {
            snprintf(buf, len, "%s", s);
            H5free_memory(s);
            rc = 0;
        }
        H5Tclose(mt);
    } else {
        size_t n = H5Tget_size(ft);
        char *tmp = calloc(n + 1, 1);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, n + 1);
        H5Tset_strpad(mt, H5T_STR_NULLTERM);
        if (tmp && H5Aread(a, mt, tmp) >= 0) { snprintf(buf, len, "%s", tmp); rc = 0; }
        H5Tclose(mt);
        free(tmp);
    }
done:
    if (sp >= 0) H5Sclose(sp);
    if (ft >= 0) H5Tclose(ft);
    if (a >= 0) H5Aclose(a);
    return rc;
}

int hpff_h5_read_num_attr(hid_t obj, const char *name, hid_t mem_type, void *out, int count,
                          int *found) {
    if (H5Aexists(obj, name) <= 0) return -1;
    int rc = -2;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t ft = a >= 0 ? H5Aget_type(a) : -1;
    hid_t sp = a >= 0 ? H5Aget_space(a) : -1;
    if (ft < 0 || sp < 0) goto done;
    H5T_class_t cls = H5Tget_class(ft);
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) goto done;
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    if (found) *found = (int)n;
    if (n != count) { rc = -3; goto done; }
    if (H5Aread(a, mem_type, out) >= 0) rc = 0;
done:
    if (sp >= 0) H5Sclose(sp);
    if (ft >= 0) H5Tclose(ft);
    if (a >= 0) H5Aclose(a);
    return rc;
}

static int write_attr(hid_t obj, const char *name, hid_t ftype, hid_t mtype, hid_t space,
                      const void *buf) {
    if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
    hid_t a = H5Acreate2(obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a >= 0 && H5Awrite(a, mtype, buf) >= 0 ? 0 : -1;
    if (a >= 0) H5Aclose(a);
    return rc;
}

static hid_t vlen_utf8(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

int hpff_h5_write_str_attr(hid_t obj, const char *name, const char *value) {
    hid_t t = vlen_utf8(), sp = H5Screate(H5S_SCALAR);
    int rc = write_attr(obj, name, t, t, sp, &value);
    H5Sclose(sp);
    H5Tclose(t);
    return rc;
}

int hpff_h5_write_str_array_attr(hid_t obj, const char *name, const char *const *values, int n) {
    hsize_t dim = (hsize_t)n;
    hid_t t = vlen_utf8(), sp = H5Screate_simple(1, &dim, NULL);
    int rc = write_attr(obj, name, t, t, sp, values);
    H5Sclose(sp);
    H5Tclose(t);
    return rc;
}

int hpff_h5_write_num_attr(hid_t obj, const char *name, hid_t file_type, hid_t mem_type,
                           const void *values, int n) {
    hsize_t dim = (hsize_t)n;
    hid_t sp = n == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL);
    int rc = write_attr(obj, name, file_type, mem_type, sp, values);
    H5Sclose(sp);
    return rc;
}

hid_t hpff_h5_create_tmp(const char *tmp, const char *final, hid_t fapl, int replace_leftover, hpff_status *st) {
    struct stat sb;
    if (replace_leftover) unlink(tmp);   // the name itself, never what a link points to
    else if (lstat(tmp, &sb) == 0) {
        *st = hpff_status_fail("'%s' already exists (another process writing %s, or left by a killed one%s); "
                               "remove it and run again", tmp, final,
                               S_ISLNK(sb.st_mode) ? "; it is a symbolic link and is never followed" : "");
        return -1;
    }
    hpff_h5_quiet q;
    hpff_h5_quiet_begin(&q);
    hid_t f = H5Fcreate(tmp, H5F_ACC_EXCL, H5P_DEFAULT, fapl);   // O_CREAT | O_EXCL
    hpff_h5_quiet_end(&q);
    if (f >= 0) return f;
    int left = lstat(tmp, &sb) == 0;   // it did not exist a moment ago: ours, half made
    if (left && S_ISREG(sb.st_mode)) unlink(tmp);
    *st = hpff_status_fail("cannot create '%s' for %s (does its folder exist and is it writable? is the disk "
                           "full?)", tmp, final);
    return -1;
}
