// cpu_resize.c — CPU bilinear resize with align_corners=True (ALGORITHM §1.6) and its exact
// adjoint, on NCHW and on channel-blocked tensors (a blocked chain's resize -> conv: the same
// expressions and order of additions per element, B channels per vector), and the patch window
// copies of PFF (extract / scatter).
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "cpu_internal.h"

// align_corners=True taps of one axis: output index o reads input i0[o] with weight w0[o] and
// i1[o] with weight w1[o] (ALGORITHM §1.6; the source position is computed in float as PyTorch
// does). Held on the caller's stack (16 KiB an axis), so that a resize allocates nothing in the
// step.
#define LERP_MAX 1024   // output rows / columns (the decoders go to 224 at most)
typedef struct lerp_taps { int i0[LERP_MAX], i1[LERP_MAX]; float w0[LERP_MAX], w1[LERP_MAX]; } lerp_taps;

static void lerp_taps_fill(lerp_taps *t, int in, int out) {
    HPFF_CHECK(out > 0 && out <= LERP_MAX, "bilinear resize to %d rows or columns: 1 to %d supported", out, LERP_MAX);
    const float scale = out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
    for (int o = 0; o < out; o++) {
        float src = scale * (float)o;
        int a = (int)src;
        if (a > in - 1) a = in - 1;
        float f = src - (float)a;
        f = f < 0.0f ? 0.0f : (f > 1.0f ? 1.0f : f);
        t->i0[o] = a;
        t->i1[o] = a < in - 1 ? a + 1 : a;
        t->w0[o] = 1.0f - f;
        t->w1[o] = f;
    }
}

static void cpu_resize_bilinear_fwd(hpff_backend *be, int n, int c, int h_in, int w_in, int h_out,
                                    int w_out, const float *x, float *y) {
    (void)be;
    const size_t hwi = (size_t)h_in * w_in, hwo = (size_t)h_out * w_out;
    lerp_taps th, tw;
    lerp_taps_fill(&th, h_in, h_out);
    lerp_taps_fill(&tw, w_in, w_out);
    for (size_t pl = 0; pl < (size_t)n * c; pl++) {
        const float *xp = x + pl * hwi;
        for (int oh = 0; oh < h_out; oh++) {
            const float *r0 = xp + (size_t)th.i0[oh] * w_in, *r1 = xp + (size_t)th.i1[oh] * w_in;
            const float a0 = th.w0[oh], a1 = th.w1[oh];
            float *restrict yr = y + pl * hwo + (size_t)oh * w_out;
            for (int ow = 0; ow < w_out; ow++) {
                int j0 = tw.i0[ow], j1 = tw.i1[ow];
                float b0 = tw.w0[ow], b1 = tw.w1[ow];
                yr[ow] = a0 * (b0 * r0[j0] + b1 * r0[j1]) + a1 * (b0 * r1[j0] + b1 * r1[j1]);
            }
        }
    }
}

static void cpu_resize_bilinear_bwd(hpff_backend *be, int n, int c, int h_in, int w_in, int h_out,
                                    int w_out, const float *dy, float *dx, float beta) {
    (void)be;
    const size_t hwi = (size_t)h_in * w_in, hwo = (size_t)h_out * w_out;
    lerp_taps th, tw;
    lerp_taps_fill(&th, h_in, h_out);
    lerp_taps_fill(&tw, w_in, w_out);
    if (beta == 0.0f) memset(dx, 0, (size_t)n * c * hwi * sizeof(float));
    for (size_t pl = 0; pl < (size_t)n * c; pl++) {
        float *xp = dx + pl * hwi;
        for (int oh = 0; oh < h_out; oh++) {
            float *r0 = xp + (size_t)th.i0[oh] * w_in, *r1 = xp + (size_t)th.i1[oh] * w_in;
            const float a0 = th.w0[oh], a1 = th.w1[oh];
            const float *gr = dy + pl * hwo + (size_t)oh * w_out;
            for (int ow = 0; ow < w_out; ow++) {
                int j0 = tw.i0[ow], j1 = tw.i1[ow];
                float b0 = tw.w0[ow], b1 = tw.w1[ow], g0 = a0 * gr[ow], g1 = a1 * gr[ow];
                r0[j0] += b0 * g0;
                r0[j1] += b1 * g0;
                r1[j0] += b0 * g1;
                r1[j1] += b1 * g1;
            }
        }
    }
}

// ---- channel-blocked (backend.h): position (r, c) of a row holds B channels side by side ----

