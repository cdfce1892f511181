// imagenet_img.c — reading, checking and (when needed) re-encoding one source image (see
// imagenet_img.h).
#include "imagenet_img.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>
#include "check.h"
#include "jpeg_dec.h"
#include "resample.h"

static const size_t k_max_file = (size_t)1 << 28;

struct hpff_img_worker {
    hpff_img_opts o;
    hpff_jpeg_dec *dec;
    tjhandle tj;
    uint8_t *file;              // the source file
    size_t file_cap;
    uint8_t *px;                // (h, w, 3) decoded PNG pixels
    size_t px_cap;
    uint8_t *small;             // (rh, rw, 3) resized pixels, then one gray plane
    size_t small_cap;
    uint8_t *scratch;
    size_t scratch_cap;
};

static int bad(hpff_img_result *r, const char *fmt, const char *rel, const char *why) {
    r->bad = 1;
    snprintf(r->msg, sizeof r->msg, fmt, rel, why);
    return -1;
}

static void grow(uint8_t **p, size_t *cap, size_t need) {
    if (need <= *cap) return;
    free(*p);
    *p = hpff_xmalloc(need);
    *cap = need;
}

hpff_img_worker *hpff_img_worker_new(const hpff_img_opts *o) {
    hpff_img_worker *w = hpff_xcalloc(1, sizeof *w);
    w->o = *o;
    w->dec = hpff_jpeg_dec_new();
    w->tj = tjInitCompress();
    HPFF_CHECK(w->tj != NULL, "TurboJPEG: cannot start a compressor: %s", tjGetErrorStr2(NULL));
    return w;
}

void hpff_img_worker_free(hpff_img_worker *w) {
    if (!w) return;
    hpff_jpeg_dec_free(w->dec);
    tjDestroy(w->tj);
    free(w->file);
    free(w->px);
    free(w->small);
    free(w->scratch);
    free(w);
}

static int read_file(hpff_img_worker *w, const char *path, const char *rel, size_t *len,
                     hpff_img_result *r) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0) close(fd);
        return bad(r, "%s: cannot open: %s", rel, strerror(errno));
    }
    *len = (size_t)st.st_size;
    if (*len == 0 || *len > k_max_file) {
        close(fd);
        return bad(r, "%s: %s", rel, *len ? "larger than 256 MiB" : "empty file");
    }
    grow(&w->file, &w->file_cap, *len);
    size_t got = 0;
    while (got < *len) {
        ssize_t k = read(fd, w->file + got, *len - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(fd);
    return got == *len ? 0 : bad(r, "%s: %s", rel, "read failed (file changed or unreadable)");
}

// ---------------------------------------------------------------- PNG ----------------------

typedef struct png_mem {
    const uint8_t *p;
    size_t len, at;
    jmp_buf jb;
    char msg[256];
} png_mem;

static void png_read_mem(png_structp p, png_bytep out, png_size_t n) {
    png_mem *m = png_get_io_ptr(p);
    if (n > m->len - m->at) png_error(p, "truncated file");
    memcpy(out, m->p + m->at, n);
    m->at += n;
}

static void png_on_error(png_structp p, png_const_charp msg) {
    png_mem *m = png_get_error_ptr(p);
    snprintf(m->msg, sizeof m->msg, "%s", msg);
    longjmp(m->jb, 1);
}

static void png_on_warning(png_structp p, png_const_charp msg) { (void)p; (void)msg; }

// The PNG in w->file as RGB in w->px (alpha dropped, gray and palettes expanded).
static int png_decode(hpff_img_worker *w, size_t len, const char *rel, int *h, int *wd,
                      hpff_img_result *r) {
    png_mem m;
    memset(&m, 0, sizeof m);
    m.p = w->file;
    m.len = len;
    png_bytep *volatile rows = NULL;
    png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, &m, png_on_error, png_on_warning);
    png_infop pi = p ? png_create_info_struct(p) : NULL;
    if (!pi) { png_destroy_read_struct(&p, NULL, NULL); return bad(r, "%s: %s", rel, "libpng could not start"); }
    if (setjmp(m.jb)) {
        free(rows);
        png_destroy_read_struct(&p, &pi, NULL);
        return bad(r, "%s: broken PNG: %s", rel, m.msg);
    }
    png_set_read_fn(p, &m, png_read_mem);
    png_read_info(p, pi);
    png_set_strip_16(p);
    png_set_palette_to_rgb(p);
    png_set_expand_gray_1_2_4_to_8(p);
    png_set_tRNS_to_alpha(p);
    png_set_strip_alpha(p);
    png_set_gray_to_rgb(p);
    png_set_interlace_handling(p);
    png_read_update_info(p, pi);
    *wd = (int)png_get_image_width(p, pi);
    *h = (int)png_get_image_height(p, pi);
    if (png_get_rowbytes(p, pi) != (size_t)*wd * 3 || (size_t)*wd * (size_t)*h > ((size_t)1 << 28))
        png_error(p, "unexpected size after conversion to RGB");
    grow(&w->px, &w->px_cap, (size_t)*h * (size_t)*wd * 3);
    rows = hpff_xmalloc((size_t)*h * sizeof(png_bytep));
    for (int y = 0; y < *h; y++) rows[y] = w->px + (size_t)y * (size_t)*wd * 3;
    png_read_image(p, rows);
    png_read_end(p, NULL);
    free(rows);
    png_destroy_read_struct(&p, &pi, NULL);
    return 0;
}

// ---------------------------------------------------------------- re-encoding --------------

