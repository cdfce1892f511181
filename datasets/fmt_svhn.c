// fmt_svhn.c — SVHN cropped digits (train_32x32.mat, test_32x32.mat) through libmatio: X is
// uint8 (32, 32, 3, N) in MATLAB's column-major order, y is (N, 1) with 1..10, 10 meaning 0.
#include <matio.h>
#include <stdlib.h>
#include <string.h>
#include "convert.h"

typedef struct svhn_ctx {
    mat_t *mat;
    matvar_t *x, *y;
    char path[4096];
    size_t at;
} svhn_ctx;

static void svhn_close(hpff_conv_reader *r) {
    svhn_ctx *c = r->ctx;
    if (c->x) Mat_VarFree(c->x);
    if (c->y) Mat_VarFree(c->y);
    if (c->mat) Mat_Close(c->mat);
    free(c);
}

// Element i of a real numeric MATLAB array as a double; 0 with *ok = 0 for other classes.
static double mat_elem(const matvar_t *v, size_t i, int *ok) {
    const void *d = v->data;
    *ok = 1;
    switch (v->class_type) {
    case MAT_C_DOUBLE: return ((const double *)d)[i];
    case MAT_C_SINGLE: return ((const float *)d)[i];
    case MAT_C_INT8: return ((const int8_t *)d)[i];
    case MAT_C_UINT8: return ((const uint8_t *)d)[i];
    case MAT_C_INT16: return ((const int16_t *)d)[i];
    case MAT_C_UINT16: return ((const uint16_t *)d)[i];
    case MAT_C_INT32: return ((const int32_t *)d)[i];
    case MAT_C_UINT32: return ((const uint32_t *)d)[i];
    case MAT_C_INT64: return (double)((const int64_t *)d)[i];
    case MAT_C_UINT64: return (double)((const uint64_t *)d)[i];
    default: *ok = 0; return 0;
    }
}

static hpff_status svhn_read(hpff_conv_reader *r, int count, uint8_t *images, int32_t *labels) {
    svhn_ctx *c = r->ctx;
    const size_t h = (size_t)r->h, w = (size_t)r->w, ch = (size_t)r->c, img = h * w * ch;
    const uint8_t *x = c->x->data;
    for (int i = 0; i < count; i++, c->at++) {
        int ok;
        double v = mat_elem(c->y, c->at, &ok);
        if (!(v >= 1 && v <= 10) || v != (double)(int)v)
            return hpff_status_fail("%s: y(%zu) = %g; expected an integer 1..10 (10 is digit 0)",
                                    c->path, c->at + 1, v);
        labels[i] = (int32_t)v % 10;
        const uint8_t *src = x + c->at * img;       // X(row, col, ch, n): row + h*(col + w*ch)
        uint8_t *dst = images + (size_t)i * img;
        for (size_t k = 0; k < ch; k++)
            for (size_t col = 0; col < w; col++)
                for (size_t row = 0; row < h; row++)
                    dst[(row * w + col) * ch + k] = src[row + h * (col + w * k)];
    }
    return hpff_status_ok();
}

static hpff_status svhn_check(svhn_ctx *c, hpff_conv_reader *r) {
    const matvar_t *x = c->x, *y = c->y;
    if (x->class_type != MAT_C_UINT8 || x->isComplex || x->rank != 4 || !x->data ||
        (x->dims[2] != 3 && x->dims[2] != 1))
        return hpff_status_fail("%s: variable X must be a real uint8 array (H, W, 3, N), as in "
                                "SVHN's *_32x32.mat (class %d, rank %d found)", c->path,
                                (int)x->class_type, x->rank);
    size_t n = x->dims[3], ny = 1;
    for (int i = 0; i < y->rank; i++) ny *= y->dims[i];
    int ok;
    mat_elem(y, 0, &ok);
    if (!ok || y->isComplex || !y->data || ny != n)
        return hpff_status_fail("%s: variable y must be a real numeric (N, 1) array with one label "
                                "per image of X (%zu images, %zu labels)", c->path, n, ny);
    if (n == 0 || n > (1u << 30) || x->dims[0] > 4096 || x->dims[1] > 4096)
        return hpff_status_fail("%s: X holds %zu images of %zux%zu; expected a positive count",
                                c->path, n, x->dims[0], x->dims[1]);
    *r = (hpff_conv_reader){(int)n, (int)x->dims[0], (int)x->dims[1], (int)x->dims[2], c,
                            svhn_read, svhn_close};
    return hpff_status_ok();
}

static hpff_status svhn_open(const char *dir, const char *split, const hpff_conv_info *info,
                             hpff_conv_reader *r) {
    (void)info;
    svhn_ctx *c = hpff_xcalloc(1, sizeof *c);
    *r = (hpff_conv_reader){0, 0, 0, 0, c, svhn_read, svhn_close};
    char name[32];
    snprintf(name, sizeof name, "%s_32x32.mat", split);
    long long size;
    hpff_status s = hpff_conv_join(c->path, sizeof c->path, dir, name);
    if (!s.code) s = hpff_conv_file_size(c->path, &size);
    if (!s.code && !(c->mat = Mat_Open(c->path, MAT_ACC_RDONLY)))
        s = hpff_status_fail("%s: not a readable MATLAB .mat file", c->path);
    if (!s.code && !(c->x = Mat_VarRead(c->mat, "X")))
        s = hpff_status_fail("%s: no readable variable X (truncated, or not SVHN's format?)", c->path);
    if (!s.code && !(c->y = Mat_VarRead(c->mat, "y")))
        s = hpff_status_fail("%s: no readable variable y (truncated, or not SVHN's format?)", c->path);
    if (!s.code) s = svhn_check(c, r);
    if (s.code) svhn_close(r);
    return s;
}

static hpff_status svhn_probe(const char *dir, hpff_conv_info *info) {
    static const char *const names[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    info->classes = 10;
    hpff_conv_names(info, dir, NULL, names);
    return hpff_status_ok();
}

static const float k_half[3] = {0.5f, 0.5f, 0.5f};   // ALGORITHM §6

const hpff_conv_format hpff_conv_svhn = {
    "svhn", "train_32x32.mat test_32x32.mat (cropped digits, format 2; extra_32x32.mat is not used)",
    k_half, k_half, svhn_probe, svhn_open,
};
