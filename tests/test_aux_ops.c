// test_aux_ops.c — the auxiliary-head backend ops of the CPU backend against double-precision
// references written from the definitions (ALGORITHM §3.2, §3.3, and InfoPro's SupConLoss step
// by step): values, gradients against central differences of the double reference, the weight
// scale, beta accumulation, guards, and the degenerate cases (constant rows, anchors without
// positives).
#include <math.h>
#include "backend.h"
#include "test_util.h"

// ---------------------------------------------------------------- references (double)

static double ref_std(const double *x, int hw) {
    double m = 0, q = 0;
    for (int i = 0; i < hw; i++) m += x[i];
    m /= hw;
    for (int i = 0; i < hw; i++) q += (x[i] - m) * (x[i] - m);
    return sqrt(q / (hw - 1));
}

// S(v): centre rows, divide by 1e-8 + norm, V V^T clamped to [-1, 1]; R is (n, n).
static void ref_simmat(const double *v, int n, int d, double *R) {
    double *x = malloc((size_t)n * d * sizeof(double));
    for (int i = 0; i < n; i++) {
        double m = 0, q = 0;
        for (int k = 0; k < d; k++) m += v[i * d + k];
        m /= d;
        for (int k = 0; k < d; k++) q += (v[i * d + k] - m) * (v[i * d + k] - m);
        for (int k = 0; k < d; k++) x[i * d + k] = (v[i * d + k] - m) / (1e-8 + sqrt(q));
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double r = 0;
            for (int k = 0; k < d; k++) r += x[i * d + k] * x[j * d + k];
            R[i * n + j] = r > 1 ? 1 : (r < -1 ? -1 : r);
        }
    free(x);
}

static double ref_simmat_loss(const double *v, int n, int d, const int32_t *y, int classes) {
    double *R = malloc((size_t)n * n * sizeof(double)), *T = malloc((size_t)n * n * sizeof(double));
    double *oh = calloc((size_t)n * classes, sizeof(double));
    for (int i = 0; i < n; i++) oh[i * classes + y[i]] = 1;
    ref_simmat(v, n, d, R);
    ref_simmat(oh, n, classes, T);
    double L = 0;
    for (int i = 0; i < n * n; i++) L += (R[i] - T[i]) * (R[i] - T[i]);
    free(R); free(T); free(oh);
    return L / ((double)n * n);
}

// InfoPro's SupConLoss (one view, contrast_mode 'all', base_temperature = temperature).
static double ref_supcon(const double *f, int n, int d, const int32_t *y, double tau) {
    double *z = malloc((size_t)n * d * sizeof(double)), L = 0;
    for (int i = 0; i < n; i++) {
        double q = 0;
        for (int k = 0; k < d; k++) q += f[i * d + k] * f[i * d + k];
        double s = sqrt(q) > 1e-12 ? sqrt(q) : 1e-12;
        for (int k = 0; k < d; k++) z[i * d + k] = f[i * d + k] / s;
    }
    for (int i = 0; i < n; i++) {
        double logits[64], mx = -1e300, den = 0, num = 0, msum = 0;
        for (int j = 0; j < n; j++) {
            double a = 0;
            for (int k = 0; k < d; k++) a += z[i * d + k] * z[j * d + k];
            logits[j] = a / tau;
            mx = logits[j] > mx ? logits[j] : mx;
        }
        for (int j = 0; j < n; j++) {
            logits[j] -= mx;
            if (j != i) den += exp(logits[j]);
        }
        for (int j = 0; j < n; j++)
            if (j != i && y[j] == y[i]) {
                num += logits[j] - log(den);
                msum += 1;
            }
        L += -(num / (msum > 0 ? msum : 1));
    }
    free(z);
    return L / n;
}

// ---------------------------------------------------------------- helpers

static void to_double(const float *x, double *y, size_t n) { for (size_t i = 0; i < n; i++) y[i] = x[i]; }

typedef double (*ref_fn)(const double *x, const void *ctx);

