// seq.c — running a layer sequence over one activation slot.
#include "seq.h"
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "layers.h"
#include "sizes.h"

void hpff_seq_init(hpff_seq *s, hpff_shape in) {
    memset(s, 0, sizeof *s);
    s->in = s->out = in;
}

void hpff_seq_push(hpff_seq *s, hpff_layer *L) {
    HPFF_CHECK(L->in.c == s->out.c && L->in.h == s->out.h && L->in.w == s->out.w,
               "layer %s expects input %dx%dx%d but the sequence yields %dx%dx%d", L->name, L->in.c,
               L->in.h, L->in.w, s->out.c, s->out.h, s->out.w);
    HPFF_CHECK(s->y_off == NULL, "layer %s pushed after the sequence was planned", L->name);
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 8;
        s->layers = realloc(s->layers, (size_t)s->cap * sizeof *s->layers);
        HPFF_CHECK(s->layers != NULL, "out of memory");
    }
    s->layers[s->n++] = L;
    s->out = L->out;
}


static int is_relu(const hpff_layer *L) { return strcmp(L->ops->kind, "relu") == 0; }
static int is_kind(const hpff_layer *L, const char *kind) { return strcmp(L->ops->kind, kind) == 0; }

// conv -> BN (-> ReLU) -> conv: the tensors between the two convolutions in the layout both work
// in, where the backend has one (hpff_block_link); resize -> conv: the resize's output in the
// convolution's layout (hpff_resize_link); the rest stays NCHW. Before the workspaces and
// scratch are summed up: linking sizes them again.
static void link_blocked_chains(hpff_seq *s) {
    for (int i = 0; i + 1 < s->n; i++)
        if (is_kind(s->layers[i], "resize") && is_kind(s->layers[i + 1], "conv"))
            hpff_resize_link(s->layers[i], s->layers[i + 1]);
    for (int i = 1; i + 1 < s->n; i++) {
        int next = i + 1 + (is_relu(s->layers[i + 1]) && i + 2 < s->n);
        if (!is_kind(s->layers[i], "bn") || !is_kind(s->layers[i - 1], "conv") || !is_kind(s->layers[next], "conv"))
            continue;
        hpff_block_link(&s->layers[i - 1], 1, &s->layers[next], 1, &s->layers[i], 1);
    }
}

static void plan(hpff_seq *s, int n_max, int split_out) {
    HPFF_CHECK(s->n > 0, "empty layer sequence");
    s->n_max = n_max;
    s->split_out = split_out;
    s->out_floats = hpff_align16((size_t)n_max * hpff_shape_numel(s->out));
    s->y_off = hpff_xcalloc((size_t)s->n, sizeof(size_t));
    s->saved_off = hpff_xcalloc((size_t)s->n, sizeof(size_t));
    s->skip = hpff_xcalloc((size_t)s->n, sizeof(int));
    link_blocked_chains(s);
    size_t off = 0, g = 0;   // gradients at layer outputs 0..n-2 (the input's goes to the caller)
    for (int i = 0; i < s->n; i++) {
        hpff_layer *L = s->layers[i];
        int last_outside = split_out && i == s->n - 1;
        // An in-place layer (ReLU, sigmoid) overwrites its input inside the slot when the layer
        // before it never reads its own output again (conv, BN, linear); never the sequence input.
        // A ReLU so placed after a batch norm is done by the batch norm itself and skipped.
        if (last_outside) {
            s->y_off[i] = 0;   // unused: the caller's buffer
        } else if (i > 0 && L->in_place && !s->layers[i - 1]->reads_y) {
            s->y_off[i] = s->y_off[i - 1];
            if (is_relu(L) && s->layers[i - 1]->absorbs_relu && !s->layers[i - 1]->fused_relu) {
                s->layers[i - 1]->fused_relu = 1;
                s->skip[i] = 1;
            }
        } else {
            s->y_off[i] = off;
            off += hpff_align16((size_t)n_max * hpff_shape_numel(L->out));
        }
        s->saved_off[i] = off;
        off += hpff_align16(hpff_layer_saved_floats(L, n_max));
        size_t sc = L->scratch_per_sample * (size_t)n_max;
        if (sc > s->scratch_floats) s->scratch_floats = sc;
        if (i < s->n - 1 && hpff_shape_numel(L->out) > g) g = hpff_shape_numel(L->out);
        if (L->ws_bytes > s->ws_bytes) s->ws_bytes = L->ws_bytes;
        s->flops_per_sample += L->flops_per_sample;
    }
    // backward: the k-th layer it runs (from the last down, layer 0 excluded) writes its input
    // gradient to g0 for even k, to g1 for odd k (hpff_seq_spare_grad follows the same count).
    s->grad_writes = 0;
    for (int i = s->n - 1; i >= 1; i--) {
        if (s->skip[i]) continue;
        size_t *par = &s->grad_par[s->grad_writes++ % 2];
        size_t need = (size_t)n_max * hpff_shape_numel(s->layers[i]->in);
        if (need > *par) *par = need;
    }
    s->slot_floats = off;
    s->grad_floats = g * (size_t)n_max;
}

