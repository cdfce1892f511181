// cuda_backend.cu — the CUDA backend's life cycle and memory: device selection, the compute
// stream and library handles, tracked allocations (peak bytes), host<->device copies, the
// launch check and the shared scratch buffer. The ops live in the other cuda_*.cu files.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cuda_backend.h"
#include "cuda_internal.h"

#define HPFF_CUBLAS_WS_BYTES ((size_t)32 << 20)   // what cuBLAS recommends for Hopper
#define HPFF_SCRATCH_MIN ((size_t)1 << 20)

// Recording a graph (one per process at a time: the compute thread records its stream).
static int g_recording;
static char g_record_error[512];   // the first failure while recording

extern "C" void hpff_cuda_fail(const char *file, int line, const char *stmt, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!g_recording) hpff_fatal(file, line, stmt, "%s", msg);
    if (!g_record_error[0]) snprintf(g_record_error, sizeof g_record_error, "%s:%d: %s: %s", file, line, stmt, msg);
}

extern "C" int hpff_cuda_device_count(void) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();   // clear the sticky "no driver" state
        return 0;
    }
    return n;
}

extern "C" size_t hpff_cuda_peak_bytes(hpff_backend *be) {
    return be ? hpff_cuda_ctx_of(be)->peak_bytes : 0;
}

extern "C" void hpff_cuda_mem_info(size_t *free_b, size_t *total_b) {
    size_t f = 0, t = 0;
    if (cudaMemGetInfo(&f, &t) != cudaSuccess) {
        (void)cudaGetLastError();
        f = t = 0;
    }
    if (free_b) *free_b = f;
    if (total_b) *total_b = t;
}

extern "C" void *hpff_cuda_stream(hpff_backend *be) { return (void *)hpff_cuda_ctx_of(be)->stream; }

extern "C" void hpff_cuda_launched(hpff_cuda_ctx *cx, const char *what, const char *file, int line) {
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess && cx->sync_check) e = cudaStreamSynchronize(cx->stream);
    if (e != cudaSuccess)
        hpff_cuda_fail(file, line, what, "CUDA error %d (%s) in %s: %s%s", (int)e, cudaGetErrorName(e),
                   what, cudaGetErrorString(e),
                   cx->sync_check ? "" : " (set HPFF_SYNC_CHECK=1 to locate asynchronous faults)");
}

extern "C" void hpff_cuda_library_done(hpff_cuda_ctx *cx, const char *what, const char *file, int line) {
    (void)cudaGetLastError();
    if (!cx->sync_check) return;
    cudaError_t e = cudaStreamSynchronize(cx->stream);
    if (e != cudaSuccess)
        hpff_cuda_fail(file, line, what, "CUDA error %d (%s) in %s: %s", (int)e, cudaGetErrorName(e), what,
                   cudaGetErrorString(e));
}

extern "C" void *hpff_cuda_scratch(hpff_cuda_ctx *cx, size_t bytes) {
    if (bytes <= cx->scratch_bytes) return cx->scratch;
    size_t cap = cx->scratch_bytes ? cx->scratch_bytes : HPFF_SCRATCH_MIN;
    while (cap < bytes) cap *= 2;
    HPFF_CHECK(cx->graphs == 0, "an op needs %zu bytes of scratch (%zu held) after a graph recorded the "
               "scratch's address; this shape was not seen before recording (set backend.graph = off)",
               bytes, cx->scratch_bytes);
    if (g_recording) {   // no synchronisation and no free while capturing: fail the recording instead
        hpff_cuda_fail(__FILE__, __LINE__, "hpff_cuda_scratch", "the scratch must grow to %zu bytes while "
                       "recording (a shape not seen in the warm-up steps)", bytes);
        return cx->scratch;
    }
    HPFF_CUDA_CHECK(cudaStreamSynchronize(cx->stream));   // earlier ops may still use it
    if (cx->scratch) HPFF_CUDA_CHECK(cudaFree(cx->scratch));
    cx->scratch = NULL;
    HPFF_CUDA_CHECK(cudaMalloc(&cx->scratch, cap));
    cx->scratch_bytes = cap;
    return cx->scratch;
}

// ---- memory ----

