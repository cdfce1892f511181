// bottleneck.c — the bottleneck block layer. Saved layout per sample (Ei = inner x input
// resolution, Em = inner x output resolution, E = 4 planes x output resolution):
//   t1 conv1 out (Ei) | r1 relu(bn1(t1)) (Ei) | t2 conv2 out (Em) | r2 relu(bn2(t2)) (Em) |
//   t3 conv3 out (E) | [s1 shortcut conv out (E)]
// followed by the batch norms' statistics. As in the basic block, bn3's output is formed in y
// (the shortcut is added and the ReLU applied in place) and the shortcut BN's output lives in the
// scratch only; batch-norm backward reads its input, never its output. Blocked (as the basic
// block, layers.h): everything between x and y in the convolutions' channel-blocked layout,
// bn3's output in the scratch (second half) and y formed from it by one reorder.
#include "bottleneck.h"
#include <stdio.h>
#include "check.h"

typedef struct bneck_priv {
    hpff_layer *conv1, *bn1, *conv2, *bn2, *conv3, *bn3, *sc_conv, *sc_bn;   // sc_* NULL: identity
    size_t ei, em, e;                                                      // per-sample sizes above
    int block;                                                             // 0: NCHW inside
} bneck_priv;

typedef struct bneck_views {
    float *t1, *r1, *t2, *r2, *t3, *s1;     // per-batch regions of `saved`
    float *st1, *st2, *st3, *st4;           // BN statistics (bn1, bn2, bn3, shortcut bn)
} bneck_views;

static bneck_views views(const hpff_layer *L, const bneck_priv *p, int n, const float *saved) {
    bneck_views v;
    size_t N = (size_t)n;
    v.t1 = (float *)saved;
    v.r1 = v.t1 + N * p->ei;
    v.t2 = v.r1 + N * p->ei;
    v.r2 = v.t2 + N * p->em;
    v.t3 = v.r2 + N * p->em;
    v.s1 = v.t3 + N * p->e;
    v.st1 = (float *)saved + N * L->saved_per_sample;
    v.st2 = v.st1 + p->bn1->saved_fixed;
    v.st3 = v.st2 + p->bn2->saved_fixed;
    v.st4 = v.st3 + p->bn3->saved_fixed;
    return v;
}

static void bneck_forward(hpff_layer *L, hpff_exec *ex, int n, const float *x, float *y, float *saved) {
    bneck_priv *p = L->priv;
    bneck_views v = views(L, p, n, saved);
    size_t E = (size_t)n * p->e, half = L->scratch_per_sample / 2 * (size_t)n;
    HPFF_CHECK(ex->scratch_floats >= (p->block ? 2 * half : p->sc_conv ? E : 0), "block %s: scratch too small",
               L->name);
    float *u = p->block ? ex->scratch + half : y;   // bn3's output
    p->conv1->ops->forward(p->conv1, ex, n, x, v.t1, NULL);
    p->bn1->ops->forward(p->bn1, ex, n, v.t1, v.r1, v.st1);   // with its ReLU (fused at creation)
    p->conv2->ops->forward(p->conv2, ex, n, v.r1, v.t2, NULL);
    p->bn2->ops->forward(p->bn2, ex, n, v.t2, v.r2, v.st2);
    p->conv3->ops->forward(p->conv3, ex, n, v.r2, v.t3, NULL);
    p->bn3->ops->forward(p->bn3, ex, n, v.t3, u, v.st3);
    const float *sc = x;
    if (p->sc_conv) {
        p->sc_conv->ops->forward(p->sc_conv, ex, n, x, v.s1, NULL);
        p->sc_bn->ops->forward(p->sc_bn, ex, n, v.s1, ex->scratch, v.st4);   // forward: scratch is free
        sc = ex->scratch;
    }
    hpff_block_sum_out(ex, p->block, n, L->out, u, sc, p->sc_conv != NULL, y);
}

// Two scratch buffers of max(E, Ei, Em) floats per sample: the shortcut branch finishes first
// (its share of dx written with beta), then the main branch ping-pongs A and B down to conv1,
// whose data gradient adds onto dx.
static void bneck_backward(hpff_layer *L, hpff_exec *ex, int n, const float *x, const float *y,
                           const float *saved, const float *dy, float *dx, float beta, int param_grads) {
    bneck_priv *p = L->priv;
    bneck_views v = views(L, p, n, saved);
    size_t E = (size_t)n * p->e, half = L->scratch_per_sample / 2 * (size_t)n;
    HPFF_CHECK(ex->scratch_floats >= 2 * half, "block %s: scratch too small", L->name);
    HPFF_CHECK(beta == 0.f || beta == 1.f, "block %s: beta %g (the data-gradient contract is 0 or 1)", L->name, beta);
    float *A = ex->scratch, *B = A + half;
    hpff_block_sum_back(ex, p->block, n, L->out, y, dy, A);   // grad at the sum
    if (p->sc_conv) {
        p->sc_bn->ops->backward(p->sc_bn, ex, n, v.s1, NULL, v.st4, A, B, 0.f, param_grads);
        p->sc_conv->ops->backward(p->sc_conv, ex, n, x, v.s1, NULL, B, dx, beta, param_grads);
    } else if (dx) {
        ex->be->relu_bwd(ex->be, dx, y, dy, E, beta);   // the identity's share: beta*dx + A, in NCHW
    }
    p->bn3->ops->backward(p->bn3, ex, n, v.t3, NULL, v.st3, A, B, 0.f, param_grads);
    p->conv3->ops->backward(p->conv3, ex, n, v.r2, v.t3, NULL, B, A, 0.f, param_grads);
    p->bn2->ops->backward(p->bn2, ex, n, v.t2, v.r2, v.st2, A, B, 0.f, param_grads);
    p->conv2->ops->backward(p->conv2, ex, n, v.r1, v.t2, NULL, B, A, 0.f, param_grads);
    p->bn1->ops->backward(p->bn1, ex, n, v.t1, v.r1, v.st1, A, B, 0.f, param_grads);
    p->conv1->ops->backward(p->conv1, ex, n, x, v.t1, NULL, B, dx, 1.f, param_grads);   // dx holds the shortcut's
}

