#!/usr/bin/python3
"""Golden fixtures: ONE InfoPro+HPFF training step (HiLo x/y/z streams, PFF-A quadrant decoders)
computed by the HPFF authors' own CIFAR model code, then one SGD step (ALGORITHM.md §1.10, §2.4,
§3.2, §4.2-§4.6, §5.2). Checked by tests/test_golden_infopro.c; layout and rules in README.md.

Their package (`Exp on CIFAR_SVHN_STL/network` of Zeudfish/HPFF) is NOT part of this repository:
it is imported at generation time only, from $HPFF_PEER_DIR/network (default `.peer`, git-ignored).
Needs Debian's python3-torch (1.13) and python3-h5py. Run from the repo root:

    HPFF_PEER_DIR=.peer /usr/bin/python3 tests/golden/make_golden_infopro.py [--case NAME|all] [--dir tests/golden]

Cases (what the paper's InfoPro* rows run, §2.4 code split, λ schedule r = m/(K-2)):
    r32k8    ResNet-32  K=8  (M=8),  batch 4, width 16
    r32k16   ResNet-32  K=16 (M=15), batch 8, width 16
    r110k55  ResNet-110 K=55 (M=54), batch 2, width 4 (stage widths 4/8/16; see REDUCED WIDTH)

What each fixture holds (every entry, nothing sampled):
  * the reference = the float64 run of their model from the same values and data: every parameter
    gradient, the BN running statistics after the step (our default: one update with momentum 0.1,
    i.e. their first update of each BN in the step; and their literal statistics after the 2-3
    recomputations, which `local.bn_emulate = on` reproduces), the losses and the logits. The
    updated parameters are not stored: the generator asserts that torch.optim.SGD (Nesterov 0.9,
    wd 1e-4) moved every parameter to p0 - lr(1+mu)(g + wd p0) (first step), which the test
    evaluates from the stored gradient;
  * per tensor, the tolerance: atol = 2^ceil(log2(MARGIN * spread)), spread = max |f32 - f64| of
    the same step run by torch in float32 (with the ReLU decisions below), taken over the tensor's
    role (the same tensor of the 4 quadrant decoders of one head: their bias gradients are rounding
    noise around an exact 0 and 3-12 entries are too few samples of it), floored at
    FLOOR_REL * max|ref| (what a float32 reduction can promise; matters for tensors of a few
    entries) and at ABS_FLOOR (an all-zero gradient, a head with λ = 0, must stay zero);
  * each reference tensor as integers k on the grid q = atol/4 (a power of two): ref ~ k*q with
    |ref - k*q| <= q/2 = atol/8 (the test adds q/2 to the tolerance), so that the 4.45 M entries
    of the three cases fit in 9.4 MB with gzip+shuffle;
  * initial values: NOT stored. Every parameter and BN statistic is offset + q_i*scale with
    q_i in [-63, 63] drawn by a counter-based hash (init_q below, mirrored in the C test) from
    (init_seed, tensor number, element index); scale is a power of two near the authors' init
    scale (He fan-out for convs, PyTorch's Linear default), BN gamma = 1 + q/128, beta = q/256,
    running mean = q/128, running var = 1 + q/128. Exact in float32 on both sides;
  * ReLU decisions next to zero (the robust rule): per ReLU site s (a ReLU call of the network,
    found again in the C run by a fingerprint of its pre-activation), err_s = max |pre32 - pre64|
    of torch's float32 run. Elements with |pre64| <= band_s = KAPPA * err_s are "in the band":
    their float32 sign is not determined by the maths. The fixture lists them with the float64
    decision; the float32 spread run takes those decisions, and so does the C test (it records
    how many it had to take, and fails if C's pre-activation there lies outside the band);
  * sigmoid saturation (the decoders' Sigmoid + BCE): float32 computes 1/(1 + exp(-x)) as exactly
    1.0 for x >= 24 ln 2, where BCE takes its -100 clamp and passes no gradient; float64 would not
    saturate before x ~ 36.7. The float64 reference saturates where float32 does (a float32
    semantics of their code, not rounding), and no pre-sigmoid value may lie within 1e-2 of that
    edge (asserted), so the decision is never in doubt.

REDUCED WIDTH (r110k55): at full width ResNet-110 K=55 with the 53 IL and 53 CL heads has 8.49 M
parameters. Every gradient entry at the precision these tolerances need takes ~2 bytes after
gzip (measured: 2.0-2.2 B per entry in the three fixtures), i.e. ~17 MB for that case alone,
beyond the ~15 MB budget for all three. Width 4 (stage widths 4/8/16, the aux classifiers' convs
8/16/16, feature 128, decoders 12 channels) keeps the depth, K, the 54-module code split, every
head and the λ schedule, at 1.04 M parameters. Their AuxClassifier only accepts 16/32/64 input
channels, so for width 4 it is built through its own `widen` (= width/16) and `feature_dim`
(= 128*16/width) arguments and its first conv is rebuilt with the real input channels (the only
change to their code; strides and widths as theirs).
"""
import argparse
import math
import os
import re
import sys