typedef struct resize_job {
    int block, c, h_in, w_in, h_out, w_out;
    const float *x;
    float *y;
    float beta;
    lerp_taps th, tw;
} resize_job;

// Output row oh of one channel block: y[ow] = a0 (b0 r0[j0] + b1 r0[j1]) + a1 (b0 r1[j0] + b1 r1[j1]).
HPFF_CPU_CLONES static void blk_fwd_row(const resize_job *j, const float *xp, float *yr, int oh) {
    const int B = j->block;
    const float *r0 = xp + (size_t)j->th.i0[oh] * j->w_in * B, *r1 = xp + (size_t)j->th.i1[oh] * j->w_in * B;
    const float a0 = j->th.w0[oh], a1 = j->th.w1[oh];
    for (int ow = 0; ow < j->w_out; ow++) {
        const float *p00 = r0 + (size_t)j->tw.i0[ow] * B, *p01 = r0 + (size_t)j->tw.i1[ow] * B;
        const float *p10 = r1 + (size_t)j->tw.i0[ow] * B, *p11 = r1 + (size_t)j->tw.i1[ow] * B;
        const float b0 = j->tw.w0[ow], b1 = j->tw.w1[ow];
        float *restrict o = yr + (size_t)ow * B;
        for (int l = 0; l < B; l++) o[l] = a0 * (b0 * p00[l] + b1 * p01[l]) + a1 * (b0 * p10[l] + b1 * p11[l]);
    }
}

// The adjoint of output row oh: each output's gradient added to its four taps in the NCHW
// kernel's order (r0 j0, r0 j1, r1 j0, r1 j1, output after output).
HPFF_CPU_CLONES static void blk_bwd_row(const resize_job *j, const float *gr, float *xp, int oh) {
    const int B = j->block;
    float *r0 = xp + (size_t)j->th.i0[oh] * j->w_in * B, *r1 = xp + (size_t)j->th.i1[oh] * j->w_in * B;
    const float a0 = j->th.w0[oh], a1 = j->th.w1[oh];
    for (int ow = 0; ow < j->w_out; ow++) {
        float *p00 = r0 + (size_t)j->tw.i0[ow] * B, *p01 = r0 + (size_t)j->tw.i1[ow] * B;
        float *p10 = r1 + (size_t)j->tw.i0[ow] * B, *p11 = r1 + (size_t)j->tw.i1[ow] * B;
        const float b0 = j->tw.w0[ow], b1 = j->tw.w1[ow];
        const float *g = gr + (size_t)ow * B;
        for (int l = 0; l < B; l++) {
            float g0 = a0 * g[l], g1 = a1 * g[l];
            p00[l] += b0 * g0;
            p01[l] += b1 * g0;
            p10[l] += b0 * g1;
            p11[l] += b1 * g1;
        }
    }
}

// blk_bwd_row for 16-channel blocks (nChw16c, AVX-512's layout): the same additions in the
// same order, but upsampling sends several outputs in a row to the same taps, and adding in
// memory chains every add through a store and a reload. Here the taps' current values sit in
// registers, a window of columns j0 and j0 + 1 per input row (the only ones an output
// touches), loaded when the window reaches a column and stored when it leaves: each element
// receives the same sums in the same order, so the results are blk_bwd_row's to the bit.
typedef float rz_v16 __attribute__((vector_size(16 * sizeof(float))));
#define RZ_LD(v, p) memcpy(&(v), (p), sizeof(rz_v16))   // macros: a 64-byte vector argument would
#define RZ_ST(p, v) memcpy((p), &(v), sizeof(rz_v16))   // change the ABI without AVX-512

