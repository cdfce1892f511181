// head.h — auxiliary heads (seam 4): a head reads a feature map h and produces a loss and its
// gradient at h. Kinds: the final classifier Φ, DGL, InfoPro (classifier + decoder), PredSim
// (similarity + prediction); PFF wraps a head's input into n x n patches. A head owns no
// activation memory: the rank hands every head the same work area, one head at a time.
#ifndef HPFF_HEAD_H
#define HPFF_HEAD_H
#include <stdint.h>
#include "layer.h"
#include "seq.h"
#ifdef __cplusplus
extern "C" {
#endif

// The whole map's first pool that a module's pooled DGL heads (IL and CL, the same layout) share:
// the first one pools h into its work area at `at` and notes it here; the next one with the same
// key finds it there. The stage clears it after each forward (src = NULL: nothing noted).
typedef struct hpff_pool_memo {
    const float *src;         // the map pooled
    const float *at;          // where its pooled map lies in the head work area
    int n, c, h, w, ph, pw;
} hpff_pool_memo;

typedef struct hpff_head_io {
    int n;                    // batch
    const float *h;           // (n, c, H, W) the feature the head reads
    const int32_t *labels;    // (n) device labels
    const float *target;      // (n, C_img, S, S) reconstruction target x~ in [0,1], or NULL
    float weight;             // level weight (w_I or w_C); the loss gradient is scaled by it
    float *dh;                // out: dh = beta*dh + weight * dL/dh (NULL: parameter grads only)
    float beta;
    float *work;              // the rank's head work area (hpff_head.work_floats at n_max)
    float *stat;              // (HPFF_STAT_FLOATS) device stat block: the head ADDS its unweighted
                              // loss L and its hits (backend.h); read back once per step
    hpff_pool_memo *memo;     // the module's shared first pool, or NULL
} hpff_head_io;

// The host view of one head's stat block.
typedef struct hpff_head_result {
    float loss;               // unweighted loss L
    int correct1, correct5;   // classification hits (when has_acc)
    int has_acc;
} hpff_head_result;

typedef struct hpff_head hpff_head;
typedef struct hpff_head_ops {
    const char *kind;
    // Train step: forward, loss, backward (parameter grads accumulate into ex->grads).
    void (*step)(hpff_head *hd, hpff_exec *ex, const hpff_head_io *io);
    // Evaluation forward (running BN statistics): loss and accuracy only.
    void (*eval)(hpff_head *hd, hpff_exec *ex, const hpff_head_io *io);
    void (*destroy)(hpff_head *hd);
} hpff_head_ops;

struct hpff_head {
    const hpff_head_ops *ops;
    void *priv;
    hpff_shape in;
    size_t work_floats;       // work area needed at the planned batch
    size_t ws_bytes;          // conv workspace needed
    size_t scratch_floats;    // ex->scratch needed
    size_t flops_per_sample;  // forward cost (pipeline plan)
    int has_acc;              // the loss is a classification (hits are counted)
    char name[64];
};

void hpff_head_free(hpff_head *hd);
// Decodes a host copy of the head's stat block; fails naming the head on labels out of range.
void hpff_head_result_of(const hpff_head *hd, const float *host_stat, hpff_head_result *r);
// Runs step (train) or eval on a fresh stat block and reads it back at once: one device
// synchronisation per call, for tests and tools (the trainer reads a whole step's stats at once).
// io->stat is ignored.
void hpff_head_run_now(hpff_head *hd, hpff_exec *ex, const hpff_head_io *io, int train, hpff_head_result *r);

// A classifier head: seq (already planned, output = logits) + softmax cross-entropy.
// Takes ownership of seq. Used for Φ and for DGL / InfoPro classifier branches.
hpff_head *hpff_head_classifier(const char *name, hpff_seq *seq, int classes);
// Forward + CE + backward of a planned classifier seq inside `work` (seq.slot_floats +
// hpff_seq_grad_pair + n*classes floats). Shared by the heads that contain classifiers.
void hpff_classifier_run(hpff_seq *seq, hpff_exec *ex, int classes, const hpff_head_io *io, int train);
size_t hpff_classifier_work(const hpff_seq *seq, int classes);
// The logits of the last step/eval of a plain classifier head, inside its work area.
const float *hpff_classifier_logits(const hpff_head *hd, const float *work);

#ifdef __cplusplus
}
#endif
#endif
