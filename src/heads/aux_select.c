// aux_select.c — which auxiliary head a module gets at each level (ALGORITHM §3, §4.5, §5.4): the
// configuration is translated into a DGL / PredSim head (dgl_predsim.c, whole map or PFF-B) or an
// InfoPro head (infopro.c).
#include "aux_select.h"
#include <stdio.h>
#include <string.h>
#include "aux_imagenet.h"
#include "dgl_predsim.h"
#include "infopro.h"
#include "net.h"

#define PREDSIM_T_OFFICIAL 4096   // local-loss default dim-in-decoder target (§3.3)

int hpff_aux_needs_target(const hpff_config *c) { return c->method == HPFF_METHOD_INFOPRO; }

// PFF-B applies at this level (§5.4: both levels, or the cascade level only).
static int pffb_here(const hpff_config *c, hpff_level level) {
    return c->pff && (level == HPFF_LEVEL_CL || c->pff_levels == HPFF_PFF_BOTH);
}

static hpff_head *make_pffb(hpff_build *b, const hpff_config *c, const char *prefix, hpff_level level,
                            hpff_shape in, int classes, hpff_status *st) {
    int predsim = c->method == HPFF_METHOD_PREDSIM, official = c->predsim_variant == HPFF_PREDSIM_OFFICIAL;
    hpff_pffb_spec s = {prefix, predsim ? HPFF_PFFB_PREDSIM : HPFF_PFFB_DGL, pffb_here(c, level) ? c->pff_n : 1,
                        classes, c->dgl_aux == HPFF_DGL_AUX_OFFICIAL, c->predsim_beta, c->predsim_T,
                        official, c->predsim_sim_patch};
    // predsim_variant = official means T = 4096 unless predsim_T was moved off its port default.
    if (predsim && official && c->predsim_T == 512) s.predsim_T = PREDSIM_T_OFFICIAL;
    return hpff_pffb_create(b, &s, in, st);
}

// Reconstruction under PFF (§5.2-§5.4): pff_rec = code is what each code folder does (PFF-A on the
// CIFAR-size ResNets, PFF-C on the ImageNet ResNets).
static hpff_rec_kind pff_rec_kind(const hpff_config *c, int imagenet) {
    switch (c->pff_rec) {
    case HPFF_PFF_REC_SHARED: return HPFF_REC_SHARED;
    case HPFF_PFF_REC_OUTPUT: return HPFF_REC_PFF_C;
    case HPFF_PFF_REC_DECODERS: return HPFF_REC_PFF_A;
    default: return imagenet ? HPFF_REC_PFF_C : HPFF_REC_PFF_A;
    }
}

// InfoPro (§4.5): IL = CE with the classifier (code) or the full InfoPro loss with the plain
// decoder (il_loss = full); CL = λ_rec Rec + λ_ce CE, Rec = PFF-A / shared patches / PFF-C
// (patched decoder output) under PFF, else the full-map decoder. On the ImageNet ResNets the nets
// are the authors' ImageNet ones (InfoProAux.py, §3.2), scaled with model.width.
static hpff_head *make_infopro(hpff_build *b, const hpff_config *c, const char *prefix, hpff_level level,
                               hpff_shape in, hpff_shape image, int classes, const hpff_hilo_module *hm,
                               hpff_status *st) {
    int imagenet = hpff_net_kind_of(c->arch) == HPFF_NET_BOTTLENECK;
    int inet = imagenet ? 4 * c->width : 0;   // the network's stem width (net.c)
    if (imagenet) {
        hpff_status sup = hpff_aux_imagenet_supported(in, image, inet);
        if (sup.code) {
            *st = hpff_status_fail("%s (module output %dx%dx%d): %s", prefix, in.c, in.h, in.w, sup.msg);
            return NULL;
        }
    }
    hpff_infopro_spec s = {prefix, classes, c->infopro_aux == HPFF_INFOPRO_AUX_2C2F, in.c >= 4 * c->width,
                           c->infopro_mode == HPFF_INFOPRO_CONTRAST, hm->lambda_ce, hm->lambda_rec,
                           HPFF_REC_FULL, c->pff_n, inet};
    if (level == HPFF_LEVEL_IL && c->il_loss == HPFF_IL_LOSS_CODE) {
        s.rec = HPFF_REC_NONE;
        s.lambda_ce = 1.f;
    } else if (level == HPFF_LEVEL_CL && c->pff) {
        s.rec = pff_rec_kind(c, imagenet);
    }
    return hpff_infopro_create(b, &s, in, image, st);
}

hpff_head *hpff_aux_create(hpff_build *b, const hpff_config *c, int m, hpff_level level,
                           hpff_shape in, hpff_shape image, int classes,
                           const hpff_hilo_module *hm, hpff_status *st) {
    char prefix[32];
    snprintf(prefix, sizeof prefix, "aux%d.%s", m, level == HPFF_LEVEL_IL ? "il" : "cl");
    if (c->method == HPFF_METHOD_DGL || c->method == HPFF_METHOD_PREDSIM)
        return make_pffb(b, c, prefix, level, in, classes, st);
    if (c->method == HPFF_METHOD_INFOPRO)
        return make_infopro(b, c, prefix, level, in, image, classes, hm, st);
    *st = hpff_status_fail("train.method = %s has no auxiliary heads (expected dgl, infopro or predsim)",
                           hpff_config_enum_name(c, &c->method));
    return NULL;
}
