// data.c — the dataset reader (project HDF5 layout, every defect reported with file, dataset
// and expectation) and the training/evaluation loader: per-epoch order and augmentation from
// augment.c, background threads filling a ring of batches ahead of the consumer.
#include "data.h"
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "augment.h"
#include "h5util.h"

// ---------------------------------------------------------------- dataset file -------------

typedef struct reader {
    const char *path, *split;
    hid_t file, img, lab;
} reader;

static const char k_layout[] = "see datasets/README.md for the layout";

// Opens /<split>/<name>; on failure says what the group holds.
static hpff_status open_member(reader *r, const char *name, const char *expect, hid_t *out) {
    char full[64];
    snprintf(full, sizeof full, "/%s/%s", r->split, name);
    *out = -1;
    if (H5Lexists(r->file, r->split, H5P_DEFAULT) <= 0)
        return hpff_status_fail("%s: group /%s not found (expected /%s/images and /%s/labels; "
                                "%s)", r->path, r->split, r->split, r->split, k_layout);
    if (H5Lexists(r->file, full, H5P_DEFAULT) <= 0 || (*out = H5Dopen2(r->file, full, H5P_DEFAULT)) < 0) {
        char found[256] = "";
        hid_t g = H5Gopen2(r->file, r->split, H5P_DEFAULT);
        H5G_info_t info;
        if (g >= 0 && H5Gget_info(g, &info) >= 0)
            for (hsize_t i = 0; i < info.nlinks && strlen(found) < 200; i++) {
                char nm[64] = "";
                H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, nm, sizeof nm, H5P_DEFAULT);
                snprintf(found + strlen(found), sizeof found - strlen(found), "%s%s", i ? ", " : "", nm);
            }
        if (g >= 0) H5Gclose(g);
        return hpff_status_fail("%s: dataset %s not found (expected %s; /%s holds: %s)", r->path,
                                full, expect, r->split, *found ? found : "nothing");
    }
    return hpff_status_ok();
}

// Checks class, size, signedness and rank; fills dims.
static hpff_status check_dataset(const reader *r, hid_t d, const char *name, H5T_class_t cls,
                                 size_t size, int is_signed, int rank, const char *expect,
                                 hsize_t *dims) {
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    int ok = t >= 0 && s >= 0 && H5Tget_class(t) == cls && H5Tget_size(t) == size &&
             (H5Tget_sign(t) == H5T_SGN_2) == is_signed &&
             H5Sget_simple_extent_ndims(s) == rank;
    if (ok) H5Sget_simple_extent_dims(s, dims, NULL);
    if (t >= 0) H5Tclose(t);
    if (s >= 0) H5Sclose(s);
    if (ok) return hpff_status_ok();
    char found[128];
    hpff_h5_describe(d, found, sizeof found);
    return hpff_status_fail("%s: dataset /%s/%s is %s; expected %s", r->path, r->split, name,
                            found, expect);
}

static hpff_status read_attrs(const reader *r, hpff_dataset *ds) {
    int found = 0, e;
    e = hpff_h5_read_num_attr(r->file, "classes", H5T_NATIVE_INT, &ds->classes, 1, &found);
    if (e || ds->classes < 1)
        return hpff_status_fail("%s: root attribute 'classes' %s; expected one integer >= 1 (%s)",
                                r->path, e == -1 ? "is missing" : e ? "is not one number" :
                                "is < 1", k_layout);
    const char *names[2] = {"mean", "std"};
    float *vals[2] = {ds->mean, ds->std};
    for (int i = 0; i < 2; i++) {
        e = hpff_h5_read_num_attr(r->file, names[i], H5T_NATIVE_FLOAT, vals[i], ds->c, &found);
        char what[48];
        snprintf(what, sizeof what, e == -1 ? "is missing" : e == -2 ? "is not numeric" :
                 "has %d value(s)", found);
        if (e)
            return hpff_status_fail("%s: root attribute '%s' %s; expected %d float(s), one per "
                                    "channel, in [0, 1] units", r->path, names[i], what, ds->c);
    }
    for (int k = 0; k < ds->c; k++)
        if (!(ds->std[k] > 0) || ds->mean[k] != ds->mean[k])
            return hpff_status_fail("%s: root attribute std[%d] = %g (mean %g); expected std > 0",
                                    r->path, k, ds->std[k], ds->mean[k]);
    e = hpff_h5_read_str_attr(r->file, "source", ds->source, sizeof ds->source);
    if (e == -2)
        return hpff_status_fail("%s: root attribute 'source' is not a string", r->path);
    if (e == -1) ds->source[0] = 0;
    return hpff_status_ok();
}

