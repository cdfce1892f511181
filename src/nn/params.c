// params.c — tensor registries and rank-independent initial values.
#include "params.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

size_t hpff_registry_add(hpff_registry *r, const char *name, size_t count, hpff_init_kind init,
                         float a, int group) {
    HPFF_CHECK(hpff_registry_find(r, name) < 0, "tensor '%s' declared twice", name);
    HPFF_CHECK(strlen(name) < sizeof r->t[0].name, "tensor name '%s' too long", name);
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 64;
        r->t = realloc(r->t, (size_t)r->cap * sizeof *r->t);
        HPFF_CHECK(r->t != NULL, "out of memory growing the tensor registry");
    }
    hpff_tensor_info *t = &r->t[r->n++];
    memset(t, 0, sizeof *t);
    strcpy(t->name, name);
    t->off = r->total;
    t->count = count;
    t->init = init;
    t->a = a;
    t->group = group;
    r->total += (count + 15) & ~(size_t)15;   // 64-byte aligned views for vector loads
    return t->off;
}

void hpff_registry_shape_last(hpff_registry *r, int ndim, const int *dims) {
    HPFF_CHECK(r->n > 0 && ndim >= 1 && ndim <= 4, "tensor shape of %d dimensions", ndim);
    hpff_tensor_info *t = &r->t[r->n - 1];
    size_t prod = 1;
    for (int i = 0; i < ndim; i++) prod *= (size_t)dims[i];
    HPFF_CHECK(prod == t->count, "tensor '%s': shape of %zu elements for %zu", t->name, prod, t->count);
    t->ndim = ndim;
    memcpy(t->dims, dims, (size_t)ndim * sizeof(int));
}

void hpff_tensor_shape_text(const hpff_tensor_info *t, char *buf, size_t len) {
    if (!t->ndim) {
        snprintf(buf, len, "%zu", t->count);
        return;
    }
    size_t off = 0;
    for (int i = 0; i < t->ndim && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, i ? "x%d" : "%d", t->dims[i]);
}

void hpff_registry_free(hpff_registry *r) {
    free(r->t);
    memset(r, 0, sizeof *r);
}

int hpff_registry_find(const hpff_registry *r, const char *name) {
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->t[i].name, name) == 0) return i;
    return -1;
}

uint64_t hpff_hash_str(const char *s) {   // FNV-1a
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

uint64_t hpff_splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double hpff_rng_uniform01(uint64_t *state) {
    return (double)(hpff_splitmix64(state) >> 11) * (1.0 / 9007199254740992.0);
}

static double rng_normal(uint64_t *s) {   // Box-Muller, one value per call
    double u1 = hpff_rng_uniform01(s), u2 = hpff_rng_uniform01(s);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void hpff_registry_init_values(const hpff_registry *r, uint64_t seed, float *host) {
    memset(host, 0, r->total * sizeof(float));
    for (int i = 0; i < r->n; i++) {
        const hpff_tensor_info *t = &r->t[i];
        uint64_t s = hpff_hash_str(t->name) ^ (seed * 0xD1B54A32D192ED03ull);
        float *p = host + t->off;
        for (size_t j = 0; j < t->count; j++) {
            switch (t->init) {
            case HPFF_INIT_ZERO: p[j] = 0.f; break;
            case HPFF_INIT_ONE: p[j] = 1.f; break;
            case HPFF_INIT_NORMAL: p[j] = (float)(t->a * rng_normal(&s)); break;
            case HPFF_INIT_UNIFORM: p[j] = (float)(t->a * (2.0 * hpff_rng_uniform01(&s) - 1.0)); break;
            }
        }
    }
}

float hpff_he_fanout_std(int kh, int kw, int c_out) {
    return (float)sqrt(2.0 / ((double)kh * kw * c_out));
}
