// params.h — parameter and state registries. Layers declare tensors while the network is
// built; each declaration gets an offset into one arena per kind (parameters, gradients,
// momentum share offsets), so zeroing all gradients is one fill and a checkpoint is one
// dataset per arena. Initial values depend only on (seed, tensor name), never on which rank
// builds the tensor, so every pipeline partition starts from identical weights.
#ifndef HPFF_PARAMS_H
#define HPFF_PARAMS_H
#include <stddef.h>
#include <stdint.h>
#include "backend.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef enum hpff_init_kind {
    HPFF_INIT_ZERO,
    HPFF_INIT_ONE,
    HPFF_INIT_NORMAL,          // N(0, a^2)
    HPFF_INIT_UNIFORM,         // U(-a, a)
} hpff_init_kind;

typedef struct hpff_tensor_info {
    char name[112];            // global, rank-independent ("m3.b1.conv1.weight")
    size_t off, count;         // floats into the arena
    hpff_init_kind init;
    float a;                   // std (NORMAL) or bound (UNIFORM)
    int group;                 // owner for gradient routing/reporting (module or head index)
    int ndim;                  // PyTorch layout of the tensor (weight export/import): dims[0..ndim);
    int dims[4];               //   0 = one dimension of `count` (biases, BN vectors)
} hpff_tensor_info;

typedef struct hpff_registry {
    hpff_tensor_info *t;
    int n, cap;
    size_t total;              // floats
} hpff_registry;

// Declares a tensor; returns its offset. Offsets are padded to 16 floats (64-byte alignment).
size_t hpff_registry_add(hpff_registry *r, const char *name, size_t count, hpff_init_kind init,
                         float a, int group);
// Records the PyTorch shape of the tensor declared last (conv (c_out, c_in/g, kh, kw), linear
// (out, in)); the product must equal its count.
void hpff_registry_shape_last(hpff_registry *r, int ndim, const int *dims);
// "d0xd1x..." of tensor i into buf (its count when it has no recorded shape).
void hpff_tensor_shape_text(const hpff_tensor_info *t, char *buf, size_t len);
void hpff_registry_free(hpff_registry *r);
// Index of the tensor named `name`, or -1.
int hpff_registry_find(const hpff_registry *r, const char *name);
// Fills `host` (r->total floats) with the initial values for `seed`.
void hpff_registry_init_values(const hpff_registry *r, uint64_t seed, float *host);

// Counter-based RNG helpers shared with the data loader (splitmix64 stream per key).
uint64_t hpff_hash_str(const char *s);
uint64_t hpff_splitmix64(uint64_t *state);
double hpff_rng_uniform01(uint64_t *state);   // [0, 1)

// Fan-out He init std for a conv weight (ALGORITHM §1.9): sqrt(2 / (kh*kw*c_out)).
float hpff_he_fanout_std(int kh, int kw, int c_out);

#ifdef __cplusplus
}
#endif
#endif
