// registry.c — the one place that knows which backends and transports were built.
#include <string.h>
#include "backend.h"
#include "transport.h"
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
#endif

#ifndef HPFF_MPI
hpff_transport *hpff_transport_mpi_create(hpff_backend *be, size_t max_floats) {
    (void)be; (void)max_floats;
    return NULL;
}
#endif

int hpff_backend_mem_stats(hpff_backend *be, hpff_mem_stats *st) {
    memset(st, 0, sizeof *st);
    if (!be || !be->mem_stats) return 0;
    be->mem_stats(be, st);
    return 1;
}
