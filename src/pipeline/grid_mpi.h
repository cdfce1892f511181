// grid_mpi.h — the grid's stage communicator for the MPI and NCCL reducers (reducer_mpi.c,
// reducer_nccl.c); included only where MPI is built.
#ifndef HPFF_GRID_MPI_H
#define HPFF_GRID_MPI_H
#include <mpi.h>
#include "grid.h"

// A duplicate of this rank's stage communicator (R ranks, ordered by replica), so a reducer's
// collectives never interleave with the grid's own; the caller frees it with MPI_Comm_free.
MPI_Comm hpff_grid_stage_dup(const hpff_grid *g);

#endif
