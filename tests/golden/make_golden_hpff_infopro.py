#!/usr/bin/python3
"""Golden fixture: ONE InfoPro+HPFF training step (HiLo x/y/z streams + PFF-A quadrant decoders)
computed by the HPFF authors' own CIFAR model code (ALGORITHM.md §3.2, §4.2-§4.5, §5.2, §2.4).

Their package (`Exp on CIFAR_SVHN_STL/network`) is NOT part of this repository: it is imported at
generation time only, from $HPFF_PEER_DIR/network (default `.peer`).  Run from the repo root:

    HPFF_PEER_DIR=.peer /usr/bin/python3 tests/golden/make_golden_hpff_infopro.py \
        [--out tests/golden/hpff_infopro_r32k8.h5]

Model: their resnet32(local_module_num=8, batch_size=4, image_size=32, dataset='cifar10',
wide_list=(16,16,32,64), aux_net_config='2c2f', local_loss_mode='cross_entropy'), train mode,
float32, 1 thread.  One call  m(img=x, target=y, ixx_1=5, ixy_1=0.5, ixx_2=0, ixy_2=0)  runs
all the local forward/backward passes; the .grad of every parameter after it (zero_grad
before, no optimizer step) is the golden gradient.

Size (< 2 MB for ~1.25 M parameters): the initial values are their own init (conv He fan-out,
Linear/bias PyTorch default) with every BN gamma ~ U(0.5,1.5), beta ~ U(-0.2,0.2), then rounded
onto a per-tensor int8 grid  v = offset + q*scale  (scale a power of two, offset 1 for BN gamma,
else 0) so that they are stored exactly as int8 (/init/<their name>, attrs scale, offset).  The
model runs from exactly these rounded values.  Gradients of tensors with <= NFULL elements are
stored in full; larger ones at NSAMP elements, indices  (j*count) // NSAMP, j = 0..NSAMP-1
(/grad/<their name>), plus, for every tensor, float64 statistics of the FULL float32 gradient
(/gstat/<their name> = [sum g, sum |g|, sqrt(sum g^2), sum r_i g_i]) with the pseudo-random
signs  r_i = +1 if ((i*2654435761) mod 2^32) >= 2^31 else -1  (i = flat index).

Seed: the first seed >= 20241127 for which no ReLU pre-activation changes sign between float32
and float64 and each is >= KINK_MIN times its own float32 error away from 0 (a float32 C run next
to a kink may legitimately flip it; one flip moves a conv gradient by ~1 %).  The search starts at
SEED = 20241201, the result of searching from 20241127.

Tolerances come from a float64 rerun of the same step from the same (cast-up) values and data;
the script prints the f32-vs-f64 table and aborts if float32 PyTorch is outside them.
"""
import argparse
import math
import os
import sys

import h5py
import numpy as np
import torch

SEED = 20241201  # first seed >= 20241127 passing the kink check (see README)
BATCH = 4
K = 8
IXX_1, IXY_1, IXX_2, IXY_2 = 5.0, 0.5, 0.0, 0.0
QMAX = 63  # init grid: q in [-63, 63]
NFULL = 1024
NSAMP = 1024
CIFAR_MEAN = [125.3, 123.0, 113.9]
CIFAR_STD = [63.0, 62.1, 66.7]

# elementwise |c-ref| <= atol + rtol*|ref|;
# statistics |c-ref| <= STAT_RTOL*sum|g_ref| + STAT_ATOL*sqrt(count)
TOL = {"grad": (2e-6, 2e-3), "loss": (1e-6, 1e-5), "logits": (1e-5, 1e-4)}
STAT_RTOL = 1e-4
STAT_ATOL = 2e-7
KINK_MIN = 3.0

sys.path.insert(0, os.environ.get("HPFF_PEER_DIR", ".peer"))
# Their constructor calls .cuda(); on the CPU that becomes a no-op.
torch.nn.Module.cuda = lambda self, *a, **k: self
torch.Tensor.cuda = lambda self, *a, **k: self
import network.resnetInfoPro_HPFF as R  # noqa: E402
import network.auxiliary_net as A  # noqa: E402

