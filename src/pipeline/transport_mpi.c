// transport_mpi.c — pipeline neighbours over MPI point-to-point with host buffers. Payloads go
// to rank+1, cascade gradients to rank-1. Sends are non-blocking (completed by wait_sends before
// their buffers are reused); receives poll with a short sleep so that oversubscribed ranks
// (more ranks than cores) yield the core instead of spinning.
#ifdef HPFF_MPI
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "check.h"
#include "system.h"
#include "transport.h"

enum { TAG_HEAD = 11, TAG_ACT, TAG_LABELS, TAG_IMAGE, TAG_GRAD };
#define MAX_REQ 8

typedef struct mpi_ctx {
    hpff_backend *be;
    int staged;                 // device memory is not host memory: copy through buffers
    float *stage_down, *stage_img, *stage_up, *stage_recv;
    int32_t *stage_labels;
    size_t max_floats;
    long long head[3];          // n, act floats, image floats (kept alive for the Isend)
    MPI_Request req[MAX_REQ];
    int n_req;
    double wait_down, wait_up, wait_send;
} mpi_ctx;

// Completes one request, sleeping between polls.
static void wait_req(MPI_Request *r) {
    int done = 0;
    struct timespec nap = {0, 20000};
    for (;;) {
        int rc = MPI_Test(r, &done, MPI_STATUS_IGNORE);
        HPFF_CHECK(rc == MPI_SUCCESS, "MPI_Test failed (a neighbouring rank died?)");
        if (done) return;
        nanosleep(&nap, NULL);
    }
}

static void recv_blocking(void *buf, int count, MPI_Datatype type, int src, int tag) {
    MPI_Request r;
    int rc = MPI_Irecv(buf, count, type, src, tag, MPI_COMM_WORLD, &r);
    HPFF_CHECK(rc == MPI_SUCCESS, "MPI_Irecv from rank %d failed", src);
    wait_req(&r);
}

static void post_send(mpi_ctx *c, const void *buf, size_t count, MPI_Datatype type, int dst, int tag) {
    HPFF_CHECK(c->n_req < MAX_REQ, "too many sends in flight");
    HPFF_CHECK(count < (1ull << 31), "message of %zu elements is too large for one MPI send", count);
    int rc = MPI_Isend(buf, (int)count, type, dst, tag, MPI_COMM_WORLD, &c->req[c->n_req++]);
    HPFF_CHECK(rc == MPI_SUCCESS, "MPI_Isend to rank %d failed", dst);
}

static const float *to_host(mpi_ctx *c, float *stage, const float *src, size_t floats) {
    if (!c->staged) return src;
    c->be->to_host(c->be, stage, src, floats * sizeof(float));
    return stage;
}

static void mpi_send_down(hpff_transport *t, const float *act, size_t act_floats, const int32_t *labels,
                          int n, const float *image, size_t image_floats) {
    mpi_ctx *c = t->ctx;
    HPFF_CHECK(act_floats <= c->max_floats && image_floats <= c->max_floats, "payload larger than planned");
    int dst = t->rank + 1;
    c->head[0] = n;
    c->head[1] = (long long)act_floats;
    c->head[2] = image ? (long long)image_floats : 0;
    post_send(c, c->head, 3, MPI_LONG_LONG, dst, TAG_HEAD);
    post_send(c, to_host(c, c->stage_down, act, act_floats), act_floats, MPI_FLOAT, dst, TAG_ACT);
    const int32_t *lab = labels;
    if (c->staged) {
        c->be->to_host(c->be, c->stage_labels, labels, (size_t)n * sizeof(int32_t));
        lab = c->stage_labels;
    }
    post_send(c, lab, (size_t)n, MPI_INT32_T, dst, TAG_LABELS);
    if (c->head[2]) post_send(c, to_host(c, c->stage_img, image, image_floats), image_floats, MPI_FLOAT, dst, TAG_IMAGE);
}

