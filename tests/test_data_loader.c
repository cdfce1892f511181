// test_data_loader.c — the loader against ALGORITHM §6: normalisation, padding (reflect without
// repeating the edge, zero), crop offsets, flips, pad_to, data order, batches, determinism across
// thread counts, and resume in the middle of an epoch.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "augment.h"
#include "loader.h"
#include "test_util.h"

// An in-memory dataset of random images; labels i % classes.
static hpff_dataset make_ds(int n, int h, int w, int c, int classes, const char *source,
                            uint64_t seed) {
    hpff_dataset ds;
    memset(&ds, 0, sizeof ds);
    ds.n = n; ds.h = h; ds.w = w; ds.c = c; ds.classes = classes;
    size_t bytes = (size_t)n * (size_t)(h * w * c);
    ds.images = malloc(bytes);
    ds.labels = malloc((size_t)n * sizeof(int32_t));
    for (size_t i = 0; i < bytes; i++) ds.images[i] = (uint8_t)(test_rng_next(&seed) >> 56);
    for (int i = 0; i < n; i++) ds.labels[i] = i % classes;
    const float mean[4] = {0.4f, 0.5f, 0.3f, 0.1f}, std[4] = {0.2f, 0.25f, 0.3f, 0.5f};
    memcpy(ds.mean, mean, sizeof mean);
    memcpy(ds.std, std, sizeof std);
    snprintf(ds.source, sizeof ds.source, "%s", source);
    snprintf(ds.path, sizeof ds.path, "memory:%s", source);
    return ds;
}

static float norm(const hpff_dataset *ds, int ch, uint8_t v) {
    return ((float)v / 255.0f - ds->mean[ch]) / ds->std[ch];
}

// One whole epoch from batch `first` on, concatenated. Returns the number of samples.
static int collect(hpff_loader *L, int epoch, int first, float **x, int32_t **y, int *sizes) {
    int c, h, w;
    hpff_loader_shape(L, &c, &h, &w);
    size_t per = (size_t)(c * h * w);
    int nb = hpff_loader_batches(L), total = 0, k = 0, n;
    *x = NULL;
    *y = NULL;
    hpff_loader_start_epoch(L, epoch, first);
    double wait = 0;
    for (;;) {
        *x = realloc(*x, ((size_t)total + 4096) * per * sizeof(float));
        *y = realloc(*y, ((size_t)total + 4096) * sizeof(int32_t));
        n = hpff_loader_next(L, *x + (size_t)total * per, *y + total, &wait);
        if (!n) break;
        if (sizes) sizes[k] = n;
        k++;
        total += n;
    }
    TEST_CHECK(k == nb - first, "epoch gave %d batches, expected %d", k, nb - first);
    TEST_CHECK(wait >= 0, "wait %g", wait);
    return total;
}

// Reference: build the padded image explicitly, crop, flip, normalise (ALGORITHM §6).
static void reference(const hpff_dataset *ds, int idx, int side, const hpff_aug *a,
                      hpff_aug_draw d, float *out) {
    int p = a->kind == HPFF_AUG_NONE ? 0 : a->pad, P = side + 2 * p, c = ds->c;
    int top = (side - ds->h) / 2, left = (side - ds->w) / 2;
    uint8_t *padded = calloc((size_t)P * P * c, 1);
    for (int i = 0; i < P; i++)
        for (int j = 0; j < P; j++) {
            int si = i - p, sj = j - p;
            if (a->reflect) {
                si = si < 0 ? -si : si >= side ? 2 * (side - 1) - si : si;
                sj = sj < 0 ? -sj : sj >= side ? 2 * (side - 1) - sj : sj;
            }
            if (si < 0 || si >= side || sj < 0 || sj >= side) continue;   // black
            int y = si - top, x = sj - left;
            if (y < 0 || y >= ds->h || x < 0 || x >= ds->w) continue;      // pad_to border
            for (int ch = 0; ch < c; ch++)
                padded[((size_t)i * P + j) * c + ch] =
                    ds->images[(((size_t)idx * ds->h + y) * ds->w + x) * c + ch];
        }
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++) {
                int cx = d.flip ? side - 1 - x : x;
                uint8_t v = padded[((size_t)(y + d.oy) * P + (cx + d.ox)) * c + ch];
                out[((size_t)ch * side + y) * side + x] = norm(ds, ch, v);
            }
    free(padded);
}

