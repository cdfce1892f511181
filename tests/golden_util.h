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
