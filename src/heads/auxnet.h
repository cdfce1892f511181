// auxnet.h — building blocks of the auxiliary heads: a planned layer sequence, the n x n
// patch partition of ALGORITHM §5.4, and shared-weight builds of one net for several patch shapes.
#ifndef HPFF_AUXNET_H
#define HPFF_AUXNET_H
#include <stddef.h>
#include "layers.h"
#include "seq.h"
#ifdef __cplusplus
extern "C" {
#endif

// A head's layer sequence: an hpff_seq (whose gradient buffers are sized by the layer outputs,
// never the input: the input gradient goes straight to the caller) plus the sizes a head adds
// up when it shares one work area between its nets.
typedef struct hpff_auxnet {
    hpff_shape in, out;
    hpff_seq seq;
    int n_max;
    size_t slot_floats;      // activations of one forward at n_max
    size_t grad_floats;      // backward buffers at n_max: the seq's g0|g1 pair (hpff_seq_grad_pair)
    size_t ws_bytes, scratch_floats, flops_per_sample;
} hpff_auxnet;

void hpff_auxnet_init(hpff_auxnet *a, hpff_shape in);
// Appends a layer whose input matches the current output; takes ownership.
void hpff_auxnet_push(hpff_auxnet *a, hpff_layer *L);
// Fixes the slot layout for batches up to n_max. Call once after the last push.
void hpff_auxnet_plan(hpff_auxnet *a, int n_max);
void hpff_auxnet_free(hpff_auxnet *a);
// Runs every layer on x (n, in) inside `slot`; returns the output (inside the slot).
float *hpff_auxnet_forward(hpff_auxnet *a, hpff_exec *ex, int n, const float *x, float *slot);
// Output of the last forward into `slot`.
float *hpff_auxnet_output(const hpff_auxnet *a, float *slot);
// Backward from dy (n, out): parameter gradients accumulate; if dx != NULL, dx = beta*dx + J^T dy.
// `grad` holds grad_floats floats; dy may not lie inside it or inside the slot.
void hpff_auxnet_backward(hpff_auxnet *a, hpff_exec *ex, int n, const float *x, float *slot,
                          const float *dy, float *dx, float beta, float *grad);

// One window of a map: rows [r0, r0+h) x cols [c0, c0+w).
typedef struct hpff_patch { int r0, c0, h, w; } hpff_patch;
// The n x n partition of an h x w map (§5.4): cuts floor(k*h/n), floor(l*w/n), row-major; p has n*n.
void hpff_patch_grid(int h, int w, int n, hpff_patch *p);

// Called `count` times with k = 0..count-1; every call must declare the same tensors (names and
// sizes). Call 0 declares them in b's registries; later calls declare them in throwaway copies
// of the registries as they were before call 0, so every call's layers get call 0's offsets:
// one set of weights (and BN running statistics) shared by nets built for different shapes.
typedef void (*hpff_shared_build_fn)(hpff_build *b, void *arg, int k);
// Returns 0 (and a sentence in why) when a later call declares different tensors.
int hpff_build_shared(hpff_build *b, int count, hpff_shared_build_fn fn, void *arg, char *why,
                      size_t why_len);

#ifdef __cplusplus
}
#endif
#endif
