// transport_nccl.c — pipeline neighbours over NCCL point-to-point, GPU buffer to GPU buffer
// (seam 7, "Across ranks"). MPI is the control plane: rank 0 makes the NCCL ids and broadcasts
// them, and the payload header {n, act floats, image floats} travels by MPI, so recv_down learns
// n without synchronising the device. NCCL is the data plane: the tensors of one message go as
// one ncclGroupStart/End of ncclSend/ncclRecv (labels as ncclInt32).
//
// Streams and events: every communicator has its own non-blocking stream (a lane). A send makes
// its lane wait for the compute stream's work so far (the data is written); a receive does the
// same (the previous readers of the buffer are done), and the compute stream then waits for the
// receive, so receives never block the host. wait_sends blocks the host (polling, so that
// oversubscribed ranks yield the core) until the lanes that sent since the last call are done.
//
// Three communicators over MPI_COMM_WORLD, not one: NCCL point-to-point calls block the GPU until
// matched and run in issue order per communicator, unlike MPI messages. With one queue, delayed
// mode deadlocks: rank r's send of u(t) upstream is matched by rank r-1 only in step t+1, behind
// r-1's payload for step t+1, which r receives only after wait_sends has seen u(t) go. So the
// payloads (downstream) have their own lane, and the cascade gradients (upstream) of the pair
// (p, p+1) use up lane p % 2: a rank's send upstream and its receive from downstream never share
// a queue, and every message waits only for the peer that takes it, as with MPI.
//
// Wait times: wait_down is the host's wait for the header plus the time the compute stream
// stood still for a received payload (measured with events, reported once both have passed,
// so a step's stall may show in the next step's numbers); wait_up is that stall for cascade
// gradients; wait_send is the host's time in wait_sends.
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cuda_runtime.h>
#include "cuda_backend.h"
#include "cuda_check.h"
#include "system.h"
#include "transport.h"
#include "transport_nccl.h"

enum { TAG_HEAD = 31 };
enum { LANE_DOWN, LANE_UP0, LANE_UP1, N_LANES };
enum { STALL_DOWN, STALL_UP };
#define N_STALL 8   // receives whose stall is not yet measured (a few per step)

typedef struct lane {
    ncclComm_t comm;
    cudaStream_t stream;
    cudaEvent_t sent;           // recorded after the lane's last send
    int has_sent;               // a send since the last wait_sends
} lane;

typedef struct stall {
    cudaEvent_t ready, done;    // compute reached the receive / the data arrived
    int kind, pending;
} stall;

typedef struct nccl_ctx {
    hpff_backend *be;
    cudaStream_t compute;       // the backend's stream
    cudaEvent_t fence;          // compute-stream position a send waits for
    lane lane[N_LANES];
    stall stall[N_STALL];
    int next_stall;
    size_t max_floats;
    long long head[3];          // n, act floats, image floats (kept alive for the Isend)
    MPI_Request head_req;
    double wait_down, wait_up, wait_send;
} nccl_ctx;

static const struct timespec nap = {0, 20000};

// Completes one MPI request, sleeping between polls.
static void wait_req(MPI_Request *r) {
    int done = 0;
    for (;;) {
        int rc = MPI_Test(r, &done, MPI_STATUS_IGNORE);
        HPFF_CHECK(rc == MPI_SUCCESS, "MPI_Test failed (a neighbouring rank died?)");
        if (done) return;
        nanosleep(&nap, NULL);
    }
}

static void check_async(nccl_ctx *c) {
    for (int i = 0; i < N_LANES; i++) {
        ncclResult_t ae = ncclSuccess;
        HPFF_NCCL_CHECK(ncclCommGetAsyncError(c->lane[i].comm, &ae));
        if (ae != ncclSuccess)
            hpff_fatal(__FILE__, __LINE__, "ncclCommGetAsyncError", "NCCL asynchronous error on lane %d: %s (%s)",
                       i, ncclGetErrorString(ae), ncclGetLastError(c->lane[i].comm));
    }
}

// 1 once the event has passed; 0 while pending.
static int event_done(cudaEvent_t e) {
    cudaError_t r = cudaEventQuery(e);
    if (r == cudaErrorNotReady) return 0;
    HPFF_CUDA_CHECK(r);
    return 1;
}

// Blocks the host until the event has passed, sleeping between polls and watching NCCL errors.
static void wait_event(nccl_ctx *c, cudaEvent_t e) {
    while (!event_done(e)) {
        check_async(c);
        nanosleep(&nap, NULL);
    }
}

// Adds a receive's stall (how long compute waited past `ready` for `done`) to its total once
// both events have passed, or at once when `block`. Returns 1 when taken.
static int stall_take(nccl_ctx *c, stall *s, int block) {
    if (!s->pending) return 1;
    if (block) {
        wait_event(c, s->done);
        wait_event(c, s->ready);
    } else if (!event_done(s->done) || !event_done(s->ready)) {
        return 0;
    }
    float ms = 0;
    HPFF_CUDA_CHECK(cudaEventElapsedTime(&ms, s->ready, s->done));
    if (ms > 0) *(s->kind == STALL_DOWN ? &c->wait_down : &c->wait_up) += 1e-3 * ms;
    s->pending = 0;
    return 1;
}