static void bneck_destroy(hpff_layer *L) {
    bneck_priv *p = L->priv;
    hpff_layer *ls[] = {p->conv1, p->bn1, p->conv2, p->bn2, p->conv3, p->bn3, p->sc_conv, p->sc_bn};
    for (size_t i = 0; i < sizeof ls / sizeof ls[0]; i++) hpff_layer_free(ls[i]);
}

static const hpff_layer_ops bneck_ops = {"bottleneck", bneck_forward, bneck_backward, bneck_destroy};

static size_t zmax(size_t a, size_t b) { return a > b ? a : b; }

static hpff_layer *child_conv(hpff_build *b, const char *name, const char *part, hpff_shape in, int c_out,
                              int k, int stride, int groups) {
    char tn[96];
    snprintf(tn, sizeof tn, "%s.%s", name, part);
    hpff_conv_params c = hpff_conv3(c_out, k, stride, k / 2);
    c.groups = groups;
    return hpff_conv_create(b, tn, in, &c);
}

static hpff_layer *child_bn(hpff_build *b, const char *name, const char *part, hpff_shape in, int fused_relu) {
    char tn[96];
    snprintf(tn, sizeof tn, "%s.%s", name, part);
    hpff_layer *L = hpff_bn_create(b, tn, in);
    L->fused_relu = fused_relu;   // relu(bn(t)) in one op; its backward masks by the output
    return L;
}

hpff_layer *hpff_bottleneck_create(hpff_build *b, const char *name, hpff_shape in, const hpff_bottleneck_params *bp) {
    int inner = bp->planes * bp->width_per_group / 64 * bp->groups, c_out = 4 * bp->planes;
    HPFF_CHECK(inner > 0, "block %s: no inner channels (planes %d, width per group %d)", name, bp->planes,
               bp->width_per_group);
    HPFF_CHECK(bp->projection || (bp->stride == 1 && in.c == c_out), "block %s: an identity shortcut needs "
               "stride 1 and %d input channels (got %d, stride %d)", name, c_out, in.c, bp->stride);
    bneck_priv t = {0};
    t.conv1 = child_conv(b, name, "conv1", in, inner, 1, 1, 1);
    t.bn1 = child_bn(b, name, "bn1", t.conv1->out, 1);
    t.conv2 = child_conv(b, name, "conv2", t.conv1->out, inner, 3, bp->stride, bp->groups);
    t.bn2 = child_bn(b, name, "bn2", t.conv2->out, 1);
    t.conv3 = child_conv(b, name, "conv3", t.conv2->out, c_out, 1, 1, 1);
    t.bn3 = child_bn(b, name, "bn3", t.conv3->out, 0);
    hpff_shape out = t.conv3->out;
    if (bp->projection) {
        t.sc_conv = child_conv(b, name, "downsample.0", in, c_out, 1, bp->stride, 1);
        t.sc_bn = child_bn(b, name, "downsample.1", out, 0);
    }
    hpff_layer *prod[] = {t.conv1, t.conv2, t.conv3, t.sc_conv}, *cons[] = {t.conv2, t.conv3};
    hpff_layer *bns[] = {t.bn1, t.bn2, t.bn3, t.sc_bn};
    t.block = hpff_block_link(prod, 4, cons, 2, bns, 4);
    t.ei = hpff_shape_numel(t.conv1->out);
    t.em = hpff_shape_numel(t.conv2->out);
    t.e = hpff_shape_numel(out);
    hpff_layer *L = hpff_xcalloc(1, sizeof *L);
    L->ops = &bneck_ops;
    L->priv = hpff_xcalloc(1, sizeof t);
    *(bneck_priv *)L->priv = t;
    L->in = in;
    L->out = out;
    L->blocked = t.block;
    snprintf(L->name, sizeof L->name, "%s", name);
    L->saved_per_sample = 2 * t.ei + 2 * t.em + (bp->projection ? 2 : 1) * t.e;
    L->saved_fixed = t.bn1->saved_fixed + t.bn2->saved_fixed + t.bn3->saved_fixed +
                     (bp->projection ? t.sc_bn->saved_fixed : 0);
    L->scratch_per_sample = 2 * zmax(t.e, zmax(t.ei, t.em));
    L->reads_y = 1;   // the ReLU at the sum
    hpff_layer *convs[] = {t.conv1, t.conv2, t.conv3, t.sc_conv};
    for (int i = 0; i < 4; i++)
        if (convs[i]) {
            L->ws_bytes = zmax(L->ws_bytes, convs[i]->ws_bytes);
            L->flops_per_sample += convs[i]->flops_per_sample;
        }
    L->flops_per_sample += 2 * (t.ei + t.em) + 6 * t.e;
    return L;
}
