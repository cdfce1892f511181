// infopro.c — InfoPro heads: classifier (CE / SupCon) on the whole map, then each
// reconstruction term in turn (decoder on a window of h against the matching window of x~). The
// classifier and the decoders run one after another, so they share the work area. PFF-C (§5.4):
// one full-map decoder whose output is cut into n² patches, each BCE-compared with the same patch of x~.
#include "infopro.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "aux_imagenet.h"
#include "method_nets.h"
#include "auxnet.h"
#include "sizes.h"

#define IP_FEATURE_DIM 128   // SupCon feature size (§3.2)
#define IP_TAU 0.07f         // SupCon temperature (§3.2)
#define IP_MAX_SHARED 4      // distinct (feature patch, image patch) shapes of a shared decoder

typedef struct ip_term { hpff_patch feat, img; int net; } ip_term;   // one BCE term

typedef struct ip_priv {
    hpff_shape in, img;
    int inet;                     // ImageNet nets for this stem width (0: CIFAR nets)
    hpff_auxnet cls;
    int contrast, classes, out_dim;
    float lambda_ce, lambda_rec, rec_scale;   // rec_scale: 1 (sum of BCEs) or 1/n² (mean)
    int patched;                  // terms read windows of h and x~ (else the whole of both)
    int nterms, nnets;
    ip_term *term;                // (nterms)
    hpff_auxnet *dec;             // (nnets)
    int nout;                     // PFF-C: patches of the decoder output (0: one BCE on the whole)
    hpff_patch *opatch;           // (nout) the §5.4 partition of the image-sized decoder output
    // Work area: the classifier region and the decoder region both start at 0.
    size_t w_dout, w_cls, w_cgrad;
    size_t w_pin, w_pgrad, w_tgt, w_dec, w_ddec, w_dgrad;
    size_t w_oq, w_tq, w_doq;     // PFF-C: one output patch, its target patch, its BCE gradient
} ip_priv;


// ---------------------------------------------------------------- running

// The classifier branch: CE or SupCon, added to the stat block with lambda_CE.
static void ip_classifier(ip_priv *p, hpff_exec *ex, const hpff_head_io *io, int train) {
    hpff_backend *be = ex->be;
    float *w = io->work, *dout = train ? w + p->w_dout : NULL;
    float wt = io->weight * p->lambda_ce;
    const float *out = hpff_auxnet_forward(&p->cls, ex, io->n, io->h, w + p->w_cls);
    if (p->contrast)
        be->supcon(be, io->n, p->out_dim, out, io->labels, IP_TAU, wt, dout, io->stat, p->lambda_ce);
    else
        be->softmax_xent(be, io->n, p->classes, out, io->labels, wt, dout, io->stat, p->lambda_ce);
    if (train) hpff_auxnet_backward(&p->cls, ex, io->n, io->h, w + p->w_cls, dout, io->dh, io->beta, w + p->w_cgrad);
}

