// net.c — network specs, unit numbering and shapes, and the CIFAR ResNet units; the ImageNet
// networks' units live in net_imagenet.c.
#include "net.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "net_imagenet.h"

typedef struct arch_row {
    const char *name;
    hpff_net_kind kind;
    int stages, blocks[HPFF_NET_MAX_STAGES];
    int width_mult;   // stem width = width_mult * model.width (ImageNet nets: 4 x 16 = 64)
    int groups, wpg;
} arch_row;

// By hpff_arch (config.h), in its order.
static const arch_row k_archs[HPFF_ARCH_COUNT] = {
    [HPFF_ARCH_RESNET8] = {"resnet8", HPFF_NET_CIFAR, 3, {1, 1, 1}, 1, 1, 64},
    [HPFF_ARCH_RESNET14] = {"resnet14", HPFF_NET_CIFAR, 3, {2, 2, 2}, 1, 1, 64},
    [HPFF_ARCH_RESNET20] = {"resnet20", HPFF_NET_CIFAR, 3, {3, 3, 3}, 1, 1, 64},
    [HPFF_ARCH_RESNET32] = {"resnet32", HPFF_NET_CIFAR, 3, {5, 5, 5}, 1, 1, 64},
    [HPFF_ARCH_RESNET44] = {"resnet44", HPFF_NET_CIFAR, 3, {7, 7, 7}, 1, 1, 64},
    [HPFF_ARCH_RESNET56] = {"resnet56", HPFF_NET_CIFAR, 3, {9, 9, 9}, 1, 1, 64},
    [HPFF_ARCH_RESNET110] = {"resnet110", HPFF_NET_CIFAR, 3, {18, 18, 18}, 1, 1, 64},
    [HPFF_ARCH_RESNET50] = {"resnet50", HPFF_NET_BOTTLENECK, 4, {3, 4, 6, 3}, 4, 1, 64},
    [HPFF_ARCH_RESNET101] = {"resnet101", HPFF_NET_BOTTLENECK, 4, {3, 4, 23, 3}, 4, 1, 64},
    [HPFF_ARCH_RESNET152] = {"resnet152", HPFF_NET_BOTTLENECK, 4, {3, 8, 36, 3}, 4, 1, 64},
    [HPFF_ARCH_RESNEXT101_32X8D] = {"resnext101_32x8d", HPFF_NET_BOTTLENECK, 4, {3, 4, 23, 3}, 4, 32, 8},
    [HPFF_ARCH_VGG13] = {"vgg13", HPFF_NET_VGG, 5, {2, 2, 2, 2, 2}, 4, 1, 64},
};

static const arch_row *arch_find(hpff_arch arch) {
    return arch >= 0 && arch < HPFF_ARCH_COUNT && k_archs[arch].name ? &k_archs[arch] : NULL;
}

hpff_net_kind hpff_net_kind_of(hpff_arch arch) {
    const arch_row *r = arch_find(arch);
    HPFF_CHECK(r != NULL, "model.arch %d is not a known network", (int)arch);
    return r->kind;
}

// Parses "1,1,3,1" into blocks[0..stages); returns 0 on success.
static int parse_blocks(const char *text, int stages, int *blocks) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", text);
    int n = 0;
    for (char *tok = strtok(buf, ", "); tok; tok = strtok(NULL, ", ")) {
        char *end;
        long v = strtol(tok, &end, 10);
        if (*end || v < 1 || v > 256 || n == stages) return -1;
        blocks[n++] = (int)v;
    }
    return n == stages ? 0 : -1;
}

hpff_status hpff_net_spec_make(hpff_arch arch, int width, const char *blocks, hpff_shape in, int classes,
                               hpff_net_spec *s) {
    memset(s, 0, sizeof *s);
    const arch_row *r = arch_find(arch);
    if (!r) return hpff_status_fail("model.arch %d is not a known network", (int)arch);
    s->kind = r->kind;
    s->stages = r->stages;
    memcpy(s->blocks, r->blocks, sizeof s->blocks);
    s->stem = r->kind != HPFF_NET_VGG;
    s->width = r->width_mult * width;
    s->groups = r->groups;
    s->width_per_group = r->wpg;
    s->in = in;
    s->classes = classes;
    if (blocks && *blocks && parse_blocks(blocks, r->stages, s->blocks) != 0)
        return hpff_status_fail("model.blocks = '%s': %s needs %d comma-separated block counts between 1 and 256",
                                blocks, r->name, r->stages);
    if (r->kind == HPFF_NET_BOTTLENECK && (s->width * s->width_per_group / 64) < 1)
        return hpff_status_fail("model.width = %d leaves %s without inner channels", width, r->name);
    return hpff_status_ok();
}