HPFF_CPU_CLONES static void blk_bwd_row16(const resize_job *j, const float *gr, float *xp, int oh) {
    const int w_in = j->w_in;
    float *r0 = xp + (size_t)j->th.i0[oh] * w_in * 16, *r1 = xp + (size_t)j->th.i1[oh] * w_in * 16;
    const float a0 = j->th.w0[oh], a1 = j->th.w1[oh];
    const int two = r0 != r1;        // the last input row is its own neighbour: one window row
    rz_v16 A0 = {0}, B0 = {0}, A1 = {0}, B1 = {0};   // rows r0 / r1, columns base / base + 1
    int base = -2;                   // no window yet
#define RZ_COL(r, c) ((r) + (size_t)(c) * 16)
#define RZ_STORE_WINDOW()                                         \
    do {                                                          \
        if (base < 0) break;                                      \
        RZ_ST(RZ_COL(r0, base), A0);                              \
        if (two) RZ_ST(RZ_COL(r1, base), A1);                     \
        if (base + 1 < w_in) {                                    \
            RZ_ST(RZ_COL(r0, base + 1), B0);                      \
            if (two) RZ_ST(RZ_COL(r1, base + 1), B1);             \
        }                                                         \
    } while (0)
    for (int ow = 0; ow < j->w_out; ow++) {
        const int j0 = j->tw.i0[ow], j1 = j->tw.i1[ow];
        if (j0 == base + 1) {        // slide by one: column base leaves, base + 2 enters
            RZ_ST(RZ_COL(r0, base), A0);
            if (two) RZ_ST(RZ_COL(r1, base), A1);
            A0 = B0, A1 = B1;
            if (j0 + 1 < w_in) {
                RZ_LD(B0, RZ_COL(r0, j0 + 1));
                if (two) RZ_LD(B1, RZ_COL(r1, j0 + 1));
            }
            base = j0;
        } else if (j0 != base) {     // first output, or a jump (downsampling): store all, reload
            RZ_STORE_WINDOW();
            RZ_LD(A0, RZ_COL(r0, j0));
            if (two) RZ_LD(A1, RZ_COL(r1, j0));
            if (j0 + 1 < w_in) {
                RZ_LD(B0, RZ_COL(r0, j0 + 1));
                if (two) RZ_LD(B1, RZ_COL(r1, j0 + 1));
            }
            base = j0;
        }
        const float b0 = j->tw.w0[ow], b1 = j->tw.w1[ow];
        rz_v16 g;
        RZ_LD(g, gr + (size_t)ow * 16);
        const rz_v16 g0 = a0 * g, g1 = a1 * g;
        // blk_bwd_row's order: r0 j0, r0 j1, r1 j0, r1 j1 (aliases where j1 = j0 or r1 = r0)
        if (two && j1 != j0) {
            A0 += b0 * g0;
            B0 += b1 * g0;
            A1 += b0 * g1;
            B1 += b1 * g1;
        } else if (two) {
            A0 += b0 * g0;
            A0 += b1 * g0;
            A1 += b0 * g1;
            A1 += b1 * g1;
        } else if (j1 != j0) {
            A0 += b0 * g0;
            B0 += b1 * g0;
            A0 += b0 * g1;
            B0 += b1 * g1;
        } else {
            A0 += b0 * g0;
            A0 += b1 * g0;
            A0 += b0 * g1;
            A0 += b1 * g1;
        }
    }
    RZ_STORE_WINDOW();
#undef RZ_STORE_WINDOW
#undef RZ_COL
}

// Planes (image, channel block) [p0, p1) of a forward or (y == NULL: x is dy) a backward.
static void blk_planes(void *arg, int worker, int p0, int p1, int fwd) {
    (void)worker;
    const resize_job *j = arg;
    const size_t in = (size_t)j->h_in * j->w_in * j->block, out = (size_t)j->h_out * j->w_out * j->block;
    for (int pl = p0; pl < p1; pl++) {
        if (fwd) {
            for (int oh = 0; oh < j->h_out; oh++)
                blk_fwd_row(j, j->x + pl * in, j->y + pl * out + (size_t)oh * j->w_out * j->block, oh);
            continue;
        }
        if (j->beta == 0.0f) memset(j->y + pl * in, 0, in * sizeof(float));
        for (int oh = 0; oh < j->h_out; oh++) {
            const float *gr = j->x + pl * out + (size_t)oh * j->w_out * j->block;
            if (j->block == 16) blk_bwd_row16(j, gr, j->y + pl * in, oh);
            else blk_bwd_row(j, gr, j->y + pl * in, oh);
        }
    }
}
static void blk_fwd_planes(void *arg, int worker, int p0, int p1) { blk_planes(arg, worker, p0, p1, 1); }
static void blk_bwd_planes(void *arg, int worker, int p0, int p1) { blk_planes(arg, worker, p0, p1, 0); }

// A blocked forward (fwd) or backward (x: dy, y: dx, accumulating where beta != 0) over the
// pool, planes (image, channel block) split between the workers.
static void blk_run(hpff_backend *be, int fwd, int block, int n, int c, int h_in, int w_in, int h_out, int w_out,
                    const float *x, float *y, float beta) {
    HPFF_CHECK((block == 8 || block == 16) && c % block == 0,
               "blocked resize: block %d for %d channels (8 or 16, dividing the channels)", block, c);
    resize_job j;   // field by field: the taps (32 KiB) are filled, not zeroed first
    j.block = block, j.c = c, j.h_in = h_in, j.w_in = w_in, j.h_out = h_out, j.w_out = w_out;
    j.x = x, j.y = y, j.beta = beta;
    lerp_taps_fill(&j.th, h_in, h_out);
    lerp_taps_fill(&j.tw, w_in, w_out);
    hpff_cpu_pool_run(hpff_cpu_pool_of(be), n * (c / block), fwd ? blk_fwd_planes : blk_bwd_planes, &j);
}

