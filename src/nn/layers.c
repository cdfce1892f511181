// layers.c — layer types over the backend table. Each type keeps tensor offsets (into the
// rank's arenas) and shapes in its private struct; activations come from the caller.
#include "layers.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

#define PARAM(ex, off) ((ex)->params + (off))
#define GRAD(ex, off) ((ex)->grads + (off))
#define STATE(ex, off) ((ex)->state + (off))

static hpff_layer *layer_new(const hpff_layer_ops *ops, const char *name, hpff_shape in,
                             hpff_shape out, size_t priv_bytes) {
    hpff_layer *L = hpff_xcalloc(1, sizeof *L);
    L->ops = ops;
    L->in = in;
    L->out = out;
    L->priv = priv_bytes ? hpff_xcalloc(1, priv_bytes) : NULL;
    snprintf(L->name, sizeof L->name, "%s", name ? name : ops->kind);
    return L;
}

void hpff_layer_free(hpff_layer *L) {
    if (!L) return;
    if (L->ops->destroy) L->ops->destroy(L);
    free(L->priv);
    free(L);
}

static void joined(char *dst, size_t n, const char *a, const char *b) { snprintf(dst, n, "%s.%s", a, b); }

// ---------------------------------------------------------------- convolution
typedef struct conv_priv {
    hpff_conv_desc d;       // n filled at run time
    size_t w_off, b_off;    // b_off valid when has_bias
    int has_bias;
    hpff_backend *be;       // the backend it was built for (layout queries, workspace re-sizing)
} conv_priv;

static void conv_forward(hpff_layer *L, hpff_exec *ex, int n, const float *x, float *y, float *saved) {
    (void)saved;
    conv_priv *p = L->priv;
    hpff_conv_desc d = p->d;
    d.n = n;
    ex->be->conv_fwd(ex->be, &d, x, PARAM(ex, p->w_off), p->has_bias ? PARAM(ex, p->b_off) : NULL, y, ex->ws);
}

static void conv_backward(hpff_layer *L, hpff_exec *ex, int n, const float *x, const float *y,
                          const float *saved, const float *dy, float *dx, float beta, int param_grads) {
    (void)y; (void)saved;
    conv_priv *p = L->priv;
    hpff_conv_desc d = p->d;
    d.n = n;
    if (param_grads)
        ex->be->conv_bwd_filter(ex->be, &d, x, dy, GRAD(ex, p->w_off), p->has_bias ? GRAD(ex, p->b_off) : NULL, ex->ws);
    if (dx) ex->be->conv_bwd_data(ex->be, &d, PARAM(ex, p->w_off), dy, dx, beta, ex->ws);
}

static const hpff_layer_ops conv_ops = {"conv", conv_forward, conv_backward, NULL};

static int is_kind(const hpff_layer *L, const char *kind) { return L && strcmp(L->ops->kind, kind) == 0; }

int hpff_conv_block(const hpff_layer *L, int tensor) {
    HPFF_CHECK(is_kind(L, "conv"), "hpff_conv_block: layer %s is not a convolution", L ? L->name : "(none)");
    const conv_priv *p = L->priv;
    return p->be->conv_block ? p->be->conv_block(p->be, &p->d, tensor) : 0;
}

void hpff_conv_set_block(hpff_layer *L, int tensor, int block) {
    HPFF_CHECK(is_kind(L, "conv"), "hpff_conv_set_block: layer %s is not a convolution", L ? L->name : "(none)");
    conv_priv *p = L->priv;
    if (tensor) p->d.y_block = block;
    else p->d.x_block = block;
    L->blocked = p->d.x_block > p->d.y_block ? p->d.x_block : p->d.y_block;
    L->ws_bytes = p->be->conv_workspace(p->be, &p->d);
}

hpff_conv_params hpff_conv3(int c_out, int k, int s, int p) {
    hpff_conv_params c = {c_out, k, k, s, s, p, p, 1, 0, HPFF_INIT_NORMAL, 0.f};
    return c;
}

