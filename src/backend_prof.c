// backend_prof.c — the profiling wrapper of backend_prof.h. Each compute op of the table gets a
// forwarder that counts the call and brackets the inner op with two of the inner's marks; the
// times are read once per step, after one synchronisation, in step_end.
#include "backend_prof.h"
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

// Every op the wrapper counts, with its kind. X(entry, kind).
#define PROF_OPS(X)                                                                               \
    X(copy, OWN) X(fill, OWN) X(scale, OWN) X(axpy, OWN) X(add, OWN) X(relu_fwd, OWN)             \
    X(relu_bwd, OWN) X(sigmoid_fwd, OWN) X(sigmoid_bwd, OWN)                                      \
    X(conv_fwd, LIBRARY) X(conv_bwd_data, LIBRARY) X(conv_bwd_filter, LIBRARY)                    \
    X(bn_fwd_train, OWN) X(bn_fwd_eval, OWN) X(bn_bwd, OWN)                                       \
    X(maxpool_fwd, OWN) X(maxpool_bwd, OWN) X(avgpool_fwd, OWN) X(avgpool_bwd, OWN)               \
    X(adaptive_avgpool_fwd, OWN) X(adaptive_avgpool_bwd, OWN)                                     \
    X(linear_fwd, LIBRARY) X(linear_bwd_data, LIBRARY) X(linear_bwd_weight, LIBRARY)              \
    X(resize_bilinear_fwd, OWN) X(resize_bilinear_bwd, OWN) X(patch_extract, OWN)                 \
    X(patch_scatter, OWN) X(softmax_xent, OWN) X(bce, OWN) X(sgd_nesterov, OWN)                   \
    X(spatial_std_fwd, OWN) X(spatial_std_bwd, OWN) X(simmat_mse, OWN) X(supcon, OWN)             \
    X(alloc, MEMORY) X(free, MEMORY) X(to_device, MEMORY) X(to_host, MEMORY) X(sync, MEMORY)

#define PROF_ENUM(op, kind) PROF_##op,
enum { PROF_OPS(PROF_ENUM) PROF_N_OPS };
#define PROF_NAME(op, kind) #op,
static const char *const k_op_name[PROF_N_OPS] = {PROF_OPS(PROF_NAME)};
#define PROF_KIND(op, kind) HPFF_OP_##kind,
static const hpff_op_kind k_op_kind[PROF_N_OPS] = {PROF_OPS(PROF_KIND)};

// The table's entries besides the counted ops: destroy, the 4 graph hooks, mem_stats,
// conv_workspace, set_threads and the 3 prof hooks. A new entry in backend.h must be wrapped here (an entry the
// wrapper left NULL would crash its caller, one copied from the inner would run uncounted), so
// the build stops until it is.
#define PROF_OTHER_ENTRIES 11
_Static_assert((sizeof(hpff_backend) - offsetof(hpff_backend, destroy)) / sizeof(void (*)(void)) ==
                   PROF_N_OPS + PROF_OTHER_ENTRIES,
               "struct hpff_backend gained or lost an entry: wrap it in src/backend_prof.c");
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

// w_<op>: the inner op between call_begin and call_end. `params` is the op's parameter list
// after `be`, `args` the names passed on.
#define PROF_LIST(...) __VA_ARGS__
// The locals end in _ so that no parameter name can shadow them.
#define PROF_WRAP(op, params, args)                          \
    static void w_##op(hpff_backend *be, PROF_LIST params) { \
        prof_backend *pb_ = (prof_backend *)be;              \
        int call_ = call_begin(pb_, PROF_##op);              \
        pb_->inner->op(pb_->inner, PROF_LIST args);          \
        call_end(pb_, call_);                                \
    }

// ---- memory: forwarded (counted, not timed); alloc and sync do not fit PROF_WRAP ----

static void *w_alloc(hpff_backend *be, size_t bytes) {
    prof_backend *p = (prof_backend *)be;
    call_begin(p, PROF_alloc);
    return p->inner->alloc(p->inner, bytes);
}
PROF_WRAP(free, (void *ptr), (ptr))
PROF_WRAP(to_device, (void *dst, const void *host_src, size_t bytes), (dst, host_src, bytes))
PROF_WRAP(to_host, (void *host_dst, const void *src, size_t bytes), (host_dst, src, bytes))
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

