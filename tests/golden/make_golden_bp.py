#!/usr/bin/python3
"""Golden fixture for end-to-end backprop of a CIFAR-style ResNet (ALGORITHM.md §1, §2.1).

Writes tests/golden/bp_resnet8.h5 (see tests/golden/README.md for the layout).  Run with the
Debian interpreter (PyTorch 1.13 + h5py):

    /usr/bin/python3 tests/golden/make_golden_bp.py [--out tests/golden/bp_resnet8.h5]

The network is ResNet-(6n+2) with base width w: stem conv3x3 C_in->w (no bias), BN, ReLU;
stages of n BasicBlocks with widths w, 2w, 4w (strides 1, 2, 2); projection shortcut
conv1x1(stride)+BN where stride != 1 or C_in != C_out; GAP -> Linear(4w -> classes).
Here n=1, w=4, C_in=3, classes=10, input 12x12, batch 6.

The same procedure is also run in float64 from the *same* initial values and data (the float32
values cast up), and the float32-vs-float64 discrepancies are printed.  They justify the
tolerances written into the `tolerances` root attribute.  Measured with torch 1.13.0a0
(Debian, x86-64, 1 thread).  Columns: max |f32-f64|; max |f32-f64|/|f64| over entries with
|f64| >= 1e-3*max|f64| of the same tensor; max|f32-f64| / max|f64| (normwise); and the margin
min over entries of (atol + rtol*|f64|) / |f32-f64| for the tolerances chosen below:

    step0 loss           abs 8.5e-08  rel 3.6e-08  normwise 3.6e-08  margin 276x
    step0 logits         abs 2.3e-07  rel 5.7e-06  normwise 4.7e-07  margin  47x
    step0 grads          abs 2.5e-07  rel 2.5e-04  normwise 1.6e-06  margin  16x
    final params         abs 1.5e-07  rel 3.7e-05  normwise 1.7e-07  margin  25x
    final running stats  abs 1.9e-07  rel 2.1e-06  normwise 1.9e-07  margin 105x
    final eval logits    abs 1.3e-07  rel 1.3e-06  normwise 3.3e-07  margin 191x

(the large elementwise rel of grads/params comes from near-zero entries: conv-weight gradients
that cancel; that is why every check has an atol).  The full per-tensor table is re-printed on
every run, and the script aborts if the float32 result is not within these tolerances of the
float64 one.  A conforming float32 C implementation differs from float32 PyTorch by about as much
as float32 PyTorch differs from float64 (both are float32 rounding noise under a different
summation order), so every tolerance leaves a margin of >= 16x over the measured discrepancy:

    step0/loss            rtol 1e-5
    step0/logits          atol 1e-5, rtol 1e-5
    step0/grad/*          atol 1e-6, rtol 1e-4
    final params          atol 1e-6, rtol 1e-5
    final running stats   atol 1e-5, rtol 1e-5
    final/eval_logits     atol 1e-5, rtol 1e-4
    (check: |c - ref| <= atol + rtol*|ref| elementwise)
"""
import argparse
import math

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SEED = 20240611
N_BLOCKS = 1
WIDTH = 4
IN_CH = 3
CLASSES = 10
HW = 12
BATCH = 6
STEPS = 3
LR = 0.1
MOMENTUM = 0.9
WD = 1e-4

TOLERANCES = {
    "loss": (0.0, 1e-5),
    "logits": (1e-5, 1e-5),
    "grad": (1e-6, 1e-4),
    "final_param": (1e-6, 1e-5),
    "final_running": (1e-5, 1e-5),
    "eval_logits": (1e-5, 1e-4),
}
TOL_STRING = (
    "elementwise |c-ref| <= atol + rtol*|ref|; "
    "step0/loss: rtol 1e-5; "
    "step0/logits: atol 1e-5 rtol 1e-5; "
    "step0/grad/*: atol 1e-6 rtol 1e-4; "
    "final params: atol 1e-6 rtol 1e-5; "
    "final running_mean/running_var: atol 1e-5 rtol 1e-5; "
    "final/eval_logits: atol 1e-5 rtol 1e-4; "
    "basis (torch 1.13, float32 vs float64 from identical init/data): max abs diff "
    "loss 8.5e-8, logits 2.3e-7, grads 2.5e-7, final params 1.5e-7, running stats 1.9e-7, "
    "eval logits 1.3e-7; normwise rel <= 1.6e-6; every tolerance >= 16x the measured diff"
)