// One reconstruction term: BCE(D(window of h), window of x~), added to the stat block with
// lambda_rec * rec_scale; its gradient adds into dh.
static void ip_term_run(ip_priv *p, hpff_exec *ex, const hpff_head_io *io, int k, int train) {
    hpff_backend *be = ex->be;
    const ip_term *t = &p->term[k];
    hpff_auxnet *D = &p->dec[t->net];
    int n = io->n;
    float *w = io->work;
    const float *x = io->h, *tgt = io->target;
    if (p->patched) {
        float *xp = w + p->w_pin, *tp = w + p->w_tgt;
        be->patch_extract(be, n, p->in.c, p->in.h, p->in.w, t->feat.r0, t->feat.c0, t->feat.h, t->feat.w, io->h, xp);
        be->patch_extract(be, n, p->img.c, p->img.h, p->img.w, t->img.r0, t->img.c0, t->img.h, t->img.w, io->target, tp);
        x = xp;
        tgt = tp;
    }
    const float *y = hpff_auxnet_forward(D, ex, n, x, w + p->w_dec);
    float *dy = train ? w + p->w_ddec : NULL;
    float ls = p->lambda_rec * p->rec_scale, bw = io->weight * ls;
    if (p->nout) {
        // PFF-C (§5.4): BCE mean per output patch against the same patch of x~, summed. The
        // patches partition the output, so the scatters (beta 0) write every element of dy once.
        hpff_shape o = D->out;
        for (int q = 0; q < p->nout; q++) {
            const hpff_patch *pq = &p->opatch[q];
            float *oq = w + p->w_oq, *tq = w + p->w_tq, *doq = train ? w + p->w_doq : NULL;
            be->patch_extract(be, n, o.c, o.h, o.w, pq->r0, pq->c0, pq->h, pq->w, y, oq);
            be->patch_extract(be, n, o.c, o.h, o.w, pq->r0, pq->c0, pq->h, pq->w, tgt, tq);
            be->bce(be, (size_t)n * o.c * pq->h * pq->w, oq, tq, bw, doq, io->stat, ls);
            if (train) be->patch_scatter(be, n, o.c, o.h, o.w, pq->r0, pq->c0, pq->h, pq->w, doq, dy, 0.f);
        }
    } else {
        be->bce(be, (size_t)n * hpff_shape_numel(D->out), y, tgt, bw, dy, io->stat, ls);
    }
    if (train) {
        float *dx = io->dh ? (p->patched ? w + p->w_pgrad : io->dh) : NULL;
        hpff_auxnet_backward(D, ex, n, x, w + p->w_dec, dy, dx, p->patched ? 0.f : 1.f, w + p->w_dgrad);
        if (p->patched && io->dh)
            be->patch_scatter(be, n, p->in.c, p->in.h, p->in.w, t->feat.r0, t->feat.c0, t->feat.h, t->feat.w,
                              dx, io->dh, 1.f);
    }
}

static void ip_run(hpff_head *hd, hpff_exec *ex, const hpff_head_io *io, int train) {
    ip_priv *p = hd->priv;
    HPFF_CHECK(p->nterms == 0 || io->target != NULL, "head %s needs the reconstruction target", hd->name);
    int saved_train = ex->train;
    ex->train = train;
    ip_classifier(p, ex, io, train);
    for (int k = 0; k < p->nterms; k++) ip_term_run(p, ex, io, k, train);
    ex->train = saved_train;
}

static void ip_step(hpff_head *hd, hpff_exec *ex, const hpff_head_io *io) { ip_run(hd, ex, io, 1); }

static void ip_eval(hpff_head *hd, hpff_exec *ex, const hpff_head_io *io) { ip_run(hd, ex, io, 0); }

static void ip_free(ip_priv *p) {
    hpff_auxnet_free(&p->cls);
    for (int i = 0; i < p->nnets; i++) hpff_auxnet_free(&p->dec[i]);
    free(p->dec);
    free(p->term);
    free(p->opatch);
}

static void ip_destroy(hpff_head *hd) { ip_free(hd->priv); }

static const hpff_head_ops ip_ops = {"infopro", ip_step, ip_eval, ip_destroy};

// ---------------------------------------------------------------- construction

typedef struct ip_shared_arg {
    const char *prefix;
    ip_priv *p;
    hpff_shape feat[IP_MAX_SHARED];   // decoder input (feature patch) of shape k
    int oh[IP_MAX_SHARED], ow[IP_MAX_SHARED];
} ip_shared_arg;

static void ip_build_decoder(hpff_build *b, const char *prefix, hpff_shape feat, int oh, int ow,
                             int img_c, int inet, hpff_auxnet *net) {
    hpff_auxnet_init(net, feat);
    if (inet) hpff_aux_imagenet_decoder_push(b, prefix, inet, oh, ow, img_c, net);
    else hpff_aux_decoder_push(b, prefix, oh, ow, img_c, net);
    hpff_auxnet_plan(net, b->n_max);
}

static void ip_build_shared_one(hpff_build *b, void *arg, int k) {
    ip_shared_arg *a = arg;
    ip_build_decoder(b, a->prefix, a->feat[k], a->oh[k], a->ow[k], a->p->img.c, a->p->inet, &a->p->dec[k]);
}

