// golden_util.h — reading the golden fixtures (tests/golden/*.h5): whole datasets converted to
// the requested type by HDF5 (NULL when the dataset is absent), and initial values by name.
#ifndef HPFF_GOLDEN_UTIL_H
#define HPFF_GOLDEN_UTIL_H
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "model.h"
#include "test_util.h"

static inline void *golden_read(hid_t f, const char *path, hid_t mem_type, size_t elem, size_t *count) {
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    if (d < 0) return NULL;
    hid_t sp = H5Dget_space(d);
    size_t n = (size_t)H5Sget_simple_extent_npoints(sp);
    void *v = malloc((n ? n : 1) * elem);
    if (H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) { free(v); v = NULL; }
    H5Sclose(sp);
    H5Dclose(d);
    if (count) *count = n;
    return v;
}
static inline float *golden_read_f(hid_t f, const char *path, size_t *count) {
    return golden_read(f, path, H5T_NATIVE_FLOAT, sizeof(float), count);
}
static inline double *golden_read_d(hid_t f, const char *path, size_t *count) {
    return golden_read(f, path, H5T_NATIVE_DOUBLE, sizeof(double), count);
}
static inline int32_t *golden_read_i32(hid_t f, const char *path, size_t *count) {
    return golden_read(f, path, H5T_NATIVE_INT32, sizeof(int32_t), count);
}

// A numeric attribute of the object at `path` ("/" for the file) as double; NAN when absent.
static inline double golden_attr_d(hid_t f, const char *path, const char *name) {
    double v = NAN;
    if (H5Aexists_by_name(f, path, name, H5P_DEFAULT) <= 0) return v;
    hid_t a = H5Aopen_by_name(f, path, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) return v;
    if (H5Aread(a, H5T_NATIVE_DOUBLE, &v) < 0) v = NAN;
    H5Aclose(a);
    return v;
}

// A numeric array attribute of n values as double; the values are NAN when absent or of another size.
static inline void golden_attr_vec(hid_t f, const char *path, const char *name, double *v, int n) {
    for (int i = 0; i < n; i++) v[i] = NAN;
    if (H5Aexists_by_name(f, path, name, H5P_DEFAULT) <= 0) return;
    hid_t a = H5Aopen_by_name(f, path, name, H5P_DEFAULT, H5P_DEFAULT);
    hid_t sp = H5Aget_space(a);
    if (H5Sget_simple_extent_npoints(sp) == n && H5Aread(a, H5T_NATIVE_DOUBLE, v) < 0)
        for (int i = 0; i < n; i++) v[i] = NAN;
    H5Sclose(sp);
    H5Aclose(a);
}

// A string attribute (fixed or variable length, as h5py writes them) into buf; 0 on success.
static inline int golden_attr_str(hid_t f, const char *path, const char *name, char *buf, size_t len) {
    buf[0] = 0;
    if (H5Aexists_by_name(f, path, name, H5P_DEFAULT) <= 0) return -1;
    hid_t a = H5Aopen_by_name(f, path, name, H5P_DEFAULT, H5P_DEFAULT);
    hid_t ft = H5Aget_type(a);
    int rc = -1;
    if (H5Tget_class(ft) == H5T_STRING && H5Tis_variable_str(ft) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft));
        char *s = NULL;
        if (H5Aread(a, mt, &s) >= 0 && s) { snprintf(buf, len, "%s", s); rc = 0; }
        if (s) H5free_memory(s);
        H5Tclose(mt);
    } else if (H5Tget_class(ft) == H5T_STRING) {
        size_t n = H5Tget_size(ft);
        char *s = calloc(n + 1, 1);
        if (H5Aread(a, ft, s) >= 0) { snprintf(buf, len, "%s", s); rc = 0; }
        free(s);
    }
    H5Tclose(ft);
    H5Aclose(a);
    return rc;
}

// A fixed-length string array (numpy "S64") as n names of up to 64 characters; NULL when absent.
static inline char (*golden_read_names(hid_t f, const char *path, size_t *n))[65] {
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    if (d < 0) return NULL;
    hid_t sp = H5Dget_space(d);
    size_t cnt = (size_t)H5Sget_simple_extent_npoints(sp);
    hid_t ty = H5Tcopy(H5T_C_S1);
    H5Tset_size(ty, 64);
    char *raw = calloc(cnt ? cnt : 1, 64);
    char (*out)[65] = calloc(cnt ? cnt : 1, 65);
    if (H5Dread(d, ty, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) < 0) { free(out); out = NULL; }
    for (size_t i = 0; out && i < cnt; i++) memcpy(out[i], raw + i * 64, 64);
    free(raw);
    H5Tclose(ty);
    H5Sclose(sp);
    H5Dclose(d);
    if (n) *n = cnt;
    return out;
}

// Loads /init/<name> of the fixture into every parameter and state tensor of the model; a
// missing or mis-sized tensor is a test failure. Returns the number loaded.
static inline int golden_load_init(hid_t f, hpff_model *md) {
    const hpff_registry *regs[2] = {&md->params, &md->state};
    int loaded = 0;
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < regs[r]->n; i++) {
            char path[256];
            size_t n = 0;
            snprintf(path, sizeof path, "/init/%s", regs[r]->t[i].name);
            float *v = golden_read_f(f, path, &n);
            TEST_CHECK(v && n == regs[r]->t[i].count, "%s missing or wrong size", path);
            if (v && n == regs[r]->t[i].count && hpff_model_set_tensor(md, regs[r]->t[i].name, v, n) == 0)
                loaded++;
            free(v);
        }
    return loaded;
}

// Compares every tensor of `reg` (gradients when grads, else values) with /<group>/<name>:
// |got - ref| <= atol + atol_frac*max|ref| + rtol*|ref| (atol_frac > 0 also requires a
// reference that is not all zero). Returns how many tensors were compared.
static inline int golden_compare(hid_t f, const hpff_model *md, const hpff_registry *reg, const char *group,
                                 int grads, double atol, double atol_frac, double rtol) {
    int compared = 0;
    for (int i = 0; i < reg->n; i++) {
        const hpff_tensor_info *t = &reg->t[i];
        char path[256];
        snprintf(path, sizeof path, "/%s/%s", group, t->name);
        size_t n = 0;
        float *ref = golden_read_f(f, path, &n);
        TEST_CHECK(ref && n == t->count, "%s missing or wrong size", path);
        if (!ref || n != t->count) { free(ref); continue; }
        float *got = malloc(n * sizeof(float));
        int rc = grads ? hpff_model_get_grad(md, t->name, got, n) : hpff_model_get_tensor(md, t->name, got, n);
        TEST_CHECK(rc == 0, "cannot read %s", t->name);
        double big = 0;
        for (size_t k = 0; k < n; k++) big = fabs(ref[k]) > big ? fabs(ref[k]) : big;
        if (atol_frac > 0) TEST_CHECK(big > 0, "%s: the reference is all zero", path);
        test_close(path, got, ref, n, atol + atol_frac * big, rtol);
        compared++;
        free(got);
        free(ref);
    }
    return compared;
}
#endif