// Central differences of a double reference at every coordinate.
static void ref_grad(ref_fn fn, const void *ctx, const float *x, size_t n, double *g) {
    double *xd = malloc(n * sizeof(double));
    to_double(x, xd, n);
    for (size_t i = 0; i < n; i++) {
        double keep = xd[i], e = 1e-6 * (fabs(keep) > 1 ? fabs(keep) : 1);
        xd[i] = keep + e;
        double lp = fn(xd, ctx);
        xd[i] = keep - e;
        double lm = fn(xd, ctx);
        xd[i] = keep;
        g[i] = (lp - lm) / (2 * e);
    }
    free(xd);
}

static void close_d(const char *what, const float *got, const double *want, size_t n, double atol, double rtol) {
    float *w = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) w[i] = (float)want[i];
    test_close(what, got, w, n, atol, rtol);
    free(w);
}

// ---------------------------------------------------------------- spatial std

typedef struct std_ctx { size_t rows; int hw; const double *R; } std_ctx;
static double std_obj(const double *x, const void *c) {
    const std_ctx *s = c;
    double L = 0;
    for (size_t r = 0; r < s->rows; r++) L += s->R[r] * ref_std(x + r * s->hw, s->hw);
    return L;
}

static void test_spatial_std(hpff_backend *be) {
    enum { ROWS = 7, HW = 13 };
    size_t n = ROWS * HW;
    float x[ROWS * HW], dy[ROWS], *y = test_guarded_alloc(ROWS), *dx = test_guarded_alloc(n);
    double xd[ROWS * HW], R[ROWS], want[ROWS], g[ROWS * HW];
    test_fill_uniform(x, n, -2.f, 3.f, 1);
    for (int i = 0; i < HW; i++) x[3 * HW + i] = 0.75f;   // a constant row: std 0, zero gradient
    test_fill_uniform(dy, ROWS, -1.f, 1.f, 2);
    to_double(x, xd, n);
    for (int r = 0; r < ROWS; r++) {
        want[r] = ref_std(xd + r * HW, HW);
        R[r] = dy[r];
    }
    be->spatial_std_fwd(be, ROWS, HW, x, y);
    close_d("spatial_std_fwd", y, want, ROWS, 1e-6, 1e-5);
    test_guard_ok("spatial_std_fwd", y, ROWS);
    std_ctx c = {ROWS, HW, R};
    ref_grad(std_obj, &c, x, n, g);
    for (int i = 0; i < HW; i++) g[3 * HW + i] = 0;   // the op's convention where std = 0
    for (size_t i = 0; i < n; i++) dx[i] = NAN;       // beta = 0 must not read dx
    be->spatial_std_bwd(be, ROWS, HW, x, y, dy, dx, 0.f);
    close_d("spatial_std_bwd", dx, g, n, 1e-5, 1e-4);
    test_guard_ok("spatial_std_bwd", dx, n);
    float *prior = malloc(n * sizeof(float));
    test_fill_uniform(prior, n, -1.f, 1.f, 3);
    memcpy(dx, prior, n * sizeof(float));
    be->spatial_std_bwd(be, ROWS, HW, x, y, dy, dx, 1.f);
    for (size_t i = 0; i < n; i++) g[i] += prior[i];
    close_d("spatial_std_bwd beta=1", dx, g, n, 1e-5, 1e-4);
    free(prior);
    test_guarded_free(y);
    test_guarded_free(dx);
}

// ---------------------------------------------------------------- similarity loss

typedef struct sim_ctx { int n, d, classes; const int32_t *y; } sim_ctx;
static double sim_obj(const double *v, const void *c) {
    const sim_ctx *s = c;
    return ref_simmat_loss(v, s->n, s->d, s->y, s->classes);
}

