// registry.h — the one place that knows which backends and transports were built, and that
// picks them for a run from the configuration (backend.device, pipeline.transport).
#ifndef HPFF_REGISTRY_H
#define HPFF_REGISTRY_H
#include <stddef.h>
#include "backend.h"
#include "config.h"
#include "grid.h"
#include "reducer.h"
#include "transport.h"
#include "world.h"
#ifdef __cplusplus
extern "C" {
#endif

// The backend backend.device asks for on the rank of node-local index `local_rank`: CUDA (the
// node's GPUs taken in turn by its ranks; more ranks than GPUs share them) when asked for or
// available (auto), else the CPU with train.threads, wrapped by the op recorder when
// backend.graph is on. NULL with the reason in `why` when backend.device = cuda cannot be had.
hpff_backend *hpff_backend_select(const hpff_config *c, int local_rank, char *why, size_t why_len);
// The transport pipeline.transport asks for (collective: every rank calls it): local for a
// pipeline of one stage, nccl when asked for or (auto) when every rank has the CUDA backend and a
// GPU of its own, else mpi. Rank 0 prints the choice and why. NULL with the reason in `why` when
// the asked-for transport cannot connect these ranks. `max_floats` bounds one payload.
hpff_transport *hpff_transport_select(const hpff_config *c, const hpff_world *w, int stages, hpff_backend *be,
                                      size_t max_floats, char *why, size_t why_len);
// The replicas' gradient reducer (collective): NULL for one replica; ncclAllReduce on a stream of
// its own when every rank has the CUDA backend and a GPU of its own (unless pipeline.transport =
// mpi), else MPI_Iallreduce on host memory (staged for a device backend; max_floats bounds the
// floats averaged per step). Rank 0 prints the choice. NULL with `why` when MPI is not built.
hpff_reducer *hpff_reducer_select(const hpff_config *c, const hpff_world *w, const hpff_grid *g, hpff_backend *be,
                                  size_t max_floats, char *why, size_t why_len);

#ifdef __cplusplus
}
#endif
#endif
