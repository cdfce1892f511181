// imagenet_conv.c — the `hpff_data imagenet` command (see imagenet_conv.h): options, shard
// files, the threaded read/check/re-encode pipeline with in-order writing, progress and summary.
#include "imagenet_conv.h"
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "check.h"
#include "imagenet_img.h"
#include "imagenet_list.h"
#include "jpeg_writer.h"

enum { MAX_SHARDS = 1024, MAX_LISTED = 20, RING_PER_THREAD = 16 };

static const float k_mean[3] = {0.485f, 0.456f, 0.406f}, k_std[3] = {0.229f, 0.224f, 0.225f};
static const char *const k_split_name[2] = {"train", "val"};
static const char *const k_split_group[2] = {"train", "test"};

typedef struct conv_opts {
    const char *dir, *out, *val_labels, *meta;
    int shards, skip_bad, threads, max_resolution, quality;
} conv_opts;

typedef struct conv_stats {
    long long images[2], bytes[2];
    long long *per_class[2];    // (classes)
    int cmyk, png, gray, resized, warned, skipped;
    char warn_list[MAX_LISTED][700], skip_list[MAX_LISTED][700];
} conv_stats;

typedef struct progress {
    long long done, total;
    double t0, last;
    int tty;
} progress;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

// ---------------------------------------------------------------- temporary files ----------

static char g_tmps[MAX_SHARDS][4200];   // removed by the signal handler
static volatile sig_atomic_t g_ntmps;

static void on_signal(int sig) {
    for (int i = 0; i < g_ntmps; i++) unlink(g_tmps[i]);
    signal(sig, SIG_DFL);
    raise(sig);
}

// ---------------------------------------------------------------- progress -----------------

static void duration(double s, char *buf, size_t len) {
    long t = s < 0 ? 0 : (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, len, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
}

static void progress_show(progress *p, const char *split, int last) {
    double t = now_s();
    if (!last && t - p->last < (p->tty ? 0.25 : 30.0)) return;
    p->last = t;
    double rate = p->done / (t - p->t0 > 1e-9 ? t - p->t0 : 1e-9);
    int pct = p->total ? (int)(100 * p->done / p->total) : 100, fill = pct * 30 / 100;
    char bar[31], eta[32];
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    duration(rate > 0 ? (double)(p->total - p->done) / rate : -1, eta, sizeof eta);
    fprintf(stderr, "%s  [%s] %3d%%  %lld/%lld images  %.0f img/s  ETA %s  (%s)%s", p->tty ? "\r" : "",
            bar, pct, p->done, p->total, rate, eta, split, p->tty && !last ? "" : "\n");
    fflush(stderr);
}

// ---------------------------------------------------------------- pipeline -----------------

typedef struct ring_slot {
    int done;
    hpff_img_result r;
} ring_slot;

typedef struct pipe_state {
    const conv_opts *o;
    const hpff_in_item *items;
    int n;
    hpff_img_opts io;
    ring_slot *ring;            // (R) result of item i in slot i % R
    int R;
    int next_claim, next_write, stop;
    pthread_mutex_t mu;
    pthread_cond_t space, ready;
} pipe_state;

static void *worker_main(void *arg) {
    pipe_state *p = arg;
    hpff_img_worker *w = hpff_img_worker_new(&p->io);
    char path[8300];
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->next_claim < p->n && p->next_claim - p->next_write >= p->R)
            pthread_cond_wait(&p->space, &p->mu);
        if (p->stop || p->next_claim >= p->n) break;
        int i = p->next_claim++;
        pthread_mutex_unlock(&p->mu);
        hpff_img_result r;
        snprintf(path, sizeof path, "%s/%s", p->o->dir, p->items[i].rel);
        hpff_img_process(w, path, p->items[i].rel, &r);
        pthread_mutex_lock(&p->mu);
        p->ring[i % p->R] = (ring_slot){1, r};
        pthread_cond_broadcast(&p->ready);
    }
    pthread_mutex_unlock(&p->mu);
    hpff_img_worker_free(w);
    return NULL;
}

// Result of item i, in order; frees its ring slot for the workers.
static hpff_img_result take(pipe_state *p, int i) {
    pthread_mutex_lock(&p->mu);
    while (!p->ring[i % p->R].done) pthread_cond_wait(&p->ready, &p->mu);
    hpff_img_result r = p->ring[i % p->R].r;
    p->ring[i % p->R].done = 0;
    p->next_write = i + 1;
    pthread_cond_broadcast(&p->space);
    pthread_mutex_unlock(&p->mu);
    return r;
}

static void note(char list[][700], int count, const char *rel, const char *msg) {
    if (count <= MAX_LISTED) snprintf(list[count - 1], 700, "%s%s%s", rel ? rel : "", rel ? ": " : "", msg);
}