static void test_normalise_and_batches(void) {
    hpff_dataset ds = make_ds(10, 3, 4, 3, 4, "cifar10", 1);
    hpff_loader_opts o = {"cifar", 0, 4, 2, 7, 0};     // evaluation: augment ignored
    hpff_loader *L = hpff_loader_create(&ds, &o);
    int c, h, w, sizes[8];
    hpff_loader_shape(L, &c, &h, &w);
    TEST_CHECK(c == 3 && h == 3 && w == 4, "shape %d %d %d", c, h, w);
    TEST_CHECK(hpff_loader_batches(L) == 3, "batches %d", hpff_loader_batches(L));
    TEST_CHECK(strcmp(hpff_loader_augment(L), "none") == 0, "eval augment %s", hpff_loader_augment(L));
    float *x;
    int32_t *y;
    int n = collect(L, 0, 0, &x, &y, sizes);
    TEST_CHECK(n == 10 && sizes[0] == 4 && sizes[1] == 4 && sizes[2] == 2,
               "batch sizes %d %d %d (total %d), expected 4 4 2", sizes[0], sizes[1], sizes[2], n);
    float *ref = malloc(10 * 36 * sizeof(float));
    for (int i = 0; i < 10; i++)
        for (int ch = 0; ch < 3; ch++)
            for (int yy = 0; yy < 3; yy++)
                for (int xx = 0; xx < 4; xx++)
                    ref[((i * 3 + ch) * 3 + yy) * 4 + xx] =
                        norm(&ds, ch, ds.images[((i * 3 + yy) * 4 + xx) * 3 + ch]);
    test_close("normalised CHW", x, ref, 10 * 36, 0, 0);
    int bad = 0;
    for (int i = 0; i < 10; i++) bad += y[i] != ds.labels[i];
    TEST_CHECK(bad == 0, "eval order is not sequential");
    // Known values: byte 0 and 255 of channel 0.
    TEST_CHECK(norm(&ds, 0, 0) == (0.0f - 0.4f) / 0.2f && norm(&ds, 0, 255) == (1.0f - 0.4f) / 0.2f,
               "normalisation formula");
    float lut[256];
    hpff_aug_lut(lut, 1, ds.mean, ds.std);
    TEST_CHECK(lut[0] == -2.0f && fabsf(lut[255] - 3.0f) < 1e-6f && fabsf(lut[51] + 1.0f) < 1e-6f,
               "lut %g %g %g", lut[0], lut[255], lut[51]);
    free(ref);
    free(x);
    free(y);
    hpff_loader_destroy(L);
    free(ds.images);
    free(ds.labels);
}

