// cuda_aux.cu — the auxiliary-head ops on the GPU: PredSim's spatial standard deviation and
// similarity-matrix loss (ALGORITHM §3.3), InfoPro's SupCon loss (§3.2). Same definitions as
// kernels/cpu/cpu_aux.c. Row statistics and the n x n matrices are kept in double in the backend
// scratch; every sum is a fixed-order block reduction, so results are deterministic. Losses are
// added into the caller's device stat block; nothing here synchronises the stream.
#include <math.h>
#include "cuda_internal.h"

#define AUX_THREADS 256

// ---------------------------------------------------------------- spatial std (one block per row)

__global__ void k_std_fwd(int hw, const float *x, float *y) {
    __shared__ double sh[32];
    const float *xr = x + (size_t)blockIdx.x * hw;
    double s = 0.0, q = 0.0;
    for (int i = threadIdx.x; i < hw; i += blockDim.x) s += xr[i];
    const double m = hpff_block_sum(s, sh) / hw;
    for (int i = threadIdx.x; i < hw; i += blockDim.x) q += ((double)xr[i] - m) * ((double)xr[i] - m);
    q = hpff_block_sum(q, sh);
    if (threadIdx.x == 0) y[blockIdx.x] = (float)sqrt(q / (hw - 1));
}

// The mean is reduced before any write, so dx may alias x.
__global__ void k_std_bwd(int hw, const float *x, const float *y, const float *dy, float *dx, float beta) {
    __shared__ double sh[32];
    const size_t r = blockIdx.x;
    const float *xr = x + r * hw;
    float *dr = dx + r * hw;
    double s = 0.0;
    for (int i = threadIdx.x; i < hw; i += blockDim.x) s += xr[i];
    const double m = hpff_block_sum(s, sh) / hw;
    const double k = y[r] > 0.0f ? (double)dy[r] / ((hw - 1) * (double)y[r]) : 0.0;
    for (int i = threadIdx.x; i < hw; i += blockDim.x) hpff_store_beta(&dr[i], (float)(k * ((double)xr[i] - m)), beta);
}

static void cu_std_fwd(hpff_backend *be, size_t rows, int hw, const float *x, float *y) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    HPFF_CHECK(hw >= 2, "spatial std over %d positions (needs 2 or more)", hw);
    if (!rows) return;
    k_std_fwd<<<(unsigned)rows, AUX_THREADS, 0, cx->stream>>>(hw, x, y);
    HPFF_CUDA_LAUNCHED(cx, "k_std_fwd");
}

static void cu_std_bwd(hpff_backend *be, size_t rows, int hw, const float *x, const float *y, const float *dy,
                       float *dx, float beta) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    if (!rows) return;
    k_std_bwd<<<(unsigned)rows, AUX_THREADS, 0, cx->stream>>>(hw, x, y, dy, dx, beta);
    HPFF_CUDA_LAUNCHED(cx, "k_std_bwd");
}

// ---------------------------------------------------------------- shared pieces

// stat[0] += scale * (sum of n row values) / divisor (one block).
__global__ void k_aux_final(int n, const double *row, double divisor, float *stat, float scale) {
    __shared__ double sh[32];
    double s = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += row[i];
    s = hpff_block_sum(s, sh);
    if (threadIdx.x == 0) stat[HPFF_STAT_LOSS] += scale * (float)(s / divisor);
}

static void aux_final(hpff_cuda_ctx *cx, int n, const double *row, double divisor, float *stat, float scale) {
    if (!stat) return;
    k_aux_final<<<1, 1024, 0, cx->stream>>>(n, row, divisor, stat, scale);
    HPFF_CUDA_LAUNCHED(cx, "k_aux_final");
}

