// hpff_data.c — converts a dataset from its original distribution format into the project's
// HDF5 layout (datasets/README.md). One subcommand per format; the output appears only when
// complete (written as OUT.tmp, created exclusively, renamed at the end; removed on any failure,
// fatal error or interruption); an output that is one of the inputs is refused.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "convert.h"
#include "dsfile.h"
#ifdef HPFF_IMAGENET
#include "imagenet_conv.h"
#endif

enum { CHUNK = 256 };           // images per read/append

static char g_tmp[4200];        // removed by the signal handler

static double clock_gettime_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void on_signal(int sig) {
    if (g_tmp[0]) unlink(g_tmp);
    signal(sig, SIG_DFL);
    raise(sig);
}

// A fatal error (out of memory in an allocation) exits through hpff_fatal: the temporary goes too.
static void on_fatal(int code) {
    (void)code;
    if (g_tmp[0]) unlink(g_tmp);
}

static void usage(FILE *f) {
    fprintf(f, "usage: hpff_data [--stats recipe|computed] FORMAT DIR OUT.h5\n"
               "       hpff_data --help\n\n"
               "Converts a dataset to the HDF5 layout of datasets/README.md (groups /train and\n"
               "/test with images uint8 (N, H, W, C) and labels int32 (N); attributes classes,\n"
               "mean, std, source, class_names). OUT.h5 appears only when complete.\n\n"
               "FORMAT and what DIR must hold:\n");
    for (int i = 0; hpff_conv_formats[i]; i++)
        fprintf(f, "  %-14s %s\n", hpff_conv_formats[i]->name, hpff_conv_formats[i]->files);
    fprintf(f, "  %-14s %s\n", "imagenet", "ILSVRC2012 train/<wnid>/*.JPEG and val/: encoded-JPEG "
               "output, its own options (hpff_data imagenet --help)");
    fprintf(f, "\n--stats recipe    (default) store the normalisation of ALGORITHM §6 where it\n"
               "                  defines one (cifar10, svhn, stl10), else the train statistics\n"
               "--stats computed  always store the mean/std computed over the train split\n");
}

typedef struct progress {
    long long done, total;
    int last, tty;
} progress;

static void progress_show(progress *p, const char *split) {
    int pct = p->total ? (int)(100 * p->done / p->total) : 100;
    if (pct == p->last || (!p->tty && pct % 25 && pct != 100)) return;
    p->last = pct;
    char bar[41];
    int fill = pct * 40 / 100;
    for (int i = 0; i < 40; i++) bar[i] = i < fill ? '#' : '.';
    bar[40] = 0;
    fprintf(stderr, "%s  [%s] %3d%%  %lld/%lld images (%s)%s", p->tty ? "\r" : "", bar, pct,
            p->done, p->total, split, p->tty ? "" : "\n");
    if (p->tty && pct == 100) fputc('\n', stderr);
    fflush(stderr);
}

static hpff_status write_split(hpff_dsfile *out, const char *split, hpff_conv_reader *r,
                               progress *p) {
    hpff_status s = hpff_dsfile_begin(out, split, r->n, r->h, r->w, r->c);
    size_t img = (size_t)r->h * (size_t)r->w * (size_t)r->c;
    uint8_t *images = hpff_xmalloc(CHUNK * img);
    int32_t *labels = hpff_xmalloc(CHUNK * sizeof(int32_t));
    for (int done = 0; !s.code && done < r->n; done += CHUNK) {
        int k = r->n - done < CHUNK ? r->n - done : CHUNK;
        s = r->read(r, k, images, labels);
        if (!s.code) s = hpff_dsfile_append(out, images, labels, k);
        p->done += k;
        if (!s.code) progress_show(p, split);
    }
    free(images);
    free(labels);
    return s;
}

static void summary(const hpff_conv_format *fmt, const hpff_conv_info *info,
                    const hpff_conv_reader *r, const int64_t *const counts[2], const float *mean,
                    const float *std, const float *tm, const float *ts, const char *out,
                    double secs) {
    printf("%s -> %s: %d train + %d test images of %dx%dx%d (H x W x C), %d classes, %.1f s\n",
           fmt->name, out, r[0].n, r[1].n, r[0].h, r[0].w, r[0].c, info->classes, secs);
    printf("  %-5s %-24s %9s %9s\n", "class", "name", "train", "test");
    for (int k = 0; k < info->classes; k++)
        printf("  %-5d %-24s %9lld %9lld\n", k, info->class_names ? info->class_names[k] : "",
               (long long)counts[0][k], (long long)counts[1][k]);
    const char *rows[4] = {"mean (stored)", "std  (stored)", "mean (train) ", "std  (train) "};
    const float *vals[4] = {mean, std, tm, ts};
    for (int i = 0; i < 4; i++) {
        printf("  %s", rows[i]);
        for (int c = 0; c < r[0].c; c++) printf(" %.6f", vals[i][c]);
        printf("  (x255:");
        for (int c = 0; c < r[0].c; c++) printf(" %.2f", 255 * vals[i][c]);
        printf(")\n");
    }
}

