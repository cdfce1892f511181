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

struct hpff_vote {
    int lag, size;
    long calls;
    MPI_Comm comm;       // its own communicator: never matched against the pipeline's messages
    MPI_Request *req;    // (lag) ring of reductions in flight (MPI_Test may complete them early)
    int *send, *recv;    // (lag)
};

hpff_vote *hpff_vote_create(const hpff_world *w) {
    hpff_vote *v = hpff_xcalloc(1, sizeof *v);
    v->size = w->size;
    v->lag = w->size;
    if (w->size == 1) return v;
    HPFF_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &v->comm));
    v->req = hpff_xcalloc((size_t)v->lag, sizeof *v->req);
    v->send = hpff_xcalloc((size_t)v->lag, sizeof *v->send);
    v->recv = hpff_xcalloc((size_t)v->lag, sizeof *v->recv);
    for (int i = 0; i < v->lag; i++) v->req[i] = MPI_REQUEST_NULL;
    return v;
}

int hpff_vote_step(hpff_vote *v, int mine) {
    if (v->size == 1) return mine;
    int slot = (int)(v->calls % v->lag), out = 0;
    if (v->calls++ >= v->lag) {   // the reduction started lag steps ago (a null request: done)
        HPFF_MPI_CHECK(MPI_Wait(&v->req[slot], MPI_STATUS_IGNORE));
        out = v->recv[slot];
    }
    v->send[slot] = mine;
    HPFF_MPI_CHECK(MPI_Iallreduce(&v->send[slot], &v->recv[slot], 1, MPI_INT, MPI_MAX, v->comm, &v->req[slot]));
    int flag;   // let the others progress while the pipeline's own calls are few
    for (int i = 0; i < v->lag; i++)
        if (v->req[i] != MPI_REQUEST_NULL) HPFF_MPI_CHECK(MPI_Test(&v->req[i], &flag, MPI_STATUS_IGNORE));
    return out;
}

void hpff_vote_destroy(hpff_vote *v) {
    if (!v) return;
    if (v->size > 1) {
        for (int i = 0; i < v->lag; i++)
            if (v->req[i] != MPI_REQUEST_NULL) HPFF_MPI_CHECK(MPI_Wait(&v->req[i], MPI_STATUS_IGNORE));
        MPI_Comm_free(&v->comm);
    }
    free(v->req);
    free(v->send);
    free(v->recv);
    free(v);
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
struct hpff_vote { int unused; };
hpff_vote *hpff_vote_create(const hpff_world *w) { (void)w; return hpff_xcalloc(1, sizeof(hpff_vote)); }
int hpff_vote_step(hpff_vote *v, int mine) { (void)v; return mine; }
void hpff_vote_destroy(hpff_vote *v) { free(v); }
#endif
