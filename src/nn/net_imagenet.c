// net_imagenet.c — units and Φ of the bottleneck ResNets / ResNeXts and of VGG13.
#include "net_imagenet.h"
#include <stdio.h>
#include "bottleneck.h"

static int out_side(int in, int k, int s, int p) { return hpff_out_side(in, k, s, p); }

// ---------------------------------------------------------------- bottleneck ResNets

static hpff_shape stem_out(const hpff_net_spec *s) {
    int h = out_side(out_side(s->in.h, 7, 2, 3), 3, 2, 1), w = out_side(out_side(s->in.w, 7, 2, 3), 3, 2, 1);
    hpff_shape o = {s->width, h, w};
    return o;
}

static hpff_shape bottleneck_unit_out(const hpff_net_spec *s, int u) {
    hpff_shape o = stem_out(s);
    if (u == 0) return o;
    int st, b;
    hpff_net_stage_block(s, u, &st, &b);
    for (int i = 2; i <= st; i++) {   // conv3x3/s2/p1 and conv1x1/s2: ceil(h/2)
        o.h = out_side(o.h, 3, 2, 1);
        o.w = out_side(o.w, 3, 2, 1);
    }
    o.c = 4 * (s->width << (st - 1));
    return o;
}

static void push_stem(hpff_build *b, const hpff_net_spec *s, hpff_seq *seq) {
    hpff_conv_params c = hpff_conv3(s->width, 7, 2, 3);
    hpff_layer *conv = hpff_conv_create(b, "conv1", s->in, &c);
    hpff_seq_push(seq, conv);
    hpff_seq_push(seq, hpff_bn_create(b, "bn1", conv->out));
    hpff_seq_push(seq, hpff_relu_create(conv->out));
    hpff_pool_params pp = {3, 3, 2, 2, 1, 1};   // padding -inf (ALGORITHM §1.5)
    hpff_seq_push(seq, hpff_maxpool_create(conv->out, &pp));
}

static void push_bottleneck(hpff_build *b, const hpff_net_spec *s, int u, hpff_seq *seq) {
    int st, blk;
    hpff_net_stage_block(s, u, &st, &blk);
    char name[64];
    snprintf(name, sizeof name, "layer%d.%d", st, blk);
    hpff_bottleneck_params bp = {s->width << (st - 1), (st > 1 && blk == 0) ? 2 : 1, s->groups,
                                 s->width_per_group, blk == 0};
    hpff_seq_push(seq, hpff_bottleneck_create(b, name, hpff_net_unit_in(s, u), &bp));
}

// ---------------------------------------------------------------- VGG

static int vgg_stage_width(const hpff_net_spec *s, int st) { return s->width << (st < 4 ? st - 1 : 3); }

static hpff_shape vgg_unit_out(const hpff_net_spec *s, int u) {
    int st, b;
    hpff_net_stage_block(s, u, &st, &b);
    hpff_shape o = {vgg_stage_width(s, st), s->in.h, s->in.w};
    for (int i = 2; i <= st; i++) {   // 2x2 max-pool, stride 2: floor(h/2)
        o.h = out_side(o.h, 2, 2, 0);
        o.w = out_side(o.w, 2, 2, 0);
    }
    return o;
}

int hpff_vgg_feature_index(const hpff_net_spec *s, int u) {
    int st, b, idx = 0;
    hpff_net_stage_block(s, u, &st, &b);
    for (int i = 1; i < st; i++) idx += 3 * s->blocks[i - 1] + 1;   // conv, BN, ReLU per conv; a pool
    return idx + 3 * b;
}

static void push_vgg_unit(hpff_build *b, const hpff_net_spec *s, int u, hpff_seq *seq) {
    int st, blk;
    hpff_net_stage_block(s, u, &st, &blk);
    if (st > 1 && blk == 0) {   // the pool that precedes a conv opens that conv's module (§2.3)
        hpff_pool_params pp = {2, 2, 2, 2, 0, 0};
        hpff_seq_push(seq, hpff_maxpool_create(seq->out, &pp));
    }
    int idx = hpff_vgg_feature_index(s, u);
    char cn[32], bn[32];
    snprintf(cn, sizeof cn, "features.%d", idx);
    snprintf(bn, sizeof bn, "features.%d", idx + 1);
    hpff_conv_params c = hpff_conv3(vgg_stage_width(s, st), 3, 1, 1);
    c.bias = 1;
    hpff_layer *conv = hpff_conv_create(b, cn, seq->out, &c);
    hpff_seq_push(seq, conv);
    hpff_seq_push(seq, hpff_bn_create(b, bn, conv->out));
    hpff_seq_push(seq, hpff_relu_create(conv->out));
}

void hpff_vgg_final_push(hpff_build *b, const hpff_net_spec *s, hpff_seq *seq) {
    hpff_pool_params pp = {2, 2, 2, 2, 0, 0};
    hpff_seq_push(seq, hpff_maxpool_create(seq->out, &pp));
    int hidden = 64 * s->width;   // 4096 at full width
    static const char *const names[3] = {"classifier.0", "classifier.3", "classifier.6"};
    for (int i = 0; i < 3; i++) {
        hpff_linear_params lp = {i < 2 ? hidden : s->classes, 1, 0};
        hpff_seq_push(seq, hpff_linear_create(b, names[i], seq->out, &lp));
        if (i < 2) hpff_seq_push(seq, hpff_relu_create(seq->out));
    }
}

// ---------------------------------------------------------------- dispatch

hpff_shape hpff_imagenet_unit_out(const hpff_net_spec *s, int u) {
    return s->kind == HPFF_NET_VGG ? vgg_unit_out(s, u) : bottleneck_unit_out(s, u);
}

void hpff_imagenet_push_unit(hpff_build *b, const hpff_net_spec *s, int u, hpff_seq *seq) {
    if (s->kind == HPFF_NET_VGG) push_vgg_unit(b, s, u, seq);
    else if (u == 0) push_stem(b, s, seq);
    else push_bottleneck(b, s, u, seq);
}
