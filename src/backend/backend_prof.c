// backend_prof.c — the profiling wrapper of backend_prof.h. Each compute op of the table gets a
// forwarder that counts the call and brackets the inner op with two of the inner's marks; the
// times are read once per step, after one synchronisation, in step_end.
#include "backend_prof.h"
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "backend_ops.h"
#include "check.h"

// Every op the wrapper counts, with its kind: the compute ops (backend_ops.h) and the memory ones.
#define PROF_MEMORY_OPS(X) X(alloc, MEMORY) X(free, MEMORY) X(to_device, MEMORY) X(to_host, MEMORY) X(sync, MEMORY)
#define PROF_COMPUTE(X) HPFF_BACKEND_OPS(X)

#define PROF_ENUM(op, kind, ...) PROF_##op,
#define PROF_ENUM2(op, kind) PROF_##op,
enum { PROF_COMPUTE(PROF_ENUM) PROF_MEMORY_OPS(PROF_ENUM2) PROF_N_OPS };
#define PROF_NAME(op, kind, ...) #op,
#define PROF_NAME2(op, kind) #op,
static const char *const k_op_name[PROF_N_OPS] = {PROF_COMPUTE(PROF_NAME) PROF_MEMORY_OPS(PROF_NAME2)};
#define PROF_KIND(op, kind, ...) HPFF_OP_##kind,
#define PROF_KIND2(op, kind) HPFF_OP_##kind,
static const hpff_op_kind k_op_kind[PROF_N_OPS] = {PROF_COMPUTE(PROF_KIND) PROF_MEMORY_OPS(PROF_KIND2)};

// The table's entries besides the counted ops: destroy, the 4 graph hooks, mem_stats,
// conv_workspace, set_threads, conv_block and the 3 prof hooks. A new entry in backend.h must be
// wrapped here (an entry the wrapper left NULL would crash its caller, one copied from the inner
// would run uncounted), so the build stops until it is.
#define PROF_OTHER_ENTRIES 12
_Static_assert((sizeof(hpff_backend) - offsetof(hpff_backend, destroy)) / sizeof(void (*)(void)) ==
                   PROF_N_OPS + PROF_OTHER_ENTRIES,
               "struct hpff_backend gained or lost an entry: wrap it in src/backend/backend_prof.c");
_Static_assert(PROF_N_OPS <= HPFF_PROF_MAX_OPS, "raise HPFF_PROF_MAX_OPS in backend_prof.h");

typedef struct prof_backend {
    hpff_backend be;        // first member: the table callers hold is &pb->be
    hpff_backend *inner;
    int on;                 // between step_begin and step_end
    int timed;              // the inner backend has marks
    int max_calls;          // timed calls per step: two marks each
    int n_timed;            // timed calls this step
    uint8_t *call_op;       // (max_calls) op of each timed call, in issue order
    long calls[PROF_N_OPS];
    long untimed;
} prof_backend;

// Counts a call of `op`; returns its timed-call index after taking its start mark, or -1.
static int call_begin(prof_backend *p, int op) {
    if (!p->on) return -1;
    p->calls[op]++;
    if (!p->timed || k_op_kind[op] == HPFF_OP_MEMORY) return -1;
    if (p->n_timed >= p->max_calls) {
        p->untimed++;
        return -1;
    }
    int c = p->n_timed++;
    p->call_op[c] = (uint8_t)op;
    p->inner->prof_mark(p->inner, 2 * c);
    return c;
}

static void call_end(prof_backend *p, int c) {
    if (c >= 0) p->inner->prof_mark(p->inner, 2 * c + 1);
}

// w_<op>: the inner op between call_begin and call_end (parameters from backend_ops.h).
// The locals end in _ so that no parameter name can shadow them.
#define PROF_WRAP(op, kind, ...)                                                        \
    static void w_##op(hpff_backend *be HPFF_OPS_EACH(HPFF_OPS_PARAM, __VA_ARGS__)) {   \
        prof_backend *pb_ = (prof_backend *)be;                                         \
        int call_ = call_begin(pb_, PROF_##op);                                         \
        pb_->inner->op(pb_->inner HPFF_OPS_EACH(HPFF_OPS_ARG, __VA_ARGS__));            \
        call_end(pb_, call_);                                                           \
    }

