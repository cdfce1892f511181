// fmt_folder.c — an image folder: DIR/train/<class>/*.png|jpg|jpeg and DIR/test/<class>/...
// Classes are the sorted names of DIR/train's sub-folders; images are taken class by class,
// files sorted by name. Every image must have one size; the file is grayscale (C = 1) when all
// images are, else RGB (C = 3: gray images are replicated, alpha is dropped).
#include <errno.h>
#include <stdio.h>
#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include "convert.h"

typedef struct item {
    char *path;
    int label;
} item;

typedef struct folder_ctx {
    char **classes;
    int nclasses;
    item *items[2];             // train, test
    int n[2];
    int h, w, c, skipped;
} folder_ctx;

typedef struct img_info {
    int h, w, gray, png;
} img_info;

// ---------------------------------------------------------------- listing ------------------

static hpff_status list_split(folder_ctx *f, const char *dir, int s) {
    char root[4096];
    hpff_status st = hpff_conv_join(root, sizeof root, dir, s ? "test" : "train");
    char **sub = NULL;
    int nsub = 0, cap = 0;
    if (!st.code) st = hpff_conv_list_dir(root, 1, &sub, &nsub, NULL);
    for (int i = 0; i < nsub && !st.code; i++) {
        char **hit = bsearch(&sub[i], f->classes, (size_t)f->nclasses, sizeof(char *), hpff_conv_cmp_str);
        if (!hit) {
            st = hpff_status_fail("%s/%s: class '%s' has no folder under %s/train; the classes "
                                  "are the train sub-folders", root, sub[i], sub[i], dir);
            break;
        }
        char cdir[4096], **files = NULL;
        int nf = 0;
        st = hpff_conv_join(cdir, sizeof cdir, root, sub[i]);
        if (!st.code) st = hpff_conv_list_dir(cdir, 0, &files, &nf, &f->skipped);
        for (int k = 0; k < nf && !st.code; k++) {
            if (!hpff_conv_is_image_name(files[k])) { f->skipped++; continue; }
            if (f->n[s] == cap) {
                cap = cap ? 2 * cap : 256;
                item *grown = realloc(f->items[s], (size_t)cap * sizeof(item));
                HPFF_CHECK(grown != NULL, "out of memory listing %s", cdir);
                f->items[s] = grown;
            }
            char path[4096];
            st = hpff_conv_join(path, sizeof path, cdir, files[k]);
            f->items[s][f->n[s]++] = (item){hpff_conv_strdup(path), (int)(hit - f->classes)};
            hpff_conv_note_input(path);
        }
        hpff_conv_free_list(files, nf);
    }
    hpff_conv_free_list(sub, nsub);
    if (!st.code && f->n[s] == 0)
        st = hpff_status_fail("%s: no .png/.jpg/.jpeg images in its class folders", root);
    return st;
}

// ---------------------------------------------------------------- PNG ----------------------

typedef struct png_err {
    jmp_buf jb;
    char msg[256];
} png_err;

static void png_on_error(png_structp p, png_const_charp msg) {
    png_err *e = png_get_error_ptr(p);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    longjmp(e->jb, 1);
}

static void png_on_warning(png_structp p, png_const_charp msg) { (void)p; (void)msg; }