// The CPU backend keeps its pool in ctx; mirror the inner's ctx again in case it moved.
static void w_mem_stats(hpff_backend *be, hpff_mem_stats *st) {
    prof_backend *p = (prof_backend *)be;
    p->inner->mem_stats(p->inner, st);
}

static void w_set_threads(hpff_backend *be, int threads) {
    prof_backend *p = (prof_backend *)be;
    p->inner->set_threads(p->inner, threads);
    be->ctx = p->inner->ctx;
}

// ---- compute: counted and timed ----

PROF_WRAP(copy, (void *dst, const void *src, size_t bytes), (dst, src, bytes))
PROF_WRAP(fill, (float *x, float v, size_t n), (x, v, n))
PROF_WRAP(scale, (float *x, float a, size_t n), (x, a, n))
PROF_WRAP(axpy, (float *y, float a, const float *x, size_t n), (y, a, x, n))
PROF_WRAP(add, (float *y, const float *a, const float *b, size_t n), (y, a, b, n))
PROF_WRAP(relu_fwd, (float *y, const float *x, size_t n), (y, x, n))
PROF_WRAP(relu_bwd, (float *dx, const float *y, const float *dy, size_t n, float beta), (dx, y, dy, n, beta))
PROF_WRAP(sigmoid_fwd, (float *y, const float *x, size_t n), (y, x, n))
PROF_WRAP(sigmoid_bwd, (float *dx, const float *y, const float *dy, size_t n, float beta), (dx, y, dy, n, beta))

PROF_WRAP(conv_fwd,
          (const hpff_conv_desc *d, const float *x, const float *w, const float *bias, float *y, void *ws),
          (d, x, w, bias, y, ws))
PROF_WRAP(conv_bwd_data, (const hpff_conv_desc *d, const float *w, const float *dy, float *dx, float beta, void *ws),
          (d, w, dy, dx, beta, ws))
PROF_WRAP(conv_bwd_filter,
          (const hpff_conv_desc *d, const float *x, const float *dy, float *dw, float *dbias, void *ws),
          (d, x, dy, dw, dbias, ws))

PROF_WRAP(bn_fwd_train,
          (int n, int c, int hw, const float *x, const float *gamma, const float *beta, float *y,
           float *running_mean, float *running_var, float momentum, float eps, float *save_mean,
           float *save_invstd, int relu),
          (n, c, hw, x, gamma, beta, y, running_mean, running_var, momentum, eps, save_mean, save_invstd, relu))
PROF_WRAP(bn_fwd_eval,
          (int n, int c, int hw, const float *x, const float *gamma, const float *beta, float *y,
           const float *running_mean, const float *running_var, float eps, int relu),
          (n, c, hw, x, gamma, beta, y, running_mean, running_var, eps, relu))
PROF_WRAP(bn_bwd,
          (int n, int c, int hw, const float *x, const float *dy, const float *gamma, const float *save_mean,
           const float *save_invstd, const float *relu_y, float *dx, float beta_dx, float *dgamma, float *dbeta),
          (n, c, hw, x, dy, gamma, save_mean, save_invstd, relu_y, dx, beta_dx, dgamma, dbeta))

PROF_WRAP(maxpool_fwd, (const hpff_pool_desc *d, const float *x, float *y), (d, x, y))
PROF_WRAP(maxpool_bwd, (const hpff_pool_desc *d, const float *x, const float *y, const float *dy, float *dx, float beta),
          (d, x, y, dy, dx, beta))
PROF_WRAP(avgpool_fwd, (const hpff_pool_desc *d, const float *x, float *y), (d, x, y))
PROF_WRAP(avgpool_bwd, (const hpff_pool_desc *d, const float *dy, float *dx, float beta), (d, dy, dx, beta))
PROF_WRAP(adaptive_avgpool_fwd, (int n, int c, int h_in, int w_in, int h_out, int w_out, const float *x, float *y),
          (n, c, h_in, w_in, h_out, w_out, x, y))
