// backend_record.c — the recording wrapper of backend_record.h. Each compute op (the list of
// backend_ops.h) gets a forwarder that, while recording, appends the op's arguments (descriptors
// copied) with a replay function to the open graph instead of calling the inner op.
#include "backend_record.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend_ops.h"
#include "check.h"

typedef void (*rec_replay_fn)(hpff_backend *inner, const void *args);

// One recorded call: its replay function, then its arguments, 16-byte aligned.
typedef struct rec_entry {
    rec_replay_fn replay;
    size_t bytes;   // of the whole entry, header included
} rec_entry;

typedef struct rec_graph {
    unsigned char *buf;
    size_t used, cap;
    long calls;
} rec_graph;

typedef struct rec_backend {
    hpff_backend be;        // first member: callers hold &rb->be
    hpff_backend *inner;
    rec_graph *open;        // the graph being recorded, NULL when not recording
    char error[160];        // the first op that cannot be recorded
} rec_backend;

#define REC_ALIGN 16
static size_t rec_round(size_t v) { return (v + REC_ALIGN - 1) & ~(size_t)(REC_ALIGN - 1); }

// Room for one entry with `args` bytes of arguments in the open graph; returns the arguments.
static void *rec_push(rec_backend *rb, rec_replay_fn fn, size_t args) {
    rec_graph *g = rb->open;
    size_t head = rec_round(sizeof(rec_entry)), bytes = head + rec_round(args);
    if (g->used + bytes > g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 4096;
        while (cap < g->used + bytes) cap *= 2;
        unsigned char *nb = realloc(g->buf, cap);
        HPFF_CHECK(nb != NULL, "out of host memory recording a graph (%zu bytes)", cap);
        g->buf = nb;
        g->cap = cap;
    }
    rec_entry *e = (rec_entry *)(g->buf + g->used);
    e->replay = fn;
    e->bytes = bytes;
    g->used += bytes;
    g->calls++;
    return (unsigned char *)e + head;
}

static void rec_refuse(rec_backend *rb, const char *op) {
    if (!rb->error[0]) snprintf(rb->error, sizeof rb->error, "%s while recording (it cannot be recorded)", op);
}

// ---- compute ops: forwarded, or recorded while a graph is open ----

#define REC_FIELD(k, T, a) T a;
#define REC_PACK(k, T, a) REC_PACK_##k(a)
#define REC_PACK_V(a) args_->a = a;
#define REC_PACK_D(a) args_->a = *a;
#define REC_UNPACK(k, T, a) , REC_UNPACK_##k(a)
#define REC_UNPACK_V(a) args_->a
#define REC_UNPACK_D(a) &args_->a

// rec_args_<op>: the arguments; rec_replay_<op>: the inner op on them; r_<op>: the forwarder.
// The locals end in _ so that no parameter name can shadow them.
#define REC_WRAP(op, kind, ...)                                                                    \
    typedef struct rec_args_##op { HPFF_OPS_EACH(REC_FIELD, __VA_ARGS__) } rec_args_##op;          \
    static void rec_replay_##op(hpff_backend *inner_, const void *p_) {                            \
        const rec_args_##op *args_ = p_;                                                           \
        inner_->op(inner_ HPFF_OPS_EACH(REC_UNPACK, __VA_ARGS__));                                 \
    }                                                                                              \
    static void r_##op(hpff_backend *be HPFF_OPS_EACH(HPFF_OPS_PARAM, __VA_ARGS__)) {              \
        rec_backend *rb_ = (rec_backend *)be;                                                      \
        if (!rb_->open) {                                                                          \
            rb_->inner->op(rb_->inner HPFF_OPS_EACH(HPFF_OPS_ARG, __VA_ARGS__));                   \
            return;                                                                                \
        }                                                                                          \
        rec_args_##op *args_ = rec_push(rb_, rec_replay_##op, sizeof(rec_args_##op));              \
        HPFF_OPS_EACH(REC_PACK, __VA_ARGS__)                                                       \
    }
HPFF_BACKEND_OPS(REC_WRAP)

// ---- memory: forwarded; host copies and syncs cannot be recorded ----

