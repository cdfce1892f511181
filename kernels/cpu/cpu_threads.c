// cpu_threads.c — the worker pool of cpu_threads.h: persistent workers woken by a generation
// counter under one mutex.
#include "cpu_threads.h"
#include <pthread.h>
#include <stdlib.h>
#include "check.h"

struct hpff_cpu_pool {
    int threads;
    pthread_t *tid;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    unsigned long gen;          // incremented per job
    int pending;                // workers still running the current job
    int quit;
    hpff_cpu_pool_fn fn;
    void *arg;
    int n, chunks;
};

static void chunk(const hpff_cpu_pool *p, int w, int *b, int *e) {
    *b = (int)((long)p->n * w / p->chunks);
    *e = (int)((long)p->n * (w + 1) / p->chunks);
}

typedef struct worker_arg { hpff_cpu_pool *p; int w; } worker_arg;

static void *worker_main(void *varg) {
    worker_arg *wa = varg;
    hpff_cpu_pool *p = wa->p;
    int w = wa->w;
    free(wa);
    unsigned long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->gen == seen && !p->quit) pthread_cond_wait(&p->wake, &p->mu);
        if (p->quit) break;
        seen = p->gen;
        if (w < p->chunks) {
            int b, e;
            chunk(p, w, &b, &e);
            pthread_mutex_unlock(&p->mu);
            p->fn(p->arg, w, b, e);
            pthread_mutex_lock(&p->mu);
            if (--p->pending == 0) pthread_cond_signal(&p->done);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

hpff_cpu_pool *hpff_cpu_pool_create(int threads) {
    hpff_cpu_pool *p = hpff_xcalloc(1, sizeof *p);
    p->threads = threads < 1 ? 1 : threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    p->tid = hpff_xcalloc((size_t)p->threads, sizeof *p->tid);
    for (int w = 1; w < p->threads; w++) {
        worker_arg *wa = hpff_xmalloc(sizeof *wa);
        wa->p = p;
        wa->w = w;
        HPFF_CHECK(pthread_create(&p->tid[w], NULL, worker_main, wa) == 0, "cannot start CPU worker thread %d", w);
    }
    return p;
}

void hpff_cpu_pool_destroy(hpff_cpu_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int w = 1; w < p->threads; w++) pthread_join(p->tid[w], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->tid);
    free(p);
}

int hpff_cpu_pool_threads(const hpff_cpu_pool *p) { return p ? p->threads : 1; }

void hpff_cpu_pool_run(hpff_cpu_pool *p, int n, hpff_cpu_pool_fn fn, void *arg) {
    if (n <= 0) return;
    if (!p || p->threads == 1 || n == 1) {
        fn(arg, 0, 0, n);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->chunks = n < p->threads ? n : p->threads;
    p->pending = p->chunks - 1;   // workers 1..chunks-1; the caller does chunk 0
    p->gen++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    int b, e;
    chunk(p, 0, &b, &e);
    fn(arg, 0, b, e);
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
