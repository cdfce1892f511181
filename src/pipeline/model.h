// model.h — what one rank holds: its contiguous range of local modules [m0, m1] with their
// heads, the final head Φ when it owns module M-1, the arenas (parameters, gradients,
// momentum, BN state) and every activation buffer, all sized before the first step.
#ifndef HPFF_MODEL_H
#define HPFF_MODEL_H
#include <stdio.h>
#include "config.h"
#include "head.h"
#include "hilo.h"
#include "resnet.h"
#include "split.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hpff_module {
    int m;                      // global index
    hpff_seq seq;               // the backbone units of F_m
    hpff_head *il, *cl;         // heads reading h_m (NULL where the schedule has none)
    size_t p_begin, p_end;      // F_m's parameters: [p_begin, p_end) of the arena
} hpff_module;

#define HPFF_MODEL_MAX_BUFFERS 40
typedef struct hpff_model_buffer { const char *name; size_t bytes; } hpff_model_buffer;

typedef struct hpff_model {
    const hpff_config *cfg;
    hpff_backend *be;
    hpff_resnet_spec net;
    hpff_split split;
    hpff_hilo hilo;
    int M, m0, m1, n_max;
    hpff_module *mod;           // m1 - m0 + 1 modules
    hpff_head *final;           // Φ, on the rank owning M-1
    hpff_registry params, state;
    float *p, *g, *mom, *st;    // device arenas: params/grads/momentum (params.total), state
    float *shadow;              // delayed mode: F_m1's parameters of the previous step | swap space
    float *pending;             // delayed mode: F_m1's gradient from the previous step's u, computed
    int pending_ready;          //   early (checkpoints save it, so delayed resume is exact)
    hpff_exec ex;
    // activations (device)
    float *slot[2];             // module activations but the output (module k of the rank: k % 2)
    float *out[3];              // module outputs (module k: k % 3)
    float *bnd[2];              // delayed mode: boundary module's activations | input | output,
                                //   per step parity
    size_t slot_floats, in_floats_max, out_floats_max, bnd_in_floats;
    size_t x_in_floats;         // the rank's input at n_max (x_in)
    float *x_in;                // (n_max, in) the rank's input: images (rank 0) or received h
    float *target;              // (n_max, image) reconstruction target x~ (when needed)
    float *target_map;          // (4, C_img) std | mean | 0 | 1: x -> x~ on rank 0 (stage.c)
    int32_t *labels;            // (n_max)
    float *head_work;           // shared by all heads, one at a time
    const char *work_head;      // the head that sizes it (memory report)
    float *stat;                // (2 * count + 1, HPFF_STAT_FLOATS) heads' losses and hits: il and cl
                                //   of each owned module, then Φ; zeroed and read once per step
    float *g0, *g1;             // ping-pong gradients of backward sweeps
    float *seed[2];             // c, then (a + c) [+ u], of the two modules in flight (stage.c)
    float *cbuf;                // Φ's cascade seed w_C dℓF (on the rank owning M-1, else NULL)
    float *ubuf;                // u_{m-1} when it stays on the rank and g0/g1 are too small (else NULL)
    float *up_send;             // u_{m0-1} while it is being sent upstream (NULL: nothing to send)
    float *u_recv;              // u_{m1} received from downstream (NULL: nothing arrives)
    hpff_model_buffer mem[HPFF_MODEL_MAX_BUFFERS];   // every device buffer allocated, by role
    int n_mem;
    int sizing;                 // hpff_model_plan_bytes: buffers counted, not allocated
    int needs_target;
    int opt_first;              // 1 until the first optimizer step (momentum init)
} hpff_model;

// Builds modules [m0, m1] of the network the config describes, for inputs `in` and `classes`.
hpff_status hpff_model_build(hpff_model *md, const hpff_config *cfg, hpff_backend *be,
                             hpff_shape in, int classes, int m0, int m1);
// Every module of the network in one process (benchmarks, tests, the measured plan).
hpff_status hpff_model_build_all(hpff_model *md, const hpff_config *cfg, hpff_backend *be,
                                 hpff_shape in, int classes);
typedef struct hpff_module_cost {
    double fwd_flops, head_flops;   // per sample
    double cost;                    // relative step cost (forward + sweeps + heads)
    size_t params;                  // parameters incl. heads
    double act_bytes;               // the module's activations but its output
    double out_bytes;               // its output
} hpff_module_cost;
// Builds the whole network without memory to learn M and each module's cost (pipeline plan).
hpff_status hpff_model_costs(const hpff_config *cfg, hpff_backend *be, hpff_shape in, int classes,
                             hpff_module_cost *cost, int *M);
// Copies a named tensor (parameter or state) between host and the arenas; -1 if unknown.
int hpff_model_set_tensor(hpff_model *md, const char *name, const float *host, size_t count);
int hpff_model_get_tensor(const hpff_model *md, const char *name, float *host, size_t count);
int hpff_model_get_grad(const hpff_model *md, const char *name, float *host, size_t count);
// Sets the initial parameter and state values (rank-independent, from cfg->seed).
void hpff_model_init_values(hpff_model *md);
void hpff_model_free(hpff_model *md);
// Bytes of every buffer a rank owning modules [m0, m1] allocates (hpff_model_bytes of that
// model), counted without allocating: the plan's memory column.
hpff_status hpff_model_plan_bytes(const hpff_config *cfg, hpff_backend *be, hpff_shape in, int classes,
                                  int m0, int m1, size_t *bytes);
// Floats of md->stat.
size_t hpff_model_stat_floats(const hpff_model *md);
// Bytes of device memory the model allocated (every buffer; the backend's own workspaces, e.g.
// cuBLAS's, are not included).
size_t hpff_model_bytes(const hpff_model *md);
// One line per buffer role: count, size, share of the total.
void hpff_model_memory_report(const hpff_model *md, FILE *f);
// One SGD-Nesterov step over the whole parameter arena.
void hpff_model_sgd(hpff_model *md, float lr);

#ifdef __cplusplus
}
#endif
#endif
