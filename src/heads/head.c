// head.c — the head seam and the plain classifier head (Φ, DGL, classifier branches).
#include "head.h"
#include <stdio.h>
#include <stdlib.h>
#include "check.h"

void hpff_head_free(hpff_head *hd) {
    if (!hd) return;
    if (hd->ops->destroy) hd->ops->destroy(hd);
    free(hd->priv);
    free(hd);
}

void hpff_head_result_of(const hpff_head *hd, const float *host_stat, hpff_head_result *r) {
    HPFF_CHECK(host_stat[HPFF_STAT_BAD_LABELS] == 0.f, "head %s: %.0f labels outside [0, classes)",
               hd->name, host_stat[HPFF_STAT_BAD_LABELS]);
    r->loss = host_stat[HPFF_STAT_LOSS];
    r->correct1 = (int)host_stat[HPFF_STAT_TOP1];
    r->correct5 = (int)host_stat[HPFF_STAT_TOP5];
    r->has_acc = hd->has_acc;
}

void hpff_head_run_now(hpff_head *hd, hpff_exec *ex, const hpff_head_io *io, int train, hpff_head_result *r) {
    hpff_backend *be = ex->be;
    float host[HPFF_STAT_FLOATS];
    hpff_head_io run = *io;
    run.stat = be->alloc(be, sizeof host);   // zero-filled
    if (train) hd->ops->step(hd, ex, &run);
    else hd->ops->eval(hd, ex, &run);
    be->to_host(be, host, run.stat, sizeof host);
    be->free(be, run.stat);
    hpff_head_result_of(hd, host, r);
}

typedef struct classifier_priv { hpff_seq seq; int classes; } classifier_priv;

size_t hpff_classifier_work(const hpff_seq *seq, int classes) {
    return seq->slot_floats + hpff_seq_grad_pair(seq) + (size_t)seq->n_max * classes + 16;
}

void hpff_classifier_run(hpff_seq *seq, hpff_exec *ex, int classes, const hpff_head_io *io, int train) {
    float *slot = io->work;                          // (slot_floats)
    float *g0 = slot + seq->slot_floats;             // g0 | g1 (hpff_seq_grad_pair)
    float *g1 = hpff_seq_grad_g1(seq, g0);
    float *dlogits = g0 + hpff_seq_grad_pair(seq);   // (n, classes)
    int saved_train = ex->train;
    ex->train = train;
    const float *logits = hpff_seq_forward(seq, ex, io->n, io->h, slot);
    ex->train = saved_train;
    ex->be->softmax_xent(ex->be, io->n, classes, logits, io->labels, io->weight, train ? dlogits : NULL,
                         io->stat, 1.f);
    if (train)
        hpff_seq_backward(seq, ex, io->n, io->h, slot, dlogits, io->dh, io->beta, 1, g0, g1);
}

static void classifier_step(hpff_head *hd, hpff_exec *ex, const hpff_head_io *io) {
    classifier_priv *p = hd->priv;
    hpff_classifier_run(&p->seq, ex, p->classes, io, 1);
}

static void classifier_eval(hpff_head *hd, hpff_exec *ex, const hpff_head_io *io) {
    classifier_priv *p = hd->priv;
    hpff_classifier_run(&p->seq, ex, p->classes, io, 0);
}

static void classifier_destroy(hpff_head *hd) {
    classifier_priv *p = hd->priv;
    hpff_seq_free(&p->seq);
}

static const hpff_head_ops classifier_ops = {"classifier", classifier_step, classifier_eval, classifier_destroy};

hpff_head *hpff_head_classifier(const char *name, hpff_seq *seq, int classes) {
    HPFF_CHECK(seq->y_off != NULL, "head %s: sequence not planned", name);
    HPFF_CHECK((int)hpff_shape_numel(seq->out) == classes, "head %s: output %zu is not %d logits",
               name, hpff_shape_numel(seq->out), classes);
    hpff_head *hd = hpff_xcalloc(1, sizeof *hd);
    classifier_priv *p = hpff_xcalloc(1, sizeof *p);
    p->seq = *seq;
    p->classes = classes;
    hd->ops = &classifier_ops;
    hd->priv = p;
    hd->in = seq->in;
    hd->work_floats = hpff_classifier_work(seq, classes);
    hd->ws_bytes = seq->ws_bytes;
    hd->scratch_floats = seq->scratch_floats;
    hd->flops_per_sample = seq->flops_per_sample;
    hd->has_acc = 1;
    snprintf(hd->name, sizeof hd->name, "%s", name);
    return hd;
}

const float *hpff_classifier_logits(const hpff_head *hd, const float *work) {
    HPFF_CHECK(hd->ops == &classifier_ops, "head %s is not a plain classifier", hd->name);
    const classifier_priv *p = hd->priv;
    return work + p->seq.y_off[p->seq.n - 1];
}
