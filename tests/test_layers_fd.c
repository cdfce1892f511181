// test_layers_fd.c — finite-difference checks of every layer type and of a whole small ResNet
// with its final head and loss: the analytic input and parameter gradients of a sequence
// against central differences of L = sum(R .* y) (R fixed random) in train mode, on a batch
// smaller than planned (the last partial batch) with odd sizes.
#include <math.h>
#include <string.h>
#include "head.h"
#include "layers.h"
#include "bottleneck.h"
#include "net.h"
#include "test_util.h"

typedef struct fixture {
    hpff_backend *be;
    hpff_registry params, state;
    hpff_build b;
    hpff_exec ex;
} fixture;

static void fixture_init(fixture *f, int n_max) {
    memset(f, 0, sizeof *f);
    f->be = hpff_backend_cpu_create();
    hpff_build b = {f->be, &f->params, &f->state, 0, n_max, 0.1f, 0.f};
    f->b = b;
}

// Allocates the arenas once every layer is declared and initialises them (random BN affine).
static void fixture_arenas(fixture *f, size_t ws, size_t scratch) {
    f->ex.be = f->be;
    f->ex.params = calloc(f->params.total + 16, sizeof(float));
    f->ex.grads = calloc(f->params.total + 16, sizeof(float));
    f->ex.state = calloc(f->state.total + 16, sizeof(float));
    hpff_registry_init_values(&f->params, 3, f->ex.params);
    hpff_registry_init_values(&f->state, 3, f->ex.state);
    for (int i = 0; i < f->params.n; i++)   // non-trivial BN affine parameters
        if (strstr(f->params.t[i].name, "bn") && f->params.t[i].init != HPFF_INIT_NORMAL)
            test_fill_uniform(f->ex.params + f->params.t[i].off, f->params.t[i].count, 0.5f, 1.5f, 7 + i);
    f->ex.ws_bytes = ws;
    f->ex.ws = ws ? malloc(ws) : NULL;
    f->ex.scratch_floats = scratch;
    f->ex.scratch = calloc(scratch + 16, sizeof(float));
    f->ex.train = 1;
}

static void fixture_free(fixture *f) {
    free(f->ex.params); free(f->ex.grads); free(f->ex.state); free(f->ex.ws); free(f->ex.scratch);
    hpff_registry_free(&f->params);
    hpff_registry_free(&f->state);
    hpff_backend_destroy(f->be);
}

static double seq_loss(hpff_seq *s, fixture *f, int n, const float *x, float *slot, const float *R) {
    const float *y = hpff_seq_forward(s, &f->ex, n, x, slot);
    double L = 0;
    size_t m = (size_t)n * hpff_shape_numel(s->out);
    for (size_t i = 0; i < m; i++) L += (double)R[i] * y[i];
    return L;
}

// The central difference of the loss in coordinate *p at step sizes 4 eps, eps and eps/4, the one
// closest to the analytic value g: the forward runs in fp32, so one quotient can be spoiled by a
// kink inside the step (large eps) or by the loss's rounding (small eps, e.g. through a batch norm
// over a few samples); a wrong gradient is off at every step size (as test_aux_fd.c does).
static float fd_closest(hpff_seq *s, fixture *f, int n, const float *x, float *slot, const float *R, float *p,
                        double eps, float g) {
    float keep = *p, best = 0.f;
    for (int e = 0; e < 3; e++) {
        double h = e == 0 ? eps : e == 1 ? 4 * eps : eps / 4;
        *p = keep + (float)h; double lp = seq_loss(s, f, n, x, slot, R);
        *p = keep - (float)h; double lm = seq_loss(s, f, n, x, slot, R);
        float q = (float)((lp - lm) / (2 * h));
        if (e == 0 || fabsf(q - g) < fabsf(best - g)) best = q;
    }
    *p = keep;
    return best;
}

