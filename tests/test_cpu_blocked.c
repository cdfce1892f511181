// test_cpu_blocked.c — the CPU backend's channel-blocked layouts (backend.h: conv_block,
// bn_*_blocked, reorder) and the blocked chains of layers.h:
//  - reorder against an element-by-element reference, bit for bit: every layout pair, the fused
//    mask / sum (also in place) / ReLU, rows and channel groups short of a tile, 1 and 2 threads;
//  - blocked batch norm (train with the running statistics, eval, backward with and without the
//    fused ReLU's mask, beta 0 / 1, parameter gradients only, data gradient only; blocks 8 and
//    16) bit for bit equal to the NCHW batch norm at 1, 2 and 3 threads (all three work splits);
//  - with oneDNN: convolutions with blocked descriptors (bias, beta 1) bit for bit the NCHW ones,
//    and through the im2col fallback within tolerance; residual blocks (basic and bottleneck,
//    identity and projection, grouped) and a head's conv -> BN -> ReLU -> conv chain built
//    blocked: bit for bit the oneDNN NCHW path (backend.cpu_conv = dnnl_nchw) and within
//    tolerance of the im2col reference, forward (train, eval, a smaller batch) and backward;
//  - with oneDNN: whole training steps (forward, backward, SGD update; BP, DGL+HPFF and
//    InfoPro+HPFF on a width-16 ResNet-8, full and smaller batches) on the blocked chains end with
//    the parameters, momentum, BN state and loss of the NCHW path, bit for bit, and the blocked
//    ops ran (counted through the profiling wrapper).
#include <math.h>
#include <string.h>
#include "backend.h"
#include "backend_prof.h"
#include "bottleneck.h"
#include "layers.h"
#include "model.h"
#include "seq.h"
#include "step_fixture.h"
#include "test_util.h"

static hpff_backend *backend(const char *path, int threads) {
    hpff_backend *be = hpff_backend_cpu_create();
    TEST_CHECK(hpff_backend_cpu_set_conv(be, path), "set_conv %s", path);
    be->set_threads(be, threads);
    return be;
}

// Element (i, ch, s) of an (n, c, hw) tensor in layout `block` (0: NCHW), written out anew.
static size_t at(int block, int c, int hw, int i, int ch, int s) {
    if (!block) return ((size_t)i * c + ch) * hw + s;
    return (((size_t)i * (c / block) + ch / block) * hw + s) * block + ch % block;
}

static float *relayout(const float *x, int n, int c, int hw, int from, int to) {
    size_t m = (size_t)n * c * hw;
    float *y = malloc(m * sizeof(float));
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (int s = 0; s < hw; s++) y[at(to, c, hw, i, ch, s)] = x[at(from, c, hw, i, ch, s)];
    return y;
}

static float *rnd(size_t n, float lo, float hi, uint64_t seed) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    test_fill_uniform(p, n, lo, hi, seed);
    return p;
}

// Bit for bit, printing the first difference.
static void same_bits(const char *what, const float *got, const float *want, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(&got[i], &want[i], sizeof(float)) != 0) {
            TEST_CHECK(0, "%s: element %zu of %zu is %.9g, expected %.9g", what, i, n, got[i], want[i]);
            return;
        }
    TEST_CHECK(1, "%s", what);
}

// ---------------------------------------------------------------- reorder

typedef struct reorder_case { int n, c, hw, from, to, mask, add, relu; } reorder_case;