static void *cuda_alloc(hpff_backend *be, size_t bytes) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        size_t f = 0, t = 0;
        hpff_cuda_mem_info(&f, &t);
        hpff_fatal(__FILE__, __LINE__, "cudaMalloc",
                   "out of device memory on device %d: requested %zu bytes (%.1f MiB); free %zu of "
                   "%zu bytes; %zu bytes allocated by this backend (%s)",
                   cx->device, bytes, bytes / 1048576.0, f, t, cx->cur_bytes, cudaGetErrorString(e));
    }
    HPFF_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, cx->stream));
    HPFF_CUDA_CHECK(cudaStreamSynchronize(cx->stream));
    if (cx->n_allocs == cx->cap_allocs) {
        size_t cap = cx->cap_allocs ? 2 * cx->cap_allocs : 64;
        hpff_cuda_alloc_rec *a = (hpff_cuda_alloc_rec *)realloc(cx->allocs, cap * sizeof *a);
        HPFF_CHECK(a != NULL, "out of host memory tracking device allocations");
        cx->allocs = a;
        cx->cap_allocs = cap;
    }
    cx->allocs[cx->n_allocs].p = p;
    cx->allocs[cx->n_allocs].bytes = bytes;
    cx->n_allocs++;
    cx->cur_bytes += bytes;
    if (cx->cur_bytes > cx->peak_bytes) cx->peak_bytes = cx->cur_bytes;
    return p;
}

static void cuda_free(hpff_backend *be, void *p) {
    if (!p) return;
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    size_t i = 0;
    while (i < cx->n_allocs && cx->allocs[i].p != p) i++;
    HPFF_CHECK(i < cx->n_allocs, "cuda free of %p, which this backend did not allocate", p);
    cx->cur_bytes -= cx->allocs[i].bytes;
    cx->allocs[i] = cx->allocs[--cx->n_allocs];
    HPFF_CUDA_CHECK(cudaFree(p));
}

static void cuda_to_device(hpff_backend *be, void *dst, const void *host_src, size_t bytes) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    if (!bytes) return;
    HPFF_CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, cx->stream));
    HPFF_CUDA_CHECK(cudaStreamSynchronize(cx->stream));   // the caller may reuse host_src at once
}

static void cuda_to_host(hpff_backend *be, void *host_dst, const void *src, size_t bytes) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    if (!bytes) return;
    HPFF_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, cx->stream));
    HPFF_CUDA_CHECK(cudaStreamSynchronize(cx->stream));
}

static void cuda_copy(hpff_backend *be, void *dst, const void *src, size_t bytes) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    if (!bytes || dst == src) return;
    HPFF_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cx->stream));
    HPFF_CUDA_LIBRARY_DONE(cx, "copy (cudaMemcpyAsync device to device)");
}

static void cuda_sync(hpff_backend *be) {
    HPFF_CUDA_CHECK(cudaStreamSynchronize(hpff_cuda_ctx_of(be)->stream));
}

// ---- graphs: the step's launches recorded once and replayed with one launch ----

static int cuda_graph_begin(hpff_backend *be) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    if (cx->sync_check) return 0;   // its per-launch synchronisation cannot be recorded
    // Relaxed: a library that calls an allocation API while recording does not break the
    // capture (synchronising would, and nothing in a step does once warm-up sized every buffer).
    if (cudaStreamBeginCapture(cx->stream, cudaStreamCaptureModeRelaxed) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    g_recording = 1;
    g_record_error[0] = 0;
    return 1;
}

static void *cuda_graph_end(hpff_backend *be, char *why, size_t why_len) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    cudaGraph_t g = NULL;
    cudaError_t e = cudaStreamEndCapture(cx->stream, &g);
    g_recording = 0;
    if (e != cudaSuccess || !g || g_record_error[0]) {
        if (g_record_error[0]) snprintf(why, why_len, "%s", g_record_error);
        else snprintf(why, why_len, "cudaStreamEndCapture: %s", cudaGetErrorString(e));
        (void)cudaGetLastError();
        if (g) cudaGraphDestroy(g);
        return NULL;
    }
    cudaGraphExec_t x = NULL;
    e = cudaGraphInstantiate(&x, g, 0);
    size_t nodes = 0;
    cudaGraphGetNodes(g, NULL, &nodes);
    cudaGraphDestroy(g);
    if (e != cudaSuccess) {
        snprintf(why, why_len, "cudaGraphInstantiate of %zu nodes: %s", nodes, cudaGetErrorString(e));
        (void)cudaGetLastError();
        return NULL;
    }
    snprintf(why, why_len, "%zu nodes", nodes);
    cx->graphs++;
    return (void *)x;
}