import h5py
import numpy as np
import torch

CASES = {
    "r32k8": dict(arch="resnet32", K=8, batch=4, width=16, seed=20250108),
    "r32k16": dict(arch="resnet32", K=16, batch=8, width=16, seed=20250116),
    "r110k55": dict(arch="resnet110", K=55, batch=2, width=4, seed=20250155),
}
IXX_1, IXY_1, IXX_2, IXY_2 = 5.0, 0.5, 0.0, 0.0      # HPFF README (CIFAR-10, K=16 and K=55)
LR, MOMENTUM, WD = 0.8, 0.9, 1e-4                    # CIFAR recipe (§6), one step
CIFAR_MEAN = [125.3, 123.0, 113.9]
CIFAR_STD = [63.0, 62.1, 66.7]
MARGIN = 8.0        # atol >= MARGIN * measured f32-vs-f64 spread (then rounded up to a power of 2)
FLOOR_REL = 1e-5    # atol >= FLOOR_REL * max|ref|: what a float32 reduction can promise (small tensors)
ABS_FLOOR = 2.0 ** -100   # exactly-zero tensors (a head with λ = 0) must stay zero
KAPPA = 8.0         # ReLU band: |pre64| <= KAPPA * err_s (err_s = the site's max f32 error)
GRID_DIV = 4        # storage grid q = atol / GRID_DIV

sys.path.insert(0, os.environ.get("HPFF_PEER_DIR", ".peer"))
# Their constructor calls .cuda(); on the CPU that becomes a no-op.
torch.nn.Module.cuda = lambda self, *a, **k: self
torch.Tensor.cuda = lambda self, *a, **k: self
import network.resnetInfoPro_HPFF as R  # noqa: E402
import network.auxiliary_net as A  # noqa: E402

# ================================================================== reduced-width aux classifier
_cls_init = A.AuxClassifier.__init__
CANONICAL = {}   # input channels -> (their canonical inplanes, scale), set per case


def _cls_init_scaled(self, inplanes, net_config="1c2f", loss_mode="contrast", class_num=10, widen=1,
                     feature_dim=128):
    if inplanes in (16, 32, 64) and not CANONICAL:
        return _cls_init(self, inplanes, net_config, loss_mode, class_num, widen, feature_dim)
    canon, s = CANONICAL[inplanes]
    _cls_init(self, canon, net_config, loss_mode, class_num, widen * s, feature_dim / s)
    c0 = self.head[0]
    self.head[0] = torch.nn.Conv2d(inplanes, c0.out_channels, kernel_size=c0.kernel_size, stride=c0.stride,
                                   padding=c0.padding, bias=False)


A.AuxClassifier.__init__ = _cls_init_scaled

# ================================================================== recording hooks
REC = {}   # per run: losses, relu pre-activations, BN statistics after their first update


def reset_rec(force=None):
    REC.clear()
    REC.update(losses={}, relu={}, relu_err={}, bn_first={}, force=force or {}, calls={}, sig_sat=0, sig_near=0)


_dec_fwd, _cls_fwd = A.Decoder.forward, A.AuxClassifier.forward


def _loss_rec(orig):
    def f(self, *a, **k):
        out = orig(self, *a, **k)
        REC["losses"][self._golden_name] = out.detach().double().item()
        return out
    return f


A.Decoder.forward = _loss_rec(_dec_fwd)
A.AuxClassifier.forward = _loss_rec(_cls_fwd)