// Checks up to `samples` coordinates of x and of every parameter tensor.
static void check_seq(const char *name, hpff_seq *s, fixture *f, int n, double eps, double atol, double rtol) {
    size_t xn = (size_t)n * hpff_shape_numel(s->in), yn = (size_t)n * hpff_shape_numel(s->out);
    float *x = malloc(xn * sizeof(float)), *R = malloc(yn * sizeof(float));
    float *dx = calloc(xn, sizeof(float)), *slot = calloc(s->slot_floats + 16, sizeof(float));
    float *g0 = calloc(s->grad_floats + 16, sizeof(float)), *g1 = calloc(s->grad_floats + 16, sizeof(float));
    test_fill_uniform(x, xn, -1.5f, 1.5f, 11);
    test_fill_uniform(R, yn, -1.f, 1.f, 12);
    memset(f->ex.grads, 0, f->params.total * sizeof(float));
    seq_loss(s, f, n, x, slot, R);
    hpff_seq_backward(s, &f->ex, n, x, slot, R, dx, 0.f, 1, g0, g1);
    const int samples = 12;
    float got[64], want[64];
    int k = 0;
    for (int j = 0; j < samples; j++) {
        size_t i = (size_t)j * 7919 % xn;
        got[k] = dx[i];
        want[k] = fd_closest(s, f, n, x, slot, R, x + i, eps, got[k]);
        k++;
    }
    char what[128];
    snprintf(what, sizeof what, "%s d/dx", name);
    test_close(what, got, want, (size_t)k, atol, rtol);
    for (int t = 0; t < f->params.n; t++) {
        hpff_tensor_info *ti = &f->params.t[t];
        k = 0;
        for (int j = 0; j < samples && j < (int)ti->count; j++) {
            size_t i = ti->off + (size_t)j * 131 % ti->count;
            got[k] = f->ex.grads[i];
            want[k] = fd_closest(s, f, n, x, slot, R, f->ex.params + i, eps, got[k]);
            k++;
        }
        snprintf(what, sizeof what, "%s d/d%s", name, ti->name);
        test_close(what, got, want, (size_t)k, atol, rtol);
    }
    free(x); free(R); free(dx); free(slot); free(g0); free(g1);
}

typedef hpff_layer *(*make_fn)(hpff_build *b, hpff_shape in);
static hpff_layer *mk_conv(hpff_build *b, hpff_shape in) {
    hpff_conv_params p = {6, 3, 3, 2, 2, 1, 1, 2, 1, HPFF_INIT_NORMAL, 0.f};
    return hpff_conv_create(b, "conv", in, &p);
}
static hpff_layer *mk_conv1x1(hpff_build *b, hpff_shape in) {
    hpff_conv_params p = hpff_conv3(5, 1, 1, 0);
    return hpff_conv_create(b, "conv1x1", in, &p);
}
static hpff_layer *mk_bn(hpff_build *b, hpff_shape in) { return hpff_bn_create(b, "bn", in); }
static hpff_layer *mk_relu(hpff_build *b, hpff_shape in) { (void)b; return hpff_relu_create(in); }
static hpff_layer *mk_sigmoid(hpff_build *b, hpff_shape in) { (void)b; return hpff_sigmoid_create(in); }
static hpff_layer *mk_linear(hpff_build *b, hpff_shape in) {
    hpff_linear_params p = {7, 1, 0};
    return hpff_linear_create(b, "fc", in, &p);
}
static hpff_layer *mk_avg(hpff_build *b, hpff_shape in) {
    (void)b;
    hpff_pool_params p = {3, 2, 3, 2, 1, 1};
    return hpff_avgpool_create(in, &p);
}
static hpff_layer *mk_max(hpff_build *b, hpff_shape in) {
    (void)b;
    hpff_pool_params p = {3, 3, 2, 2, 1, 1};
    return hpff_maxpool_create(in, &p);
}
static hpff_layer *mk_adaptive(hpff_build *b, hpff_shape in) { (void)b; return hpff_adaptive_avgpool_create(in, 3, 2); }
static hpff_layer *mk_resize_up(hpff_build *b, hpff_shape in) { (void)b; return hpff_resize_create(in, 9, 11); }
static hpff_layer *mk_resize_down(hpff_build *b, hpff_shape in) { (void)b; return hpff_resize_create(in, 4, 3); }
static hpff_layer *mk_block_id(hpff_build *b, hpff_shape in) { return hpff_basic_block_create(b, "blk", in, in.c, 1); }
static hpff_layer *mk_block_proj(hpff_build *b, hpff_shape in) { return hpff_basic_block_create(b, "blk", in, 6, 2); }
// Bottleneck blocks (v1.5: stride on the 3x3): projection with stride 2 and a grouped 3x3
// (planes 4, groups 2, width per group 32: 4 inner channels, 16 out), and identity (in 16 = 4*4).
static hpff_layer *mk_bneck_proj(hpff_build *b, hpff_shape in) {
    hpff_bottleneck_params p = {4, 2, 2, 32, 1};
    return hpff_bottleneck_create(b, "bneck", in, &p);
}
static hpff_layer *mk_bneck_id(hpff_build *b, hpff_shape in) {
    hpff_bottleneck_params p = {4, 1, 1, 64, 0};
    return hpff_bottleneck_create(b, "bneck", in, &p);
}