// Terms and decoders of the patched reconstructions (PFF-A: one decoder per patch; shared: one
// decoder per distinct shape, all with the same weights). Returns 0 with *st on failure.
static int ip_build_patched(hpff_build *b, const hpff_infopro_spec *s, ip_priv *p, hpff_status *st) {
    int np = s->n * s->n;
    hpff_patch *fg = hpff_xcalloc((size_t)np, sizeof *fg), *ig = hpff_xcalloc((size_t)np, sizeof *ig);
    hpff_patch_grid(p->in.h, p->in.w, s->n, fg);
    hpff_patch_grid(p->img.h, p->img.w, s->n, ig);
    p->patched = 1;
    p->nterms = np;
    p->term = hpff_xcalloc((size_t)np, sizeof *p->term);
    p->dec = hpff_xcalloc((size_t)(s->rec == HPFF_REC_PFF_A ? np : IP_MAX_SHARED), sizeof *p->dec);
    ip_shared_arg a = {NULL, p, {{0, 0, 0}}, {0}, {0}};
    char nm[64];
    for (int q = 0; q < np; q++) {
        hpff_shape f = {p->in.c, fg[q].h, fg[q].w};
        p->term[q] = (ip_term){fg[q], ig[q], q};
        if (s->rec == HPFF_REC_PFF_A) {
            snprintf(nm, sizeof nm, "%s.dec%d", s->prefix, q);
            ip_build_decoder(b, nm, f, ig[q].h, ig[q].w, p->img.c, p->inet, &p->dec[q]);
            p->nnets++;
            continue;
        }
        int i = 0;
        while (i < p->nnets && !(a.feat[i].h == f.h && a.feat[i].w == f.w && a.oh[i] == ig[q].h && a.ow[i] == ig[q].w)) i++;
        HPFF_CHECK(i < IP_MAX_SHARED, "more than %d patch shapes", IP_MAX_SHARED);
        if (i == p->nnets) {
            a.feat[i] = f;
            a.oh[i] = ig[q].h;
            a.ow[i] = ig[q].w;
            p->nnets++;
        }
        p->term[q].net = i;
    }
    free(fg);
    free(ig);
    if (s->rec == HPFF_REC_PFF_A) return 1;
    char why[160] = "";
    snprintf(nm, sizeof nm, "%s.dec", s->prefix);
    a.prefix = nm;
    if (hpff_build_shared(b, p->nnets, ip_build_shared_one, &a, why, sizeof why)) return 1;
    *st = hpff_status_fail("%s: %s", s->prefix, why);
    return 0;
}

static size_t ip_layout(ip_priv *p, int n_max) {
    size_t nn = (size_t)n_max, off = 0, pin = 0, tgt = 0, slot = 0, dout = 0, grad = 0;
#define TAKE(field, floats) (p->field = off, off += hpff_align16(floats))
    TAKE(w_dout, nn * p->out_dim);
    TAKE(w_cls, p->cls.slot_floats);
    TAKE(w_cgrad, p->cls.grad_floats);
    size_t end_cls = off;
    for (int k = 0; k < p->nterms; k++) {
        const ip_term *t = &p->term[k];
        const hpff_auxnet *D = &p->dec[t->net];
        pin = hpff_zmax(pin, nn * p->in.c * t->feat.h * t->feat.w);
        tgt = hpff_zmax(tgt, nn * p->img.c * t->img.h * t->img.w);
        slot = hpff_zmax(slot, D->slot_floats);
        dout = hpff_zmax(dout, nn * hpff_shape_numel(D->out));
        grad = hpff_zmax(grad, D->grad_floats);
    }
    off = 0;
    if (p->patched) {
        TAKE(w_pin, pin);
        TAKE(w_pgrad, pin);
        TAKE(w_tgt, tgt);
    }
    TAKE(w_dec, slot);
    TAKE(w_ddec, dout);
    TAKE(w_dgrad, grad);
    if (p->nout) {
        size_t oq = 0;
        for (int q = 0; q < p->nout; q++) oq = hpff_zmax(oq, nn * p->img.c * p->opatch[q].h * p->opatch[q].w);
        TAKE(w_oq, oq);
        TAKE(w_tq, oq);
        TAKE(w_doq, oq);
    }
#undef TAKE
    return hpff_zmax(end_cls, off);
}

