// method_nets.c — constructors of the base methods' auxiliary nets (ALGORITHM §3.1-§3.3).
#include "method_nets.h"
#include <stdio.h>
#include "check.h"

static int ceil_div(int a, int b) { return (a + b - 1) / b; }

static void name2(char *dst, size_t n, const char *prefix, const char *part) {
    int w = snprintf(dst, n, "%s.%s", prefix, part);
    HPFF_CHECK(w > 0 && (size_t)w < n, "layer name %s.%s too long", prefix, part);
}

// conv (no bias unless `bias`) -> BN -> ReLU, named <prefix>.conv<i> / <prefix>.bn<i>.
static void push_conv_bn_relu(hpff_build *b, const char *prefix, int i, const hpff_conv_params *cp,
                              hpff_auxnet *net) {
    char nm[64], part[16];
    snprintf(part, sizeof part, "conv%d", i);
    name2(nm, sizeof nm, prefix, part);
    hpff_auxnet_push(net, hpff_conv_create(b, nm, net->out, cp));
    snprintf(part, sizeof part, "bn%d", i);
    name2(nm, sizeof nm, prefix, part);
    hpff_auxnet_push(net, hpff_bn_create(b, nm, net->out));
    hpff_auxnet_push(net, hpff_relu_create(net->out));
}

// Linear -> BatchNorm1d -> ReLU, named <prefix>.fc<i> / <prefix>.fcbn<i>.
static void push_fc_bn_relu(hpff_build *b, const char *prefix, int i, int out, int bias, hpff_auxnet *net) {
    char nm[64], part[16];
    hpff_linear_params lp = {out, bias, 0};
    snprintf(part, sizeof part, "fc%d", i);
    name2(nm, sizeof nm, prefix, part);
    hpff_auxnet_push(net, hpff_linear_create(b, nm, net->out, &lp));
    snprintf(part, sizeof part, "fcbn%d", i);
    name2(nm, sizeof nm, prefix, part);
    hpff_auxnet_push(net, hpff_bn_create(b, nm, net->out));
    hpff_auxnet_push(net, hpff_relu_create(net->out));
}

static void push_linear(hpff_build *b, const char *prefix, const char *part, int out, int bias,
                        int w_zero, hpff_auxnet *net) {
    char nm[64];
    hpff_linear_params lp = {out, bias, w_zero};
    name2(nm, sizeof nm, prefix, part);
    hpff_auxnet_push(net, hpff_linear_create(b, nm, net->out, &lp));
}

hpff_dgl_dims hpff_aux_dgl_dims(hpff_shape in, int official) {
    hpff_dgl_dims d;
    d.p1h = ceil_div(in.h, 4);
    d.p1w = ceil_div(in.w, 4);
    d.p2h = official ? 2 : (d.p1h < 2 ? d.p1h : 2);
    d.p2w = official ? 2 : (d.p1w < 2 ? d.p1w : 2);
    d.d = in.c * d.p2h * d.p2w;
    return d;
}

void hpff_aux_dgl_push(hpff_build *b, const char *prefix, int official, int classes, hpff_auxnet *net) {
    hpff_dgl_dims dd = hpff_aux_dgl_dims(net->out, official);
    hpff_auxnet_push(net, hpff_adaptive_avgpool_create(net->out, dd.p1h, dd.p1w));
    hpff_aux_dgl_push_pooled(b, prefix, official, classes, dd, net);
}

void hpff_aux_dgl_push_pooled(hpff_build *b, const char *prefix, int official, int classes, hpff_dgl_dims dd,
                              hpff_auxnet *net) {
    HPFF_CHECK(net->out.h == dd.p1h && net->out.w == dd.p1w, "%s: DGL aux after its first pool takes %dx%d, not %dx%d",
               prefix, dd.p1h, dd.p1w, net->out.h, net->out.w);
    int c = net->out.c;
    hpff_conv_params cp = hpff_conv3(c, 1, 1, 0);
    for (int i = 1; i <= 3; i++) push_conv_bn_relu(b, prefix, i, &cp, net);
    // The port's second pool onto p2 = min(p1, 2) is the identity on maps of 2x2 and less (every
    // stage-2 / 3 PFF patch): not pushed, the same values without two copies per patch each way.
    if (dd.p2h != dd.p1h || dd.p2w != dd.p1w) hpff_auxnet_push(net, hpff_adaptive_avgpool_create(net->out, dd.p2h, dd.p2w));
    int hidden = official ? 3 : 2;   // official: Linear with bias; port: bias-free hidden FCs
    for (int i = 1; i <= hidden; i++) push_fc_bn_relu(b, prefix, i, dd.d, official, net);
    char part[16];
    snprintf(part, sizeof part, "fc%d", hidden + 1);
    push_linear(b, prefix, part, classes, 1, 0, net);
}

