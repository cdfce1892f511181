// bench_loader.c — training-loader throughput: CIFAR-10-shaped synthetic data (50,000 images of
// 32x32x3 written to a temporary HDF5 file), cifar augmentation, batch 1024, images/s for each
// thread count. Usage: bench_loader [--n N] [--epochs E] [--batch B] [--threads 1,2,...]
// With --jpeg FILE (an encoded-JPEG file from hpff_data imagenet): the ImageNet loader's train
// and/or eval transform (--mode train,eval; --size 224; --dct on|off), batch 64, 2 epochs of
// which the last is timed (bench/bench_imagenet_loader.sh runs it next to torchvision).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "loader.h"
#include "dsfile.h"
#include "system.h"
#ifdef HPFF_JPEG
#include "jpeg_loader.h"
#endif

static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// Writes n random 32x32x3 train images (and a small test split) to path.
static hpff_status write_synthetic(const char *path, int n) {
    hpff_dsfile *f;
    hpff_status s = hpff_dsfile_create(&f, path, 10);
    if (s.code) return s;
    enum { CH = 1000 };
    uint8_t *img = malloc((size_t)CH * 3072);
    int32_t lab[CH];
    uint64_t seed = 1;
    const char *split[2] = {"train", "test"};
    int count[2] = {n, 1000};
    for (int sp = 0; sp < 2 && !s.code; sp++) {
        s = hpff_dsfile_begin(f, split[sp], count[sp], 32, 32, 3);
        for (int done = 0; !s.code && done < count[sp]; done += CH) {
            int k = count[sp] - done < CH ? count[sp] - done : CH;
            for (size_t i = 0; i < (size_t)k * 3072; i += 8) {
                uint64_t r = next_u64(&seed);
                memcpy(img + i, &r, 8);
            }
            for (int i = 0; i < k; i++) lab[i] = (done + i) % 10;
            s = hpff_dsfile_append(f, img, lab, k);
        }
    }
    free(img);
    hpff_dsfile_meta meta = {"cifar10", NULL, NULL, NULL};
    if (s.code) { hpff_dsfile_abort(f); return s; }
    return hpff_dsfile_commit(f, &meta);
}

// Epochs [skip, epochs) timed at the consumer.
static void time_loader(hpff_loader *L, const char *label, int batch, int epochs, int skip) {
    int c, h, w;
    hpff_loader_shape(L, &c, &h, &w);
    float *x = malloc((size_t)batch * (size_t)(c * h * w) * sizeof(float));
    int32_t *y = malloc((size_t)batch * sizeof(int32_t));
    long long images = 0;
    double wait = 0, t0 = hpff_now();
    for (int e = 0; e < epochs; e++) {
        if (e == skip) { images = 0; wait = 0; t0 = hpff_now(); }
        hpff_loader_start_epoch(L, e, 0);
        int n;
        while ((n = hpff_loader_next(L, x, y, &wait)) > 0) images += n;
    }
    double dt = hpff_now() - t0;
    printf("%s: %lld images in %.2f s = %.0f img/s (consumer waited %.2f s)\n", label, images, dt,
           (double)images / dt, wait);
    fflush(stdout);
    free(x);
    free(y);
}

static void run(const hpff_dataset *ds, int threads, int batch, int epochs) {
    hpff_loader_opts o = {"cifar", 0, batch, threads, 42, 1};
    hpff_loader *L = hpff_loader_create(ds, &o);
    char label[32];
    snprintf(label, sizeof label, "threads %d", threads);
    time_loader(L, label, batch, epochs, 0);
    hpff_loader_destroy(L);
}

typedef struct jpeg_args {
    const char *file;
    char modes[32], threads[64];
    int size, dct, batch, epochs;
} jpeg_args;

