// reducer_mpi.c — replicas' gradient averages over MPI (reducer.h): MPI_Iallreduce (sum) in place
// on host memory, then a scale by 1/R on the backend. A device backend's spans go through a host
// staging buffer. MPI progresses non-blocking collectives only inside MPI calls, so each start
// also tests the buckets in flight; finish polls with a short sleep (oversubscribed ranks yield
// the core) and watches the timeout.
#ifdef HPFF_MPI
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "grid_mpi.h"
#include "system.h"
#include "reducer.h"

typedef struct pending {
    hpff_span span;             // where the average goes
    float *buf;                 // what MPI reduces: the span itself or its host staging
    MPI_Request req;
    int bucket;                 // index into names
} pending;

typedef struct mpi_ctx {
    hpff_backend *be;
    MPI_Comm comm;
    int stage, replicas, staged;
    float *host;                // (max_floats) staging for a device backend, else NULL
    size_t max_floats, used;
    pending *q;                 // the pieces in flight since the last finish
    int n_q, cap_q;
    char (*names)[96];          // the buckets' names since the last finish
    int n_names, cap_names;
    double timeout_s, t_start;
} mpi_ctx;

#define MAX_PIECE ((size_t)INT_MAX / 2)   // floats per MPI call (counts are int)

static _Noreturn void fail(const mpi_ctx *c, int rc, const char *call, const char *what) {
    char es[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, es, &len);
    hpff_fatal(__FILE__, __LINE__, call, "%s of %s over the %d replicas of stage %d failed: %s", call, what,
               c->replicas, c->stage, es);
}

static int add_name(mpi_ctx *c, const char *what) {
    if (c->n_names == c->cap_names) {
        c->cap_names = c->cap_names ? 2 * c->cap_names : 16;
        c->names = realloc(c->names, (size_t)c->cap_names * sizeof *c->names);
        HPFF_CHECK(c->names != NULL, "out of host memory (reducer)");
    }
    snprintf(c->names[c->n_names], sizeof c->names[0], "%s", what);
    return c->n_names++;
}

static pending *add_piece(mpi_ctx *c) {
    if (c->n_q == c->cap_q) {
        c->cap_q = c->cap_q ? 2 * c->cap_q : 32;
        c->q = realloc(c->q, (size_t)c->cap_q * sizeof *c->q);
        HPFF_CHECK(c->q != NULL, "out of host memory (reducer)");
    }
    return &c->q[c->n_q++];
}

// Lets the collectives in flight progress (MPI moves them only inside MPI calls).
static void progress(mpi_ctx *c) {
    for (int i = 0; i < c->n_q; i++) {
        int done = 0;
        int rc = MPI_Test(&c->q[i].req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) fail(c, rc, "MPI_Iallreduce", c->names[c->q[i].bucket]);
    }
}

static void post(mpi_ctx *c, hpff_span s, int bucket) {
    for (size_t off = 0; off < s.n; off += MAX_PIECE) {
        pending *p = add_piece(c);
        p->span = (hpff_span){s.p + off, s.n - off < MAX_PIECE ? s.n - off : MAX_PIECE};
        p->bucket = bucket;
        p->buf = p->span.p;
        if (c->staged) {   // the device's values, copied to the host (waits for the sweep)
            HPFF_CHECK(c->used + p->span.n <= c->max_floats, "reducer: %s exceeds the %zu floats planned per step",
                       c->names[bucket], c->max_floats);
            p->buf = c->host + c->used;
            c->used += p->span.n;
            c->be->to_host(c->be, p->buf, p->span.p, p->span.n * sizeof(float));
        }
        int rc = MPI_Iallreduce(MPI_IN_PLACE, p->buf, (int)p->span.n, MPI_FLOAT, MPI_SUM, c->comm, &p->req);
        if (rc != MPI_SUCCESS) fail(c, rc, "MPI_Iallreduce", c->names[bucket]);
    }
}

static void mpi_start(hpff_reducer *r, const hpff_span *spans, int n_spans, const char *what) {
    mpi_ctx *c = r->ctx;
    if (!c->n_q) c->t_start = hpff_now();
    progress(c);
    int bucket = add_name(c, what);
    for (int i = 0; i < n_spans; i++)
        if (spans[i].n) post(c, spans[i], bucket);
}

static void wait_piece(mpi_ctx *c, pending *p) {
    struct timespec nap = {0, 20000};
    for (;;) {
        int done = 0;
        int rc = MPI_Test(&p->req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) fail(c, rc, "MPI_Iallreduce", c->names[p->bucket]);
        if (done) return;
        double waited = hpff_now() - c->t_start;
        HPFF_CHECK(c->timeout_s <= 0 || waited < c->timeout_s,
                   "MPI_Iallreduce of %s over the %d replicas of stage %d has not completed after %.0f s "
                   "(pipeline.timeout): a replica stopped or is far behind", c->names[p->bucket], c->replicas,
                   c->stage, waited);
        nanosleep(&nap, NULL);
    }
}

static void mpi_finish(hpff_reducer *r) {
    mpi_ctx *c = r->ctx;
    double t0 = hpff_now();
    float inv = 1.0f / (float)c->replicas;
    for (int i = 0; i < c->n_q; i++) {
        pending *p = &c->q[i];
        wait_piece(c, p);
        if (c->staged) c->be->to_device(c->be, p->span.p, p->buf, p->span.n * sizeof(float));
        c->be->scale(c->be, p->span.p, inv, p->span.n);
    }
    r->wait_s += hpff_now() - t0;
    c->n_q = c->n_names = 0;
    c->used = 0;
}

static void mpi_destroy(hpff_reducer *r) {
    mpi_ctx *c = r->ctx;
    mpi_finish(r);
    MPI_Comm_free(&c->comm);
    free(c->host);
    free(c->q);
    free(c->names);
    free(c);
    free(r);
}

static const hpff_reducer_ops mpi_ops = {mpi_start, mpi_finish, mpi_destroy};

hpff_reducer *hpff_reducer_mpi_create(const hpff_grid *g, hpff_backend *be, size_t max_floats, double timeout_s) {
    hpff_reducer *r = hpff_xcalloc(1, sizeof *r);
    mpi_ctx *c = hpff_xcalloc(1, sizeof *c);
    c->be = be;
    c->comm = hpff_grid_stage_dup(g);
    c->stage = g->stage;
    c->replicas = g->replicas;
    c->staged = !be->host_memory;
    c->max_floats = max_floats;
    c->timeout_s = timeout_s;
    if (c->staged) c->host = hpff_xmalloc((max_floats ? max_floats : 1) * sizeof(float));
    r->ops = &mpi_ops;
    r->ctx = c;
    r->name = "mpi";
    r->replicas = g->replicas;
    return r;
}
#endif