static void ip_costs(const ip_priv *p, hpff_head *hd) {
    hd->flops_per_sample = p->cls.flops_per_sample;
    hd->ws_bytes = p->cls.ws_bytes;
    hd->scratch_floats = p->cls.scratch_floats;
    for (int k = 0; k < p->nterms; k++) hd->flops_per_sample += p->dec[p->term[k].net].flops_per_sample;
    for (int i = 0; i < p->nnets; i++) {
        hd->ws_bytes = hpff_zmax(hd->ws_bytes, p->dec[i].ws_bytes);
        hd->scratch_floats = hpff_zmax(hd->scratch_floats, p->dec[i].scratch_floats);
    }
}

hpff_head *hpff_infopro_create(hpff_build *b, const hpff_infopro_spec *s, hpff_shape in,
                               hpff_shape image, hpff_status *st) {
    int patched = s->rec == HPFF_REC_PFF_A || s->rec == HPFF_REC_SHARED;
    int pffc = s->rec == HPFF_REC_PFF_C;   // PFF-C cuts only the decoder output (image-sized)
    if ((patched && (s->n < 1 || in.h < s->n || in.w < s->n || image.h < s->n || image.w < s->n)) ||
        (pffc && (s->n < 1 || image.h < s->n || image.w < s->n))) {
        *st = hpff_status_fail("%s: local.pff_n = %d cuts %dx%d features or %dx%d images into empty patches",
                               s->prefix, s->n, in.h, in.w, image.h, image.w);
        return NULL;
    }
    ip_priv *p = hpff_xcalloc(1, sizeof *p);
    p->in = in;
    p->img = image;
    p->inet = s->imagenet_width;
    p->contrast = s->contrast;
    p->classes = s->classes;
    p->out_dim = s->contrast ? IP_FEATURE_DIM : s->classes;
    p->lambda_ce = s->lambda_ce;
    p->lambda_rec = s->lambda_rec;
    p->rec_scale = s->rec == HPFF_REC_SHARED ? 1.f / (float)(s->n * s->n) : 1.f;
    char nm[64];
    snprintf(nm, sizeof nm, "%s.cls", s->prefix);
    hpff_auxnet_init(&p->cls, in);
    if (p->inet) hpff_aux_imagenet_cls_push(b, nm, p->inet, p->out_dim, &p->cls);
    else hpff_aux_infopro_cls_push(b, nm, s->two_conv, s->last_stage, p->out_dim, &p->cls);
    hpff_auxnet_plan(&p->cls, b->n_max);
    int ok = 1;
    if (s->rec == HPFF_REC_FULL || pffc) {
        hpff_patch whole_f = {0, 0, in.h, in.w}, whole_i = {0, 0, image.h, image.w};
        p->nterms = p->nnets = 1;
        p->term = hpff_xcalloc(1, sizeof *p->term);
        p->term[0] = (ip_term){whole_f, whole_i, 0};
        p->dec = hpff_xcalloc(1, sizeof *p->dec);
        snprintf(nm, sizeof nm, "%s.dec", s->prefix);
        ip_build_decoder(b, nm, in, image.h, image.w, image.c, p->inet, &p->dec[0]);
        if (pffc) {
            p->nout = s->n * s->n;
            p->opatch = hpff_xcalloc((size_t)p->nout, sizeof *p->opatch);
            hpff_patch_grid(image.h, image.w, s->n, p->opatch);
        }
    } else if (patched) {
        ok = ip_build_patched(b, s, p, st);
    }
    if (!ok) {
        ip_free(p);
        free(p);
        return NULL;
    }
    hpff_head *hd = hpff_xcalloc(1, sizeof *hd);
    hd->ops = &ip_ops;
    hd->priv = p;
    hd->in = in;
    hd->work_floats = ip_layout(p, b->n_max);
    hd->has_acc = !p->contrast;
    ip_costs(p, hd);
    snprintf(hd->name, sizeof hd->name, "%s", s->prefix);
    return hd;
}
