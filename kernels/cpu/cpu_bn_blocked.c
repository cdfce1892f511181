// cpu_bn_blocked.c — CPU batch norm (train, eval, backward, fused ReLU) on channel-blocked
// tensors (nChw8c / nChw16c, backend.h): the batch norms of a blocked chain between two oneDNN
// convolutions. Bit for bit the results of cpu_bn.c: each channel's sums take the same terms in
// the same order — 16 float lanes (lane l: the positions s = l mod 16 of a row, row after row),
// flushed to double every BN_BLOCK terms in lane order, a row's tail short of 16 added in double
// — only here the lanes of B channels lie side by side, as the layout has them, and the
// per-channel maths between the sums and the element-wise pass is cpu_bn.c's (cpu_bn.h).
//
// A chunk is 16 positions of one row of a channel block: 16*B floats, 16 per position-lane l
// and channel ch at float l*B + ch. Its B vectors of 16 floats (k = 0..B-1) cover floats
// [16k, 16k + 16); a vector of per-channel constants repeats the B channels' values.
// Threads: channel blocks split over the pool, each worker doing its blocks' sums and element-wise
// pass; with fewer blocks than workers the sums go by block and the element-wise pass by image
// (the constants in between kept per channel). Every element's arithmetic is the same either way.
#include <stdint.h>
#include <string.h>
#include "check.h"
#include "cpu_bn.h"
#include "cpu_internal.h"

#define MAX_BLOCK 16
#define SPLIT_MAX_C 1024   // the two-pass split keeps 4 constants per channel on the stack

typedef float bnb_vec __attribute__((vector_size(BN_LANES * sizeof(float))));
typedef int32_t bnb_ivec __attribute__((vector_size(BN_LANES * sizeof(float))));

// (Vectors pass by pointer: by value they would change the ABI between the clones.)
static inline void bnb_load(bnb_vec *v, const float *p) { memcpy(v, p, sizeof *v); }
static inline void bnb_store(float *p, const bnb_vec *v) { memcpy(p, v, sizeof *v); }

// *v's lane L = c[L % B] (the channel of lane L in a chunk).
static inline void bnb_spread(bnb_vec *v, const float *c, int B) {
    float t[BN_LANES];
    for (int l = 0; l < BN_LANES; l++) t[l] = c[l % B];
    bnb_load(v, t);
}

// One channel block's sums: forward, of (x - k) and (x - k)^2; backward, of dy (masked where
// mask, a fused ReLU's output, is not > 0) and dy*(x - k) with k the mean. x, dy, mask: the block
// at image 0, `is` floats between images.
typedef struct bnb_sums_in {
    const float *x, *dy, *mask;
    size_t is;
    int B, n, hw, bwd;
    float k[MAX_BLOCK];
} bnb_sums_in;

// The lane sums of the chunks at offsets off[0..nc) into acc1, acc2 (16*B floats each, laid out
// as a chunk): lane by lane, chunk after chunk, as cpu_bn.c's vector loop adds them. The B
// vectors of a chunk go SUMS_GROUP at a time, chunk after chunk (the loads run along memory in
// 512-byte stretches, not one 64-byte line per 1 KiB chunk); each vector's terms keep their order.
#define SUMS_GROUP 8
HPFF_CPU_CLONES static void chunk_sums(const bnb_sums_in *s, const size_t *off, int nc, float *acc1, float *acc2) {
    bnb_vec kv;
    const bnb_vec zero = {0};
    bnb_spread(&kv, s->k, s->B);
    for (int v0 = 0; v0 < s->B; v0 += SUMS_GROUP) {   // B is 8 or 16
        bnb_vec a[SUMS_GROUP], b[SUMS_GROUP];
        for (int j = 0; j < SUMS_GROUP; j++) a[j] = b[j] = zero;
        const size_t o = (size_t)16 * v0;
        for (int c = 0; c < nc; c++) {
            const size_t at = off[c] + o;
            for (int j = 0; j < SUMS_GROUP; j++) {
                bnb_vec t, g, m;
                bnb_load(&t, s->x + at + 16 * j);
                t -= kv;
                if (!s->bwd) {
                    a[j] += t;
                    b[j] += t * t;
                    continue;
                }
                bnb_load(&g, s->dy + at + 16 * j);
                if (s->mask) {
                    bnb_load(&m, s->mask + at + 16 * j);
                    g = (bnb_vec)((bnb_ivec)g & (bnb_ivec)(m > zero));
                }
                a[j] += g;
                b[j] += g * t;
            }
        }
        for (int j = 0; j < SUMS_GROUP; j++) {
            bnb_store(acc1 + o + 16 * j, &a[j]);
            bnb_store(acc2 + o + 16 * j, &b[j]);
        }
    }
}

