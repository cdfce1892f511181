// cpu_backend.c — the CPU backend's life cycle and memory: the ops table (each cpu_*.c file
// installs its own entries, as the CUDA backend's .cu files do), host allocation, the worker pool
// of train.threads (cpu_threads.c), the choice of convolution path (oneDNN, dnnl_conv.c, with or
// without the channel-blocked layouts of its conv_block, or the im2col reference, cpu_conv.c) and
// the profiling marks.
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "backend.h"
#include "check.h"
#include "cpu_internal.h"
#include "dnnl_conv.h"

// Declared by OpenBLAS's cblas.h; repeated so that another cblas.h still compiles.
void openblas_set_num_threads(int num_threads);

// ---- memory ----

static void *cpu_alloc(hpff_backend *be, size_t bytes) {
    (void)be;
    void *p = NULL;
    size_t sz = (bytes + 63) / 64 * 64;
    HPFF_CHECK(posix_memalign(&p, 64, sz ? sz : 64) == 0 && p != NULL,
               "out of host memory allocating %zu bytes", bytes);
    memset(p, 0, sz);
    return p;
}

static void cpu_free(hpff_backend *be, void *p) {
    (void)be;
    free(p);
}

static void cpu_memcpy(hpff_backend *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    if (bytes) memmove(dst, src, bytes);
}

static void cpu_sync(hpff_backend *be) { (void)be; }

// Threads split the convolutions' images (cpu_threads.c); BLAS and oneDNN stay single-threaded
// inside them. Call before workspaces are sized: conv_workspace grows with the thread count.
static void cpu_set_threads(hpff_backend *be, int threads) {
    hpff_cpu_ctx *cx = be->ctx;
    openblas_set_num_threads(1);
    hpff_cpu_pool_destroy(cx->pool);
    cx->pool = hpff_cpu_pool_create(threads < 1 ? 1 : threads);
    if (cx->dnnl) hpff_dnnl_set_threads(cx->dnnl, threads);
}

int hpff_backend_cpu_set_conv(hpff_backend *be, const char *path) {
    hpff_cpu_ctx *cx = be->ctx;
    const char *env = getenv("HPFF_CPU_CONV");
    static const char *const paths[] = {"dnnl", "dnnl_nchw", "im2col"};
    for (int i = 0; i < 3 && strcmp(path, "auto") == 0 && env; i++)
        if (strcmp(env, paths[i]) == 0) path = paths[i];
    int want = strcmp(path, "im2col") != 0;
    if (want && !HPFF_HAVE_DNNL) return strcmp(path, "auto") == 0;
    if (want != (cx->dnnl != NULL)) {
        hpff_dnnl_destroy(cx->dnnl);
        cx->dnnl = want ? hpff_dnnl_create(hpff_cpu_pool_threads(cx->pool)) : NULL;
    }
    if (cx->dnnl) hpff_dnnl_set_blocked(cx->dnnl, strcmp(path, "dnnl_nchw") != 0);
    return 1;
}

const char *hpff_backend_cpu_conv(const hpff_backend *be) {
    const hpff_cpu_ctx *cx = be->ctx;
    return !cx->dnnl ? "im2col" : hpff_dnnl_blocked(cx->dnnl) ? "dnnl" : "dnnl_nchw";
}

const char *hpff_backend_cpu_conv_impl(hpff_backend *be, const hpff_conv_desc *d, int dir) {
    return hpff_dnnl_conv_impl(be, d, dir);
}

// ---- profiling marks: the CPU runs each op to completion in the call, so a mark is "now" ----

static void cpu_prof_reserve(hpff_backend *be, int marks) {
    hpff_cpu_ctx *cx = be->ctx;
    if (marks <= cx->n_marks) return;
    double *m = realloc(cx->marks, (size_t)marks * sizeof *m);
    HPFF_CHECK(m != NULL, "out of host memory reserving %d profiling marks", marks);
    for (int i = cx->n_marks; i < marks; i++) m[i] = -1.0;   // "never recorded"
    cx->marks = m;
    cx->n_marks = marks;
}

static void cpu_prof_mark(hpff_backend *be, int i) {
    hpff_cpu_ctx *cx = be->ctx;
    HPFF_CHECK(i >= 0 && i < cx->n_marks, "profiling mark %d outside the %d reserved", i, cx->n_marks);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    cx->marks[i] = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_prof_elapsed_ms(hpff_backend *be, int a, int b) {
    hpff_cpu_ctx *cx = be->ctx;
    HPFF_CHECK(a >= 0 && b >= 0 && a < cx->n_marks && b < cx->n_marks && cx->marks[a] >= 0 &&
               cx->marks[b] >= 0, "profiling marks %d and %d: not both recorded (%d reserved)", a, b,
               cx->n_marks);
    return 1000.0 * (cx->marks[b] - cx->marks[a]);
}

// ---- the table ----

static void cpu_destroy(hpff_backend *be) {
    hpff_cpu_ctx *cx = be->ctx;
    hpff_cpu_pool_destroy(cx->pool);
    hpff_dnnl_destroy(cx->dnnl);
    free(cx->marks);
    free(cx);
    free(be);
}

hpff_backend *hpff_backend_cpu_create(void) {
    hpff_backend *be = hpff_xcalloc(1, sizeof *be);
    *be = (hpff_backend){
        .name = "cpu",
        .host_memory = 1,
        .ctx = hpff_xcalloc(1, sizeof(hpff_cpu_ctx)),
        .destroy = cpu_destroy,
        .alloc = cpu_alloc,
        .free = cpu_free,
        .to_device = cpu_memcpy,
        .to_host = cpu_memcpy,
        .copy = cpu_memcpy,
        .sync = cpu_sync,
        .set_threads = cpu_set_threads,
        .prof_reserve = cpu_prof_reserve,
        .prof_mark = cpu_prof_mark,
        .prof_elapsed_ms = cpu_prof_elapsed_ms,
    };
    hpff_cpu_install_elementwise(be);
    hpff_cpu_install_conv(be);
#ifdef HPFF_DNNL
    hpff_cpu_install_dnnl_conv(be);   // falls back to the im2col entries per backend.cpu_conv and shape
#endif
    hpff_cpu_install_bn(be);
    hpff_cpu_install_bn_blocked(be);
    hpff_cpu_install_layout(be);
    hpff_cpu_install_pool(be);
    hpff_cpu_install_linear(be);
    hpff_cpu_install_resize(be);
    hpff_cpu_install_loss(be);
    hpff_cpu_install_aux(be);
    openblas_set_num_threads(1);   // one thread until set_threads says otherwise
    hpff_backend_cpu_set_conv(be, "auto");
    return be;
}

void hpff_backend_destroy(hpff_backend *be) {
    if (be) be->destroy(be);
}
