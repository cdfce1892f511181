// cpu_aux.c — CPU auxiliary-head ops: PredSim's spatial standard deviation and similarity-matrix
// loss (ALGORITHM §3.3), InfoPro's SupCon loss (§3.2). Everything is accumulated in double. The
// n x n matrices are never stored: an entry is recomputed from the two rows it pairs (the dot
// products are symmetric bit for bit, so the pair (i, j) and (j, i) see the same value).
#include <math.h>
#include "check.h"
#include "cpu_internal.h"

#define AUX_MAX_D 65536   // row length bound of the per-row double accumulators (stack)

static void cpu_spatial_std_fwd(hpff_backend *be, size_t rows, int hw, const float *x, float *y) {
    (void)be;
    HPFF_CHECK(hw >= 2, "spatial std over %d positions (needs 2 or more)", hw);
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * (size_t)hw;
        double s = 0.0, q = 0.0;
        for (int i = 0; i < hw; i++) s += xr[i];
        double m = s / hw;
        for (int i = 0; i < hw; i++) q += ((double)xr[i] - m) * ((double)xr[i] - m);
        y[r] = (float)sqrt(q / (hw - 1));
    }
}

static void cpu_spatial_std_bwd(hpff_backend *be, size_t rows, int hw, const float *x, const float *y,
                                const float *dy, float *dx, float beta) {
    (void)be;
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * (size_t)hw;
        float *dr = dx + r * (size_t)hw;
        double s = 0.0;
        for (int i = 0; i < hw; i++) s += xr[i];
        double m = s / hw;
        double k = y[r] > 0.0f ? (double)dy[r] / ((hw - 1) * (double)y[r]) : 0.0;
        for (int i = 0; i < hw; i++) {
            float g = (float)(k * ((double)xr[i] - m));
            dr[i] = beta == 0.0f ? g : beta * dr[i] + g;
        }
    }
}

// Row statistics of the similarity matrix: mean, norm of the centred row, 1e-8 + norm.
static void simmat_rows(int n, int d, const float *v, double *mean, double *norm, double *den) {
    for (int i = 0; i < n; i++) {
        const float *vi = v + (size_t)i * d;
        double s = 0.0, q = 0.0;
        for (int k = 0; k < d; k++) s += vi[k];
        mean[i] = s / d;
        for (int k = 0; k < d; k++) q += ((double)vi[k] - mean[i]) * ((double)vi[k] - mean[i]);
        norm[i] = sqrt(q);
        den[i] = 1e-8 + norm[i];
    }
}

// S(onehot(y)) entry: centred one-hot rows have dot (k-1)/k (same class) or -1/k.
static double label_similarity(int same, int classes) {
    double r = sqrt((classes - 1.0) / classes), a = 1e-8 + r;
    double t = (same ? (classes - 1.0) / classes : -1.0 / classes) / (a * a);
    return t > 1.0 ? 1.0 : (t < -1.0 ? -1.0 : t);
}

static float simmat_mse_loss(int n, int d, const float *v, const int32_t *labels, int classes,
                             float weight, float *dv) {
    HPFF_CHECK(n > 0 && d > 0 && d <= AUX_MAX_D, "similarity loss shape n=%d d=%d", n, d);
    double mean[n], norm[n], den[n], acc[d];
    simmat_rows(n, d, v, mean, norm, den);
    double total = 0.0, gscale = 2.0 * 2.0 / ((double)n * n);   // (G_ij + G_ji) = 2 G_ij
    for (int i = 0; i < n; i++) {
        const float *vi = v + (size_t)i * d;
        for (int k = 0; k < d; k++) acc[k] = 0.0;
        for (int j = 0; j < n; j++) {
            const float *vj = v + (size_t)j * d;
            double dot = 0.0;
            for (int k = 0; k < d; k++) dot += ((double)vi[k] - mean[i]) * ((double)vj[k] - mean[j]);
            double r = dot / (den[i] * den[j]);
            int inside = r >= -1.0 && r <= 1.0;
            double rc = inside ? r : (r > 1.0 ? 1.0 : -1.0);
            double diff = rc - label_similarity(labels[i] == labels[j], classes);
            total += diff * diff;
            if (dv && inside) {
                double g = gscale * diff / den[j];
                for (int k = 0; k < d; k++) acc[k] += g * ((double)vj[k] - mean[j]);
            }
        }
        if (!dv) continue;
        if (norm[i] == 0.0) {   // constant row: no direction to move in (PyTorch: NaN)
            for (int k = 0; k < d; k++) dv[(size_t)i * d + k] = 0.0f;
            continue;
        }
        // acc = dL/dx_i with x_i = c_i / den_i; back through the norm and the centring.
        double cdot = 0.0, csum = 0.0;
        for (int k = 0; k < d; k++) cdot += acc[k] * ((double)vi[k] - mean[i]);
        double radial = cdot / (den[i] * den[i] * norm[i]);
        for (int k = 0; k < d; k++) {
            acc[k] = acc[k] / den[i] - radial * ((double)vi[k] - mean[i]);
            csum += acc[k];
        }
        for (int k = 0; k < d; k++) dv[(size_t)i * d + k] = (float)(weight * (acc[k] - csum / d));
    }
    return (float)(total / ((double)n * n));
}