static void cuda_graph_run(hpff_backend *be, void *graph) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    HPFF_CUDA_CHECK(cudaGraphLaunch((cudaGraphExec_t)graph, cx->stream));
}

static void cuda_graph_free(hpff_backend *be, void *graph) {
    if (!graph) return;
    cudaGraphExecDestroy((cudaGraphExec_t)graph);
    hpff_cuda_ctx_of(be)->graphs--;
}

static void cuda_mem_stats(hpff_backend *be, hpff_mem_stats *st) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    memset(st, 0, sizeof *st);
    st->alloc_bytes = cx->cur_bytes;
    st->alloc_peak = cx->peak_bytes;
    st->internal_bytes = cx->cublas_ws_bytes + cx->scratch_bytes;
    size_t f = 0, t = 0;
    hpff_cuda_mem_info(&f, &t);
    st->device_used = t - f;
    st->device_total = t;
}

static void cuda_set_threads(hpff_backend *be, int threads) {
    (void)be;
    (void)threads;
}

// ---- profiling marks: timing events recorded on the compute stream (src/backend/backend_prof.c) ----

static void cuda_prof_reserve(hpff_backend *be, int marks) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    if (marks <= cx->n_prof_ev) return;
    cudaEvent_t *ev = (cudaEvent_t *)realloc(cx->prof_ev, (size_t)marks * sizeof *ev);
    HPFF_CHECK(ev != NULL, "out of host memory reserving %d profiling marks", marks);
    cx->prof_ev = ev;
    HPFF_CUDA_CHECK(cudaSetDevice(cx->device));   // an event belongs to the device current at creation
    // Default flags: cudaEventDisableTiming would make them useless here.
    for (; cx->n_prof_ev < marks; cx->n_prof_ev++) HPFF_CUDA_CHECK(cudaEventCreate(&ev[cx->n_prof_ev]));
}

static void cuda_prof_mark(hpff_backend *be, int i) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    HPFF_CHECK(i >= 0 && i < cx->n_prof_ev, "profiling mark %d outside the %d reserved", i, cx->n_prof_ev);
    HPFF_CUDA_CHECK(cudaEventRecord(cx->prof_ev[i], cx->stream));
}

static double cuda_prof_elapsed_ms(hpff_backend *be, int a, int b) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    HPFF_CHECK(a >= 0 && b >= 0 && a < cx->n_prof_ev && b < cx->n_prof_ev,
               "profiling marks %d, %d outside the %d reserved", a, b, cx->n_prof_ev);
    float ms = 0.f;
    HPFF_CUDA_CHECK(cudaEventElapsedTime(&ms, cx->prof_ev[a], cx->prof_ev[b]));
    return (double)ms;
}

// ---- life cycle ----

static void cuda_destroy(hpff_backend *be) {
    if (!be) return;
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    if (cx) {
        cudaSetDevice(cx->device);
        if (cx->stream) cudaStreamSynchronize(cx->stream);
        hpff_cuda_conv_cache_free(cx);
        for (int i = 0; i < cx->n_prof_ev; i++) cudaEventDestroy(cx->prof_ev[i]);
        free(cx->prof_ev);
        if (cx->cudnn) cudnnDestroy(cx->cudnn);
        if (cx->cublas) cublasDestroy(cx->cublas);
        if (cx->cublas_ws) cudaFree(cx->cublas_ws);
        if (cx->scratch) cudaFree(cx->scratch);
        if (cx->stream) cudaStreamDestroy(cx->stream);
        // Allocations the caller did not free are left to process exit: freeing them here would
        // turn a later be->free into a double free.
        free(cx->allocs);
        free(cx);
    }
    free(be);
}