hpff_layer *hpff_conv_create(hpff_build *b, const char *name, hpff_shape in, const hpff_conv_params *cp) {
    int groups = cp->groups > 0 ? cp->groups : 1;
    HPFF_CHECK(in.c % groups == 0 && cp->c_out % groups == 0, "conv %s: channels %d->%d not divisible by groups %d",
               name, in.c, cp->c_out, groups);
    hpff_shape out = {cp->c_out, hpff_out_side(in.h, cp->kh, cp->sh, cp->ph), hpff_out_side(in.w, cp->kw, cp->sw, cp->pw)};
    HPFF_CHECK(out.h > 0 && out.w > 0, "conv %s: input %dx%d too small for kernel %dx%d", name, in.h, in.w, cp->kh, cp->kw);
    hpff_layer *L = layer_new(&conv_ops, name, in, out, sizeof(conv_priv));
    conv_priv *p = L->priv;
    hpff_conv_desc d = {b->n_max, in.c, in.h, in.w, out.c, out.h, out.w, cp->kh, cp->kw, cp->sh, cp->sw, cp->ph, cp->pw, groups, 0, 0};
    p->d = d;
    p->has_bias = cp->bias;
    p->be = b->be;
    char tn[128];
    size_t wcount = (size_t)out.c * (in.c / groups) * cp->kh * cp->kw;
    float wa = cp->w_a > 0 ? cp->w_a : hpff_he_fanout_std(cp->kh, cp->kw, out.c);
    joined(tn, sizeof tn, name, "weight");
    p->w_off = hpff_registry_add(b->params, tn, wcount, cp->w_init, cp->w_init == HPFF_INIT_ZERO ? 0.f : wa, b->group);
    int dims[4] = {out.c, in.c / groups, cp->kh, cp->kw};
    hpff_registry_shape_last(b->params, 4, dims);
    if (cp->bias) {
        joined(tn, sizeof tn, name, "bias");
        float bound = 1.f / sqrtf((float)(in.c / groups) * cp->kh * cp->kw);   // PyTorch default
        int zero = b->linear_std > 0;   // VGG-DGL: conv biases start at 0
        p->b_off = hpff_registry_add(b->params, tn, (size_t)out.c, zero ? HPFF_INIT_ZERO : HPFF_INIT_UNIFORM,
                                     zero ? 0.f : bound, b->group);
    }
    L->ws_bytes = b->be->conv_workspace(b->be, &d);
    L->flops_per_sample = (size_t)out.c * out.h * out.w * (in.c / groups) * cp->kh * cp->kw;
    return L;
}

// ---------------------------------------------------------------- batch norm
typedef struct bn_priv {
    size_t g_off, b_off, rm_off, rv_off;
    float momentum, eps;
    int block;              // 0: NCHW; else its tensors are channel-blocked (hpff_bn_set_block)
} bn_priv;

static void bn_forward(hpff_layer *L, hpff_exec *ex, int n, const float *x, float *y, float *saved) {
    bn_priv *p = L->priv;
    int c = L->in.c, hw = L->in.h * L->in.w;
    if (p->block && ex->train)
        ex->be->bn_fwd_train_blocked(ex->be, p->block, n, c, hw, x, PARAM(ex, p->g_off), PARAM(ex, p->b_off), y,
                                     STATE(ex, p->rm_off), STATE(ex, p->rv_off), p->momentum, p->eps, saved,
                                     saved + c, L->fused_relu);
    else if (p->block)
        ex->be->bn_fwd_eval_blocked(ex->be, p->block, n, c, hw, x, PARAM(ex, p->g_off), PARAM(ex, p->b_off), y,
                                    STATE(ex, p->rm_off), STATE(ex, p->rv_off), p->eps, L->fused_relu);
    else if (ex->train)
        ex->be->bn_fwd_train(ex->be, n, c, hw, x, PARAM(ex, p->g_off), PARAM(ex, p->b_off), y,
                             STATE(ex, p->rm_off), STATE(ex, p->rv_off), p->momentum, p->eps, saved, saved + c,
                             L->fused_relu);
    else
        ex->be->bn_fwd_eval(ex->be, n, c, hw, x, PARAM(ex, p->g_off), PARAM(ex, p->b_off), y,
                            STATE(ex, p->rm_off), STATE(ex, p->rv_off), p->eps, L->fused_relu);
}

// With a fused ReLU, y is the ReLU's output and dy the gradient there.
static void bn_backward(hpff_layer *L, hpff_exec *ex, int n, const float *x, const float *y,
                        const float *saved, const float *dy, float *dx, float beta, int param_grads) {
    bn_priv *p = L->priv;
    int c = L->in.c, hw = L->in.h * L->in.w;
    float *dg = param_grads ? GRAD(ex, p->g_off) : NULL, *db = param_grads ? GRAD(ex, p->b_off) : NULL;
    if (p->block)
        ex->be->bn_bwd_blocked(ex->be, p->block, n, c, hw, x, dy, PARAM(ex, p->g_off), saved, saved + c,
                               L->fused_relu ? y : NULL, dx, beta, dg, db);
    else
        ex->be->bn_bwd(ex->be, n, c, hw, x, dy, PARAM(ex, p->g_off), saved, saved + c, L->fused_relu ? y : NULL, dx,
                       beta, dg, db);
}

