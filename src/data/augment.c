// augment.c — data order, random draws and augmentation rendering (see augment.h).
#include "augment.h"
#include <string.h>

enum { STREAM_ORDER = 1, STREAM_AUG = 2 };

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t hpff_rng_at(uint64_t seed, uint64_t stream, uint64_t epoch, uint64_t counter) {
    uint64_t h = mix64(seed + 0x9E3779B97F4A7C15ull);
    h = mix64(h ^ (stream * 0xD1B54A32D192ED03ull + 0x243F6A8885A308D3ull));
    h = mix64(h ^ (epoch * 0x9E3779B97F4A7C15ull + 0x13198A2E03707344ull));
    return mix64(h ^ (counter * 0xA0761D6478BD642Full + 0xA4093822299F31D0ull));
}

uint32_t hpff_rng_below(uint64_t bits, uint32_t bound) {
    return (uint32_t)(((unsigned __int128)bits * bound) >> 64);
}

void hpff_shuffle_order(int32_t *perm, int n, uint64_t seed, int epoch) {
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)hpff_rng_below(hpff_rng_at(seed, STREAM_ORDER, (uint64_t)epoch, (uint64_t)i),
                                    (uint32_t)i + 1);
        int32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

hpff_aug_draw hpff_aug_draw_at(const hpff_aug *a, uint64_t seed, int epoch, int sample) {
    hpff_aug_draw d = {0, 0, 0};
    if (!a || a->kind == HPFF_AUG_NONE) return d;
    uint64_t c = (uint64_t)sample * 4;
    uint32_t range = 2 * (uint32_t)a->pad + 1;
    d.oy = (int)hpff_rng_below(hpff_rng_at(seed, STREAM_AUG, (uint64_t)epoch, c), range);
    d.ox = (int)hpff_rng_below(hpff_rng_at(seed, STREAM_AUG, (uint64_t)epoch, c + 1), range);
    if (a->flip) d.flip = (int)(hpff_rng_at(seed, STREAM_AUG, (uint64_t)epoch, c + 2) >> 63);
    return d;
}

const char *hpff_aug_name(hpff_aug_kind kind) {
    switch (kind) {
    case HPFF_AUG_CIFAR: return "cifar";
    case HPFF_AUG_SVHN: return "svhn";
    case HPFF_AUG_STL: return "stl";
    default: return "none";
    }
}

static const char *auto_kind(const char *source) {
    static const char *const map[][2] = {
        {"cifar10", "cifar"}, {"cifar100", "cifar"}, {"fashion-mnist", "cifar"},
        {"folder", "cifar"},  {"svhn", "svhn"},      {"stl10", "stl"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(source, map[i][0]) == 0) return map[i][1];
    return NULL;
}

hpff_status hpff_aug_resolve(const char *name, const char *source, hpff_aug *out) {
    const char *n = name && *name ? name : "none";
    if (strcmp(n, "auto") == 0) {
        n = auto_kind(source ? source : "");
        if (!n)
            return hpff_status_fail("augment = auto: the dataset's source attribute '%s' has no "
                                    "default augmentation (cifar10, cifar100, fashion-mnist, folder, "
                                    "svhn, stl10 do); set augment to none, cifar, svhn or stl",
                                    source ? source : "");
    }
    if (strcmp(n, "none") == 0) *out = (hpff_aug){HPFF_AUG_NONE, 0, 0, 0};
    else if (strcmp(n, "cifar") == 0) *out = (hpff_aug){HPFF_AUG_CIFAR, 4, 1, 1};
    else if (strcmp(n, "svhn") == 0) *out = (hpff_aug){HPFF_AUG_SVHN, 2, 0, 0};
    else if (strcmp(n, "stl") == 0) *out = (hpff_aug){HPFF_AUG_STL, 4, 0, 1};
    else
        return hpff_status_fail("unknown augment '%s' (expected none, cifar, svhn, stl or auto)", n);
    return hpff_status_ok();
}

void hpff_aug_lut(float *lut, int c, const float *mean, const float *std) {
    for (int ch = 0; ch < c; ch++)
        for (int v = 0; v < 256; v++)
            lut[ch * 256 + v] = ((float)v / 255.0f - mean[ch]) / std[ch];
}

// Output coordinate -> stored-image coordinate along one axis, or -1 for a black pixel.
// side: output (= padded-to) side; lead: zero rows/columns pad_to added before the image.
static void axis_map(int *map, int side, int stored, int lead, int pad, int reflect, int offset,
                     int flip) {
    for (int o = 0; o < side; o++) {
        int s = (flip ? side - 1 - o : o) + offset - pad;   // in the pad_to'd image
        if (reflect) {
            if (s < 0) s = -s;
            if (s >= side) s = 2 * (side - 1) - s;
        } else if (s < 0 || s >= side) {
            map[o] = -1;
            continue;
        }
        s -= lead;
        map[o] = s >= 0 && s < stored ? s : -1;
    }
}

void hpff_aug_render(const uint8_t *img, const hpff_aug_geom *g, const hpff_aug *a,
                     hpff_aug_draw d, const float *lut, float *out, int *scratch) {
    int pad = 0, reflect = 0;
    if (a && a->kind != HPFF_AUG_NONE) { pad = a->pad; reflect = a->reflect; }
    else d = (hpff_aug_draw){0, 0, 0};
    const int c = g->c, oh = g->oh, ow = g->ow;
    int *rows = scratch, *cols = scratch + oh;
    axis_map(rows, oh, g->h, (oh - g->h) / 2, pad, reflect, d.oy, 0);
    axis_map(cols, ow, g->w, (ow - g->w) / 2, pad, reflect, d.ox, d.flip);
    for (int x = 0; x < ow; x++) cols[x] = cols[x] < 0 ? -1 : cols[x] * c;
    const size_t plane = (size_t)oh * (size_t)ow;
    for (int y = 0; y < oh; y++) {
        float *o = out + (size_t)y * (size_t)ow;
        if (rows[y] < 0) {
            for (int ch = 0; ch < c; ch++)
                for (int x = 0; x < ow; x++) o[ch * plane + (size_t)x] = lut[ch * 256];
            continue;
        }
        const uint8_t *row = img + (size_t)rows[y] * (size_t)g->w * (size_t)c;
        for (int ch = 0; ch < c; ch++) {
            const float *l = lut + ch * 256;
            const uint8_t *r = row + ch;
            float *oc = o + ch * plane;
            for (int x = 0; x < ow; x++) oc[x] = cols[x] < 0 ? l[0] : l[r[cols[x]]];
        }
    }
}
