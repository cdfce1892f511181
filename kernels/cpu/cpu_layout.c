// cpu_layout.c — the CPU backend's layout changes between NCHW and channel-blocked tensors
// (backend.h, reorder) with the element-wise work at a blocked chain's edge fused in: the
// ReLU-backward mask on the way in, the residual sum and ReLU on the way out.
//
// NCHW <-> block 8 or 16 with c a multiple of 16: tiles of 16 channels x 16 positions,
// transposed in registers (four butterfly stages of two-source shuffles); the positions of a
// row short of a tile, channel counts that are not a multiple of 16, and block-to-block
// changes go element by element. Every element gets the same arithmetic on either path.
// Threads: images split over the pool.
#include <stdint.h>
#include <string.h>
#include "check.h"
#include "cpu_bn.h"
#include "cpu_internal.h"

typedef float lay_vec __attribute__((vector_size(16 * sizeof(float))));
typedef int32_t lay_ivec __attribute__((vector_size(16 * sizeof(float))));

typedef struct lay_job {
    int n, c, hw, from, to, relu;
    const float *x, *mask, *add;
    float *y;
} lay_job;

// Element (i, ch, s) of an (n, c, hw) tensor in layout `block` (0: NCHW).
static inline size_t lay_at(int block, int c, int hw, int i, int ch, int s) {
    if (!block) return ((size_t)i * c + ch) * hw + s;
    return (((size_t)i * (c / block) + ch / block) * hw + s) * block + ch % block;
}

static inline float lay_finish(const lay_job *j, float v, size_t at_y) {
    if (j->add) v = v + j->add[at_y];
    return j->relu && v < 0.0f ? 0.0f : v;
}

static void lay_element(const lay_job *j, int i, int ch, int s) {
    size_t a = lay_at(j->from, j->c, j->hw, i, ch, s), b = lay_at(j->to, j->c, j->hw, i, ch, s);
    float v = j->mask ? hpff_cpu_relu_pass(j->mask[a], j->x[a]) : j->x[a];
    j->y[b] = lay_finish(j, v, b);
}

// ---- 16 x 16 tiles ----

// (Vectors pass by pointer: by value they would change the ABI between the clones.)
static inline void lay_load(lay_vec *v, const float *p) { memcpy(v, p, sizeof *v); }

// Lane L of the stage-d shuffles of rows (a, b): lo takes a's lane L where bit d of L is clear,
// else b's lane L - d; hi takes a's lane L + d, else b's lane L. Stages 8, 4, 2, 1 transpose.
#define LAY_LO(d, L) (((L) & (d)) ? 16 + (L) - (d) : (L))
#define LAY_HI(d, L) (((L) & (d)) ? 16 + (L) : (L) + (d))
#define LAY_MASK(F, d)                                                                                    \
    (lay_ivec) {                                                                                          \
        F(d, 0), F(d, 1), F(d, 2), F(d, 3), F(d, 4), F(d, 5), F(d, 6), F(d, 7), F(d, 8), F(d, 9), F(d, 10), \
            F(d, 11), F(d, 12), F(d, 13), F(d, 14), F(d, 15)                                              \
    }
#define LAY_STAGE(r, d)                                                     \
    for (int i_ = 0; i_ < 16; i_++)                                         \
        if (!(i_ & (d))) {                                                  \
            lay_vec a_ = r[i_], b_ = r[i_ + (d)];                           \
            r[i_] = __builtin_shuffle(a_, b_, LAY_MASK(LAY_LO, d));         \
            r[i_ + (d)] = __builtin_shuffle(a_, b_, LAY_MASK(LAY_HI, d));   \
        }

static inline void lay_transpose(lay_vec r[16]) {
    LAY_STAGE(r, 8)
    LAY_STAGE(r, 4)
    LAY_STAGE(r, 2)
    LAY_STAGE(r, 1)
}

// A tile's 16 channels in block layout B (8 or 16) at position p of the tile: one block's vector,
// or two half vectors of 8 (q[0], q[1]: the tile's first position in each block).
typedef struct lay_tile { float *q[2]; int B; } lay_tile;

static inline lay_tile lay_tile_at(const float *base, int B, int c, int hw, int i, int ch0, int s) {
    lay_tile t = {{(float *)base + lay_at(B, c, hw, i, ch0, s), NULL}, B};
    if (B == 8) t.q[1] = (float *)base + lay_at(B, c, hw, i, ch0 + 8, s);
    return t;
}

static inline void lay_tile_get(lay_vec *v, const lay_tile *t, int p) {
    if (t->B == 16) {
        lay_load(v, t->q[0] + 16 * p);
        return;
    }
    memcpy(v, t->q[0] + 8 * p, 8 * sizeof(float));
    memcpy((float *)v + 8, t->q[1] + 8 * p, 8 * sizeof(float));
}

static inline void lay_tile_put(const lay_tile *t, int p, const lay_vec *v) {
    if (t->B == 16) {
        memcpy(t->q[0] + 16 * p, v, sizeof *v);
        return;
    }
    memcpy(t->q[0] + 8 * p, v, 8 * sizeof(float));
    memcpy(t->q[1] + 8 * p, (const float *)v + 8, 8 * sizeof(float));
}