static const hpff_layer_ops bn_ops = {"bn", bn_forward, bn_backward, NULL};

int hpff_bn_set_block(hpff_layer *L, hpff_backend *be, int block) {
    HPFF_CHECK(is_kind(L, "bn"), "hpff_bn_set_block: layer %s is not a batch norm", L ? L->name : "(none)");
    if (block && (!hpff_backend_has_blocked(be) || L->in.c % block != 0)) return 0;
    ((bn_priv *)L->priv)->block = block;
    L->blocked = block;
    return 1;
}

int hpff_block_link(hpff_layer *const *prod, int n_prod, hpff_layer *const *cons, int n_cons, hpff_layer *const *bns,
                    int n_bns) {
    HPFF_CHECK(n_prod > 0 && prod[0], "hpff_block_link: no producing convolution");
    hpff_backend *be = ((conv_priv *)prod[0]->priv)->be;
    int block = hpff_conv_block(prod[0], 1), ok = block > 0 && hpff_backend_has_blocked(be);
    for (int i = 0; i < n_prod && ok; i++) ok = !prod[i] || hpff_conv_block(prod[i], 1) == block;
    for (int i = 0; i < n_cons && ok; i++) ok = !cons[i] || hpff_conv_block(cons[i], 0) == block;
    for (int i = 0; i < n_bns && ok; i++) ok = !bns[i] || (is_kind(bns[i], "bn") && bns[i]->in.c % block == 0);
    if (!ok) return 0;
    for (int i = 0; i < n_prod; i++)
        if (prod[i]) hpff_conv_set_block(prod[i], 1, block);
    for (int i = 0; i < n_cons; i++)
        if (cons[i]) hpff_conv_set_block(cons[i], 0, block);
    for (int i = 0; i < n_bns; i++)
        if (bns[i]) hpff_bn_set_block(bns[i], be, block);
    return block;
}

hpff_layer *hpff_bn_create(hpff_build *b, const char *name, hpff_shape in) {
    hpff_layer *L = layer_new(&bn_ops, name, in, in, sizeof(bn_priv));
    L->absorbs_relu = 1;
    bn_priv *p = L->priv;
    char tn[128];
    size_t c = (size_t)in.c;
    joined(tn, sizeof tn, name, "weight");
    p->g_off = hpff_registry_add(b->params, tn, c, HPFF_INIT_ONE, 0.f, b->group);
    joined(tn, sizeof tn, name, "bias");
    p->b_off = hpff_registry_add(b->params, tn, c, HPFF_INIT_ZERO, 0.f, b->group);
    joined(tn, sizeof tn, name, "running_mean");
    p->rm_off = hpff_registry_add(b->state, tn, c, HPFF_INIT_ZERO, 0.f, b->group);
    joined(tn, sizeof tn, name, "running_var");
    p->rv_off = hpff_registry_add(b->state, tn, c, HPFF_INIT_ONE, 0.f, b->group);
    p->momentum = b->bn_momentum > 0 ? b->bn_momentum : 0.1f;
    p->eps = 1e-5f;
    L->saved_fixed = 2 * c;   // batch mean, inverse std
    L->flops_per_sample = 2 * hpff_shape_numel(in);
    return L;
}

// ---------------------------------------------------------------- elementwise
static void relu_forward(hpff_layer *L, hpff_exec *ex, int n, const float *x, float *y, float *saved) {
    (void)saved;
    ex->be->relu_fwd(ex->be, y, x, (size_t)n * hpff_shape_numel(L->in));
}
static void relu_backward(hpff_layer *L, hpff_exec *ex, int n, const float *x, const float *y,
                          const float *saved, const float *dy, float *dx, float beta, int param_grads) {
    (void)x; (void)saved; (void)param_grads;
    if (dx) ex->be->relu_bwd(ex->be, dx, y, dy, (size_t)n * hpff_shape_numel(L->in), beta);
}
static const hpff_layer_ops relu_ops = {"relu", relu_forward, relu_backward, NULL};
static hpff_layer *pointwise_new(const hpff_layer_ops *ops, hpff_shape in) {
    hpff_layer *L = layer_new(ops, ops->kind, in, in, 0);
    L->in_place = 1;   // dx needs only y: the input may be overwritten
    L->reads_y = 1;
    return L;
}

