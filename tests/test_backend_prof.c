// test_backend_prof.c — the profiling wrapper (src/backend/backend_prof.h) on the CPU backend:
//  - it looks like its inner backend (name, host_memory, ctx, also after set_threads), has no
//    graph or prof hooks of its own, and destroying it leaves the inner usable;
//  - a hand-made op sequence is counted exactly (by op, by kind), only between step_begin and
//    step_end, and gives bitwise the inner's results; every time is >= 0 and a large
//    convolution gives library time > 0; out of marks, calls are counted but not timed;
//  - two training steps of a small DGL+HPFF and InfoPro+HPFF model on the wrapper leave bitwise
//    the parameters, momentum and loss of the same steps on the plain backend, and a step
//    issues the same ops every time.
#include <string.h>
#include "backend_prof.h"
#include "step_fixture.h"
#include "test_util.h"

static const hpff_op_stat *stat_of(const hpff_op_profile *p, const char *name) {
    for (int i = 0; i < p->n_ops; i++)
        if (strcmp(p->op[i].name, name) == 0) return &p->op[i];
    return NULL;
}

static long calls_of(const hpff_op_profile *p, const char *name) {
    const hpff_op_stat *o = stat_of(p, name);
    return o ? o->calls : -1;
}

// Sums of the per-op entries agree with the totals; every time is >= 0.
static void check_totals(const char *what, const hpff_op_profile *p) {
    long lib = 0, own = 0, mem = 0;
    int neg = 0;
    for (int i = 0; i < p->n_ops; i++) {
        const hpff_op_stat *o = &p->op[i];
        if (o->ms < 0 || (o->kind == HPFF_OP_MEMORY && o->ms != 0)) neg++;
        *(o->kind == HPFF_OP_LIBRARY ? &lib : o->kind == HPFF_OP_OWN ? &own : &mem) += o->calls;
    }
    TEST_CHECK(neg == 0 && p->library_ms >= 0 && p->own_ms >= 0 && p->span_ms >= 0,
               "%s: %d negative (or timed memory) op times", what, neg);
    TEST_CHECK(lib == p->library_calls && own == p->own_calls && mem == p->memory_calls &&
               p->calls == lib + own, "%s: totals %ld/%ld/%ld/%ld, by op %ld/%ld/%ld", what, p->calls,
               p->library_calls, p->own_calls, p->memory_calls, lib, own, mem);
    TEST_CHECK(p->span_ms + 1e-6 >= p->library_ms + p->own_ms,
               "%s: span %.6f ms shorter than the ops in it (%.6f ms)", what, p->span_ms,
               p->library_ms + p->own_ms);
}

static void test_identity(void) {
    hpff_backend *be = hpff_backend_cpu_create();
    hpff_backend *w = hpff_backend_profiled(be, 64);
    TEST_CHECK(hpff_backend_is_profiled(w) && !hpff_backend_is_profiled(be) && hpff_backend_profiled_inner(w) == be,
               "wrapper identity");
    TEST_CHECK(strcmp(w->name, be->name) == 0 && w->host_memory == be->host_memory && w->ctx == be->ctx,
               "wrapper shows name %s, host_memory %d, ctx %p; inner %s, %d, %p", w->name, w->host_memory, w->ctx,
               be->name, be->host_memory, be->ctx);
    w->set_threads(w, 2);
    TEST_CHECK(w->ctx == be->ctx, "ctx differs after set_threads");
    TEST_CHECK(!w->graph_begin && !w->graph_end && !w->graph_run && !w->graph_free, "wrapper offers graphs");
    TEST_CHECK(!w->prof_reserve && !w->prof_mark && !w->prof_elapsed_ms, "wrapper offers marks");
    TEST_CHECK(be->prof_reserve && be->prof_mark && be->prof_elapsed_ms, "the CPU backend has no marks");
    hpff_backend_destroy(w);
    float *x = be->alloc(be, 16 * sizeof(float));   // the inner outlives its wrapper
    be->fill(be, x, 2.f, 16);
    TEST_CHECK(x[15] == 2.f, "inner unusable after the wrapper was destroyed");
    be->free(be, x);
    hpff_backend_destroy(be);
}

// A convolution big enough to take measurable time: 8 x 32 x 32 x 32 -> 32 channels, 3x3.
static const hpff_conv_desc k_conv = {8, 32, 32, 32, 32, 32, 32, 3, 3, 1, 1, 1, 1, 1, 0, 0};

typedef struct seq_out { float *a, *b, *y; } seq_out;

// 3 fills, 2 axpy, 1 convolution and 1 copy to the device on `be`.
static void run_sequence(hpff_backend *be, const float *x, const float *wt, void *ws, seq_out *o) {
    const hpff_conv_desc *d = &k_conv;
    size_t yn = (size_t)d->n * d->c_out * d->h_out * d->w_out;
    float host[4] = {1.f, -2.f, 3.5f, 0.25f};
    be->fill(be, o->a, 0.5f, 1000);
    be->fill(be, o->b, -1.25f, 1000);
    be->fill(be, o->y, 0.f, yn);
    be->axpy(be, o->a, 3.f, o->b, 1000);
    be->axpy(be, o->b, -0.5f, o->a, 1000);
    be->to_device(be, o->a, host, sizeof host);
    be->conv_fwd(be, d, x, wt, NULL, o->y, ws);
}