// Reads the header (dst NULL) or the whole image as c channels into dst (h, w, c).
static hpff_status png_load(FILE *fp, const char *path, img_info *info, uint8_t *dst, int c) {
    png_err err;
    png_bytep *volatile rows = NULL;
    png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, &err, png_on_error, png_on_warning);
    png_infop pi = p ? png_create_info_struct(p) : NULL;
    if (!pi) {
        png_destroy_read_struct(&p, NULL, NULL);
        return hpff_status_fail("%s: libpng could not start", path);
    }
    if (setjmp(err.jb)) {
        free(rows);
        png_destroy_read_struct(&p, &pi, NULL);
        return hpff_status_fail("%s: broken PNG: %s", path, err.msg);
    }
    png_init_io(p, fp);
    png_read_info(p, pi);
    int ct = png_get_color_type(p, pi);
    info->w = (int)png_get_image_width(p, pi);
    info->h = (int)png_get_image_height(p, pi);
    info->gray = !(ct & PNG_COLOR_MASK_COLOR) && ct != PNG_COLOR_TYPE_PALETTE;
    if (dst) {
        png_set_strip_16(p);
        png_set_palette_to_rgb(p);
        png_set_expand_gray_1_2_4_to_8(p);
        png_set_strip_alpha(p);
        if (info->gray && c == 3) png_set_gray_to_rgb(p);
        png_set_interlace_handling(p);
        png_read_update_info(p, pi);
        if (png_get_rowbytes(p, pi) != (size_t)info->w * (size_t)c)
            png_error(p, "unexpected row size after conversion");
        rows = hpff_xmalloc((size_t)info->h * sizeof(png_bytep));
        for (int y = 0; y < info->h; y++) rows[y] = dst + (size_t)y * (size_t)info->w * (size_t)c;
        png_read_image(p, rows);
        png_read_end(p, NULL);
    }
    free(rows);
    png_destroy_read_struct(&p, &pi, NULL);
    return hpff_status_ok();
}

// ---------------------------------------------------------------- JPEG ---------------------

typedef struct jpg_err {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} jpg_err;

static void jpg_on_error(j_common_ptr ci) {
    jpg_err *e = (jpg_err *)ci->err;
    e->pub.format_message(ci, e->msg);
    longjmp(e->jb, 1);
}

static void jpg_on_message(j_common_ptr ci, int level) { (void)ci; (void)level; }

static hpff_status jpg_load(FILE *fp, const char *path, img_info *info, uint8_t *dst, int c) {
    struct jpeg_decompress_struct ci;
    jpg_err err;
    ci.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jpg_on_error;
    err.pub.emit_message = jpg_on_message;
    if (setjmp(err.jb)) {
        jpeg_destroy_decompress(&ci);
        return hpff_status_fail("%s: broken JPEG: %s", path, err.msg);
    }
    jpeg_create_decompress(&ci);
    jpeg_stdio_src(&ci, fp);
    jpeg_read_header(&ci, TRUE);
    info->w = (int)ci.image_width;
    info->h = (int)ci.image_height;
    info->gray = ci.num_components == 1;
    if (ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(&ci);
        return hpff_status_fail("%s: CMYK JPEG images are not supported; convert to RGB", path);
    }
    if (dst) {
        ci.out_color_space = c == 3 ? JCS_RGB : JCS_GRAYSCALE;
        jpeg_start_decompress(&ci);
        if (ci.output_components != c || (int)ci.output_width != info->w)
            ERREXIT(&ci, JERR_BAD_IN_COLORSPACE);
        while (ci.output_scanline < ci.output_height) {
            JSAMPROW row = dst + (size_t)ci.output_scanline * (size_t)info->w * (size_t)c;
            jpeg_read_scanlines(&ci, &row, 1);
        }
        jpeg_finish_decompress(&ci);
    }
    jpeg_destroy_decompress(&ci);
    return hpff_status_ok();
}

// Header (dst NULL) or pixels of one PNG or JPEG file, recognised by its first bytes.
static hpff_status image_load(const char *path, img_info *info, uint8_t *dst, int c) {
    FILE *fp;
    hpff_status s = hpff_conv_fopen(path, &fp);
    if (s.code) return s;
    unsigned char magic[8] = {0};
    size_t got = fread(magic, 1, sizeof magic, fp);
    rewind(fp);
    info->png = got == 8 && !png_sig_cmp(magic, 0, 8);
    if (info->png) s = png_load(fp, path, info, dst, c);
    else if (got >= 3 && magic[0] == 0xFF && magic[1] == 0xD8 && magic[2] == 0xFF)
        s = jpg_load(fp, path, info, dst, c);
    else s = hpff_status_fail("%s: neither a PNG nor a JPEG file", path);
    fclose(fp);
    return s;
}

// ---------------------------------------------------------------- format -------------------

static void folder_free(void *ctx) {
    folder_ctx *f = ctx;
    if (!f) return;
    hpff_conv_free_list(f->classes, f->nclasses);
    for (int s = 0; s < 2; s++) {
        for (int i = 0; i < f->n[s]; i++) free(f->items[s][i].path);
        free(f->items[s]);
    }
    free(f);
}