void hpff_seq_plan(hpff_seq *s, int n_max) { plan(s, n_max, 0); }

void hpff_seq_plan_split(hpff_seq *s, int n_max) { plan(s, n_max, 1); }

void hpff_seq_free(hpff_seq *s) {
    for (int i = 0; i < s->n; i++) hpff_layer_free(s->layers[i]);
    free(s->layers);
    free(s->y_off);
    free(s->saved_off);
    free(s->skip);
    memset(s, 0, sizeof *s);
}

// Where layer i's output lives: in the slot, or the caller's `out` for a split plan's last layer.
static float *layer_y(const hpff_seq *s, float *slot, const float *out, int i) {
    return s->split_out && i == s->n - 1 ? (float *)out : slot + s->y_off[i];
}

static float *forward(hpff_seq *s, hpff_exec *ex, int n, const float *x, float *slot, float *out) {
    HPFF_CHECK(n <= s->n_max, "batch %d exceeds the planned %d", n, s->n_max);
    const float *in = x;
    float *y = NULL;
    for (int i = 0; i < s->n; i++) {
        y = layer_y(s, slot, out, i);
        if (!s->skip[i]) s->layers[i]->ops->forward(s->layers[i], ex, n, in, y, slot + s->saved_off[i]);
        in = y;
    }
    return y;
}

float *hpff_seq_forward(hpff_seq *s, hpff_exec *ex, int n, const float *x, float *slot) {
    HPFF_CHECK(!s->split_out, "split sequence run without its output buffer");
    return forward(s, ex, n, x, slot, NULL);
}

float *hpff_seq_forward_out(hpff_seq *s, hpff_exec *ex, int n, const float *x, float *slot, float *out) {
    HPFF_CHECK(s->split_out && out, "hpff_seq_forward_out needs a split plan and an output buffer");
    return forward(s, ex, n, x, slot, out);
}

float *hpff_seq_output(const hpff_seq *s, float *slot) {
    HPFF_CHECK(!s->split_out, "split sequence: its output is the caller's buffer");
    return slot + s->y_off[s->n - 1];
}

static void backward(hpff_seq *s, hpff_exec *ex, int n, const float *x, float *slot, const float *out,
                     const float *dy, float *dx, float beta, int param_grads, float *g0, float *g1) {
    const float *grad = dy;
    for (int i = s->n - 1; i >= 0; i--) {
        hpff_layer *L = s->layers[i];
        if (s->skip[i]) continue;   // a ReLU its batch norm applied (and differentiates)
        const float *in = i ? layer_y(s, slot, out, i - 1) : x;
        float *out_grad = i ? ((grad == g0) ? g1 : g0) : dx;
        float b = i ? 0.f : beta;
        L->ops->backward(L, ex, n, in, layer_y(s, slot, out, i), slot + s->saved_off[i], grad, out_grad, b,
                         param_grads);
        grad = out_grad;
    }
}

void hpff_seq_backward(hpff_seq *s, hpff_exec *ex, int n, const float *x, float *slot, const float *dy,
                       float *dx, float beta, int param_grads, float *g0, float *g1) {
    HPFF_CHECK(!s->split_out, "split sequence run without its output buffer");
    backward(s, ex, n, x, slot, NULL, dy, dx, beta, param_grads, g0, g1);
}

void hpff_seq_backward_out(hpff_seq *s, hpff_exec *ex, int n, const float *x, float *slot, const float *out,
                           const float *dy, float *dx, float beta, int param_grads, float *g0, float *g1) {
    HPFF_CHECK(s->split_out && out, "hpff_seq_backward_out needs a split plan and an output buffer");
    backward(s, ex, n, x, slot, out, dy, dx, beta, param_grads, g0, g1);
}

float *hpff_seq_spare_grad(const hpff_seq *s, float *g0, float *g1) {
    // Layer 0 reads the last of the grad_writes gradients backward wrote before it (write k went
    // to g0 for even k), or dy itself when there were none: the other buffer is free.
    return s->grad_writes % 2 == 0 ? g0 : g1;
}

size_t hpff_seq_grad_pair(const hpff_seq *s) { return hpff_align16(s->grad_par[0]) + hpff_align16(s->grad_par[1]); }

float *hpff_seq_grad_g1(const hpff_seq *s, float *g0) { return g0 + hpff_align16(s->grad_par[0]); }