// f[ch] = the flush of channel ch's 16 lanes (bn_flush: from 0.0, in lane order).
static void flush_lanes(const float *acc, int B, double *f) {
    for (int ch = 0; ch < B; ch++) f[ch] = 0.0;
    for (int l = 0; l < BN_LANES; l++)
        for (int ch = 0; ch < B; ch++) f[ch] += (double)acc[l * B + ch];
}

static void flush_into(const float *acc1, const float *acc2, int B, double *d1, double *d2) {
    double f[MAX_BLOCK];
    flush_lanes(acc1, B, f);
    for (int ch = 0; ch < B; ch++) d1[ch] += f[ch];
    flush_lanes(acc2, B, f);
    for (int ch = 0; ch < B; ch++) d2[ch] += f[ch];
}

// A row's last r positions (at offset off), each added in double as cpu_bn.c's tail loops do.
static void tail_sums(const bnb_sums_in *s, size_t off, int r, double *d1, double *d2) {
    for (int p = 0; p < r; p++)
        for (int ch = 0; ch < s->B; ch++) {
            size_t e = off + (size_t)p * s->B + ch;
            if (!s->bwd) {
                double v = (double)s->x[e] - s->k[ch];
                d1[ch] += v;
                d2[ch] += v * v;
            } else {
                double v = (double)(s->mask ? hpff_cpu_relu_pass(s->mask[e], s->dy[e]) : s->dy[e]);
                d1[ch] += v;
                d2[ch] += v * ((double)s->x[e] - s->k[ch]);
            }
        }
}

// The block's sums from the running double sums d and the last, partial flush f.
static void sums_end(int B, const double *d1, const double *d2, const double *f1, const double *f2, double *s1,
                     double *s2) {
    for (int ch = 0; ch < B; ch++) {
        s1[ch] = 0.0;
        s1[ch] += d1[ch] + f1[ch];
        s2[ch] = 0.0;
        s2[ch] += d2[ch] + f2[ch];
    }
}

// s1[ch], s2[ch] for the B channels of the block: the chunks in row order, a flush every 16.
static void block_sums(const bnb_sums_in *s, double *s1, double *s2) {
    double d1[MAX_BLOCK] = {0}, d2[MAX_BLOCK] = {0}, f1[MAX_BLOCK], f2[MAX_BLOCK];
    float acc1[BN_LANES * MAX_BLOCK], acc2[BN_LANES * MAX_BLOCK];
    size_t off[BN_BLOCK / BN_LANES];
    const int q = s->hw / BN_LANES, r = s->hw % BN_LANES, per_flush = BN_BLOCK / BN_LANES;
    int nc = 0;
    for (int i = 0; i < s->n; i++) {
        const size_t row = (size_t)i * s->is;
        for (int c = 0; c < q; c++) {
            off[nc++] = row + (size_t)c * BN_LANES * s->B;
            if (nc == per_flush) {
                chunk_sums(s, off, nc, acc1, acc2);
                flush_into(acc1, acc2, s->B, d1, d2);
                nc = 0;
            }
        }
        if (r) tail_sums(s, row + (size_t)q * BN_LANES * s->B, r, d1, d2);
    }
    chunk_sums(s, off, nc, acc1, acc2);   // the last, partial flush (zeros when nc = 0)
    flush_lanes(acc1, s->B, f1);
    flush_lanes(acc2, s->B, f2);
    sums_end(s->B, d1, d2, f1, f2, s1, s2);
}

