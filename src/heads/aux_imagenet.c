// aux_imagenet.c — the ImageNet InfoPro classifier and decoders (InfoProAux.py), scaled.
#include "aux_imagenet.h"
#include <stdio.h>

static int scaled(int v, int width) { return v * width / 64 > 0 ? v * width / 64 : 1; }

// Decoder variant by the ratio of the target side to the feature side: 0 when the table has none.
static int decoder_ratio(int feat, int target) {
    for (int r = 4; r <= 16; r *= 2)
        if (feat * r == target) return r;
    return 0;
}

hpff_status hpff_aux_imagenet_supported(hpff_shape in, hpff_shape image, int width) {
    if (in.c != 4 * width && in.c != 8 * width && in.c != 16 * width)
        return hpff_status_fail("the ImageNet InfoPro aux (InfoProAux.py) has a classifier for %d, %d or %d "
                                "channels, not %d (the authors' AuxClassifier(2048) never runs, so it has no "
                                "reference): end the local modules before the last stage (local.split)",
                                4 * width, 8 * width, 16 * width, in.c);
    int r = decoder_ratio(in.h, image.h);
    if (!r || decoder_ratio(in.w, image.w) != r)
        return hpff_status_fail("the ImageNet InfoPro aux has decoders for features of 1/4, 1/8 or 1/16 of the image "
                                "side (the authors' decoder1..3), not %dx%d features for %dx%d images: choose "
                                "data.image_size or local.split so that module outputs are such sizes",
                                in.h, in.w, image.h, image.w);
    return hpff_status_ok();
}

static void name_of(char *dst, size_t n, const char *prefix, const char *kind, int i) {
    snprintf(dst, n, "%s.%s%d", prefix, kind, i);
}

// conv (bias as given) -> BN -> ReLU, as conv<i> / bn<i>.
static void conv_bn_relu(hpff_build *b, const char *prefix, int i, const hpff_conv_params *cp, hpff_auxnet *net) {
    char nm[80];
    name_of(nm, sizeof nm, prefix, "conv", i);
    hpff_auxnet_push(net, hpff_conv_create(b, nm, net->out, cp));
    name_of(nm, sizeof nm, prefix, "bn", i);
    hpff_auxnet_push(net, hpff_bn_create(b, nm, net->out));
    hpff_auxnet_push(net, hpff_relu_create(net->out));
}

void hpff_aux_imagenet_cls_push(hpff_build *b, const char *prefix, int width, int out_dim, hpff_auxnet *net) {
    int c = net->out.c, c1 = scaled(c == 16 * width ? 256 : 128, width);
    int w[4] = {c1, scaled(256, width), scaled(512, width), scaled(2048, width)};
    for (int i = 0; i < 4; i++) {
        int k = (i == 0 || i == 3) ? 1 : 3, s = (i == 1 || i == 2) ? 2 : 1;
        hpff_conv_params cp = hpff_conv3(w[i], k, s, k / 2);
        conv_bn_relu(b, prefix, i + 1, &cp, net);
    }
    hpff_auxnet_push(net, hpff_adaptive_avgpool_create(net->out, 1, 1));
    char nm[80];
    snprintf(nm, sizeof nm, "%s.fc", prefix);
    hpff_linear_params lp = {out_dim, 1, 0};
    hpff_auxnet_push(net, hpff_linear_create(b, nm, net->out, &lp));
}

void hpff_aux_imagenet_decoder_push(hpff_build *b, const char *prefix, int width, int out_h, int out_w,
                                    int img_c, hpff_auxnet *net) {
    int r = decoder_ratio(net->out.h, out_h);
    HPFF_CHECK(r && decoder_ratio(net->out.w, out_w) == r, "%s: no ImageNet decoder for %dx%d -> %dx%d", prefix,
               net->out.h, net->out.w, out_h, out_w);
    // Widths and resize targets (divisors of T) after each conv but the last, per variant.
    static const int w4[] = {128, 16}, w8[] = {128, 32, 16}, w16[] = {128, 64, 32, 16};
    static const int d4[] = {2, 1}, d8[] = {4, 2, 1}, d16[] = {2, 4, 2, 1};
    const int *wd = r == 4 ? w4 : r == 8 ? w8 : w16, *dv = r == 4 ? d4 : r == 8 ? d8 : d16;
    int n = r == 4 ? 2 : r == 8 ? 3 : 4;
    for (int i = 0; i < n; i++) {
        hpff_conv_params cp = hpff_conv3(scaled(wd[i], width), i ? 3 : 1, 1, i ? 1 : 0);
        cp.bias = 1;
        conv_bn_relu(b, prefix, i + 1, &cp, net);
        hpff_auxnet_push(net, hpff_resize_create(net->out, out_h / dv[i], out_w / dv[i]));
    }
    char nm[80];
    hpff_conv_params cp = hpff_conv3(img_c, 3, 1, 1);
    cp.bias = 1;
    name_of(nm, sizeof nm, prefix, "conv", n + 1);
    hpff_auxnet_push(net, hpff_conv_create(b, nm, net->out, &cp));
    hpff_auxnet_push(net, hpff_sigmoid_create(net->out));
}