// Carves the op's double scratch: fills ptrs[i] with counts[i] doubles each (256-byte aligned).
static double *aux_scratch(hpff_cuda_ctx *cx, int k, const size_t *counts, double **ptrs) {
    size_t off = 0, offs[8];
    for (int i = 0; i < k; i++) {
        offs[i] = off;
        off += (counts[i] * sizeof(double) + 255) & ~(size_t)255;
    }
    char *base = (char *)hpff_cuda_scratch(cx, off);
    for (int i = 0; i < k; i++) ptrs[i] = (double *)(base + offs[i]);
    return (double *)base;
}

// ---------------------------------------------------------------- similarity-matrix loss

// One block per row: centred, normalised row x_i = (v_i - mean) / (1e-8 + norm); norm kept.
__global__ void k_sim_rows(int d, const float *v, double *x, double *norm) {
    __shared__ double sh[32];
    const float *vi = v + (size_t)blockIdx.x * d;
    double s = 0.0, q = 0.0;
    for (int k = threadIdx.x; k < d; k += blockDim.x) s += vi[k];
    const double m = hpff_block_sum(s, sh) / d;
    for (int k = threadIdx.x; k < d; k += blockDim.x) q += ((double)vi[k] - m) * ((double)vi[k] - m);
    const double r = sqrt(hpff_block_sum(q, sh)), den = 1e-8 + r;
    for (int k = threadIdx.x; k < d; k += blockDim.x) x[(size_t)blockIdx.x * d + k] = ((double)vi[k] - m) / den;
    if (threadIdx.x == 0) norm[blockIdx.x] = r;
}

__device__ __forceinline__ double label_similarity(int same, int classes) {
    const double r = sqrt((classes - 1.0) / classes), a = 1e-8 + r;
    const double t = (same ? (classes - 1.0) / classes : -1.0 / classes) / (a * a);
    return t > 1.0 ? 1.0 : (t < -1.0 ? -1.0 : t);
}

// One block per row i, threads over j: loss terms of row i and G_ij = dL/dR_ij (both (i,j) and
// (j,i) terms: 2 * 2 diff / n^2), 0 where the clamp is active.
__global__ void k_sim_pairs(int n, int d, const double *x, const int32_t *labels, int classes, double *G,
                            double *loss_row) {
    __shared__ double sh[32];
    const int i = blockIdx.x;
    const double *xi = x + (size_t)i * d;
    double s = 0.0;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        const double *xj = x + (size_t)j * d;
        double r = 0.0;
        for (int k = 0; k < d; k++) r += xi[k] * xj[k];
        const int inside = r >= -1.0 && r <= 1.0;
        const double rc = inside ? r : (r > 1.0 ? 1.0 : -1.0);
        const double diff = rc - label_similarity(labels[i] == labels[j], classes);
        s += diff * diff;
        if (G) G[(size_t)i * n + j] = inside ? 4.0 * diff / ((double)n * n) : 0.0;
    }
    s = hpff_block_sum(s, sh);
    if (threadIdx.x == 0) loss_row[i] = s;
}

// One block per row i, threads over k: acc = sum_j G_ij x_j, then back through the norm and the
// centring of row i. acc is the row's buffer in the scratch.
__global__ void k_sim_grad(int n, int d, const double *x, const double *norm, const double *G, double *acc,
                           float weight, float *dv) {
    __shared__ double sh[32];
    const int i = blockIdx.x;
    const double r = norm[i], den = 1e-8 + r;
    double *ai = acc + (size_t)i * d;
    double cdot = 0.0;
    for (int k = threadIdx.x; k < d; k += blockDim.x) {
        double a = 0.0;
        for (int j = 0; j < n; j++) a += G[(size_t)i * n + j] * x[(size_t)j * d + k];
        ai[k] = a;
        cdot += a * x[(size_t)i * d + k] * den;   // c_ik = x_ik * den
    }
    cdot = hpff_block_sum(cdot, sh);
    const double radial = r > 0.0 ? cdot / (den * den * r) : 0.0;
    double csum = 0.0;
    for (int k = threadIdx.x; k < d; k += blockDim.x) {
        ai[k] = ai[k] / den - radial * x[(size_t)i * d + k] * den;
        csum += ai[k];
    }
    csum = hpff_block_sum(csum, sh);
    for (int k = threadIdx.x; k < d; k += blockDim.x)
        dv[(size_t)i * d + k] = r > 0.0 ? (float)(weight * (ai[k] - csum / d)) : 0.0f;
}

