// cpu_loss.c — softmax cross-entropy (ALGORITHM §1.7, with top-1/top-5 counts) and binary
// cross-entropy (§1.8) on the CPU; each adds its loss to a stat block (backend.h).
#include <math.h>
#include <stdint.h>
#include "check.h"
#include "cpu_internal.h"


// One row of CE: returns logsumexp(z) - z[y]; writes weight*(softmax - onehot)/n into dz.
static double xent_row(const float *z, int k, int y, double gscale, float *dz) {
    float m = z[0];
    for (int j = 1; j < k; j++) m = z[j] > m ? z[j] : m;
    double se = 0.0;
    for (int j = 0; j < k; j++) se += exp((double)z[j] - m);
    if (dz)
        for (int j = 0; j < k; j++)
            dz[j] = (float)(gscale * (exp((double)z[j] - m) / se - (j == y ? 1.0 : 0.0)));
    return (double)m + log(se) - (double)z[y];
}

static void cpu_softmax_xent(hpff_backend *be, int n, int k, const float *logits,
                             const int32_t *labels, float weight, float *dlogits, float *stat,
                             float stat_scale) {
    (void)be;
    double total = 0.0;
    int hit1 = 0, hit5 = 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k;
        int y = labels[i];
        HPFF_CHECK(y >= 0 && y < k, "softmax_xent: label %d of sample %d outside [0, %d)", y, i, k);
        total += xent_row(z, k, y, (double)weight / n, dlogits ? dlogits + (size_t)i * k : NULL);
        // classes ranked before y (ties go to the lower index); a NaN or infinite logit anywhere
        // in the row makes it wrong at top-1 and top-5 (NaN compares false: it would look right)
        int rank = 0;
        for (int j = 0; j < k; j++) rank += (z[j] > z[y] || (z[j] == z[y] && j < y)) + (isfinite(z[j]) ? 0 : k + 5);
        hit1 += rank < 1;
        hit5 += rank < 5;
    }
    if (!stat) return;
    stat[HPFF_STAT_LOSS] += stat_scale * (n > 0 ? (float)(total / n) : 0.0f);
    stat[HPFF_STAT_TOP1] += (float)hit1;
    stat[HPFF_STAT_TOP5] += (float)hit5;
}

static void cpu_bce(hpff_backend *be, size_t count, const float *p, const float *t, float weight,
                    float *dp, float *stat, float stat_scale) {
    (void)be;
    // The logs in float as PyTorch takes them; the sum in double.
    double total = 0.0;
    const float gscale = count ? (float)((double)weight / (double)count) : 0.0f;
    for (size_t i = 0; i < count; i++) {
        float pi = p[i], ti = t[i];
        float lp = logf(pi), lq = logf(1.0f - pi);
        lp = lp < -100.0f ? -100.0f : lp;
        lq = lq < -100.0f ? -100.0f : lq;
        total -= (double)ti * lp + (1.0 - (double)ti) * lq;
        if (dp) {
            float den = pi * (1.0f - pi);
            dp[i] = gscale * (pi - ti) / (den > 1e-12f ? den : 1e-12f);
        }
    }
    if (stat) stat[HPFF_STAT_LOSS] += stat_scale * (count ? (float)(total / (double)count) : 0.0f);
}

void hpff_cpu_install_loss(hpff_backend *be) {
    be->softmax_xent = cpu_softmax_xent;
    be->bce = cpu_bce;
}
