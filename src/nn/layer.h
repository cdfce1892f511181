// layer.h — the layer seam (seam 2 of ARCHITECTURE.md). A layer maps (n, in) -> (n, out) with
// a small ops table; per-type private data sits behind `priv`. A layer never owns activation
// memory: the sequence that runs it hands it `y` and `saved` regions from a slot, so the same
// layer can keep two steps' activations (delayed pipeline) or none (evaluation).
#ifndef HPFF_LAYER_H
#define HPFF_LAYER_H
#include <stddef.h>
#include "backend.h"
#include "params.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hpff_shape { int c, h, w; } hpff_shape;   // one sample
static inline size_t hpff_shape_numel(hpff_shape s) { return (size_t)s.c * s.h * s.w; }

// What a layer sees of the world while it runs.
typedef struct hpff_exec {
    hpff_backend *be;
    float *params;      // this rank's parameter arena (device)
    float *grads;       // gradient arena, same offsets
    float *state;       // state arena (BN running statistics)
    void *ws;           // convolution workspace
    size_t ws_bytes;
    float *scratch;     // temporaries of one backward call (never kept between calls)
    size_t scratch_floats;
    int train;          // 1: train-mode batch norm; 0: running statistics
} hpff_exec;

typedef struct hpff_layer hpff_layer;
typedef struct hpff_layer_ops {
    const char *kind;
    // y (n, out) = f(x (n, in)); `saved` holds what backward needs beyond x and y.
    void (*forward)(hpff_layer *L, hpff_exec *ex, int n, const float *x, float *y, float *saved);
    // Given dy (n, out): if dx != NULL, dx (n, in) = beta*dx + J^T dy; if param_grads, the
    // parameter gradients are accumulated into ex->grads. x, y, saved are from forward.
    void (*backward)(hpff_layer *L, hpff_exec *ex, int n, const float *x, const float *y,
                     const float *saved, const float *dy, float *dx, float beta, int param_grads);
    void (*destroy)(hpff_layer *L);   // frees priv (may be NULL)
} hpff_layer_ops;

struct hpff_layer {
    const hpff_layer_ops *ops;
    void *priv;
    hpff_shape in, out;
    size_t saved_per_sample;   // floats of `saved` per sample
    size_t saved_fixed;        // floats of `saved` independent of the batch
    size_t ws_bytes;           // workspace bytes needed at the planned batch
    size_t scratch_per_sample; // floats of ex->scratch backward uses per sample
    size_t flops_per_sample;   // forward multiply-adds (cost model for the pipeline plan)
    int in_place;              // correct with y aliasing x (its backward reads only y): a sequence
                               // then stores no separate output for it
    int reads_y;               // its backward reads its own output y (so a following in-place
                               // layer must not overwrite y)
    int absorbs_relu;          // can apply a following ReLU itself (batch norm)
    int fused_relu;            // does so: the sequence skips that ReLU (set by hpff_seq_plan)
    int blocked;               // the channel block of the tensors it keeps or takes in oneDNN's
                               // layout (hpff_block_link, layers.h); 0: all NCHW
    char name[64];
};

static inline size_t hpff_layer_saved_floats(const hpff_layer *L, int n) {
    return L->saved_per_sample * (size_t)n + L->saved_fixed;
}
void hpff_layer_free(hpff_layer *L);

#ifdef __cplusplus
}
#endif
#endif