static void check_reorder(hpff_backend *be, const reorder_case *k, int in_place, uint64_t seed) {
    size_t m = (size_t)k->n * k->c * k->hw;
    float *x = rnd(m, -1, 1, seed), *mk = rnd(m, -1, 1, seed + 1), *ad = rnd(m, -1, 1, seed + 2);
    float *want = malloc(m * sizeof(float)), *y = test_guarded_alloc(m);
    for (int i = 0; i < k->n; i++)
        for (int ch = 0; ch < k->c; ch++)
            for (int s = 0; s < k->hw; s++) {
                size_t a = at(k->from, k->c, k->hw, i, ch, s), b = at(k->to, k->c, k->hw, i, ch, s);
                float v = k->mask ? (mk[a] > 0.0f ? x[a] : 0.0f) : x[a];
                if (k->add) v = v + ad[b];
                want[b] = k->relu && v < 0.0f ? 0.0f : v;
            }
    if (in_place) memcpy(y, ad, m * sizeof(float));
    else
        for (size_t e = 0; e < m; e++) y[e] = NAN;
    be->reorder(be, k->n, k->c, k->hw, k->from, x, k->mask ? mk : NULL, k->to, y,
                k->add ? (in_place ? y : ad) : NULL, k->relu);
    char what[160];
    snprintf(what, sizeof what, "reorder n%d c%d hw%d %d->%d mask %d add %d%s relu %d", k->n, k->c, k->hw, k->from,
             k->to, k->mask, k->add, in_place ? " (in place)" : "", k->relu);
    same_bits(what, y, want, m);
    test_guard_ok(what, y, m);
    free(x); free(mk); free(ad); free(want);
    free(y - TEST_GUARD);
}

static void test_reorders(void) {
    static const reorder_case cases[] = {
        {3, 16, 64, 0, 16, 0, 0, 0},  {3, 16, 64, 16, 0, 0, 0, 0},  {2, 32, 1024, 0, 16, 1, 0, 0},
        {2, 32, 1024, 16, 0, 0, 1, 1}, {4, 48, 49, 0, 16, 1, 0, 0},  {4, 48, 49, 16, 0, 0, 1, 1},
        {3, 16, 4, 16, 0, 1, 1, 1},   {5, 8, 36, 0, 8, 1, 0, 0},    {5, 8, 36, 8, 0, 0, 1, 1},
        {2, 24, 196, 0, 8, 1, 1, 0},  {2, 24, 196, 8, 0, 1, 0, 1},  {2, 32, 64, 0, 8, 0, 1, 1},
        {2, 32, 64, 8, 0, 1, 1, 0},   {2, 32, 20, 8, 16, 1, 1, 1},  {2, 32, 20, 16, 8, 0, 0, 0},
        {3, 32, 17, 16, 16, 1, 1, 1}, {3, 16, 33, 0, 0, 1, 1, 1},
    };
    for (int t = 1; t <= 2; t++) {
        hpff_backend *be = backend("auto", t);
        TEST_CHECK(be->reorder != NULL, "the CPU backend has no reorder");
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            check_reorder(be, &cases[i], 0, 10 + 7 * i);
            if (cases[i].add) check_reorder(be, &cases[i], 1, 20 + 7 * i);
        }
        hpff_backend_destroy(be);
    }
}

// ---------------------------------------------------------------- batch norm

typedef struct bn_case { int n, c, hw, relu; } bn_case;

