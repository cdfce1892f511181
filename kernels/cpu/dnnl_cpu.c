// dnnl_cpu.c — the oneDNN engine, stream and thread count of the CPU backend, and the memory and
// reorder helpers of its oneDNN op files (dnnl_conv.c).
//
// Threads: Debian's libdnnl 2.6 runs on OpenMP (libgomp), whose spinning barriers collapse as
// soon as another process wants the same cores (two pipeline ranks on two cores, a loaded
// machine). So oneDNN runs single-threaded, and train.threads workers of the backend's own pool
// (cpu_threads.c, sleeping on a condition variable) split a convolution's batch, as the im2col path
// does: each worker runs primitives made for its share of the images on its own stream, with
// an OpenMP team of one in its thread (primitives made for one thread run inline; oneDNN's
// reorders ask the calling thread's team size at run time). Results are bitwise repeatable for
// a fixed thread count: the split and every primitive depend on the shapes and the count only.
#include "dnnl_cpu.h"
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

const char *hpff_dnnl_status_str(dnnl_status_t st) {
    switch (st) {
    case dnnl_success: return "success";
    case dnnl_out_of_memory: return "out of memory";
    case dnnl_invalid_arguments: return "invalid arguments";
    case dnnl_unimplemented: return "unimplemented";
    case dnnl_iterator_ends: return "iterator ends";
    case dnnl_runtime_error: return "runtime error";
    case dnnl_not_required: return "not required";
    default: return "unknown status";
    }
}

dnnl_memory_t hpff_dnnl_mem(hpff_dnnl *s, const dnnl_memory_desc_t *md) {
    dnnl_memory_t m;
    HPFF_DNNL_CHECK(dnnl_memory_create(&m, md, s->engine, DNNL_MEMORY_NONE));
    return m;
}

size_t hpff_dnnl_scratch_bytes(const_dnnl_primitive_desc_t pd) {
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    return md ? dnnl_memory_desc_get_size(md) : 0;
}

dnnl_primitive_t hpff_dnnl_reorder(hpff_dnnl *s, const dnnl_memory_desc_t *from,
                                   const dnnl_memory_desc_t *to, int accumulate, size_t *scratch) {
    dnnl_primitive_attr_t attr;
    dnnl_post_ops_t po = NULL;
    HPFF_DNNL_CHECK(dnnl_primitive_attr_create(&attr));
    HPFF_DNNL_CHECK(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
    if (accumulate) {
        HPFF_DNNL_CHECK(dnnl_post_ops_create(&po));
        HPFF_DNNL_CHECK(dnnl_post_ops_append_sum(po, 1.0f));
        HPFF_DNNL_CHECK(dnnl_primitive_attr_set_post_ops(attr, po));
    }
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t r = NULL;
    if (dnnl_reorder_primitive_desc_create(&pd, from, s->engine, to, s->engine, attr) == dnnl_success) {
        size_t b = hpff_dnnl_scratch_bytes(pd);
        if (b > *scratch) *scratch = b;
        HPFF_DNNL_CHECK(dnnl_primitive_create(&r, pd));
        dnnl_primitive_desc_destroy(pd);
    }
    if (po) dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    return r;
}

void hpff_dnnl_run_reorder(dnnl_stream_t st, dnnl_primitive_t r, dnnl_memory_t from, dnnl_memory_t to,
                           dnnl_memory_t scratch) {
    dnnl_exec_arg_t a[3] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}, {DNNL_ARG_SCRATCHPAD, scratch}};
    HPFF_DNNL_CHECK(dnnl_primitive_execute(r, st, 3, a));
}

void hpff_dnnl_thread_init(void) { omp_set_num_threads(1); }

hpff_dnnl *hpff_dnnl_create(int threads) {
    hpff_dnnl *s = hpff_xcalloc(1, sizeof *s);
    hpff_dnnl_thread_init();   // primitives are made on this thread for a team of one
    HPFF_DNNL_CHECK(dnnl_engine_create(&s->engine, dnnl_cpu, 0));
    s->blocked = 1;
    hpff_dnnl_set_threads(s, threads);
    return s;
}

static void free_streams(hpff_dnnl *s) {
    for (int i = 0; i < s->threads; i++) dnnl_stream_destroy(s->streams[i]);
    free(s->streams);
    s->streams = NULL;
}

void hpff_dnnl_destroy(hpff_dnnl *s) {
    if (!s) return;
    hpff_dnnl_conv_clear(s);
    hpff_dnnl_conv_free_families(s);
    free_streams(s);
    dnnl_engine_destroy(s->engine);
    free(s);
}

void hpff_dnnl_set_threads(hpff_dnnl *s, int threads) {
    threads = threads < 1 ? 1 : threads;
    if (threads == s->threads) return;
    hpff_dnnl_conv_clear(s);
    free_streams(s);
    s->threads = threads;
    s->streams = hpff_xcalloc((size_t)threads, sizeof *s->streams);
    for (int i = 0; i < threads; i++)
        HPFF_DNNL_CHECK(dnnl_stream_create(&s->streams[i], s->engine, dnnl_stream_default_flags));
}

const char *hpff_dnnl_version(char *buf, size_t n) {
    const dnnl_version_t *v = dnnl_version();
    const char *rt = v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP"
                     : v->cpu_runtime == DNNL_RUNTIME_TBB ? "TBB"
                     : v->cpu_runtime == DNNL_RUNTIME_SEQ ? "sequential" : "other runtime";
    snprintf(buf, n, "oneDNN %d.%d.%d (%s)", v->major, v->minor, v->patch, rt);
    return buf;
}
