// resnet.c — CIFAR ResNet units and the final head.
#include "resnet.h"
#include <stdio.h>
#include <string.h>
#include "check.h"

int hpff_resnet_blocks(hpff_arch arch) {
    static const int blocks[HPFF_ARCH_COUNT] = {
        [HPFF_ARCH_RESNET8] = 1,  [HPFF_ARCH_RESNET14] = 2, [HPFF_ARCH_RESNET20] = 3,  [HPFF_ARCH_RESNET32] = 5,
        [HPFF_ARCH_RESNET44] = 7, [HPFF_ARCH_RESNET56] = 9, [HPFF_ARCH_RESNET110] = 18};
    return arch >= 0 && arch < HPFF_ARCH_COUNT ? blocks[arch] : 0;
}

// Side after the stride-2 first blocks of stages 2 and 3 (conv k3 s2 p1: ceil(h/2)).
static int halve(int s) { return (s + 1) / 2; }

hpff_shape hpff_resnet_unit_out(const hpff_resnet_spec *r, int u) {
    hpff_shape s = {r->width, r->in.h, r->in.w};
    if (u == 0) return s;
    int stage = (u - 1) / r->n + 1;
    for (int st = 2; st <= stage; st++) { s.h = halve(s.h); s.w = halve(s.w); }
    s.c = r->width << (stage - 1);
    return s;
}

hpff_shape hpff_resnet_unit_in(const hpff_resnet_spec *r, int u) {
    return u == 0 ? r->in : hpff_resnet_unit_out(r, u - 1);
}

void hpff_resnet_push_units(hpff_build *b, const hpff_resnet_spec *r, int u0, int u1, hpff_seq *seq) {
    for (int u = u0; u <= u1; u++) {
        hpff_shape in = hpff_resnet_unit_in(r, u);
        if (u == 0) {
            hpff_conv_params c = hpff_conv3(r->width, 3, 1, 1);
            hpff_layer *conv = hpff_conv_create(b, "stem.conv", in, &c);
            hpff_seq_push(seq, conv);
            hpff_seq_push(seq, hpff_bn_create(b, "stem.bn", conv->out));
            hpff_seq_push(seq, hpff_relu_create(conv->out));
            continue;
        }
        int stage = (u - 1) / r->n + 1, blk = (u - 1) % r->n;
        char name[64];
        snprintf(name, sizeof name, "layer%d.%d", stage, blk);
        int stride = (stage > 1 && blk == 0) ? 2 : 1;
        hpff_seq_push(seq, hpff_basic_block_create(b, name, in, r->width << (stage - 1), stride));
    }
}

void hpff_final_head_push(hpff_build *b, int classes, hpff_seq *seq) {
    hpff_seq_push(seq, hpff_adaptive_avgpool_create(seq->out, 1, 1));
    hpff_linear_params lp = {classes, 1, 0};
    hpff_seq_push(seq, hpff_linear_create(b, "fc", seq->out, &lp));
}