// The NCHW ops' outputs and the blocked ops' (brought back to NCHW) for one case and block.
static void check_bn(hpff_backend *be, int threads, int B, const bn_case *k, uint64_t seed) {
    const int n = k->n, c = k->c, hw = k->hw;
    const size_t m = (size_t)n * c * hw, C = (size_t)c;
    char tag[128], what[192];
    snprintf(tag, sizeof tag, "bn block %d n%d c%d hw%d relu %d threads %d", B, n, c, hw, k->relu, threads);
#define WHAT(s) (snprintf(what, sizeof what, "%s: %s", tag, s), what)
    float *x = rnd(m, 1.5f, 3.5f, seed), *g = rnd(C, 0.5f, 1.5f, seed + 1), *b = rnd(C, -0.5f, 0.5f, seed + 2);
    float *rm1 = rnd(C, -1, 1, seed + 3), *rv1 = rnd(C, 0.5f, 2, seed + 4), *dy = rnd(m, -1, 1, seed + 5);
    float *rm2 = malloc(C * sizeof(float)), *rv2 = malloc(C * sizeof(float));
    memcpy(rm2, rm1, C * sizeof(float));
    memcpy(rv2, rv1, C * sizeof(float));
    float *y1 = malloc(m * sizeof(float)), *yb = malloc(m * sizeof(float)), *xb = relayout(x, n, c, hw, 0, B);
    float *sm1 = malloc(C * sizeof(float)), *si1 = malloc(C * sizeof(float)), *sm2 = malloc(C * sizeof(float)),
          *si2 = malloc(C * sizeof(float));
    be->bn_fwd_train(be, n, c, hw, x, g, b, y1, rm1, rv1, 0.1f, 1e-5f, sm1, si1, k->relu);
    be->bn_fwd_train_blocked(be, B, n, c, hw, xb, g, b, yb, rm2, rv2, 0.1f, 1e-5f, sm2, si2, k->relu);
    float *y2 = relayout(yb, n, c, hw, B, 0);
    same_bits(WHAT("train y"), y2, y1, m);
    same_bits(WHAT("save_mean"), sm2, sm1, C);
    same_bits(WHAT("save_invstd"), si2, si1, C);
    same_bits(WHAT("running_mean"), rm2, rm1, C);
    same_bits(WHAT("running_var"), rv2, rv1, C);
    free(y2);
    be->bn_fwd_eval(be, n, c, hw, x, g, b, y1, rm1, rv1, 1e-5f, k->relu);
    be->bn_fwd_eval_blocked(be, B, n, c, hw, xb, g, b, yb, rm1, rv1, 1e-5f, k->relu);
    y2 = relayout(yb, n, c, hw, B, 0);
    same_bits(WHAT("eval y"), y2, y1, m);
    free(y2);
    // backward: y1 is the forward output again (the mask of a fused ReLU)
    be->bn_fwd_train(be, n, c, hw, x, g, b, y1, NULL, NULL, 0.1f, 1e-5f, sm1, si1, k->relu);
    float *mb = relayout(y1, n, c, hw, 0, B), *dyb = relayout(dy, n, c, hw, 0, B);
    for (int variant = 0; variant < 4; variant++) {   // beta 0 + grads; beta 1 + grads; grads only; dx only
        float beta = variant == 1 ? 1.0f : 0.0f;
        int want_dx = variant != 2, want_g = variant != 3;
        float *dx1 = rnd(m, -1, 1, seed + 6), *dg1 = rnd(C, -1, 1, seed + 7), *db1 = rnd(C, -1, 1, seed + 8);
        float *dx2 = relayout(dx1, n, c, hw, 0, B), *dg2 = malloc(C * sizeof(float)), *db2 = malloc(C * sizeof(float));
        memcpy(dg2, dg1, C * sizeof(float));
        memcpy(db2, db1, C * sizeof(float));
        be->bn_bwd(be, n, c, hw, x, dy, g, sm1, si1, k->relu ? y1 : NULL, want_dx ? dx1 : NULL, beta,
                   want_g ? dg1 : NULL, want_g ? db1 : NULL);
        be->bn_bwd_blocked(be, B, n, c, hw, xb, dyb, g, sm1, si1, k->relu ? mb : NULL, want_dx ? dx2 : NULL, beta,
                           want_g ? dg2 : NULL, want_g ? db2 : NULL);
        float *dx3 = relayout(dx2, n, c, hw, B, 0);
        snprintf(what, sizeof what, "%s: backward variant %d dx", tag, variant);
        same_bits(what, dx3, dx1, m);
        snprintf(what, sizeof what, "%s: backward variant %d dgamma", tag, variant);
        same_bits(what, dg2, dg1, C);
        snprintf(what, sizeof what, "%s: backward variant %d dbeta", tag, variant);
        same_bits(what, db2, db1, C);
        free(dx1); free(dg1); free(db1); free(dx2); free(dg2); free(db2); free(dx3);
    }
#undef WHAT
    free(x); free(g); free(b); free(rm1); free(rv1); free(rm2); free(rv2); free(dy); free(y1); free(yb); free(xb);
    free(sm1); free(si1); free(sm2); free(si2); free(mb); free(dyb);
}

static void test_bn(void) {
    static const bn_case cases[] = {
        {16, 16, 1024, 1}, {37, 16, 64, 0}, {3, 32, 49, 1}, {7, 48, 196, 0},
        {300, 16, 4, 1},   {5, 64, 1, 0},   {2, 16, 20, 1}, {9, 32, 256, 1},
        // cpu_bn.c's small maps (hw <= 16, channels side by side in chunks of 64): lanes
        // flushed mid-channel, more than one chunk, a short last chunk
        {37, 16, 16, 1},   {20, 80, 16, 0}, {130, 80, 9, 1}, {17, 96, 1, 1}, {33, 144, 4, 0},
        // fewer blocks than threads, sums split by flush (cpu_bn_blocked.c): more than one
        // round of 256 flushes, the last one partial
        {81, 16, 1024, 1},
    };
    for (int t = 1; t <= 3; t++) {
        hpff_backend *be = backend("auto", t);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            for (int B = 8; B <= 16; B += 8) check_bn(be, t, B, &cases[i], 100 + 13 * i);
        hpff_backend_destroy(be);
    }
}

