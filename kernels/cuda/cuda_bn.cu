// cuda_bn.cu — batch norm (ALGORITHM §1.2) with our own kernels. Per-channel statistics are a
// two-level reduction: a grid of (splits x channels) blocks each reduces a strided share of one
// channel (Welford per thread, Chan merges across threads), then one thread per channel merges
// the block partials in a fixed order in double. Deterministic; no atomics.
#include <math.h>
#include "cuda_internal.h"

typedef struct { float n, mean, m2; } welford;   // count, mean, sum of squared deviations

__device__ __forceinline__ welford welford_merge(welford a, welford b) {
    float n = a.n + b.n;
    if (n == 0.0f) return a;
    float d = b.mean - a.mean, fb = b.n / n;
    welford r = {n, a.mean + d * fb, a.m2 + b.m2 + d * d * a.n * fb};
    return r;
}

// Element e in [0, n*hw) of channel ch of an (n, c, hw) tensor.
__device__ __forceinline__ size_t bn_index(unsigned e, int c, int hw, int ch) {
    unsigned i = e / (unsigned)hw;
    return ((size_t)i * c + ch) * hw + (e - i * (unsigned)hw);
}

// grid (splits, c): part[ch*splits + b] = Welford state of block b's share of channel ch.
__global__ void k_bn_stats(const float *x, int n, int c, int hw, welford *part) {
    __shared__ welford sh[32];
    const int ch = blockIdx.y, splits = gridDim.x;
    const unsigned total = (unsigned)n * (unsigned)hw, stride = (unsigned)splits * blockDim.x;
    welford w = {0.0f, 0.0f, 0.0f};
    for (unsigned e = blockIdx.x * blockDim.x + threadIdx.x; e < total; e += stride) {
        float v = x[bn_index(e, c, hw, ch)];
        w.n += 1.0f;
        float d = v - w.mean;
        w.mean += d / w.n;
        w.m2 += d * (v - w.mean);
    }
    for (int o = 16; o > 0; o >>= 1) {
        welford b = {__shfl_down_sync(0xffffffffu, w.n, o), __shfl_down_sync(0xffffffffu, w.mean, o),
                     __shfl_down_sync(0xffffffffu, w.m2, o)};
        w = welford_merge(w, b);
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) sh[warp] = w;
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int k = 1; k < (int)(blockDim.x >> 5); k++) w = welford_merge(w, sh[k]);
        part[(size_t)ch * splits + blockIdx.x] = w;
    }
}

// One thread per channel: merge the partials, write save_mean/save_invstd, update running stats.
__global__ void k_bn_stats_final(const welford *part, int splits, int c, double count, float momentum,
                                 float eps, float *save_mean, float *save_invstd, float *running_mean,
                                 float *running_var) {
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= c) return;
    double n = 0.0, mean = 0.0, m2 = 0.0;
    for (int b = 0; b < splits; b++) {
        welford p = part[(size_t)ch * splits + b];
        if (p.n == 0.0f) continue;
        double nn = n + p.n, d = (double)p.mean - mean;
        mean += d * p.n / nn;
        m2 += p.m2 + d * d * n * p.n / nn;
        n = nn;
    }
    double var = m2 / count;
    double unbiased = m2 / (count - 1.0);   // count > 1, checked on the host
    save_mean[ch] = (float)mean;
    save_invstd[ch] = (float)(1.0 / sqrt(var + (double)eps));
    if (running_mean) running_mean[ch] = (1.0f - momentum) * running_mean[ch] + momentum * (float)mean;
    if (running_var) running_var[ch] = (1.0f - momentum) * running_var[ch] + momentum * (float)unbiased;
}

// y = gamma*(x - mean)*invstd + beta over (n, c, hw), then ReLU when `relu` (relu_fwd's
// expression). For eval, mean/istd come from `var` (running stats) when `from_var` is set.
__global__ void k_bn_apply(const float *x, float *y, size_t total, int c, int hw, const float *mean,
                           const float *scale_src, int from_var, float eps, const float *gamma,
                           const float *beta, int relu) {
    HPFF_GRID_LOOP(i, total) {
        int ch = (int)((unsigned)i / (unsigned)hw % (unsigned)c);
        float istd = from_var ? 1.0f / sqrtf(scale_src[ch] + eps) : scale_src[ch];
        float g = gamma ? gamma[ch] : 1.0f, b = beta ? beta[ch] : 0.0f;
        float v = g * ((x[i] - mean[ch]) * istd) + b;
        y[i] = relu && v < 0.0f ? 0.0f : v;   // k_relu_fwd's expression: fused = separate, bitwise
    }
}