// Writes (or, with --skip-bad, lists) the result of item i of split sp.
static hpff_status consume(const pipe_state *p, int sp, int i, hpff_img_result *r, hpff_jw **w,
                           conv_stats *st) {
    const hpff_in_item *it = &p->items[i];
    if (r->bad) {
        if (!p->o->skip_bad)
            return hpff_status_fail("%s (give --skip-bad to leave unreadable files out)", r->msg);
        st->skipped++;
        note(st->skip_list, st->skipped, NULL, r->msg);
        return hpff_status_ok();
    }
    hpff_status s = hpff_jw_append(w[i % p->o->shards], r->bytes, r->len, it->label, r->h, r->w, it->rel);
    free(r->bytes);
    r->bytes = NULL;
    if (s.code) return s;
    st->images[sp]++;
    st->bytes[sp] += (long long)r->len;
    st->per_class[sp][it->label]++;
    st->cmyk += (r->flags & HPFF_IMG_CMYK) != 0;
    st->png += (r->flags & HPFF_IMG_PNG) != 0;
    st->gray += (r->flags & HPFF_IMG_GRAY) != 0;
    st->resized += (r->flags & HPFF_IMG_RESIZED) != 0;
    if (r->flags & HPFF_IMG_WARNED) {
        st->warned++;
        note(st->warn_list, st->warned, it->rel, r->msg);
    }
    return hpff_status_ok();
}

static hpff_status run_split(pipe_state *p, int sp, hpff_jw **w, conv_stats *st, progress *pg) {
    pthread_t *th = hpff_xcalloc((size_t)p->o->threads, sizeof(pthread_t));
    p->R = RING_PER_THREAD * p->o->threads;
    p->ring = hpff_xcalloc((size_t)p->R, sizeof(ring_slot));
    p->next_claim = p->next_write = p->stop = 0;
    for (int t = 0; t < p->o->threads; t++) {
        int e = pthread_create(&th[t], NULL, worker_main, p);
        HPFF_CHECK(e == 0, "cannot start converter thread %d: %s", t + 1, strerror(e));
    }
    hpff_status s = hpff_status_ok();
    for (int i = 0; i < p->n && !s.code; i++) {
        hpff_img_result r = take(p, i);
        s = consume(p, sp, i, &r, w, st);
        free(r.bytes);
        pg->done++;
        progress_show(pg, k_split_name[sp], 0);
    }
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->space);
    pthread_mutex_unlock(&p->mu);
    for (int t = 0; t < p->o->threads; t++) pthread_join(th[t], NULL);
    for (int k = 0; k < p->R; k++) free(p->ring[k].done ? p->ring[k].r.bytes : NULL);
    free(p->ring);
    free(th);
    return s;
}

// ---------------------------------------------------------------- shards -------------------

// OUT.h5 for one shard; OUT-00003-of-00008.h5 for shard 3 of 8.
static hpff_status shard_path(const char *out, int shard, int shards, char *buf, size_t len) {
    size_t n = strlen(out);
    int ext = n > 3 && strcmp(out + n - 3, ".h5") == 0;
    int w = shards == 1 ? snprintf(buf, len, "%s", out)
                        : snprintf(buf, len, "%.*s-%05d-of-%05d%s", (int)(n - (ext ? 3 : 0)), out,
                                   shard, shards, ext ? ".h5" : "");
    return w < 0 || (size_t)w + 5 >= len ? hpff_status_fail("output path too long: %s", out) : hpff_status_ok();
}

// The output must not land among the source images (it would replace or join them).
static hpff_status check_output(const conv_opts *o) {
    char dir[PATH_MAX], out[PATH_MAX], src[PATH_MAX + 8];
    snprintf(out, sizeof out, "%s", o->out);
    char *slash = strrchr(out, '/');
    if (slash) *slash = 0;
    if (!realpath(slash ? (*out ? out : "/") : ".", dir) || !realpath(o->dir, src)) return hpff_status_ok();
    size_t n = strlen(src);
    const char *sub[2] = {"/train", "/val"};
    for (int i = 0; i < 2; i++) {
        snprintf(src + n, sizeof src - n, "%s", sub[i]);
        size_t m = strlen(src);
        if (strncmp(dir, src, m) == 0 && (dir[m] == 0 || dir[m] == '/'))
            return hpff_status_fail("%s is inside the source folder %s; write the output elsewhere",
                                    o->out, src);
    }
    return hpff_status_ok();
}

