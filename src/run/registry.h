// registry.h — the one place that knows which backends and transports were built, and that
// picks them for a run from the configuration (backend.device, pipeline.transport).
#ifndef HPFF_REGISTRY_H
#define HPFF_REGISTRY_H
#include <stddef.h>
#include "backend.h"
#include "config.h"
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
// The transport pipeline.transport asks for (collective: every rank calls it): local for one
// rank, nccl when asked for or (auto) when every rank has the CUDA backend and a GPU of its own,
// else mpi. Rank 0 prints the choice and why. NULL with the reason in `why` when the asked-for
// transport cannot connect these ranks. `max_floats` bounds one payload.
hpff_transport *hpff_transport_select(const hpff_config *c, const hpff_world *w, hpff_backend *be,
                                      size_t max_floats, char *why, size_t why_len);

#ifdef __cplusplus
}
#endif
#endif
