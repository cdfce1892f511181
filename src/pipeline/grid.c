// grid.c — S stages x R replicas over the MPI world (grid.h): the stage-count rule, the
// communicators and the replicas' small collectives.
#include "grid.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "system.h"

void hpff_grid_valid_stages(int ranks, int M, char *buf, size_t n) {
    size_t len = 0;
    buf[0] = 0;
    for (int s = 1; s <= ranks && s <= M && len + 1 < n; s++)
        if (ranks % s == 0) len += (size_t)snprintf(buf + len, n - len, "%s%d", len ? ", " : "", s);
}

hpff_status hpff_grid_stages(int ranks, int M, int want, int *stages) {
    char ok[256];
    hpff_grid_valid_stages(ranks, M, ok, sizeof ok);
    if (want < 0) return hpff_status_fail("pipeline.stages = %d; expected 0 (automatic) or a stage count: %s", want, ok);
    if (want == 0) {
        int s = ranks <= M ? ranks : M;
        while (ranks % s) s--;   // the largest divisor of ranks not above M
        *stages = s;
        return hpff_status_ok();
    }
    if (want > M)
        return hpff_status_fail("pipeline.stages = %d but the network has %d local modules and every stage needs at "
                                "least one; with %d ranks these work: %s", want, M, ranks, ok);
    if (ranks % want)
        return hpff_status_fail("pipeline.stages = %d does not divide the %d ranks into whole replicas of the pipeline "
                                "(ranks = stages x replicas); with %d ranks and %d modules these work: %s",
                                want, ranks, ranks, M, ok);
    *stages = want;
    return hpff_status_ok();
}

static void place(hpff_grid *g, const hpff_world *w, int stages) {
    memset(g, 0, sizeof *g);
    HPFF_CHECK(stages >= 1 && w->size % stages == 0, "grid: %d stages do not divide %d ranks", stages, w->size);
    g->stages = stages;
    g->replicas = w->size / stages;
    g->rank = w->rank;
    g->size = w->size;
    g->stage = w->rank % stages;
    g->replica = w->rank / stages;
}

// One host name per rank (len bytes each), gathered on rank 0 (NULL elsewhere).
static char *gather_hosts(const hpff_grid *g, size_t len);

static int first_host_change(const char *hosts, size_t len, int lo, int hi) {
    for (int k = lo + 1; k <= hi; k++)
        if (strcmp(hosts + (size_t)k * len, hosts + (size_t)lo * len) != 0) return k;
    return -1;
}

static void print_grid(const hpff_grid *g, const char *hosts, size_t len, FILE *f) {
    fprintf(f, "grid: %d stage%s x %d replica%s (%d ranks; a replica's stages are consecutive ranks, and each "
            "stage averages its gradients over its %d replica%s)\n", g->stages, g->stages > 1 ? "s" : "",
            g->replicas, g->replicas > 1 ? "s" : "", g->size, g->replicas, g->replicas > 1 ? "s" : "");
    for (int r = 0; r < g->replicas && hosts; r++) {
        int lo = hpff_grid_rank_of(g, r, 0), hi = lo + g->stages - 1, k = first_host_change(hosts, len, lo, hi);
        fprintf(f, "  replica %d: ranks %d-%d on %s", r, lo, hi, hosts + (size_t)lo * len);
        if (k >= 0)
            fprintf(f, " .. %s (this pipeline spans hosts: its activations cross the network; use a multiple of "
                    "%d ranks per node)", hosts + (size_t)k * len, g->stages);
        fprintf(f, "\n");
    }
}

#ifdef HPFF_MPI
#include <mpi.h>
#include "grid_mpi.h"

struct hpff_grid_comms { MPI_Comm stage; };