static hpff_status open_shards(const conv_opts *o, const hpff_in_list *l, hpff_jw **w) {
    hpff_jw_meta m = {"imagenet", l->classes, (const char *const *)l->wnids,
                      (const char *const *)l->words, k_mean, k_std, 0, o->shards,
                      o->max_resolution, o->quality};
    hpff_status s = check_output(o);
    for (int k = 0; k < o->shards && !s.code; k++) {
        char path[4200];
        m.shard = k;
        s = shard_path(o->out, k, o->shards, path, sizeof path);
        if (!s.code) s = hpff_jw_create(&w[k], path, &m);
        if (!s.code) {
            snprintf(g_tmps[k], sizeof g_tmps[k], "%s", hpff_jw_tmp(w[k]));
            g_ntmps = k + 1;
        }
    }
    return s;
}

// Commits every shard; when one fails, the ones already renamed are removed again.
static hpff_status commit_shards(const conv_opts *o, hpff_jw **w) {
    hpff_status s = hpff_status_ok();
    int done = 0;
    for (; done < o->shards && !s.code; done++) {
        s = hpff_jw_commit(w[done]);
        w[done] = NULL;
    }
    for (int k = done; k < o->shards; k++) hpff_jw_abort(w[k]);
    for (int k = 0; s.code && k + 1 < done; k++) {
        char path[4200];
        if (!shard_path(o->out, k, o->shards, path, sizeof path).code) unlink(path);
    }
    return s;
}

// ---------------------------------------------------------------- summary ------------------

static void class_range(const hpff_in_list *l, const long long *c, long long *lo, long long *hi, int *at) {
    *lo = *hi = c[0];
    *at = 0;
    for (int k = 1; k < l->classes; k++) {
        if (c[k] < *lo) { *lo = c[k]; *at = k; }
        if (c[k] > *hi) *hi = c[k];
    }
}

static void print_list(const char *what, int count, char list[][700]) {
    if (!count) return;
    printf("  %s: %d\n", what, count);
    for (int i = 0; i < count && i < MAX_LISTED; i++) printf("    %s\n", list[i]);
    if (count > MAX_LISTED) printf("    ... and %d more\n", count - MAX_LISTED);
}

static void summary(const conv_opts *o, const hpff_in_list *l, const conv_stats *st, double secs) {
    long long n = st->images[0] + st->images[1];
    double mb = (st->bytes[0] + st->bytes[1]) / 1e6;
    printf("imagenet -> %s%s: %lld train + %lld val images, %d classes, %.*f %s of JPEG, %.1f s "
           "(%.0f img/s, %d threads)\n", o->out, o->shards > 1 ? " (shards)" : "", st->images[0],
           st->images[1], l->classes, mb < 1000 ? 1 : 2, mb < 1000 ? mb : mb / 1000,
           mb < 1000 ? "MB" : "GB", secs, n / (secs > 0 ? secs : 1), o->threads);
    if (o->shards > 1) printf("  %d shard files, image i of each split in shard i %% %d\n", o->shards, o->shards);
    printf("  validation labels: %s\n", l->val_form);
    printf("  re-encoded as RGB JPEG (quality %d): %d CMYK, %d PNG\n", o->quality, st->cmyk, st->png);
    if (o->max_resolution)
        printf("  resized to a shorter side of %d and re-encoded: %d\n", o->max_resolution, st->resized);
    printf("  grayscale (kept; expanded to RGB when decoded): %d\n", st->gray);
    print_list("decoded whole despite libjpeg warnings (kept)", st->warned, (char (*)[700])st->warn_list);
    print_list("unreadable, left out (--skip-bad)", st->skipped, (char (*)[700])st->skip_list);
    if (l->ignored) printf("  ignored entries (not .JPEG/.jpg/.png files): %d\n", l->ignored);
    for (int sp = 0; sp < 2; sp++) {
        long long lo, hi;
        int at;
        class_range(l, st->per_class[sp], &lo, &hi, &at);
        printf("  %s images per class: %lld (%s) to %lld\n", k_split_name[sp], lo, l->wnids[at], hi);
    }
    if (l->classes <= 20)
        for (int k = 0; k < l->classes; k++)
            printf("    %-5d %-12s %-28.28s %9lld %9lld\n", k, l->wnids[k], l->words && l->words[k]
                   ? l->words[k] : "", st->per_class[0][k], st->per_class[1][k]);
    printf("  mean/std stored: ImageNet's (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225)\n");
}

// ---------------------------------------------------------------- command ------------------

