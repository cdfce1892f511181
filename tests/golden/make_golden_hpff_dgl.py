#!/usr/bin/python3
"""Golden fixture for one DGL+HPFF training step (ALGORITHM.md §3.1, §4.2-§4.4, §5.4 PFF-B).

Writes tests/golden/hpff_dgl_r8.h5 (layout in tests/golden/README.md).  Run with the Debian
interpreter (PyTorch 1.13 + h5py), from the repository root:

    /usr/bin/python3 tests/golden/make_golden_hpff_dgl.py [--out tests/golden/hpff_dgl_r8.h5]

Model: the §2.1 CIFAR ResNet with n=1 block per stage (ResNet-8), base width 4 (stage widths
4/8/16), 3x16x16 inputs, batch 6, 10 classes, split by block into M=3 modules
(F_0 = stem + layer1.0, F_1 = layer2.0, F_2 = layer3.0; Φ = GAP + fc).  HiLo at module 1 only
(the default sets {1..M-2}): an independent (IL) and a cascade (CL) DGL aux net, each the §3.1
CIFAR port, both under PFF-B n=2 (§5.4): the 8x8 map h_1 is cut into four 4x4 patches, each
patch is an independent image for one shared aux net built for the patch size
(p1 = ceil(4/4) = 1, p2 = min(p1, 2) = 1, d = 8), every patch is a separate forward (BN batch
statistics per patch), the four logit tensors are averaged and CE is taken on the average.
Weights w_I = 0.001, w_C = 0.999.

The gradients are computed by the *literal* route of §4.2 (the authors' x/y/z streams, three
forwards per module, two backward calls), not by the single-pass §4.3 algorithm that the C code
implements; by §4.3 both give the same gradients:

    s = stem(x); x-stream: x0 = F_0(s).detach()            (no loss at module 0)
    i = 1: x1 = F_1(x0)                 -> loss_il = CE(mean_p il(P_p(x1)))
           y0 = F_0(s) (attached to the stem), z = F_1(y0)
                                        -> loss_cl = CE(mean_p cl(P_p(z)))
           backward(w_I loss_il + w_C loss_cl); x1, y0 detached
    last:  xf = F_2(x1), yf = F_2(F_1(y0)), both through the same Φ
           backward(w_I CE(Φ(xf)) + w_C CE(Φ(yf)))

Tensor names are the C names (hpff_model_build for arch resnet8, width 4, method dgl, K=3,
split even, pff on): stem.*, layer{1,2,3}.0.*, aux1.{il,cl}.cls.{conv,bn}{1,2,3}.*,
aux1.{il,cl}.cls.{fc1,fcbn1,fc2,fcbn2,fc3}.*, fc.*.

The same step is also run in float64 from the same (cast-up) initial values and data; the
float32-vs-float64 discrepancies are printed and justify the tolerances in the `tolerances`
root attribute (the script aborts if float32 is outside them).  Measured with torch 1.13.0a0
(Debian, x86-64, 1 thread); see tests/golden/README.md for the table.
"""
import argparse
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden_bp import BasicBlock, Stem, init_model, np32, state  # noqa: E402  (the §2.1 blocks, same names)

SEED = 20240927
WIDTH = 4
IN_CH = 3
CLASSES = 10
HW = 16
BATCH = 6
PFF_N = 2
W_I = 0.001
W_C = 0.999
W_EQ = 0.5      # second gradient set /grad_eq: w_I = w_C = 0.5

# elementwise |c - ref| <= atol + rtol*|ref|; for gradients atol is relative to the tensor's
# largest |ref| (the IL aux gradients are scaled by w_I = 1e-3, so one absolute atol does not fit
# every tensor).
TOLERANCES = {
    "loss": (0.0, 1e-5),          # (atol, rtol)
    "grad": (2e-4, 1e-3),         # (atol as a fraction of max|ref| of the tensor, rtol)
}
TOL_STRING = (
    "elementwise |c-ref| <= atol + rtol*|ref|; losses: atol 0, rtol 1e-5; "
    "grad/* and grad_eq/*: atol 2e-4*max|ref| of the tensor, rtol 1e-3"
)