// ---------------------------------------------------------------- resize

// Blocked bilinear resize (forward; backward with beta 0 and 1) bit for bit the NCHW one.
static void check_resize(hpff_backend *be, int B, int n, int c, int hi, int wi, int ho, int wo, uint64_t seed) {
    size_t mi = (size_t)n * c * hi * wi, mo = (size_t)n * c * ho * wo;
    float *x = rnd(mi, -1, 1, seed), *dy = rnd(mo, -1, 1, seed + 1), *prior = rnd(mi, -1, 1, seed + 2);
    float *y = malloc(mo * 4), *yb = malloc(mo * 4), *xb = relayout(x, n, c, hi * wi, 0, B);
    float *dyb = relayout(dy, n, c, ho * wo, 0, B);
    char what[128];
    be->resize_bilinear_fwd(be, n, c, hi, wi, ho, wo, x, y);
    be->resize_bilinear_fwd_blocked(be, B, n, c, hi, wi, ho, wo, xb, yb);
    float *y2 = relayout(yb, n, c, ho * wo, B, 0);
    snprintf(what, sizeof what, "resize block %d n%d c%d %dx%d -> %dx%d forward", B, n, c, hi, wi, ho, wo);
    same_bits(what, y2, y, mo);
    for (int beta = 0; beta <= 1; beta++) {
        float *dx = malloc(mi * 4), *dxb = relayout(prior, n, c, hi * wi, 0, B);
        memcpy(dx, prior, mi * 4);
        be->resize_bilinear_bwd(be, n, c, hi, wi, ho, wo, dy, dx, (float)beta);
        be->resize_bilinear_bwd_blocked(be, B, n, c, hi, wi, ho, wo, dyb, dxb, (float)beta);
        float *dx2 = relayout(dxb, n, c, hi * wi, B, 0);
        snprintf(what, sizeof what, "resize block %d n%d c%d %dx%d -> %dx%d backward beta %d", B, n, c, hi, wi, ho,
                 wo, beta);
        same_bits(what, dx2, dx, mi);
        free(dx); free(dxb); free(dx2);
    }
    free(x); free(dy); free(prior); free(y); free(yb); free(xb); free(dyb); free(y2);
}

static void test_resize(void) {
    static const int cases[][6] = {{3, 32, 8, 8, 16, 16}, {2, 16, 4, 4, 16, 16}, {2, 48, 7, 5, 13, 9},
                                   {2, 16, 9, 9, 4, 6},   {1, 32, 1, 3, 5, 5},   {2, 16, 16, 16, 16, 16},
                                   {2, 32, 2, 2, 16, 16}, {1, 16, 3, 1, 7, 4}};
    for (int t = 1; t <= 2; t++) {
        hpff_backend *be = backend("auto", t);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            for (int B = 8; B <= 16; B += 8) {
                const int *k = cases[i];
                check_resize(be, B, k[0], k[1], k[2], k[3], k[4], k[5], 300 + 11 * i);
            }
        hpff_backend_destroy(be);
    }
}

// ---------------------------------------------------------------- convolutions (oneDNN)

// Scale-relative closeness for the im2col reference: |got - want| <= tol*(max|want| + |want|).
static void close_rel(const char *what, const float *got, const float *want, size_t n, double tol) {
    double amax = 0;
    for (size_t i = 0; i < n; i++) amax = fabs(want[i]) > amax ? fabs(want[i]) : amax;
    test_close(what, got, want, n, tol * (amax > 0 ? amax : 1), tol);
}

typedef struct conv_io { float *y, *dx0, *dx1, *dw, *db; } conv_io;

