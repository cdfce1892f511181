// fmt_binary.c — converters for the plain binary distributions: Fashion-MNIST (idx files,
// gzip-compressed or not), CIFAR-10 / CIFAR-100 (binary version) and STL-10 (binary version).
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "convert.h"

// ---------------------------------------------------------------- Fashion-MNIST (idx) ------

typedef struct idx_ctx {
    gzFile img, lab;
    char img_path[4096], lab_path[4096];
    long long done;
} idx_ctx;

static const char *const k_fmnist_names[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

// dir/<name>.gz, or dir/<name> when only the uncompressed file exists (gzread reads both).
static hpff_status idx_open_file(const char *dir, const char *name, char *path, gzFile *out) {
    char gz[600];
    snprintf(gz, sizeof gz, "%s.gz", name);
    hpff_status s = hpff_conv_join(path, 4096, dir, gz);
    if (s.code) return s;
    long long size;
    if (hpff_conv_file_size(path, &size).code) {
        s = hpff_conv_join(path, 4096, dir, name);
        if (s.code) return s;
        if (hpff_conv_file_size(path, &size).code)
            return hpff_status_fail("%s/%s.gz not found (nor %s uncompressed)", dir, name, name);
    }
    *out = gzopen(path, "rb");
    if (!*out) return hpff_status_fail("cannot open %s", path);
    return hpff_status_ok();
}

static hpff_status gz_exact(gzFile f, void *buf, unsigned bytes, const char *path, long long at) {
    int got = gzread(f, buf, bytes);
    if (got != (int)bytes) {
        int err = 0;
        const char *msg = gzerror(f, &err);
        return hpff_status_fail("%s: %s at byte %lld of the uncompressed data (wanted %u bytes)",
                                path, err < 0 ? msg : "truncated", at + (got > 0 ? got : 0), bytes);
    }
    return hpff_status_ok();
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static hpff_status idx_read(hpff_conv_reader *r, int count, uint8_t *images, int32_t *labels) {
    idx_ctx *c = r->ctx;
    unsigned px = (unsigned)(r->h * r->w);
    hpff_status s = gz_exact(c->img, images, (unsigned)count * px, c->img_path, 16 + c->done * px);
    uint8_t lab[4096];
    for (int done = 0; !s.code && done < count; done += 4096) {
        int k = count - done < 4096 ? count - done : 4096;
        s = gz_exact(c->lab, lab, (unsigned)k, c->lab_path, 8 + c->done + done);
        for (int i = 0; !s.code && i < k; i++) {
            if (lab[i] >= 10)
                s = hpff_status_fail("%s: label %d of item %lld is outside 0..9", c->lab_path,
                                     lab[i], c->done + done + i);
            labels[done + i] = lab[i];
        }
    }
    c->done += count;
    return s;
}

static void idx_close(hpff_conv_reader *r) {
    idx_ctx *c = r->ctx;
    if (c->img) gzclose(c->img);
    if (c->lab) gzclose(c->lab);
    free(c);
}

static hpff_status idx_headers(idx_ctx *c, hpff_conv_reader *r) {
    uint8_t hi[16], hl[8];
    hpff_status s = gz_exact(c->img, hi, 16, c->img_path, 0);
    if (!s.code) s = gz_exact(c->lab, hl, 8, c->lab_path, 0);
    if (s.code) return s;
    if (be32(hi) != 0x803)
        return hpff_status_fail("%s: magic number 0x%08x; expected 0x00000803 (idx3 unsigned bytes)",
                                c->img_path, be32(hi));
    if (be32(hl) != 0x801)
        return hpff_status_fail("%s: magic number 0x%08x; expected 0x00000801 (idx1 unsigned bytes)",
                                c->lab_path, be32(hl));
    uint32_t n = be32(hi + 4), h = be32(hi + 8), w = be32(hi + 12);
    if (n == 0 || n > (1u << 30) || h == 0 || w == 0 || h > 4096 || w > 4096)
        return hpff_status_fail("%s: header says %u images of %ux%u; expected a positive count "
                                "and a size up to 4096x4096", c->img_path, n, h, w);
    if (be32(hl + 4) != n)
        return hpff_status_fail("%s holds %u labels but %s holds %u images", c->lab_path,
                                be32(hl + 4), c->img_path, n);
    r->n = (int)n;
    r->h = (int)h;
    r->w = (int)w;
    r->c = 1;
    return hpff_status_ok();
}

static hpff_status fmnist_probe(const char *dir, hpff_conv_info *info) {
    info->classes = 10;
    hpff_conv_names(info, dir, NULL, k_fmnist_names);
    return hpff_status_ok();
}

static hpff_status fmnist_open(const char *dir, const char *split, const hpff_conv_info *info,
                               hpff_conv_reader *r) {
    (void)info;
    const char *pre = strcmp(split, "train") == 0 ? "train" : "t10k";
    char ni[64], nl[64];
    snprintf(ni, sizeof ni, "%s-images-idx3-ubyte", pre);
    snprintf(nl, sizeof nl, "%s-labels-idx1-ubyte", pre);
    idx_ctx *c = hpff_xcalloc(1, sizeof *c);
    *r = (hpff_conv_reader){0, 0, 0, 0, c, idx_read, idx_close};
    hpff_status s = idx_open_file(dir, ni, c->img_path, &c->img);
    if (!s.code) s = idx_open_file(dir, nl, c->lab_path, &c->lab);
    if (!s.code) s = idx_headers(c, r);
    if (s.code) idx_close(r);
    return s;
}

const hpff_conv_format hpff_conv_fashion_mnist = {
    "fashion-mnist",
    "train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz "
    "t10k-labels-idx1-ubyte.gz (or the same names uncompressed)",
    NULL, NULL, fmnist_probe, fmnist_open,
};

// ---------------------------------------------------------------- fixed-size records -------
// CIFAR-10/100: files of records <label byte(s)> <R plane> <G plane> <B plane>, 32x32 each,
// row-major. STL-10: X = images of 3 planes of 96x96 stored column-major; y = bytes 1..10.

typedef struct rec_ctx {
    char paths[6][4096];        // record files in order (CIFAR) or X then y (STL)
    long long count[6];         // records per file
    int nfiles, file, classes, cifar100;
    long long at;               // records read from the current file
    FILE *f, *fy;               // current record file; STL label file
    uint8_t *rec;
} rec_ctx;

static void rec_close(hpff_conv_reader *r) {
    rec_ctx *c = r->ctx;
    if (c->f) fclose(c->f);
    if (c->fy) fclose(c->fy);
    free(c->rec);
    free(c);
}

static hpff_status cifar_read(hpff_conv_reader *r, int count, uint8_t *images, int32_t *labels) {
    rec_ctx *c = r->ctx;
    const int lab_bytes = c->cifar100 ? 2 : 1;
    const size_t rec = (size_t)lab_bytes + 3072;
    for (int i = 0; i < count; i++) {
        while (!c->f || c->at == c->count[c->file]) {
            if (c->f) { fclose(c->f); c->f = NULL; c->file++; c->at = 0; }
            if (c->file >= c->nfiles) return hpff_status_fail("%s: read past the end", c->paths[0]);
            hpff_status s = hpff_conv_fopen(c->paths[c->file], &c->f);
            if (s.code) return s;
        }
        const char *path = c->paths[c->file];
        hpff_status s = hpff_conv_fread(c->f, c->rec, rec, path, c->at * (long long)rec);
        if (s.code) return s;
        int label = c->rec[lab_bytes - 1];   // CIFAR-100: <coarse> <fine>; the fine label
        if (label >= c->classes)
            return hpff_status_fail("%s: record %lld has label %d, outside 0..%d", path, c->at,
                                    label, c->classes - 1);
        labels[i] = label;
        uint8_t *img = images + (size_t)i * 3072;
        const uint8_t *px = c->rec + lab_bytes;
        for (int p = 0; p < 1024; p++)
            for (int ch = 0; ch < 3; ch++) img[p * 3 + ch] = px[ch * 1024 + p];
        c->at++;
    }
    return hpff_status_ok();
}

// Sizes of the record files; each must hold a whole number of records.
static hpff_status rec_count(rec_ctx *c, long long rec_bytes, hpff_conv_reader *r) {
    long long total = 0;
    for (int i = 0; i < c->nfiles; i++) {
        long long size;
        hpff_status s = hpff_conv_file_size(c->paths[i], &size);
        if (s.code) return s;
        if (size == 0 || size % rec_bytes)
            return hpff_status_fail("%s: %lld bytes is not a whole number of %lld-byte records "
                                    "(truncated or not this format?)", c->paths[i], size, rec_bytes);
        c->count[i] = size / rec_bytes;
        total += c->count[i];
    }
    if (total > (1 << 30)) return hpff_status_fail("%s: too many records", c->paths[0]);
    r->n = (int)total;
    return hpff_status_ok();
}

static hpff_status cifar_open_split(const char *dir, const char *split, int cifar100,
                                    hpff_conv_reader *r) {
    rec_ctx *c = hpff_xcalloc(1, sizeof *c);
    c->cifar100 = cifar100;
    c->classes = cifar100 ? 100 : 10;
    c->rec = hpff_xmalloc(3074);
    *r = (hpff_conv_reader){0, 32, 32, 3, c, cifar_read, rec_close};
    int train = strcmp(split, "train") == 0;
    hpff_status s = hpff_status_ok();
    if (cifar100) {
        c->nfiles = 1;
        s = hpff_conv_join(c->paths[0], 4096, dir, train ? "train.bin" : "test.bin");
    } else {
        c->nfiles = train ? 5 : 1;
        for (int i = 0; i < c->nfiles && !s.code; i++) {
            char name[32];
            snprintf(name, sizeof name, train ? "data_batch_%d.bin" : "test_batch.bin", i + 1);
            s = hpff_conv_join(c->paths[i], 4096, dir, name);
        }
    }
    if (!s.code) s = rec_count(c, cifar100 ? 3074 : 3073, r);
    if (s.code) rec_close(r);
    return s;
}

static const char *const k_cifar10_names[] = {"airplane", "automobile", "bird", "cat", "deer",
                                              "dog", "frog", "horse", "ship", "truck"};

static hpff_status cifar10_probe(const char *dir, hpff_conv_info *info) {
    info->classes = 10;
    hpff_conv_names(info, dir, "batches.meta.txt", k_cifar10_names);
    return hpff_status_ok();
}

static hpff_status cifar100_probe(const char *dir, hpff_conv_info *info) {
    info->classes = 100;
    hpff_conv_names(info, dir, "fine_label_names.txt", NULL);
    return hpff_status_ok();
}

static hpff_status cifar10_open(const char *dir, const char *split, const hpff_conv_info *info,
                                hpff_conv_reader *r) {
    (void)info;
    return cifar_open_split(dir, split, 0, r);
}

static hpff_status cifar100_open(const char *dir, const char *split, const hpff_conv_info *info,
                                 hpff_conv_reader *r) {
    (void)info;
    return cifar_open_split(dir, split, 1, r);
}

// ALGORITHM §6: (125.3, 123.0, 113.9)/255 and (63.0, 62.1, 66.7)/255.
static const float k_cifar_mean[3] = {125.3f / 255, 123.0f / 255, 113.9f / 255};
static const float k_cifar_std[3] = {63.0f / 255, 62.1f / 255, 66.7f / 255};
static const float k_half[3] = {0.5f, 0.5f, 0.5f};

const hpff_conv_format hpff_conv_cifar10 = {
    "cifar10", "data_batch_1.bin ... data_batch_5.bin test_batch.bin (cifar-10-batches-bin)",
    k_cifar_mean, k_cifar_std, cifar10_probe, cifar10_open,
};

const hpff_conv_format hpff_conv_cifar100 = {
    "cifar100", "train.bin test.bin (cifar-100-binary; fine labels)",
    NULL, NULL, cifar100_probe, cifar100_open,
};

// ---------------------------------------------------------------- STL-10 -------------------

enum { STL_SIDE = 96, STL_BYTES = 3 * 96 * 96 };

static hpff_status stl_read(hpff_conv_reader *r, int count, uint8_t *images, int32_t *labels) {
    rec_ctx *c = r->ctx;
    for (int i = 0; i < count; i++, c->at++) {
        uint8_t y;
        hpff_status s = hpff_conv_fread(c->f, c->rec, STL_BYTES, c->paths[0], c->at * STL_BYTES);
        if (!s.code) s = hpff_conv_fread(c->fy, &y, 1, c->paths[1], c->at);
        if (s.code) return s;
        if (y < 1 || y > 10)
            return hpff_status_fail("%s: label %d of image %lld is outside 1..10", c->paths[1], y,
                                    c->at);
        labels[i] = y - 1;
        uint8_t *img = images + (size_t)i * STL_BYTES;
        for (int ch = 0; ch < 3; ch++)          // plane ch holds pixel (row, col) at col*96 + row
            for (int x = 0; x < STL_SIDE; x++) {
                const uint8_t *col = c->rec + ch * STL_SIDE * STL_SIDE + x * STL_SIDE;
                for (int yy = 0; yy < STL_SIDE; yy++) img[(yy * STL_SIDE + x) * 3 + ch] = col[yy];
            }
    }
    return hpff_status_ok();
}

static const char *const k_stl_names[] = {"airplane", "bird", "car", "cat", "deer",
                                          "dog", "horse", "monkey", "ship", "truck"};

static hpff_status stl_probe(const char *dir, hpff_conv_info *info) {
    info->classes = 10;
    hpff_conv_names(info, dir, "class_names.txt", k_stl_names);
    return hpff_status_ok();
}

static hpff_status stl_open(const char *dir, const char *split, const hpff_conv_info *info,
                            hpff_conv_reader *r) {
    (void)info;
    rec_ctx *c = hpff_xcalloc(1, sizeof *c);
    c->rec = hpff_xmalloc(STL_BYTES);
    *r = (hpff_conv_reader){0, STL_SIDE, STL_SIDE, 3, c, stl_read, rec_close};
    char nx[32], ny[32];
    snprintf(nx, sizeof nx, "%s_X.bin", split);
    snprintf(ny, sizeof ny, "%s_y.bin", split);
    long long sx = 0, sy = 0;
    hpff_status s = hpff_conv_join(c->paths[0], 4096, dir, nx);
    if (!s.code) s = hpff_conv_join(c->paths[1], 4096, dir, ny);
    if (!s.code) s = hpff_conv_file_size(c->paths[0], &sx);
    if (!s.code) s = hpff_conv_file_size(c->paths[1], &sy);
    if (!s.code && (sy == 0 || sy > (1 << 30) || sx != sy * STL_BYTES))
        s = hpff_status_fail("%s holds %lld labels but %s holds %lld bytes; expected %d bytes "
                             "(3x96x96) per image", c->paths[1], sy, c->paths[0], sx, STL_BYTES);
    if (!s.code) s = hpff_conv_fopen(c->paths[0], &c->f);
    if (!s.code) s = hpff_conv_fopen(c->paths[1], &c->fy);
    r->n = (int)sy;
    if (s.code) rec_close(r);
    return s;
}

const hpff_conv_format hpff_conv_stl10 = {
    "stl10", "train_X.bin train_y.bin test_X.bin test_y.bin (stl10_binary; unlabeled_X.bin is "
    "not used)",
    k_half, k_half, stl_probe, stl_open,
};
