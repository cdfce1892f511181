// golden_relu.h — ReLU decisions next to zero in a golden comparison (tests/golden/README.md,
// "ReLU band"). A float32 run cannot be expected to land on the float64 side of a ReLU whose
// pre-activation lies within float32 noise of zero, and one flipped decision moves a conv gradient
// by ~1%. The fixture lists, for every ReLU call of the reference step (a "site"), a fingerprint
// of its float64 pre-activation (sum, L1, signed projection), the site's float32 error scale err_s
// (max |f32 - f64| of torch's float32 run) and the elements with |pre64| <= band_s = KAPPA*err_s
// with the float64 decision. This wrapper stands between the model and the CPU backend's ReLU ops
// (relu_fwd, and the fused ReLUs of bn_fwd_train, bn_fwd_train_blocked and reorder; a blocked
// tensor is seen through its NCHW copy, as the sites index NCHW): it recognises each call's site by its
// fingerprint, and where C's pre-activation at a band element lies on the other side of zero it
// takes the float64 decision (output |pre| or 0; the backward masks by output > 0). It counts what
// it took, and records a failure where C's value lies outside the band on the wrong side (a real
// discrepancy, not rounding), for a call that matches no site or several, and for a site never seen.
// Test code only: the backend struct of the test's own CPU backend is patched, nothing else.
#ifndef HPFF_GOLDEN_RELU_H
#define HPFF_GOLDEN_RELU_H
#include <float.h>
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "backend.h"
#include "golden_util.h"
#include "test_util.h"

#define GOLDEN_FP_RTOL 1e-4   // a call matches a site when each fingerprint sum is within 1e-4 * L1

typedef struct golden_relu_site {
    long count;               // elements of the pre-activation
    double fp[3];             // float64 sum, L1, sum of r_i * pre_i
    double err, band;         // float32 error scale of the site; band = KAPPA * err
    int amb0, namb;           // its band elements: [amb0, amb0 + namb) of the lists below
    int seen;                 // calls matched to it
} golden_relu_site;

typedef struct golden_relu {
    int nsites, namb;
    golden_relu_site *site;
    char (*name)[65];
    int64_t *amb_index;       // (namb) flat index in the site's pre-activation
    double *amb_pre;          // (namb) float64 pre-activation
    float *saved;             // C's pre-activation at the band elements of the current call
    // what happened
    long calls, unmatched, multi, in_band, taken, outside;
    double worst_fp;          // max fingerprint deviation / L1 of matched calls
    double worst_band;        // max |pre_C - pre64| / err_s over band elements
    hpff_backend orig;        // the backend's own ops
} golden_relu;

static golden_relu g_relu;

// Signs of the signed projection: +1 where (i * 2654435761 mod 2^32) >= 2^31 (as the generator).
static inline double golden_sign(size_t i) {
    return (uint32_t)((uint64_t)i * 2654435761u) >= 0x80000000u ? 1.0 : -1.0;
}

// The site whose fingerprint matches x (count elements), or -1.
static int golden_relu_match(const float *x, size_t count) {
    golden_relu *g = &g_relu;
    double fp[3] = {0, 0, 0};
    int found = -1, n = 0, any = 0;
    for (int s = 0; s < g->nsites && !any; s++) any = g->site[s].count == (long)count;
    if (!any) { g->unmatched++; return -1; }
    for (size_t i = 0; i < count; i++) {
        fp[0] += x[i];
        fp[1] += fabs((double)x[i]);
        fp[2] += golden_sign(i) * x[i];
    }
    double dev_found = 0;
    for (int s = 0; s < g->nsites; s++) {
        const golden_relu_site *S = &g->site[s];
        if (S->count != (long)count) continue;
        double dev = 0;
        for (int k = 0; k < 3; k++) dev = fmax(dev, fabs(fp[k] - S->fp[k]) / (S->fp[1] + 1e-300));
        if (dev <= GOLDEN_FP_RTOL) { found = s; n++; dev_found = dev; }
    }
    if (n == 0) g->unmatched++;
    if (n > 1) g->multi++;
    if (n != 1) return -1;
    g->worst_fp = fmax(g->worst_fp, dev_found);
    g->site[found].seen++;
    return found;
}