// Hand-made 5x5 image v = 10 * row + col through the renderer with chosen draws.
static void test_reflect_by_hand(void) {
    uint8_t img[25];
    for (int i = 0; i < 25; i++) img[i] = (uint8_t)(10 * (i / 5) + i % 5);
    float lut[256], out[25];
    for (int v = 0; v < 256; v++) lut[v] = (float)v;
    int scratch[10];
    hpff_aug cifar, svhn;
    hpff_aug_resolve("cifar", "", &cifar);
    hpff_aug_resolve("svhn", "", &svhn);
    TEST_CHECK(cifar.pad == 4 && cifar.reflect && cifar.flip, "cifar aug %d %d %d", cifar.pad,
               cifar.reflect, cifar.flip);
    TEST_CHECK(svhn.pad == 2 && !svhn.reflect && !svhn.flip, "svhn aug");
    hpff_aug_geom g = {5, 5, 1, 5, 5};
    // ox = 3: columns -1..3 of the image; -1 mirrors to 1 (the edge is not repeated).
    hpff_aug_render(img, &g, &cifar, (hpff_aug_draw){4, 3, 0}, lut, out, scratch);
    const float row2[5] = {21, 20, 21, 22, 23};
    test_close("reflect ox=3 row 2", out + 10, row2, 5, 0, 0);
    // Flipped: the crop read right to left.
    hpff_aug_render(img, &g, &cifar, (hpff_aug_draw){4, 3, 1}, lut, out, scratch);
    const float row2f[5] = {23, 22, 21, 20, 21};
    test_close("reflect ox=3 flipped", out + 10, row2f, 5, 0, 0);
    // oy = ox = 0: rows/cols -4..0 mirror to 4..0.
    hpff_aug_render(img, &g, &cifar, (hpff_aug_draw){0, 0, 0}, lut, out, scratch);
    const float row0[5] = {44, 43, 42, 41, 40}, col0[5] = {44, 34, 24, 14, 4};
    float col[5];
    for (int i = 0; i < 5; i++) col[i] = out[i * 5];
    test_close("reflect corner row", out, row0, 5, 0, 0);
    test_close("reflect corner column", col, col0, 5, 0, 0);
    // oy = ox = 8: rows/cols 4..8 mirror to 4, 3, 2, 1, 0.
    hpff_aug_render(img, &g, &cifar, (hpff_aug_draw){8, 8, 0}, lut, out, scratch);
    test_close("reflect far corner", out, row0, 5, 0, 0);
    // Zero padding (svhn): oy = 0, ox = 1: rows -2, -1 and column -1 are black.
    hpff_aug_render(img, &g, &svhn, (hpff_aug_draw){0, 1, 0}, lut, out, scratch);
    const float z0[5] = {0, 0, 0, 0, 0}, z2[5] = {0, 0, 1, 2, 3};
    test_close("zero pad top row", out, z0, 5, 0, 0);
    test_close("zero pad row 2", out + 10, z2, 5, 0, 0);
    // pad_to: 3x3 image in a 5x5 frame, then the identity crop (oy = ox = pad).
    uint8_t small[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    hpff_aug_geom g2 = {3, 3, 1, 5, 5};
    hpff_aug_render(small, &g2, NULL, (hpff_aug_draw){0, 0, 0}, lut, out, scratch);
    const float framed[25] = {0, 0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 4, 5, 6, 0, 0, 7, 8, 9, 0, 0, 0, 0, 0, 0};
    test_close("pad_to frame", out, framed, 25, 0, 0);
    // pad_to then reflect: the mirror sees the black frame. ox = 3 -> frame column 1 at x = 0.
    hpff_aug_render(small, &g2, &cifar, (hpff_aug_draw){4, 3, 0}, lut, out, scratch);
    const float fr1[5] = {1, 0, 1, 2, 3};
    test_close("pad_to then reflect", out + 5, fr1, 5, 0, 0);
}

static void test_draws(void) {
    const char *names[3] = {"cifar", "svhn", "stl"};
    for (int k = 0; k < 3; k++) {
        hpff_aug a;
        hpff_aug_resolve(names[k], "", &a);
        int hist[9] = {0}, flips = 0, out_of_range = 0;
        const int N = 4000;
        for (int i = 0; i < N; i++) {
            hpff_aug_draw d = hpff_aug_draw_at(&a, 5, 3, i);
            if (d.oy < 0 || d.oy > 2 * a.pad || d.ox < 0 || d.ox > 2 * a.pad) out_of_range++;
            else { hist[d.oy]++; hist[d.ox]++; }
            flips += d.flip;
        }
        TEST_CHECK(out_of_range == 0, "%s: %d offsets outside [0, %d]", names[k], out_of_range, 2 * a.pad);
        int expect = 2 * N / (2 * a.pad + 1);
        for (int v = 0; v <= 2 * a.pad; v++)
            TEST_CHECK(abs(hist[v] - expect) < expect / 5, "%s: offset %d drawn %d times, expected ~%d",
                       names[k], v, hist[v], expect);
        if (a.flip) TEST_CHECK(abs(flips - N / 2) < N / 20, "%s: %d flips of %d", names[k], flips, N);
        else TEST_CHECK(flips == 0, "%s flips", names[k]);
    }
    hpff_aug a;
    hpff_aug_resolve("cifar", "", &a);
    hpff_aug_draw d1 = hpff_aug_draw_at(&a, 5, 3, 17), d2 = hpff_aug_draw_at(&a, 5, 3, 17);
    TEST_CHECK(d1.oy == d2.oy && d1.ox == d2.ox && d1.flip == d2.flip, "draws not reproducible");
    int differ = 0;
    for (int i = 0; i < 100; i++) {
        hpff_aug_draw e0 = hpff_aug_draw_at(&a, 5, 0, i), e1 = hpff_aug_draw_at(&a, 5, 1, i);
        differ += e0.oy != e1.oy || e0.ox != e1.ox || e0.flip != e1.flip;
    }
    TEST_CHECK(differ > 80, "epochs 0 and 1 share draws for %d of 100 samples", 100 - differ);
}

// The loader's output equals the reference for every sample of an epoch, in the epoch's order.
static void check_augmented_epoch(const char *aug_name, const char *source, int h, int pad_to, int c) {
    hpff_dataset ds = make_ds(23, h, h, c, 5, source, 11);
    hpff_loader_opts o = {aug_name, pad_to, 6, 2, 99, 1};
    hpff_loader *L = hpff_loader_create(&ds, &o);
    hpff_aug a;
    hpff_aug_resolve(aug_name, source, &a);
    int side = pad_to ? pad_to : h, epoch = 2;
    float *x;
    int32_t *y;
    int n = collect(L, epoch, 0, &x, &y, NULL);
    TEST_CHECK(n == 23, "%s: %d samples", aug_name, n);
    int32_t order[23];
    hpff_shuffle_order(order, 23, 99, epoch);
    size_t per = (size_t)c * side * side;
    float *ref = malloc(per * sizeof(float));
    int ok = 1, seen[23] = {0};
    for (int i = 0; i < n && ok; i++) {
        seen[order[i]]++;
        reference(&ds, order[i], side, &a, hpff_aug_draw_at(&a, 99, epoch, order[i]), ref);
        char what[96];
        snprintf(what, sizeof what, "%s sample %d (image %d)", aug_name, i, order[i]);
        ok = test_close(what, x + (size_t)i * per, ref, per, 0, 0);
        ok &= y[i] == ds.labels[order[i]];
    }
    TEST_CHECK(ok, "%s: labels follow the order", aug_name);
    for (int i = 0; i < 23; i++) TEST_CHECK(seen[i] == 1, "image %d appears %d times", i, seen[i]);
    free(ref);
    free(x);
    free(y);
    hpff_loader_destroy(L);
    free(ds.images);
    free(ds.labels);
}

static void test_determinism_and_resume(void) {
    hpff_dataset ds = make_ds(50, 6, 6, 3, 10, "cifar10", 3);
    float *x[4];
    int32_t *y[4];
    int threads[2] = {1, 3};
    for (int t = 0; t < 2; t++) {
        hpff_loader_opts o = {"auto", 8, 8, threads[t], 1234, 1};
        hpff_loader *L = hpff_loader_create(&ds, &o);
        TEST_CHECK(strcmp(hpff_loader_augment(L), "cifar") == 0, "auto for cifar10: %s",
                   hpff_loader_augment(L));
        collect(L, 0, 0, &x[2 * t], &y[2 * t], NULL);
        collect(L, 1, 0, &x[2 * t + 1], &y[2 * t + 1], NULL);
        hpff_loader_destroy(L);
    }
    size_t floats = (size_t)50 * 3 * 8 * 8;
    TEST_CHECK(memcmp(x[0], x[2], floats * sizeof(float)) == 0 && memcmp(y[0], y[2], 200) == 0,
               "epoch 0 differs between 1 and 3 threads");
    TEST_CHECK(memcmp(x[1], x[3], floats * sizeof(float)) == 0 && memcmp(y[1], y[3], 200) == 0,
               "epoch 1 differs between 1 and 3 threads");
    TEST_CHECK(memcmp(y[0], y[1], 200) != 0, "epochs 0 and 1 have the same order");
    int32_t o0[50], o1[50];
    hpff_shuffle_order(o0, 50, 1234, 0);
    hpff_shuffle_order(o1, 50, 1235, 0);
    TEST_CHECK(memcmp(o0, o1, sizeof o0) != 0, "seeds 1234 and 1235 give the same order");

    // Resume: a fresh loader starting epoch 1 at batch 3 gives the tail of the continuous run;
    // so does restarting an existing loader in the middle of an epoch.
    hpff_loader_opts o = {"auto", 8, 8, 2, 1234, 1};
    hpff_loader *L = hpff_loader_create(&ds, &o);
    float *xr;
    int32_t *yr;
    int n = collect(L, 1, 3, &xr, &yr, NULL);
    size_t off = (size_t)3 * 8;
    TEST_CHECK(n == 50 - 24, "resumed epoch has %d samples", n);
    TEST_CHECK(memcmp(xr, x[1] + off * 3 * 64, (size_t)n * 3 * 64 * sizeof(float)) == 0 &&
               memcmp(yr, y[1] + off, (size_t)n * 4) == 0, "resume at batch 3 differs");
    free(xr);
    free(yr);
    float buf[8 * 3 * 64];
    int32_t lab[8];
    hpff_loader_start_epoch(L, 1, 0);
    for (int b = 0; b < 5; b++) hpff_loader_next(L, buf, lab, NULL);   // consume, then jump back
    n = collect(L, 1, 3, &xr, &yr, NULL);
    TEST_CHECK(n == 26 && memcmp(xr, x[1] + off * 3 * 64, (size_t)n * 3 * 64 * sizeof(float)) == 0,
               "restart mid-epoch differs");
    free(xr);
    free(yr);
    hpff_loader_start_epoch(L, 0, hpff_loader_batches(L));
    TEST_CHECK(hpff_loader_next(L, buf, lab, NULL) == 0, "start at the last batch + 1 is empty");
    hpff_loader_start_epoch(L, 0, 0);
    hpff_loader_next(L, buf, lab, NULL);
    hpff_loader_destroy(L);                  // with batches still in flight
    for (int i = 0; i < 4; i++) { free(x[i]); free(y[i]); }
    free(ds.images);
    free(ds.labels);
}

static void test_options(void) {
    hpff_dataset ds = make_ds(4, 28, 28, 1, 10, "fashion-mnist", 2);
    hpff_loader_opts o = {"auto", 32, 3, 1, 0, 1};
    hpff_status s = hpff_loader_check(&ds, &o);
    TEST_CHECK(s.code == 0, "fashion-mnist pad_to 32: %s", s.msg);
    hpff_loader *L = hpff_loader_create(&ds, &o);
    int c, h, w;
    hpff_loader_shape(L, &c, &h, &w);
    TEST_CHECK(c == 1 && h == 32 && w == 32, "pad_to shape %d %d %d", c, h, w);
    TEST_CHECK(strcmp(hpff_loader_augment(L), "cifar") == 0, "auto for fashion-mnist");
    hpff_loader_destroy(L);
    struct { const char *aug; int pad_to, batch, threads; const char *source, *needle; } bad[] = {
        {"cifar", 20, 4, 1, "x", "pad_to = 20"},
        {"cifar", 0, 0, 1, "x", "batch = 0"},
        {"cifar", 0, 4, 0, "x", "threads = 0"},
        {"crop", 0, 4, 1, "x", "unknown augment 'crop'"},
        {"auto", 0, 4, 1, "imagenet", "source attribute 'imagenet'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(ds.source, sizeof ds.source, "%s", bad[i].source);
        hpff_loader_opts b = {bad[i].aug, bad[i].pad_to, bad[i].batch, bad[i].threads, 0, 1};
        s = hpff_loader_check(&ds, &b);
        TEST_CHECK(s.code && strstr(s.msg, bad[i].needle), "option case %zu: '%s' lacks '%s'", i,
                   s.msg, bad[i].needle);
        printf("  ok %s\n", s.msg);
    }
    hpff_dataset tiny = make_ds(2, 4, 4, 1, 2, "cifar10", 1);
    hpff_loader_opts t = {"cifar", 0, 2, 1, 0, 1};
    s = hpff_loader_check(&tiny, &t);
    TEST_CHECK(s.code && strstr(s.msg, "mirrors 4 pixels"), "reflect on 4x4: %s", s.msg);
    const char *src[4][2] = {{"svhn", "svhn"}, {"stl10", "stl"}, {"cifar100", "cifar"}, {"folder", "cifar"}};
    for (int i = 0; i < 4; i++) {
        hpff_aug a;
        s = hpff_aug_resolve("auto", src[i][0], &a);
        TEST_CHECK(!s.code && strcmp(hpff_aug_name(a.kind), src[i][1]) == 0, "auto %s -> %s",
                   src[i][0], hpff_aug_name(a.kind));
    }
    free(tiny.images); free(tiny.labels);
    free(ds.images); free(ds.labels);
}

// Data-parallel shares (sampler.h): replica r of 3 reads padded[r::3] of the epoch permutation
// (training, pad) or perm[r::3] (evaluation, exact); labels = index identify the samples.
static void test_replica_shares(void) {
    hpff_dataset ds = make_ds(10, 2, 2, 1, 10, "cifar10", 5);
    hpff_loader_opts o = {"none", 0, 3, 2, 21, 1};
    int32_t perm[10], seen[10] = {0};
    hpff_shuffle_order(perm, 10, 21, 4);
    for (int pad = 1; pad >= 0; pad--)
        for (int r = 0; r < 3; r++) {
            hpff_loader *L = hpff_loader_create_share(&ds, &o, (hpff_share){r, 3, pad});
            float x[3 * 4];
            int32_t y[3];
            int n, k = 0, bad = 0;
            double wait = 0;
            hpff_loader_start_epoch(L, 4, 0);
            while ((n = hpff_loader_next(L, x, y, &wait)) > 0)
                for (int i = 0; i < n; i++, k++) {
                    bad += y[i] != perm[(r + 3 * k) % 10];
                    if (!pad) seen[y[i]]++;
                }
            int want = pad ? 4 : (r == 0 ? 4 : 3);
            TEST_CHECK(k == want && bad == 0 && hpff_loader_samples(L) == want,
                       "pad %d replica %d: %d samples (want %d), %d not its share", pad, r, k, want, bad);
            hpff_loader_destroy(L);
        }
    for (int i = 0; i < 10; i++) TEST_CHECK(seen[i] == 1, "exact shares read sample %d %d times", i, seen[i]);
    hpff_dataset_free(&ds);
}

int main(void) {
    test_normalise_and_batches();
    test_reflect_by_hand();
    test_draws();
    check_augmented_epoch("cifar", "cifar10", 6, 0, 3);
    check_augmented_epoch("cifar", "fashion-mnist", 5, 8, 1);   // pad_to, then reflect
    check_augmented_epoch("svhn", "svhn", 7, 0, 3);
    check_augmented_epoch("stl", "stl10", 9, 0, 3);
    check_augmented_epoch("auto", "stl10", 9, 11, 3);
    test_determinism_and_resume();
    test_options();
    test_replica_shares();
    return hpff_test_summary("test_data_loader");
}