static void lane_after_compute(nccl_ctx *c, lane *l, cudaEvent_t e) {
    HPFF_CUDA_CHECK(cudaEventRecord(e, c->compute));
    HPFF_CUDA_CHECK(cudaStreamWaitEvent(l->stream, e, 0));
}

static void send_begin(nccl_ctx *c, lane *l) {
    lane_after_compute(c, l, c->fence);   // the data is written
    HPFF_NCCL_CHECK(ncclGroupStart());
}

static void send_end(lane *l) {
    HPFF_NCCL_CHECK(ncclGroupEnd());
    HPFF_CUDA_CHECK(cudaEventRecord(l->sent, l->stream));
    l->has_sent = 1;
}

static stall *recv_begin(nccl_ctx *c, lane *l, int kind) {
    stall *s = &c->stall[c->next_stall++ % N_STALL];
    stall_take(c, s, 1);   // its events are about to be recorded again
    s->kind = kind;
    s->pending = 1;
    lane_after_compute(c, l, s->ready);   // the buffer's previous readers are done
    HPFF_NCCL_CHECK(ncclGroupStart());
    return s;
}

static void recv_end(nccl_ctx *c, lane *l, stall *s) {
    HPFF_NCCL_CHECK(ncclGroupEnd());
    HPFF_CUDA_CHECK(cudaEventRecord(s->done, l->stream));
    HPFF_CUDA_CHECK(cudaStreamWaitEvent(c->compute, s->done, 0));   // compute reads it next
}

// The up lane of the pair (p, p+1).
static lane *up_lane(nccl_ctx *c, int p) { return &c->lane[LANE_UP0 + p % 2]; }

static void nccl_send_down(hpff_transport *t, const float *act, size_t act_floats, const int32_t *labels,
                           int n, const float *image, size_t image_floats) {
    nccl_ctx *c = t->ctx;
    HPFF_CHECK(act_floats <= c->max_floats && image_floats <= c->max_floats, "payload larger than planned");
    HPFF_CHECK(c->head_req == MPI_REQUEST_NULL, "two payloads posted without wait_sends between them");
    int dst = t->rank + 1;
    c->head[0] = n;
    c->head[1] = (long long)act_floats;
    c->head[2] = image ? (long long)image_floats : 0;
    // The header first: the receiver posts its ncclRecv only once it has it.
    int rc = MPI_Isend(c->head, 3, MPI_LONG_LONG, dst, TAG_HEAD, MPI_COMM_WORLD, &c->head_req);
    HPFF_CHECK(rc == MPI_SUCCESS, "MPI_Isend of the payload header to rank %d failed", dst);
    lane *l = &c->lane[LANE_DOWN];
    send_begin(c, l);
    HPFF_NCCL_CHECK(ncclSend(act, act_floats, ncclFloat32, dst, l->comm, l->stream));
    HPFF_NCCL_CHECK(ncclSend(labels, (size_t)n, ncclInt32, dst, l->comm, l->stream));
    if (c->head[2]) HPFF_NCCL_CHECK(ncclSend(image, image_floats, ncclFloat32, dst, l->comm, l->stream));
    send_end(l);
}

static int nccl_recv_down(hpff_transport *t, float *act, size_t act_max, int32_t *labels, float *image,
                          size_t image_max) {
    nccl_ctx *c = t->ctx;
    int src = t->rank - 1;
    double t0 = hpff_now();
    long long head[3];
    MPI_Request r;
    int rc = MPI_Irecv(head, 3, MPI_LONG_LONG, src, TAG_HEAD, MPI_COMM_WORLD, &r);
    HPFF_CHECK(rc == MPI_SUCCESS, "MPI_Irecv from rank %d failed", src);
    wait_req(&r);
    c->wait_down += hpff_now() - t0;
    HPFF_CHECK(head[0] > 0 && (size_t)head[1] <= act_max, "payload of %lld floats (batch %lld) exceeds the %zu planned",
               head[1], head[0], act_max);
    HPFF_CHECK(!head[2] || (image && (size_t)head[2] <= image_max), "unexpected image payload of %lld floats", head[2]);
    lane *l = &c->lane[LANE_DOWN];
    stall *s = recv_begin(c, l, STALL_DOWN);
    HPFF_NCCL_CHECK(ncclRecv(act, (size_t)head[1], ncclFloat32, src, l->comm, l->stream));
    HPFF_NCCL_CHECK(ncclRecv(labels, (size_t)head[0], ncclInt32, src, l->comm, l->stream));
    if (head[2]) HPFF_NCCL_CHECK(ncclRecv(image, (size_t)head[2], ncclFloat32, src, l->comm, l->stream));
    recv_end(c, l, s);
    return (int)head[0];
}

static void nccl_send_up(hpff_transport *t, const float *grad, size_t floats) {
    nccl_ctx *c = t->ctx;
    HPFF_CHECK(floats <= c->max_floats, "cascade gradient larger than planned");
    lane *l = up_lane(c, t->rank - 1);
    send_begin(c, l);
    HPFF_NCCL_CHECK(ncclSend(grad, floats, ncclFloat32, t->rank - 1, l->comm, l->stream));
    send_end(l);
}