// Per-row scale of F.normalize: max(|f|, 1e-12), and the norm itself.
static void supcon_rows(int n, int d, const float *f, double *norm, double *scale) {
    for (int i = 0; i < n; i++) {
        double q = 0.0;
        for (int k = 0; k < d; k++) q += (double)f[(size_t)i * d + k] * f[(size_t)i * d + k];
        norm[i] = sqrt(q);
        scale[i] = norm[i] > 1e-12 ? norm[i] : 1e-12;
    }
}

static double supcon_logit(int d, const float *fi, const float *fj, double si, double sj, double tau) {
    double dot = 0.0;
    for (int k = 0; k < d; k++) dot += (double)fi[k] * fj[k];
    return dot / (si * sj * tau);
}

static float supcon_loss(int n, int d, const float *f, const int32_t *labels, float tau, float weight,
                         float *df) {
    HPFF_CHECK(n > 0 && d > 0 && d <= AUX_MAX_D && tau > 0.0f, "SupCon shape n=%d d=%d tau=%g", n, d, tau);
    double norm[n], scale[n], lse[n], acc[d];
    int pos[n];
    supcon_rows(n, d, f, norm, scale);
    double total = 0.0;
    // Pass 1: the log-denominator of every anchor (over a != i) and its positive count.
    for (int i = 0; i < n; i++) {
        const float *fi = f + (size_t)i * d;
        double mx = -INFINITY, s = 0.0;
        for (int j = 0; j < n; j++) {
            double l = supcon_logit(d, fi, f + (size_t)j * d, scale[i], scale[j], tau);
            mx = l > mx ? l : mx;
        }
        pos[i] = 0;
        double lpos = 0.0;
        for (int j = 0; j < n; j++) {
            if (j == i) continue;
            double l = supcon_logit(d, fi, f + (size_t)j * d, scale[i], scale[j], tau);
            s += exp(l - mx);
            if (labels[j] == labels[i]) { pos[i]++; lpos += l; }
        }
        lse[i] = mx + log(s);
        if (pos[i]) total += -(lpos / pos[i] - lse[i]);
    }
    if (df) {
        // Pass 2: dL/dl_ij = (1/n)(softmax_i(j) - [j in P(i)]/|P(i)|); z_i gets (Q_ij + Q_ji) z_j / tau.
        for (int i = 0; i < n; i++) {
            const float *fi = f + (size_t)i * d;
            for (int k = 0; k < d; k++) acc[k] = 0.0;
            for (int j = 0; j < n; j++) {
                if (j == i) continue;
                const float *fj = f + (size_t)j * d;
                double l = supcon_logit(d, fi, fj, scale[i], scale[j], tau);
                int same = labels[i] == labels[j];
                double q = 0.0;
                if (pos[i]) q += exp(l - lse[i]) - (same ? 1.0 / pos[i] : 0.0);
                if (pos[j]) q += exp(l - lse[j]) - (same ? 1.0 / pos[j] : 0.0);
                q /= (double)n * tau * scale[j];
                for (int k = 0; k < d; k++) acc[k] += q * fj[k];
            }
            // acc = dL/dz_i; z_i = f_i / scale_i.
            double zdot = 0.0;
            for (int k = 0; k < d; k++) zdot += acc[k] * fi[k] / scale[i];
            for (int k = 0; k < d; k++) {
                double g = norm[i] > 1e-12 ? (acc[k] - zdot * fi[k] / scale[i]) / scale[i] : acc[k] / 1e-12;
                df[(size_t)i * d + k] = (float)(weight * g);
            }
        }
    }
    return (float)(total / n);
}

static void cpu_simmat_mse(hpff_backend *be, int n, int d, const float *v, const int32_t *labels,
                           int classes, float weight, float *dv, float *stat, float stat_scale) {
    (void)be;
    float loss = simmat_mse_loss(n, d, v, labels, classes, weight, dv);
    if (stat) stat[HPFF_STAT_LOSS] += stat_scale * loss;
}

static void cpu_supcon(hpff_backend *be, int n, int d, const float *f, const int32_t *labels, float tau,
                       float weight, float *df, float *stat, float stat_scale) {
    (void)be;
    float loss = supcon_loss(n, d, f, labels, tau, weight, df);
    if (stat) stat[HPFF_STAT_LOSS] += stat_scale * loss;
}

void hpff_cpu_install_aux(hpff_backend *be) {
    be->spatial_std_fwd = cpu_spatial_std_fwd;
    be->spatial_std_bwd = cpu_spatial_std_bwd;
    be->simmat_mse = cpu_simmat_mse;
    be->supcon = cpu_supcon;
}