# ------------------------------------------------------------------ loss recording
LOSSES = {}
_dec_fwd, _cls_fwd = A.Decoder.forward, A.AuxClassifier.forward


def _rec(orig):
    def f(self, *a, **k):
        out = orig(self, *a, **k)
        LOSSES[getattr(self, "_golden_name", "?")] = out.detach().double().item()
        return out
    return f


A.Decoder.forward = _rec(_dec_fwd)
RELU_IN = []
_relu_fwd = torch.nn.ReLU.forward


def _relu_rec(self, x):
    RELU_IN.append(x.detach().clone())
    return _relu_fwd(self, x)


torch.nn.ReLU.forward = _relu_rec
A.AuxClassifier.forward = _rec(_cls_fwd)


def build():
    return R.resnet32(local_module_num=K, batch_size=BATCH, image_size=32, balanced_memory=False,
                      dataset="cifar10", class_num=10, wide_list=(16, 16, 32, 64), dropout_rate=0,
                      aux_net_config="2c2f", local_loss_mode="cross_entropy", aux_net_widen=1,
                      aux_net_feature_dim=128)


# ------------------------------------------------------------------ name map (theirs -> ours)
CLS_IDX = {"0": "conv1", "1": "bn1", "3": "conv2", "4": "bn2", "8": "fc1", "10": "fc2"}
DEC_IDX = {"0": "conv1", "1": "bn1", "3": "conv2"}


def our_name(theirs, cfg):
    """The C model's registry name, or None for their instantiated-but-unused tensors."""
    M = len(cfg)
    # aux position m reads h_m; config entry m = (stage, block) names their aux modules
    pos = {"%d_%d" % tuple(cfg[m]): m for m in range(M)}
    p = theirs.split(".")
    if p[0] == "conv1":
        return "stem.conv." + p[1]
    if p[0] == "bn1":
        return "stem.bn." + p[1]
    if p[0] == "fc64":
        return "fc." + p[1]
    if p[0] == "fc" or p[0].startswith("net_decoder_"):
        return None                                   # never used (§4.2)
    if p[0].startswith("layer"):
        if p[2] == "downsample":
            return ".".join(p[:2] + ["shortcut", {"0": "conv", "1": "bn"}[p[3]], p[4]])
        return theirs
    for pre, lv in (("net_classifier_", "il"), ("aux_classifier_", "cl"), ("aux_decoder_", "cl")):
        if p[0].startswith(pre):
            m = pos[p[0][len(pre):]]
            if m == 0 or m == M - 1:
                return None                           # aux of config entry 0 and the last: unused
            if pre == "aux_decoder_":                 # decoders.<q>.<idx>.<w|b>
                return "aux%d.%s.dec%s.%s.%s" % (m, lv, p[2], DEC_IDX[p[3]], p[4])
            return "aux%d.%s.cls.%s.%s" % (m, lv, CLS_IDX[p[2]], p[3])   # head.<idx>.<w|b>
    raise KeyError(theirs)


def group_of(ours, cfg):
    """Report group: backbone module F_m, 'fc', or the head part auxM.{il.cls,cl.cls,cl.dec}."""
    if ours.startswith("aux"):
        p = ours.split(".")
        return "%s.%s.%s" % (p[0], p[1], "dec" if p[2].startswith("dec") else "cls")
    if ours.startswith("fc"):
        return "fc"
    if ours.startswith("stem"):
        return "F0"
    s, b = int(ours[5]), int(ours.split(".")[1])
    for m, (cs, cb) in enumerate(cfg):
        if (s, b) <= (cs, cb):
            return "F%d" % m
    raise KeyError(ours)


def sign_vec(n):
    i = np.arange(n, dtype=np.uint64)
    h = (i * np.uint64(2654435761)) & np.uint64(0xFFFFFFFF)
    return np.where(h >= np.uint64(1 << 31), 1.0, -1.0)


