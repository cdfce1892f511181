// world.c — MPI start-up and collectives (or a world of one without MPI).
#include "world.h"
#include <stdlib.h>
#include <string.h>
#include "check.h"
#ifdef HPFF_MPI
#include <mpi.h>

static void mpi_abort_hook(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

#define HPFF_MPI_CHECK(call)                                                        \
    do {                                                                            \
        int rc_ = (call);                                                           \
        if (rc_ != MPI_SUCCESS) {                                                   \
            char es_[MPI_MAX_ERROR_STRING]; int len_ = 0;                           \
            MPI_Error_string(rc_, es_, &len_);                                      \
            hpff_fatal(__FILE__, __LINE__, #call, "MPI error: %s", es_);            \
        }                                                                           \
    } while (0)

void hpff_world_init(hpff_world *w, int *argc, char ***argv) {
    memset(w, 0, sizeof *w);
    HPFF_MPI_CHECK(MPI_Init(argc, argv));
    w->mpi = 1;
    // Errors return codes so our message is printed before the job is aborted.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &w->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &w->size);
    MPI_Comm local;
    HPFF_MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, w->rank, MPI_INFO_NULL, &local));
    MPI_Comm_rank(local, &w->local_rank);
    MPI_Comm_size(local, &w->local_size);
    MPI_Comm_free(&local);
    hpff_set_rank(w->rank);
    hpff_set_abort_hook(mpi_abort_hook);
}

void hpff_world_finalize(hpff_world *w) {
    if (w->mpi) MPI_Finalize();
    w->mpi = 0;
}

void hpff_world_bcast(const hpff_world *w, void *buf, size_t bytes, int root) {
    HPFF_CHECK(bytes < (1u << 31), "broadcast of %zu bytes is too large", bytes);
    if (w->size > 1) HPFF_MPI_CHECK(MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD));
}

void hpff_world_barrier(const hpff_world *w) {
    if (w->size > 1) HPFF_MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
}

void hpff_world_gather(const hpff_world *w, const void *mine, void *all, size_t bytes) {
    if (w->size == 1) { memcpy(all, mine, bytes); return; }
    HPFF_MPI_CHECK(MPI_Gather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, 0, MPI_COMM_WORLD));
}

double hpff_world_max(const hpff_world *w, double v) {
    double r = v;
    if (w->size > 1) HPFF_MPI_CHECK(MPI_Allreduce(&v, &r, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
    return r;
}

double hpff_world_sum(const hpff_world *w, double v) {
    double r = v;
    if (w->size > 1) HPFF_MPI_CHECK(MPI_Allreduce(&v, &r, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
    return r;
}
#else
void hpff_world_init(hpff_world *w, int *argc, char ***argv) {
    (void)argc; (void)argv;
    memset(w, 0, sizeof *w);
    w->size = w->local_size = 1;
}
void hpff_world_finalize(hpff_world *w) { (void)w; }
void hpff_world_bcast(const hpff_world *w, void *buf, size_t bytes, int root) { (void)w; (void)buf; (void)bytes; (void)root; }
void hpff_world_barrier(const hpff_world *w) { (void)w; }
void hpff_world_gather(const hpff_world *w, const void *mine, void *all, size_t bytes) { (void)w; memcpy(all, mine, bytes); }
double hpff_world_max(const hpff_world *w, double v) { (void)w; return v; }
double hpff_world_sum(const hpff_world *w, double v) { (void)w; return v; }
#endif