class DglPort(nn.Module):
    """§3.1 CIFAR-ResNet port of the DGL aux net, for an input C x s x s (C names)."""

    def __init__(self, c, side, classes):
        super().__init__()
        self.p1 = -(-side // 4)
        self.p2 = min(self.p1, 2)
        d = c * self.p2 * self.p2
        for i in (1, 2, 3):
            setattr(self, "conv%d" % i, nn.Conv2d(c, c, 1, 1, 0, bias=False))
            setattr(self, "bn%d" % i, nn.BatchNorm2d(c))
        self.fc1 = nn.Linear(d, d, bias=False)
        self.fcbn1 = nn.BatchNorm1d(d)
        self.fc2 = nn.Linear(d, d, bias=False)
        self.fcbn2 = nn.BatchNorm1d(d)
        self.fc3 = nn.Linear(d, classes)

    def forward(self, h):
        t = F.adaptive_avg_pool2d(h, self.p1)
        for i in (1, 2, 3):
            t = F.relu(getattr(self, "bn%d" % i)(getattr(self, "conv%d" % i)(t)))
        t = F.adaptive_avg_pool2d(t, self.p2).flatten(1)
        t = F.relu(self.fcbn1(self.fc1(t)))
        t = F.relu(self.fcbn2(self.fc2(t)))
        return self.fc3(t)


class AuxHead(nn.Module):
    def __init__(self, c, side, classes):
        super().__init__()
        self.cls = DglPort(c, side, classes)


class AuxPair(nn.Module):
    def __init__(self, c, side, classes):
        super().__init__()
        self.il = AuxHead(c, side, classes)
        self.cl = AuxHead(c, side, classes)


def patches(h, n):
    """§5.4 partition: row cuts floor(k H / n), column cuts floor(l W / n), row-major."""
    H, W = h.shape[2], h.shape[3]
    r = [k * H // n for k in range(n + 1)]
    c = [l * W // n for l in range(n + 1)]
    return [h[:, :, r[k]:r[k + 1], c[l]:c[l + 1]] for k in range(n) for l in range(n)]


def pffb_loss(aux, h, y, n):
    """PFF-B: one forward per patch (its own BN statistics), logits averaged, CE on the average."""
    ps = patches(h, n)
    z = sum(aux(p) for p in ps) / len(ps)
    return F.cross_entropy(z, y)


class HiloDglNet(nn.Module):
    def __init__(self):
        super().__init__()
        w = WIDTH
        self.stem = Stem(IN_CH, w)
        self.layer1 = nn.Sequential(BasicBlock(w, w, 1))
        self.layer2 = nn.Sequential(BasicBlock(w, 2 * w, 2))
        self.layer3 = nn.Sequential(BasicBlock(2 * w, 4 * w, 2))
        self.fc = nn.Linear(4 * w, CLASSES)
        # aux at module 1 reads h_1 = 2w x (HW/2)^2; PFF-B builds it for the patch side
        self.aux1 = AuxPair(2 * w, (HW // 2) // PFF_N, CLASSES)

    def phi(self, h):
        return self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))


def literal_step(model, x, y, w_i=W_I, w_c=W_C):
    """The §4.2 streams (module 0: stem + layer1, 1: layer2, 2: layer3 + Φ), autograd."""
    model.train()
    model.zero_grad()
    E = [model.layer1, model.layer2, model.layer3]
    s = model.stem(x)
    xs = E[0](s).detach()              # x-stream, module 0: no loss
    ys = s                             # y-stream stays attached to the stem
    # i = 1 = M-2
    xs = E[1](xs)
    loss_il = pffb_loss(model.aux1.il.cls, xs, y, PFF_N)
    y_prev = E[0](ys)
    z = E[1](y_prev)
    loss_cl = pffb_loss(model.aux1.cl.cls, z, y, PFF_N)
    (w_i * loss_il + w_c * loss_cl).backward()
    xs = xs.detach()
    ys = y_prev.detach()
    # last module, Φ shared by both streams; the y-stream is the cascade (M-2, M-1)
    xf = E[2](xs)
    yf = E[2](E[1](ys))
    lf_x = F.cross_entropy(model.phi(xf), y)
    lf_y = F.cross_entropy(model.phi(yf), y)
    (w_i * lf_x + w_c * lf_y).backward()
    grads = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
    losses = {"il1": loss_il.detach().clone(), "cl1": loss_cl.detach().clone(),
              "final": lf_x.detach().clone()}
    return grads, losses


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/golden/hpff_dgl_r8.h5")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(SEED)

    model = HiloDglNet().float()
    init_model(model)
    init = state(model)
    x = torch.randn(BATCH, IN_CH, HW, HW, dtype=torch.float32)
    y = torch.randint(0, CLASSES, (BATCH,), dtype=torch.int64)
    y[BATCH - 1] = y[0]

    model64 = HiloDglNet().double()
    model64.load_state_dict({k: v.double() if v.is_floating_point() else v
                             for k, v in model.state_dict().items()})

    g32, l32 = literal_step(model, x, y)
    g64, l64 = literal_step(model64, x.double(), y)
    # The same step with w_I = w_C = 0.5: every routed term (IL seed a_1 into F_1 included, which
    # at w_I = 1e-3 is near the rounding noise of F_1's gradient) has a comparable size.
    e32, _ = literal_step(model, x, y, W_EQ, W_EQ)
    e64, _ = literal_step(model64, x.double(), y, W_EQ, W_EQ)

    ok = True
    print("f32 vs f64: max abs diff | max abs diff / max|ref| (normwise) | tolerance margin")
    margins = {"loss": [], "grad": []}
    for k in l32:
        atol, rtol = TOLERANCES["loss"]
        d = abs(l32[k].double().item() - l64[k].item())
        allow = atol + rtol * abs(l64[k].item())
        margins["loss"].append(allow / max(d, 1e-300))
        ok &= d <= allow
        print("  loss/%-34s %9.2e %9.2e %9.1f  (%.8f)" % (k, d, d / abs(l64[k].item()),
                                                       allow / max(d, 1e-300), l64[k].item()))
    for k in list(g32) + ["eq/" + k for k in e32]:
        a, b = (e32[k[3:]].double(), e64[k[3:]]) if k.startswith("eq/") else (g32[k].double(), g64[k])
        d = (a - b).abs()
        big = b.abs().max().item()
        atol, rtol = TOLERANCES["grad"]
        allow = atol * big + rtol * b.abs()
        m = (allow / d.clamp_min(1e-300)).min().item()
        margins["grad"].append(m)
        ok &= bool((d <= allow).all())
        print("  grad/%-34s %9.2e %9.2e %9.1f" % (k, d.max().item(), d.max().item() / max(big, 1e-300), m))
    print("summary: min margin losses %.0fx, grads %.0fx" % (min(margins["loss"]), min(margins["grad"])))
    if not ok:
        raise SystemExit("f32-vs-f64 discrepancy exceeds the documented tolerances")

    with h5py.File(args.out, "w") as f:
        for k, v in init.items():
            f.create_dataset("init/" + k, data=np32(v))
        f.create_dataset("x", data=np32(x))
        f.create_dataset("y", data=y.numpy().astype(np.int32))
        for k, v in g32.items():
            f.create_dataset("grad/" + k, data=np32(v))
        for k, v in e32.items():
            f.create_dataset("grad_eq/" + k, data=np32(v))
        for k, v in l32.items():
            f.create_dataset("loss/" + k, data=np.float32(v.item()))
        a = f.attrs
        a["width"] = WIDTH
        a["in_channels"] = IN_CH
        a["classes"] = CLASSES
        a["height"] = HW
        a["batch"] = BATCH
        a["modules"] = 3
        a["pff_n"] = PFF_N
        a["w_il"] = W_I
        a["w_cl"] = W_C
        a["w_eq"] = W_EQ
        a["seed"] = SEED
        a["torch_version"] = str(torch.__version__)
        a["tolerances"] = TOL_STRING
    print("wrote %s (%d init tensors, %d gradients)" % (args.out, len(init), len(g32)))


if __name__ == "__main__":
    main()