// Every direction of d (with bias) on inputs in d's layouts; outputs in them too.
static conv_io conv_all(hpff_backend *be, const hpff_conv_desc *d, const float *x, const float *w, const float *b,
                        const float *dy, const float *dx_prior) {
    size_t nx = (size_t)d->n * d->c_in * d->h_in * d->w_in, ny = (size_t)d->n * d->c_out * d->h_out * d->w_out;
    size_t nw = (size_t)d->c_out * d->c_in * d->kh * d->kw;
    conv_io o = {malloc(ny * 4), malloc(nx * 4), malloc(nx * 4), calloc(nw, 4), calloc((size_t)d->c_out, 4)};
    memcpy(o.dx1, dx_prior, nx * 4);
    void *ws = malloc(be->conv_workspace(be, d) + 64);
    be->conv_fwd(be, d, x, w, b, o.y, ws);
    be->conv_bwd_filter(be, d, x, dy, o.dw, o.db, ws);
    be->conv_bwd_data(be, d, w, dy, o.dx0, 0.0f, ws);
    be->conv_bwd_data(be, d, w, dy, o.dx1, 1.0f, ws);
    free(ws);
    return o;
}

static void conv_io_free(conv_io *o) { free(o->y); free(o->dx0); free(o->dx1); free(o->dw); free(o->db); }

static void test_conv(int threads) {
    hpff_backend *be = backend("dnnl", threads);
    hpff_conv_desc d = {6, 16, 8, 8, 32, 8, 8, 3, 3, 1, 1, 1, 1, 1, 0, 0};
    int bx = be->conv_block(be, &d, 0), by = be->conv_block(be, &d, 1);
    TEST_CHECK(bx > 0 && by > 0, "oneDNN picked no channel-blocked layout for 16 -> 32 3x3 at 8x8 (x %d, y %d)", bx, by);
    if (!(bx > 0 && by > 0)) {
        hpff_backend_destroy(be);
        return;
    }
    const int hw = 64;
    size_t nx = 6 * 16 * 64, ny = 6 * 32 * 64, nw = 32 * 16 * 9;
    float *x = rnd(nx, -1, 1, 1), *w = rnd(nw, -1, 1, 2), *b = rnd(32, -1, 1, 3), *dy = rnd(ny, -1, 1, 4);
    float *dxp = rnd(nx, -1, 1, 5);
    conv_io r = conv_all(be, &d, x, w, b, dy, dxp);
    hpff_conv_desc k = d;
    k.x_block = bx;
    k.y_block = by;
    float *xb = relayout(x, 6, 16, hw, 0, bx), *dyb = relayout(dy, 6, 32, hw, 0, by), *dxpb = relayout(dxp, 6, 16, hw, 0, bx);
    for (int path = 0; path < 2; path++) {   // oneDNN on the blocked tensors, then the im2col fallback
        if (path == 1) TEST_CHECK(hpff_backend_cpu_set_conv(be, "im2col"), "switch to im2col");
        conv_io o = conv_all(be, &k, xb, w, b, dyb, dxpb);
        float *y = relayout(o.y, 6, 32, hw, by, 0), *dx0 = relayout(o.dx0, 6, 16, hw, bx, 0);
        float *dx1 = relayout(o.dx1, 6, 16, hw, bx, 0);
        char what[96];
        const char *names[5] = {"y", "dx (beta 0)", "dx (beta 1)", "dw", "db"};
        const float *got[5] = {y, dx0, dx1, o.dw, o.db}, *want[5] = {r.y, r.dx0, r.dx1, r.dw, r.db};
        size_t len[5] = {ny, nx, nx, nw, 32};
        for (int i = 0; i < 5; i++) {
            snprintf(what, sizeof what, "blocked conv %s, %s, %d threads", names[i], path ? "im2col fallback" : "oneDNN",
                     threads);
            if (path == 0) same_bits(what, got[i], want[i], len[i]);
            else close_rel(what, got[i], want[i], len[i], 1e-5);
        }
        free(y); free(dx0); free(dx1);
        conv_io_free(&o);
    }
    conv_io_free(&r);
    free(x); free(w); free(b); free(dy); free(dxp); free(xb); free(dyb); free(dxpb);
    hpff_backend_destroy(be);
}

// ---------------------------------------------------------------- networks (oneDNN)

