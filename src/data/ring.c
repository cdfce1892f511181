// ring.c — the prefetching batch ring over a sample source (see ring.h).
#include "ring.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "sampler.h"
#include "system.h"

enum { SLOT_FREE, SLOT_FILLING, SLOT_READY, MAX_SLOTS = 4, MAX_GRAIN = 128 };

typedef struct slot {
    int state, batch, n, pending;   // pending: samples claimed or unclaimed but not rendered
    float *x;                       // (batch, c, h, w)
    int32_t *y;                     // (batch)
} slot;

struct hpff_loader {
    hpff_sample_src src;
    hpff_ring_opts o;
    int nbatches, nslots, grain, m; // m: samples of this replica per epoch
    size_t sample_floats;           // c * h * w
    int32_t *order;                 // (m) dataset index of each sample of the epoch
    int32_t *perm;                  // (n) scratch for the permutation
    slot *slots;                    // (nslots) ring; batch b lives in slot b % nslots
    pthread_t *workers;             // (threads)
    pthread_mutex_t mu;
    pthread_cond_t work_cv;         // a slot became free / the epoch (re)started / stop
    pthread_cond_t ready_cv;        // samples were rendered / a worker went idle
    int epoch, started, paused, stop, busy;
    int claim_b, claim_s;           // next sample to claim: batch, position in the batch
    int next_out;                   // next batch to hand out
};

static int batch_size(const hpff_loader *L, int b) {
    int first = b * L->o.batch;
    return L->m - first < L->o.batch ? L->m - first : L->o.batch;
}

static int claimable(const hpff_loader *L) {
    return L->started && !L->paused && L->claim_b < L->nbatches &&
           (L->claim_s > 0 || L->slots[L->claim_b % L->nslots].state == SLOT_FREE);
}

// Claims up to `grain` samples of the batch being filled; returns its slot. Under the mutex.
static slot *claim(hpff_loader *L, int *b, int *s0, int *s1) {
    *b = L->claim_b;
    *s0 = L->claim_s;
    slot *s = &L->slots[*b % L->nslots];
    if (*s0 == 0) {
        s->state = SLOT_FILLING;
        s->batch = *b;
        s->n = s->pending = batch_size(L, *b);
    }
    *s1 = *s0 + L->grain < s->n ? *s0 + L->grain : s->n;
    L->claim_s = *s1;
    if (*s1 == s->n) { L->claim_b++; L->claim_s = 0; }
    return s;
}

static void *worker_main(void *arg) {
    hpff_loader *L = arg;
    void *ts = L->src.thread_new ? L->src.thread_new(L->src.ctx) : NULL;
    pthread_mutex_lock(&L->mu);
    for (;;) {
        while (!L->stop && !claimable(L)) pthread_cond_wait(&L->work_cv, &L->mu);
        if (L->stop) break;
        int b, s0, s1, epoch = L->epoch;
        slot *s = claim(L, &b, &s0, &s1);
        L->busy++;
        pthread_mutex_unlock(&L->mu);
        for (int k = s0; k < s1; k++)
            L->src.render(L->src.ctx, ts, L->order[b * L->o.batch + k], epoch,
                          s->x + (size_t)k * L->sample_floats, s->y + k);
        pthread_mutex_lock(&L->mu);
        L->busy--;
        s->pending -= s1 - s0;
        if (s->pending == 0) s->state = SLOT_READY;
        if (s->pending == 0 || L->busy == 0) pthread_cond_broadcast(&L->ready_cv);
    }
    pthread_mutex_unlock(&L->mu);
    if (L->src.thread_free) L->src.thread_free(ts);
    return NULL;
}

hpff_loader *hpff_loader_from_source(const hpff_sample_src *src, const hpff_ring_opts *o) {
    HPFF_CHECK(src->n >= 1 && o->batch >= 1 && o->threads >= 1, "loader: %d samples, batch %d, "
               "%d threads; expected >= 1 each", src->n, o->batch, o->threads);
    hpff_loader *L = hpff_xcalloc(1, sizeof *L);
    L->src = *src;
    L->o = *o;
    hpff_share *sh = &L->o.share;
    if (sh->replicas < 1) { sh->replicas = 1; sh->replica = 0; }
    HPFF_CHECK(sh->replica >= 0 && sh->replica < sh->replicas, "loader: replica %d of %d",
               sh->replica, sh->replicas);
    L->m = hpff_sampler_count(src->n, *sh);
    HPFF_CHECK(L->m >= 1, "loader: replica %d of %d gets no sample of %d", sh->replica,
               sh->replicas, src->n);
    L->nbatches = (L->m + o->batch - 1) / o->batch;
    L->nslots = o->threads + 2 < MAX_SLOTS ? o->threads + 2 : MAX_SLOTS;
    L->grain = o->batch / (2 * o->threads);   // a few claims per thread and batch
    L->grain = L->grain < 1 ? 1 : L->grain > MAX_GRAIN ? MAX_GRAIN : L->grain;
    L->sample_floats = (size_t)src->c * (size_t)src->h * (size_t)src->w;
    L->order = hpff_xmalloc((size_t)L->m * sizeof(int32_t));
    L->perm = hpff_xmalloc((size_t)src->n * sizeof(int32_t));
    L->epoch = -1;
    L->slots = hpff_xcalloc((size_t)L->nslots, sizeof(slot));   // buffers: first start_epoch
    pthread_mutex_init(&L->mu, NULL);
    pthread_cond_init(&L->work_cv, NULL);
    pthread_cond_init(&L->ready_cv, NULL);
    L->workers = hpff_xcalloc((size_t)o->threads, sizeof(pthread_t));
    for (int i = 0; i < o->threads; i++) {
        int e = pthread_create(&L->workers[i], NULL, worker_main, L);
        HPFF_CHECK(e == 0, "cannot start loader thread %d of %d: %s", i + 1, o->threads, strerror(e));
    }
    return L;
}