// Opens both splits (so that missing files fail before anything is written), then writes.
static hpff_status convert(const hpff_conv_format *fmt, const char *dir, const char *out,
                           int recipe) {
    hpff_conv_info info = {0};
    hpff_conv_reader r[2] = {{0}};
    hpff_dsfile *f = NULL;
    const char *split[2] = {"train", "test"};
    double t0 = clock_gettime_s();
    hpff_status s = fmt->probe(dir, &info);
    for (int i = 0; i < 2 && !s.code; i++) {
        s = fmt->open(dir, split[i], &info, &r[i]);
        if (s.code) memset(&r[i], 0, sizeof r[i]);   // a failed open released everything
    }
    if (!s.code) s = hpff_conv_check_output(out);
    if (!s.code) s = hpff_dsfile_create(&f, out, info.classes);
    if (!s.code) hpff_dsfile_tmp_path(out, g_tmp, sizeof g_tmp);   // ours from here: removed on any exit
    progress p = {0, (long long)r[0].n + r[1].n, -1, isatty(2)};
    for (int i = 0; i < 2 && !s.code; i++) s = write_split(f, split[i], &r[i], &p);
    float tm[4] = {0}, ts[4] = {0};
    int64_t *counts[2] = {NULL, NULL};
    if (!s.code) {
        hpff_dsfile_train_stats(f, tm, ts);
        for (int i = 0; i < 2; i++) {
            counts[i] = hpff_xmalloc((size_t)info.classes * sizeof(int64_t));
            memcpy(counts[i], hpff_dsfile_class_counts(f, split[i]),
                   (size_t)info.classes * sizeof(int64_t));
        }
    }
    const int use_recipe = recipe && fmt->mean;
    const float *mean = use_recipe ? fmt->mean : tm, *std = use_recipe ? fmt->std : ts;
    if (!s.code) {
        hpff_dsfile_meta meta = {fmt->name, (const char *const *)info.class_names, mean, std};
        s = hpff_dsfile_commit(f, &meta);
        f = NULL;
    }
    if (s.code) hpff_dsfile_abort(f);
    g_tmp[0] = 0;
    if (!s.code)
        summary(fmt, &info, r, (const int64_t *const *)counts, mean, std, tm, ts, out,
                clock_gettime_s() - t0);
    for (int i = 0; i < 2; i++) {
        if (r[i].close) r[i].close(&r[i]);
        free(counts[i]);
    }
    hpff_conv_info_free(&info);
    hpff_conv_forget_inputs();
    return s;
}

// `hpff_data imagenet ...` has its own options and output layout.
static int imagenet_main(int argc, char **argv) {
#ifdef HPFF_IMAGENET
    return hpff_imagenet_main(argc, argv);
#else
    (void)argc;
    (void)argv;
    fprintf(stderr, "hpff_data: this build has no imagenet converter (needs libjpeg-turbo and "
                    "libturbojpeg0-dev; see the cmake output)\n");
    return 2;
#endif
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "imagenet") == 0) return imagenet_main(argc - 1, argv + 1);
    int recipe = 1;
    const char *pos[3];
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        if (!strcmp(argv[i], "--stats") && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(v, "recipe") && strcmp(v, "computed")) {
                fprintf(stderr, "hpff_data: --stats %s: expected recipe or computed\n", v);
                return 2;
            }
            recipe = !strcmp(v, "recipe");
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "hpff_data: unknown option %s (see hpff_data --help)\n", argv[i]);
            return 2;
        } else if (npos < 3) pos[npos++] = argv[i];
        else { fprintf(stderr, "hpff_data: too many arguments (see hpff_data --help)\n"); return 2; }
    }
    if (npos != 3) { usage(stderr); return 2; }
    const hpff_conv_format *fmt = hpff_conv_find(pos[0]);
    if (!fmt) {
        fprintf(stderr, "hpff_data: unknown format '%s'; one of:", pos[0]);
        for (int i = 0; hpff_conv_formats[i]; i++) fprintf(stderr, " %s", hpff_conv_formats[i]->name);
        fprintf(stderr, "\n");
        return 2;
    }
    int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (int i = 0; i < 3; i++) signal(sigs[i], on_signal);
    hpff_set_abort_hook(on_fatal);
    hpff_status s = convert(fmt, pos[1], pos[2], recipe);
    if (s.code) {
        fprintf(stderr, "hpff_data: error: %s\nhpff_data: nothing was written to %s\n", s.msg, pos[2]);
        return 1;
    }
    return 0;
}
