// jpeg_dec.h — JPEG decoding with libjpeg-turbo's libjpeg API: a reusable decompressor per
// thread that decodes a region of an image, optionally scaled by 1/2, 1/4 or 1/8 in the DCT
// domain, into RGB (grayscale expanded, CMYK/YCCK converted as Pillow's convert("RGB") does).
// Partial decoding: columns outside the region are not transformed (jpeg_crop_scanline), rows
// above it are skipped (jpeg_skip_scanlines) and rows below it are never read. The TurboJPEG
// 2.1 API has no region decoding, hence this API of the same library.
#ifndef HPFF_JPEG_DEC_H
#define HPFF_JPEG_DEC_H
#include <stddef.h>
#include <stdint.h>
#include "check.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hpff_jpeg_dec hpff_jpeg_dec;

typedef struct hpff_jpeg_info {
    int w, h;                   // full size
    int comps;                  // 1 gray, 3 YCbCr/RGB, 4 CMYK/YCCK
    int cmyk;                   // 1 for CMYK and YCCK
} hpff_jpeg_info;

// What a decode produced: rows [y0, y0 + h) and columns [x0, x0 + w) of the scaled image
// (x0 <= the requested start: libjpeg aligns it to an iMCU), RGB at px + row * stride.
typedef struct hpff_jpeg_out {
    uint8_t *px;                // (h, stride) owned by the decoder, valid until the next call
    size_t stride;
    int x0, y0, w, h;
    int full_w, full_h;         // size of the whole scaled image
} hpff_jpeg_out;

// Warnings libjpeg raised during the last decode.
enum { HPFF_JPEG_WARN_TRUNCATED = 1, HPFF_JPEG_WARN_CORRUPT = 2 };

hpff_jpeg_dec *hpff_jpeg_dec_new(void);
void hpff_jpeg_dec_free(hpff_jpeg_dec *d);
// Reads the header of buf (len bytes). Errors name `what` (e.g. the file) and libjpeg's reason.
hpff_status hpff_jpeg_header(hpff_jpeg_dec *d, const uint8_t *buf, size_t len, const char *what,
                             hpff_jpeg_info *info);
// Decodes rows [y0, y1) and columns [x0, x1) of the image scaled by 1/denom (1, 2, 4 or 8;
// scaled size ceil(W / denom) x ceil(H / denom)); the region is clipped to the image.
hpff_status hpff_jpeg_decode(hpff_jpeg_dec *d, const uint8_t *buf, size_t len, const char *what,
                             int denom, int x0, int y0, int x1, int y1, hpff_jpeg_out *out);
// HPFF_JPEG_WARN_* bits of the last decode, and libjpeg's text of its truncation warning, or
// else of its last warning.
unsigned hpff_jpeg_warnings(const hpff_jpeg_dec *d, const char **last);

#ifdef __cplusplus
}
#endif
#endif