enum { NET_BASIC, NET_BASIC_PROJ, NET_BNECK, NET_BNECK_PROJ, NET_HEAD, NET_DECODER, N_NETS };
static const char *const k_net_name[N_NETS] = {"basic block", "basic block (projection)", "bottleneck",
                                                "bottleneck (projection, groups 2)", "head conv-BN-ReLU chain",
                                                "decoder resize-conv-BN-ReLU-conv"};
static const hpff_shape k_net_in[N_NETS] = {{16, 8, 8}, {16, 8, 8}, {64, 6, 6}, {32, 8, 8}, {32, 6, 6}, {32, 4, 4}};

static void push_cbr(hpff_build *b, hpff_seq *s, const char *name, int c, int k, int relu) {
    hpff_conv_params cp = hpff_conv3(c, k, 1, k / 2);
    char nm[32];
    snprintf(nm, sizeof nm, "%s.conv", name);
    hpff_seq_push(s, hpff_conv_create(b, nm, s->out, &cp));
    snprintf(nm, sizeof nm, "%s.bn", name);
    hpff_seq_push(s, hpff_bn_create(b, nm, s->out));
    if (relu) hpff_seq_push(s, hpff_relu_create(s->out));
}

static void net_build(hpff_build *b, int kind, hpff_seq *s) {
    hpff_seq_init(s, k_net_in[kind]);
    hpff_bottleneck_params bi = {16, 1, 1, 64, 0}, bp = {16, 2, 2, 64, 1};   // 16 channels per group: oneDNN keeps nChw16c
    switch (kind) {
    case NET_BASIC: hpff_seq_push(s, hpff_basic_block_create(b, "blk", s->out, 16, 1)); break;
    case NET_BASIC_PROJ: hpff_seq_push(s, hpff_basic_block_create(b, "blk", s->out, 32, 2)); break;
    case NET_BNECK: hpff_seq_push(s, hpff_bottleneck_create(b, "blk", s->out, &bi)); break;
    case NET_BNECK_PROJ: hpff_seq_push(s, hpff_bottleneck_create(b, "blk", s->out, &bp)); break;
    case NET_DECODER: {
        hpff_seq_push(s, hpff_resize_create(s->out, 8, 8));
        push_cbr(b, s, "d1", 16, 3, 1);
        hpff_conv_params cp = hpff_conv3(16, 3, 1, 1);
        cp.bias = 1;
        hpff_seq_push(s, hpff_conv_create(b, "d2", s->out, &cp));
        hpff_seq_push(s, hpff_sigmoid_create(s->out));
        break;
    }
    default:
        push_cbr(b, s, "h1", 32, 1, 1);
        push_cbr(b, s, "h2", 32, 3, 1);
        push_cbr(b, s, "h3", 32, 1, 0);
    }
    hpff_seq_plan(s, b->n_max);
}

// One network on one backend: forward (train) and backward at batch n, then eval forward.
typedef struct net_run { float *y, *dx, *grads, *state, *y_eval; size_t ny, nx, np, ns; int blocked; } net_run;