static void cu_simmat_mse(hpff_backend *be, int n, int d, const float *v, const int32_t *labels, int classes,
                          float weight, float *dv, float *stat, float stat_scale) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    HPFF_CHECK(n > 0 && d > 0, "similarity loss shape n=%d d=%d", n, d);
    const size_t nn = (size_t)n, counts[5] = {nn * d, nn, nn * nn, nn * d, nn};
    double *p[5];
    aux_scratch(cx, 5, counts, p);
    double *x = p[0], *norm = p[1], *G = dv ? p[2] : NULL, *acc = p[3], *loss_row = p[4];
    k_sim_rows<<<n, AUX_THREADS, 0, cx->stream>>>(d, v, x, norm);
    HPFF_CUDA_LAUNCHED(cx, "k_sim_rows");
    k_sim_pairs<<<n, AUX_THREADS, 0, cx->stream>>>(n, d, x, labels, classes, G, loss_row);
    HPFF_CUDA_LAUNCHED(cx, "k_sim_pairs");
    if (dv) {
        k_sim_grad<<<n, AUX_THREADS, 0, cx->stream>>>(n, d, x, norm, G, acc, weight, dv);
        HPFF_CUDA_LAUNCHED(cx, "k_sim_grad");
    }
    aux_final(cx, n, loss_row, (double)n * n, stat, stat_scale);
}

// ---------------------------------------------------------------- SupCon

// One block per row: z_i = f_i / max(|f_i|, 1e-12); the norm is kept.
__global__ void k_sc_rows(int d, const float *f, double *z, double *norm) {
    __shared__ double sh[32];
    const float *fi = f + (size_t)blockIdx.x * d;
    double q = 0.0;
    for (int k = threadIdx.x; k < d; k += blockDim.x) q += (double)fi[k] * fi[k];
    const double r = sqrt(hpff_block_sum(q, sh)), s = r > 1e-12 ? r : 1e-12;
    for (int k = threadIdx.x; k < d; k += blockDim.x) z[(size_t)blockIdx.x * d + k] = fi[k] / s;
    if (threadIdx.x == 0) norm[blockIdx.x] = r;
}

// One block per anchor i: logits L_ij = z_i.z_j / tau, log-denominator over a != i, positives,
// and the anchor's loss term.
__global__ void k_sc_anchor(int n, int d, const double *z, const int32_t *labels, double tau, double *L,
                            double *lse, double *pos, double *loss_row) {
    __shared__ double sh[32];
    const int i = blockIdx.x;
    const double *zi = z + (size_t)i * d;
    double mx = -INFINITY;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        const double *zj = z + (size_t)j * d;
        double a = 0.0;
        for (int k = 0; k < d; k++) a += zi[k] * zj[k];
        L[(size_t)i * n + j] = a / tau;
        mx = fmax(mx, a / tau);
    }
    mx = hpff_block_max(mx, sh);
    double s = 0.0, np = 0.0, lp = 0.0;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        if (j == i) continue;
        const double l = L[(size_t)i * n + j];
        s += exp(l - mx);
        if (labels[j] == labels[i]) {
            np += 1.0;
            lp += l;
        }
    }
    s = hpff_block_sum(s, sh);
    np = hpff_block_sum(np, sh);
    lp = hpff_block_sum(lp, sh);
    if (threadIdx.x == 0) {
        const double ls = mx + log(s);
        lse[i] = ls;
        pos[i] = np;
        loss_row[i] = np > 0.0 ? -(lp / np - ls) : 0.0;
    }
}

