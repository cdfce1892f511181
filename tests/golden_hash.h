// golden_hash.h — the C side of tests/golden/golden_hash.py: hash-grid initial values and input
// pixels the hash-initialised fixtures do not store, sample indices, gradient statistics, and the
// comparisons of sampled tensors (tolerance |c - ref| <= atol + atol_frac*max|ref| + rtol*|ref|).
#ifndef HPFF_GOLDEN_HASH_H
#define HPFF_GOLDEN_HASH_H
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "golden_util.h"
#include "stage.h"
#include "test_util.h"

static inline uint64_t gh_hash(uint64_t key, uint64_t i) {
    uint64_t z = (key << 32) | i;
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// offset + scale*q, q = (hash >> 40) mod 127 - 63: exact in float.
static inline void gh_grid(uint64_t key, size_t count, double scale, double offset, float *out) {
    for (size_t i = 0; i < count; i++) {
        long q = (long)((gh_hash(key, i) >> 40) % 127) - 63;
        out[i] = (float)(offset + scale * (double)q);
    }
}

// (n, c, h, w) inputs: u = k/255 (float), x = (u - mean[c]) / std[c] in float.
static inline void gh_pixels(uint64_t key, int n, int c, int h, int w, const float *mean, const float *std, float *x) {
    size_t hw = (size_t)h * w, total = (size_t)n * c * hw;
    for (size_t i = 0; i < total; i++) {
        float u = (float)((gh_hash(key, i) >> 40) % 256) / 255.0f;
        int ch = (int)(i / hw % (size_t)c);
        x[i] = (u - mean[ch]) / std[ch];
    }
}

static inline size_t gh_nsamp(size_t count, size_t nsamp) { return count <= nsamp ? count : nsamp; }
static inline size_t gh_index(size_t count, size_t nsamp, size_t j) {
    return count <= nsamp ? j : (size_t)((uint64_t)j * count / nsamp);
}

// [sum g, sum |g|, ||g||_2, sum r_i g_i] in double.
static inline void gh_stat(const float *g, size_t n, double *s) {
    s[0] = s[1] = s[2] = s[3] = 0;
    for (size_t i = 0; i < n; i++) {
        double v = g[i], r = ((uint32_t)((uint64_t)i * 2654435761u) >= 2147483648u) ? 1.0 : -1.0;
        s[0] += v;
        s[1] += fabs(v);
        s[2] += v * v;
        s[3] += r * v;
    }
    s[2] = sqrt(s[2]);
}

// Compares the full tensor `got` (count) with its stored samples `ref` and statistics `stat`.
// Returns the number of failed checks (reported through test_util).
static inline int gh_compare(const char *what, const float *got, size_t count, const float *ref, size_t nsamp,
                             const double *stat, double atol, double atol_frac, double rtol, double stat_rtol,
                             double stat_atol) {
    size_t ns = gh_nsamp(count, nsamp);
    double big = 0;
    for (size_t j = 0; j < ns; j++) big = fabs(ref[j]) > big ? fabs(ref[j]) : big;
    float *mine = malloc(ns * sizeof(float));
    for (size_t j = 0; j < ns; j++) mine[j] = got[gh_index(count, nsamp, j)];
    int before = g_test_fail;
    test_close(what, mine, ref, ns, atol + atol_frac * big, rtol);
    free(mine);
    if (stat) {
        double s[4];
        gh_stat(got, count, s);
        double allow = stat_rtol * stat[1] + stat_atol * sqrt((double)count) + atol * (double)count;
        for (int k = 0; k < 4; k++)
            TEST_CHECK(fabs(s[k] - stat[k]) <= allow, "%s: statistic %d is %.9g, the reference %.9g (allowed %.3g)",
                       what, k, s[k], stat[k], allow);
    }
    return g_test_fail - before;
}

// Reads a string dataset (fixed-length, as h5py writes numpy bytes arrays) into rows of `width`.
static inline char *gh_read_names(hid_t f, const char *path, int *n, size_t *width) {
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    if (d < 0) return NULL;
    hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
    *width = H5Tget_size(t);
    *n = (int)H5Sget_simple_extent_npoints(sp);
    char *v = calloc((size_t)*n + 1, *width + 1);
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, *width + 1);
    H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    *width += 1;
    H5Tclose(mt);
    H5Tclose(t);
    H5Sclose(sp);
    H5Dclose(d);
    return v;
}

static inline double gh_attr_d(hid_t obj, const char *name) {
    double v = 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a >= 0) { H5Aread(a, H5T_NATIVE_DOUBLE, &v); H5Aclose(a); }
    return v;
}

static inline void gh_attr_f(hid_t obj, const char *name, float *out) {
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a >= 0) { H5Aread(a, H5T_NATIVE_FLOAT, out); H5Aclose(a); }
}
// The fixture's step (group or file g: attributes side and x_key, dataset y): n hashed images
// of 3 x side x side normalised by mean/std into *x, the labels into *y, then s set up on md
// and one gradient pass into stats. The caller frees *x, *y and s.
static inline void gh_stage_grads(hid_t g, int n, const float *mean, const float *std, hpff_model *md,
                                  hpff_transport *tr, hpff_stage *s, float **x, int32_t **y,
                                  hpff_step_stats *stats) {
    int side = (int)gh_attr_d(g, "side");
    *x = malloc((size_t)n * 3 * side * side * sizeof(float));
    gh_pixels((uint64_t)gh_attr_d(g, "x_key"), n, 3, side, side, mean, std, *x);
    *y = golden_read_i32(g, "y", NULL);
    hpff_stage_init(s, md, tr, mean, std, 3);
    hpff_stage_grads(s, *x, *y, n, stats);
}

#endif