#define GRID_MPI_CHECK(call, what)                                                           \
    do {                                                                                     \
        int rc_ = (call);                                                                    \
        if (rc_ != MPI_SUCCESS) {                                                            \
            char es_[MPI_MAX_ERROR_STRING]; int len_ = 0;                                    \
            MPI_Error_string(rc_, es_, &len_);                                               \
            hpff_fatal(__FILE__, __LINE__, #call, "%s failed: %s", what, es_);               \
        }                                                                                    \
    } while (0)

void hpff_grid_init(hpff_grid *g, const hpff_world *w, int stages) {
    place(g, w, stages);
    if (!w->mpi || w->size == 1) return;
    g->comms = hpff_xcalloc(1, sizeof *g->comms);
    GRID_MPI_CHECK(MPI_Comm_split(MPI_COMM_WORLD, g->stage, g->replica, &g->comms->stage),
                   "MPI_Comm_split of the stage communicators");
    MPI_Comm_set_errhandler(g->comms->stage, MPI_ERRORS_RETURN);
}

void hpff_grid_free(hpff_grid *g) {
    if (g->comms) {
        MPI_Comm_free(&g->comms->stage);
        free(g->comms);
    }
    g->comms = NULL;
}

void hpff_grid_wait(const hpff_grid *g, MPI_Request *req, double t0, const char *what) {
    struct timespec nap = {0, 20000};
    for (;;) {
        int done = 0;
        GRID_MPI_CHECK(MPI_Test(req, &done, MPI_STATUS_IGNORE), what);
        if (done) return;
        double waited = hpff_now() - t0;
        HPFF_CHECK(g->timeout_s <= 0 || waited < g->timeout_s, "%s (grid of %d stages x %d replicas; this rank is "
                   "stage %d of replica %d) has not completed after %.0f s (pipeline.timeout): a rank stopped or is "
                   "far behind", what, g->stages, g->replicas, g->stage, g->replica, waited);
        nanosleep(&nap, NULL);
    }
}

static void finish(const hpff_grid *g, MPI_Request *req, const char *what) { hpff_grid_wait(g, req, hpff_now(), what); }

MPI_Comm hpff_grid_stage_dup(const hpff_grid *g) {
    MPI_Comm c = MPI_COMM_SELF;
    if (g->comms) GRID_MPI_CHECK(MPI_Comm_dup(g->comms->stage, &c), "MPI_Comm_dup of the stage communicator");
    else GRID_MPI_CHECK(MPI_Comm_dup(MPI_COMM_SELF, &c), "MPI_Comm_dup");
    MPI_Comm_set_errhandler(c, MPI_ERRORS_RETURN);
    return c;
}

static char *gather_hosts(const hpff_grid *g, size_t len) {
    char *mine = hpff_xcalloc(1, len), *all = g->rank == 0 ? hpff_xcalloc((size_t)g->size, len) : NULL;
    gethostname(mine, len - 1);
    if (!g->comms) memcpy(all, mine, len);
    else GRID_MPI_CHECK(MPI_Gather(mine, (int)len, MPI_CHAR, all, (int)len, MPI_CHAR, 0, MPI_COMM_WORLD),
                        "MPI_Gather of the host names");
    free(mine);
    return all;
}

void hpff_grid_stage_bcast(const hpff_grid *g, void *buf, size_t bytes) {
    if (!g->comms || g->replicas == 1) return;
    static const char what[] = "MPI_Ibcast from replica 0 over the stage's replicas";
    for (size_t off = 0; off < bytes;) {   // in pieces below 2 GiB
        int n = bytes - off > (1u << 30) ? (1 << 30) : (int)(bytes - off);
        MPI_Request req;
        GRID_MPI_CHECK(MPI_Ibcast((char *)buf + off, n, MPI_BYTE, 0, g->comms->stage, &req), what);
        finish(g, &req, what);
        off += (size_t)n;
    }
}

void hpff_grid_stage_gather(const hpff_grid *g, const void *mine, void *all, size_t bytes) {
    if (!g->comms || g->replicas == 1) { memcpy(all, mine, bytes); return; }
    static const char what[] = "MPI_Igather to replica 0 over the stage's replicas";
    HPFF_CHECK(bytes < (1u << 31), "grid: gather of %zu bytes per replica is too large", bytes);
    MPI_Request req;
    GRID_MPI_CHECK(MPI_Igather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, 0, g->comms->stage, &req), what);
    finish(g, &req, what);
}

void hpff_grid_stage_sum(const hpff_grid *g, double *v, int n) {
    if (!g->comms || g->replicas == 1) return;
    static const char what[] = "MPI_Iallreduce (sum) of the step's or evaluation's totals over the stage's replicas";
    MPI_Request req;
    GRID_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, g->comms->stage, &req), what);
    finish(g, &req, what);
}

void hpff_grid_allgather_u64(const hpff_grid *g, uint64_t mine, uint64_t *all) {
    if (g->size == 1 || !g->comms) { all[0] = mine; return; }
    static const char what[] = "MPI_Iallgather of one number per rank (pipeline.check_replicas)";
    MPI_Request req;
    GRID_MPI_CHECK(MPI_Iallgather(&mine, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD, &req), what);
    finish(g, &req, what);
}