// ---- memory: forwarded (counted, not timed) ----

static void *w_alloc(hpff_backend *be, size_t bytes) {
    prof_backend *p = (prof_backend *)be;
    call_begin(p, PROF_alloc);
    return p->inner->alloc(p->inner, bytes);
}
static void w_free(hpff_backend *be, void *ptr) {
    prof_backend *p = (prof_backend *)be;
    call_begin(p, PROF_free);
    p->inner->free(p->inner, ptr);
}
static void w_to_device(hpff_backend *be, void *dst, const void *host_src, size_t bytes) {
    prof_backend *p = (prof_backend *)be;
    call_begin(p, PROF_to_device);
    p->inner->to_device(p->inner, dst, host_src, bytes);
}
static void w_to_host(hpff_backend *be, void *host_dst, const void *src, size_t bytes) {
    prof_backend *p = (prof_backend *)be;
    call_begin(p, PROF_to_host);
    p->inner->to_host(p->inner, host_dst, src, bytes);
}
static void w_sync(hpff_backend *be) {
    prof_backend *p = (prof_backend *)be;
    call_begin(p, PROF_sync);
    p->inner->sync(p->inner);
}

// ---- not counted ----

static size_t w_conv_workspace(hpff_backend *be, const hpff_conv_desc *d) {
    prof_backend *p = (prof_backend *)be;
    return p->inner->conv_workspace(p->inner, d);
}

static int w_conv_block(hpff_backend *be, const hpff_conv_desc *d, int tensor) {
    prof_backend *p = (prof_backend *)be;
    return p->inner->conv_block(p->inner, d, tensor);
}

static void w_mem_stats(hpff_backend *be, hpff_mem_stats *st) {
    prof_backend *p = (prof_backend *)be;
    p->inner->mem_stats(p->inner, st);
}

static void w_set_threads(hpff_backend *be, int threads) {
    prof_backend *p = (prof_backend *)be;
    p->inner->set_threads(p->inner, threads);
}

// ---- compute: counted and timed ----

HPFF_BACKEND_OPS(PROF_WRAP)

// ---- life cycle ----

static void prof_destroy(hpff_backend *be) {
    prof_backend *p = (prof_backend *)be;
    free(p->call_op);
    free(p);   // the inner backend is the caller's
}

// Forwarders only for the entries the inner has: a NULL entry stays NULL (callers test them).
#define PROF_SET(op, kind, ...) p->be.op = inner->op ? w_##op : NULL;
#define PROF_SET2(op, kind) p->be.op = inner->op ? w_##op : NULL;

hpff_backend *hpff_backend_profiled(hpff_backend *inner, int max_marks) {
    HPFF_CHECK(inner != NULL && max_marks >= 2, "hpff_backend_profiled: no backend or %d marks", max_marks);
    HPFF_CHECK(!hpff_backend_is_profiled(inner), "hpff_backend_profiled: the backend is profiled already");
    prof_backend *p = hpff_xcalloc(1, sizeof *p);
    p->inner = inner;
    p->be.name = inner->name;
    p->be.host_memory = inner->host_memory;
    p->be.ctx = inner->ctx;   // code that reads the inner's state through be->ctx keeps working
    p->be.destroy = prof_destroy;
    PROF_COMPUTE(PROF_SET)
    PROF_MEMORY_OPS(PROF_SET2)
    p->be.conv_workspace = inner->conv_workspace ? w_conv_workspace : NULL;
    p->be.conv_block = inner->conv_block ? w_conv_block : NULL;
    p->be.set_threads = inner->set_threads ? w_set_threads : NULL;
    p->be.mem_stats = inner->mem_stats ? w_mem_stats : NULL;
    // graph_* stay NULL (a replayed graph would bypass the forwarders); prof_* too (ours).
    p->timed = inner->prof_reserve && inner->prof_mark && inner->prof_elapsed_ms;
    p->max_calls = max_marks / 2;
    p->call_op = hpff_xcalloc((size_t)p->max_calls, sizeof *p->call_op);
    if (p->timed) inner->prof_reserve(inner, 2 * p->max_calls);
    return &p->be;
}

int hpff_backend_is_profiled(const hpff_backend *be) { return be && be->destroy == prof_destroy; }

