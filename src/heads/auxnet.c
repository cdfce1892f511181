// auxnet.c — the auxiliary heads' layer sequence, patch partition and shared-weight builds.
#include "auxnet.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

void hpff_auxnet_init(hpff_auxnet *a, hpff_shape in) {
    memset(a, 0, sizeof *a);
    a->in = a->out = in;
    hpff_seq_init(&a->seq, in);
}

void hpff_auxnet_push(hpff_auxnet *a, hpff_layer *L) {
    hpff_seq_push(&a->seq, L);
    a->out = L->out;
}

void hpff_auxnet_plan(hpff_auxnet *a, int n_max) {
    HPFF_CHECK(a->seq.n > 0, "empty auxiliary net");
    hpff_seq_plan(&a->seq, n_max);
    a->n_max = n_max;
    a->slot_floats = a->seq.slot_floats;
    a->grad_floats = hpff_seq_grad_pair(&a->seq);
    a->ws_bytes = a->seq.ws_bytes;
    a->scratch_floats = a->seq.scratch_floats;
    a->flops_per_sample = a->seq.flops_per_sample;
}

void hpff_auxnet_free(hpff_auxnet *a) {
    hpff_seq_free(&a->seq);
    memset(a, 0, sizeof *a);
}

float *hpff_auxnet_forward(hpff_auxnet *a, hpff_exec *ex, int n, const float *x, float *slot) {
    return hpff_seq_forward(&a->seq, ex, n, x, slot);
}

float *hpff_auxnet_output(const hpff_auxnet *a, float *slot) { return hpff_seq_output(&a->seq, slot); }

void hpff_auxnet_backward(hpff_auxnet *a, hpff_exec *ex, int n, const float *x, float *slot,
                          const float *dy, float *dx, float beta, float *grad) {
    float *g0 = grad, *g1 = hpff_seq_grad_g1(&a->seq, grad);
    hpff_seq_backward(&a->seq, ex, n, x, slot, dy, dx, beta, 1, g0, g1);
}

void hpff_patch_grid(int h, int w, int n, hpff_patch *p) {
    for (int k = 0; k < n; k++)
        for (int l = 0; l < n; l++) {
            hpff_patch *q = &p[k * n + l];
            q->r0 = k * h / n;
            q->c0 = l * w / n;
            q->h = (k + 1) * h / n - q->r0;
            q->w = (l + 1) * w / n - q->c0;
        }
}

// A registry holding the first `n` tensors of src (total `total` floats), in new memory.
static hpff_registry registry_prefix(const hpff_registry *src, int n, size_t total) {
    hpff_registry r = {NULL, n, n, total};
    if (n) {
        r.t = hpff_xmalloc((size_t)n * sizeof *r.t);
        memcpy(r.t, src->t, (size_t)n * sizeof *r.t);
    }
    return r;
}

// 1 when tensors [from, ref->n) of ref and of got agree in name, offset and size.
static int same_tail(const hpff_registry *ref, const hpff_registry *got, int from) {
    if (got->n != ref->n || got->total != ref->total) return 0;
    for (int i = from; i < ref->n; i++)
        if (strcmp(ref->t[i].name, got->t[i].name) || ref->t[i].off != got->t[i].off ||
            ref->t[i].count != got->t[i].count)
            return 0;
    return 1;
}

int hpff_build_shared(hpff_build *b, int count, hpff_shared_build_fn fn, void *arg, char *why,
                      size_t why_len) {
    int np0 = b->params->n, ns0 = b->state->n;
    size_t tp0 = b->params->total, ts0 = b->state->total;
    hpff_registry snap_p = registry_prefix(b->params, np0, tp0);
    hpff_registry snap_s = registry_prefix(b->state, ns0, ts0);
    int ok = 1;
    fn(b, arg, 0);
    for (int k = 1; k < count && ok; k++) {
        hpff_registry p = registry_prefix(&snap_p, np0, tp0), s = registry_prefix(&snap_s, ns0, ts0);
        hpff_build bk = *b;
        bk.params = &p;
        bk.state = &s;
        fn(&bk, arg, k);
        ok = same_tail(b->params, &p, np0) && same_tail(b->state, &s, ns0);
        if (!ok)
            snprintf(why, why_len, "the shared auxiliary net built for patch shape %d declares "
                     "different tensors than for shape 0", k);
        hpff_registry_free(&p);
        hpff_registry_free(&s);
    }
    hpff_registry_free(&snap_p);
    hpff_registry_free(&snap_s);
    return ok;
}
