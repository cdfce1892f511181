// backend_prof.h — a profiling wrapper around a backend: where a training step's device time
// goes, op by op, and how many ops (kernel launches, roughly) it issues.
//
// hpff_backend_profiled(inner) returns a backend with the inner's name, host_memory and ctx
// whose ops call the inner's. Between step_begin and step_end every compute op (the whole
// table except memory) is counted and, while marks last, timed between two marks taken on the
// inner's stream (prof_mark: CUDA events, CPU clock), so nothing synchronises per op; memory ops
// (alloc, free, to_device, to_host, sync) are counted but not timed. Outside begin/end the
// wrapper only forwards. The marks themselves cost some time (two event records per op on
// CUDA), so per-op times are a little inflated and the step runs a little slower. What an op's
// time means on a GPU: from the moment the device reaches its start mark to its end mark. While
// the device runs behind the host (work queued) that is the op's device time; when the host is
// the bottleneck the device reaches the start mark at once and then waits for the launch, so the
// op's time also holds the host's time to issue it, and the idle time between ops is understated.
//
// Library ops are the ones backed by cuDNN/cuBLAS on CUDA: conv_fwd, conv_bwd_data,
// conv_bwd_filter, linear_fwd, linear_bwd_data, linear_bwd_weight (linear's bias and bias
// gradient are small own kernels counted with them). Every other compute op is "own".
//
// The wrapper cannot record graphs (graph_begin is NULL, so a stage runs op by op under it) and
// has no prof_* hooks of its own (it uses the inner's). hpff_backend_destroy on it frees the
// wrapper only: the caller still owns, and destroys, the inner backend afterwards.
#ifndef HPFF_BACKEND_PROF_H
#define HPFF_BACKEND_PROF_H
#include "backend.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef enum hpff_op_kind { HPFF_OP_OWN = 0, HPFF_OP_LIBRARY = 1, HPFF_OP_MEMORY = 2 } hpff_op_kind;

#define HPFF_PROF_MAX_OPS 48   // >= the number of wrapped table entries

typedef struct hpff_op_stat {
    const char *name;   // the table entry, e.g. "conv_fwd"
    hpff_op_kind kind;
    long calls;
    double ms;          // summed device time between the op's marks (0 for memory ops)
} hpff_op_stat;

typedef struct hpff_op_profile {
    int n_ops;                          // entries of op[]: every wrapped entry, called or not
    hpff_op_stat op[HPFF_PROF_MAX_OPS];
    long calls;                         // compute-op calls: library_calls + own_calls
    long library_calls, own_calls, memory_calls;
    double library_ms, own_ms;          // timed calls only
    double span_ms;                     // first timed call's start mark to the last one's end
    long untimed;                       // compute calls past the reserved marks: counted only
    int timed;                          // 0: the inner backend has no marks (all times 0)
    int steps;                          // steps summed in (hpff_op_profile_add); 1 from step_end
} hpff_op_profile;

// A profiling wrapper around `inner` with room for `max_marks` marks per step (two per timed
// call; calls beyond that are counted as untimed). Reserves the marks on the inner backend.
hpff_backend *hpff_backend_profiled(hpff_backend *inner, int max_marks);
// 1 when `be` was made by hpff_backend_profiled.
int hpff_backend_is_profiled(const hpff_backend *be);
// The backend the wrapper forwards to.
hpff_backend *hpff_backend_profiled_inner(hpff_backend *be);
// Starts counting and timing (clears the previous step's numbers).
void hpff_backend_profiled_step_begin(hpff_backend *be);
// Stops, synchronises the inner backend and fills `out` with the ops since step_begin.
void hpff_backend_profiled_step_end(hpff_backend *be, hpff_op_profile *out);
// sum += p, op by op (sum zeroed by the caller starts empty); for averages over several steps.
void hpff_op_profile_add(hpff_op_profile *sum, const hpff_op_profile *p);
// Writes the indices of sum->op[] with calls > 0 into idx, most time (by_calls: most calls)
// first; returns how many.
int hpff_op_profile_rank(const hpff_op_profile *p, int by_calls, int idx[HPFF_PROF_MAX_OPS]);

#ifdef __cplusplus
}
#endif
#endif