// S_ij = (Q_ij + Q_ji) / (n tau), Q_ij = softmax_i(j) - [j in P(i)]/|P(i)| (0 when P(i) is empty).
__global__ void k_sc_pairs(int n, const int32_t *labels, const double *L, const double *lse, const double *pos,
                           double tau, double *S) {
    HPFF_GRID_LOOP(t, (size_t)n * n) {
        const int i = (int)(t / n), j = (int)(t % n);
        double q = 0.0;
        if (i != j) {
            const double l = L[t];
            const int same = labels[i] == labels[j];
            if (pos[i] > 0.0) q += exp(l - lse[i]) - (same ? 1.0 / pos[i] : 0.0);
            if (pos[j] > 0.0) q += exp(l - lse[j]) - (same ? 1.0 / pos[j] : 0.0);
        }
        S[t] = q / ((double)n * tau);
    }
}

// One block per row i, threads over k: dz_i = sum_j S_ij z_j, then through the normalisation.
__global__ void k_sc_grad(int n, int d, const double *z, const double *norm, const double *S, double *acc,
                          float weight, float *df) {
    __shared__ double sh[32];
    const int i = blockIdx.x;
    double *ai = acc + (size_t)i * d;
    double zdot = 0.0;
    for (int k = threadIdx.x; k < d; k += blockDim.x) {
        double a = 0.0;
        for (int j = 0; j < n; j++) a += S[(size_t)i * n + j] * z[(size_t)j * d + k];
        ai[k] = a;
        zdot += a * z[(size_t)i * d + k];
    }
    zdot = hpff_block_sum(zdot, sh);
    const double r = norm[i];
    for (int k = threadIdx.x; k < d; k += blockDim.x) {
        const double g = r > 1e-12 ? (ai[k] - zdot * z[(size_t)i * d + k]) / r : ai[k] / 1e-12;
        df[(size_t)i * d + k] = (float)(weight * g);
    }
}

static void cu_supcon(hpff_backend *be, int n, int d, const float *f, const int32_t *labels, float tau,
                      float weight, float *df, float *stat, float stat_scale) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    HPFF_CHECK(n > 0 && d > 0 && tau > 0.0f, "SupCon shape n=%d d=%d tau=%g", n, d, tau);
    const size_t nn = (size_t)n, counts[8] = {nn * d, nn, nn * nn, nn, nn, nn, nn * nn, nn * d};
    double *p[8];
    aux_scratch(cx, 8, counts, p);
    double *z = p[0], *norm = p[1], *L = p[2], *lse = p[3], *pos = p[4], *loss_row = p[5], *S = p[6], *acc = p[7];
    k_sc_rows<<<n, AUX_THREADS, 0, cx->stream>>>(d, f, z, norm);
    HPFF_CUDA_LAUNCHED(cx, "k_sc_rows");
    k_sc_anchor<<<n, AUX_THREADS, 0, cx->stream>>>(n, d, z, labels, (double)tau, L, lse, pos, loss_row);
    HPFF_CUDA_LAUNCHED(cx, "k_sc_anchor");
    if (df) {
        k_sc_pairs<<<hpff_cuda_blocks(nn * nn), HPFF_CUDA_THREADS, 0, cx->stream>>>(n, labels, L, lse, pos,
                                                                                    (double)tau, S);
        HPFF_CUDA_LAUNCHED(cx, "k_sc_pairs");
        k_sc_grad<<<n, AUX_THREADS, 0, cx->stream>>>(n, d, z, norm, S, acc, weight, df);
        HPFF_CUDA_LAUNCHED(cx, "k_sc_grad");
    }
    aux_final(cx, n, loss_row, (double)n, stat, stat_scale);
}

extern "C" void hpff_cuda_install_aux(hpff_backend *be) {
    be->spatial_std_fwd = cu_std_fwd;
    be->spatial_std_bwd = cu_std_bwd;
    be->simmat_mse = cu_simmat_mse;
    be->supcon = cu_supcon;
}