static void test_simmat(hpff_backend *be, int n, int d, int classes, const int32_t *y, int const_row) {
    size_t m = (size_t)n * d;
    float *v = malloc(m * sizeof(float)), *dv = test_guarded_alloc(m);
    double *vd = malloc(m * sizeof(double)), *g = malloc(m * sizeof(double));
    test_fill_uniform(v, m, -1.f, 2.f, 10 + n);
    if (const_row >= 0)
        for (int k = 0; k < d; k++) v[const_row * d + k] = 0.5f;   // centred row 0: S row = 0
    to_double(v, vd, m);
    sim_ctx c = {n, d, classes, y};
    double want = ref_simmat_loss(vd, n, d, y, classes);
    const float w = 2.5f;
    float s1[HPFF_STAT_FLOATS] = {0}, s0[HPFF_STAT_FLOATS] = {0};   // CPU: host stat blocks
    be->simmat_mse(be, n, d, v, y, classes, w, dv, s1, 1.f);
    be->simmat_mse(be, n, d, v, y, classes, w, NULL, s0, 1.f);
    float L = s1[HPFF_STAT_LOSS], L0 = s0[HPFF_STAT_LOSS];
    char what[96];
    snprintf(what, sizeof what, "simmat_mse loss n=%d d=%d", n, d);
    TEST_CHECK(fabs(L - want) <= 1e-6 + 1e-5 * fabs(want) && L == L0, "%s: %.9g vs %.9g (no grad %.9g)", what, L, want, L0);
    ref_grad(sim_obj, &c, v, m, g);
    for (size_t i = 0; i < m; i++) g[i] *= w;
    if (const_row >= 0)   // a constant row: the op defines its gradient as 0
        for (int k = 0; k < d; k++) g[const_row * d + k] = 0;
    snprintf(what, sizeof what, "simmat_mse dv n=%d d=%d", n, d);
    close_d(what, dv, g, m, 1e-6, 1e-3);
    test_guard_ok(what, dv, m);
    free(v); free(vd); free(g);
    test_guarded_free(dv);
}

// ---------------------------------------------------------------- SupCon

typedef struct sc_ctx { int n, d; const int32_t *y; double tau; } sc_ctx;
static double sc_obj(const double *f, const void *c) {
    const sc_ctx *s = c;
    return ref_supcon(f, s->n, s->d, s->y, s->tau);
}

static void test_supcon(hpff_backend *be, int n, int d, const int32_t *y) {
    size_t m = (size_t)n * d;
    float *f = malloc(m * sizeof(float)), *df = test_guarded_alloc(m);
    double *fd = malloc(m * sizeof(double)), *g = malloc(m * sizeof(double));
    test_fill_uniform(f, m, -1.f, 1.f, 20 + n);
    to_double(f, fd, m);
    sc_ctx c = {n, d, y, 0.07};
    double want = ref_supcon(fd, n, d, y, 0.07);
    const float w = 0.75f;
    float s1[HPFF_STAT_FLOATS] = {0}, s0[HPFF_STAT_FLOATS] = {0};   // CPU: host stat blocks
    be->supcon(be, n, d, f, y, 0.07f, w, df, s1, 1.f);
    be->supcon(be, n, d, f, y, 0.07f, w, NULL, s0, 2.f);   // the scale multiplies the added loss
    float L = s1[HPFF_STAT_LOSS], L0 = s0[HPFF_STAT_LOSS] / 2.f;
    char what[96];
    snprintf(what, sizeof what, "supcon loss n=%d d=%d", n, d);
    TEST_CHECK(fabs(L - want) <= 1e-5 * (1 + fabs(want)) && L == L0, "%s: %.9g vs %.9g", what, L, want);
    ref_grad(sc_obj, &c, f, m, g);
    for (size_t i = 0; i < m; i++) g[i] *= w;
    snprintf(what, sizeof what, "supcon df n=%d d=%d", n, d);
    close_d(what, df, g, m, 1e-5, 1e-3);
    test_guard_ok(what, df, m);
    free(f); free(fd); free(g);
    test_guarded_free(df);
}

int main(void) {
    hpff_backend *be = hpff_backend_cpu_create();
    test_spatial_std(be);
    const int32_t y6[6] = {2, 0, 2, 1, 0, 2}, y9[9] = {0, 1, 2, 3, 0, 1, 2, 3, 0};
    test_simmat(be, 6, 5, 3, y6, -1);
    test_simmat(be, 9, 16, 10, y9, 4);
    // Labels 1 and 3 of y7 appear once: anchors without positives contribute 0.
    const int32_t y7[7] = {0, 0, 1, 2, 2, 3, 0};
    test_supcon(be, 7, 12, y7);
    test_supcon(be, 9, 128, y9);
    hpff_backend_destroy(be);
    return hpff_test_summary("test_aux_ops");
}