hpff_layer *hpff_relu_create(hpff_shape in) { return pointwise_new(&relu_ops, in); }

static void sigmoid_forward(hpff_layer *L, hpff_exec *ex, int n, const float *x, float *y, float *saved) {
    (void)saved;
    ex->be->sigmoid_fwd(ex->be, y, x, (size_t)n * hpff_shape_numel(L->in));
}
static void sigmoid_backward(hpff_layer *L, hpff_exec *ex, int n, const float *x, const float *y,
                             const float *saved, const float *dy, float *dx, float beta, int param_grads) {
    (void)x; (void)saved; (void)param_grads;
    if (dx) ex->be->sigmoid_bwd(ex->be, dx, y, dy, (size_t)n * hpff_shape_numel(L->in), beta);
}
static const hpff_layer_ops sigmoid_ops = {"sigmoid", sigmoid_forward, sigmoid_backward, NULL};
hpff_layer *hpff_sigmoid_create(hpff_shape in) { return pointwise_new(&sigmoid_ops, in); }

// ---------------------------------------------------------------- linear
typedef struct linear_priv { size_t w_off, b_off; int has_bias, in_f, out_f; } linear_priv;

static void linear_forward(hpff_layer *L, hpff_exec *ex, int n, const float *x, float *y, float *saved) {
    (void)saved;
    linear_priv *p = L->priv;
    ex->be->linear_fwd(ex->be, n, p->in_f, p->out_f, x, PARAM(ex, p->w_off), p->has_bias ? PARAM(ex, p->b_off) : NULL, y);
}
static void linear_backward(hpff_layer *L, hpff_exec *ex, int n, const float *x, const float *y,
                            const float *saved, const float *dy, float *dx, float beta, int param_grads) {
    (void)y; (void)saved;
    linear_priv *p = L->priv;
    if (param_grads)
        ex->be->linear_bwd_weight(ex->be, n, p->in_f, p->out_f, x, dy, GRAD(ex, p->w_off), p->has_bias ? GRAD(ex, p->b_off) : NULL);
    if (dx) ex->be->linear_bwd_data(ex->be, n, p->in_f, p->out_f, PARAM(ex, p->w_off), dy, dx, beta);
}
static const hpff_layer_ops linear_ops = {"linear", linear_forward, linear_backward, NULL};

hpff_layer *hpff_linear_create(hpff_build *b, const char *name, hpff_shape in, const hpff_linear_params *lp) {
    hpff_shape out = {lp->out, 1, 1};
    hpff_layer *L = layer_new(&linear_ops, name, in, out, sizeof(linear_priv));
    linear_priv *p = L->priv;
    p->in_f = (int)hpff_shape_numel(in);
    p->out_f = lp->out;
    p->has_bias = lp->bias;
    float bound = 1.f / sqrtf((float)p->in_f);
    int normal = b->linear_std > 0 && !lp->w_zero;   // VGG-DGL: N(0, std^2) weights, zero bias
    char tn[128];
    joined(tn, sizeof tn, name, "weight");
    p->w_off = hpff_registry_add(b->params, tn, (size_t)p->in_f * lp->out,
                                 lp->w_zero ? HPFF_INIT_ZERO : normal ? HPFF_INIT_NORMAL : HPFF_INIT_UNIFORM,
                                 normal ? b->linear_std : bound, b->group);
    int dims[2] = {lp->out, p->in_f};
    hpff_registry_shape_last(b->params, 2, dims);
    if (lp->bias) {
        joined(tn, sizeof tn, name, "bias");
        p->b_off = hpff_registry_add(b->params, tn, (size_t)lp->out, b->linear_std > 0 ? HPFF_INIT_ZERO : HPFF_INIT_UNIFORM,
                                     b->linear_std > 0 ? 0.f : bound, b->group);
    }
    L->flops_per_sample = (size_t)p->in_f * lp->out;
    return L;
}

// ---------------------------------------------------------------- pooling and resize
typedef struct pool_priv { hpff_pool_desc d; } pool_priv;

