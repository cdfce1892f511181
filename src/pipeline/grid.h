// grid.h — data-parallel replicas of the pipeline (PP x DP; ARCHITECTURE "Replicas of the
// pipeline"): N ranks = S stages x R replicas. World rank = replica * S + stage, so the ranks of
// one pipeline are consecutive (a node holds whole pipelines where it can, and activations stay on
// the node's links); the ranks of one stage across the replicas form that stage's data-parallel
// communicator (MPI_Comm_split by stage, ordered by replica). Also the few collectives the
// replicas need besides the gradient reduction (reducer.h): broadcast from replica 0, sums over a
// stage, a gather of one number per rank, a barrier. They are posted non-blocking and polled, so a
// replica that stops answering ends the job after g->timeout_s naming the rank, its host and the
// collective, instead of hanging it. Built without MPI it is a grid of one.
#ifndef HPFF_GRID_H
#define HPFF_GRID_H
#include <stdint.h>
#include <stdio.h>
#include "check.h"
#include "world.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hpff_grid_comms hpff_grid_comms;   // the MPI communicators (grid.c)

typedef struct hpff_grid {
    int stages, replicas;       // S, R (N = S * R)
    int stage, replica;         // this rank's place
    int rank, size;             // world rank = replica * stages + stage, N
    double timeout_s;           // a collective below or a reducer's (reducer.h) that takes longer
                                //   ends the job (0: never; pipeline.timeout, set by the caller)
    hpff_grid_comms *comms;     // NULL for a grid of one or without MPI
} hpff_grid;

// The stage count S for `ranks` ranks and a network of M local modules. want = pipeline.stages:
// 0 is the default (ranks itself when ranks <= M, else the largest divisor of ranks not above M);
// otherwise it must divide ranks and be at most M, or the error lists the values that work.
hpff_status hpff_grid_stages(int ranks, int M, int want, int *stages);
// "1, 2, 4": the stage counts that work for `ranks` ranks and M modules, into buf.
void hpff_grid_valid_stages(int ranks, int M, char *buf, size_t n);
// Places this rank on the grid of `stages` stages (must divide w->size) and splits the
// communicators; collective over the world.
void hpff_grid_init(hpff_grid *g, const hpff_world *w, int stages);
void hpff_grid_free(hpff_grid *g);
// World rank of (replica, stage).
static inline int hpff_grid_rank_of(const hpff_grid *g, int replica, int stage) {
    return replica * g->stages + stage;
}
// Rank 0 prints the grid (ranks and hosts of every replica; a pipeline that spans hosts is named);
// collective over the world (it gathers the host names).
void hpff_grid_print(const hpff_grid *g, FILE *f);
// Copies `bytes` at buf from replica 0 of this rank's stage to its other replicas.
void hpff_grid_stage_bcast(const hpff_grid *g, void *buf, size_t bytes);
// Gathers `bytes` from every replica of this rank's stage into all (replicas * bytes, in replica
// order) on its replica 0 (all may be NULL elsewhere).
void hpff_grid_stage_gather(const hpff_grid *g, const void *mine, void *all, size_t bytes);
// Sums v[0..n) over the replicas of this rank's stage, in place on every one of them.
void hpff_grid_stage_sum(const hpff_grid *g, double *v, int n);
// Gathers one number per rank into all[world rank] on every rank.
void hpff_grid_allgather_u64(const hpff_grid *g, uint64_t mine, uint64_t *all);
// Every rank of the world has arrived (before a checkpoint is marked complete).
void hpff_grid_barrier(const hpff_grid *g);
// Max of v over every rank, on every rank, with the grid's timeout (the epoch end's signal check).
int hpff_grid_max_int(const hpff_grid *g, int v);

// The pre-emption vote: every rank calls hpff_vote_step once per training step, at the same
// steps. The max of `mine` over the ranks, started as a non-blocking reduction at step s, is
// completed and returned at step s + lag (lag = the rank count: a rank never waits for one
// that is still a few pipeline steps behind); the returned value is thus the same on every
// rank at every step, and all ranks stop at the same step. One rank: `mine`, at once. Its waits
// are the grid's (g->timeout_s: a rank stopped mid-run ends the job instead of hanging it); g
// must outlive the vote.
typedef struct hpff_vote hpff_vote;
hpff_vote *hpff_vote_create(const hpff_grid *g);
int hpff_vote_step(hpff_vote *v, int mine);
// Completes the reductions in flight (every rank, at the same point) and frees the vote.
void hpff_vote_destroy(hpff_vote *v);

#ifdef __cplusplus
}
#endif
#endif