void hpff_grid_barrier(const hpff_grid *g) {
    if (g->size == 1 || !g->comms) return;
    static const char what[] = "MPI_Ibarrier of every rank (checkpoint)";
    MPI_Request req;
    GRID_MPI_CHECK(MPI_Ibarrier(MPI_COMM_WORLD, &req), what);
    finish(g, &req, what);
}
int hpff_grid_max_int(const hpff_grid *g, int v) {
    if (g->size == 1 || !g->comms) return v;
    static const char what[] = "MPI_Iallreduce (max) of every rank's pending signal (end of epoch)";
    int r = v;
    MPI_Request req;
    GRID_MPI_CHECK(MPI_Iallreduce(&v, &r, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD, &req), what);
    finish(g, &req, what);
    return r;
}

struct hpff_vote {
    const hpff_grid *g;
    int lag;
    long calls;
    MPI_Comm comm;       // its own communicator: never matched against the pipeline's messages
    MPI_Request *req;    // (lag) ring of reductions in flight (MPI_Test may complete them early)
    int *send, *recv;    // (lag)
};
static const char vote_what[] = "MPI_Iallreduce (max) of the pre-emption vote over every rank";

hpff_vote *hpff_vote_create(const hpff_grid *g) {
    hpff_vote *v = hpff_xcalloc(1, sizeof *v);
    v->g = g;
    v->lag = g->size;
    if (g->size == 1 || !g->comms) return v;
    GRID_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &v->comm), "MPI_Comm_dup of the vote's communicator");
    v->req = hpff_xcalloc((size_t)v->lag, sizeof *v->req);
    v->send = hpff_xcalloc((size_t)v->lag, sizeof *v->send);
    v->recv = hpff_xcalloc((size_t)v->lag, sizeof *v->recv);
    for (int i = 0; i < v->lag; i++) v->req[i] = MPI_REQUEST_NULL;
    return v;
}

int hpff_vote_step(hpff_vote *v, int mine) {
    if (!v->req) return mine;
    int slot = (int)(v->calls % v->lag), out = 0;
    if (v->calls++ >= v->lag) {   // the reduction started lag steps ago (a null request: done)
        finish(v->g, &v->req[slot], vote_what);
        out = v->recv[slot];
    }
    v->send[slot] = mine;
    GRID_MPI_CHECK(MPI_Iallreduce(&v->send[slot], &v->recv[slot], 1, MPI_INT, MPI_MAX, v->comm, &v->req[slot]),
                   vote_what);
    int flag;   // let the others progress while the pipeline's own calls are few
    for (int i = 0; i < v->lag; i++)
        if (v->req[i] != MPI_REQUEST_NULL) GRID_MPI_CHECK(MPI_Test(&v->req[i], &flag, MPI_STATUS_IGNORE), vote_what);
    return out;
}

void hpff_vote_destroy(hpff_vote *v) {
    if (!v) return;
    if (v->req) {
        for (int i = 0; i < v->lag; i++) finish(v->g, &v->req[i], vote_what);
        MPI_Comm_free(&v->comm);
    }
    free(v->req);
    free(v->send);
    free(v->recv);
    free(v);
}
#else
struct hpff_grid_comms { int unused; };
void hpff_grid_init(hpff_grid *g, const hpff_world *w, int stages) { place(g, w, stages); }
void hpff_grid_free(hpff_grid *g) { g->comms = NULL; }
static char *gather_hosts(const hpff_grid *g, size_t len) {
    char *all = hpff_xcalloc((size_t)g->size, len);
    gethostname(all, len - 1);
    return all;
}
void hpff_grid_stage_bcast(const hpff_grid *g, void *buf, size_t bytes) { (void)g; (void)buf; (void)bytes; }
void hpff_grid_stage_gather(const hpff_grid *g, const void *mine, void *all, size_t bytes) {
    (void)g;
    memcpy(all, mine, bytes);
}
void hpff_grid_stage_sum(const hpff_grid *g, double *v, int n) { (void)g; (void)v; (void)n; }
void hpff_grid_allgather_u64(const hpff_grid *g, uint64_t mine, uint64_t *all) { (void)g; all[0] = mine; }
void hpff_grid_barrier(const hpff_grid *g) { (void)g; }
int hpff_grid_max_int(const hpff_grid *g, int v) { (void)g; return v; }
struct hpff_vote { int unused; };
hpff_vote *hpff_vote_create(const hpff_grid *g) { (void)g; return hpff_xcalloc(1, sizeof(hpff_vote)); }
int hpff_vote_step(hpff_vote *v, int mine) { (void)v; return mine; }
void hpff_vote_destroy(hpff_vote *v) { free(v); }
#endif

void hpff_grid_print(const hpff_grid *g, FILE *f) {
    enum { LEN = 256 };
    char *hosts = gather_hosts(g, LEN);
    if (g->rank == 0) print_grid(g, hosts, LEN, f);
    free(hosts);
}