static void adaptive_forward(hpff_layer *L, hpff_exec *ex, int n, const float *x, float *y, float *saved) {
    (void)saved;
    ex->be->adaptive_avgpool_fwd(ex->be, n, L->in.c, L->in.h, L->in.w, L->out.h, L->out.w, x, y);
}
static void adaptive_backward(hpff_layer *L, hpff_exec *ex, int n, const float *x, const float *y,
                              const float *saved, const float *dy, float *dx, float beta, int param_grads) {
    (void)x; (void)y; (void)saved; (void)param_grads;
    if (dx) ex->be->adaptive_avgpool_bwd(ex->be, n, L->in.c, L->in.h, L->in.w, L->out.h, L->out.w, dy, dx, beta);
}
static const hpff_layer_ops adaptive_ops = {"adaptive_avgpool", adaptive_forward, adaptive_backward, NULL};

hpff_layer *hpff_adaptive_avgpool_create(hpff_shape in, int h_out, int w_out) {
    hpff_shape out = {in.c, h_out, w_out};
    hpff_layer *L = layer_new(&adaptive_ops, "adaptive_avgpool", in, out, 0);
    L->flops_per_sample = hpff_shape_numel(in);
    return L;
}

static void avgpool_forward(hpff_layer *L, hpff_exec *ex, int n, const float *x, float *y, float *saved) {
    (void)saved;
    pool_priv *p = L->priv;
    hpff_pool_desc d = p->d;
    d.n = n;
    ex->be->avgpool_fwd(ex->be, &d, x, y);
}
static void avgpool_backward(hpff_layer *L, hpff_exec *ex, int n, const float *x, const float *y,
                             const float *saved, const float *dy, float *dx, float beta, int param_grads) {
    (void)x; (void)y; (void)saved; (void)param_grads;
    pool_priv *p = L->priv;
    hpff_pool_desc d = p->d;
    d.n = n;
    if (dx) ex->be->avgpool_bwd(ex->be, &d, dy, dx, beta);
}
static const hpff_layer_ops avgpool_ops = {"avgpool", avgpool_forward, avgpool_backward, NULL};

static void maxpool_forward(hpff_layer *L, hpff_exec *ex, int n, const float *x, float *y, float *saved) {
    (void)saved;
    pool_priv *p = L->priv;
    hpff_pool_desc d = p->d;
    d.n = n;
    ex->be->maxpool_fwd(ex->be, &d, x, y);
}
static void maxpool_backward(hpff_layer *L, hpff_exec *ex, int n, const float *x, const float *y,
                             const float *saved, const float *dy, float *dx, float beta, int param_grads) {
    (void)saved; (void)param_grads;
    pool_priv *p = L->priv;
    hpff_pool_desc d = p->d;
    d.n = n;
    if (dx) ex->be->maxpool_bwd(ex->be, &d, x, y, dy, dx, beta);
}
static const hpff_layer_ops maxpool_ops = {"maxpool", maxpool_forward, maxpool_backward, NULL};

static hpff_layer *pool_create(const hpff_layer_ops *ops, hpff_shape in, const hpff_pool_params *pp) {
    hpff_shape out = {in.c, hpff_out_side(in.h, pp->kh, pp->sh, pp->ph), hpff_out_side(in.w, pp->kw, pp->sw, pp->pw)};
    HPFF_CHECK(out.h > 0 && out.w > 0, "%s: input %dx%d too small for %dx%d", ops->kind, in.h, in.w, pp->kh, pp->kw);
    hpff_layer *L = layer_new(ops, ops->kind, in, out, sizeof(pool_priv));
    pool_priv *p = L->priv;
    hpff_pool_desc d = {0, in.c, in.h, in.w, out.h, out.w, pp->kh, pp->kw, pp->sh, pp->sw, pp->ph, pp->pw};
    p->d = d;
    L->flops_per_sample = hpff_shape_numel(out) * (size_t)pp->kh * pp->kw;
    return L;
}
hpff_layer *hpff_avgpool_create(hpff_shape in, const hpff_pool_params *p) { return pool_create(&avgpool_ops, in, p); }
hpff_layer *hpff_maxpool_create(hpff_shape in, const hpff_pool_params *p) {
    hpff_layer *L = pool_create(&maxpool_ops, in, p);
    L->reads_y = 1;   // the argmax is found again from x and y
    return L;
}