static int run_jpeg(jpeg_args *a) {
#ifdef HPFF_JPEG
    hpff_jpegds ds;
    hpff_status s = hpff_jpegds_open(a->file, "train", &ds);
    if (s.code) { fprintf(stderr, "bench_loader: %s\n", s.msg); return 1; }
    double load[1] = {-1};
    getloadavg(load, 1);
    printf("bench_loader --jpeg: %d images of %s, batch %d, %d epochs (the last %d timed), DCT "
           "scaling %s, load average %.2f at start\n", ds.n, a->file, a->batch, a->epochs,
           a->epochs > 1 ? a->epochs - 1 : 1, a->dct ? "on" : "off", load[0]);
    char *msave = NULL;
    for (char *m = strtok_r(a->modes, ",", &msave); m; m = strtok_r(NULL, ",", &msave)) {
        char *save = NULL, th[64];
        snprintf(th, sizeof th, "%s", a->threads);
        for (char *t = strtok_r(th, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            int train = strcmp(m, "train") == 0;
            hpff_jpeg_loader_opts o = {train, a->size, a->size * 8 / 7, a->dct, a->batch, atoi(t), 42,
                                       train, {0, 1, 1}};
            hpff_loader *L = hpff_jpeg_loader_create(&ds, &o);
            char label[64];
            snprintf(label, sizeof label, "hpff %s %d: threads %s", m, a->size, t);
            time_loader(L, label, a->batch, a->epochs, a->epochs > 1 ? 1 : 0);
            hpff_loader_destroy(L);
        }
    }
    hpff_jpegds_close(&ds);
    return 0;
#else
    (void)a;
    fprintf(stderr, "bench_loader: this build has no JPEG loader\n");
    return 1;
#endif
}

static void usage(FILE *f) {
    fprintf(f, "usage: bench_loader [--n N] [--epochs E] [--batch B] [--threads 1,2,...]\n"
               "       bench_loader --jpeg FILE.h5 [--mode train,eval] [--size S] [--dct on|off]\n"
               "                    [--batch B] [--epochs E] [--threads 1,2,...]\n"
               "       bench_loader --help\n\n"
               "Training-loader throughput on N synthetic 32x32x3 images (a temporary HDF5 file),\n"
               "cifar augmentation: images/s for each prefetch thread count. With --jpeg: the\n"
               "ImageNet loader on an encoded-JPEG file (hpff_data imagenet), batch 64, 2 epochs\n"
               "of which the last is timed (bench/bench_imagenet_loader.sh).\n\n"
               "  --n N            images (default 50000)\n"
               "  --epochs E       epochs per thread count (default 3; --jpeg: 2)\n"
               "  --batch B        batch size (default 1024; --jpeg: 64)\n"
               "  --threads LIST   comma-separated thread counts (default 1,2)\n"
               "  --jpeg FILE      encoded-JPEG dataset (its train split)\n"
               "  --mode LIST      train (RandomResizedCrop + flip) and/or eval (resize + centre crop)\n"
               "  --size S         output side (default 224; eval resizes to S / 0.875)\n"
               "  --dct on|off     DCT-domain downscaling (default on)\n"
               "  --help           this text\n");
}

int main(int argc, char **argv) {
    int n = 50000, epochs = 3, batch = 1024;
    char threads[64] = "1,2";
    jpeg_args ja = {NULL, "train,eval", "1,2", 224, 1, 64, 2};
    for (int i = 1; i < argc; i += 2) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        if (i + 1 >= argc) { fprintf(stderr, "bench_loader: %s needs a value (see bench_loader --help)\n", argv[i]); return 2; }
        const char *v = argv[i + 1];
        if (!strcmp(argv[i], "--n")) n = atoi(v);
        else if (!strcmp(argv[i], "--epochs")) epochs = ja.epochs = atoi(v);
        else if (!strcmp(argv[i], "--batch")) batch = ja.batch = atoi(v);
        else if (!strcmp(argv[i], "--threads")) {
            snprintf(threads, sizeof threads, "%s", v);
            snprintf(ja.threads, sizeof ja.threads, "%s", v);
        } else if (!strcmp(argv[i], "--jpeg")) ja.file = v;
        else if (!strcmp(argv[i], "--mode")) snprintf(ja.modes, sizeof ja.modes, "%s", v);
        else if (!strcmp(argv[i], "--size")) ja.size = atoi(v);
        else if (!strcmp(argv[i], "--dct")) ja.dct = strcmp(v, "off") != 0;
        else { fprintf(stderr, "bench_loader: unknown option %s (see bench_loader --help)\n", argv[i]); return 2; }
    }
    if (ja.file) return run_jpeg(&ja);
    const char *tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char path[512];
    snprintf(path, sizeof path, "%s/bench_loader_%d.h5", tmpdir, (int)getpid());
    hpff_status s = write_synthetic(path, n);
    hpff_dataset ds;
    if (!s.code) s = hpff_dataset_load(path, "train", &ds);
    unlink(path);
    if (s.code) { fprintf(stderr, "bench_loader: %s\n", s.msg); return 1; }
    printf("bench_loader: %d images %dx%dx%d, augment cifar, batch %d, %d epochs per setting\n",
           ds.n, ds.h, ds.w, ds.c, batch, epochs);
    for (char *t = strtok(threads, ","); t; t = strtok(NULL, ",")) run(&ds, atoi(t), batch, epochs);
    hpff_dataset_free(&ds);
    return 0;
}