// ---- element-wise passes over one row of a block (m = hw*B floats), constants per channel ----

// y = x*a + b, then ReLU (relu_fwd's expression: x < 0 ? 0 : x, NaN passes) when relu.
HPFF_CPU_CLONES static void affine_row(const float *x, float *y, size_t m, int B, const float *a, const float *b,
                                       int relu) {
    bnb_vec av, bv, v;
    const bnb_vec zero = {0};
    bnb_spread(&av, a, B);
    bnb_spread(&bv, b, B);
    size_t t = 0;
    for (; t + BN_LANES <= m; t += BN_LANES) {
        bnb_load(&v, x + t);
        v = v * av + bv;
        if (relu) v = (bnb_vec)((bnb_ivec)v & ~(bnb_ivec)(v < zero));
        bnb_store(y + t, &v);
    }
    for (; t < m; t++) {
        float v = x[t] * a[t % B] + b[t % B];
        y[t] = relu && v < 0.0f ? 0.0f : v;
    }
}

// dx = ((g - (x - c0)*c1) - c2)*c3 (cpu_bn.c's bn_dx_row), g = dy masked by mask; set or added.
HPFF_CPU_CLONES static void dx_row(float *d, const float *x, const float *g, const float *m, size_t len, int B,
                                   const float *c, int add) {
    float c0[MAX_BLOCK], c1[MAX_BLOCK], c2[MAX_BLOCK], c3[MAX_BLOCK];
    for (int ch = 0; ch < B; ch++) {
        c0[ch] = c[4 * ch];
        c1[ch] = c[4 * ch + 1];
        c2[ch] = c[4 * ch + 2];
        c3[ch] = c[4 * ch + 3];
    }
    bnb_vec v0, v1, v2, v3, gv, xv, mv, dv;
    const bnb_vec zero = {0};
    bnb_spread(&v0, c0, B);
    bnb_spread(&v1, c1, B);
    bnb_spread(&v2, c2, B);
    bnb_spread(&v3, c3, B);
    size_t t = 0;
    for (; t + BN_LANES <= len; t += BN_LANES) {
        bnb_load(&gv, g + t);
        bnb_load(&xv, x + t);
        if (m) {
            bnb_load(&mv, m + t);
            gv = (bnb_vec)((bnb_ivec)gv & (bnb_ivec)(mv > zero));
        }
        bnb_vec r = ((gv - (xv - v0) * v1) - v2) * v3;
        if (add) {
            bnb_load(&dv, d + t);
            r = dv + r;
        }
        bnb_store(d + t, &r);
    }
    for (; t < len; t++) {
        int ch = (int)(t % (size_t)B);
        float gs = m ? hpff_cpu_relu_pass(m[t], g[t]) : g[t];
        float r = ((gs - (x[t] - c0[ch]) * c1[ch]) - c2[ch]) * c3[ch];
        d[t] = add ? d[t] + r : r;
    }
}

// ---- the passes over a call ----

static size_t row_floats(const hpff_cpu_bn_job *j) { return (size_t)j->hw * j->block; }
static size_t image_floats(const hpff_cpu_bn_job *j) { return (size_t)j->c * j->hw; }
static size_t block_at(const hpff_cpu_bn_job *j, int i, int cb) {
    return (size_t)i * image_floats(j) + (size_t)cb * row_floats(j);
}

// The sums' input for block cb.
static bnb_sums_in block_sums_in(const hpff_cpu_bn_job *j, int cb) {
    const int B = j->block, c0 = cb * B, bwd = j->dy != NULL;
    bnb_sums_in s = {j->x + block_at(j, 0, cb), NULL, NULL, image_floats(j), B, j->n, j->hw, bwd, {0}};
    for (int ch = 0; ch < B; ch++) s.k[ch] = bwd ? j->save_mean_in[c0 + ch] : s.x[ch];
    if (bwd) {
        s.dy = j->dy + block_at(j, 0, cb);
        s.mask = j->relu_y ? j->relu_y + block_at(j, 0, cb) : NULL;
    }
    return s;
}