// Blocked output (hpff_resize_set_block): x, NCHW, goes into the scratch in the block first (a
// quarter or less of y for the decoders' upsampling), then the blocked resize; backward the
// other way round (dx's prior brought over first when beta = 1, so every element adds its terms
// in the NCHW kernel's order).
typedef struct resize_priv { int block; } resize_priv;

static void resize_forward(hpff_layer *L, hpff_exec *ex, int n, const float *x, float *y, float *saved) {
    (void)saved;
    int B = ((resize_priv *)L->priv)->block, hw_in = L->in.h * L->in.w;
    if (!B) {
        ex->be->resize_bilinear_fwd(ex->be, n, L->in.c, L->in.h, L->in.w, L->out.h, L->out.w, x, y);
        return;
    }
    HPFF_CHECK(ex->scratch_floats >= (size_t)n * hpff_shape_numel(L->in), "resize: scratch too small");
    ex->be->reorder(ex->be, n, L->in.c, hw_in, 0, x, NULL, B, ex->scratch, NULL, 0);
    ex->be->resize_bilinear_fwd_blocked(ex->be, B, n, L->in.c, L->in.h, L->in.w, L->out.h, L->out.w, ex->scratch, y);
}
static void resize_backward(hpff_layer *L, hpff_exec *ex, int n, const float *x, const float *y,
                            const float *saved, const float *dy, float *dx, float beta, int param_grads) {
    (void)x; (void)y; (void)saved; (void)param_grads;
    int B = ((resize_priv *)L->priv)->block, c = L->in.c, hw_in = L->in.h * L->in.w;
    if (!dx) return;
    if (!B) {
        ex->be->resize_bilinear_bwd(ex->be, n, c, L->in.h, L->in.w, L->out.h, L->out.w, dy, dx, beta);
        return;
    }
    HPFF_CHECK(ex->scratch_floats >= (size_t)n * hpff_shape_numel(L->in), "resize: scratch too small");
    if (beta != 0.f) ex->be->reorder(ex->be, n, c, hw_in, 0, dx, NULL, B, ex->scratch, NULL, 0);
    ex->be->resize_bilinear_bwd_blocked(ex->be, B, n, c, L->in.h, L->in.w, L->out.h, L->out.w, dy, ex->scratch, beta);
    ex->be->reorder(ex->be, n, c, hw_in, B, ex->scratch, NULL, 0, dx, NULL, 0);
}
static const hpff_layer_ops resize_ops = {"resize", resize_forward, resize_backward, NULL};
hpff_layer *hpff_resize_create(hpff_shape in, int h_out, int w_out) {
    hpff_shape out = {in.c, h_out, w_out};
    hpff_layer *L = layer_new(&resize_ops, "resize", in, out, sizeof(resize_priv));
    L->flops_per_sample = 4 * hpff_shape_numel(out);
    return L;
}

int hpff_resize_set_block(hpff_layer *L, hpff_backend *be, int block) {
    HPFF_CHECK(is_kind(L, "resize"), "hpff_resize_set_block: layer %s is not a resize", L ? L->name : "(none)");
    if (block && (!hpff_backend_has_blocked(be) || !be->resize_bilinear_fwd_blocked ||
                  !be->resize_bilinear_bwd_blocked || L->in.c % block != 0))
        return 0;
    ((resize_priv *)L->priv)->block = block;
    L->blocked = block;
    L->scratch_per_sample = block ? hpff_shape_numel(L->in) : 0;
    return 1;
}

int hpff_resize_link(hpff_layer *resize, hpff_layer *conv) {
    int block = hpff_conv_block(conv, 0);
    if (!block || !hpff_resize_set_block(resize, ((conv_priv *)conv->priv)->be, block)) return 0;
    hpff_conv_set_block(conv, 0, block);
    return block;
}

// ---------------------------------------------------------------- basic block
// Saved layout per sample (all at output resolution, E = c_out*h_out*w_out):
//   t1 conv1 out | r1 relu(bn1(t1)) (one fused op) | t3 conv2 out | [s1 shortcut conv out]
// followed by the fixed part: the BN layers' saved statistics (2c each). Batch-norm backward
// reads its input, not its output, so bn2's output is formed in y (then the shortcut is added
// and ReLU applied in place) and the shortcut BN's output lives in the scratch only.
// Blocked (hpff_block_link): t1, r1, t3, s1 and the gradients between the convolutions are in
// the convolutions' channel-blocked layout; bn2's output goes to the scratch, and one reorder
// with the shortcut's sum and the ReLU fused forms y; on the way back one reorder with the
// ReLU's mask brings dy in. x, y, dx, dy stay NCHW.
typedef struct block_priv {
    hpff_layer *conv1, *bn1, *conv2, *bn2, *sc_conv, *sc_bn;   // sc_* NULL for identity
    int block;                                                 // 0: NCHW inside
} block_priv;

