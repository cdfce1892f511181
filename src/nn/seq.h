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
    int *skip;              // per layer: 1 for a ReLU the batch norm before it applies (fused)
    int grad_writes;        // gradients backward writes to g0/g1 before layer 0 (alternating)
    size_t slot_floats;     // one slot (outputs + saved state of every layer) at n_max
    int split_out;          // planned with hpff_seq_plan_split: the last output is not in the slot
    size_t out_floats;      // the last layer's output at n_max
    size_t scratch_floats;  // ex->scratch the sequence needs at n_max
    size_t grad_floats;     // each of the two ping-pong gradient buffers at n_max (the larger)
    size_t grad_par[2];     // what backward writes to g0 and to g1 at most (hpff_seq_grad_pair)
    size_t ws_bytes;        // max conv workspace
    size_t flops_per_sample;
} hpff_seq;

void hpff_seq_init(hpff_seq *s, hpff_shape in);
// Appends a layer (its input must match the current output shape); takes ownership.
void hpff_seq_push(hpff_seq *s, hpff_layer *L);
// Fixes the slot layout for batches up to n_max. Call once after the last push.
void hpff_seq_plan(hpff_seq *s, int n_max);
// The same, but the last layer's output lives outside the slot, in a buffer the caller passes to
// hpff_seq_forward_out / hpff_seq_backward_out: a caller that must keep a module's output longer
// than its other activations (the next module's backward reads it) keeps only that.
void hpff_seq_plan_split(hpff_seq *s, int n_max);
void hpff_seq_free(hpff_seq *s);
// Runs every layer; returns the last output (inside `slot`).
float *hpff_seq_forward(hpff_seq *s, hpff_exec *ex, int n, const float *x, float *slot);
// Output of the last layer of a slot filled by forward.
float *hpff_seq_output(const hpff_seq *s, float *slot);
// Split plans: forward with the last output written to `out` (out_floats); returns out.
float *hpff_seq_forward_out(hpff_seq *s, hpff_exec *ex, int n, const float *x, float *slot, float *out);
// Backward from dy (n, out): dx (n, in) = beta*dx + J^T dy if dx != NULL; parameter grads are
// accumulated if param_grads. g0/g1 are two buffers of grad_floats each (dy may not alias them).
void hpff_seq_backward(hpff_seq *s, hpff_exec *ex, int n, const float *x, float *slot, const float *dy,
                       float *dx, float beta, int param_grads, float *g0, float *g1);
// Floats of a g0|g1 pair laid out one after the other: grad_par[0] + grad_par[1], 16-aligned.
// backward alternates g0, g1, g0, ... from the last layer down, so the two may differ a lot (an
// upsampling first layer makes only one of them large).
size_t hpff_seq_grad_pair(const hpff_seq *s);
// g1 of such a pair starting at g0.
float *hpff_seq_grad_g1(const hpff_seq *s, float *g0);
// The one of g0/g1 that backward no longer uses when it writes dx (the other holds layer 0's
// output gradient): a caller may pass it as dx when it holds n_max * |in| floats.
float *hpff_seq_spare_grad(const hpff_seq *s, float *g0, float *g1);
// Split plans: backward with the last output in `out` (as forward_out left it).
void hpff_seq_backward_out(hpff_seq *s, hpff_exec *ex, int n, const float *x, float *slot, const float *out,
                           const float *dy, float *dx, float beta, int param_grads, float *g0, float *g1);

#ifdef __cplusplus
}
#endif
#endif