static void seq_alloc(hpff_backend *be, seq_out *o, size_t yn) {
    o->a = be->alloc(be, 1000 * sizeof(float));
    o->b = be->alloc(be, 1000 * sizeof(float));
    o->y = be->alloc(be, yn * sizeof(float));
}

static void seq_free(hpff_backend *be, seq_out *o) {
    be->free(be, o->a);
    be->free(be, o->b);
    be->free(be, o->y);
}

static void test_counts(void) {
    hpff_backend *be = hpff_backend_cpu_create();
    hpff_backend *w = hpff_backend_profiled(be, 256);
    const hpff_conv_desc *d = &k_conv;
    size_t xn = (size_t)d->n * d->c_in * d->h_in * d->w_in, yn = (size_t)d->n * d->c_out * d->h_out * d->w_out;
    size_t wn = (size_t)d->c_out * d->c_in * d->kh * d->kw;
    float *x = be->alloc(be, xn * sizeof(float)), *wt = be->alloc(be, wn * sizeof(float));
    test_fill_uniform(x, xn, -1, 1, 11);
    test_fill_uniform(wt, wn, -0.1f, 0.1f, 12);
    void *ws = be->alloc(be, be->conv_workspace(be, d));
    seq_out ref, got;
    seq_alloc(be, &ref, yn);
    seq_alloc(w, &got, yn);   // allocations through the wrapper, outside a step: not counted
    run_sequence(be, x, wt, ws, &ref);
    w->fill(w, got.a, 7.f, 1000);   // outside a step: not counted either

    hpff_op_profile p;
    hpff_backend_profiled_step_begin(w);
    run_sequence(w, x, wt, ws, &got);
    hpff_backend_profiled_step_end(w, &p);
    TEST_CHECK(memcmp(got.a, ref.a, 1000 * sizeof(float)) == 0 && memcmp(got.b, ref.b, 1000 * sizeof(float)) == 0 &&
               memcmp(got.y, ref.y, yn * sizeof(float)) == 0, "wrapped results differ from the inner's");
    TEST_CHECK(calls_of(&p, "fill") == 3 && calls_of(&p, "axpy") == 2 && calls_of(&p, "conv_fwd") == 1 &&
               calls_of(&p, "to_device") == 1 && calls_of(&p, "alloc") == 0 && calls_of(&p, "scale") == 0,
               "counts fill %ld axpy %ld conv_fwd %ld to_device %ld alloc %ld scale %ld", calls_of(&p, "fill"),
               calls_of(&p, "axpy"), calls_of(&p, "conv_fwd"), calls_of(&p, "to_device"), calls_of(&p, "alloc"),
               calls_of(&p, "scale"));
    TEST_CHECK(p.calls == 6 && p.library_calls == 1 && p.own_calls == 5 && p.memory_calls == 1 && p.untimed == 0 &&
               p.timed == 1 && p.steps == 1, "totals: %ld calls, %ld library, %ld own, %ld memory, %ld untimed",
               p.calls, p.library_calls, p.own_calls, p.memory_calls, p.untimed);
    check_totals("sequence", &p);
    const hpff_op_stat *conv = stat_of(&p, "conv_fwd");
    TEST_CHECK(conv && conv->kind == HPFF_OP_LIBRARY && conv->ms > 0 && p.library_ms == conv->ms,
               "conv_fwd: library time %.6f ms, total library %.6f ms", conv ? conv->ms : -1, p.library_ms);
    TEST_CHECK(stat_of(&p, "fill")->kind == HPFF_OP_OWN && stat_of(&p, "linear_bwd_weight")->kind == HPFF_OP_LIBRARY,
               "op kinds");
    printf("sequence: conv_fwd %.3f ms, own ops %.4f ms, span %.3f ms\n", conv ? conv->ms : -1, p.own_ms, p.span_ms);

    // The next step starts from zero; sums add up over steps.
    hpff_op_profile q, sum;
    memset(&sum, 0, sizeof sum);
    hpff_backend_profiled_step_begin(w);
    w->scale(w, got.a, 2.f, 1000);
    hpff_backend_profiled_step_end(w, &q);
    TEST_CHECK(q.calls == 1 && calls_of(&q, "scale") == 1 && calls_of(&q, "fill") == 0, "second step: %ld calls",
               q.calls);
    hpff_op_profile_add(&sum, &p);
    hpff_op_profile_add(&sum, &q);
    TEST_CHECK(sum.steps == 2 && sum.calls == 7 && calls_of(&sum, "fill") == 3 && calls_of(&sum, "scale") == 1 &&
               sum.library_ms == p.library_ms, "sum of two steps: %d steps, %ld calls", sum.steps, sum.calls);
    int idx[HPFF_PROF_MAX_OPS], n = hpff_op_profile_rank(&sum, 1, idx);
    TEST_CHECK(n == 5 && strcmp(sum.op[idx[0]].name, "fill") == 0 && strcmp(sum.op[idx[1]].name, "axpy") == 0,
               "ranking by count: %d ops, first %s", n, n ? sum.op[idx[0]].name : "-");
    n = hpff_op_profile_rank(&sum, 0, idx);
    TEST_CHECK(n == 5 && strcmp(sum.op[idx[0]].name, "conv_fwd") == 0, "ranking by time: first %s",
               n ? sum.op[idx[0]].name : "-");

    seq_free(be, &ref);
    seq_free(w, &got);
    be->free(be, x);
    be->free(be, wt);
    be->free(be, ws);
    hpff_backend_destroy(w);

    // Out of marks (4 marks: two timed calls): the rest are counted, not timed.
    w = hpff_backend_profiled(be, 4);
    float *v = w->alloc(w, 64 * sizeof(float));
    hpff_backend_profiled_step_begin(w);
    for (int i = 0; i < 5; i++) w->fill(w, v, (float)i, 64);
    hpff_backend_profiled_step_end(w, &p);
    TEST_CHECK(p.calls == 5 && calls_of(&p, "fill") == 5 && p.untimed == 3 && v[63] == 4.f,
               "out of marks: %ld calls, %ld untimed", p.calls, p.untimed);
    check_totals("out of marks", &p);
    w->free(w, v);
    hpff_backend_destroy(w);
    hpff_backend_destroy(be);
}