void hpff_aux_infopro_cls_push(hpff_build *b, const char *prefix, int two_conv, int last_stage,
                               int out_dim, hpff_auxnet *net) {
    int c = net->out.c, c2 = last_stage ? c : 2 * c;
    hpff_conv_params c1 = hpff_conv3(c2, 3, last_stage ? 1 : 2, 1);
    push_conv_bn_relu(b, prefix, 1, &c1, net);
    if (two_conv) {
        hpff_conv_params cc = hpff_conv3(c2, 3, 1, 1);
        push_conv_bn_relu(b, prefix, 2, &cc, net);
    }
    hpff_auxnet_push(net, hpff_adaptive_avgpool_create(net->out, 1, 1));
    push_linear(b, prefix, "fc1", 128, 1, 0, net);
    hpff_auxnet_push(net, hpff_relu_create(net->out));
    push_linear(b, prefix, "fc2", out_dim, 1, 0, net);
}

void hpff_aux_decoder_push(hpff_build *b, const char *prefix, int out_h, int out_w, int img_c,
                           hpff_auxnet *net) {
    char nm[64];
    if (net->out.h != out_h || net->out.w != out_w)
        hpff_auxnet_push(net, hpff_resize_create(net->out, out_h, out_w));
    hpff_conv_params c1 = hpff_conv3(12, 3, 1, 1);
    c1.bias = 1;
    push_conv_bn_relu(b, prefix, 1, &c1, net);
    hpff_conv_params c2 = hpff_conv3(img_c, 3, 1, 1);
    c2.bias = 1;
    name2(nm, sizeof nm, prefix, "conv2");
    hpff_auxnet_push(net, hpff_conv_create(b, nm, net->out, &c2));
    hpff_auxnet_push(net, hpff_sigmoid_create(net->out));
}

hpff_predsim_pool hpff_aux_predsim_pool(hpff_shape in, int T) {
    hpff_predsim_pool p = {1, 1, 1, 0, 0, in.h, in.w, 0};
    long d = (long)in.c * in.h * in.w;
    while (d > T && p.kh < in.h) {
        p.kh *= 2;
        p.oh = ceil_div(in.h, p.kh);
        d = (long)in.c * p.oh * p.ow;
        if (d > T) {
            p.kw *= 2;
            p.ow = ceil_div(in.w, p.kw);
            d = (long)in.c * p.oh * p.ow;
        }
    }
    p.identity = p.kh == 1 && p.kw == 1;
    p.ph = p.kh * (p.oh - in.h / p.kh) / 2;
    p.pw = p.kw * (p.ow - in.w / p.kw) / 2;
    p.d = (int)d;
    return p;
}

void hpff_aux_predsim_sim_push(hpff_build *b, const char *prefix, hpff_auxnet *net) {
    hpff_conv_params cp = hpff_conv3(net->out.c, 3, 1, 1);
    hpff_auxnet_push(net, hpff_conv_create(b, prefix, net->out, &cp));
}

void hpff_aux_predsim_pred_push(hpff_build *b, const char *prefix, int T, int classes, int w_zero,
                                hpff_auxnet *net) {
    hpff_predsim_pool p = hpff_aux_predsim_pool(net->out, T);
    if (!p.identity) {
        hpff_pool_params pp = {p.kh, p.kw, p.kh, p.kw, p.ph, p.pw};
        hpff_auxnet_push(net, hpff_avgpool_create(net->out, &pp));
        HPFF_CHECK(net->out.h == p.oh && net->out.w == p.ow, "PredSim pooling gives %dx%d, expected %dx%d",
                   net->out.h, net->out.w, p.oh, p.ow);
    }
    hpff_linear_params lp = {classes, 1, w_zero};
    hpff_auxnet_push(net, hpff_linear_create(b, prefix, net->out, &lp));
}