static void nccl_recv_up(hpff_transport *t, float *grad, size_t floats) {
    nccl_ctx *c = t->ctx;
    lane *l = up_lane(c, t->rank);
    stall *s = recv_begin(c, l, STALL_UP);
    HPFF_NCCL_CHECK(ncclRecv(grad, floats, ncclFloat32, t->rank + 1, l->comm, l->stream));
    recv_end(c, l, s);
}

static void nccl_wait_sends(hpff_transport *t) {
    nccl_ctx *c = t->ctx;
    double t0 = hpff_now();
    if (c->head_req != MPI_REQUEST_NULL) wait_req(&c->head_req);   // sets it to MPI_REQUEST_NULL
    for (int i = 0; i < N_LANES; i++) {
        lane *l = &c->lane[i];
        if (l->has_sent) wait_event(c, l->sent);
        l->has_sent = 0;
    }
    c->wait_send += hpff_now() - t0;
}

static void nccl_take_wait_times(hpff_transport *t, double *d, double *u, double *s) {
    nccl_ctx *c = t->ctx;
    for (int i = 0; i < N_STALL; i++) stall_take(c, &c->stall[i], 0);
    *d = c->wait_down;
    *u = c->wait_up;
    *s = c->wait_send;
    c->wait_down = c->wait_up = c->wait_send = 0;
}

static void nccl_destroy(hpff_transport *t) {
    nccl_ctx *c = t->ctx;
    nccl_wait_sends(t);
    for (int i = 0; i < N_STALL; i++) {
        stall_take(c, &c->stall[i], 1);
        HPFF_CUDA_CHECK(cudaEventDestroy(c->stall[i].ready));
        HPFF_CUDA_CHECK(cudaEventDestroy(c->stall[i].done));
    }
    for (int i = 0; i < N_LANES; i++) {
        lane *l = &c->lane[i];
        HPFF_CUDA_CHECK(cudaStreamSynchronize(l->stream));
        HPFF_NCCL_CHECK(ncclCommFinalize(l->comm));
        HPFF_NCCL_CHECK(ncclCommDestroy(l->comm));
        HPFF_CUDA_CHECK(cudaEventDestroy(l->sent));
        HPFF_CUDA_CHECK(cudaStreamDestroy(l->stream));
    }
    HPFF_CUDA_CHECK(cudaEventDestroy(c->fence));
    free(c);
    free(t);
}

static const hpff_transport_ops nccl_ops = {nccl_send_down, nccl_recv_down, nccl_send_up, nccl_recv_up,
                                            nccl_wait_sends, nccl_take_wait_times, nccl_destroy};

hpff_transport *hpff_transport_nccl_create(hpff_backend *be, size_t max_floats) {
    HPFF_CHECK(strcmp(be->name, "cuda") == 0, "the NCCL transport needs the CUDA backend, not '%s'", be->name);
    hpff_transport *t = hpff_xcalloc(1, sizeof *t);
    nccl_ctx *c = hpff_xcalloc(1, sizeof *c);
    c->be = be;
    c->max_floats = max_floats;
    c->head_req = MPI_REQUEST_NULL;
    c->compute = (cudaStream_t)hpff_cuda_stream(be);
    MPI_Comm_rank(MPI_COMM_WORLD, &t->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &t->size);
    ncclUniqueId ids[N_LANES];
    memset(ids, 0, sizeof ids);
    if (t->rank == 0)
        for (int i = 0; i < N_LANES; i++) HPFF_NCCL_CHECK(ncclGetUniqueId(&ids[i]));
    int rc = MPI_Bcast(ids, (int)sizeof ids, MPI_BYTE, 0, MPI_COMM_WORLD);
    HPFF_CHECK(rc == MPI_SUCCESS, "MPI_Bcast of the NCCL ids failed");
    // On the backend's device (cuda_setup made it current on this thread); every rank creates
    // the lanes in the same order, as ncclCommInitRank is collective.
    for (int i = 0; i < N_LANES; i++) {
        lane *l = &c->lane[i];
        HPFF_NCCL_CHECK(ncclCommInitRank(&l->comm, t->size, ids[i], t->rank));
        HPFF_CUDA_CHECK(cudaStreamCreateWithFlags(&l->stream, cudaStreamNonBlocking));
        HPFF_CUDA_CHECK(cudaEventCreateWithFlags(&l->sent, cudaEventDisableTiming));
    }
    HPFF_CUDA_CHECK(cudaEventCreateWithFlags(&c->fence, cudaEventDisableTiming));
    for (int i = 0; i < N_STALL; i++) {   // timed: they measure the stalls
        HPFF_CUDA_CHECK(cudaEventCreate(&c->stall[i].ready));
        HPFF_CUDA_CHECK(cudaEventCreate(&c->stall[i].done));
    }
    t->ops = &nccl_ops;
    t->ctx = c;
    t->name = "nccl";
    return t;
}
