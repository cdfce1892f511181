// resample.c — Pillow-equivalent antialiased bilinear resampling (see resample.h). The tap
// arithmetic follows Pillow's Resample.c (precompute_coeffs, normalize_coeffs_8bpc and the
// 8-bit passes): double weights from the widened triangle filter, normalised, rounded to 22-bit
// fixed point; each pass adds half a unit, shifts and clamps to uint8.
#include "resample.h"
#include <math.h>
#include <string.h>

enum { PREC = 22 };             // Pillow's PRECISION_BITS for 8-bit images

static double axis_scale(const hpff_rs_axis *a) {
    return (double)(a->in1 - a->in0) / a->out_total;   // float difference, as Pillow's box
}

static int axis_ksize(const hpff_rs_axis *a) {
    double fs = axis_scale(a);
    return (int)ceil(fs < 1.0 ? 1.0 : fs) * 2 + 1;
}

// Tap window of output pixel xx (absolute index) in frame coordinates: [*lo, *lo + *n).
static double axis_window(const hpff_rs_axis *a, int xx, int *lo, int *n) {
    double scale = axis_scale(a), support = scale < 1.0 ? 1.0 : scale;
    double center = a->in0 + (xx + 0.5) * scale;
    int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
    if (xmin < a->clip_lo) xmin = a->clip_lo;
    if (xmax > a->clip_hi) xmax = a->clip_hi;
    *lo = xmin;
    *n = xmax > xmin ? xmax - xmin : 0;
    return center;
}

void hpff_rs_axis_span(const hpff_rs_axis *a, int *lo, int *hi) {
    int l = 0, h = 0;
    for (int i = 0; i < a->out_count; i++) {
        int xmin, n;
        axis_window(a, a->out_first + i, &xmin, &n);
        if (i == 0 || xmin < l) l = xmin;
        if (i == 0 || xmin + n > h) h = xmin + n;
    }
    *lo = l - a->shift;
    *hi = h - a->shift;
}

static double tap_weight(int x, int xmin, double center, double ss) {
    double t = fabs((x + xmin - center + 0.5) * ss);
    return t < 1.0 ? 1.0 - t : 0.0;
}

// bounds (count, 2): first buffer pixel and tap count; k (count, ksize): fixed-point taps.
static void axis_taps(const hpff_rs_axis *a, int ksize, int *bounds, int32_t *k) {
    double scale = axis_scale(a), ss = 1.0 / (scale < 1.0 ? 1.0 : scale);
    for (int i = 0; i < a->out_count; i++) {
        int xmin, n;
        double center = axis_window(a, a->out_first + i, &xmin, &n), ww = 0;
        for (int x = 0; x < n; x++) ww += tap_weight(x, xmin, center, ss);
        int32_t *kk = k + (size_t)i * (size_t)ksize;
        for (int x = 0; x < ksize; x++) {
            double v = x < n && ww != 0.0 ? tap_weight(x, xmin, center, ss) / ww : 0.0;
            kk[x] = (int32_t)(v < 0 ? -0.5 + v * (1 << PREC) : 0.5 + v * (1 << PREC));
        }
        bounds[2 * i] = xmin - a->shift;
        bounds[2 * i + 1] = n;
    }
}

