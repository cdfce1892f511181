// loader.c — the training/evaluation loader: per-epoch order and augmentation from augment.c,
// background threads filling a ring of batches ahead of the consumer.
#include "loader.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "augment.h"
#include "system.h"

enum { SLOT_FREE, SLOT_FILLING, SLOT_READY };

typedef struct slot {
    int state, batch, n;
    float *x;                   // (batch, c, oh, ow)
    int32_t *y;                 // (batch)
} slot;

struct hpff_loader {
    const hpff_dataset *ds;
    hpff_aug aug;               // kind NONE for evaluation
    hpff_aug_geom geom;
    int batch, nbatches, threads, nslots, shuffle;
    uint64_t seed;
    size_t sample_floats;       // c * oh * ow
    float *lut;                 // (c, 256) normalised value of every byte
    int32_t *order;             // (n) sample order of `epoch`
    slot *slots;                // (nslots) ring; batch b lives in slot b % nslots
    pthread_t *workers;         // (threads)
    pthread_mutex_t mu;
    pthread_cond_t work_cv;     // a slot became free / the epoch (re)started / stop
    pthread_cond_t ready_cv;    // a batch became ready / a worker went idle
    int epoch, started, paused, stop, busy;
    int next_claim, next_out;   // next batch to fill, next batch to hand out
};

hpff_status hpff_loader_check(const hpff_dataset *ds, const hpff_loader_opts *o) {
    if (!ds || ds->n < 1 || !ds->images)
        return hpff_status_fail("loader: the dataset is empty or not loaded");
    if (o->batch < 1) return hpff_status_fail("loader: batch = %d; expected >= 1", o->batch);
    if (o->threads < 1 || o->threads > 256)
        return hpff_status_fail("loader: threads = %d; expected 1 to 256", o->threads);
    int side = ds->h > ds->w ? ds->h : ds->w;
    if (o->pad_to != 0 && (o->pad_to < side || o->pad_to > 65536))
        return hpff_status_fail("loader: pad_to = %d but the images of %s are %dx%d; expected 0 "
                                "or a side >= %d", o->pad_to, ds->path, ds->h, ds->w, side);
    if (!o->shuffle) return hpff_status_ok();
    hpff_aug a;
    hpff_status s = hpff_aug_resolve(o->augment, ds->source, &a);
    if (s.code) return hpff_status_fail("loader for %s: %s", ds->path, s.msg);
    int oh = o->pad_to ? o->pad_to : ds->h, ow = o->pad_to ? o->pad_to : ds->w;
    if (a.reflect && (a.pad >= oh || a.pad >= ow))
        return hpff_status_fail("loader: augment %s mirrors %d pixels, which needs images larger "
                                "than %dx%d (%s)", hpff_aug_name(a.kind), a.pad, oh, ow, ds->path);
    return hpff_status_ok();
}

static void fill_batch(hpff_loader *L, int b, int epoch, slot *s, int *scratch) {
    const hpff_dataset *ds = L->ds;
    int first = b * L->batch, n = ds->n - first < L->batch ? ds->n - first : L->batch;
    size_t img_bytes = (size_t)ds->h * (size_t)ds->w * (size_t)ds->c;
    for (int k = 0; k < n; k++) {
        int idx = L->order[first + k];
        hpff_aug_draw d = hpff_aug_draw_at(&L->aug, L->seed, epoch, idx);
        hpff_aug_render(ds->images + (size_t)idx * img_bytes, &L->geom, &L->aug, d, L->lut,
                        s->x + (size_t)k * L->sample_floats, scratch);
        s->y[k] = ds->labels[idx];
    }
    s->n = n;
}

static int claimable(const hpff_loader *L) {
    return L->started && !L->paused && L->next_claim < L->nbatches &&
           L->slots[L->next_claim % L->nslots].state == SLOT_FREE;
}