static void check_layer(const char *name, make_fn mk, hpff_shape in, double eps, double atol, double rtol) {
    fixture f;
    fixture_init(&f, 5);
    hpff_seq s;
    hpff_seq_init(&s, in);
    hpff_seq_push(&s, mk(&f.b, in));
    hpff_seq_plan(&s, 5);
    fixture_arenas(&f, s.ws_bytes, s.scratch_floats);
    check_seq(name, &s, &f, 4, eps, atol, rtol);
    hpff_seq_free(&s);
    fixture_free(&f);
}

// A whole ResNet-8 (width 3, 2 input channels, 10x10) with Φ and cross-entropy: d loss/d x and
// every parameter, through the classifier head (the loss path of training).
static void check_resnet(void) {
    fixture f;
    fixture_init(&f, 5);
    hpff_shape in = {2, 10, 10};
    hpff_net_spec r;
    HPFF_CHECK(!hpff_net_spec_make(HPFF_ARCH_RESNET8, 3, "", in, 10, &r).code, "resnet8 spec");
    hpff_seq net, phi;
    hpff_seq_init(&net, r.in);
    hpff_net_push_units(&f.b, &r, 0, 3, &net);
    hpff_seq_plan(&net, 5);
    hpff_seq_init(&phi, net.out);
    hpff_final_head_push(&f.b, 10, &phi);
    hpff_seq_plan(&phi, 5);
    hpff_head *hd = hpff_head_classifier("fc", &phi, 10);
    size_t sc = net.scratch_floats > hd->scratch_floats ? net.scratch_floats : hd->scratch_floats;
    fixture_arenas(&f, net.ws_bytes > hd->ws_bytes ? net.ws_bytes : hd->ws_bytes, sc);
    int n = 4;
    size_t xn = (size_t)n * hpff_shape_numel(r.in), hn = (size_t)n * hpff_shape_numel(net.out);
    float *x = malloc(xn * sizeof(float)), *dx = calloc(xn, sizeof(float)), *dh = calloc(hn, sizeof(float));
    float *slot = calloc(net.slot_floats, sizeof(float)), *work = calloc(hd->work_floats, sizeof(float));
    float *g0 = calloc(net.grad_floats, sizeof(float)), *g1 = calloc(net.grad_floats, sizeof(float));
    int32_t labels[4] = {3, 7, 3, 0};
    test_fill_uniform(x, xn, -1.5f, 1.5f, 5);
    float stat[HPFF_STAT_FLOATS];
    hpff_head_io io = {n, NULL, labels, NULL, 1.f, dh, 0.f, work, stat, NULL};
    memset(f.ex.grads, 0, f.params.total * sizeof(float));
    io.h = hpff_seq_forward(&net, &f.ex, n, x, slot);
    hd->ops->step(hd, &f.ex, &io);
    hpff_seq_backward(&net, &f.ex, n, x, slot, dh, dx, 0.f, 1, g0, g1);
    float *grads = malloc(f.params.total * sizeof(float));
    memcpy(grads, f.ex.grads, f.params.total * sizeof(float));
    // loss(x, params) with the same forward, without touching the gradients
    hpff_head_io ev = {n, NULL, labels, NULL, 1.f, NULL, 0.f, work, stat, NULL};
    const double eps = 2e-3;
    float got[400], want[400];
    int k = 0;
    for (int t = -1; t < f.params.n; t++) {
        float *base = t < 0 ? x : f.ex.params + f.params.t[t].off;
        size_t cnt = t < 0 ? xn : f.params.t[t].count;
        for (int j = 0; j < 6 && j < (int)cnt && k < 400; j++) {
            size_t i = (size_t)j * 613 % cnt;
            float keep = base[i];
            double L[2];
            for (int sgn = 0; sgn < 2; sgn++) {
                base[i] = keep + (float)(sgn ? -eps : eps);
                ev.h = hpff_seq_forward(&net, &f.ex, n, x, slot);
                memset(stat, 0, sizeof stat);   // the CPU backend's stat block is host memory
                hpff_classifier_run(&phi, &f.ex, 10, &ev, 1);   // train-mode BN, no backward
                L[sgn] = stat[HPFF_STAT_LOSS];
            }
            base[i] = keep;
            got[k] = t < 0 ? dx[i] : grads[f.params.t[t].off + i];
            want[k++] = (float)((L[0] - L[1]) / (2 * eps));
        }
    }
    test_close("resnet8+fc+CE gradients", got, want, (size_t)k, 2e-3, 3e-2);
    free(x); free(dx); free(dh); free(slot); free(work); free(g0); free(g1); free(grads);
    hpff_seq_free(&net);
    hpff_head_free(hd);
    fixture_free(&f);
}