static void golden_relu_save(int s, const float *pre) {
    if (s < 0) return;
    const golden_relu_site *S = &g_relu.site[s];
    for (int j = 0; j < S->namb; j++) g_relu.saved[j] = pre[g_relu.amb_index[S->amb0 + j]];
}

// Index in layout `block` (0: NCHW) of the NCHW flat index i of an (n, c, hw) tensor.
static inline size_t golden_at(int block, int c, int hw, size_t i) {
    if (!block) return i;
    size_t s = i % (size_t)hw, ch = i / (size_t)hw % (size_t)c, img = i / ((size_t)hw * c);
    return ((img * (size_t)(c / block) + ch / (size_t)block) * hw + s) * (size_t)block + ch % (size_t)block;
}

// After the ReLU: at each band element where C decided otherwise, take the float64 decision
// (y in layout `block` of an (n, c, hw) tensor).
static void golden_relu_take(int s, float *y, int block, int c, int hw) {
    if (s < 0) return;
    golden_relu *g = &g_relu;
    const golden_relu_site *S = &g->site[s];
    for (int j = 0; j < S->namb; j++) {
        int64_t i = g->amb_index[S->amb0 + j];
        double p64 = g->amb_pre[S->amb0 + j];
        float pc = g->saved[j];
        int on64 = p64 > 0, onc = pc > 0;
        g->in_band++;
        if (S->err > 0) g->worst_band = fmax(g->worst_band, fabs(pc - p64) / S->err);
        if (on64 == onc) continue;
        if (fabs(pc) > S->band) {
            g->outside++;
            fprintf(stderr, "  ReLU %s[%lld]: C's pre-activation %.9g, float64 %.9g: the other side, outside "
                            "the band +-%.3g\n", g->name[s], (long long)i, pc, p64, S->band);
            continue;
        }
        y[golden_at(block, c, hw, (size_t)i)] = on64 ? fmaxf(fabsf(pc), FLT_MIN) : 0.f;
        g->taken++;
    }
}

static void golden_relu_fwd(hpff_backend *be, float *y, const float *x, size_t n) {
    g_relu.calls++;
    int s = golden_relu_match(x, n);
    golden_relu_save(s, x);   // before the op: it may run in place
    g_relu.orig.relu_fwd(be, y, x, n);
    golden_relu_take(s, y, 0, 1, 1);
}

// The ReLU of a fused op, applied to its pre-activation y (an (n, c, hw) tensor in layout
// `block`) in place: the fused ops give the same values as relu_fwd after them (backend.h).
static void golden_relu_fused(hpff_backend *be, float *y, int block, int n, int c, int hw) {
    size_t count = (size_t)n * c * hw;
    float *pre = y;
    if (block) {
        pre = calloc(count, sizeof(float));
        for (size_t i = 0; i < count; i++) pre[i] = y[golden_at(block, c, hw, i)];
    }
    g_relu.calls++;
    int s = golden_relu_match(pre, count);
    golden_relu_save(s, pre);
    g_relu.orig.relu_fwd(be, y, y, count);
    golden_relu_take(s, y, block, c, hw);
    if (block) free(pre);
}

static void golden_bn_fwd_train(hpff_backend *be, int n, int c, int hw, const float *x, const float *gamma,
                                const float *beta, float *y, float *running_mean, float *running_var,
                                float momentum, float eps, float *save_mean, float *save_invstd, int relu) {
    g_relu.orig.bn_fwd_train(be, n, c, hw, x, gamma, beta, y, running_mean, running_var, momentum, eps,
                             save_mean, save_invstd, 0);
    if (relu) golden_relu_fused(be, y, 0, n, c, hw);
}

static void golden_bn_fwd_train_blocked(hpff_backend *be, int block, int n, int c, int hw, const float *x,
                                        const float *gamma, const float *beta, float *y, float *running_mean,
                                        float *running_var, float momentum, float eps, float *save_mean,
                                        float *save_invstd, int relu) {
    g_relu.orig.bn_fwd_train_blocked(be, block, n, c, hw, x, gamma, beta, y, running_mean, running_var, momentum,
                                     eps, save_mean, save_invstd, 0);
    if (relu) golden_relu_fused(be, y, block, n, c, hw);
}

static void golden_reorder(hpff_backend *be, int n, int c, int hw, int from, const float *x, const float *mask,
                           int to, float *y, const float *add, int relu) {
    g_relu.orig.reorder(be, n, c, hw, from, x, mask, to, y, add, 0);
    if (relu) golden_relu_fused(be, y, to, n, c, hw);
}

