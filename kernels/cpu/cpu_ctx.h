// cpu_ctx.h — the CPU backend's private state (be->ctx): the worker pool of train.threads and
// the profiling marks. One struct that lives as long as the backend, so that be->ctx never
// changes after creation (a profiling wrapper shares it; see src/backend_prof.c).
#ifndef HPFF_CPU_CTX_H
#define HPFF_CPU_CTX_H
#include "backend.h"
#include "cpu_pool.h"

typedef struct hpff_cpu_ctx {
    hpff_cpu_pool *pool;   // NULL: everything on the calling thread
    double *marks;         // prof_mark timestamps, seconds of CLOCK_MONOTONIC
    int n_marks;
} hpff_cpu_ctx;

// The backend's worker pool; NULL (one thread) for a NULL backend, as tests call ops directly.
static inline hpff_cpu_pool *hpff_cpu_pool_of(hpff_backend *be) {
    return be && be->ctx ? ((hpff_cpu_ctx *)be->ctx)->pool : NULL;
}

#endif