int main(void) {
    hpff_shape in = {4, 7, 9}, in1 = {6, 1, 1};
    check_layer("conv k3 s2 p1 groups2 bias", mk_conv, in, 1e-2, 2e-3, 1e-2);
    check_layer("conv 1x1", mk_conv1x1, in, 1e-2, 2e-3, 1e-2);
    check_layer("batchnorm2d", mk_bn, in, 1e-2, 3e-3, 2e-2);
    check_layer("batchnorm1d", mk_bn, in1, 1e-2, 3e-3, 2e-2);
    check_layer("relu", mk_relu, in, 1e-3, 2e-3, 1e-2);
    check_layer("sigmoid", mk_sigmoid, in, 1e-2, 2e-3, 1e-2);
    check_layer("linear", mk_linear, in, 1e-2, 2e-3, 1e-2);
    check_layer("avgpool k3x2 s3x2 p1", mk_avg, in, 1e-2, 2e-3, 1e-2);
    check_layer("maxpool k3 s2 p1", mk_max, in, 1e-3, 2e-3, 1e-2);
    check_layer("adaptive avgpool 7x9->3x2", mk_adaptive, in, 1e-2, 2e-3, 1e-2);
    check_layer("bilinear resize up", mk_resize_up, in, 1e-2, 2e-3, 1e-2);
    check_layer("bilinear resize down", mk_resize_down, in, 1e-2, 2e-3, 1e-2);
    check_layer("basic block identity", mk_block_id, in, 2e-4, 2e-2, 3e-2);   // many ReLU kinks near 0: small eps
    check_layer("basic block projection", mk_block_proj, in, 5e-3, 5e-3, 3e-2);
    hpff_shape in16 = {16, 5, 7};
    check_layer("bottleneck projection s2 groups2", mk_bneck_proj, in, 2e-4, 2e-2, 3e-2);
    check_layer("bottleneck identity", mk_bneck_id, in16, 2e-4, 2e-2, 3e-2);
    check_resnet();
    return hpff_test_summary("test_layers_fd");
}