static void *r_alloc(hpff_backend *be, size_t bytes) {
    rec_backend *rb = (rec_backend *)be;
    return rb->inner->alloc(rb->inner, bytes);   // allowed while recording, as in CUDA's relaxed mode
}
static void r_free(hpff_backend *be, void *p) {
    rec_backend *rb = (rec_backend *)be;
    if (rb->open) rec_refuse(rb, "free");
    else rb->inner->free(rb->inner, p);
}
static void r_to_device(hpff_backend *be, void *dst, const void *src, size_t bytes) {
    rec_backend *rb = (rec_backend *)be;
    if (rb->open) rec_refuse(rb, "to_device");
    else rb->inner->to_device(rb->inner, dst, src, bytes);
}
static void r_to_host(hpff_backend *be, void *dst, const void *src, size_t bytes) {
    rec_backend *rb = (rec_backend *)be;
    if (rb->open) rec_refuse(rb, "to_host");
    else rb->inner->to_host(rb->inner, dst, src, bytes);
}
static void r_sync(hpff_backend *be) {
    rec_backend *rb = (rec_backend *)be;
    if (rb->open) rec_refuse(rb, "sync");
    else rb->inner->sync(rb->inner);
}
static size_t r_conv_workspace(hpff_backend *be, const hpff_conv_desc *d) {
    rec_backend *rb = (rec_backend *)be;
    return rb->inner->conv_workspace(rb->inner, d);
}

static int r_conv_block(hpff_backend *be, const hpff_conv_desc *d, int tensor) {
    rec_backend *rb = (rec_backend *)be;
    return rb->inner->conv_block(rb->inner, d, tensor);
}
static void r_set_threads(hpff_backend *be, int threads) {
    rec_backend *rb = (rec_backend *)be;
    rb->inner->set_threads(rb->inner, threads);
}
static void r_mem_stats(hpff_backend *be, hpff_mem_stats *st) {
    rec_backend *rb = (rec_backend *)be;
    rb->inner->mem_stats(rb->inner, st);
}

// ---- graphs ----

static void rec_graph_free(hpff_backend *be, void *graph) {
    (void)be;
    rec_graph *g = graph;
    if (!g) return;
    free(g->buf);
    free(g);
}

static int rec_graph_begin(hpff_backend *be) {
    rec_backend *rb = (rec_backend *)be;
    if (rb->open) return 0;
    rb->open = hpff_xcalloc(1, sizeof *rb->open);
    rb->error[0] = 0;
    return 1;
}

static void *rec_graph_end(hpff_backend *be, char *why, size_t why_len) {
    rec_backend *rb = (rec_backend *)be;
    rec_graph *g = rb->open;
    rb->open = NULL;
    if (!g) {
        snprintf(why, why_len, "graph_end without graph_begin");
        return NULL;
    }
    if (rb->error[0]) {
        snprintf(why, why_len, "%s", rb->error);
        rec_graph_free(be, g);
        return NULL;
    }
    snprintf(why, why_len, "%ld recorded ops", g->calls);
    return g;
}

static void rec_graph_run(hpff_backend *be, void *graph) {
    rec_backend *rb = (rec_backend *)be;
    const rec_graph *g = graph;
    HPFF_CHECK(!rb->open, "graph_run while recording");
    for (size_t off = 0; off < g->used;) {
        const rec_entry *e = (const rec_entry *)(g->buf + off);
        e->replay(rb->inner, (const unsigned char *)e + rec_round(sizeof(rec_entry)));
        off += e->bytes;
    }
}

// ---- life cycle ----

static void rec_destroy(hpff_backend *be) {
    rec_backend *rb = (rec_backend *)be;
    if (rb->open) rec_graph_free(be, rb->open);
    hpff_backend_destroy(rb->inner);
    free(rb);
}

#define REC_SET(op, kind, ...) rb->be.op = inner->op ? r_##op : NULL;

hpff_backend *hpff_backend_recorder(hpff_backend *inner) {
    HPFF_CHECK(inner != NULL, "hpff_backend_recorder: no backend");
    HPFF_CHECK(!inner->graph_begin, "hpff_backend_recorder: backend %s records graphs itself", inner->name);
    rec_backend *rb = hpff_xcalloc(1, sizeof *rb);
    rb->inner = inner;
    rb->be.name = inner->name;
    rb->be.host_memory = inner->host_memory;
    rb->be.ctx = inner->ctx;
    rb->be.destroy = rec_destroy;
    HPFF_BACKEND_OPS(REC_SET)
    rb->be.alloc = r_alloc;
    rb->be.free = r_free;
    rb->be.to_device = r_to_device;
    rb->be.to_host = r_to_host;
    rb->be.sync = r_sync;
    rb->be.conv_workspace = inner->conv_workspace ? r_conv_workspace : NULL;
    rb->be.conv_block = inner->conv_block ? r_conv_block : NULL;
    rb->be.set_threads = inner->set_threads ? r_set_threads : NULL;
    rb->be.mem_stats = inner->mem_stats ? r_mem_stats : NULL;
    rb->be.graph_begin = rec_graph_begin;
    rb->be.graph_end = rec_graph_end;
    rb->be.graph_run = rec_graph_run;
    rb->be.graph_free = rec_graph_free;
    // prof_* stay NULL: a profiler wraps the recorder's inner, not the recorder.
    return &rb->be;
}

int hpff_backend_is_recorder(const hpff_backend *be) { return be && be->destroy == rec_destroy; }
