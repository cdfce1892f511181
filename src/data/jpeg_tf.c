// jpeg_tf.c — ImageNet transform geometry (see jpeg_tf.h).
#include "jpeg_tf.h"
#include <math.h>
#include "augment.h"

// Random stream of the ImageNet draws (augment.c uses 1 for the order and 2 for its crops).
enum { STREAM_JTF = 3, DRAWS_PER_SAMPLE = 32, ATTEMPTS = 10 };

hpff_jtf hpff_jtf_train(int out) {
    return (hpff_jtf){1, out, out, 0.08f, 1.0f, 3.0f / 4.0f, 4.0f / 3.0f, 1};
}

hpff_jtf hpff_jtf_eval(int out, int resize) {
    return (hpff_jtf){0, out, resize, 0.08f, 1.0f, 3.0f / 4.0f, 4.0f / 3.0f, 1};
}

static uint64_t draw_bits(uint64_t seed, int epoch, int idx, int k) {
    return hpff_rng_at(seed, STREAM_JTF, (uint64_t)epoch, (uint64_t)idx * DRAWS_PER_SAMPLE + (uint64_t)k);
}

static double draw_unit(uint64_t seed, int epoch, int idx, int k) {
    return (double)(draw_bits(seed, epoch, idx, k) >> 11) * (1.0 / 9007199254740992.0);
}

// torchvision's fallback: the whole image, or its centre with the ratio clamped to the range.
static hpff_jcrop centre_fallback(const hpff_jtf *t, int H, int W) {
    double in_ratio = (double)W / (double)H;
    int w = W, h = H;
    if (in_ratio < t->ratio_lo) h = (int)rint(w / (double)t->ratio_lo);
    else if (in_ratio > t->ratio_hi) w = (int)rint(h * (double)t->ratio_hi);
    return (hpff_jcrop){(W - w) / 2, (H - h) / 2, w, h, 0};
}

hpff_jcrop hpff_jtf_draw(const hpff_jtf *t, uint64_t seed, int epoch, int idx, int H, int W) {
    hpff_jcrop c = {0, 0, W, H, 0};
    if (!t->train) return c;
    double area = (double)H * (double)W;
    double lr0 = log((double)t->ratio_lo), lr1 = log((double)t->ratio_hi);
    int found = 0;
    for (int a = 0; a < ATTEMPTS && !found; a++) {
        double s = t->scale_lo + (t->scale_hi - t->scale_lo) * draw_unit(seed, epoch, idx, 2 * a);
        double r = exp(lr0 + (lr1 - lr0) * draw_unit(seed, epoch, idx, 2 * a + 1));
        double target = area * s;
        int w = (int)rint(sqrt(target * r)), h = (int)rint(sqrt(target / r));
        if (w > 0 && w <= W && h > 0 && h <= H) {
            c = (hpff_jcrop){0, 0, w, h, 0};
            c.y = (int)hpff_rng_below(draw_bits(seed, epoch, idx, 2 * ATTEMPTS), (uint32_t)(H - h + 1));
            c.x = (int)hpff_rng_below(draw_bits(seed, epoch, idx, 2 * ATTEMPTS + 1), (uint32_t)(W - w + 1));
            found = 1;
        }
    }
    if (!found) c = centre_fallback(t, H, W);
    c.flip = (int)(draw_bits(seed, epoch, idx, 2 * ATTEMPTS + 2) >> 63);
    return c;
}

static int ceil_div(int a, int b) { return (a + b - 1) / b; }

// Largest of 8, 4, 2 with region >= denom * output in both directions, else 1.
static int pick_denom(const hpff_jtf *t, int rw, int rh, int ow, int oh) {
    if (!t->dct_scaling) return 1;
    for (int d = 8; d > 1; d /= 2)
        if (rw >= d * ow && rh >= d * oh) return d;
    return 1;
}

// One axis of a crop [at, at + len) of an image side `side`, at 1/denom, resized to `out`.
static hpff_rs_axis crop_axis(int at, int len, int side, int denom, int out) {
    int origin = at / denom, end = ceil_div(at + len, denom), full = ceil_div(side, denom);
    hpff_rs_axis a;
    a.in0 = (float)((double)at / denom - origin);
    a.in1 = (float)((double)(at + len) / denom - origin);
    a.out_total = a.out_count = out;
    a.out_first = 0;
    a.clip_lo = 0;
    a.clip_hi = (end < full ? end : full) - origin;
    a.shift = -origin;
    return a;
}

// One axis of the whole image side `side` at 1/denom resized to `total`, window [first, +out).
static hpff_rs_axis resize_axis(int side, int denom, int total, int first, int out) {
    hpff_rs_axis a;
    a.in0 = 0.0f;
    a.in1 = (float)((double)side / denom);
    a.out_total = total;
    a.out_first = first;
    a.out_count = out;
    a.clip_lo = 0;
    a.clip_hi = ceil_div(side, denom);
    a.shift = 0;
    return a;
}

static void eval_plan(const hpff_jtf *t, int H, int W, hpff_jplan *p) {
    int S = t->resize, rh, rw;   // torchvision Resize(S): int(S * long / short) for the long side
    if (W <= H) { rw = S; rh = (int)((double)S * H / W); }
    else { rh = S; rw = (int)((double)S * W / H); }
    int top = (int)rint((rh - t->out) / 2.0), left = (int)rint((rw - t->out) / 2.0);
    p->denom = pick_denom(t, W, H, rw, rh);
    p->ax = resize_axis(W, p->denom, rw, left, t->out);
    p->ay = resize_axis(H, p->denom, rh, top, t->out);
    p->flip = 0;
}

void hpff_jtf_plan(const hpff_jtf *t, uint64_t seed, int epoch, int idx, int H, int W,
                   hpff_jplan *p) {
    if (t->train) {
        hpff_jcrop c = hpff_jtf_draw(t, seed, epoch, idx, H, W);
        p->denom = pick_denom(t, c.w, c.h, t->out, t->out);
        p->ax = crop_axis(c.x, c.w, W, p->denom, t->out);
        p->ay = crop_axis(c.y, c.h, H, p->denom, t->out);
        p->flip = c.flip;
    } else {
        eval_plan(t, H, W, p);
    }
    hpff_rs_axis_span(&p->ax, &p->x0, &p->x1);
    hpff_rs_axis_span(&p->ay, &p->y0, &p->y1);
}
