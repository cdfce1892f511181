// bench_loader.c — training-loader throughput: CIFAR-10-shaped synthetic data (50,000 images of
// 32x32x3 written to a temporary HDF5 file), cifar augmentation, batch 1024, images/s for each
// thread count. Usage: bench_loader [--n N] [--epochs E] [--batch B] [--threads 1,2,...]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "loader.h"
#include "dsfile.h"
#include "system.h"

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

static void run(const hpff_dataset *ds, int threads, int batch, int epochs) {
    hpff_loader_opts o = {"cifar", 0, batch, threads, 42, 1};
    hpff_loader *L = hpff_loader_create(ds, &o);
    int c, h, w;
    hpff_loader_shape(L, &c, &h, &w);
    float *x = malloc((size_t)batch * (size_t)(c * h * w) * sizeof(float));
    int32_t *y = malloc((size_t)batch * sizeof(int32_t));
    long long images = 0;
    double wait = 0, t0 = hpff_now();
    for (int e = 0; e < epochs; e++) {
        hpff_loader_start_epoch(L, e, 0);
        int n;
        while ((n = hpff_loader_next(L, x, y, &wait)) > 0) images += n;
    }
    double dt = hpff_now() - t0;
    printf("threads %d: %lld images in %.2f s = %.0f img/s (consumer waited %.2f s)\n", threads,
           images, dt, (double)images / dt, wait);
    fflush(stdout);
    free(x);
    free(y);
    hpff_loader_destroy(L);
}

static void usage(FILE *f) {
    fprintf(f, "usage: bench_loader [--n N] [--epochs E] [--batch B] [--threads 1,2,...]\n"
               "       bench_loader --help\n\n"
               "Training-loader throughput on N synthetic 32x32x3 images (a temporary HDF5 file),\n"
               "cifar augmentation: images/s for each prefetch thread count.\n\n"
               "  --n N            images (default 50000)\n"
               "  --epochs E       epochs per thread count (default 3)\n"
               "  --batch B        batch size (default 1024)\n"
               "  --threads LIST   comma-separated thread counts (default 1,2)\n"
               "  --help           this text\n");
}

int main(int argc, char **argv) {
    int n = 50000, epochs = 3, batch = 1024;
    char threads[64] = "1,2";
    for (int i = 1; i < argc; i += 2) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        if (i + 1 >= argc) { fprintf(stderr, "bench_loader: %s needs a value (see bench_loader --help)\n", argv[i]); return 2; }
        if (!strcmp(argv[i], "--n")) n = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--epochs")) epochs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) snprintf(threads, sizeof threads, "%s", argv[i + 1]);
        else { fprintf(stderr, "bench_loader: unknown option %s (see bench_loader --help)\n", argv[i]); return 2; }
    }
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
