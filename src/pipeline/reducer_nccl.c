// reducer_nccl.c — replicas' gradient averages over NCCL (reducer.h), for ranks with a GPU each.
// MPI is the control plane: replica 0 of each stage makes the NCCL id and broadcasts it over the
// stage's communicator. NCCL is the data plane: one communicator per stage group (R ranks) and a
// non-blocking communication stream. start() makes the stream wait for the compute stream's work
// so far (the module's gradients are written), then issues the bucket's ncclAllReduce (sum, in
// place; its spans in one group). finish() makes the compute stream wait for the communication
// stream and scales every span by 1/R there, after the host has watched the reductions end (NCCL's
// asynchronous errors and pipeline.timeout end the job naming the collective; on a timeout the
// communicator is aborted first so that no rank stays blocked in it).
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cuda_runtime.h>
#include "cuda_backend.h"
#include "cuda_check.h"
#include "grid_mpi.h"
#include "system.h"
#include "reducer.h"
#include "transport_nccl.h"

typedef struct nccl_ctx {
    hpff_backend *be;
    cudaStream_t compute, comm_stream;
    cudaEvent_t fence, done;
    ncclComm_t comm;
    int stage, replicas;
    hpff_span *spans;           // started since the last finish (scaled in finish)
    int n_spans, cap_spans;
    char last[96];              // the last bucket started (messages)
    int n_buckets;
    double timeout_s;
} nccl_ctx;

static void keep_span(nccl_ctx *c, hpff_span s) {
    if (c->n_spans == c->cap_spans) {
        c->cap_spans = c->cap_spans ? 2 * c->cap_spans : 32;
        c->spans = realloc(c->spans, (size_t)c->cap_spans * sizeof *c->spans);
        HPFF_CHECK(c->spans != NULL, "out of host memory (reducer)");
    }
    c->spans[c->n_spans++] = s;
}

static void nccl_start(hpff_reducer *r, const hpff_span *spans, int n_spans, const char *what) {
    nccl_ctx *c = r->ctx;
    snprintf(c->last, sizeof c->last, "%s", what);
    c->n_buckets++;
    HPFF_CUDA_CHECK(cudaEventRecord(c->fence, c->compute));           // the gradients are written
    HPFF_CUDA_CHECK(cudaStreamWaitEvent(c->comm_stream, c->fence, 0));
    HPFF_NCCL_CHECK(ncclGroupStart());
    for (int i = 0; i < n_spans; i++) {
        if (!spans[i].n) continue;
        HPFF_NCCL_CHECK(ncclAllReduce(spans[i].p, spans[i].p, spans[i].n, ncclFloat32, ncclSum, c->comm,
                                      c->comm_stream));
        keep_span(c, spans[i]);
    }
    HPFF_NCCL_CHECK(ncclGroupEnd());
}

// Blocks the host until the communication stream has passed `done`, watching NCCL's errors and
// the timeout.
static void watch(nccl_ctx *c) {
    struct timespec nap = {0, 20000};
    double t0 = hpff_now();
    for (;;) {
        cudaError_t q = cudaEventQuery(c->done);
        if (q == cudaSuccess) return;
        if (q != cudaErrorNotReady) HPFF_CUDA_CHECK(q);
        ncclResult_t ae = ncclSuccess;
        HPFF_NCCL_CHECK(ncclCommGetAsyncError(c->comm, &ae));
        if (ae != ncclSuccess)
            hpff_fatal(__FILE__, __LINE__, "ncclAllReduce", "ncclAllReduce over the %d replicas of stage %d "
                       "(%d buckets this step, the last %s) failed: %s (%s)", c->replicas, c->stage,
                       c->n_buckets, c->last, ncclGetErrorString(ae), ncclGetLastError(c->comm));
        double waited = hpff_now() - t0;
        if (c->timeout_s > 0 && waited > c->timeout_s) {
            ncclCommAbort(c->comm);   // no rank stays blocked in it
            hpff_fatal(__FILE__, __LINE__, "ncclAllReduce", "ncclAllReduce over the %d replicas of stage %d "
                       "(%d buckets this step, the last %s) has not completed after %.0f s (pipeline.timeout): "
                       "a replica stopped or is far behind", c->replicas, c->stage, c->n_buckets, c->last, waited);
        }
        nanosleep(&nap, NULL);
    }
}

static void nccl_finish(hpff_reducer *r) {
    nccl_ctx *c = r->ctx;
    if (!c->n_buckets) return;
    double t0 = hpff_now();
    HPFF_CUDA_CHECK(cudaEventRecord(c->done, c->comm_stream));
    watch(c);
    HPFF_CUDA_CHECK(cudaStreamWaitEvent(c->compute, c->done, 0));
    float inv = 1.0f / (float)c->replicas;
    for (int i = 0; i < c->n_spans; i++) c->be->scale(c->be, c->spans[i].p, inv, c->spans[i].n);
    r->wait_s += hpff_now() - t0;
    c->n_spans = c->n_buckets = 0;
}

static void nccl_destroy(hpff_reducer *r) {
    nccl_ctx *c = r->ctx;
    nccl_finish(r);
    HPFF_CUDA_CHECK(cudaStreamSynchronize(c->comm_stream));
    HPFF_NCCL_CHECK(ncclCommFinalize(c->comm));
    HPFF_NCCL_CHECK(ncclCommDestroy(c->comm));
    HPFF_CUDA_CHECK(cudaEventDestroy(c->fence));
    HPFF_CUDA_CHECK(cudaEventDestroy(c->done));
    HPFF_CUDA_CHECK(cudaStreamDestroy(c->comm_stream));
    free(c->spans);
    free(c);
    free(r);
}

static const hpff_reducer_ops nccl_ops = {nccl_start, nccl_finish, nccl_destroy};

hpff_reducer *hpff_reducer_nccl_create(const hpff_grid *g, hpff_backend *be, double timeout_s) {
    HPFF_CHECK(strcmp(be->name, "cuda") == 0, "the NCCL reducer needs the CUDA backend, not '%s'", be->name);
    hpff_reducer *r = hpff_xcalloc(1, sizeof *r);
    nccl_ctx *c = hpff_xcalloc(1, sizeof *c);
    c->be = be;
    c->stage = g->stage;
    c->replicas = g->replicas;
    c->timeout_s = timeout_s;
    c->compute = (cudaStream_t)hpff_cuda_stream(be);
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    if (g->replica == 0) HPFF_NCCL_CHECK(ncclGetUniqueId(&id));
    MPI_Comm sc = hpff_grid_stage_dup(g);
    int rc = MPI_Bcast(&id, (int)sizeof id, MPI_BYTE, 0, sc);
    HPFF_CHECK(rc == MPI_SUCCESS, "MPI_Bcast of stage %d's NCCL id over its %d replicas failed", g->stage, g->replicas);
    MPI_Comm_free(&sc);
    // On the backend's device (current on this thread); collective over the stage's replicas.
    HPFF_NCCL_CHECK(ncclCommInitRank(&c->comm, g->replicas, id, g->replica));
    HPFF_CUDA_CHECK(cudaStreamCreateWithFlags(&c->comm_stream, cudaStreamNonBlocking));
    HPFF_CUDA_CHECK(cudaEventCreateWithFlags(&c->fence, cudaEventDisableTiming));
    HPFF_CUDA_CHECK(cudaEventCreateWithFlags(&c->done, cudaEventDisableTiming));
    r->ops = &nccl_ops;
    r->ctx = c;
    r->name = "nccl";
    r->replicas = g->replicas;
    return r;
}
