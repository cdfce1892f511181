// imagenet_img.h — one source image of `hpff_data imagenet` turned into the bytes to store:
// a JPEG that decodes cleanly is kept byte for byte (checked by a full entropy decode at 1/8
// scale); CMYK/YCCK JPEGs and PNG files (ImageNet has one named .JPEG) are converted to RGB as
// Pillow's convert("RGB") does and re-encoded (TurboJPEG, 4:2:0); with a max resolution, images
// whose shorter side exceeds it are resized (Pillow-equivalent antialiased bilinear) and
// re-encoded; grayscale stays grayscale. Empty, truncated or undecodable files are "bad".
#ifndef HPFF_IMAGENET_IMG_H
#define HPFF_IMAGENET_IMG_H
#include <stddef.h>
#include <stdint.h>

enum {
    HPFF_IMG_CMYK = 1,          // was CMYK/YCCK, re-encoded as RGB
    HPFF_IMG_PNG = 2,           // was PNG, re-encoded as RGB JPEG
    HPFF_IMG_GRAY = 4,          // grayscale (kept)
    HPFF_IMG_RESIZED = 8,       // shorter side reduced to the max resolution
    HPFF_IMG_WARNED = 16,       // libjpeg warned (corrupt data) but decoded it whole: kept
};

typedef struct hpff_img_opts {
    int max_resolution;         // 0: keep sizes
    int quality;                // of re-encoded images
} hpff_img_opts;

typedef struct hpff_img_result {
    uint8_t *bytes;             // malloc'd JPEG to store (NULL when bad)
    size_t len;
    int h, w;
    unsigned flags;             // HPFF_IMG_*
    int bad;                    // 1: unreadable, msg says why
    char msg[600];              // the reason (bad) or libjpeg's warning (HPFF_IMG_WARNED)
} hpff_img_result;

typedef struct hpff_img_worker hpff_img_worker;

// Per thread: a decoder, a TurboJPEG compressor and buffers.
hpff_img_worker *hpff_img_worker_new(const hpff_img_opts *o);
void hpff_img_worker_free(hpff_img_worker *w);
// Reads and checks the file at `path` (`rel` names it in messages).
void hpff_img_process(hpff_img_worker *w, const char *path, const char *rel, hpff_img_result *res);

#endif