class Stem(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Shortcut(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, stride, 0, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn(self.conv(x))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = Shortcut(cin, cout, stride) if (stride != 1 or cin != cout) else None

    def forward(self, x):
        t = F.relu(self.bn1(self.conv1(x)))
        t = self.bn2(self.conv2(t))
        s = x if self.shortcut is None else self.shortcut(x)
        return F.relu(t + s)


class CifarResNet(nn.Module):
    def __init__(self, n, w, cin, classes):
        super().__init__()
        self.stem = Stem(cin, w)
        c = w
        for s, (cout, stride) in enumerate([(w, 1), (2 * w, 2), (4 * w, 2)], start=1):
            blocks = []
            for b in range(n):
                blocks.append(BasicBlock(c, cout, stride if b == 0 else 1))
                c = cout
            setattr(self, "layer%d" % s, nn.Sequential(*blocks))
        self.fc = nn.Linear(4 * w, classes)

    def forward(self, x):
        h = self.stem(x)
        h = self.layer3(self.layer2(self.layer1(h)))
        h = F.adaptive_avg_pool2d(h, 1).flatten(1)
        return self.fc(h)


def init_model(model):
    # ALGORITHM.md §1.9: conv N(0, 2/(kh*kw*C_out)); BN gamma=1 beta=0; Linear PyTorch default
    # (already applied at construction).  Then randomise BN affine params (2d and 1d, gamma ~
    # U(0.5, 1.5), beta ~ U(-0.2, 0.2)) for this fixture.  make_golden_hpff_dgl.py uses it too.
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            kh, kw = m.kernel_size
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / (kh * kw * m.out_channels)))
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.2, 0.2)
            m.reset_running_stats()


