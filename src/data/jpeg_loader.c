// jpeg_loader.c — decode, resample, flip and normalise one sample of an encoded-JPEG dataset
// (see jpeg_loader.h).
#include "jpeg_loader.h"
#include <stdlib.h>
#include <string.h>
#include "augment.h"
#include "jpeg_dec.h"
#include "jpeg_tf.h"
#include "resample.h"

enum { MAX_OUT = 4096 };

typedef struct jpeg_src {
    const hpff_jpegds *ds;
    hpff_jtf tf;
    uint64_t seed;
    float lut[3 * 256];         // (3, 256) normalised value of every byte
} jpeg_src;

typedef struct jpeg_thread {
    hpff_jpeg_dec *dec;
    uint8_t *bytes;             // the encoded image
    size_t cap;
    uint8_t *img;               // (out, out, 3) resampled
    uint8_t *scratch;
    size_t scratch_cap;
} jpeg_thread;

hpff_status hpff_jpeg_loader_check(const hpff_jpegds *ds, const hpff_jpeg_loader_opts *o) {
    if (!ds || ds->n < 1) return hpff_status_fail("loader: the JPEG dataset is empty or not open");
    if (o->batch < 1) return hpff_status_fail("loader: batch = %d; expected >= 1", o->batch);
    if (o->threads < 1 || o->threads > 256)
        return hpff_status_fail("loader: threads = %d; expected 1 to 256", o->threads);
    if (o->out < 1 || o->out > MAX_OUT)
        return hpff_status_fail("data.image_size = %d; expected 1 to %d", o->out, MAX_OUT);
    if (!o->train && (o->resize < o->out || o->resize > 4 * MAX_OUT))
        return hpff_status_fail("data.eval_resize = %d with data.image_size = %d; expected a "
                                "shorter side >= the centre crop", o->resize, o->out);
    return hpff_status_ok();
}

static void *jpeg_thread_new(void *ctx) {
    const jpeg_src *s = ctx;
    jpeg_thread *t = hpff_xcalloc(1, sizeof *t);
    t->dec = hpff_jpeg_dec_new();
    t->img = hpff_xmalloc((size_t)s->tf.out * (size_t)s->tf.out * 3);
    return t;
}

static void jpeg_thread_free(void *p) {
    jpeg_thread *t = p;
    hpff_jpeg_dec_free(t->dec);
    free(t->bytes);
    free(t->img);
    free(t->scratch);
    free(t);
}

// (out, out, 3) uint8 -> x (3, out, out) through the lut, mirrored when flip.
static void normalise(const uint8_t *img, int out, int flip, const float *lut, float *x) {
    size_t plane = (size_t)out * (size_t)out;
    for (int r = 0; r < out; r++) {
        const uint8_t *row = img + (size_t)r * (size_t)out * 3;
        for (int ch = 0; ch < 3; ch++) {
            float *o = x + ch * plane + (size_t)r * (size_t)out;
            const float *l = lut + ch * 256;
            if (flip)
                for (int c = 0; c < out; c++) o[c] = l[row[(out - 1 - c) * 3 + ch]];
            else
                for (int c = 0; c < out; c++) o[c] = l[row[c * 3 + ch]];
        }
    }
}

static void fail_at(const jpeg_src *s, int idx, const char *why) {
    char where[4400];
    hpff_jpegds_where(s->ds, idx, where, sizeof where);
    HPFF_CHECK(0, "%s: %s", where, why);
}

static void jpeg_render(void *ctx, void *tstate, int idx, int epoch, float *x, int32_t *y) {
    const jpeg_src *s = ctx;
    jpeg_thread *t = tstate;
    size_t len;
    hpff_status st = hpff_jpegds_read(s->ds, idx, &t->bytes, &t->cap, &len);
    if (st.code) fail_at(s, idx, st.msg);
    int H = s->ds->heights[idx], W = s->ds->widths[idx];
    hpff_jplan p;
    hpff_jtf_plan(&s->tf, s->seed, epoch, idx, H, W, &p);
    hpff_jpeg_out o;
    st = hpff_jpeg_decode(t->dec, t->bytes, len, "image", p.denom, p.x0, p.y0, p.x1, p.y1, &o);
    if (st.code) fail_at(s, idx, st.msg);
    if (o.full_w != (W + p.denom - 1) / p.denom || o.full_h != (H + p.denom - 1) / p.denom)
        fail_at(s, idx, "the JPEG's size differs from the stored heights/widths");
    p.ax.shift += o.x0;
    p.ay.shift += o.y0;
    size_t need = hpff_resample_scratch(&p.ax, &p.ay, 3);
    if (need > t->scratch_cap) {
        free(t->scratch);
        t->scratch = hpff_xmalloc(need);
        t->scratch_cap = need;
    }
    hpff_resample(o.px, o.stride, 3, &p.ax, &p.ay, t->img, t->scratch);
    normalise(t->img, s->tf.out, p.flip, s->lut, x);
    *y = s->ds->labels[idx];
}

hpff_loader *hpff_jpeg_loader_create(const hpff_jpegds *ds, const hpff_jpeg_loader_opts *o) {
    hpff_status st = hpff_jpeg_loader_check(ds, o);
    HPFF_CHECK(!st.code, "%s", st.msg);
    jpeg_src *s = hpff_xcalloc(1, sizeof *s);
    s->ds = ds;
    s->tf = o->train ? hpff_jtf_train(o->out) : hpff_jtf_eval(o->out, o->resize);
    s->tf.dct_scaling = o->dct_scaling;
    s->seed = o->seed;
    hpff_aug_lut(s->lut, 3, ds->mean, ds->std);
    hpff_sample_src src = {ds->n, 3, o->out, o->out, o->train ? "imagenet" : "none", s,
                           jpeg_thread_new, jpeg_thread_free, jpeg_render, free};
    hpff_ring_opts r = {o->batch, o->threads, o->seed, o->shuffle, o->share};
    return hpff_loader_from_source(&src, &r);
}
