// registry.c — the one place that knows which backends and transports were built, and the
// choice of both for a run (registry.h).
#include "registry.h"
#include <stdio.h>
#include <string.h>
#include "backend_record.h"
#include "reducer.h"
#ifdef HPFF_CUDA
#include "cuda_backend.h"
#endif

#ifndef HPFF_CUDA
hpff_backend *hpff_backend_cuda_create(int device, int allow_tf32) {
    (void)device; (void)allow_tf32;
    return NULL;
}
int hpff_cuda_device_count(void) { return 0; }
#endif

#ifndef HPFF_NCCL
hpff_transport *hpff_transport_nccl_create(hpff_backend *be, size_t max_floats) {
    (void)be; (void)max_floats;
    return NULL;
}
hpff_reducer *hpff_reducer_nccl_create(const hpff_grid *g, hpff_backend *be, double timeout_s) {
    (void)g; (void)be; (void)timeout_s;
    return NULL;
}
#endif

#ifndef HPFF_MPI
hpff_transport *hpff_transport_mpi_create(hpff_backend *be, size_t max_floats) {
    (void)be; (void)max_floats;
    return NULL;
}
hpff_reducer *hpff_reducer_mpi_create(const hpff_grid *g, hpff_backend *be, size_t max_floats, double timeout_s) {
    (void)g; (void)be; (void)max_floats; (void)timeout_s;
    return NULL;
}
#endif

int hpff_backend_mem_stats(hpff_backend *be, hpff_mem_stats *st) {
    memset(st, 0, sizeof *st);
    if (!be || !be->mem_stats) return 0;
    be->mem_stats(be, st);
    return 1;
}

hpff_backend *hpff_backend_select(const hpff_config *c, int local_rank, char *why, size_t n) {
    int want_cuda = c->device == HPFF_DEVICE_CUDA, auto_dev = c->device == HPFF_DEVICE_AUTO;
    if (want_cuda || auto_dev) {
        // The ranks of a node take its GPUs in turn; with more ranks than GPUs some share one.
        int gpus = hpff_cuda_device_count();
        hpff_backend *be = hpff_backend_cuda_create(gpus > 0 ? local_rank % gpus : 0, c->tf32);
        if (be) return be;
        if (want_cuda) {
            snprintf(why, n, "backend.device = cuda but no usable GPU (or this build has no CUDA backend)");
            return NULL;
        }
    }
    hpff_backend *be = hpff_backend_cpu_create();
    const char *conv = hpff_config_enum_name(c, &c->cpu_conv);
    if (!hpff_backend_cpu_set_conv(be, conv)) {
        snprintf(why, n, "backend.cpu_conv = %s but this build has no oneDNN (cmake printed why)", conv);
        hpff_backend_destroy(be);
        return NULL;
    }
    be->set_threads(be, c->threads);
    // backend.graph on the CPU: an op recorder gives the same record-and-replay semantics as a
    // CUDA graph (no speed gain), so the graph path is the one that runs.
    return c->graph ? hpff_backend_recorder(be) : be;
}

// Collective: 1 when every rank has the CUDA backend and a GPU of its own (NCCL refuses two ranks
// on one GPU); else 0 with the reason (prefixed by `pre`) in `reason`. `fit` names what NCCL fits.
static int nccl_fits(const hpff_world *w, hpff_backend *be, const char *pre, char *reason, size_t n, char *fit,
                     size_t fit_len) {
    int cuda = !be->host_memory, gpus = cuda ? hpff_cuda_device_count() : 0;
    int n_cuda = (int)hpff_world_sum(w, cuda);
    int all_own = (int)hpff_world_sum(w, cuda && w->local_size <= gpus) == w->size;
    int ranks = (int)hpff_world_max(w, w->local_size), fewest = -(int)hpff_world_max(w, -gpus);
    snprintf(fit, fit_len, "%s: CUDA backend and a GPU per rank, %d rank%s on a node with %d GPU%s", pre, ranks,
             ranks == 1 ? "" : "s", fewest, fewest == 1 ? "" : "s");
    if (n_cuda < w->size)
        snprintf(reason, n, "%s: NCCL needs the CUDA backend, which %d of %d ranks have", pre, n_cuda, w->size);
    else if (!all_own)
        snprintf(reason, n, "%s: %d ranks on a node with %d GPU%s, and NCCL refuses two ranks on one GPU", pre,
                 ranks, fewest, fewest == 1 ? "" : "s");
    return n_cuda == w->size && all_own;
}

hpff_transport *hpff_transport_select(const hpff_config *c, const hpff_world *w, int stages, hpff_backend *be,
                                      size_t max_floats, char *why, size_t n) {
    if (stages == 1) return hpff_transport_local_create();   // no pipeline neighbours
    if (c->transport == HPFF_TRANSPORT_LOCAL) {
        snprintf(why, n, "pipeline.transport = local cannot connect %d stages; use auto or mpi", stages);
        return NULL;
    }
    char reason[256] = "pipeline.transport = mpi", fit[256];
    if (c->transport != HPFF_TRANSPORT_MPI) {   // auto or nccl, decided alike on every rank
        int want = c->transport == HPFF_TRANSPORT_NCCL;
        const char *pre = want ? "pipeline.transport = nccl" : "auto";
        if (nccl_fits(w, be, pre, reason, sizeof reason, fit, sizeof fit)) {
            hpff_transport *t = hpff_transport_nccl_create(be, max_floats);   // collective
            if (t) {
                if (w->rank == 0) printf("hpff_pipe: transport nccl (%s)\n", fit);
                return t;
            }
            snprintf(reason, sizeof reason, "%s: this build has no NCCL transport (configure with -DHPFF_NCCL=ON)", pre);
        }
        if (want) {
            snprintf(why, n, "%s; use pipeline.transport=mpi", reason);
            return NULL;
        }
    }
    hpff_transport *t = hpff_transport_mpi_create(be, max_floats);
    if (!t) snprintf(why, n, "this build has no MPI transport (configure with -DHPFF_MPI=ON)");
    else if (w->rank == 0) printf("hpff_pipe: transport mpi (%s)\n", reason);
    return t;
}

hpff_reducer *hpff_reducer_select(const hpff_config *c, const hpff_world *w, const hpff_grid *g, hpff_backend *be,
                                  size_t max_floats, char *why, size_t n) {
    if (g->replicas == 1) return NULL;
    char reason[256] = "pipeline.transport = mpi", fit[256];
    hpff_reducer *r = NULL;
    if (c->transport != HPFF_TRANSPORT_MPI && nccl_fits(w, be, "auto", reason, sizeof reason, fit, sizeof fit)) {
        r = hpff_reducer_nccl_create(g, be, c->timeout);   // collective
        if (!r) snprintf(reason, sizeof reason, "this build has no NCCL (configure with -DHPFF_NCCL=ON)");
    }
    if (r) {
        if (w->rank == 0) printf("hpff_pipe: gradient averages over %d replicas: ncclAllReduce (%s)\n", g->replicas, fit);
        return r;
    }
    r = hpff_reducer_mpi_create(g, be, max_floats, c->timeout);
    if (!r) snprintf(why, n, "%d replicas need MPI, which this build lacks (configure with -DHPFF_MPI=ON)", g->replicas);
    else if (w->rank == 0)
        printf("hpff_pipe: gradient averages over %d replicas: MPI_Iallreduce on host memory (%s)\n", g->replicas,
               reason);
    return r;
}
