// aux_net.c — the auxiliary heads' layer sequence, patch partition and shared-weight builds.
#include "aux_net.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

static size_t align16(size_t v) { return (v + 15) & ~(size_t)15; }

void hpff_auxnet_init(hpff_auxnet *a, hpff_shape in) {
    memset(a, 0, sizeof *a);
    a->in = a->out = in;
}

void hpff_auxnet_push(hpff_auxnet *a, hpff_layer *L) {
    if (!a->first) {
        HPFF_CHECK(L->in.c == a->in.c && L->in.h == a->in.h && L->in.w == a->in.w,
                   "layer %s expects input %dx%dx%d but the net reads %dx%dx%d", L->name, L->in.c,
                   L->in.h, L->in.w, a->in.c, a->in.h, a->in.w);
        a->first = L;
        hpff_seq_init(&a->rest, L->out);
    } else {
        hpff_seq_push(&a->rest, L);
    }
    a->out = L->out;
}

void hpff_auxnet_plan(hpff_auxnet *a, int n_max) {
    HPFF_CHECK(a->first != NULL, "empty auxiliary net");
    hpff_layer *L = a->first;
    size_t y1 = align16((size_t)n_max * hpff_shape_numel(L->out));
    a->n_max = n_max;
    a->first_out = y1;
    a->first_saved = y1;
    a->rest_off = y1 + align16(hpff_layer_saved_floats(L, n_max));
    a->slot_floats = a->rest_off;
    a->grad_floats = 0;   // a one-layer net back-propagates dy straight into dx
    a->ws_bytes = L->ws_bytes;
    a->scratch_floats = L->scratch_per_sample * (size_t)n_max;
    a->flops_per_sample = L->flops_per_sample;
    if (a->rest.n) {
        hpff_seq_plan(&a->rest, n_max);
        a->slot_floats += a->rest.slot_floats;
        a->grad_floats = y1 + 2 * align16(a->rest.grad_floats);
        if (a->rest.ws_bytes > a->ws_bytes) a->ws_bytes = a->rest.ws_bytes;
        if (a->rest.scratch_floats > a->scratch_floats) a->scratch_floats = a->rest.scratch_floats;
        a->flops_per_sample += a->rest.flops_per_sample;
    }
}

void hpff_auxnet_free(hpff_auxnet *a) {
    hpff_layer_free(a->first);
    hpff_seq_free(&a->rest);
    memset(a, 0, sizeof *a);
}

float *hpff_auxnet_forward(hpff_auxnet *a, hpff_exec *ex, int n, const float *x, float *slot) {
    HPFF_CHECK(n <= a->n_max, "batch %d exceeds the planned %d", n, a->n_max);
    a->first->ops->forward(a->first, ex, n, x, slot, slot + a->first_saved);
    if (!a->rest.n) return slot;
    return hpff_seq_forward(&a->rest, ex, n, slot, slot + a->rest_off);
}

float *hpff_auxnet_output(const hpff_auxnet *a, float *slot) {
    return a->rest.n ? hpff_seq_output(&a->rest, slot + a->rest_off) : slot;
}

void hpff_auxnet_backward(hpff_auxnet *a, hpff_exec *ex, int n, const float *x, float *slot,
                          const float *dy, float *dx, float beta, float *grad) {
    const float *d1 = dy;   // gradient at the first layer's output
    if (a->rest.n) {
        float *g0 = grad + a->first_out, *g1 = g0 + align16(a->rest.grad_floats);
        hpff_seq_backward(&a->rest, ex, n, slot, slot + a->rest_off, dy, grad, 0.f, 1, g0, g1);
        d1 = grad;
    }
    a->first->ops->backward(a->first, ex, n, x, slot, slot + a->first_saved, d1, dx, beta, 1);
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
