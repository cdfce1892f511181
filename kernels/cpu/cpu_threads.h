// cpu_threads.h — a small persistent thread pool for the CPU backend: `threads` workers (the caller
// is worker 0) split an index range into contiguous chunks. With threads = 1 it is a plain call.
// BLAS runs single-threaded inside the workers, so the convolutions' image loops are what scales.
#ifndef HPFF_CPU_THREADS_H
#define HPFF_CPU_THREADS_H

typedef struct hpff_cpu_pool hpff_cpu_pool;
// fn(arg, worker, begin, end) handles items [begin, end); worker in [0, threads).
typedef void (*hpff_cpu_pool_fn)(void *arg, int worker, int begin, int end);

hpff_cpu_pool *hpff_cpu_pool_create(int threads);
void hpff_cpu_pool_destroy(hpff_cpu_pool *p);
int hpff_cpu_pool_threads(const hpff_cpu_pool *p);
// Runs fn over [0, n) split into min(threads, n) chunks and waits for all of them.
void hpff_cpu_pool_run(hpff_cpu_pool *p, int n, hpff_cpu_pool_fn fn, void *arg);

#endif
