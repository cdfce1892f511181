// make_tiny_dataset.c — writes a small learnable dataset in the project layout for trainer
// tests: OUT.h5 with `train` N and `test` N/4 RGB images of side S, 10 classes; class k is a
// bright square at a class-specific position over noise, so a few steps already learn.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dsfile.h"

static uint64_t rng(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void make_split(hpff_dsfile *f, const char *split, int n, int side, uint64_t seed) {
    hpff_status st = hpff_dsfile_begin(f, split, n, side, side, 3);
    if (st.code) { fprintf(stderr, "%s\n", st.msg); exit(1); }
    uint8_t *img = malloc((size_t)side * side * 3);
    for (int i = 0; i < n; i++) {
        int32_t label = (int32_t)(rng(&seed) % 10);
        int q = side / 4, r0 = (label / 5) * (side / 2), c0 = (label % 5) * (side - q) / 4;
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++)
                for (int c = 0; c < 3; c++) {
                    int v = (int)(rng(&seed) % 96);
                    if (y >= r0 && y < r0 + q && x >= c0 && x < c0 + q) v += 120 + 40 * c;
                    img[((size_t)y * side + x) * 3 + c] = (uint8_t)(v > 255 ? 255 : v);
                }
        st = hpff_dsfile_append(f, img, &label, 1);
        if (st.code) { fprintf(stderr, "%s\n", st.msg); exit(1); }
    }
    free(img);
}

static void usage(FILE *f) {
    fprintf(f, "usage: make_tiny_dataset OUT.h5 N_TRAIN SIDE\n"
               "       make_tiny_dataset --help\n\n"
               "Writes a small learnable dataset in the project layout for the trainer tests:\n"
               "N_TRAIN train and N_TRAIN/4 test RGB images of side SIDE, 10 classes.\n");
}

int main(int argc, char **argv) {
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
    if (argc != 4) {
        usage(stderr);
        return 2;
    }
    int n = atoi(argv[2]), side = atoi(argv[3]);
    hpff_dsfile *f;
    hpff_status st = hpff_dsfile_create(&f, argv[1], 10);
    if (st.code) { fprintf(stderr, "%s\n", st.msg); return 1; }
    make_split(f, "train", n, side, 1);
    make_split(f, "test", n / 4, side, 2);
    hpff_dsfile_meta meta = {"cifar10", NULL, NULL, NULL};
    st = hpff_dsfile_commit(f, &meta);
    if (st.code) { fprintf(stderr, "%s\n", st.msg); return 1; }
    return 0;
}