static void cpu_resize_bilinear_fwd_blocked(hpff_backend *be, int block, int n, int c, int h_in, int w_in, int h_out,
                                            int w_out, const float *x, float *y) {
    blk_run(be, 1, block, n, c, h_in, w_in, h_out, w_out, x, y, 0.0f);
}

static void cpu_resize_bilinear_bwd_blocked(hpff_backend *be, int block, int n, int c, int h_in, int w_in, int h_out,
                                            int w_out, const float *dy, float *dx, float beta) {
    blk_run(be, 0, block, n, c, h_in, w_in, h_out, w_out, dy, dx, beta);
}

static void patch_check(int h, int w, int r0, int c0, int ph, int pw) {
    HPFF_CHECK(r0 >= 0 && c0 >= 0 && ph >= 0 && pw >= 0 && r0 + ph <= h && c0 + pw <= w,
               "patch: window rows [%d, %d) x cols [%d, %d) outside the %dx%d map", r0, r0 + ph,
               c0, c0 + pw, h, w);
}

// The row copies of a window: the DGL heads' windows of a pooled map are 4, 2 or 1 floats wide,
// where a memcpy call per row costs more than its copy; those widths compile to fixed moves.
static inline __attribute__((always_inline)) void extract_rows(size_t planes, int h, int w, int r0, int c0, int ph,
                                                               int pw, const float *x, float *p) {
    for (size_t pl = 0; pl < planes; pl++)
        for (int i = 0; i < ph; i++)
            memcpy(p + (pl * ph + i) * pw, x + (pl * h + r0 + i) * w + c0, (size_t)pw * sizeof(float));
}

static void cpu_patch_extract(hpff_backend *be, int n, int c, int h, int w, int r0, int c0, int ph,
                              int pw, const float *x, float *p) {
    (void)be;
    patch_check(h, w, r0, c0, ph, pw);
    size_t planes = (size_t)n * c;
    switch (pw) {
    case 1: extract_rows(planes, h, w, r0, c0, ph, 1, x, p); break;
    case 2: extract_rows(planes, h, w, r0, c0, ph, 2, x, p); break;
    case 4: extract_rows(planes, h, w, r0, c0, ph, 4, x, p); break;
    default: extract_rows(planes, h, w, r0, c0, ph, pw, x, p);
    }
}

static inline __attribute__((always_inline)) void scatter_rows(size_t planes, int h, int w, int r0, int c0, int ph,
                                                               int pw, const float *dp, float *dx, int add) {
    for (size_t pl = 0; pl < planes; pl++)
        for (int i = 0; i < ph; i++) {
            const float *restrict s = dp + (pl * ph + i) * pw;
            float *restrict o = dx + (pl * h + r0 + i) * w + c0;
            if (!add)
                memcpy(o, s, (size_t)pw * sizeof(float));
            else
                for (int k = 0; k < pw; k++) o[k] += s[k];
        }
}

static void cpu_patch_scatter(hpff_backend *be, int n, int c, int h, int w, int r0, int c0, int ph,
                              int pw, const float *dp, float *dx, float beta) {
    (void)be;
    patch_check(h, w, r0, c0, ph, pw);
    size_t planes = (size_t)n * c;
    int add = beta != 0.0f;
    switch (pw) {
    case 1: scatter_rows(planes, h, w, r0, c0, ph, 1, dp, dx, add); break;
    case 2: scatter_rows(planes, h, w, r0, c0, ph, 2, dp, dx, add); break;
    case 4: scatter_rows(planes, h, w, r0, c0, ph, 4, dp, dx, add); break;
    default: scatter_rows(planes, h, w, r0, c0, ph, pw, dp, dx, add);
    }
}

void hpff_cpu_install_resize(hpff_backend *be) {
    be->resize_bilinear_fwd = cpu_resize_bilinear_fwd;
    be->resize_bilinear_bwd = cpu_resize_bilinear_bwd;
    be->resize_bilinear_fwd_blocked = cpu_resize_bilinear_fwd_blocked;
    be->resize_bilinear_bwd_blocked = cpu_resize_bilinear_bwd_blocked;
    be->patch_extract = cpu_patch_extract;
    be->patch_scatter = cpu_patch_scatter;
}