static void *worker_main(void *arg) {
    hpff_loader *L = arg;
    int *scratch = hpff_xmalloc((size_t)(L->geom.oh + L->geom.ow) * sizeof(int));
    pthread_mutex_lock(&L->mu);
    for (;;) {
        while (!L->stop && !claimable(L)) pthread_cond_wait(&L->work_cv, &L->mu);
        if (L->stop) break;
        int b = L->next_claim++, epoch = L->epoch;
        slot *s = &L->slots[b % L->nslots];
        s->state = SLOT_FILLING;
        s->batch = b;
        L->busy++;
        pthread_mutex_unlock(&L->mu);
        fill_batch(L, b, epoch, s, scratch);
        pthread_mutex_lock(&L->mu);
        L->busy--;
        s->state = SLOT_READY;
        pthread_cond_broadcast(&L->ready_cv);
    }
    pthread_mutex_unlock(&L->mu);
    free(scratch);
    return NULL;
}

hpff_loader *hpff_loader_create(const hpff_dataset *ds, const hpff_loader_opts *o) {
    hpff_status st = hpff_loader_check(ds, o);
    HPFF_CHECK(!st.code, "%s", st.msg);
    hpff_loader *L = hpff_xcalloc(1, sizeof *L);
    L->ds = ds;
    L->shuffle = o->shuffle != 0;
    if (L->shuffle) hpff_aug_resolve(o->augment, ds->source, &L->aug);
    else L->aug = (hpff_aug){HPFF_AUG_NONE, 0, 0, 0};
    L->geom = (hpff_aug_geom){ds->h, ds->w, ds->c, o->pad_to ? o->pad_to : ds->h,
                              o->pad_to ? o->pad_to : ds->w};
    L->batch = o->batch;
    L->nbatches = (ds->n + o->batch - 1) / o->batch;
    L->threads = o->threads;
    L->nslots = o->threads + 2;
    L->seed = o->seed;
    L->sample_floats = (size_t)ds->c * (size_t)L->geom.oh * (size_t)L->geom.ow;
    L->lut = hpff_xmalloc((size_t)ds->c * 256 * sizeof(float));
    hpff_aug_lut(L->lut, ds->c, ds->mean, ds->std);
    L->order = hpff_xmalloc((size_t)ds->n * sizeof(int32_t));
    L->epoch = -1;
    L->slots = hpff_xcalloc((size_t)L->nslots, sizeof(slot));   // buffers: first start_epoch
    pthread_mutex_init(&L->mu, NULL);
    pthread_cond_init(&L->work_cv, NULL);
    pthread_cond_init(&L->ready_cv, NULL);
    L->workers = hpff_xcalloc((size_t)L->threads, sizeof(pthread_t));
    for (int i = 0; i < L->threads; i++) {
        int e = pthread_create(&L->workers[i], NULL, worker_main, L);
        HPFF_CHECK(e == 0, "cannot start loader thread %d of %d: %s", i + 1, L->threads, strerror(e));
    }
    return L;
}

void hpff_loader_destroy(hpff_loader *L) {
    if (!L) return;
    pthread_mutex_lock(&L->mu);
    L->stop = 1;
    pthread_cond_broadcast(&L->work_cv);
    pthread_mutex_unlock(&L->mu);
    for (int i = 0; i < L->threads; i++) pthread_join(L->workers[i], NULL);
    pthread_cond_destroy(&L->ready_cv);
    pthread_cond_destroy(&L->work_cv);
    pthread_mutex_destroy(&L->mu);
    for (int i = 0; i < L->nslots; i++) {
        free(L->slots[i].x);
        free(L->slots[i].y);
    }
    free(L->slots);
    free(L->workers);
    free(L->order);
    free(L->lut);
    free(L);
}

void hpff_loader_shape(const hpff_loader *L, int *c, int *h, int *w) {
    *c = L->geom.c;
    *h = L->geom.oh;
    *w = L->geom.ow;
}

int hpff_loader_batches(const hpff_loader *L) { return L->nbatches; }

const char *hpff_loader_augment(const hpff_loader *L) { return hpff_aug_name(L->aug.kind); }

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
            sl->x = hpff_xmalloc((size_t)L->batch * L->sample_floats * sizeof(float));
            sl->y = hpff_xmalloc((size_t)L->batch * sizeof(int32_t));
        }
    }
    if (L->epoch != epoch) {
        if (L->shuffle) hpff_shuffle_order(L->order, L->ds->n, L->seed, epoch);
        else
            for (int i = 0; i < L->ds->n; i++) L->order[i] = i;
        L->epoch = epoch;
    }
    L->next_claim = L->next_out = first_batch;
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