// dy as relu_bwd passes it on when the forward fused a ReLU with output relu_y.
__device__ __forceinline__ float relu_masked(const float *relu_y, const float *dy, size_t k) {
    return !relu_y || relu_y[k] > 0.0f ? dy[k] : 0.0f;
}

// grid (splits, c): part[ch*splits + b] = (sum dy, sum dy*(x - mean)) over block b's share.
__global__ void k_bn_bwd_sums(const float *x, const float *dy, const float *relu_y, const float *mean, int n,
                              int c, int hw, float2 *part) {
    __shared__ float sh[32];
    const int ch = blockIdx.y, splits = gridDim.x;
    const unsigned total = (unsigned)n * (unsigned)hw, stride = (unsigned)splits * blockDim.x;
    const float m = mean[ch];
    float s = 0.0f, sx = 0.0f;
    for (unsigned e = blockIdx.x * blockDim.x + threadIdx.x; e < total; e += stride) {
        size_t k = bn_index(e, c, hw, ch);
        float g = relu_masked(relu_y, dy, k);
        s += g;
        sx += g * (x[k] - m);
    }
    s = hpff_block_sum(s, sh);
    sx = hpff_block_sum(sx, sh);
    if (threadIdx.x == 0) part[(size_t)ch * splits + blockIdx.x] = make_float2(s, sx);
}

// One thread per channel: accumulate dgamma/dbeta; coef[ch] = (mean dy, mean dy*xhat) for dx.
__global__ void k_bn_bwd_final(const float2 *part, int splits, int c, double count, const float *invstd,
                               float *dgamma, float *dbeta, float2 *coef) {
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= c) return;
    double s = 0.0, sx = 0.0;
    for (int b = 0; b < splits; b++) {
        float2 p = part[(size_t)ch * splits + b];
        s += p.x;
        sx += p.y;
    }
    double sxhat = sx * invstd[ch];   // sum dy * xhat
    if (dbeta) dbeta[ch] += (float)s;
    if (dgamma) dgamma[ch] += (float)sxhat;
    coef[ch] = make_float2((float)(s / count), (float)(sxhat / count));
}

// dx = beta_dx*dx + gamma*invstd*(dy - mean(dy) - xhat*mean(dy*xhat)).
__global__ void k_bn_bwd_dx(const float *x, const float *dy, const float *relu_y, const float *mean,
                            const float *invstd, const float *gamma, const float2 *coef, size_t total, int c,
                            int hw, float *dx, float beta_dx) {
    HPFF_GRID_LOOP(i, total) {
        int ch = (int)((unsigned)i / (unsigned)hw % (unsigned)c);
        float is = invstd[ch], g = gamma ? gamma[ch] : 1.0f;
        float xhat = (x[i] - mean[ch]) * is;
        float2 k = coef[ch];
        hpff_store_beta(&dx[i], g * is * (relu_masked(relu_y, dy, i) - k.x - xhat * k.y), beta_dx);
    }
}

// Blocks per channel: enough blocks in all to fill the GPU, at least ~16 elements per thread.
static int bn_splits(int n, int c, int hw) {
    long long total = (long long)n * hw;
    long long by_size = (total + HPFF_CUDA_THREADS * 16 - 1) / (HPFF_CUDA_THREADS * 16);
    long long by_gpu = (1024 + c - 1) / c;
    long long s = by_size < by_gpu ? by_size : by_gpu;
    return (int)(s < 1 ? 1 : s);
}

static void bn_check(int n, int c, int hw) {
    HPFF_CHECK(n > 0 && c > 0 && c <= 65535 && hw > 0, "bad batch-norm shape n=%d c=%d hw=%d", n, c, hw);
    HPFF_CUDA_CHECK_INDEX((size_t)n * c * hw, "batch norm");
}