// Block cb's per-channel constants from its sums (forward: a, b at cst[2ch]; backward: 4 at cst[4ch]).
static void sums_consts(const hpff_cpu_bn_job *j, int cb, const bnb_sums_in *s, const double *s1, const double *s2,
                        float *cst) {
    for (int ch = 0; ch < j->block; ch++) {
        int c = cb * j->block + ch;
        if (s->bwd) hpff_cpu_bn_bwd_consts(j, c, s1[ch], s2[ch], cst + 4 * ch);
        else hpff_cpu_bn_fwd_stats(j, c, s->k[ch], s1[ch], s2[ch], cst + 2 * ch, cst + 2 * ch + 1);
    }
}

static void block_consts(const hpff_cpu_bn_job *j, int cb, float *cst) {
    bnb_sums_in s = block_sums_in(j, cb);
    double s1[MAX_BLOCK], s2[MAX_BLOCK];
    block_sums(&s, s1, s2);
    sums_consts(j, cb, &s, s1, s2, cst);
}

// ---- a call with fewer channel blocks than threads (the 16-channel maps of a CIFAR ResNet's
// first stage at 2 threads): the sums split by flush. Every flush of block_sums starts from zero
// lanes, so the flushes of a block run on any worker into f[], and the block's running double
// sums then add them up in block_sums' order: the same bits. Rows with a tail (hw not a multiple
// of 16) interleave tail terms with the flushes and keep block_sums. ----

#define FLUSH_ROUND 256   // flushes per parallel round (f[] on the caller's stack: 64 KiB)

typedef struct bnb_flushes {
    const bnb_sums_in *s;
    size_t chunks;                       // the block's chunks: n * hw / 16
    size_t g0;                           // the round's first flush
    double (*f)[2][MAX_BLOCK];           // (FLUSH_ROUND) the round's flushes of both sums
} bnb_flushes;

static void flushes_worker(void *arg, int worker, int u0, int u1) {
    (void)worker;
    const bnb_flushes *F = arg;
    const bnb_sums_in *s = F->s;
    const size_t q = (size_t)s->hw / BN_LANES, per_flush = BN_BLOCK / BN_LANES;
    float acc1[BN_LANES * MAX_BLOCK], acc2[BN_LANES * MAX_BLOCK];
    size_t off[BN_BLOCK / BN_LANES];
    for (int u = u0; u < u1; u++) {
        size_t t0 = (F->g0 + (size_t)u) * per_flush, t1 = t0 + per_flush < F->chunks ? t0 + per_flush : F->chunks;
        int nc = 0;
        for (size_t t = t0; t < t1; t++) off[nc++] = t / q * s->is + t % q * BN_LANES * s->B;
        chunk_sums(s, off, nc, acc1, acc2);
        flush_lanes(acc1, s->B, F->f[u][0]);
        flush_lanes(acc2, s->B, F->f[u][1]);
    }
}

// block_sums of block cb with its flushes over the pool.
static void block_sums_split(hpff_cpu_pool *pool, const bnb_sums_in *s, double *s1, double *s2) {
    const size_t chunks = (size_t)s->n * (s->hw / BN_LANES), per_flush = BN_BLOCK / BN_LANES;
    const size_t full = chunks / per_flush, all = full + 1;   // the last (partial, maybe empty) one too
    double f[FLUSH_ROUND][2][MAX_BLOCK], d1[MAX_BLOCK] = {0}, d2[MAX_BLOCK] = {0};
    bnb_flushes F = {s, chunks, 0, f};
    for (; F.g0 < all; F.g0 += FLUSH_ROUND) {
        size_t round = all - F.g0 < FLUSH_ROUND ? all - F.g0 : FLUSH_ROUND;
        hpff_cpu_pool_run(pool, (int)round, flushes_worker, &F);
        for (size_t u = 0; u < round; u++) {
            if (F.g0 + u == full) {   // block_sums' last, partial flush
                sums_end(s->B, d1, d2, f[u][0], f[u][1], s1, s2);
                continue;
            }
            for (int ch = 0; ch < s->B; ch++) d1[ch] += f[u][0][ch];
            for (int ch = 0; ch < s->B; ch++) d2[ch] += f[u][1][ch];
        }
    }
}