// Every image's header: one size for all, C = 1 only if every image is grayscale.
static hpff_status check_headers(folder_ctx *f) {
    const char *first = NULL;
    int gray = 1;
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < f->n[s]; i++) {
            img_info in;
            const char *path = f->items[s][i].path;
            hpff_status st = image_load(path, &in, NULL, 0);
            if (st.code) return st;
            if (!first) { first = path; f->h = in.h; f->w = in.w; }
            if (in.h != f->h || in.w != f->w)
                return hpff_status_fail("folder: all images must have one size, but %s is %dx%d "
                                        "(W x H) and %s is %dx%d; resize them first", path, in.w,
                                        in.h, first, f->w, f->h);
            gray &= in.gray;
        }
    f->c = gray ? 1 : 3;
    return hpff_status_ok();
}

static hpff_status folder_probe(const char *dir, hpff_conv_info *info) {
    folder_ctx *f = hpff_xcalloc(1, sizeof *f);
    info->ctx = f;
    info->ctx_free = folder_free;
    char train[4096];
    hpff_status s = hpff_conv_join(train, sizeof train, dir, "train");
    if (!s.code) s = hpff_conv_list_dir(train, 1, &f->classes, &f->nclasses, NULL);
    if (s.code)
        s = hpff_status_fail("%s (folder expects %s/train/<class>/*.png|jpg and "
                             "%s/test/<class>/...)", s.msg, dir, dir);
    if (!s.code && f->nclasses == 0)
        s = hpff_status_fail("%s: no class sub-folders (expected %s/train/<class>/*.png|jpg and "
                             "%s/test/<class>/...)", train, dir, dir);
    if (!s.code && f->nclasses > HPFF_CONV_MAX_CLASSES)
        s = hpff_status_fail("%s: %d classes; at most %d", train, f->nclasses, HPFF_CONV_MAX_CLASSES);
    for (int i = 0; i < 2 && !s.code; i++) s = list_split(f, dir, i);
    if (!s.code) s = check_headers(f);
    if (s.code) return s;
    info->classes = f->nclasses;
    info->class_names = hpff_xcalloc((size_t)f->nclasses, sizeof(char *));
    for (int i = 0; i < f->nclasses; i++) info->class_names[i] = hpff_conv_strdup(f->classes[i]);
    if (f->skipped)
        fprintf(stderr, "note: skipped %d entries that are not .png/.jpg/.jpeg files\n", f->skipped);
    return hpff_status_ok();
}

typedef struct folder_reader {
    const folder_ctx *f;
    int split, at;
} folder_reader;

static hpff_status folder_read(hpff_conv_reader *r, int count, uint8_t *images, int32_t *labels) {
    folder_reader *fr = r->ctx;
    const folder_ctx *f = fr->f;
    size_t bytes = (size_t)f->h * (size_t)f->w * (size_t)f->c;
    for (int i = 0; i < count; i++, fr->at++) {
        const item *it = &f->items[fr->split][fr->at];
        img_info in;
        hpff_status s = image_load(it->path, &in, images + (size_t)i * bytes, f->c);
        if (s.code) return s;
        if (in.h != f->h || in.w != f->w)
            return hpff_status_fail("%s changed size while converting", it->path);
        labels[i] = it->label;
    }
    return hpff_status_ok();
}

static void folder_close(hpff_conv_reader *r) { free(r->ctx); }

static hpff_status folder_open(const char *dir, const char *split, const hpff_conv_info *info,
                               hpff_conv_reader *r) {
    (void)dir;
    const folder_ctx *f = info->ctx;
    folder_reader *fr = hpff_xcalloc(1, sizeof *fr);
    fr->f = f;
    fr->split = strcmp(split, "test") == 0;
    *r = (hpff_conv_reader){f->n[fr->split], f->h, f->w, f->c, fr, folder_read, folder_close};
    return hpff_status_ok();
}

const hpff_conv_format hpff_conv_folder = {
    "folder", "train/<class>/*.png|jpg|jpeg and test/<class>/... (one image size for all)",
    NULL, NULL, folder_probe, folder_open,
};