class ForcedRelu(torch.autograd.Function):
    """ReLU whose decision is given: forward |x| where forced on, 0 where off; backward the mask."""
    @staticmethod
    def forward(ctx, x, on):
        ctx.save_for_backward(on)
        return torch.where(on, x.abs(), torch.zeros_like(x))

    @staticmethod
    def backward(ctx, g):
        (on,) = ctx.saved_tensors
        return g * on.to(g.dtype), None


def site_of(mod):
    """A ReLU call's site: the module name, plus the call parity for a block's shared ReLU."""
    if getattr(mod, "_golden_pair", False):
        k = REC["calls"].get(mod._golden_name, 0)
        REC["calls"][mod._golden_name] = k + 1
        return "%s#%d" % (mod._golden_name, k % 2)
    return mod._golden_name


def _relu_fwd(self, x):
    site = site_of(self)
    pre = x.detach().clone()
    if site not in REC["relu"]:
        REC["relu"][site] = pre
    elif not torch.equal(REC["relu"][site], pre):   # the x/y/z streams recompute identical values
        REC["relu_err"][site] = True
    f = REC["force"].get(site)
    if f is None:
        return torch.relu(x)
    idx, dec = f
    on = (x > 0).reshape(-1).clone()
    on[idx] = dec
    return ForcedRelu.apply(x, on.reshape(x.shape))


torch.nn.ReLU.forward = _relu_fwd
_bn_fwd = torch.nn.BatchNorm2d.forward


def _bn_rec(self, x):
    out = _bn_fwd(self, x)
    if self.training and self._golden_name not in REC["bn_first"]:
        REC["bn_first"][self._golden_name] = (self.running_mean.detach().clone(), self.running_var.detach().clone())
    return out


torch.nn.BatchNorm2d.forward = _bn_rec
SIG_EDGE = 24 * math.log(2.0)   # float32 1/(1 + exp(-x)) is exactly 1.0 from here on (exp(-x) <= 2^-24)


def _sigmoid_fwd(self, x):
    """Their decoders end in Sigmoid then BCE (log clamped at -100). Where float32 rounds the
    sigmoid to exactly 1.0, float32 takes the clamp and passes no gradient, while float64 would not
    saturate before x ~ 36.7: a float32 semantics, not rounding noise. The float64 reference
    therefore saturates where float32 does (x > SIG_EDGE) and the generator requires every
    pre-sigmoid value to be far from SIG_EDGE, so that the decision is not in doubt."""
    y = torch.sigmoid(x)
    REC["sig_near"] += int(((x.detach() - SIG_EDGE).abs() < 1e-2).sum())
    if x.dtype != torch.float64:
        return y
    sat = x.detach() > SIG_EDGE
    REC["sig_sat"] += int(sat.sum())
    return torch.where(sat, torch.ones_like(y), y)


torch.nn.Sigmoid.forward = _sigmoid_fwd

# ================================================================== counter-based initial values
MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def mix64(z):
    """splitmix64's finalizer on numpy uint64 (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def init_q(seed, t, n):
    """q_i in [-63, 63] for element i of tensor number t: the C test computes the same."""
    key = mix64(np.array([(seed ^ ((t + 1) << 32)) & MASK64], dtype=np.uint64))[0]
    with np.errstate(over="ignore"):
        z = mix64(key + (np.arange(n, dtype=np.uint64) + np.uint64(1)) * np.uint64(GOLDEN))
    return ((z >> np.uint64(11)) % np.uint64(127)).astype(np.int64) - 63


def pow2_scale(std):
    """Power-of-two grid step whose uniform q in [-63, 63] (std 36.66 q) has about this std."""
    return 2.0 ** round(math.log2(std / math.sqrt((127 ** 2 - 1) / 12.0)))


def init_rule(name, t, kind, bn_names):
    """(scale, offset) of tensor `name` (their naming) of shape t; kind 0 param, 1 mean, 2 var."""
    if kind == 1:
        return 2.0 ** -7, 0.0
    if kind == 2:
        return 2.0 ** -7, 1.0
    owner = name.rsplit(".", 1)[0]
    if owner in bn_names:
        return (2.0 ** -7, 1.0) if name.endswith(".weight") else (2.0 ** -8, 0.0)
    if t.dim() == 4:                                      # conv weight: He fan-out (§1.9)
        return pow2_scale(math.sqrt(2.0 / (t.shape[0] * t.shape[2] * t.shape[3]))), 0.0
    fan_in = FAN_IN[owner]                                # Linear weight/bias, conv bias: U(+-1/sqrt(fan_in))
    return pow2_scale(1.0 / math.sqrt(3.0 * fan_in)), 0.0


FAN_IN = {}

# ================================================================== name map (theirs -> ours)
CLS_IDX = {"0": "conv1", "1": "bn1", "3": "conv2", "4": "bn2", "8": "fc1", "10": "fc2"}
DEC_IDX = {"0": "conv1", "1": "bn1", "3": "conv2"}


def our_name(theirs, cfg):
    """The C model's registry name, or None for their instantiated-but-unused tensors."""
    M = len(cfg)
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