// The element-wise pass of block cb over images [i0, i1), constants of its channels at cst.
static void block_apply(const hpff_cpu_bn_job *j, int cb, int i0, int i1, const float *cst) {
    const int B = j->block;
    if (j->dy == NULL) {
        float a[MAX_BLOCK], b[MAX_BLOCK];
        for (int ch = 0; ch < B; ch++) {
            a[ch] = cst[2 * ch];
            b[ch] = cst[2 * ch + 1];
        }
        for (int i = i0; i < i1; i++)
            affine_row(j->x + block_at(j, i, cb), j->y + block_at(j, i, cb), row_floats(j), B, a, b, j->relu);
        return;
    }
    if (!j->dx) return;
    for (int i = i0; i < i1; i++) {
        size_t o = block_at(j, i, cb);
        dx_row(j->dx + o, j->x + o, j->dy + o, j->relu_y ? j->relu_y + o : NULL, row_floats(j), B, cst,
               j->beta_dx != 0.0f);
    }
}

// Whole blocks per worker: sums, constants, element-wise pass.
static void blocks_whole(void *arg, int worker, int cb0, int cb1) {
    (void)worker;
    const hpff_cpu_bn_job *j = arg;
    float cst[4 * MAX_BLOCK];
    for (int cb = cb0; cb < cb1; cb++) {
        block_consts(j, cb, cst);
        block_apply(j, cb, 0, j->n, cst);
    }
}

static int cst_per_channel(const hpff_cpu_bn_job *j) { return j->dy ? 4 : 2; }

// Split pass 1: the blocks' constants into j->cst; pass 2: every block over a range of images.
static void blocks_consts(void *arg, int worker, int cb0, int cb1) {
    (void)worker;
    const hpff_cpu_bn_job *j = arg;
    for (int cb = cb0; cb < cb1; cb++) block_consts(j, cb, j->cst + (size_t)cst_per_channel(j) * cb * j->block);
}

static void images_apply(void *arg, int worker, int i0, int i1) {
    (void)worker;
    const hpff_cpu_bn_job *j = arg;
    for (int cb = 0; cb < j->c / j->block; cb++)
        block_apply(j, cb, i0, i1, j->cst + (size_t)cst_per_channel(j) * cb * j->block);
}

static void run_blocked(hpff_backend *be, hpff_cpu_bn_job *j) {
    HPFF_CHECK((j->block == 8 || j->block == 16) && j->c % j->block == 0,
               "blocked batch norm: block %d for %d channels (8 or 16, dividing the channels)", j->block, j->c);
    hpff_cpu_pool *pool = hpff_cpu_pool_of(be);
    const int blocks = j->c / j->block, threads = hpff_cpu_pool_threads(pool);
    if (blocks >= threads || j->c > SPLIT_MAX_C || j->n < 2) {
        hpff_cpu_pool_run(pool, blocks, blocks_whole, j);
        return;
    }
    float cst[4 * SPLIT_MAX_C];
    j->cst = cst;
    if (j->hw % BN_LANES == 0) {
        for (int cb = 0; cb < blocks; cb++) {
            bnb_sums_in s = block_sums_in(j, cb);
            double s1[MAX_BLOCK], s2[MAX_BLOCK];
            block_sums_split(pool, &s, s1, s2);
            sums_consts(j, cb, &s, s1, s2, cst + (size_t)cst_per_channel(j) * cb * j->block);
        }
    } else {
        hpff_cpu_pool_run(pool, blocks, blocks_consts, j);
    }
    if (j->dy && !j->dx) return;
    hpff_cpu_pool_run(pool, j->n, images_apply, j);
}