static hpff_status convert(const conv_opts *o) {
    double t0 = now_s();
    hpff_in_list l;
    hpff_status s = hpff_in_list_open(o->dir, o->val_labels, o->meta, &l);
    if (s.code) return s;
    if (o->shards > l.n[0] || o->shards > l.n[1]) {
        s = hpff_status_fail("--shards %d: more shards than images (%d train, %d val)", o->shards, l.n[0], l.n[1]);
        hpff_in_list_free(&l);
        return s;
    }
    hpff_jw **w = hpff_xcalloc((size_t)o->shards, sizeof(hpff_jw *));
    conv_stats *st = hpff_xcalloc(1, sizeof *st);
    progress pg = {0, (long long)l.n[0] + l.n[1], t0, 0, isatty(2)};
    s = open_shards(o, &l, w);
    for (int sp = 0; sp < 2 && !s.code; sp++) {
        pipe_state p = {o, l.items[sp], l.n[sp], {o->max_resolution, o->quality}, NULL, 0, 0, 0, 0,
                        PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER};
        st->per_class[sp] = hpff_xcalloc((size_t)l.classes, sizeof(long long));
        for (int k = 0; k < o->shards && !s.code; k++) s = hpff_jw_begin(w[k], k_split_group[sp]);
        if (!s.code) s = run_split(&p, sp, w, st, &pg);
        if (!s.code) progress_show(&pg, k_split_name[sp], 1);
        for (int k = 0; k < o->shards && !s.code; k++) s = hpff_jw_end(w[k]);
    }
    if (!s.code && (st->images[0] == 0 || st->images[1] == 0))
        s = hpff_status_fail("no readable %s images left", st->images[0] ? "validation" : "training");
    if (!s.code) s = commit_shards(o, w);
    else
        for (int k = 0; k < o->shards; k++) hpff_jw_abort(w[k]);
    g_ntmps = 0;
    if (!s.code) summary(o, &l, st, now_s() - t0);
    free(st->per_class[0]);
    free(st->per_class[1]);
    free(st);
    free(w);
    hpff_in_list_free(&l);
    return s;
}

static void usage(FILE *f) {
    fprintf(f, "usage: hpff_data imagenet [options] DIR OUT.h5\n\n"
               "Converts ILSVRC2012 (DIR/train/<wnid>/*.JPEG and DIR/val as val/<wnid>/*.JPEG, or flat\n"
               "with LOC_val_solution.csv or the devkit's ground truth + meta.mat) into encoded-JPEG\n"
               "HDF5 (datasets/README.md: format = \"jpeg\"). Labels in sorted-wnid order.\n\n"
               "  --shards N           write N files OUT-0000k-of-0000N.h5 (image i in shard i %% N)\n"
               "  --skip-bad           leave unreadable files out (listed) instead of stopping\n"
               "  --max-resolution S   resize images whose shorter side exceeds S to S and re-encode\n"
               "  --quality Q          JPEG quality of re-encoded images (default 90)\n"
               "  --threads T          reader/decoder threads (default: the CPUs online)\n"
               "  --val-labels FILE    LOC_val_solution.csv, or the devkit ground-truth .txt\n"
               "  --meta FILE          the devkit's meta.mat (default: next to the ground truth)\n");
}

// Parses "--name VALUE" integers in [lo, hi]; returns 0, or 2 after a message.
static int int_opt(const char *name, const char *v, int lo, int hi, int *out) {
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || x < lo || x > hi) {
        fprintf(stderr, "hpff_data imagenet: %s %s: expected an integer in [%d, %d]\n", name, v ? v : "", lo, hi);
        return 2;
    }
    *out = (int)x;
    return 0;
}

static int parse(int argc, char **argv, conv_opts *o) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    *o = (conv_opts){NULL, NULL, NULL, NULL, 1, 0, cpus > 0 ? (int)(cpus < 256 ? cpus : 256) : 1, 0, 90};
    int npos = 0, rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 1; }
        if (!strcmp(a, "--skip-bad")) { o->skip_bad = 1; continue; }
        if (!strcmp(a, "--shards")) rc = int_opt(a, v, 1, MAX_SHARDS, &o->shards);
        else if (!strcmp(a, "--threads")) rc = int_opt(a, v, 1, 256, &o->threads);
        else if (!strcmp(a, "--max-resolution")) rc = int_opt(a, v, 1, 65535, &o->max_resolution);
        else if (!strcmp(a, "--quality")) rc = int_opt(a, v, 1, 100, &o->quality);
        else if (!strcmp(a, "--val-labels") && v) o->val_labels = v;
        else if (!strcmp(a, "--meta") && v) o->meta = v;
        else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "hpff_data imagenet: unknown or incomplete option %s (see --help)\n", a);
            return 2;
        } else {
            if (npos == 0) o->dir = a;
            else if (npos == 1) o->out = a;
            npos++;
            continue;
        }
        i++;
    }
    if (!rc && npos != 2) { usage(stderr); rc = 2; }
    return rc;
}

int hpff_imagenet_main(int argc, char **argv) {
    conv_opts o;
    int rc = parse(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
    int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (int i = 0; i < 3; i++) signal(sigs[i], on_signal);
    hpff_status s = convert(&o);
    if (s.code) {
        fprintf(stderr, "hpff_data: error: %s\nhpff_data: nothing was written to %s\n", s.msg, o.out);
        return 1;
    }
    return 0;
}