def stats(g):
    g = g.detach().double().reshape(-1).numpy()
    return np.array([g.sum(), np.abs(g).sum(), math.sqrt((g * g).sum()), (sign_vec(g.size) * g).sum()])


def sample_idx(n):
    return np.arange(n) if n <= NFULL else (np.arange(NSAMP, dtype=np.int64) * n) // NSAMP


def quantize(t, is_bn_gamma):
    """Rounds t onto offset + q*scale, q int8, scale a power of two."""
    offset = 1.0 if is_bn_gamma else 0.0
    v = t.detach().double() - offset
    mx = v.abs().max().item()
    scale = 2.0 ** math.ceil(math.log2(mx / QMAX)) if mx > 0 else 1.0
    q = torch.round(v / scale).clamp(-QMAX, QMAX).to(torch.int8)
    vals = (torch.tensor(offset, dtype=torch.float32) + q.float() * torch.tensor(scale, dtype=torch.float32))
    return q, scale, offset, vals


def step(model, x, y):
    LOSSES.clear()
    model.train()
    model.zero_grad(set_to_none=True)
    logits_x, logits_y, loss = model(img=x, target=y, ixx_1=IXX_1, ixy_1=IXY_1, ixx_2=IXX_2, ixy_2=IXY_2)
    grads = {k: (p.grad.detach().clone() if p.grad is not None else None) for k, p in model.named_parameters()}
    return dict(grads=grads, logits=logits_x.detach().clone(), loss=loss.detach().double().item(),
                losses=dict(LOSSES))