static net_run net_once(const char *path, int threads, int kind, int n_max, int n) {
    hpff_backend *be = backend(path, threads);
    hpff_registry params = {0}, state = {0};
    hpff_build b = {be, &params, &state, 0, n_max, 0.1f, 0.f};
    hpff_seq s;
    net_build(&b, kind, &s);
    net_run r = {0};
    for (int i = 0; i < s.n; i++) r.blocked = r.blocked > s.layers[i]->blocked ? r.blocked : s.layers[i]->blocked;
    hpff_exec ex = {be, calloc(params.total + 16, 4), calloc(params.total + 16, 4), calloc(state.total + 16, 4),
                    NULL, s.ws_bytes, calloc(s.scratch_floats + 16, 4), s.scratch_floats, 1};
    ex.ws = malloc(s.ws_bytes + 64);
    hpff_registry_init_values(&params, 3, ex.params);
    hpff_registry_init_values(&state, 3, ex.state);
    for (int i = 0; i < params.n; i++)   // non-trivial BN affine parameters
        if (strstr(params.t[i].name, "bn") && params.t[i].init != HPFF_INIT_NORMAL)
            test_fill_uniform(ex.params + params.t[i].off, params.t[i].count, 0.5f, 1.5f, 7 + i);
    r.nx = (size_t)n * hpff_shape_numel(s.in);
    r.ny = (size_t)n * hpff_shape_numel(s.out);
    r.np = params.total;
    r.ns = state.total;
    float *x = rnd(r.nx, -1.5f, 1.5f, 11), *dy = rnd(r.ny, -1, 1, 12), *slot = calloc(s.slot_floats + 16, 4);
    float *g = calloc(hpff_seq_grad_pair(&s) + 16, 4);
    r.dx = rnd(r.nx, -1, 1, 13);   // beta 1: the block adds onto it
    r.y = malloc(r.ny * 4);
    memcpy(r.y, hpff_seq_forward(&s, &ex, n, x, slot), r.ny * 4);
    hpff_seq_backward(&s, &ex, n, x, slot, dy, r.dx, 1.0f, 1, g, hpff_seq_grad_g1(&s, g));
    ex.train = 0;
    r.y_eval = malloc(r.ny * 4);
    memcpy(r.y_eval, hpff_seq_forward(&s, &ex, n, x, slot), r.ny * 4);
    r.grads = ex.grads;
    r.state = ex.state;
    free(ex.params); free(ex.ws); free(ex.scratch); free(x); free(dy); free(slot); free(g);
    hpff_seq_free(&s);
    hpff_registry_free(&params);
    hpff_registry_free(&state);
    hpff_backend_destroy(be);
    return r;
}

static void net_free(net_run *r) { free(r->y); free(r->dx); free(r->grads); free(r->state); free(r->y_eval); }

static void compare(const char *tag, const net_run *got, const net_run *want, int exact) {
    const char *names[5] = {"y", "dx", "parameter gradients", "running statistics", "eval y"};
    const float *g[5] = {got->y, got->dx, got->grads, got->state, got->y_eval};
    const float *w[5] = {want->y, want->dx, want->grads, want->state, want->y_eval};
    size_t len[5] = {want->ny, want->nx, want->np, want->ns, want->ny};
    char what[192];
    for (int i = 0; i < 5; i++) {
        snprintf(what, sizeof what, "%s: %s", tag, names[i]);
        if (exact) same_bits(what, g[i], w[i], len[i]);
        else close_rel(what, g[i], w[i], len[i], 2e-4);
    }
}

static void test_nets(int threads) {
    for (int kind = 0; kind < N_NETS; kind++)
        for (int n = 6; n >= 4; n -= 2) {   // the planned batch, and a smaller one
            net_run bl = net_once("dnnl", threads, kind, 6, n), nc = net_once("dnnl_nchw", threads, kind, 6, n);
            net_run ref = net_once("im2col", threads, kind, 6, n);
            char tag[160];
            snprintf(tag, sizeof tag, "%s, batch %d of 6, %d threads", k_net_name[kind], n, threads);
            TEST_CHECK(bl.blocked > 0 && nc.blocked == 0 && ref.blocked == 0,
                       "%s: blocked layouts %d (dnnl), %d (dnnl_nchw), %d (im2col)", tag, bl.blocked, nc.blocked,
                       ref.blocked);
            if (n == 6) printf("%s: block %d\n", tag, bl.blocked);
            compare(tag, &bl, &nc, 1);
            compare(tag, &bl, &ref, 0);
            net_free(&bl); net_free(&nc); net_free(&ref);
        }
}

// ---------------------------------------------------------------- whole training steps (oneDNN)

typedef struct step_run { float *p, *mom, *st; size_t np, ns; float loss[3]; long reorders, bn_blocked; } step_run;

static long op_calls(const hpff_op_profile *p, const char *name) {
    for (int i = 0; i < p->n_ops; i++)
        if (strcmp(p->op[i].name, name) == 0) return p->op[i].calls;
    return -1;
}

