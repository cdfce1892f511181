// transport.h — moving tensors between pipeline neighbours (seam 7). Downstream: the forward
// payload (activation + labels [+ image]); upstream: the cascade data gradient of the boundary
// pair. Sends are non-blocking and receives are posted before sends, so no order of ranks can
// deadlock. Implementations: local (one rank: nothing to move), mpi (host buffers), nccl.
#ifndef HPFF_TRANSPORT_H
#define HPFF_TRANSPORT_H
#include <stddef.h>
#include <stdint.h>
#include "backend.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hpff_transport hpff_transport;
typedef struct hpff_transport_ops {
    // Posts the payload for rank+1. The buffers must stay untouched until wait_sends().
    void (*send_down)(hpff_transport *t, const float *act, size_t act_floats, const int32_t *labels,
                      int n, const float *image, size_t image_floats);
    // Receives the payload from rank-1 into the given buffers; returns n (the batch).
    int (*recv_down)(hpff_transport *t, float *act, size_t act_floats_max, int32_t *labels,
                     float *image, size_t image_floats_max);
    void (*send_up)(hpff_transport *t, const float *grad, size_t floats);
    void (*recv_up)(hpff_transport *t, float *grad, size_t floats);
    // Completes every posted send.
    void (*wait_sends)(hpff_transport *t);
    // Seconds spent blocked in recv_down / recv_up / wait_sends since the last call (then reset).
    void (*take_wait_times)(hpff_transport *t, double *wait_down, double *wait_up, double *wait_send);
    void (*destroy)(hpff_transport *t);
} hpff_transport_ops;

struct hpff_transport {
    const hpff_transport_ops *ops;
    void *ctx;
    const char *name;
    int rank, size;
};

hpff_transport *hpff_transport_local_create(void);
// MPI transport over MPI_COMM_WORLD with host staging through `be` (NULL where not built).
hpff_transport *hpff_transport_mpi_create(hpff_backend *be, size_t max_floats);
// NCCL transport over MPI_COMM_WORLD, GPU to GPU, for a CUDA backend with one GPU per rank
// (collective: every rank calls it; NULL on every rank where not built with NCCL).
hpff_transport *hpff_transport_nccl_create(hpff_backend *be, size_t max_floats);

#ifdef __cplusplus
}
#endif
#endif