void hpff_loader_destroy(hpff_loader *L) {
    if (!L) return;
    pthread_mutex_lock(&L->mu);
    L->stop = 1;
    pthread_cond_broadcast(&L->work_cv);
    pthread_mutex_unlock(&L->mu);
    for (int i = 0; i < L->o.threads; i++) pthread_join(L->workers[i], NULL);
    pthread_cond_destroy(&L->ready_cv);
    pthread_cond_destroy(&L->work_cv);
    pthread_mutex_destroy(&L->mu);
    for (int i = 0; i < L->nslots; i++) {
        free(L->slots[i].x);
        free(L->slots[i].y);
    }
    if (L->src.destroy) L->src.destroy(L->src.ctx);
    free(L->slots);
    free(L->workers);
    free(L->order);
    free(L->perm);
    free(L);
}

void hpff_loader_shape(const hpff_loader *L, int *c, int *h, int *w) {
    *c = L->src.c;
    *h = L->src.h;
    *w = L->src.w;
}

int hpff_loader_batches(const hpff_loader *L) { return L->nbatches; }

int hpff_loader_samples(const hpff_loader *L) { return L->m; }

const char *hpff_loader_augment(const hpff_loader *L) { return L->src.augment; }

void hpff_loader_start_epoch(hpff_loader *L, int epoch, int first_batch) {
    HPFF_CHECK(epoch >= 0 && first_batch >= 0 && first_batch <= L->nbatches,
               "loader: start of epoch %d at batch %d; expected epoch >= 0 and a batch in "
               "[0, %d]", epoch, first_batch, L->nbatches);
    pthread_mutex_lock(&L->mu);
    L->paused = 1;
    while (L->busy > 0) pthread_cond_wait(&L->ready_cv, &L->mu);
    for (int i = 0; i < L->nslots; i++) {
        slot *sl = &L->slots[i];
        sl->state = SLOT_FREE;
        if (!sl->x) {   // allocated on first use: ranks that never read batches pay nothing
            sl->x = hpff_xmalloc((size_t)L->o.batch * L->sample_floats * sizeof(float));
            sl->y = hpff_xmalloc((size_t)L->o.batch * sizeof(int32_t));
        }
    }
    if (L->epoch != epoch) {
        hpff_sampler_epoch(L->order, L->perm, L->src.n, L->o.seed, epoch, L->o.shuffle, L->o.share);
        L->epoch = epoch;
    }
    L->claim_b = L->next_out = first_batch;
    L->claim_s = 0;
    L->started = 1;
    L->paused = 0;
    pthread_cond_broadcast(&L->work_cv);
    pthread_mutex_unlock(&L->mu);
}

int hpff_loader_next(hpff_loader *L, float *x, int32_t *y, double *wait_s) {
    HPFF_CHECK(x && y, "hpff_loader_next needs both output buffers");
    pthread_mutex_lock(&L->mu);
    HPFF_CHECK(L->started, "hpff_loader_next called before hpff_loader_start_epoch");
    if (L->next_out >= L->nbatches) {
        pthread_mutex_unlock(&L->mu);
        return 0;
    }
    slot *s = &L->slots[L->next_out % L->nslots];
    if (!(s->state == SLOT_READY && s->batch == L->next_out)) {
        double t0 = hpff_now();
        while (!(s->state == SLOT_READY && s->batch == L->next_out))
            pthread_cond_wait(&L->ready_cv, &L->mu);
        if (wait_s) *wait_s += hpff_now() - t0;
    }
    pthread_mutex_unlock(&L->mu);
    int n = s->n;
    memcpy(x, s->x, (size_t)n * L->sample_floats * sizeof(float));
    memcpy(y, s->y, (size_t)n * sizeof(int32_t));
    pthread_mutex_lock(&L->mu);
    s->state = SLOT_FREE;
    L->next_out++;
    pthread_cond_broadcast(&L->work_cv);
    pthread_mutex_unlock(&L->mu);
    return n;
}