// Three training steps (batches 8, 8 and 6 of a planned 8) of a width-16 ResNet-8 with `method`
// on the CPU backend's convolution path `path`, counted through the profiling wrapper.
static step_run train_steps(const char *path, const char *method, int threads) {
    enum { N = 8 };
    hpff_config cfg;
    stepf_config_small(&cfg, method, 16, N, strcmp(method, "bp") == 0 ? 1 : 3);
    hpff_backend *inner = backend(path, threads), *be = hpff_backend_profiled(inner, 4);
    hpff_shape img = {3, 16, 16};
    stepf_side side;
    stepf_side_init_img(&side, &cfg, be, stepf_config_net(&cfg, img, be), img);
    const hpff_model *md = &side.md;
    size_t xn = (size_t)N * hpff_shape_numel(img);
    float *x = rnd(xn, -2.f, 2.f, 99);
    int32_t y[N];
    for (int i = 0; i < N; i++) y[i] = (i * 3 + 1) % 10;
    step_run r = {0};
    hpff_step_stats stats;
    hpff_op_profile prof, sum = {0};
    for (int k = 0; k < 3; k++) {
        hpff_backend_profiled_step_begin(be);
        hpff_stage_step(&side.st, x, y, k < 2 ? N : 6, 0.05f, &stats);
        hpff_backend_profiled_step_end(be, &prof);
        hpff_op_profile_add(&sum, &prof);
        r.loss[k] = stats.final_loss;
    }
    r.reorders = op_calls(&sum, "reorder");
    r.bn_blocked = op_calls(&sum, "bn_fwd_train_blocked") + op_calls(&sum, "bn_bwd_blocked");
    r.np = md->params.total;
    r.ns = md->state.total;
    r.p = malloc(r.np * 4);
    r.mom = malloc(r.np * 4);
    r.st = malloc((r.ns ? r.ns : 1) * 4);
    be->to_host(be, r.p, md->p, r.np * 4);
    be->to_host(be, r.mom, md->mom, r.np * 4);
    if (r.ns) be->to_host(be, r.st, md->st, r.ns * 4);
    free(x);
    stepf_side_free(&side);
    hpff_backend_destroy(be);
    hpff_backend_destroy(inner);
    return r;
}

static void test_steps(int threads) {
    static const char *const methods[] = {"bp", "dgl", "infopro"};
    for (int i = 0; i < 3; i++) {
        step_run bl = train_steps("dnnl", methods[i], threads), nc = train_steps("dnnl_nchw", methods[i], threads);
        char tag[128], what[192];
        snprintf(tag, sizeof tag, "%s, resnet8 width 16, 3 steps, %d threads", methods[i], threads);
        TEST_CHECK(bl.reorders > 0 && bl.bn_blocked > 0 && nc.reorders == 0 && nc.bn_blocked == 0,
                   "%s: blocked ops ran %ld reorders, %ld blocked BN (dnnl); %ld, %ld (dnnl_nchw)", tag, bl.reorders,
                   bl.bn_blocked, nc.reorders, nc.bn_blocked);
        TEST_CHECK(bl.np == nc.np && bl.ns == nc.ns, "%s: %zu / %zu parameters, %zu / %zu state", tag, bl.np, nc.np,
                   bl.ns, nc.ns);
        snprintf(what, sizeof what, "%s: parameters", tag);
        same_bits(what, bl.p, nc.p, nc.np);
        snprintf(what, sizeof what, "%s: momentum", tag);
        same_bits(what, bl.mom, nc.mom, nc.np);
        snprintf(what, sizeof what, "%s: BN running statistics", tag);
        same_bits(what, bl.st, nc.st, nc.ns);
        snprintf(what, sizeof what, "%s: losses", tag);
        same_bits(what, bl.loss, nc.loss, 3);
        printf("%s: %ld reorders, %ld blocked BN calls; loss %.6f -> %.6f\n", tag, bl.reorders, bl.bn_blocked,
               bl.loss[0], bl.loss[2]);
        free(bl.p); free(bl.mom); free(bl.st); free(nc.p); free(nc.mom); free(nc.st);
    }
}

int main(void) {
    test_reorders();
    test_bn();
    test_resize();
    hpff_backend *be = hpff_backend_cpu_create();
    int dnnl = hpff_backend_cpu_set_conv(be, "dnnl");
    hpff_backend_destroy(be);
    if (!dnnl) printf("no oneDNN in this build: blocked convolutions and networks not tested\n");
    for (int t = 1; t <= 2 && dnnl; t++) {
        test_conv(t);
        test_nets(t);
        test_steps(t);
    }
    return hpff_test_summary("test_cpu_blocked");
}