static size_t block_bn_saved(const hpff_layer *bn) { return bn->saved_fixed; }

// y = relu(u + sc) for the residual sum u (bn2's or bn3's output) and shortcut sc (x, or the
// shortcut BN's output in the scratch): in place in y, or from a blocked u with one reorder.
void hpff_block_sum_out(hpff_exec *ex, int block, int n, hpff_shape out, float *u, const float *sc, int sc_blocked,
                        float *y) {
    size_t E = (size_t)n * hpff_shape_numel(out);
    if (!block) {
        ex->be->axpy(ex->be, y, 1.f, sc, E);   // the residual sum, the same single rounding as a + b
        ex->be->relu_fwd(ex->be, y, y, E);
        return;
    }
    if (sc_blocked) ex->be->axpy(ex->be, u, 1.f, sc, E);
    ex->be->reorder(ex->be, n, out.c, out.h * out.w, block, u, NULL, 0, y, sc_blocked ? NULL : sc, 1);
}

void hpff_block_sum_back(hpff_exec *ex, int block, int n, hpff_shape out, const float *y, const float *dy, float *g) {
    if (block) ex->be->reorder(ex->be, n, out.c, out.h * out.w, 0, dy, y, block, g, NULL, 0);
    else ex->be->relu_bwd(ex->be, g, y, dy, (size_t)n * hpff_shape_numel(out), 0.f);
}

static void block_forward(hpff_layer *L, hpff_exec *ex, int n, const float *x, float *y, float *saved) {
    block_priv *p = L->priv;
    size_t E = (size_t)n * hpff_shape_numel(L->out);
    float *t1 = saved, *r1 = t1 + E, *t3 = r1 + E, *s1 = t3 + E;
    float *fixed = saved + (size_t)n * L->saved_per_sample;   // bn1 | bn2 | sc_bn statistics
    float *st1 = fixed, *st2 = st1 + block_bn_saved(p->bn1), *st3 = st2 + block_bn_saved(p->bn2);
    HPFF_CHECK(ex->scratch_floats >= (p->block ? 2 : p->sc_conv ? 1 : 0) * E, "block %s: scratch too small", L->name);
    float *u = p->block ? ex->scratch + E : y;   // bn2's output
    p->conv1->ops->forward(p->conv1, ex, n, x, t1, NULL);
    p->bn1->ops->forward(p->bn1, ex, n, t1, r1, st1);   // with its ReLU (fused at creation)
    p->conv2->ops->forward(p->conv2, ex, n, r1, t3, NULL);
    p->bn2->ops->forward(p->bn2, ex, n, t3, u, st2);
    const float *sc = x;
    if (p->sc_conv) {
        p->sc_conv->ops->forward(p->sc_conv, ex, n, x, s1, NULL);
        p->sc_bn->ops->forward(p->sc_bn, ex, n, s1, ex->scratch, st3);   // forward: scratch is free
        sc = ex->scratch;
    }
    hpff_block_sum_out(ex, p->block, n, L->out, u, sc, p->sc_conv != NULL, y);
}