def site_name(site, cfg):
    """Our name for a ReLU site (reports only)."""
    name, _, par = site.partition("#")
    if name == "relu":
        return "stem.relu"
    if name.startswith("layer"):
        return "%s.%s" % (name.rsplit(".", 1)[0], "relu1" if par == "0" else "out")
    p = name.split(".")
    pos = {"%d_%d" % tuple(cfg[m]): m for m in range(len(cfg))}
    for pre, part in (("net_classifier_", "il.cls"), ("aux_classifier_", "cl.cls"), ("aux_decoder_", "cl.dec")):
        if p[0].startswith(pre):
            m = pos[p[0][len(pre):]]
            return "aux%d.%s%s.relu@%s" % (m, part, p[2] if part == "cl.dec" else "", p[-1])
    return name


def sign_vec(n):
    i = np.arange(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = (i * np.uint64(2654435761)) & np.uint64(0xFFFFFFFF)
    return np.where(h >= np.uint64(1 << 31), 1.0, -1.0)


def fingerprint(pre):
    v = pre.double().reshape(-1).numpy()
    return np.array([v.sum(), np.abs(v).sum(), (sign_vec(v.size) * v).sum()])


# ================================================================== the model and one step
def build(case):
    w = case["width"]
    CANONICAL.clear()
    if w != 16:
        CANONICAL.update({w: (16, w / 16.0), 2 * w: (32, w / 16.0), 4 * w: (64, w / 16.0)})
    fn = getattr(R, case["arch"])
    m = fn(local_module_num=case["K"], batch_size=case["batch"], image_size=32, balanced_memory=False,
           dataset="cifar10", class_num=10, wide_list=(w, w, 2 * w, 4 * w), dropout_rate=0,
           aux_net_config="2c2f", local_loss_mode="cross_entropy", aux_net_widen=1, aux_net_feature_dim=128)
    for name, mod in m.named_modules():
        mod._golden_name = name
        if isinstance(mod, R.BasicBlock):
            mod.relu._golden_pair = True
        if isinstance(mod, (torch.nn.Linear, torch.nn.Conv2d)):
            FAN_IN[name] = mod.weight[0].numel()
    return m


def run_step(model, x, y, force=None):
    """One training call of their model (all local backward passes), then one SGD step."""
    reset_rec(force)
    model.train()
    model.zero_grad(set_to_none=True)
    p0 = {k: p.detach().clone() for k, p in model.named_parameters()}
    logits_x, _, loss = model(img=x, target=y, ixx_1=IXX_1, ixy_1=IXY_1, ixx_2=IXX_2, ixy_2=IXY_2)
    grads = {k: (p.grad.detach().clone() if p.grad is not None else None) for k, p in model.named_parameters()}
    state = {k: b.detach().clone() for k, b in model.named_buffers() if "running" in k}
    opt = torch.optim.SGD([p for p in model.parameters() if p.grad is not None], lr=LR, momentum=MOMENTUM,
                          nesterov=True, weight_decay=WD)
    opt.step()
    p1 = {k: p.detach().clone() for k, p in model.named_parameters()}
    first = {}
    for bn, (rm, rv) in REC["bn_first"].items():
        first[bn + ".running_mean"], first[bn + ".running_var"] = rm, rv
    assert not REC["relu_err"], "recomputed streams differ at %s" % list(REC["relu_err"])[:3]
    assert REC["sig_near"] == 0, "a pre-sigmoid value within 1e-2 of the float32 saturation edge"
    return dict(grads=grads, state=state, state1=first, p0=p0, p1=p1, logits=logits_x.detach().clone(), sig_sat=REC["sig_sat"],
                loss=loss.detach().double().item(), losses=dict(REC["losses"]), relu=dict(REC["relu"]))


def make_models(case):
    torch.manual_seed(case["seed"])
    model = build(case).float()
    cfg = model.infopro_config
    bn_names = {n for n, mod in model.named_modules() if isinstance(mod, torch.nn.BatchNorm2d)}
    tensors = [(k, p, 0) for k, p in model.named_parameters()]
    tensors += [(k, b, 1 if k.endswith("running_mean") else 2) for k, b in model.named_buffers() if "running" in k]
    mapping = {k: our_name(k, cfg) for k, _, _ in tensors}
    used = [(k, t, kind) for k, t, kind in tensors if mapping[k] is not None]
    rules = {}
    with torch.no_grad():
        for ti, (k, t, kind) in enumerate(used):
            scale, offset = init_rule(k, t, kind, bn_names)
            q = torch.from_numpy(init_q(case["seed"], ti, t.numel())).float().reshape(t.shape)
            t.copy_(torch.tensor(offset, dtype=torch.float32) + q * torch.tensor(scale, dtype=torch.float32))
            rules[k] = (ti, scale, offset)
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    return model, cfg, mapping, used, rules, sd


def fresh(case, sd, dtype):
    m = build(case).to(dtype)
    m.load_state_dict({k: (v.to(dtype) if v.is_floating_point() else v) for k, v in sd.items()})
    m.mask_train_mean = m.mask_train_mean.to(dtype)
    m.mask_train_std = m.mask_train_std.to(dtype)
    return m


# ================================================================== tolerances and storage
def pow2_up(v):
    return 2.0 ** math.ceil(math.log2(v))


def spread_of(ref, f32):
    r = ref.double().reshape(-1)
    return (f32.double().reshape(-1) - r).abs().max().item() if r.numel() else 0.0


def role(group, ours):
    """Tensors that share a spread estimate: the same tensor of the n^2 quadrant decoders of one
    head (same maths, same scale; their bias gradients are pure rounding noise around an exact 0,
    and a max over 3-12 entries of one decoder is too few samples of it)."""
    return group + ":" + re.sub(r"\.dec\d+\.", ".dec*.", ours)


def tolerances(items):
    """{(group, ours): (atol, spread, max|ref|)} for items (group, ours, ref64, f32): see the module
    docstring; the spread used is the max over the tensor's role."""
    sp = {(g, o): spread_of(r, f) for g, o, r, f in items}
    pooled = {}
    for (g, o), v in sp.items():
        pooled[role(g, o)] = max(pooled.get(role(g, o), 0.0), v)
    out = {}
    for g, o, r, f in items:
        big = r.double().abs().max().item() if r.numel() else 0.0
        atol = max(MARGIN * pooled[role(g, o)], FLOOR_REL * big, ABS_FLOOR)
        out[(g, o)] = (pow2_up(atol), sp[(g, o)], big)
    return out


def quantize(ref, atol):
    q = atol / GRID_DIV
    k = torch.round(ref.double().reshape(-1) / q)
    assert k.abs().max().item() < 2 ** 31 if k.numel() else True
    return k.numpy().astype(np.int32), q


def main_case(name, out_dir):
    case = CASES[name]
    K, B = case["K"], case["batch"]
    model32, cfg, mapping, used, rules, sd = make_models(case)
    M = len(cfg)
    # data: x = (u - mean)/std, u ~ U(0, 1) (their mask_train_* constants); labels random, the
    # last sample repeats the first one's label
    mean = torch.tensor([v / 255.0 for v in CIFAR_MEAN], dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor([v / 255.0 for v in CIFAR_STD], dtype=torch.float32).view(1, 3, 1, 1)
    x = ((torch.rand(B, 3, 32, 32) - mean) / std).float()
    y = torch.randint(0, 10, (B,), dtype=torch.int64)
    y[B - 1] = y[0]

    ref = run_step(fresh(case, sd, torch.float64), x.double(), y)
    raw = run_step(fresh(case, sd, torch.float32), x, y)
    # ---- ReLU sites: the float32 error scale, the band, the elements in it -----------------------
    sites = sorted(ref["relu"])
    err, band, force, amb = {}, {}, {}, []
    flips = 0
    for si, s in enumerate(sites):
        p64, p32 = ref["relu"][s].reshape(-1), raw["relu"][s].reshape(-1)
        err[s] = (p32.double() - p64).abs().max().item()
        band[s] = KAPPA * err[s]
        flips += int(((p32 > 0) != (p64 > 0)).sum())
        idx = torch.nonzero(p64.abs() <= band[s]).reshape(-1)
        if idx.numel():
            force[s] = (idx, p64[idx] > 0)
            for i in idx.tolist():
                amb.append((si, i, p64[i].item()))
    f32 = run_step(fresh(case, sd, torch.float32), x, y, force)
    flips_forced = 0      # sign differences of the forced float32 run outside the band: must be none
    for s in sites:
        diff = (f32["relu"][s].reshape(-1) > 0) != (ref["relu"][s].reshape(-1) > 0)
        if s in force:
            diff[force[s][0]] = False
        flips_forced += int(diff.sum())
    print("%s: %d ReLU sites, f32 sign flips against f64: %d (unforced); %d elements in the band "
          "(KAPPA %.0f x site error), %d flips outside it; %d sigmoid outputs saturated at float32's 1.0"
          % (name, len(sites), flips, len(amb), KAPPA, flips_forced, ref["sig_sat"]))
    assert flips_forced == 0, "a float32 sign flip outside the band"

    # ---- every tensor: reference, tolerance, the f32 spread; the SGD update -----------------------
    theirs = [k for k, _, _ in used]
    rows = []
    for k, t, kind in used:
        if kind == 0:
            g64, g32 = ref["grads"][k], f32["grads"][k]
            assert g64 is not None and g32 is not None, "mapped tensor %s has no gradient" % k
            p0 = ref["p0"][k]
            want = p0 - LR * (1 + MOMENTUM) * (g64 + WD * p0)
            dev = (ref["p1"][k] - want).abs().max().item()
            assert dev <= 1e-12 * max(1.0, want.abs().max().item()), "SGD is not the §1.10 first step at %s" % k
            rows.append(("grad", k, g64, g32))
        else:
            rows.append(("state", k, ref["state1"][k], f32["state1"][k]))
            rows.append(("state_emulate", k, ref["state"][k], f32["state"][k]))   # bn_emulate = on
    tols = tolerances([(g, mapping[k], r64, r32) for g, k, r64, r32 in rows])
    for k, g in ref["grads"].items():
        if mapping[k] is None:
            assert g is None, "unused tensor %s got a gradient" % k
    # p1 of torch f32 vs the test's formula evaluated at the reference gradient: what C must meet
    worst_p = 0.0
    for k, t, kind in used:
        if kind:
            continue
        atol = tols[("grad", mapping[k])][0]
        p0 = ref["p0"][k]
        want = p0 - LR * (1 + MOMENTUM) * (ref["grads"][k] + WD * p0)
        tol = LR * (1 + MOMENTUM) * atol * (1 + 1.0 / GRID_DIV) + 4 * 2.0 ** -24 * (p0.abs() + want.abs())
        worst_p = max(worst_p, ((f32["p1"][k].double() - want).abs() / tol).max().item())
    print("  updated parameters: torch f32 uses at most %.3f of the test's tolerance" % worst_p)
    assert worst_p < 1.0

    # ---- write -----------------------------------------------------------------------------------
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "infopro_%s.h5" % name)
    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_V110, h5py.h5f.LIBVER_V110)
    groups = {}
    with h5py.File(h5py.h5f.create(path.encode(), h5py.h5f.ACC_TRUNC, fcpl=fcpl, fapl=fapl)) as f:
        gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
        gcpl.set_obj_track_times(False)
        for grp in ("map", "ref", "ref/grad", "ref/state", "ref/state_emulate", "loss", "relu"):
            h5py.h5g.create(f.id, grp.encode(), gcpl=gcpl)

        def cd(dname, data, big=True):
            kw = dict(compression="gzip", compression_opts=9, shuffle=True) if big and np.size(data) > 64 else {}
            return f.create_dataset(dname, data=data, track_times=False, **kw)

        packs = {}

        def put(group, ours, r64):
            """One tensor of a packed group: its grid integers appended to ref/<group>/k."""
            atol, spread, big = tols[(group, ours)]
            kq, q = quantize(r64, atol)
            pk = packs.setdefault(group, dict(names=[], k=[], q=[], atol=[], spread=[], max=[]))
            for key, v in (("names", ours), ("k", kq), ("q", q), ("atol", atol), ("spread", spread),
                           ("max", big)):
                pk[key].append(v)
            return atol, spread, big

        for gname, k, r64, _ in rows:
            ours = mapping[k]
            atol, spread, big = put(gname, ours, r64)
            if gname == "state_emulate":
                continue
            is_state = gname == "state"
            grp = group_of(ours, cfg)
            g = groups.setdefault((grp, is_state), [0, 0.0, 0.0, 0])
            g[0] += 1
            g[1] = max(g[1], spread / big if big else 0.0)
            g[2] = max(g[2], atol / big if big else 0.0)
            g[3] += r64.numel()
        for group, pk in packs.items():
            counts = np.array([len(v) for v in pk["k"]], dtype=np.int64)
            cd("ref/%s/names" % group, np.array([n.encode() for n in pk["names"]], dtype="S64"))
            cd("ref/%s/offset" % group, np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64))
            cd("ref/%s/count" % group, counts)
            for key in ("q", "atol", "spread", "max"):
                cd("ref/%s/%s" % (group, key), np.array(pk[key], dtype=np.float64))
            f.create_dataset("ref/%s/k" % group, data=np.concatenate(pk["k"]), track_times=False,
                             chunks=(min(1 << 16, int(counts.sum())),), compression="gzip", compression_opts=9,
                             shuffle=True)
        enc = lambda names: np.array([n.encode() for n in names], dtype="S64")   # noqa: E731
        cd("map/theirs", enc(theirs))
        cd("map/ours", enc([mapping[k] for k in theirs]))
        cd("map/kind", np.array([kind for _, _, kind in used], dtype=np.int8))
        cd("map/scale", np.array([rules[k][1] for k in theirs]))
        cd("map/offset", np.array([rules[k][2] for k in theirs]))
        cd("unused", enc([k for k, _ in model32.named_parameters() if mapping[k] is None]))
        cd("config", np.array(cfg, dtype=np.int32))
        il = np.array([1 if 1 <= m <= M - 2 else 0 for m in range(M)], dtype=np.int32)
        cd("heads", np.stack([il, il], axis=1))
        lam = np.full((M, 2), np.nan)
        for m in range(1, M - 1):
            r = m / (K - 2) if K > 2 else 0.0
            lam[m] = (IXX_1 * (1 - r) + IXX_2 * r, IXY_1 * (1 - r) + IXY_2 * r)
        cd("lambda", lam)
        cd("x", x.numpy().astype(np.float32), big=True)
        cd("y", y.numpy().astype(np.int32))
        cd("mean", mean.reshape(3).numpy())
        cd("std", std.reshape(3).numpy())
        # losses: their final (wx CE + wy CE of the two identical fc64 streams); per module our
        # step stats: IL = their net_classifier CE; CL = λ_rec Σ_q BCE_q + λ_ce CE (NaN: no head)
        def locals_of(r):
            li, lc = np.full(M, np.nan), np.full(M, np.nan)
            for m in range(1, M - 1):
                tag = "%d_%d" % tuple(cfg[m])
                li[m] = r["losses"]["net_classifier_" + tag]
                lc[m] = lam[m, 0] * r["losses"]["aux_decoder_" + tag] + lam[m, 1] * r["losses"]["aux_classifier_" + tag]
            return li, lc
        li64, lc64 = locals_of(ref)
        li32, lc32 = locals_of(f32)
        # one tolerance per kind (final, IL, CL): the CL losses hold the BCE, which is ill-conditioned
        # in float32 next to sigmoid saturation (1 - p on a 2^-24 grid)
        loss_spread = [abs(ref["loss"] - f32["loss"]), np.nanmax(np.abs(li64 - li32)), np.nanmax(np.abs(lc64 - lc32))]
        cd("loss/final", np.float64(ref["loss"]))
        cd("loss/il", li64)
        cd("loss/cl", lc64)
        cd("logits", ref["logits"].numpy())
        lg_spread = (f32["logits"].double() - ref["logits"]).abs().max().item()
        # ReLU sites and the elements in the band
        cd("relu/names", enc([site_name(s, cfg) for s in sites]))
        cd("relu/count", np.array([ref["relu"][s].numel() for s in sites], dtype=np.int64))
        cd("relu/fp", np.stack([fingerprint(ref["relu"][s]) for s in sites]))
        cd("relu/err", np.array([err[s] for s in sites]))
        cd("relu/band", np.array([band[s] for s in sites]))
        cd("relu/amb_site", np.array([a[0] for a in amb], dtype=np.int32))
        cd("relu/amb_index", np.array([a[1] for a in amb], dtype=np.int64))
        cd("relu/amb_pre", np.array([a[2] for a in amb]))
        a = f.attrs
        a["case"] = name
        a["arch"] = case["arch"]
        a["width"] = case["width"]
        a["K"], a["M"], a["batch"], a["image"], a["classes"] = K, M, B, 32, 10
        a["aux_net_config"], a["local_loss_mode"] = "2c2f", "cross_entropy"
        a["ixx_1"], a["ixy_1"], a["ixx_2"], a["ixy_2"] = IXX_1, IXY_1, IXX_2, IXY_2
        a["wx"], a["wy"] = float(model32.wx), float(model32.wy)
        a["lr"], a["momentum"], a["weight_decay"], a["nesterov"] = LR, MOMENTUM, WD, 1
        a["seed"] = case["seed"]
        a["init_seed"] = case["seed"]
        a["margin"], a["floor_rel"], a["abs_floor"], a["kappa"], a["grid_div"] = MARGIN, FLOOR_REL, ABS_FLOOR, KAPPA, GRID_DIV
        a["loss_atol"] = np.array([pow2_up(max(MARGIN * v, 1e-6)) for v in loss_spread])   # final, il, cl
        a["logits_atol"] = pow2_up(max(MARGIN * lg_spread, 1e-6))
        a["loss_spread"], a["logits_spread"] = np.array(loss_spread), lg_spread
        a["relu_flips_f32"] = flips
        a["sigmoid_saturated"] = ref["sig_sat"]
        a["torch_version"] = str(torch.__version__)
        a["rule"] = ("every entry: |c - k*q| <= atol + q/2 (ref/*, q = atol/%d); atol = 2^ceil(log2(max(%g*spread, "
                     "%g*max|ref|, 2^-100))), spread = max|f32 - f64| of torch's float32 run over the tensor's role "
                     "(one tensor of the 4 quadrant decoders of a head); updated parameters: |p1 - (p0 - lr(1+mu)"
                     "(k*q + wd p0))| <= lr(1+mu)(atol + q/2) + 4 eps (|p0| + |p1|); ReLU elements with |pre64| <= "
                     "%g*err_s take the float64 decision; sigmoid saturates where float32 does (x >= 24 ln 2)"
                     % (GRID_DIV, MARGIN, FLOOR_REL, KAPPA))
    print("  group            kind   tensors  entries  max spread/max|ref|  max atol/max|ref|")
    for (grp, st), (n, sp, at, cnt) in groups.items():
        print("  %-16s %-6s %7d %8d  %19.2e  %17.2e" % (grp, "state" if st else "grad", n, cnt, sp, at))
    print("  losses (final, IL, CL): spread %.2e %.2e %.2e; logits: spread %.2e; final loss %.7f"
          % tuple(loss_spread + [lg_spread, ref["loss"]]))
    print("wrote %s: %d tensors, %d bytes" % (path, len(used), os.path.getsize(path)))


def group_of(ours, cfg):
    """Report group: backbone, fc, or the head part il.cls / cl.cls / cl.dec (all modules)."""
    if ours.startswith("aux"):
        p = ours.split(".")
        return "%s.%s" % (p[1], "dec" if p[2].startswith("dec") else "cls")
    return "fc" if ours.startswith("fc") else "backbone"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", default="all", choices=["all"] + list(CASES))
    ap.add_argument("--dir", default="tests/golden")
    args = ap.parse_args()
    torch.set_num_threads(1)
    for name in (CASES if args.case == "all" else [args.case]):
        main_case(name, args.dir)


if __name__ == "__main__":
    main()
