// model.h — what one rank holds of the network: its contiguous range of local modules [m0, m1]
// with their heads, the final head Φ when it owns module M-1, the parameter, gradient, momentum
// and state arenas, and the activation buffers every step and evaluation batch uses, all sized
// before the first step. The cascade and step buffers of the HiLo step belong to the stage
// (stage.h). A model built for sizing only holds no memory: it gives every module's cost inputs
// and, for any module range, the bytes a rank owning it allocates (hpff_rank_bytes, stage.h).
#ifndef HPFF_MODEL_H
#define HPFF_MODEL_H
#include <stdio.h>
#include "config.h"
#include "head.h"
#include "hilo.h"
#include "ledger.h"
#include "net.h"
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

typedef struct hpff_model {
    const hpff_config *cfg;
    hpff_backend *be;
    hpff_net_spec net;
    hpff_split split;
    hpff_hilo hilo;
    int M, m0, m1, n_max;       // modules of the network, the range held, the planned batch
    hpff_module *mod;           // (m1 - m0 + 1) modules, mod[k] is module m0 + k
    hpff_head *final;           // Φ, on the rank owning M-1
    hpff_registry params, state;
    int needs_target;           // the heads read the reconstruction target x~ (InfoPro)
    int opt_first;              // 1 until the first optimizer step (momentum init)
    hpff_ledger mem;            // every buffer below, by role (sizing: counted, not allocated)
    // arenas (device), one tensor view per registry entry
    float *p, *g, *mom;         // (params.total) parameters, gradients, SGD momentum
    float *st;                  // (state.total) BN running statistics
    hpff_exec ex;               // arenas, conv workspace and layer scratch as layers see them
    // activations (device), at n_max
    float *slot[2];             // (slot_by[i]) module k's activations but its output: slot k % 2
    float *out[3];              // (out_by[i]) module k's output h: out k % 3
    size_t slot_floats, in_floats_max, out_floats_max;
    size_t slot_by[2], out_by[3];   // the largest of the held modules using slot / out i (k = m - m0):
                                //   an unbalanced split (ResNet-152 K=4) has one heavy module
    size_t x_in_floats;         // n_max * |input of module m0|
    float *x_in;                // (n_max, in) the rank's input: images (rank 0) or received h
    int32_t *labels;            // (n_max)
    float *target;              // (n_max, C_img, H, W) reconstruction target x~ (needs_target)
    float *target_map;          // (4, C_img) std | mean | 0 | 1: x -> x~ on rank 0 (stage.c)
    float *head_work;           // (largest head work_floats) shared by all heads, one at a time
    hpff_pool_memo pool_memo;   // a module's IL and CL heads' shared first pool (stage.c)
    const char *work_head;      // the head that sizes it (memory report)
    float *stat;                // (2 * count + 1, HPFF_STAT_FLOATS) heads' losses and hits: il and cl
                                //   of each held module, then Φ; zeroed and read once per step
    float *g0, *g1;             // (largest seq grad_floats) ping-pong gradients of backward sweeps
} hpff_model;

// The classes Φ and the heads predict: model.classes, or the data's count when it is 0.
static inline int hpff_model_classes(const hpff_config *cfg, int data_classes) {
    return cfg->classes > 0 ? cfg->classes : data_classes;
}
// The network's cut into local modules (ALGORITHM §2.4) from the configuration alone: M is known
// before any data or build (the grid of stages and replicas is chosen from it).
hpff_status hpff_model_split(const hpff_config *cfg, hpff_split *sp);
// Builds modules [m0, m1] of the network the config describes, for inputs `in` and `classes`,
// and allocates their memory.
hpff_status hpff_model_build(hpff_model *md, const hpff_config *cfg, hpff_backend *be,
                             hpff_shape in, int classes, int m0, int m1);
// Every module of the network in one process (benchmarks, tests, the measured plan).
hpff_status hpff_model_build_all(hpff_model *md, const hpff_config *cfg, hpff_backend *be,
                                 hpff_shape in, int classes);
// Every module of the network without memory (sizing only): the one build the plan needs.
hpff_status hpff_model_size_all(hpff_model *md, const hpff_config *cfg, hpff_backend *be,
                                hpff_shape in, int classes);
typedef struct hpff_module_cost {
    double fwd_flops, head_flops;   // per sample
    double cost;                    // relative step cost (forward + sweeps + heads)
    size_t params;                  // parameters incl. heads
    double act_bytes;               // the module's activations but its output
    double out_bytes;               // its output
} hpff_module_cost;
// Cost inputs of every module (cost[md->M]) of a model holding all of them.
void hpff_model_module_costs(const hpff_model *md, hpff_module_cost *cost);
// One sizing build: M and every module's cost inputs (tests, tools).
hpff_status hpff_model_costs(const hpff_config *cfg, hpff_backend *be, hpff_shape in, int classes,
                             hpff_module_cost *cost, int *M);
// The model buffers a rank owning modules [m0, m1] allocates, recorded into `l` (a sizing
// ledger counts them) and set in v: v holds at least those modules (the rank's own model, or a
// copy of a full sizing model, whose buffer fields it overwrites: NULL when sizing).
void hpff_model_buffers(hpff_model *v, int m0, int m1, hpff_ledger *l);
// Copies a named tensor (parameter or state) between host and the arenas; -1 if unknown.
int hpff_model_set_tensor(hpff_model *md, const char *name, const float *host, size_t count);
int hpff_model_get_tensor(const hpff_model *md, const char *name, float *host, size_t count);
int hpff_model_get_grad(const hpff_model *md, const char *name, float *host, size_t count);
// Sets the initial parameter and state values (rank-independent, from cfg->seed).
void hpff_model_init_values(hpff_model *md);
void hpff_model_free(hpff_model *md);
// Floats of md->stat.
size_t hpff_model_stat_floats(const hpff_model *md);
// The module of global index m (held by md).
static inline hpff_module *hpff_model_module(const hpff_model *md, int m) { return &md->mod[m - md->m0]; }
// One SGD-Nesterov step over the whole parameter arena.
void hpff_model_sgd(hpff_model *md, float lr);

#ifdef __cplusplus
}
#endif
#endif