PROF_WRAP(adaptive_avgpool_bwd,
          (int n, int c, int h_in, int w_in, int h_out, int w_out, const float *dy, float *dx, float beta),
          (n, c, h_in, w_in, h_out, w_out, dy, dx, beta))

PROF_WRAP(linear_fwd, (int n, int in, int out, const float *x, const float *w, const float *b, float *y),
          (n, in, out, x, w, b, y))
PROF_WRAP(linear_bwd_data, (int n, int in, int out, const float *w, const float *dy, float *dx, float beta),
          (n, in, out, w, dy, dx, beta))
PROF_WRAP(linear_bwd_weight, (int n, int in, int out, const float *x, const float *dy, float *dw, float *db),
          (n, in, out, x, dy, dw, db))

PROF_WRAP(resize_bilinear_fwd, (int n, int c, int h_in, int w_in, int h_out, int w_out, const float *x, float *y),
          (n, c, h_in, w_in, h_out, w_out, x, y))
PROF_WRAP(resize_bilinear_bwd,
          (int n, int c, int h_in, int w_in, int h_out, int w_out, const float *dy, float *dx, float beta),
          (n, c, h_in, w_in, h_out, w_out, dy, dx, beta))
PROF_WRAP(patch_extract, (int n, int c, int h, int w, int r0, int c0, int ph, int pw, const float *x, float *pt),
          (n, c, h, w, r0, c0, ph, pw, x, pt))
PROF_WRAP(patch_scatter,
          (int n, int c, int h, int w, int r0, int c0, int ph, int pw, const float *dp, float *dx, float beta),
          (n, c, h, w, r0, c0, ph, pw, dp, dx, beta))

PROF_WRAP(softmax_xent,
          (int n, int k, const float *logits, const int32_t *labels, float weight, float *dlogits, float *stat,
           float stat_scale),
          (n, k, logits, labels, weight, dlogits, stat, stat_scale))
PROF_WRAP(bce, (size_t count, const float *pr, const float *t, float weight, float *dp, float *stat, float stat_scale),
          (count, pr, t, weight, dp, stat, stat_scale))
PROF_WRAP(sgd_nesterov,
          (float *pr, float *g, float *buf, size_t count, float lr, float mom, float wd, int first),
          (pr, g, buf, count, lr, mom, wd, first))

PROF_WRAP(spatial_std_fwd, (size_t rows, int hw, const float *x, float *y), (rows, hw, x, y))
PROF_WRAP(spatial_std_bwd, (size_t rows, int hw, const float *x, const float *y, const float *dy, float *dx, float beta),
          (rows, hw, x, y, dy, dx, beta))
PROF_WRAP(simmat_mse,
          (int n, int d, const float *v, const int32_t *labels, int classes, float weight, float *dv, float *stat,
           float stat_scale),
          (n, d, v, labels, classes, weight, dv, stat, stat_scale))
PROF_WRAP(supcon,
          (int n, int d, const float *f, const int32_t *labels, float tau, float weight, float *df, float *stat,
           float stat_scale),
          (n, d, f, labels, tau, weight, df, stat, stat_scale))

// ---- life cycle ----

static void prof_destroy(hpff_backend *be) {
    prof_backend *p = (prof_backend *)be;
    free(p->call_op);
    free(p);   // the inner backend is the caller's
}

// Forwarders only for the entries the inner has: a NULL entry stays NULL (callers test them).
#define PROF_SET(op, kind) p->be.op = inner->op ? w_##op : NULL;

hpff_backend *hpff_backend_profiled(hpff_backend *inner, int max_marks) {
    HPFF_CHECK(inner != NULL && max_marks >= 2, "hpff_backend_profiled: no backend or %d marks", max_marks);
    HPFF_CHECK(!hpff_backend_is_profiled(inner), "hpff_backend_profiled: the backend is profiled already");
    prof_backend *p = hpff_xcalloc(1, sizeof *p);
    p->inner = inner;
    p->be.name = inner->name;
    p->be.host_memory = inner->host_memory;
    p->be.ctx = inner->ctx;   // code that reads the inner's state through be->ctx keeps working
    p->be.destroy = prof_destroy;
    PROF_OPS(PROF_SET)
    p->be.conv_workspace = inner->conv_workspace ? w_conv_workspace : NULL;
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