def state(model):
    """Detached copies of parameters and BN running stats (num_batches_tracked dropped)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()
            if not k.endswith("num_batches_tracked")}


def np32(t):
    return t.detach().cpu().numpy().astype(np.float32)


def run(model, xs, ys):
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, nesterov=True,
                          weight_decay=WD)
    out = {}
    model.train()
    for t in range(STEPS):
        opt.zero_grad()
        logits = model(xs[t])
        loss = F.cross_entropy(logits, ys[t].long())
        loss.backward()
        if t == 0:
            out["loss"] = loss.detach().clone()
            out["logits"] = logits.detach().clone()
            out["grad"] = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
        opt.step()
    out["final"] = state(model)
    model.eval()
    with torch.no_grad():
        out["eval_logits"] = model(xs[0]).clone()
    return out


def diff(a, b):
    a = a.double()
    b = b.double()
    d = (a - b).abs()
    mag = b.abs()
    big = mag >= 1e-3 * mag.max().clamp_min(1e-30)
    rel = (d[big] / mag[big]).max().item() if big.any() else 0.0
    return d.max().item(), rel


def check_tol(a, ref, atol, rtol):
    a = a.double()
    ref = ref.double()
    return bool(((a - ref).abs() <= atol + rtol * ref.abs()).all())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/golden/bp_resnet8.h5")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(SEED)

    model = CifarResNet(N_BLOCKS, WIDTH, IN_CH, CLASSES).float()
    init_model(model)
    init = state(model)
    xs = torch.randn(STEPS, BATCH, IN_CH, HW, HW, dtype=torch.float32)
    ys = torch.randint(0, CLASSES, (STEPS, BATCH), dtype=torch.int32)
    ys[:, BATCH - 1] = ys[:, 0]  # guarantee a repeated label in every batch

    # float64 twin from identical (cast-up) initial values and data
    model64 = CifarResNet(N_BLOCKS, WIDTH, IN_CH, CLASSES).double()
    model64.load_state_dict({k: v.double() if v.is_floating_point() else v
                             for k, v in model.state_dict().items()})

    r32 = run(model, xs, ys)
    r64 = run(model64, xs.double(), ys)

    # ---- f32 vs f64 report + self-check of tolerances ---------------------------------------
    rows = []
    ok = True

    def add(label, a, b, tolkey):
        nonlocal ok
        ab, rl = diff(a, b)
        atol, rtol = TOLERANCES[tolkey]
        passed = check_tol(a, b, atol, rtol)
        ok &= passed
        d = (a.double() - b.double()).abs()
        allow = atol + rtol * b.double().abs()
        margin = (allow / d.clamp_min(1e-300)).min().item()
        scale = d.max().item() / max(b.double().abs().max().item(), 1e-30)
        rows.append((label, ab, rl, passed, margin, scale))

    add("step0/loss", r32["loss"].reshape(1), r64["loss"].reshape(1), "loss")
    add("step0/logits", r32["logits"], r64["logits"], "logits")
    for k in r32["grad"]:
        add("step0/grad/" + k, r32["grad"][k], r64["grad"][k], "grad")
    for k in r32["final"]:
        key = "final_running" if "running" in k else "final_param"
        add("final/" + k, r32["final"][k], r64["final"][k], key)
    add("final/eval_logits", r32["eval_logits"], r64["eval_logits"], "eval_logits")

    print("f32 vs f64: max abs diff | max rel diff (entries >= 1e-3*max) | max abs diff / max|ref|"
          " | tolerance margin min((atol+rtol|ref|)/|diff|)")
    for label, ab, rl, passed, margin, scale in rows:
        print("  %-40s %9.2e %9.2e %9.2e %9.1f %s" % (label, ab, rl, scale, margin,
                                                     "ok" if passed else "FAIL"))

    def group(pred):
        sel = [r for r in rows if pred(r[0])]
        return (max(r[1] for r in sel), max(r[2] for r in sel), max(r[5] for r in sel),
                min(r[4] for r in sel))

    print("summary (max abs, max rel, max normwise rel, min tolerance margin):")
    for name, pred in [
        ("step0 loss", lambda s: s == "step0/loss"),
        ("step0 logits", lambda s: s == "step0/logits"),
        ("step0 grads", lambda s: s.startswith("step0/grad/")),
        ("final params", lambda s: s.startswith("final/") and "running" not in s
         and s != "final/eval_logits"),
        ("final running stats", lambda s: "running" in s),
        ("final eval logits", lambda s: s == "final/eval_logits"),
    ]:
        ab, rl, sc, mg = group(pred)
        print("  %-22s abs %.1e  rel %.1e  normwise %.1e  margin %.0fx" % (name, ab, rl, sc, mg))
    if not ok:
        raise SystemExit("f32-vs-f64 discrepancy exceeds the documented tolerances")

    # ---- write fixture ------------------------------------------------------------------------
    with h5py.File(args.out, "w") as f:
        for k, v in init.items():
            f.create_dataset("init/" + k, data=np32(v))
        f.create_dataset("batches/x", data=np32(xs))
        f.create_dataset("batches/y", data=ys.numpy().astype(np.int32))
        f.create_dataset("step0/loss", data=np.float32(r32["loss"].item()))
        f.create_dataset("step0/logits", data=np32(r32["logits"]))
        for k, v in r32["grad"].items():
            f.create_dataset("step0/grad/" + k, data=np32(v))
        for k, v in r32["final"].items():
            f.create_dataset("final/" + k, data=np32(v))
        f.create_dataset("final/eval_logits", data=np32(r32["eval_logits"]))
        a = f.attrs
        a["lr"] = LR
        a["momentum"] = MOMENTUM
        a["weight_decay"] = WD
        a["nesterov"] = 1
        a["n_blocks"] = N_BLOCKS
        a["width"] = WIDTH
        a["in_channels"] = IN_CH
        a["classes"] = CLASSES
        a["height"] = HW
        a["width_px"] = HW
        a["batch"] = BATCH
        a["steps"] = STEPS
        a["seed"] = SEED
        a["torch_version"] = str(torch.__version__)
        a["tolerances"] = TOL_STRING
    print("wrote", args.out, "loss0 = %.7f" % r32["loss"].item())


if __name__ == "__main__":
    main()
