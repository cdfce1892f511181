// world.h — the MPI control plane in one place: start-up, rank/size, the node-local rank (device
// choice), broadcast, barrier, gather, and the abort path used by hpff_fatal. Built without MPI
// it is a world of one.
#ifndef HPFF_WORLD_H
#define HPFF_WORLD_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hpff_world {
    int rank, size;
    int local_rank, local_size;   // within the node (MPI_COMM_TYPE_SHARED)
    int mpi;                      // 1 when MPI is initialised
} hpff_world;

void hpff_world_init(hpff_world *w, int *argc, char ***argv);
void hpff_world_finalize(hpff_world *w);
void hpff_world_bcast(const hpff_world *w, void *buf, size_t bytes, int root);
void hpff_world_barrier(const hpff_world *w);
// Gathers `bytes` from every rank into `all` (size*bytes) on rank 0.
void hpff_world_gather(const hpff_world *w, const void *mine, void *all, size_t bytes);
// Max / sum of a double over all ranks, result on every rank.
double hpff_world_max(const hpff_world *w, double v);
double hpff_world_sum(const hpff_world *w, double v);

#ifdef __cplusplus
}
#endif
#endif