#define N 8

typedef struct run_out { float *p, *mom; size_t count; float loss; hpff_op_profile prof[2]; } run_out;

// Two training steps of a small model; on a wrapper of the CPU backend when `wrap`.
static void train_two(const char *method, int wrap, run_out *o) {
    hpff_config cfg;
    stepf_config_small(&cfg, method, 4, N, 3);
    hpff_backend *inner = hpff_backend_cpu_create();
    hpff_backend *be = wrap ? hpff_backend_profiled(inner, 1 << 14) : inner;
    hpff_shape img = {3, 16, 16};
    stepf_side side;
    stepf_side_init_img(&side, &cfg, be, stepf_config_net(&cfg, img, be), img);
    const hpff_model *md = &side.md;
    size_t xn = (size_t)N * hpff_shape_numel(img);
    float *x = malloc(xn * sizeof(float));
    int32_t y[N];
    test_fill_uniform(x, xn, -2.f, 2.f, 99);
    for (int i = 0; i < N; i++) y[i] = (i * 3 + 1) % 10;
    hpff_step_stats stats;
    for (int k = 0; k < 2; k++) {
        if (wrap) hpff_backend_profiled_step_begin(be);
        hpff_stage_step(&side.st, x, y, N, 0.05f, &stats);
        if (wrap) hpff_backend_profiled_step_end(be, &o->prof[k]);
    }
    o->count = md->params.total;
    o->p = malloc(o->count * sizeof(float));
    o->mom = malloc(o->count * sizeof(float));
    be->to_host(be, o->p, md->p, o->count * sizeof(float));
    be->to_host(be, o->mom, md->mom, o->count * sizeof(float));
    o->loss = stats.final_loss;
    free(x);
    stepf_side_free(&side);
    if (wrap) hpff_backend_destroy(be);
    hpff_backend_destroy(inner);
}

static void test_model(const char *method) {
    run_out a, b;
    train_two(method, 0, &a);
    train_two(method, 1, &b);
    TEST_CHECK(a.count == b.count && memcmp(a.p, b.p, a.count * sizeof(float)) == 0 &&
               memcmp(a.mom, b.mom, a.count * sizeof(float)) == 0 && a.loss == b.loss,
               "%s: wrapped training differs (loss %.9g vs %.9g)", method, b.loss, a.loss);
    const hpff_op_profile *p = &b.prof[1];
    check_totals(method, p);
    TEST_CHECK(p->library_calls > 0 && p->own_calls > 0 && p->untimed == 0 && p->library_ms > 0,
               "%s: %ld library, %ld own, %ld untimed ops, library %.4f ms", method, p->library_calls, p->own_calls,
               p->untimed, p->library_ms);
    TEST_CHECK(calls_of(p, "conv_fwd") > 0 && calls_of(p, "sgd_nesterov") == 1 && calls_of(p, "alloc") == 0,
               "%s: conv_fwd %ld, sgd_nesterov %ld, alloc %ld", method, calls_of(p, "conv_fwd"),
               calls_of(p, "sgd_nesterov"), calls_of(p, "alloc"));
    int same = 1;
    for (int i = 0; i < p->n_ops; i++) same &= b.prof[0].op[i].calls == p->op[i].calls;
    TEST_CHECK(same, "%s: the two steps issued different ops", method);
    printf("%s (resnet8 K=3, batch %d): %ld ops per step (%ld library, %ld own) + %ld memory\n", method, N, p->calls,
           p->library_calls, p->own_calls, p->memory_calls);
    free(a.p);
    free(a.mom);
    free(b.p);
    free(b.mom);
}

int main(void) {
    test_identity();
    test_counts();
    test_model("dgl");
    test_model("infopro");
    return hpff_test_summary("test_backend_prof");
}
