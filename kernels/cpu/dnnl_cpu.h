// dnnl_cpu.h — the CPU backend's oneDNN state (engine, stream, the thread count its primitives
// are made for, the convolutions cached per shape) and the helpers its op files share. Built
// with HPFF_DNNL only; without it the inline fallbacks at the end make the backend use im2col.
#ifndef HPFF_DNNL_CPU_H
#define HPFF_DNNL_CPU_H
#include <stddef.h>

typedef struct hpff_dnnl hpff_dnnl;

#ifdef HPFF_DNNL
#include <oneapi/dnnl/dnnl.h>
#include "backend.h"
#include "check.h"

typedef struct hpff_dnnl_conv hpff_dnnl_conv;       // dnnl_conv.c
typedef struct hpff_dnnl_family hpff_dnnl_family;   // dnnl_conv.c

struct hpff_dnnl {
    dnnl_engine_t engine;
    dnnl_stream_t *streams;      // one per worker of the backend's pool
    int threads;                 // train.threads: the pool's workers
    int blocked;                 // conv_block answers (backend.cpu_conv = dnnl); 0: always NCHW
    hpff_dnnl_conv *convs;       // primitives per worker and share of a batch
    hpff_dnnl_family *families;  // workspace bytes handed out per shape without the batch
    struct {                     // backward-weights left dy reordered in the workspace for
        const void *dy, *ws;     // the backward-data call that follows it (dnnl_conv.c)
        hpff_conv_desc d;
        int valid;
    } kept;
};

// Every oneDNN call goes through this: a failure is fatal with the library's status named.
#define HPFF_DNNL_CHECK(call)                                                              \
    do {                                                                                   \
        dnnl_status_t st_ = (call);                                                        \
        if (st_ != dnnl_success)                                                           \
            hpff_fatal(__FILE__, __LINE__, #call, "oneDNN: %s", hpff_dnnl_status_str(st_)); \
    } while (0)

const char *hpff_dnnl_status_str(dnnl_status_t st);
// A memory object of layout md without storage (the data handle is set per call).
dnnl_memory_t hpff_dnnl_mem(hpff_dnnl *s, const dnnl_memory_desc_t *md);
// A reorder from -> to (to = to + from when accumulate), user-managed scratchpad; *scratch is
// raised to its scratchpad bytes. NULL when oneDNN has no such reorder.
dnnl_primitive_t hpff_dnnl_reorder(hpff_dnnl *s, const dnnl_memory_desc_t *from,
                                   const dnnl_memory_desc_t *to, int accumulate, size_t *scratch);
// Runs a reorder between two memory objects whose handles are set (scratch: its scratchpad).
void hpff_dnnl_run_reorder(dnnl_stream_t st, dnnl_primitive_t r, dnnl_memory_t from, dnnl_memory_t to,
                           dnnl_memory_t scratch);
// Makes oneDNN calls from the calling thread run on that thread alone (its OpenMP team of one).
void hpff_dnnl_thread_init(void);
// Bytes of a primitive descriptor's scratchpad.
size_t hpff_dnnl_scratch_bytes(const_dnnl_primitive_desc_t pd);
// Frees every cached convolution (dnnl_conv.c); the workspace records stay.
void hpff_dnnl_conv_clear(hpff_dnnl *s);
void hpff_dnnl_conv_free_families(hpff_dnnl *s);

// The state for a pool of `threads` workers.
hpff_dnnl *hpff_dnnl_create(int threads);
void hpff_dnnl_destroy(hpff_dnnl *s);
// A pool of `threads` workers from now on (drops the primitives made for another count).
void hpff_dnnl_set_threads(hpff_dnnl *s, int threads);
// Whether conv_block offers the primitives' blocked layouts (1, the default) or NCHW only (0).
static inline void hpff_dnnl_set_blocked(hpff_dnnl *s, int on) { s->blocked = on; }
static inline int hpff_dnnl_blocked(const hpff_dnnl *s) { return s->blocked; }
// "oneDNN 2.6.3 (OpenMP)": the library the build links.
const char *hpff_dnnl_version(char *buf, size_t n);
#define HPFF_HAVE_DNNL 1
#else
static inline hpff_dnnl *hpff_dnnl_create(int threads) { (void)threads; return NULL; }
static inline void hpff_dnnl_destroy(hpff_dnnl *s) { (void)s; }
static inline void hpff_dnnl_set_threads(hpff_dnnl *s, int threads) { (void)s; (void)threads; }
static inline void hpff_dnnl_set_blocked(hpff_dnnl *s, int on) { (void)s; (void)on; }
static inline int hpff_dnnl_blocked(const hpff_dnnl *s) { (void)s; return 0; }
#define HPFF_HAVE_DNNL 0
#endif

#endif