// Reads /relu of the fixture and patches be's ReLU ops. Returns 0 when the fixture lacks it.
static int golden_relu_install(hid_t f, hpff_backend *be) {
    golden_relu *g = &g_relu;
    memset(g, 0, sizeof *g);
    size_t ns = 0, na = 0;
    double *cnt = golden_read_d(f, "/relu/count", &ns), *fp = golden_read_d(f, "/relu/fp", NULL);
    double *err = golden_read_d(f, "/relu/err", NULL), *band = golden_read_d(f, "/relu/band", NULL);
    int32_t *as = golden_read_i32(f, "/relu/amb_site", &na);
    g->amb_pre = golden_read_d(f, "/relu/amb_pre", NULL);
    g->amb_index = golden_read(f, "/relu/amb_index", H5T_NATIVE_INT64, sizeof(int64_t), NULL);
    g->name = golden_read_names(f, "/relu/names", NULL);
    int ok = cnt && fp && err && band && as && g->amb_pre && g->amb_index && g->name;
    if (ok) {
        g->nsites = (int)ns;
        g->namb = (int)na;
        g->site = calloc(ns, sizeof *g->site);
        int most = 0;
        for (size_t s = 0; s < ns; s++) {
            golden_relu_site *S = &g->site[s];
            S->count = (long)cnt[s];
            memcpy(S->fp, fp + 3 * s, sizeof S->fp);
            S->err = err[s];
            S->band = band[s];
            S->amb0 = (int)na;
            for (size_t j = 0; j < na; j++)
                if (as[j] == (int32_t)s) { if (S->amb0 == (int)na) S->amb0 = (int)j; S->namb++; }
            most = S->namb > most ? S->namb : most;
        }
        g->saved = calloc((size_t)most + 1, sizeof(float));
        g->orig = *be;
        be->relu_fwd = golden_relu_fwd;
        be->bn_fwd_train = golden_bn_fwd_train;
        if (be->bn_fwd_train_blocked) be->bn_fwd_train_blocked = golden_bn_fwd_train_blocked;
        if (be->reorder) be->reorder = golden_reorder;
    }
    free(cnt); free(fp); free(err); free(band); free(as);
    return ok;
}

// Checks what the run(s) since the install did and prints one line.
static void golden_relu_report(const char *what) {
    golden_relu *g = &g_relu;
    int unseen = 0;
    for (int s = 0; s < g->nsites; s++)
        if (!g->site[s].seen) {
            if (unseen++ < 5) fprintf(stderr, "  ReLU site %s: no C call matched it\n", g->name[s]);
        }
    printf("%s: ReLU %ld calls onto %d sites (fingerprints within %.1e of L1); %ld band elements "
           "(|pre64| <= KAPPA err_s), C within %.2f err_s of float64 there; took the float64 decision at %ld\n",
           what, g->calls, g->nsites, g->worst_fp, g->in_band, g->worst_band, g->taken);
    TEST_CHECK(unseen == 0 && g->unmatched == 0 && g->multi == 0,
               "ReLU sites: %d never matched, %ld calls matched none, %ld several", unseen, g->unmatched, g->multi);
    TEST_CHECK(g->outside == 0, "%ld ReLU decisions on the other side of zero beyond the band", g->outside);
}

// Clears the counts (the sites stay) before another run.
static void golden_relu_reset(void) {
    golden_relu *g = &g_relu;
    g->calls = g->unmatched = g->multi = g->in_band = g->taken = g->outside = 0;
    g->worst_fp = g->worst_band = 0;
    for (int s = 0; s < g->nsites; s++) g->site[s].seen = 0;
}

static void golden_relu_uninstall(hpff_backend *be) {
    golden_relu *g = &g_relu;
    if (g->site) {
        be->relu_fwd = g->orig.relu_fwd;
        be->bn_fwd_train = g->orig.bn_fwd_train;
        be->bn_fwd_train_blocked = g->orig.bn_fwd_train_blocked;
        be->reorder = g->orig.reorder;
    }
    free(g->site); free(g->name); free(g->amb_index); free(g->amb_pre); free(g->saved);
    memset(g, 0, sizeof *g);
}
#endif
