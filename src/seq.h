// seq.h — a sequence of layers run in order (a backbone module, a head). It plans where each
// layer's output and saved state live inside one activation slot, so a caller can keep one
// slot per step it must remember (delayed pipeline) and share scratch between sequences.
#ifndef HPFF_SEQ_H
#define HPFF_SEQ_H
#include "layer.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hpff_seq {
    hpff_layer **layers;
    int n, cap;
    hpff_shape in, out;
    int n_max;              // planned batch
    size_t *y_off;          // per layer: output offset in the slot (floats)
    size_t *saved_off;      // per layer: saved-state offset in the slot
    size_t slot_floats;     // one slot (outputs + saved state of every layer) at n_max
    size_t scratch_floats;  // ex->scratch the sequence needs at n_max
    size_t grad_floats;     // each of the two ping-pong gradient buffers at n_max
    size_t ws_bytes;        // max conv workspace
    size_t flops_per_sample;
} hpff_seq;

void hpff_seq_init(hpff_seq *s, hpff_shape in);
// Appends a layer (its input must match the current output shape); takes ownership.
void hpff_seq_push(hpff_seq *s, hpff_layer *L);
// Fixes the slot layout for batches up to n_max. Call once after the last push.
void hpff_seq_plan(hpff_seq *s, int n_max);
void hpff_seq_free(hpff_seq *s);
// Runs every layer; returns the last output (inside `slot`).
float *hpff_seq_forward(hpff_seq *s, hpff_exec *ex, int n, const float *x, float *slot);
// Output of the last layer of a slot filled by forward.
float *hpff_seq_output(const hpff_seq *s, float *slot);
// Backward from dy (n, out): dx (n, in) = beta*dx + J^T dy if dx != NULL; parameter grads are
// accumulated if param_grads. g0/g1 are two buffers of grad_floats each (dy may not alias them).
void hpff_seq_backward(hpff_seq *s, hpff_exec *ex, int n, const float *x, float *slot, const float *dy,
                       float *dx, float beta, int param_grads, float *g0, float *g1);

#ifdef __cplusplus
}
#endif
#endif
