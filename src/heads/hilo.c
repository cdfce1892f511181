// hilo.c — which local losses each module has, and their weights (ALGORITHM §4.3-§4.7).
#include "hilo.h"
#include <string.h>
#include "net.h"

// The authors' ImageNet code hard-codes these InfoPro weights (§3.2, §10-15).
#define IMAGENET_LAMBDA_REC 5.f
#define IMAGENET_LAMBDA_CE 0.75f
// ... and its constructor's unused w_C, the default when the IL OPTION (w_il = 1e-4) is on (§4.7-5).
#define IMAGENET_W_CL 0.9999f

// InfoPro λ schedule (§3.2): r = m/(K-2) with the CLI K, not M; r = 0 if K <= 2.
static void infopro_lambda(const hpff_config *c, int m, float *rec, float *ce) {
    float r = c->K > 2 ? (float)m / (float)(c->K - 2) : 0.f;
    *rec = c->ixx_1 * (1.f - r) + c->ixx_2 * r;
    *ce = c->ixy_1 * (1.f - r) + c->ixy_2 * r;
}

// The ImageNet code profile (§4.5, §4.7-5, §7): InfoPro on an ImageNet ResNet.
static int imagenet_infopro(const hpff_config *c) {
    return c->method == HPFF_METHOD_INFOPRO && hpff_net_kind_of(c->arch) == HPFF_NET_BOTTLENECK;
}

// Level weights. Defaults: both levels 0.001 / 0.999 (§4.5); one level alone has weight 1 (§6
// baselines, Table 4(a) CL-only 0/1). ImageNet code profile: under HiLo the independent level
// exists only when local.w_il is given (the code is cascade-only, w_C = 1; with IL the OPTION's
// weights are the constructor's 1e-4 / 0.9999). Returns whether the IL level is on.
static int level_weights(const hpff_config *c, float *w_il, float *w_cl) {
    int il = c->il, hilo = c->il && c->cl;
    if (hilo && imagenet_infopro(c)) {
        il = c->w_il >= 0;
        *w_il = il ? c->w_il : 0.f;
        *w_cl = c->w_cl >= 0 ? c->w_cl : (il ? IMAGENET_W_CL : 1.f);
        return il;
    }
    *w_il = c->w_il >= 0 ? c->w_il : (hilo ? 0.001f : 1.f);
    *w_cl = c->w_cl >= 0 ? c->w_cl : (hilo ? 0.999f : 1.f);
    if (!c->il) *w_il = 0.f;
    if (!c->cl) *w_cl = 0.f;
    return il;
}

hpff_status hpff_hilo_plan(const hpff_config *c, int M, hpff_hilo *h) {
    memset(h, 0, sizeof *h);
    h->M = M;
    if (c->method == HPFF_METHOD_BP || M == 1) {   // end to end: Φ alone, weight 1
        h->w_final_a = 1.f;
        return hpff_status_ok();
    }
    if (!c->il && !c->cl)
        return hpff_status_fail("local.il = 0 and local.cl = 0 leave the local modules without any loss");
    int hilo = c->il && c->cl;
    float w_il, w_cl;
    int il_on = level_weights(c, &w_il, &w_cl);
    // Independent level: modules 1..M-2 under HiLo (code), 0..M-2 for the base method alone or
    // with il_first (§4.7-2).
    int il_from = (!hilo || c->il_first) ? 0 : 1;
    for (int m = 0; m < M - 1; m++) {
        hpff_hilo_module *x = &h->mod[m];
        x->il = il_on && m >= il_from;
        x->cl = c->cl && m >= 1;
        x->w_il = x->il ? w_il : 0.f;
        x->w_cl = x->cl ? w_cl : 0.f;
        x->push_up = x->cl;
        x->lambda_rec = x->lambda_ce = 1.f;
        if (imagenet_infopro(c)) {
            x->lambda_rec = IMAGENET_LAMBDA_REC;
            x->lambda_ce = IMAGENET_LAMBDA_CE;
        } else if (c->method == HPFF_METHOD_INFOPRO) {
            infopro_lambda(c, m, &x->lambda_rec, &x->lambda_ce);
        }
    }
    h->w_final_a = w_il;
    h->w_final_c = w_cl;
    if (!il_on) h->w_final_a = 0.f;
    // The final head doubles as the cascade head of pair (M-2, M-1) unless last_cascade = 0.
    h->mod[M - 1].push_up = c->cl && c->last_cascade;
    h->mod[M - 1].w_cl = w_cl;
    h->mod[M - 1].lambda_rec = h->mod[M - 1].lambda_ce = 1.f;
    return hpff_status_ok();
}
