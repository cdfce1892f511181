// jpeg_dec.c — region and DCT-scaled JPEG decoding through libjpeg-turbo (see jpeg_dec.h).
#include "jpeg_dec.h"
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>

typedef struct err_mgr {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
    unsigned warn;              // HPFF_JPEG_WARN_* of the current decode
    char last[JMSG_LENGTH_MAX]; // text of the last warning
} err_mgr;

struct hpff_jpeg_dec {
    struct jpeg_decompress_struct ci;
    err_mgr err;
    uint8_t *px;                // (rows, stride) RGB output
    size_t cap;
    uint8_t *row;               // (w, 4) one CMYK row before conversion
    size_t row_cap;
};

static void on_error(j_common_ptr ci) {
    err_mgr *e = (err_mgr *)ci->err;
    e->pub.format_message(ci, e->msg);
    longjmp(e->jb, 1);
}

static void on_message(j_common_ptr ci, int level) {
    err_mgr *e = (err_mgr *)ci->err;
    if (level >= 0) return;     // trace messages
    unsigned kind = e->pub.msg_code == JWRN_JPEG_EOF ? HPFF_JPEG_WARN_TRUNCATED : HPFF_JPEG_WARN_CORRUPT;
    if (kind == HPFF_JPEG_WARN_TRUNCATED || !(e->warn & HPFF_JPEG_WARN_TRUNCATED))
        e->pub.format_message(ci, e->last);   // the truncation, else the latest warning
    e->warn |= kind;
    e->pub.num_warnings++;
}

hpff_jpeg_dec *hpff_jpeg_dec_new(void) {
    hpff_jpeg_dec *d = hpff_xcalloc(1, sizeof *d);
    d->ci.err = jpeg_std_error(&d->err.pub);
    d->err.pub.error_exit = on_error;
    d->err.pub.emit_message = on_message;
    jpeg_create_decompress(&d->ci);
    return d;
}

void hpff_jpeg_dec_free(hpff_jpeg_dec *d) {
    if (!d) return;
    jpeg_destroy_decompress(&d->ci);
    free(d->px);
    free(d->row);
    free(d);
}

unsigned hpff_jpeg_warnings(const hpff_jpeg_dec *d, const char **last) {
    if (last) *last = d->err.last;
    return d->err.warn;
}

static int is_cmyk(const struct jpeg_decompress_struct *ci) {
    return ci->jpeg_color_space == JCS_CMYK || ci->jpeg_color_space == JCS_YCCK;
}

hpff_status hpff_jpeg_header(hpff_jpeg_dec *d, const uint8_t *buf, size_t len, const char *what,
                             hpff_jpeg_info *info) {
    d->err.warn = 0;
    d->err.last[0] = 0;
    if (setjmp(d->err.jb)) {
        jpeg_abort_decompress(&d->ci);
        return hpff_status_fail("%s: not a readable JPEG: %s", what, d->err.msg);
    }
    jpeg_mem_src(&d->ci, buf, (unsigned long)len);
    jpeg_read_header(&d->ci, TRUE);
    *info = (hpff_jpeg_info){(int)d->ci.image_width, (int)d->ci.image_height,
                             d->ci.num_components, is_cmyk(&d->ci)};
    jpeg_abort_decompress(&d->ci);
    return hpff_status_ok();
}

// Pillow's CMYK -> RGB (Convert.c cmyk2rgb), after undoing Adobe's inverted storage.
static void cmyk_to_rgb(const uint8_t *in, uint8_t *out, int n, int inverted) {
    for (int i = 0; i < n; i++) {
        int v[4];
        for (int k = 0; k < 4; k++) v[k] = inverted ? 255 - in[4 * i + k] : in[4 * i + k];
        int nk = 255 - v[3];
        for (int k = 0; k < 3; k++) {
            int t = v[k] * nk + 128;
            out[3 * i + k] = (uint8_t)(nk - (((t >> 8) + t) >> 8));
        }
    }
}

static int grow(uint8_t **p, size_t *cap, size_t need) {
    if (need <= *cap) return 1;
    uint8_t *q = realloc(*p, need);
    if (!q) return 0;
    *p = q;
    *cap = need;
    return 1;
}