static void cpu_bn_fwd_train_blocked(hpff_backend *be, int block, int n, int c, int hw, const float *x,
                                     const float *gamma, const float *beta, float *y, float *running_mean,
                                     float *running_var, float momentum, float eps, float *save_mean,
                                     float *save_invstd, int relu) {
    HPFF_CHECK((size_t)n * hw > 1, "batch norm: training needs more than one value per channel (n %d, hw %d)",
               n, hw);
    if (hw == 1 && (block == 8 || block == 16) && c % block == 0) {   // (n, c) either way: cpu_bn.h
        hpff_cpu_bn_fwd_train_nchw(be, n, c, hw, x, gamma, beta, y, running_mean, running_var, momentum, eps,
                                   save_mean, save_invstd, relu);
        return;
    }
    hpff_cpu_bn_job j = {.n = n, .c = c, .hw = hw, .block = block, .x = x, .gamma = gamma, .beta = beta, .y = y,
                         .running_mean = running_mean, .running_var = running_var, .save_mean = save_mean,
                         .save_invstd = save_invstd, .momentum = momentum, .eps = eps, .relu = relu};
    run_blocked(be, &j);
}

// Eval: constants from the running statistics; every block over a range of images.
static void eval_images(void *arg, int worker, int i0, int i1) {
    (void)worker;
    const hpff_cpu_bn_job *j = arg;
    float cst[2 * MAX_BLOCK];
    for (int cb = 0; cb < j->c / j->block; cb++) {
        for (int ch = 0; ch < j->block; ch++)
            hpff_cpu_bn_eval_affine(j, cb * j->block + ch, &cst[2 * ch], &cst[2 * ch + 1]);
        block_apply(j, cb, i0, i1, cst);
    }
}

static void cpu_bn_fwd_eval_blocked(hpff_backend *be, int block, int n, int c, int hw, const float *x,
                                    const float *gamma, const float *beta, float *y, const float *running_mean,
                                    const float *running_var, float eps, int relu) {
    HPFF_CHECK((block == 8 || block == 16) && c % block == 0,
               "blocked batch norm: block %d for %d channels (8 or 16, dividing the channels)", block, c);
    if (hw == 1) {
        hpff_cpu_bn_fwd_eval_nchw(be, n, c, hw, x, gamma, beta, y, running_mean, running_var, eps, relu);
        return;
    }
    hpff_cpu_bn_job j = {.n = n, .c = c, .hw = hw, .block = block, .x = x, .gamma = gamma, .beta = beta, .y = y,
                         .running_mean = (float *)running_mean, .running_var = (float *)running_var, .eps = eps,
                         .relu = relu};
    hpff_cpu_pool_run(hpff_cpu_pool_of(be), n, eval_images, &j);
}

static void cpu_bn_bwd_blocked(hpff_backend *be, int block, int n, int c, int hw, const float *x, const float *dy,
                               const float *gamma, const float *save_mean, const float *save_invstd,
                               const float *relu_y, float *dx, float beta_dx, float *dgamma, float *dbeta) {
    if (hw == 1 && (block == 8 || block == 16) && c % block == 0) {
        hpff_cpu_bn_bwd_nchw(be, n, c, hw, x, dy, gamma, save_mean, save_invstd, relu_y, dx, beta_dx, dgamma, dbeta);
        return;
    }
    hpff_cpu_bn_job j = {.n = n, .c = c, .hw = hw, .block = block, .x = x, .dy = dy, .gamma = gamma,
                         .save_mean_in = save_mean, .save_invstd_in = save_invstd, .relu_y = relu_y, .dx = dx,
                         .beta_dx = beta_dx, .dgamma = dgamma, .dbeta = dbeta};
    run_blocked(be, &j);
}

void hpff_cpu_install_bn_blocked(hpff_backend *be) {
    be->bn_fwd_train_blocked = cpu_bn_fwd_train_blocked;
    be->bn_fwd_eval_blocked = cpu_bn_fwd_eval_blocked;
    be->bn_bwd_blocked = cpu_bn_bwd_blocked;
}