// Returns a message for the first set-up step that fails, NULL when all succeed.
static const char *cuda_setup(hpff_cuda_ctx *cx) {
    if (cudaSetDevice(cx->device) != cudaSuccess) return "cudaSetDevice failed";
    // Non-blocking: work on the legacy default stream (a library, CUDA-aware MPI) neither waits
    // for it nor, while a step is being recorded, breaks the capture.
    if (cudaStreamCreateWithFlags(&cx->stream, cudaStreamNonBlocking) != cudaSuccess) return "cudaStreamCreate failed";
    if (cudnnCreate(&cx->cudnn) != CUDNN_STATUS_SUCCESS) return "cudnnCreate failed (cuDNN missing or too old for the driver?)";
    if (cudnnSetStream(cx->cudnn, cx->stream) != CUDNN_STATUS_SUCCESS) return "cudnnSetStream failed";
    if (cublasCreate(&cx->cublas) != CUBLAS_STATUS_SUCCESS) return "cublasCreate failed";
    if (cublasSetStream(cx->cublas, cx->stream) != CUBLAS_STATUS_SUCCESS) return "cublasSetStream failed";
    // After cublasSetStream, which resets the workspace: a fixed buffer keeps cuBLAS from
    // allocating inside the step loop.
    if (cudaMalloc(&cx->cublas_ws, HPFF_CUBLAS_WS_BYTES) != cudaSuccess) return "cudaMalloc of the cuBLAS workspace failed";
    cx->cublas_ws_bytes = HPFF_CUBLAS_WS_BYTES;
    if (cublasSetWorkspace(cx->cublas, cx->cublas_ws, cx->cublas_ws_bytes) != CUBLAS_STATUS_SUCCESS) return "cublasSetWorkspace failed";
    cublasMath_t mm = cx->allow_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH;
    if (cublasSetMathMode(cx->cublas, mm) != CUBLAS_STATUS_SUCCESS) return "cublasSetMathMode failed";
    if (cudaMalloc(&cx->scratch, HPFF_SCRATCH_MIN) != cudaSuccess) return "cudaMalloc of the scratch buffer failed";
    cx->scratch_bytes = HPFF_SCRATCH_MIN;
    return NULL;
}

extern "C" hpff_backend *hpff_backend_cuda_create(int device, int allow_tf32) {
    int count = hpff_cuda_device_count();
    if (count <= 0) {
        fprintf(stderr, "hpff_pipe: no usable CUDA device (no driver or no GPU)\n");
        return NULL;
    }
    if (device < 0 || device >= count) {
        fprintf(stderr, "hpff_pipe: CUDA device %d requested but only %d present\n", device, count);
        return NULL;
    }
    hpff_backend *be = (hpff_backend *)hpff_xcalloc(1, sizeof *be);
    hpff_cuda_ctx *cx = (hpff_cuda_ctx *)hpff_xcalloc(1, sizeof *cx);
    be->name = "cuda";
    be->host_memory = 0;   // device memory: transports stage through the host
    be->ctx = cx;
    cx->device = device;
    cx->allow_tf32 = allow_tf32 != 0;
    const char *sc = getenv("HPFF_SYNC_CHECK");
    cx->sync_check = sc && sc[0] && strcmp(sc, "0") != 0;
    const char *err = cuda_setup(cx);
    if (err) {
        cudaError_t e = cudaGetLastError();
        fprintf(stderr, "hpff_pipe: CUDA device %d unusable: %s (%s)\n", device, err,
                cudaGetErrorString(e));
        cuda_destroy(be);
        return NULL;
    }
    be->destroy = cuda_destroy;
    be->alloc = cuda_alloc;
    be->free = cuda_free;
    be->to_device = cuda_to_device;
    be->to_host = cuda_to_host;
    be->copy = cuda_copy;
    be->sync = cuda_sync;
    be->graph_begin = cuda_graph_begin;
    be->graph_end = cuda_graph_end;
    be->graph_run = cuda_graph_run;
    be->graph_free = cuda_graph_free;
    be->mem_stats = cuda_mem_stats;
    be->set_threads = cuda_set_threads;
    be->prof_reserve = cuda_prof_reserve;
    be->prof_mark = cuda_prof_mark;
    be->prof_elapsed_ms = cuda_prof_elapsed_ms;
    hpff_cuda_install_elementwise(be);
    hpff_cuda_install_conv(be);
    hpff_cuda_install_bn(be);
    hpff_cuda_install_pool(be);
    hpff_cuda_install_linear(be);
    hpff_cuda_install_resize(be);
    hpff_cuda_install_loss(be);
    hpff_cuda_install_aux(be);
    return be;
}