static int mpi_recv_down(hpff_transport *t, float *act, size_t act_max, int32_t *labels, float *image,
                         size_t image_max) {
    mpi_ctx *c = t->ctx;
    int src = t->rank - 1;
    double t0 = hpff_now();
    long long head[3];
    recv_blocking(head, 3, MPI_LONG_LONG, src, TAG_HEAD);
    HPFF_CHECK((size_t)head[1] <= act_max, "payload of %lld floats exceeds the %zu planned", head[1], act_max);
    HPFF_CHECK(!head[2] || (image && (size_t)head[2] <= image_max), "unexpected image payload of %lld floats", head[2]);
    float *a = c->staged ? c->stage_recv : act;
    recv_blocking(a, (int)head[1], MPI_FLOAT, src, TAG_ACT);
    int32_t *lab = c->staged ? c->stage_labels : labels;
    recv_blocking(lab, (int)head[0], MPI_INT32_T, src, TAG_LABELS);
    float *img = c->staged ? c->stage_img : image;
    if (head[2]) recv_blocking(img, (int)head[2], MPI_FLOAT, src, TAG_IMAGE);
    c->wait_down += hpff_now() - t0;
    if (c->staged) {
        c->be->to_device(c->be, act, a, (size_t)head[1] * sizeof(float));
        c->be->to_device(c->be, labels, lab, (size_t)head[0] * sizeof(int32_t));
        if (head[2]) c->be->to_device(c->be, image, img, (size_t)head[2] * sizeof(float));
    }
    return (int)head[0];
}

static void mpi_send_up(hpff_transport *t, const float *grad, size_t floats) {
    mpi_ctx *c = t->ctx;
    post_send(c, to_host(c, c->stage_up, grad, floats), floats, MPI_FLOAT, t->rank - 1, TAG_GRAD);
}

static void mpi_recv_up(hpff_transport *t, float *grad, size_t floats) {
    mpi_ctx *c = t->ctx;
    double t0 = hpff_now();
    float *g = c->staged ? c->stage_recv : grad;
    recv_blocking(g, (int)floats, MPI_FLOAT, t->rank + 1, TAG_GRAD);
    c->wait_up += hpff_now() - t0;
    if (c->staged) c->be->to_device(c->be, grad, g, floats * sizeof(float));
}

static void mpi_wait_sends(hpff_transport *t) {
    mpi_ctx *c = t->ctx;
    double t0 = hpff_now();
    for (int i = 0; i < c->n_req; i++) wait_req(&c->req[i]);
    c->n_req = 0;
    c->wait_send += hpff_now() - t0;
}

static void mpi_take_wait_times(hpff_transport *t, double *d, double *u, double *s) {
    mpi_ctx *c = t->ctx;
    *d = c->wait_down;
    *u = c->wait_up;
    *s = c->wait_send;
    c->wait_down = c->wait_up = c->wait_send = 0;
}

static void mpi_destroy(hpff_transport *t) {
    mpi_ctx *c = t->ctx;
    mpi_wait_sends(t);
    free(c->stage_down); free(c->stage_img); free(c->stage_up); free(c->stage_recv); free(c->stage_labels);
    free(c);
    free(t);
}

static const hpff_transport_ops mpi_ops = {mpi_send_down, mpi_recv_down, mpi_send_up, mpi_recv_up,
                                           mpi_wait_sends, mpi_take_wait_times, mpi_destroy};

hpff_transport *hpff_transport_mpi_create(hpff_backend *be, size_t max_floats) {
    hpff_transport *t = hpff_xcalloc(1, sizeof *t);
    mpi_ctx *c = hpff_xcalloc(1, sizeof *c);
    c->be = be;
    c->max_floats = max_floats;
    c->staged = !be->host_memory;
    if (c->staged) {
        c->stage_down = hpff_xmalloc(max_floats * sizeof(float));
        c->stage_img = hpff_xmalloc(max_floats * sizeof(float));
        c->stage_up = hpff_xmalloc(max_floats * sizeof(float));
        c->stage_recv = hpff_xmalloc(max_floats * sizeof(float));
        c->stage_labels = hpff_xmalloc(max_floats * sizeof(int32_t));
    }
    t->ops = &mpi_ops;
    t->ctx = c;
    t->name = "mpi";
    MPI_Comm_rank(MPI_COMM_WORLD, &t->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &t->size);
    return t;
}
#endif