// *v = r(*v + add) (add: a pointer to the addend's vector, or NULL).
static inline void lay_finish_vec(const lay_job *j, lay_vec *v, const lay_vec *add) {
    const lay_vec zero = {0};
    if (add) *v = *v + *add;
    if (j->relu) *v = (lay_vec)((lay_ivec)*v & ~(lay_ivec)(*v < zero));
}

// Channels [ch0, ch0 + 16) x positions [s, s + 16) of image i, NCHW -> block.
HPFF_CPU_CLONES static void tile_to_block(const lay_job *j, int i, int ch0, int s) {
    const lay_vec zero = {0};
    const size_t row = lay_at(0, j->c, j->hw, i, ch0, s);
    lay_vec r[16], m = {0}, a = {0};
    for (int k = 0; k < 16; k++) {
        lay_load(&r[k], j->x + row + (size_t)k * j->hw);
        if (j->mask) {
            lay_load(&m, j->mask + row + (size_t)k * j->hw);
            r[k] = (lay_vec)((lay_ivec)r[k] & (lay_ivec)(m > zero));
        }
    }
    lay_transpose(r);
    lay_tile out = lay_tile_at(j->y, j->to, j->c, j->hw, i, ch0, s);
    lay_tile add = lay_tile_at(j->add ? j->add : j->y, j->to, j->c, j->hw, i, ch0, s);
    for (int p = 0; p < 16; p++) {
        if (j->add) lay_tile_get(&a, &add, p);
        lay_finish_vec(j, &r[p], j->add ? &a : NULL);
        lay_tile_put(&out, p, &r[p]);
    }
}

// The same tile, block -> NCHW.
HPFF_CPU_CLONES static void tile_from_block(const lay_job *j, int i, int ch0, int s) {
    const lay_vec zero = {0};
    lay_tile in = lay_tile_at(j->x, j->from, j->c, j->hw, i, ch0, s);
    lay_tile mk = lay_tile_at(j->mask ? j->mask : j->x, j->from, j->c, j->hw, i, ch0, s);
    lay_vec r[16], m = {0}, a = {0};
    for (int p = 0; p < 16; p++) {
        lay_tile_get(&r[p], &in, p);
        if (j->mask) {
            lay_tile_get(&m, &mk, p);
            r[p] = (lay_vec)((lay_ivec)r[p] & (lay_ivec)(m > zero));
        }
    }
    lay_transpose(r);
    const size_t row = lay_at(0, j->c, j->hw, i, ch0, s);
    for (int k = 0; k < 16; k++) {
        float *yp = j->y + row + (size_t)k * j->hw;
        if (j->add) lay_load(&a, j->add + row + (size_t)k * j->hw);
        lay_finish_vec(j, &r[k], j->add ? &a : NULL);
        memcpy(yp, &r[k], sizeof r[k]);
    }
}

// Same layout on both sides: element by element, in memory order.
HPFF_CPU_CLONES static void lay_same(const lay_job *j, size_t lo, size_t hi) {
    for (size_t e = lo; e < hi; e++) {
        float v = j->mask ? hpff_cpu_relu_pass(j->mask[e], j->x[e]) : j->x[e];
        j->y[e] = lay_finish(j, v, e);
    }
}

static void lay_images(void *arg, int worker, int i0, int i1) {
    (void)worker;
    const lay_job *j = arg;
    if (j->from == j->to) {
        lay_same(j, (size_t)i0 * j->c * j->hw, (size_t)i1 * j->c * j->hw);
        return;
    }
    const int tiled = (j->from == 0 || j->to == 0) ? j->c / 16 * 16 : 0, full = j->hw / 16 * 16;
    for (int i = i0; i < i1; i++) {
        for (int ch0 = 0; ch0 < tiled; ch0 += 16)
            for (int s = 0; s < full; s += 16) {
                if (j->from == 0) tile_to_block(j, i, ch0, s);
                else tile_from_block(j, i, ch0, s);
            }
        for (int ch = 0; ch < j->c; ch++)
            for (int s = ch < tiled ? full : 0; s < j->hw; s++) lay_element(j, i, ch, s);
    }
}

static void cpu_reorder(hpff_backend *be, int n, int c, int hw, int from, const float *x, const float *mask, int to,
                        float *y, const float *add, int relu) {
    HPFF_CHECK((from == 0 || from == 8 || from == 16) && (to == 0 || to == 8 || to == 16) &&
                   (!from || c % from == 0) && (!to || c % to == 0),
               "reorder: layouts %d -> %d for %d channels (0, 8 or 16, a block dividing the channels)", from, to, c);
    HPFF_CHECK(from == to || x != y, "reorder: x and y alias across a layout change");
    lay_job j = {n, c, hw, from, to, relu, x, mask, add, y};
    hpff_cpu_pool_run(hpff_cpu_pool_of(be), n, lay_images, &j);
}

void hpff_cpu_install_layout(hpff_backend *be) { be->reorder = cpu_reorder; }
