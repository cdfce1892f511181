"""Shared helpers of the hash-initialised golden fixtures (make_golden_imagenet.py,
make_golden_imagenet_infopro.py). tests/golden_hash.h is the C side of the same rules.

Networks of ImageNet width hold millions of parameters, too many to commit. So nothing large is
stored: every initial value and every input pixel is a function of (key, index) that the C test
recomputes exactly, and every large result is stored as samples plus statistics.

* hash(key, i) = splitmix64 finaliser of (key << 32 | i) (64-bit wrap-around arithmetic).
* Initial value of element i of a tensor with key k: offset + scale * q, q = (hash(k, i) >> 40)
  mod 127 - 63 in [-63, 63]; scale a power of two, so every value is exact in float32 and float64.
* Input pixel i of a batch with key k: u = ((hash(k, i) >> 40) mod 256) / 255 (float32), then
  x = (u - mean[c]) / std[c] in float32 (c = the pixel's channel): the C side computes the same
  two IEEE single operations.
* Samples of a tensor with count elements: all if count <= nsamp, else indices (j*count)//nsamp,
  j < nsamp.
* Statistics of a full float32 tensor g (float64): [sum g, sum |g|, sqrt(sum g^2), sum r_i g_i],
  r_i = +1 if ((i * 2654435761) mod 2^32) >= 2^31 else -1.
"""
import math

import numpy as np

M64 = np.uint64(0xFFFFFFFFFFFFFFFF)
QMAX = 63


def hash64(key, count):
    """splitmix64 finaliser of (key << 32 | i) for i < count, as uint64."""
    with np.errstate(over="ignore"):
        z = (np.uint64(key) << np.uint64(32)) | np.arange(count, dtype=np.uint64)
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def grid_q(key, count):
    return ((hash64(key, count) >> np.uint64(40)) % np.uint64(127)).astype(np.int64) - QMAX


def grid_values(key, count, scale, offset):
    """offset + scale*q as float64 (exact; the float32 cast is exact too)."""
    return offset + scale * grid_q(key, count).astype(np.float64)


def pow2_scale(std):
    """A power of two so that q*scale (q uniform on [-63, 63], std ~36.7) has about `std`."""
    return 2.0 ** round(math.log2(std / math.sqrt((127 * 127 - 1) / 12.0)))


def pixels(key, shape, mean, std):
    """float32 inputs (n, c, h, w) = (u - mean[c]) / std[c], u on the 1/255 grid."""
    n, c, h, w = shape
    k = ((hash64(key, n * c * h * w) >> np.uint64(40)) % np.uint64(256)).astype(np.float32)
    u = (k / np.float32(255.0)).reshape(n, c, h, w)
    m = np.asarray(mean, dtype=np.float32).reshape(1, c, 1, 1)
    s = np.asarray(std, dtype=np.float32).reshape(1, c, 1, 1)
    return ((u - m) / s).astype(np.float32)


def sample_index(count, nsamp):
    if count <= nsamp:
        return np.arange(count)
    return (np.arange(nsamp, dtype=np.int64) * count) // nsamp


def gstat(g):
    """[sum g, sum |g|, ||g||_2, sum r_i g_i] in float64 of a float32 tensor."""
    g = np.asarray(g, dtype=np.float64).reshape(-1)
    i = np.arange(g.size, dtype=np.uint64)
    with np.errstate(over="ignore"):
        r = np.where(((i * np.uint64(2654435761)) & np.uint64(0xFFFFFFFF)) >= np.uint64(2 ** 31), 1.0, -1.0)
    return np.array([g.sum(), np.abs(g).sum(), math.sqrt((g * g).sum()), (r * g).sum()])


def kink_ratio(x32, x64):
    """min over elements of |x64| / |x32 - x64| (inf where they agree exactly): how many of its own
    float32 errors a ReLU input stays away from 0."""
    a = np.asarray(x32, dtype=np.float64).reshape(-1)
    b = np.asarray(x64, dtype=np.float64).reshape(-1)
    d = np.abs(a - b)
    nz = d > 0
    if not nz.any():
        return math.inf
    return float((np.abs(b[nz]) / d[nz]).min())