static int encode(hpff_img_worker *w, const uint8_t *px, size_t stride, int H, int W, int gray,
                  const char *rel, hpff_img_result *r) {
    const uint8_t *src = px;
    int pitch = (int)stride;
    if (gray) {   // one plane from the (identical) RGB channels
        grow(&w->scratch, &w->scratch_cap, (size_t)H * (size_t)W);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) w->scratch[(size_t)y * W + x] = px[(size_t)y * stride + (size_t)x * 3];
        src = w->scratch;
        pitch = W;
    }
    unsigned char *jb = NULL;
    unsigned long js = 0;
    if (tjCompress2(w->tj, src, W, pitch, H, gray ? TJPF_GRAY : TJPF_RGB, &jb, &js,
                    gray ? TJSAMP_GRAY : TJSAMP_420, w->o.quality, TJFLAG_ACCURATEDCT) != 0) {
        tjFree(jb);
        return bad(r, "%s: re-encoding failed: %s", rel, tjGetErrorStr2(w->tj));
    }
    r->bytes = hpff_xmalloc(js);
    memcpy(r->bytes, jb, js);
    tjFree(jb);
    r->len = js;
    r->h = H;
    r->w = W;
    return 0;
}

// torchvision's Resize(S) size: the shorter side becomes S, the longer int(S * long / short).
static void target_size(int H, int W, int S, int *rh, int *rw) {
    if (W <= H) { *rw = S; *rh = (int)((double)S * H / W); }
    else { *rh = S; *rw = (int)((double)S * W / H); }
}

static int pick_denom(int H, int W, int rh, int rw) {
    for (int d = 8; d > 1; d /= 2)
        if (W >= d * rw && H >= d * rh) return d;
    return 1;
}

// Pixels (sh, sw, 3) of an H x W image decoded at 1/denom: resized when its shorter side
// exceeds the max resolution, then encoded.
static int store_pixels(hpff_img_worker *w, const uint8_t *px, size_t stride, int sh, int sw,
                        int denom, int H, int W, int gray, const char *rel, hpff_img_result *r) {
    int S = w->o.max_resolution;
    if (S > 0 && (H < W ? H : W) > S) {
        int rh, rw;
        target_size(H, W, S, &rh, &rw);
        hpff_rs_axis ax = {0.0f, (float)((double)W / denom), rw, 0, rw, 0, sw, 0};
        hpff_rs_axis ay = {0.0f, (float)((double)H / denom), rh, 0, rh, 0, sh, 0};
        size_t need = hpff_resample_scratch(&ax, &ay, 3);
        grow(&w->scratch, &w->scratch_cap, need);
        grow(&w->small, &w->small_cap, (size_t)rh * (size_t)rw * 3);
        hpff_resample(px, stride, 3, &ax, &ay, w->small, w->scratch);
        px = w->small;
        stride = (size_t)rw * 3;
        sh = rh;
        sw = rw;
        r->flags |= HPFF_IMG_RESIZED;
    }
    return encode(w, px, stride, sh, sw, gray, rel, r);
}

static void process_jpeg(hpff_img_worker *w, size_t len, const char *rel, hpff_img_result *r) {
    hpff_jpeg_info info;
    hpff_status s = hpff_jpeg_header(w->dec, w->file, len, rel, &info);
    if (s.code) { bad(r, "%s%s", s.msg, ""); return; }
    int S = w->o.max_resolution, resize = S > 0 && (info.h < info.w ? info.h : info.w) > S;
    int denom = info.cmyk ? 1 : 8;   // a clean 1/8 decode still entropy-decodes everything
    if (resize) {
        int rh, rw;
        target_size(info.h, info.w, S, &rh, &rw);
        denom = pick_denom(info.h, info.w, rh, rw);
    }
    hpff_jpeg_out o;
    s = hpff_jpeg_decode(w->dec, w->file, len, rel, denom, 0, 0, INT_MAX, INT_MAX, &o);
    if (s.code) { bad(r, "%s%s", s.msg, ""); return; }
    const char *last;
    unsigned warn = hpff_jpeg_warnings(w->dec, &last);
    if (warn & HPFF_JPEG_WARN_TRUNCATED) { bad(r, "%s: truncated JPEG (libjpeg: %s)", rel, last); return; }
    if (warn & HPFF_JPEG_WARN_CORRUPT) {
        r->flags |= HPFF_IMG_WARNED;
        snprintf(r->msg, sizeof r->msg, "%s", last);
    }
    if (info.comps == 1) r->flags |= HPFF_IMG_GRAY;
    if (!info.cmyk && !resize) {   // kept byte for byte: the file buffer becomes the result
        r->bytes = w->file;
        r->len = len;
        r->h = info.h;
        r->w = info.w;
        w->file = NULL;
        w->file_cap = 0;
        return;
    }
    if (info.cmyk) r->flags |= HPFF_IMG_CMYK;
    store_pixels(w, o.px, o.stride, o.full_h, o.full_w, denom, info.h, info.w, info.comps == 1, rel, r);
}

void hpff_img_process(hpff_img_worker *w, const char *path, const char *rel, hpff_img_result *r) {
    memset(r, 0, sizeof *r);
    size_t len;
    if (read_file(w, path, rel, &len, r)) return;
    const uint8_t *b = w->file;
    if (len >= 8 && !png_sig_cmp(b, 0, 8)) {
        int h, wd;
        if (png_decode(w, len, rel, &h, &wd, r)) return;
        r->flags |= HPFF_IMG_PNG;
        store_pixels(w, w->px, (size_t)wd * 3, h, wd, 1, h, wd, 0, rel, r);
        return;
    }
    if (len < 3 || b[0] != 0xFF || b[1] != 0xD8 || b[2] != 0xFF) {
        bad(r, "%s: %s", rel, "neither a JPEG nor a PNG file");
        return;
    }
    process_jpeg(w, len, rel, r);
}