static hpff_status read_all(const reader *r, hid_t d, hid_t mem_type, void *buf, const char *name) {
    if (H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        return hpff_status_fail("%s: reading dataset /%s/%s failed (truncated or corrupt file?)",
                                r->path, r->split, name);
    return hpff_status_ok();
}

static hpff_status check_labels(const reader *r, const hpff_dataset *ds) {
    for (int i = 0; i < ds->n; i++)
        if (ds->labels[i] < 0 || ds->labels[i] >= ds->classes)
            return hpff_status_fail("%s: dataset /%s/labels: label %d at index %d is outside "
                                    "[0, %d) (root attribute classes = %d)", r->path, r->split,
                                    ds->labels[i], i, ds->classes, ds->classes);
    return hpff_status_ok();
}

static hpff_status load_open(reader *r, hpff_dataset *ds) {
    hsize_t di[4], dl[1];
    hpff_status s = open_member(r, "images", "uint8 (N, H, W, C)", &r->img);
    if (!s.code) s = open_member(r, "labels", "int32 (N)", &r->lab);
    if (!s.code) s = check_dataset(r, r->img, "images", H5T_INTEGER, 1, 0, 4, "uint8 (N, H, W, C)", di);
    if (!s.code) s = check_dataset(r, r->lab, "labels", H5T_INTEGER, 4, 1, 1, "int32 (N)", dl);
    if (s.code) return s;
    if (di[0] == 0)
        return hpff_status_fail("%s: dataset /%s/images holds zero images; expected N >= 1",
                                r->path, r->split);
    if (di[3] < 1 || di[3] > 4 || di[1] < 1 || di[2] < 1 || di[0] > (1u << 30) ||
        di[1] > 65536 || di[2] > 65536)
        return hpff_status_fail("%s: dataset /%s/images has shape (%llu, %llu, %llu, %llu); "
                                "expected (N, H, W, C) with 1 to 4 channels", r->path, r->split,
                                (unsigned long long)di[0], (unsigned long long)di[1],
                                (unsigned long long)di[2], (unsigned long long)di[3]);
    if (dl[0] != di[0])
        return hpff_status_fail("%s: /%s/labels holds %llu labels but /%s/images holds %llu "
                                "images; expected one label per image", r->path, r->split,
                                (unsigned long long)dl[0], r->split, (unsigned long long)di[0]);
    ds->n = (int)di[0];
    ds->h = (int)di[1];
    ds->w = (int)di[2];
    ds->c = (int)di[3];
    return read_attrs(r, ds);
}

static hpff_status load(reader *r, hpff_dataset *ds) {
    struct stat st;
    if (stat(r->path, &st) != 0)
        return hpff_status_fail("dataset file '%s' cannot be opened: %s (make one with hpff_data, "
                                "datasets/README.md)", r->path, strerror(errno));
    if (H5Fis_hdf5(r->path) <= 0)
        return hpff_status_fail("dataset file '%s' is not an HDF5 file (expected the layout of "
                                "datasets/README.md, as written by hpff_data)", r->path);
    r->file = H5Fopen(r->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (r->file < 0)
        return hpff_status_fail("dataset file '%s': HDF5 cannot open it (truncated or corrupt "
                                "file?)", r->path);
    hpff_status s = load_open(r, ds);
    if (s.code) return s;
    size_t bytes = (size_t)ds->n * (size_t)ds->h * (size_t)ds->w * (size_t)ds->c;
    ds->images = hpff_xmalloc(bytes);
    ds->labels = hpff_xmalloc((size_t)ds->n * sizeof(int32_t));
    s = read_all(r, r->img, H5T_NATIVE_UINT8, ds->images, "images");
    if (!s.code) s = read_all(r, r->lab, H5T_NATIVE_INT32, ds->labels, "labels");
    if (!s.code) s = check_labels(r, ds);
    return s;
}

hpff_status hpff_dataset_load(const char *path, const char *split, hpff_dataset *ds) {
    memset(ds, 0, sizeof *ds);
    if (strcmp(split, "train") != 0 && strcmp(split, "test") != 0)
        return hpff_status_fail("%s: unknown split '%s' (expected train or test)", path, split);
    if (strlen(path) >= sizeof ds->path)
        return hpff_status_fail("dataset path too long (%zu characters, at most %zu): %s",
                                strlen(path), sizeof ds->path - 1, path);
    snprintf(ds->path, sizeof ds->path, "%s", path);
    reader r = {path, split, -1, -1, -1};
    hpff_h5_quiet q;
    hpff_h5_quiet_begin(&q);
    hpff_status s = load(&r, ds);
    if (r.lab >= 0) H5Dclose(r.lab);
    if (r.img >= 0) H5Dclose(r.img);
    if (r.file >= 0) H5Fclose(r.file);
    hpff_h5_quiet_end(&q);
    if (s.code) hpff_dataset_free(ds);
    return s;
}

void hpff_dataset_free(hpff_dataset *ds) {
    free(ds->images);
    free(ds->labels);
    ds->images = NULL;
    ds->labels = NULL;
    ds->n = 0;
}

hpff_status hpff_dataset_check_compatible(const hpff_dataset *train, const hpff_dataset *test) {
    if (train->h != test->h || train->w != test->w || train->c != test->c)
        return hpff_status_fail("test images in %s are %dx%dx%d (H x W x C) but train images in "
                                "%s are %dx%dx%d; expected the same shape", test->path, test->h,
                                test->w, test->c, train->path, train->h, train->w, train->c);
    if (train->classes != test->classes)
        return hpff_status_fail("%s has %d classes but %s has %d; expected the same number",
                                test->path, test->classes, train->path, train->classes);
    return hpff_status_ok();
}

// ---------------------------------------------------------------- loader -------------------

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

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
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
        double t0 = now_s();
        while (!(s->state == SLOT_READY && s->batch == L->next_out))
            pthread_cond_wait(&L->ready_cv, &L->mu);
        if (wait_s) *wait_s += now_s() - t0;
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