static inline uint8_t clip8(int32_t v) {
    v >>= PREC;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static size_t align16(size_t b) { return (b + 15) & ~(size_t)15; }

size_t hpff_resample_scratch(const hpff_rs_axis *ax, const hpff_rs_axis *ay, int c) {
    int lo, hi;
    hpff_rs_axis_span(ay, &lo, &hi);
    size_t b = 0;
    const hpff_rs_axis *axes[2] = {ax, ay};
    for (int i = 0; i < 2; i++)
        b += align16((size_t)axes[i]->out_count * 2 * sizeof(int)) +
             align16((size_t)axes[i]->out_count * (size_t)axis_ksize(axes[i]) * sizeof(int32_t));
    size_t trow = (size_t)ax->out_count * (size_t)c;
    return b + align16(trow * sizeof(int32_t)) + (size_t)(hi - lo) * trow;
}

// One output row of the horizontal pass: out (count, c) from the input row in (., c).
static void pass_row(const uint8_t *in, int c, int count, const int *bounds, const int32_t *k,
                     int ksize, uint8_t *out) {
    const int32_t half = 1 << (PREC - 1);
    for (int i = 0; i < count; i++) {
        const uint8_t *p = in + (size_t)bounds[2 * i] * (size_t)c;
        const int32_t *kk = k + (size_t)i * (size_t)ksize;
        int n = bounds[2 * i + 1];
        if (c == 3) {   // the three channels in one sweep of the taps
            int32_t s0 = half, s1 = half, s2 = half;
            for (int x = 0; x < n; x++, p += 3) {
                s0 += (int32_t)p[0] * kk[x];
                s1 += (int32_t)p[1] * kk[x];
                s2 += (int32_t)p[2] * kk[x];
            }
            out[3 * i] = clip8(s0);
            out[3 * i + 1] = clip8(s1);
            out[3 * i + 2] = clip8(s2);
            continue;
        }
        for (int ch = 0; ch < c; ch++) {
            int32_t s = half;
            for (int x = 0; x < n; x++) s += (int32_t)p[x * c + ch] * kk[x];
            out[i * c + ch] = clip8(s);
        }
    }
}

// One output row of the vertical pass: taps applied row by row into acc (trow), so the inner
// loop runs along contiguous bytes.
static void pass_col(const uint8_t *base, size_t trow, int n, const int32_t *kk, int32_t *acc,
                     uint8_t *out) {
    for (size_t x = 0; x < trow; x++) acc[x] = 1 << (PREC - 1);
    for (int y = 0; y < n; y++) {
        const uint8_t *row = base + (size_t)y * trow;
        const int32_t k = kk[y];
        for (size_t x = 0; x < trow; x++) acc[x] += (int32_t)row[x] * k;
    }
    for (size_t x = 0; x < trow; x++) out[x] = clip8(acc[x]);
}

void hpff_resample(const uint8_t *src, size_t stride, int c, const hpff_rs_axis *ax,
                   const hpff_rs_axis *ay, uint8_t *dst, void *scratch) {
    int ksx = axis_ksize(ax), ksy = axis_ksize(ay), ylo, yhi;
    hpff_rs_axis_span(ay, &ylo, &yhi);
    const size_t trow = (size_t)ax->out_count * (size_t)c;
    uint8_t *p = scratch;
    int *bx = (int *)p;                        // (ox, 2)
    p += align16((size_t)ax->out_count * 2 * sizeof(int));
    int32_t *kx = (int32_t *)p;                // (ox, ksx)
    p += align16((size_t)ax->out_count * (size_t)ksx * sizeof(int32_t));
    int *by = (int *)p;                        // (oy, 2)
    p += align16((size_t)ay->out_count * 2 * sizeof(int));
    int32_t *ky = (int32_t *)p;                // (oy, ksy)
    p += align16((size_t)ay->out_count * (size_t)ksy * sizeof(int32_t));
    int32_t *acc = (int32_t *)p;               // (ox * c)
    p += align16(trow * sizeof(int32_t));
    uint8_t *tmp = p;                          // (yhi - ylo, ox, c)
    axis_taps(ax, ksx, bx, kx);
    axis_taps(ay, ksy, by, ky);
    for (int r = ylo; r < yhi; r++)
        pass_row(src + (size_t)r * stride, c, ax->out_count, bx, kx, ksx, tmp + (size_t)(r - ylo) * trow);
    for (int i = 0; i < ay->out_count; i++)
        pass_col(tmp + (size_t)(by[2 * i] - ylo) * trow, trow, by[2 * i + 1], ky + (size_t)i * (size_t)ksy,
                 acc, dst + (size_t)i * trow);
}
