// grid_mpi.h — the grid's stage communicator and its wait for a posted collective, for the MPI
// and NCCL reducers (reducer_mpi.c, reducer_nccl.c); included only where MPI is built.
#ifndef HPFF_GRID_MPI_H
#define HPFF_GRID_MPI_H
#include <mpi.h>
#include "grid.h"

// A duplicate of this rank's stage communicator (R ranks, ordered by replica), so a reducer's
// collectives never interleave with the grid's own; the caller frees it with MPI_Comm_free.
MPI_Comm hpff_grid_stage_dup(const hpff_grid *g);
// Completes the posted request of collective `what`, testing it with short sleeps in between
// (oversubscribed ranks yield the core); an MPI error, or more than g->timeout_s seconds since t0
// (pipeline.timeout; 0: never), ends the job naming `what` and this rank's place on the grid.
void hpff_grid_wait(const hpff_grid *g, MPI_Request *req, double t0, const char *what);

#endif