// Reads rows [y0, y1) after jpeg_start_decompress and the crop; called under the setjmp.
static void read_rows(hpff_jpeg_dec *d, int y0, int y1, hpff_jpeg_out *o) {
    struct jpeg_decompress_struct *ci = &d->ci;
    int cmyk = ci->out_color_space == JCS_CMYK;
    if (y0 > 0) jpeg_skip_scanlines(ci, (JDIMENSION)y0);
    for (int r = y0; r < y1; r++) {
        uint8_t *dst = o->px + (size_t)(r - y0) * o->stride;
        JSAMPROW row = cmyk ? d->row : dst;
        jpeg_read_scanlines(ci, &row, 1);
        if (cmyk) cmyk_to_rgb(d->row, dst, o->w, ci->saw_Adobe_marker);
    }
    if (ci->output_scanline < ci->output_height) jpeg_abort_decompress(ci);
    else jpeg_finish_decompress(ci);
}

// The decode proper; libjpeg errors longjmp back to hpff_jpeg_decode. Returns 0, or -1 when the
// region is empty or the image too large, -2 when out of memory.
static int decode(hpff_jpeg_dec *d, const uint8_t *buf, size_t len, int denom, int x0, int y0,
                  int x1, int y1, hpff_jpeg_out *out) {
    struct jpeg_decompress_struct *ci = &d->ci;
    jpeg_mem_src(ci, buf, (unsigned long)len);
    jpeg_read_header(ci, TRUE);
    ci->out_color_space = is_cmyk(ci) ? JCS_CMYK : JCS_RGB;
    ci->scale_num = 1;
    ci->scale_denom = (unsigned)denom;
    jpeg_start_decompress(ci);
    int fw = (int)ci->output_width, fh = (int)ci->output_height;
    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > fw ? fw : x1;
    y1 = y1 > fh ? fh : y1;
    *out = (hpff_jpeg_out){NULL, 0, x0, y0, x1 - x0, y1 - y0, fw, fh};
    if (x1 <= x0 || y1 <= y0 || (size_t)fw * (size_t)fh > ((size_t)1 << 28)) {
        jpeg_abort_decompress(ci);
        return -1;
    }
    // One column more on each side: with horizontally subsampled chroma, the first and last
    // columns of a crop are upsampled without their outer neighbour and differ from a full
    // decode; the margin keeps them outside the requested region.
    int m0 = x0 > 0 ? x0 - 1 : 0, m1 = x1 < fw ? x1 + 1 : fw;
    JDIMENSION xoff = (JDIMENSION)m0, cw = (JDIMENSION)(m1 - m0);
    if ((int)cw < fw) jpeg_crop_scanline(ci, &xoff, &cw);
    out->x0 = (int)xoff;
    out->w = (int)cw;
    out->stride = (size_t)cw * 3;
    if (!grow(&d->px, &d->cap, out->stride * (size_t)out->h) || !grow(&d->row, &d->row_cap, (size_t)cw * 4)) {
        jpeg_abort_decompress(ci);
        return -2;
    }
    out->px = d->px;
    read_rows(d, y0, y1, out);
    return 0;
}

hpff_status hpff_jpeg_decode(hpff_jpeg_dec *d, const uint8_t *buf, size_t len, const char *what,
                             int denom, int x0, int y0, int x1, int y1, hpff_jpeg_out *out) {
    d->err.warn = 0;
    d->err.last[0] = 0;
    if (setjmp(d->err.jb)) {
        jpeg_abort_decompress(&d->ci);
        return hpff_status_fail("%s: not a readable JPEG: %s", what, d->err.msg);
    }
    int rc = decode(d, buf, len, denom, x0, y0, x1, y1, out);
    if (rc == -1)
        return hpff_status_fail("%s: cannot decode region [%d, %d) x [%d, %d) of a %dx%d image",
                                what, x0, x1, y0, y1, out->full_w, out->full_h);
    if (rc == -2) return hpff_status_fail("%s: out of memory decoding %dx%d pixels", what, out->w, out->h);
    return hpff_status_ok();
}
