// test_util.h — shared helpers for the C test binaries: a deterministic RNG, tolerance
// comparisons that print the first differing elements and the max error, and a summary line.
// A test binary returns hpff_test_summary() from main: non-zero when anything failed.
#ifndef HPFF_TEST_UTIL_H
#define HPFF_TEST_UTIL_H
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"

static int g_test_pass = 0, g_test_fail = 0;

// Sets train.method from its name (the tests pass methods as strings); fatal when unknown.
static inline void test_set_method(hpff_config *c, const char *method) {
    char set[64];
    snprintf(set, sizeof set, "train.method=%s", method);
    hpff_status st = hpff_config_set(c, set, NULL);
    HPFF_CHECK(!st.code, "%s", st.msg);
}

static inline uint64_t test_rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
// Uniform in [lo, hi).
static inline void test_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed) {
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * (float)((test_rng_next(&s) >> 11) * (1.0 / 9007199254740992.0));
}

// |a - b| <= atol + rtol*|ref| elementwise; prints up to 5 mismatches and the max error.
static inline int test_close(const char *what, const float *got, const float *ref, size_t n,
                             double atol, double rtol) {
    double max_err = 0;
    size_t bad = 0, worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - (double)ref[i]);
        int ok = e <= atol + rtol * fabs((double)ref[i]) && !isnan(got[i]);
        if (e > max_err || isnan(got[i])) { max_err = isnan(got[i]) ? INFINITY : e; worst = i; }
        if (!ok) {
            if (bad < 5)
                fprintf(stderr, "  %s[%zu]: got %.9g, expected %.9g (err %.3g)\n", what, i,
                        got[i], ref[i], e);
            bad++;
        }
    }
    if (bad) {
        fprintf(stderr, "FAIL %s: %zu of %zu elements differ, max err %.3g at %zu (atol %g rtol %g)\n",
                what, bad, n, max_err, worst, atol, rtol);
        g_test_fail++;
        return 0;
    }
    g_test_pass++;
    return 1;
}

#define TEST_CHECK(cond, ...)                                                         \
    do {                                                                              \
        if (cond) { g_test_pass++; }                                                  \
        else { g_test_fail++; fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
               fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); }                  \
    } while (0)

// Guard values: allocate n floats plus `TEST_GUARD` sentinels on both sides.
#define TEST_GUARD 16
#define TEST_GUARD_VALUE 1234.5f
static inline float *test_guarded_alloc(size_t n) {
    float *p = (float *)malloc((n + 2 * TEST_GUARD) * sizeof(float));
    for (size_t i = 0; i < n + 2 * TEST_GUARD; i++) p[i] = TEST_GUARD_VALUE;
    return p + TEST_GUARD;
}
static inline int test_guard_ok(const char *what, const float *p, size_t n) {
    for (size_t i = 0; i < TEST_GUARD; i++)
        if (p[-1 - (long)i] != TEST_GUARD_VALUE || p[n + i] != TEST_GUARD_VALUE) {
            fprintf(stderr, "FAIL %s: write outside the output (guard %zu)\n", what, i);
            g_test_fail++;
            return 0;
        }
    g_test_pass++;
    return 1;
}
static inline void test_guarded_free(float *p) { free(p - TEST_GUARD); }

// Prints "N passed, N failed" (a line CI reads) and returns the exit code.
static inline int hpff_test_summary(const char *name) {
    printf("%s: %d passed, %d failed\n", name, g_test_pass, g_test_fail);
    return g_test_fail ? 1 : 0;
}
// "dir/rel" in one of 8 rotating buffers: up to 8 results may be held at once (the file
// tests build paths under their mkdtemp folder this way).
static inline const char *test_path_in(const char *dir, const char *rel) {
    static char buf[8][4200];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", dir, rel);
    return p;
}

// Whether the text file at path (its first 64 KiB) contains needle; prints the text when not.
static inline int test_file_has(const char *path, const char *needle) {
    static char buf[65536];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = 0;
    if (f) fclose(f);
    int hit = strstr(buf, needle) != NULL;
    if (!hit) fprintf(stderr, "  %s lacks '%s':\n%s\n", path, needle, buf);
    return hit;
}

#endif