static void cu_bn_fwd_train(hpff_backend *be, int n, int c, int hw, const float *x, const float *gamma,
                            const float *beta, float *y, float *running_mean, float *running_var,
                            float momentum, float eps, float *save_mean, float *save_invstd, int relu) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    bn_check(n, c, hw);
    HPFF_CHECK((size_t)n * hw > 1, "batch norm: training needs more than one value per channel (n %d, hw %d)",
               n, hw);
    int splits = bn_splits(n, c, hw);
    welford *part = (welford *)hpff_cuda_scratch(cx, (size_t)c * splits * sizeof(welford));
    k_bn_stats<<<dim3(splits, c), HPFF_CUDA_THREADS, 0, cx->stream>>>(x, n, c, hw, part);
    HPFF_CUDA_LAUNCHED(cx, "k_bn_stats");
    k_bn_stats_final<<<(c + 127) / 128, 128, 0, cx->stream>>>(part, splits, c, (double)n * hw, momentum, eps,
                                                               save_mean, save_invstd, running_mean, running_var);
    HPFF_CUDA_LAUNCHED(cx, "k_bn_stats_final");
    size_t total = (size_t)n * c * hw;
    k_bn_apply<<<hpff_cuda_blocks(total), HPFF_CUDA_THREADS, 0, cx->stream>>>(
        x, y, total, c, hw, save_mean, save_invstd, 0, eps, gamma, beta, relu);
    HPFF_CUDA_LAUNCHED(cx, "k_bn_apply (train)");
}

static void cu_bn_fwd_eval(hpff_backend *be, int n, int c, int hw, const float *x, const float *gamma,
                           const float *beta, float *y, const float *running_mean, const float *running_var,
                           float eps, int relu) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    bn_check(n, c, hw);
    size_t total = (size_t)n * c * hw;
    k_bn_apply<<<hpff_cuda_blocks(total), HPFF_CUDA_THREADS, 0, cx->stream>>>(
        x, y, total, c, hw, running_mean, running_var, 1, eps, gamma, beta, relu);
    HPFF_CUDA_LAUNCHED(cx, "k_bn_apply (eval)");
}

static void cu_bn_bwd(hpff_backend *be, int n, int c, int hw, const float *x, const float *dy,
                      const float *gamma, const float *save_mean, const float *save_invstd,
                      const float *relu_y, float *dx, float beta_dx, float *dgamma, float *dbeta) {
    hpff_cuda_ctx *cx = hpff_cuda_ctx_of(be);
    bn_check(n, c, hw);
    int splits = bn_splits(n, c, hw);
    size_t part_bytes = ((size_t)c * splits * sizeof(float2) + 255) & ~(size_t)255;
    char *scr = (char *)hpff_cuda_scratch(cx, part_bytes + (size_t)c * sizeof(float2));
    float2 *part = (float2 *)scr, *coef = (float2 *)(scr + part_bytes);
    k_bn_bwd_sums<<<dim3(splits, c), HPFF_CUDA_THREADS, 0, cx->stream>>>(x, dy, relu_y, save_mean, n, c, hw,
                                                                          part);
    HPFF_CUDA_LAUNCHED(cx, "k_bn_bwd_sums");
    k_bn_bwd_final<<<(c + 127) / 128, 128, 0, cx->stream>>>(part, splits, c, (double)n * hw, save_invstd,
                                                             dgamma, dbeta, coef);
    HPFF_CUDA_LAUNCHED(cx, "k_bn_bwd_final");
    if (!dx) return;
    size_t total = (size_t)n * c * hw;
    k_bn_bwd_dx<<<hpff_cuda_blocks(total), HPFF_CUDA_THREADS, 0, cx->stream>>>(
        x, dy, relu_y, save_mean, save_invstd, gamma, coef, total, c, hw, dx, beta_dx);
    HPFF_CUDA_LAUNCHED(cx, "k_bn_bwd_dx");
}

extern "C" void hpff_cuda_install_bn(hpff_backend *be) {
    be->bn_fwd_train = cu_bn_fwd_train;
    be->bn_fwd_eval = cu_bn_fwd_eval;
    be->bn_bwd = cu_bn_bwd;
}
