// reducer.h — averaging a stage's gradients over its replicas (PP x DP; ARCHITECTURE "Replicas
// of the pipeline"). After a module's parameter sweep the stage starts the average of that
// module's gradient spans (one bucket per module); they travel while the stage works on the next
// module, and the update waits for all of them (finish). Every replica receives the same sum and
// multiplies it by the same 1/R, so the replicas stay bitwise identical.
// Implementations: mpi (MPI_Iallreduce in place on host memory: the CPU backend, and GPUs that
// several ranks share, staged through a host buffer) and nccl (ncclAllReduce on a communication
// stream of its own, ordered after the compute stream by an event, when every rank has its own
// GPU). A failed or timed-out reduction ends the job naming the rank, host, collective and bucket.
#ifndef HPFF_REDUCER_H
#define HPFF_REDUCER_H
#include <stddef.h>
#include "backend.h"
#include "grid.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hpff_span { float *p; size_t n; } hpff_span;   // (n) floats in the backend's memory

typedef struct hpff_reducer hpff_reducer;
typedef struct hpff_reducer_ops {
    // Starts averaging the spans (one bucket, named `what` in messages) over the stage's replicas,
    // in place. They must not be touched until finish.
    void (*start)(hpff_reducer *r, const hpff_span *spans, int n_spans, const char *what);
    // Completes every started bucket: each span then holds the average over the replicas.
    void (*finish)(hpff_reducer *r);
    void (*destroy)(hpff_reducer *r);
} hpff_reducer_ops;

struct hpff_reducer {
    const hpff_reducer_ops *ops;
    void *ctx;
    const char *name;       // "mpi" or "nccl"
    int replicas;           // R
    double wait_s;          // seconds the host spent waiting in finish (the caller resets it)
};

// MPI_Iallreduce over the grid's stage communicator; max_floats bounds the floats started between
// two finishes (the host staging of a device backend). timeout_s (0: none) ends the job when a
// bucket takes longer. NULL where not built with MPI.
hpff_reducer *hpff_reducer_mpi_create(const hpff_grid *g, hpff_backend *be, size_t max_floats, double timeout_s);
// ncclAllReduce on a communicator per stage (collective over the stage's replicas: every rank
// of the world calls it). NULL where not built with NCCL.
hpff_reducer *hpff_reducer_nccl_create(const hpff_grid *g, hpff_backend *be, double timeout_s);

#ifdef __cplusplus
}
#endif
#endif