static prof_backend *prof_of(hpff_backend *be, const char *what) {
    HPFF_CHECK(hpff_backend_is_profiled(be), "%s: the backend is not a profiling wrapper", what);
    return (prof_backend *)be;
}

hpff_backend *hpff_backend_profiled_inner(hpff_backend *be) {
    return prof_of(be, "hpff_backend_profiled_inner")->inner;
}

void hpff_backend_profiled_step_begin(hpff_backend *be) {
    prof_backend *p = prof_of(be, "hpff_backend_profiled_step_begin");
    memset(p->calls, 0, sizeof p->calls);
    p->n_timed = 0;
    p->untimed = 0;
    p->on = 1;
}

// Sums the device time of each timed call into out->op[].ms; the inner has synchronised.
static void read_times(prof_backend *p, hpff_op_profile *out) {
    hpff_backend *in = p->inner;
    for (int c = 0; c < p->n_timed; c++) out->op[p->call_op[c]].ms += in->prof_elapsed_ms(in, 2 * c, 2 * c + 1);
    if (p->n_timed > 0) out->span_ms = in->prof_elapsed_ms(in, 0, 2 * p->n_timed - 1);
}

void hpff_backend_profiled_step_end(hpff_backend *be, hpff_op_profile *out) {
    prof_backend *p = prof_of(be, "hpff_backend_profiled_step_end");
    p->on = 0;
    p->inner->sync(p->inner);   // every mark of the step reached
    memset(out, 0, sizeof *out);
    out->n_ops = PROF_N_OPS;
    out->timed = p->timed;
    out->untimed = p->untimed;
    out->steps = 1;
    for (int i = 0; i < PROF_N_OPS; i++) {
        out->op[i].name = k_op_name[i];
        out->op[i].kind = k_op_kind[i];
        out->op[i].calls = p->calls[i];
    }
    if (p->timed) read_times(p, out);
    for (int i = 0; i < PROF_N_OPS; i++) {
        const hpff_op_stat *o = &out->op[i];
        if (o->kind == HPFF_OP_MEMORY) out->memory_calls += o->calls;
        else if (o->kind == HPFF_OP_LIBRARY) { out->library_calls += o->calls; out->library_ms += o->ms; }
        else { out->own_calls += o->calls; out->own_ms += o->ms; }
    }
    out->calls = out->library_calls + out->own_calls;
}

void hpff_op_profile_add(hpff_op_profile *sum, const hpff_op_profile *p) {
    if (sum->n_ops == 0) {
        sum->n_ops = p->n_ops;
        sum->timed = p->timed;
        for (int i = 0; i < p->n_ops; i++) {
            sum->op[i].name = p->op[i].name;
            sum->op[i].kind = p->op[i].kind;
        }
    }
    for (int i = 0; i < p->n_ops; i++) {
        sum->op[i].calls += p->op[i].calls;
        sum->op[i].ms += p->op[i].ms;
    }
    sum->calls += p->calls;
    sum->library_calls += p->library_calls;
    sum->own_calls += p->own_calls;
    sum->memory_calls += p->memory_calls;
    sum->library_ms += p->library_ms;
    sum->own_ms += p->own_ms;
    sum->span_ms += p->span_ms;
    sum->untimed += p->untimed;
    sum->timed = sum->timed && p->timed;
    sum->steps += p->steps;
}

// Orders a before b: more time (or calls), then the table order.
static int ranks_before(const hpff_op_profile *p, int by_calls, int a, int b) {
    const hpff_op_stat *x = &p->op[a], *y = &p->op[b];
    if (by_calls ? x->calls != y->calls : x->ms != y->ms)
        return by_calls ? x->calls > y->calls : x->ms > y->ms;
    return a < b;
}

int hpff_op_profile_rank(const hpff_op_profile *p, int by_calls, int idx[HPFF_PROF_MAX_OPS]) {
    int n = 0;
    for (int i = 0; i < p->n_ops; i++) {
        if (p->op[i].calls == 0) continue;
        int j = n++;
        for (; j > 0 && ranks_before(p, by_calls, i, idx[j - 1]); j--) idx[j] = idx[j - 1];
        idx[j] = i;
    }
    return n;
}