// Two scratch buffers suffice: the shortcut branch is finished first (its share of dx is
// written, beta applied), so A (the gradient at the sum) is free when the main branch needs room.
static void block_backward(hpff_layer *L, hpff_exec *ex, int n, const float *x, const float *y,
                           const float *saved, const float *dy, float *dx, float beta, int param_grads) {
    block_priv *p = L->priv;
    size_t E = (size_t)n * hpff_shape_numel(L->out);
    const float *t1 = saved, *r1 = t1 + E, *t3 = r1 + E, *s1 = t3 + E;
    const float *fixed = saved + (size_t)n * L->saved_per_sample;
    const float *st1 = fixed, *st2 = st1 + block_bn_saved(p->bn1), *st3 = st2 + block_bn_saved(p->bn2);
    HPFF_CHECK(ex->scratch_floats >= 2 * E, "block %s: scratch too small", L->name);
    HPFF_CHECK(beta == 0.f || beta == 1.f, "block %s: beta %g (the data-gradient contract is 0 or 1)", L->name, beta);
    float *A = ex->scratch, *B = A + E;
    hpff_block_sum_back(ex, p->block, n, L->out, y, dy, A);   // grad at the sum
    if (p->sc_conv) {
        p->sc_bn->ops->backward(p->sc_bn, ex, n, s1, NULL, st3, A, B, 0.f, param_grads);
        p->sc_conv->ops->backward(p->sc_conv, ex, n, x, s1, NULL, B, dx, beta, param_grads);
    } else if (dx) {
        ex->be->relu_bwd(ex->be, dx, y, dy, E, beta);   // the identity's share: beta*dx + A, in NCHW
    }
    p->bn2->ops->backward(p->bn2, ex, n, t3, NULL, st2, A, B, 0.f, param_grads);
    p->conv2->ops->backward(p->conv2, ex, n, r1, t3, NULL, B, A, 0.f, param_grads);
    p->bn1->ops->backward(p->bn1, ex, n, t1, r1, st1, A, B, 0.f, param_grads);
    p->conv1->ops->backward(p->conv1, ex, n, x, t1, NULL, B, dx, 1.f, param_grads);   // dx holds the shortcut's
}

static void block_destroy(hpff_layer *L) {
    block_priv *p = L->priv;
    hpff_layer_free(p->conv1); hpff_layer_free(p->bn1);
    hpff_layer_free(p->conv2); hpff_layer_free(p->bn2);
    hpff_layer_free(p->sc_conv); hpff_layer_free(p->sc_bn);
}

static const hpff_layer_ops block_ops = {"basic_block", block_forward, block_backward, block_destroy};

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

hpff_layer *hpff_basic_block_create(hpff_build *b, const char *name, hpff_shape in, int c_out, int stride) {
    char tn[96];
    block_priv tmp = {0};
    hpff_conv_params c1 = hpff_conv3(c_out, 3, stride, 1), c2 = hpff_conv3(c_out, 3, 1, 1);
    joined(tn, sizeof tn, name, "conv1"); tmp.conv1 = hpff_conv_create(b, tn, in, &c1);
    hpff_shape out = tmp.conv1->out;
    joined(tn, sizeof tn, name, "bn1"); tmp.bn1 = hpff_bn_create(b, tn, out);
    tmp.bn1->fused_relu = 1;   // relu(bn1(t1)) in one op; its backward masks by r1
    joined(tn, sizeof tn, name, "conv2"); tmp.conv2 = hpff_conv_create(b, tn, out, &c2);
    joined(tn, sizeof tn, name, "bn2"); tmp.bn2 = hpff_bn_create(b, tn, out);
    int projection = stride != 1 || in.c != c_out;
    if (projection) {
        hpff_conv_params cs = hpff_conv3(c_out, 1, stride, 0);
        joined(tn, sizeof tn, name, "shortcut.conv"); tmp.sc_conv = hpff_conv_create(b, tn, in, &cs);
        joined(tn, sizeof tn, name, "shortcut.bn"); tmp.sc_bn = hpff_bn_create(b, tn, out);
    }
    hpff_layer *prod[] = {tmp.conv1, tmp.conv2, tmp.sc_conv}, *cons[] = {tmp.conv2};
    hpff_layer *bns[] = {tmp.bn1, tmp.bn2, tmp.sc_bn};
    tmp.block = hpff_block_link(prod, 3, cons, 1, bns, 3);
    hpff_layer *L = layer_new(&block_ops, name, in, out, sizeof(block_priv));
    *(block_priv *)L->priv = tmp;
    L->blocked = tmp.block;
    size_t E = hpff_shape_numel(out);
    L->saved_per_sample = (projection ? 4 : 3) * E;
    L->reads_y = 1;   // the ReLU at the sum
    L->saved_fixed = tmp.bn1->saved_fixed + tmp.bn2->saved_fixed + (projection ? tmp.sc_bn->saved_fixed : 0);
    L->scratch_per_sample = 2 * E;
    L->ws_bytes = max_sz(tmp.conv1->ws_bytes, tmp.conv2->ws_bytes);
    if (projection) L->ws_bytes = max_sz(L->ws_bytes, tmp.sc_conv->ws_bytes);
    L->flops_per_sample = tmp.conv1->flops_per_sample + tmp.conv2->flops_per_sample +
                          (projection ? tmp.sc_conv->flops_per_sample : 0) + 6 * E;
    return L;
}
