// cuda_loss.cu — softmax cross-entropy (ALGORITHM §1.7, with top-1/top-5 counts) and binary
// cross-entropy (§1.8). Losses are summed in double in a fixed order (per-row or per-block
// partials, then one block) and added into the caller's device stat block (no synchronisation).
#include <math.h>
#include "cuda_internal.h"

#define LOSS_BLOCKS 1024   // BCE partial sums: a fixed grid keeps the summation order fixed

// One block per row: loss_row[r] = logsumexp(z) - z[y]; rank_row[r] = #classes ranked above y
// (higher logit, or equal logit and lower index); dlogits = scale*(softmax - onehot).
__global__ void k_xent_rows(int k, const float *logits, const int32_t *labels, float scale, float *dlogits,
                            double *loss_row, int *rank_row) {
    __shared__ float shf[32];
    __shared__ int shi[32];
    const float *z = logits + (size_t)blockIdx.x * k;
    int y = labels[blockIdx.x];
    if (y < 0 || y >= k) {   // reported on the host; the gradient row is left as is
        if (threadIdx.x == 0) rank_row[blockIdx.x] = -1;
        return;
    }
    float m = -INFINITY;
    for (int j = threadIdx.x; j < k; j += blockDim.x) m = fmaxf(m, z[j]);
    m = hpff_block_max(m, shf);
    float s = 0.0f;
    for (int j = threadIdx.x; j < k; j += blockDim.x) s += expf(z[j] - m);
    s = hpff_block_sum(s, shf);
    const float lse = m + logf(s), zy = z[y];
    int above = 0;
    for (int j = threadIdx.x; j < k; j += blockDim.x)   // a NaN / Inf logit makes the row wrong
        above += (z[j] > zy || (z[j] == zy && j < y)) + (isfinite(z[j]) ? 0 : k + 5);
    above = hpff_block_sum(above, shi);
    if (dlogits) {
        float *g = dlogits + (size_t)blockIdx.x * k;
        for (int j = threadIdx.x; j < k; j += blockDim.x)
            g[j] = scale * (expf(z[j] - lse) - (j == y ? 1.0f : 0.0f));
    }
    if (threadIdx.x == 0) {
        loss_row[blockIdx.x] = (double)lse - (double)zy;
        rank_row[blockIdx.x] = above;
    }
}

// One block: stat += (scale * mean loss, top-1 hits, top-5 hits, bad labels) over n rows.
__global__ void k_xent_final(int n, const double *loss_row, const int *rank_row, float *stat, float scale) {
    __shared__ double shd[32];
    __shared__ int shi[32];
    double s = 0.0;
    int c1 = 0, c5 = 0, bad = 0;
    for (int r = threadIdx.x; r < n; r += blockDim.x) {
        int rank = rank_row[r];
        if (rank < 0) { bad++; continue; }
        s += loss_row[r];
        c1 += rank < 1;
        c5 += rank < 5;
    }
    s = hpff_block_sum(s, shd);
    c1 = hpff_block_sum(c1, shi);
    c5 = hpff_block_sum(c5, shi);
    bad = hpff_block_sum(bad, shi);
    if (threadIdx.x == 0) {
        stat[HPFF_STAT_LOSS] += scale * (float)(s / n);
        stat[HPFF_STAT_TOP1] += (float)c1;
        stat[HPFF_STAT_TOP5] += (float)c5;
        stat[HPFF_STAT_BAD_LABELS] += (float)bad;
    }
}

static void cu_softmax_xent(hpff_backend *be, int n, int k, const float *logits, const int32_t *labels,
                            float weight, float *dlogits, float *stat, float stat_scale) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    HPFF_CHECK(n > 0 && k > 0, "bad cross-entropy shape n=%d k=%d", n, k);
    size_t loss_bytes = ((size_t)n * sizeof(double) + 255) & ~(size_t)255;
    size_t rank_bytes = ((size_t)n * sizeof(int) + 255) & ~(size_t)255;
    char *scr = (char *)hpff_cuda_scratch(cx, loss_bytes + rank_bytes);
    double *loss_row = (double *)scr;
    int *rank_row = (int *)(scr + loss_bytes);
    k_xent_rows<<<n, HPFF_CUDA_THREADS, 0, cx->stream>>>(k, logits, labels, weight / (float)n, dlogits,
                                                         loss_row, rank_row);
    HPFF_CUDA_LAUNCHED(cx, "k_xent_rows");
    if (!stat) return;   // a bad label leaves its gradient row untouched; the stat reports it
    k_xent_final<<<1, 1024, 0, cx->stream>>>(n, loss_row, rank_row, stat, stat_scale);
    HPFF_CUDA_LAUNCHED(cx, "k_xent_final");
}

// Per-block partial sums of the BCE terms; dp = scale*(p - t)/max(p(1-p), 1e-12) (PyTorch's form).
__global__ void k_bce(size_t count, const float *p, const float *t, float scale, float *dp, double *part) {
    __shared__ double sh[32];
    double s = 0.0;
    HPFF_GRID_LOOP(i, count) {
        float pi = p[i], ti = t[i];
        float lp = fmaxf(logf(pi), -100.0f), l1p = fmaxf(logf(1.0f - pi), -100.0f);
        s += (double)((ti - 1.0f) * l1p - ti * lp);
        if (dp) dp[i] = (pi - ti) / fmaxf((1.0f - pi) * pi, 1e-12f) * scale;
    }
    s = hpff_block_sum(s, sh);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

__global__ void k_bce_final(int blocks, const double *part, size_t count, float *stat, float scale) {
    __shared__ double sh[32];
    double s = 0.0;
    for (int b = threadIdx.x; b < blocks; b += blockDim.x) s += part[b];
    s = hpff_block_sum(s, sh);
    if (threadIdx.x == 0) stat[HPFF_STAT_LOSS] += scale * (float)(s / (double)count);
}

static void cu_bce(hpff_backend *be, size_t count, const float *p, const float *t, float weight, float *dp,
                   float *stat, float stat_scale) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    HPFF_CHECK(count > 0, "BCE over zero elements");
    unsigned blocks = hpff_cuda_blocks(count);
    if (blocks > LOSS_BLOCKS) blocks = LOSS_BLOCKS;
    double *part = (double *)hpff_cuda_scratch(cx, LOSS_BLOCKS * sizeof(double));
    k_bce<<<blocks, HPFF_CUDA_THREADS, 0, cx->stream>>>(count, p, t, weight / (float)count, dp, part);
    HPFF_CUDA_LAUNCHED(cx, "k_bce");
    if (!stat) return;
    k_bce_final<<<1, 1024, 0, cx->stream>>>((int)blocks, part, count, stat, stat_scale);
    HPFF_CUDA_LAUNCHED(cx, "k_bce_final");
}

extern "C" void hpff_cuda_install_loss(hpff_backend *be) {
    be->softmax_xent = cu_softmax_xent;
    be->bce = cu_bce;
}