int hpff_net_blocks(const hpff_net_spec *s) {
    int n = 0;
    for (int i = 0; i < s->stages; i++) n += s->blocks[i];
    return n;
}

int hpff_net_units(const hpff_net_spec *s) { return s->stem + hpff_net_blocks(s); }

int hpff_net_unit_of(const hpff_net_spec *s, int st, int b) {
    int u = s->stem;
    for (int i = 1; i < st; i++) u += s->blocks[i - 1];
    return u + b;
}

void hpff_net_stage_block(const hpff_net_spec *s, int u, int *st, int *b) {
    int k = u - s->stem;
    HPFF_CHECK(k >= 0 && k < hpff_net_blocks(s), "unit %d is not a block of this network", u);
    int i = 0;
    while (k >= s->blocks[i]) k -= s->blocks[i++];
    *st = i + 1;
    *b = k;
}

// Side after the stride-2 first blocks of CIFAR stages 2 and 3 (conv k3 s2 p1: ceil(h/2)).
static int halve(int v) { return (v + 1) / 2; }

static hpff_shape cifar_unit_out(const hpff_net_spec *s, int u) {
    hpff_shape o = {s->width, s->in.h, s->in.w};
    if (u == 0) return o;
    int st, b;
    hpff_net_stage_block(s, u, &st, &b);
    for (int i = 2; i <= st; i++) { o.h = halve(o.h); o.w = halve(o.w); }
    o.c = s->width << (st - 1);
    return o;
}

hpff_shape hpff_net_unit_out(const hpff_net_spec *s, int u) {
    if (s->kind == HPFF_NET_CIFAR) return cifar_unit_out(s, u);
    return hpff_imagenet_unit_out(s, u);
}

hpff_shape hpff_net_unit_in(const hpff_net_spec *s, int u) {
    return u == 0 ? s->in : hpff_net_unit_out(s, u - 1);
}

static void cifar_push_unit(hpff_build *b, const hpff_net_spec *s, int u, hpff_seq *seq) {
    hpff_shape in = hpff_net_unit_in(s, u);
    if (u == 0) {
        hpff_conv_params c = hpff_conv3(s->width, 3, 1, 1);
        hpff_layer *conv = hpff_conv_create(b, "stem.conv", in, &c);
        hpff_seq_push(seq, conv);
        hpff_seq_push(seq, hpff_bn_create(b, "stem.bn", conv->out));
        hpff_seq_push(seq, hpff_relu_create(conv->out));
        return;
    }
    int st, blk;
    hpff_net_stage_block(s, u, &st, &blk);
    char name[64];
    snprintf(name, sizeof name, "layer%d.%d", st, blk);
    int stride = (st > 1 && blk == 0) ? 2 : 1;
    hpff_seq_push(seq, hpff_basic_block_create(b, name, in, s->width << (st - 1), stride));
}

void hpff_net_push_units(hpff_build *b, const hpff_net_spec *s, int u0, int u1, hpff_seq *seq) {
    for (int u = u0; u <= u1; u++) {
        if (s->kind == HPFF_NET_CIFAR) cifar_push_unit(b, s, u, seq);
        else hpff_imagenet_push_unit(b, s, u, seq);
    }
}

void hpff_final_head_push(hpff_build *b, int classes, hpff_seq *seq) {
    hpff_seq_push(seq, hpff_adaptive_avgpool_create(seq->out, 1, 1));
    hpff_linear_params lp = {classes, 1, 0};
    hpff_seq_push(seq, hpff_linear_create(b, "fc", seq->out, &lp));
}

void hpff_net_final_push(hpff_build *b, const hpff_net_spec *s, hpff_seq *seq) {
    if (s->kind == HPFF_NET_VGG) hpff_vgg_final_push(b, s, seq);
    else hpff_final_head_push(b, s->classes, seq);
}