def pool_tie_ratio(x32, x64, k, s, p):
    """For max pooling (k, s, p): min over windows whose maximum is > 0 of (top1 - top2) / (largest
    float32 error in the window), in float64 (inf when no window is at risk). A window whose two
    best values are closer than their rounding error may pick another argmax in another float32
    implementation."""
    import torch
    import torch.nn.functional as F
    a = torch.as_tensor(np.asarray(x32, dtype=np.float64))
    b = torch.as_tensor(np.asarray(x64, dtype=np.float64))
    n, c, h, w = b.shape
    pad = (p, p, p, p)
    ub = F.unfold(F.pad(b, pad, value=-math.inf).reshape(n * c, 1, h + 2 * p, w + 2 * p), k, stride=s)
    ud = F.unfold(F.pad((a - b).abs(), pad, value=0.0).reshape(n * c, 1, h + 2 * p, w + 2 * p), k, stride=s)
    top = ub.topk(2, dim=1).values
    gap = top[:, 0, :] - top[:, 1, :]
    err = ud.max(dim=1).values
    risk = (top[:, 0, :] > 0) & (err > 0)
    if not bool(risk.any()):
        return math.inf
    return float((gap[risk] / err[risk]).min())


def record_relu_pool():
    """Patches torch.nn.ReLU and MaxPool2d (for good) so that every call records its input: returns
    the two lists, ReLU inputs and (input, kernel_size, stride, padding) of each max pool, which
    the caller clears before a run and hands to margins() after."""
    import torch.nn as nn
    relu_in, pool_in = [], []
    relu_fwd, pool_fwd = nn.ReLU.forward, nn.MaxPool2d.forward

    def relu_rec(self, x):
        relu_in.append(x.detach().clone())
        return relu_fwd(self, x)

    def pool_rec(self, x):
        pool_in.append((x.detach().clone(), self.kernel_size, self.stride, self.padding))
        return pool_fwd(self, x)

    nn.ReLU.forward = relu_rec
    nn.MaxPool2d.forward = pool_rec
    return relu_in, pool_in


def margins(r32, r64):
    """(ReLU kink margin, max-pool tie margin) of a float32 run against its float64 twin, from the
    inputs record_relu_pool() kept in r["relu"], r["pool"]; inf where there are none."""
    kink = min([kink_ratio(a.numpy(), b.numpy()) for a, b in zip(r32["relu"], r64["relu"])] + [math.inf])
    tie = min([pool_tie_ratio(a.numpy(), b.numpy(), k, s, p)
               for (a, k, s, p), (b, _, _, _) in zip(r32["pool"], r64["pool"])] + [math.inf])
    return kink, tie


def base_scale(mod, leaf):
    """(scale, offset) of the grid steps both ImageNet fixtures give a batch-norm parameter
    (weight 1 + 2^-7 q, bias 2^-8 q) or a conv weight (the He-normal std rounded to a power of
    two); None for any other parameter (each fixture has its own rule there)."""
    import torch.nn as nn
    if isinstance(mod, nn.BatchNorm2d):
        return (2.0 ** -7, 1.0) if leaf == "weight" else (2.0 ** -8, 0.0)
    if isinstance(mod, nn.Conv2d) and leaf == "weight":
        kh, kw = mod.kernel_size
        return pow2_scale(math.sqrt(2.0 / (kh * kw * mod.out_channels))), 0.0
    return None


def set_grid(model, steps, key_base):
    """Sets the i-th named state_dict tensor of steps = [(name, scale, offset)] to
    grid_values(key_base + i) (exact in float32 and float64, so in the model's own dtype)."""
    import torch
    sd = model.state_dict()
    with torch.no_grad():
        for i, (name, scale, offset) in enumerate(steps):
            t = sd[name]
            t.copy_(torch.from_numpy(grid_values(key_base + i, t.numel(), scale, offset)).reshape(t.shape))