def attempt(seed, args):
    torch.manual_seed(seed)

    model = build().float()
    cfg = model.infopro_config
    assert len(cfg) == K and cfg == [[1, 0], [1, 2], [1, 4], [2, 1], [2, 3], [3, 0], [3, 2], [3, 4]]
    M = len(cfg)
    for name, mod in model.named_modules():
        mod._golden_name = name
    # non-trivial BN affine parameters (every BN: backbone, aux classifiers, decoders)
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(mod.weight, 0.5, 1.5)
            torch.nn.init.uniform_(mod.bias, -0.2, 0.2)
    # round the init onto the stored int8 grid
    quant = {}
    gammas = {n + ".weight" for n, mod in model.named_modules() if isinstance(mod, torch.nn.BatchNorm2d)}
    with torch.no_grad():
        for k, p in model.named_parameters():
            q, scale, offset, vals = quantize(p, k in gammas)
            p.copy_(vals)
            quant[k] = (q, scale, offset)
    mapping = {k: our_name(k, cfg) for k, _ in model.named_parameters()}

    mean = torch.tensor([v / 255.0 for v in CIFAR_MEAN], dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor([v / 255.0 for v in CIFAR_STD], dtype=torch.float32).view(1, 3, 1, 1)
    x01 = torch.rand(BATCH, 3, 32, 32)
    x = ((x01 - mean) / std).float()
    y = torch.randint(0, 10, (BATCH,), dtype=torch.int64)
    y[BATCH - 1] = y[0]

    model64 = build().double()
    model64.load_state_dict({k: v.double() if v.is_floating_point() else v for k, v in model.state_dict().items()})
    model64.mask_train_mean = model.mask_train_mean.double()
    model64.mask_train_std = model.mask_train_std.double()
    for name, mod in model64.named_modules():
        mod._golden_name = name

    RELU_IN.clear()
    r32 = step(model, x, y)
    pre32 = list(RELU_IN)
    RELU_IN.clear()
    r64 = step(model64, x.double(), y)
    pre64 = list(RELU_IN)
    RELU_IN.clear()
    # ReLU kinks: no pre-activation may change sign between float32 and float64, and each must
    # be at least KINK_MIN times its own float32 rounding error away from 0 (else a float32 C
    # implementation could legitimately land on the other side of the kink: the gradient then
    # changes by O(1%), far beyond rounding noise).
    assert len(pre32) == len(pre64)
    kink = math.inf
    flips = 0
    for a, b in zip(pre32, pre64):
        e = (a.double() - b).abs()
        flips += int(((a > 0) != (b > 0)).sum())
        nz = (b != 0) | (e != 0)
        if nz.any():
            kink = min(kink, (b.abs()[nz] / e[nz].clamp_min(1e-300)).min().item())
    print("seed %d: ReLU sign flips f32-vs-f64 %d, min |pre-activation| / |f32 error| = %.2f" % (seed, flips, kink))
    if flips or kink < KINK_MIN:
        return False

    # ---- f32 vs f64 -----------------------------------------------------------------------------
    ok = True
    atol, rtol = TOL["grad"]
    groups = {}
    print("f32 vs f64 per compared tensor: max abs | max abs/max|ref| | elementwise tolerance margin | gstat margin")
    for k in r32["grads"]:
        ours = mapping[k]
        if ours is None:
            assert r32["grads"][k] is None, "unused tensor %s got a gradient" % k
            continue
        a, b = r32["grads"][k].double(), r64["grads"][k].double()
        d = (a - b).abs()
        margin = ((atol + rtol * b.abs()) / d.clamp_min(1e-300)).min().item()
        sa, sb = stats(r32["grads"][k]), stats(r64["grads"][k])
        smargin = ((STAT_RTOL * sb[1] + STAT_ATOL * math.sqrt(a.numel())) / np.maximum(np.abs(sa - sb), 1e-300)).min()
        srel = smargin
        passed = margin >= 1.0 and smargin >= 1.0
        ok &= passed
        grp = group_of(ours, cfg)
        g = groups.setdefault(grp, [0.0, 0.0, 1e300, 1e300])
        g[0] = max(g[0], d.max().item())
        g[1] = max(g[1], d.max().item() / max(b.abs().max().item(), 1e-30))
        g[2] = min(g[2], margin)
        g[3] = min(g[3], srel)
        print("  %-45s %9.2e %9.2e %9.1f %9.2e %s" % (ours, d.max().item(),
              d.max().item() / max(b.abs().max().item(), 1e-30), margin, srel, "ok" if passed else "FAIL"))
    print("summary per group (max abs, max normwise rel, min elementwise margin, min gstat margin):")
    for grp, (ab, nw, mg, sr) in groups.items():
        print("  %-14s abs %.1e  normwise %.1e  margin %.3gx  gstat margin %.3gx" % (grp, ab, nw, mg, sr))
    dl = abs(r32["loss"] - r64["loss"])
    dlog = (r32["logits"].double() - r64["logits"]).abs().max().item()
    dloc = max(abs(r32["losses"][k] - r64["losses"][k]) for k in r32["losses"])
    print("final loss %.9f  |f32-f64| %.1e;  logits max %.1e;  local losses max %.1e" % (r32["loss"], dl, dlog, dloc))
    ok &= dl <= TOL["loss"][0] + TOL["loss"][1] * abs(r64["loss"]) and dloc <= 1e-5
    ok &= bool(((r32["logits"].double() - r64["logits"]).abs() <= TOL["logits"][0] + TOL["logits"][1] * r64["logits"].abs()).all())
    if not ok:
        print("seed %d: f32-vs-f64 discrepancy exceeds the documented tolerances" % seed)
        return False

    # ---- local losses as our step stats report them -----------------------------------------------
    il = np.full(M, np.nan)
    cl = np.full(M, np.nan)
    L = r32["losses"]
    for m in range(1, M - 1):
        tag = "%d_%d" % tuple(cfg[m])
        r = m / (K - 2)
        il[m] = L["net_classifier_" + tag]
        cl[m] = (IXX_1 * (1 - r) + IXX_2 * r) * L["aux_decoder_" + tag] + (IXY_1 * (1 - r) + IXY_2 * r) * L["aux_classifier_" + tag]

    # ---- write -------------------------------------------------------------------------------------
    theirs = [k for k, _ in model.named_parameters()]
    # no timestamps anywhere (file, groups, datasets): byte-reproducible output
    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_V110, h5py.h5f.LIBVER_V110)
    with h5py.File(h5py.h5f.create(args.out.encode(), h5py.h5f.ACC_TRUNC, fcpl=fcpl, fapl=fapl)) as f:
        gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
        gcpl.set_obj_track_times(False)
        for grp in ("init", "grad", "gstat", "map", "loss"):
            h5py.h5g.create(f.id, grp.encode(), gcpl=gcpl)

        def cd(name, **kw):
            return f.create_dataset(name, track_times=False, **kw)
        for k in theirs:
            q, scale, offset = quant[k]
            if mapping[k] is None:
                continue
            big = dict(compression="gzip", compression_opts=9, shuffle=True) if q.numel() > 4096 else {}
            d = cd("init/" + k, data=q.numpy(), **big)
            d.attrs["scale"] = np.float32(scale)
            d.attrs["offset"] = np.float32(offset)
            g = r32["grads"][k].reshape(-1).numpy().astype(np.float32)
            gs = cd("grad/" + k, data=g[sample_idx(g.size)])
            gs.attrs["count"] = np.int64(g.size)
            cd("gstat/" + k, data=stats(r32["grads"][k]))
        used = [k for k in theirs if mapping[k] is not None]
        cd("map/theirs", data=np.array([k.encode() for k in used], dtype="S64"))
        cd("map/ours", data=np.array([mapping[k].encode() for k in used], dtype="S64"))
        cd("unused", data=np.array([k.encode() for k in theirs if mapping[k] is None], dtype="S64"))
        cd("x", data=x.numpy().astype(np.float32))
        cd("y", data=y.numpy().astype(np.int32))
        cd("mean", data=mean.reshape(3).numpy())
        cd("std", data=std.reshape(3).numpy())
        cd("loss/final", data=np.float64(r32["loss"]))
        cd("loss/il", data=il)
        cd("loss/cl", data=cl)
        cd("logits", data=r32["logits"].numpy().astype(np.float32))
        a = f.attrs
        a["arch"] = "resnet32"
        a["K"] = K
        a["M"] = M
        a["batch"] = BATCH
        a["image"] = 32
        a["aux_net_config"] = "2c2f"
        a["local_loss_mode"] = "cross_entropy"
        a["ixx_1"], a["ixy_1"], a["ixx_2"], a["ixy_2"] = IXX_1, IXY_1, IXX_2, IXY_2
        a["wx"], a["wy"] = float(model.wx), float(model.wy)
        a["seed"] = seed
        a["kink_ratio"] = kink
        a["nfull"] = NFULL
        a["nsamp"] = NSAMP
        a["grad_atol"], a["grad_rtol"] = TOL["grad"]
        a["stat_rtol"] = STAT_RTOL
        a["stat_atol"] = STAT_ATOL
        a["loss_atol"], a["loss_rtol"] = TOL["loss"]
        a["logits_atol"], a["logits_rtol"] = TOL["logits"]
        a["torch_version"] = str(torch.__version__)
        a["tolerances"] = ("grad elementwise |c-ref| <= %g + %g|ref| (sampled entries); gstat "
                           "[sum, l1, l2, signed-projection] |c-ref| <= %g*l1_ref + %g*sqrt(count); losses atol %g rtol %g; "
                           "logits atol %g rtol %g; basis: float32-vs-float64 rerun of the same step"
                           % (TOL["grad"] + (STAT_RTOL, STAT_ATOL) + TOL["loss"] + TOL["logits"]))
    print("wrote %s (seed %d, %d compared tensors, %d unused), final loss %.7f"
          % (args.out, seed, len(used), len(theirs) - len(used), r32["loss"]))
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/golden/hpff_infopro_r32k8.h5")
    args = ap.parse_args()
    torch.set_num_threads(1)
    # Deterministic search for the first seed whose step is safely away from every ReLU kink.
    for seed in range(SEED, SEED + 100):
        if attempt(seed, args):
            return
    raise SystemExit("no seed in range passed")


if __name__ == "__main__":
    main()
