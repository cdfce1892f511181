#!/usr/bin/env python3
"""Pipeline simulator for hpff_pipe: predicts throughput and per-rank memory of a local-learning
pipeline (strict and delayed cascade) from measured per-module costs, and of end-to-end backprop
under GPipe and 1F1B for comparison.

Input: the output of `bench_step --profile` (one summary line + one line per module), e.g.
  ./build/bench_step --set train.method=dgl --set local.K=16 --set model.arch=resnet32 \
      --steps 5 --profile > prof.jsonl
  ./build/bench_step --set model.arch=resnet32 --steps 5 > bp.jsonl     # optional, for GPipe/1F1B
  python3 bench/pipeline_sim.py prof.jsonl --bp bp.jsonl --ranks 1 2 4 8 16 64
  python3 bench/pipeline_sim.py r152_prof.jsonl --bp r152_bp.jsonl --memory r152_mem.jsonl --ppdp
      # ImageNet ResNet-152 K=4 on 1..64 GPUs as S stages x R replicas (bench/ppdp_inputs.sh makes the files)

The model of one rank's step follows src/pipeline/stage.c exactly: for each owned module, forward, heads,
cascade data sweep (sent upstream for the rank's first module), parameter sweep of the previous
module; the payload leaves after the last module's forward; strict waits for this step's
cascade gradient before the last parameter sweep, delayed applies the previous step's (one more
sweep of the boundary module) and never waits for a later rank. Communication costs latency +
bytes / bandwidth per message (defaults: shared-memory MPI on one node)."""
import argparse
import json
import sys


def load(path):
    summary, mods = None, []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            rec = json.loads(line)
            if "module" in rec:
                mods.append(rec)
            else:
                summary = rec
    mods.sort(key=lambda r: r["module"])
    return summary, mods


def partition(costs, ranks):
    """Contiguous ranges minimising the largest per-rank cost (same rule as src/pipeline/plan.c)."""
    lo, hi = 0.0, sum(costs)
    def fits(cap):
        parts, s = 1, 0.0
        for c in costs:
            if c > cap:
                return False
            if s + c > cap:
                parts, s = parts + 1, 0.0
            s += c
        return parts <= ranks
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if fits(mid) else (mid, hi)
    out, m, M = [], 0, len(costs)
    for r in range(ranks):
        start, s = m, costs[m]
        m += 1
        while m < M and M - m > ranks - 1 - r and s + costs[m] <= hi * (1 + 1e-9):
            s += costs[m]
            m += 1
        if r == ranks - 1:
            m = M
        out.append((start, m - 1))
    return out


def simulate(mods, ranges, batch, mode, steps, lat, bw, push_up, ar=None):
    """ar (optional): seconds to average each module's gradients over the stage's replicas. A
    module's reduction starts when its parameter sweep ends, on a communication lane of its own
    (one at a time), overlapped with the rank's later work; the update waits for the last one."""
    R = len(ranges)
    comm = lambda mb: lat + mb * 2**20 / bw
    end = [[0.0] * steps for _ in range(R)]
    pay = [[0.0] * steps for _ in range(R)]     # payload arrival at rank r+1
    up = [[0.0] * steps for _ in range(R)]      # cascade gradient arrival at rank r-1
    lane = [0.0] * R                            # when the rank's reduction lane is free
    ms = lambda m, k: mods[m][k] / 1000.0
    for t in range(steps):
        for r, (a, b) in enumerate(ranges):
            start = max(end[r][t - 1] if t else 0.0, pay[r - 1][t] if r else 0.0)
            x = start
            for m in range(a, b + 1):
                x += ms(m, "fwd_ms")
                if m == b and r < R - 1:
                    pay[r][t] = x + comm(mods[m]["out_mb"])
                x += ms(m, "heads_ms") + ms(m, "up_ms")
                if m == a and r > 0:
                    up[r][t] = x + comm(mods[a - 1]["out_mb"])
                if m > a:
                    x += ms(m - 1, "param_ms")
                    if ar:
                        lane[r] = max(lane[r], x) + ar[m - 1]
            end[r][t] = x   # the last parameter sweep is added once the cascade gradient is known
        for r in range(R - 1, -1, -1):
            a, b = ranges[r]
            x = end[r][t]
            if r < R - 1 and push_up:
                if mode == "strict":
                    x = max(x, up[r + 1][t])
                elif t:
                    x = max(x, up[r + 1][t - 1])
            delayed_boundary = mode == "delayed" and r < R - 1 and push_up
            x += ms(b, "param_ms") * (2 if delayed_boundary else 1)
            if ar:   # the last module's bucket (and, delayed, the owed boundary gradient's) is exposed
                lane[r] = max(lane[r], x) + ar[b] * (2 if delayed_boundary else 1)
                x = lane[r]
            end[r][t] = x
    w = min(20, steps // 2)
    period = (end[-1][steps - 1] - end[-1][steps - 1 - w]) / w
    busy = [sum(ms(m, k) for m in range(a, b + 1) for k in ("fwd_ms", "heads_ms", "up_ms", "param_ms"))
            for a, b in ranges]
    return batch / period, period, busy


def memory(mods, ranges, mode):
    out = []
    for r, (a, b) in enumerate(ranges):
        params = sum(mods[m]["params"] for m in range(a, b + 1))
        act = max(mods[m]["act_mb"] for m in range(a, b + 1))
        slots = min(3, b - a + 1) + (2 if mode == "delayed" and r < len(ranges) - 1 else 0)
        out.append(3 * 4 * params / 2**20 + slots * act)
    return out


def gpipe(bp_ms, act_mb, p, micro, schedule):
    """End-to-end backprop over p equal stages with `micro` micro-batches per batch."""
    t = bp_ms / 1000.0
    period = (micro + p - 1) * t / (p * micro)
    live = micro if schedule == "gpipe" else min(p, micro)
    return period, act_mb / p * live / micro


# ---------------------------------------------------------------- PP x DP, ImageNet ResNet-152
# Replicas of the pipeline (ARCHITECTURE "Replicas of the pipeline"): N GPUs = S stages x R
# replicas, ranks of one pipeline consecutive, 8 GPUs per node. Per-module step costs: a measured
# step of ResNet-152 K=4 itself (bench_step --profile), scaled to the GPU by end-to-end
# backprop's time per image (measured beside it, and on the GPU from an assumed ResNet-50
# anchor); with another profile, FLOP counts of the architecture (ALGORITHM §2.2, §2.4, §3.2,
# §5.3) times its phase costs per multiply-add. Memory: the program's own buffers
# (bench_step --memory), else estimated from the architecture.

def _conv(cin, cout, k, side_out, groups=1, bias=False):
    macs = side_out * side_out * cout * (cin // groups) * k * k
    return macs, cout * (cin // groups) * k * k + (cout if bias else 0)


def imagenet_units(blocks):
    """ResNet (torchvision v1.5): unit 0 is the stem, then every bottleneck block. Per sample:
    macs, params (incl. BN's affine), bn (BN channels: running mean/var), act (floats a unit keeps
    for its backward besides its output: conv outputs and the ReLU'd BN outputs, as src/ keeps a
    basic block's), out (floats of its output), stage/block (1-based stage, 0-based block)."""
    units = []
    m1, p1 = _conv(3, 64, 7, 112)
    units.append(dict(stage=0, block=0, macs=m1 + 64 * 56 * 56 * 9, params=p1 + 128, bn=64,
                      act=2 * 64 * 112 * 112, out=64 * 56 * 56, c=64, side=56))
    cin, side = 64, 56
    for st, n in enumerate(blocks):
        planes = 64 * 2 ** st
        for b in range(n):
            stride = 2 if (b == 0 and st > 0) else 1
            so = side // stride
            w, out = planes, 4 * planes
            ma, pa = _conv(cin, w, 1, side)
            mb, pb = _conv(w, w, 3, so)
            mc, pc = _conv(w, out, 1, so)
            macs, params, bn = ma + mb + mc, pa + pb + pc, 2 * w + out
            act = 2 * w * side * side + 2 * w * so * so + out * so * so
            if b == 0:   # projection shortcut on the first block of every stage
                md, pd = _conv(cin, out, 1, so)
                macs, params, bn, act = macs + md, params + pd, bn + out, act + out * so * so
            macs += 6 * out * so * so   # BN, add, ReLU
            units.append(dict(stage=st + 1, block=b, macs=macs, params=params + 2 * bn, bn=bn, act=act,
                              out=out * so * so, c=out, side=so))
            cin, side = out, so
    return units


def split_units(units, ends):
    """Modules from the end points (stage, block) of ALGORITHM §2.4; module 0 has the stem."""
    idx = [next(i for i, u in enumerate(units) if (u["stage"], u["block"]) == e) for e in ends]
    out, first = [], 0
    for last in idx:
        out.append(units[first:last + 1])
        first = last + 1
    return out


def infopro_head(c, side, classes, img):
    """HPFF's ImageNet InfoPro aux at a c x side^2 feature map (ALGORITHM §3.2): the classifier and
    the decoder to the image (PFF-C: one full-map decoder, the loss summed over quadrants). Per
    sample: macs, params, act (floats the head keeps for its backward)."""
    macs = params = act = 0
    s2, s4 = (side + 1) // 2, (side + 3) // 4
    for cin, cout, k, so in ((c, 256, 1, side), (256, 256, 3, s2), (256, 512, 3, s4), (512, 2048, 1, s4)):
        m, p = _conv(cin, cout, k, so)
        macs, params, act = macs + m, params + p + 2 * cout, act + 2 * cout * so * so
    macs, params, act = macs + 2048 * classes, params + 2049 * classes, act + 2048 + classes
    dec = ((c, 128, 1, side, None), (128, 64, 3, img // 2, img // 2), (64, 32, 3, img // 4, img // 4),
           (32, 16, 3, img // 2, img // 2), (16, 3, 3, img, img))
    for cin, cout, k, so, resized in dec:
        if resized:   # bilinear resize of the input to so x so first
            act += cin * so * so
            macs += 4 * cin * so * so
        m, p = _conv(cin, cout, k, so, bias=True)
        bn = 0 if cout == 3 else 2 * cout
        macs, params, act = macs + m, params + p + bn, act + (2 if bn else 1) * cout * so * so
    return dict(macs=macs, params=params, act=act)


def imagenet_model(blocks, ends, classes=1000, img=224):
    """Modules of an ImageNet ResNet with InfoPro+HPFF (ImageNet profile, ALGORITHM §4.5/§7):
    cascade heads at modules 1..M-2 (no independent level), Φ on the last module acting as the
    last cascade head, so modules 1..M-1 push a cascade gradient upstream."""
    units = imagenet_units(blocks)
    mods = split_units(units, ends)
    M = len(mods)
    out = []
    for m, us in enumerate(mods):
        last = us[-1]
        d = dict(macs=sum(u["macs"] for u in us), params=sum(u["params"] for u in us),
                 bn=sum(u["bn"] for u in us), act=sum(u["act"] for u in us[:-1]) + last["act"],
                 out=last["out"], head_macs=0, head_params=0, head_act=0, push_up=int(0 < m),
                 units=us, blocks=len(us) - (1 if m == 0 else 0))
        d["act"] += sum(u["out"] for u in us[:-1])   # the outputs of a module's inner units
        if 0 < m < M - 1:
            h = infopro_head(last["c"], last["side"], classes, img)
            d["head_macs"], d["head_params"], d["head_act"] = h["macs"], h["params"], h["act"]
        if m == M - 1:   # Φ: GAP + Linear
            d["head_macs"] = last["c"] * last["side"] ** 2 + last["c"] * classes
            d["head_params"] = (last["c"] + 1) * classes
            d["head_act"] = last["c"] + classes
        out.append(d)
    return units, out


PHASES = ("fwd_ms", "heads_ms", "up_ms", "param_ms")


def calibrate(path):
    """Phase costs per multiply-add relative to a backbone forward multiply-add, from
    bench_step --profile (needs the fwd_mflops / head_mflops / push_up fields)."""
    summary, mods = load(path)
    if not mods or "fwd_mflops" not in mods[0]:
        sys.exit("pipeline_sim: %s lacks per-module FLOP counts (rerun bench_step --profile)" % path)
    F = sum(m["fwd_mflops"] for m in mods)
    k = sum(m["fwd_ms"] for m in mods) / F
    Fu = sum(m["fwd_mflops"] for m in mods if m["push_up"]) or 1.0
    H = sum(m["head_mflops"] for m in mods) or 1.0
    return dict(param=sum(m["param_ms"] for m in mods) / (k * F), up=sum(m["up_ms"] for m in mods) / (k * Fu),
                head=sum(m["heads_ms"] for m in mods) / (k * H), src=summary)


def ours_phase_ms(a, mods, t_img_bp):
    """Our step's per-module phase times (ms) on one GPU at batch a.batch. From a profile of the
    network itself (ResNet-152 K=4): its measured CPU times, scaled by the GPU/CPU ratio of
    end-to-end backprop's time per image (a.bp, the same network on the same CPU). Otherwise
    FLOP counts times the profile's phase costs per multiply-add (calibrate)."""
    summary, prof = load(a.profile)
    if summary.get("arch") == "resnet152" and len(prof) == len(mods):
        if not a.bp:
            sys.exit("pipeline_sim: --ppdp with a ResNet-152 profile needs --bp (bench_step of its backprop step)")
        bp, _ = load(a.bp)
        s = t_img_bp / (bp["ms_per_step"] / 1000.0 / bp["batch"])
        how = ("measured CPU step of %s %s K=%s at batch %d (%.0f ms; backprop %.0f ms at batch %d), each phase "
               "scaled by backprop's GPU/CPU time per image" % (summary["arch"], summary["method"], summary["K"],
               summary["batch"], summary["ms_per_step"], bp["ms_per_step"], bp["batch"]))
        return [{k: m[k] / summary["batch"] * a.batch * s for k in PHASES} for m in prof], how
    cal = calibrate(a.profile)
    if a.head_factor:
        cal["head"] = a.head_factor
    F = sum(m["macs"] for m in mods) + 2048 * 1000
    kk = t_img_bp / (F * (1 + cal["param"]))   # seconds per backbone forward multiply-add
    ms = [dict(fwd_ms=m["macs"], heads_ms=m["head_macs"] * cal["head"],
               up_ms=m["macs"] * cal["up"] if m["push_up"] else 0.0, param_ms=m["macs"] * cal["param"]) for m in mods]
    how = ("FLOP counts x phase costs per multiply-add of a %s %s K=%s CPU step: parameter sweep %.2fx, cascade data "
           "sweep %.2fx, heads %.2fx a backbone forward's" % (cal["src"]["arch"], cal["src"]["method"],
           cal["src"]["K"], cal["param"], cal["up"], cal["head"]))
    return [{k: 1e3 * kk * a.batch * v for k, v in m.items()} for m in ms], how


class Net:
    """Assumed links: intra-node NVLink/NVSwitch, inter-node one 400 Gb/s NIC per GPU. Ring
    all-reduce of b bytes over n ranks: 2(n-1) (latency + b/n / bw)."""
    def __init__(self, a):
        self.intra, self.inter = a.intra_gbs * 1e9, a.inter_gbs * 1e9
        self.lat_in, self.lat_out = a.intra_lat_us * 1e-6, a.inter_lat_us * 1e-6
        self.per_node = a.gpus_per_node

    def allreduce(self, nbytes, ranks):
        """Seconds for a ring all-reduce over the world ranks `ranks`."""
        n = len(ranks)
        if n < 2:
            return 0.0
        one_node = len({r // self.per_node for r in ranks}) == 1
        bw, lat = (self.intra, self.lat_in) if one_node else (self.inter, self.lat_out)
        return 2 * (n - 1) * (lat + nbytes / n / bw)


def load_memory(path):
    """bench_step --memory [--ranks S] lines: {("ours", S, mode): bytes of the largest rank,
    ("bp", 1, ""): bytes}; mode is the line's label ("delayed") or "strict"."""
    out = {}
    for line in open(path):
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        mode = r.get("label") or "strict"
        if r["method"] == "bp":
            out[("bp", 1, "")] = r["one_process_mb"] * 2**20
            continue
        out[("ours", 1, mode)] = r["one_process_mb"] * 2**20
        if "ranks" in r:
            out[("ours", len(r["ranks"]), mode)] = r["largest_rank_mb"] * 2**20
    return out


def stage_memory(mods, a, b, B, mode, last_stage, img_floats, slots="parity"):
    """Estimated bytes one rank of stage [a, b] holds (src/pipeline/model.c and stage.c's buffers):
    parameters, gradients and momentum of its modules and heads, BN running statistics, the two
    activation slots (slots = "parity": module k's slot k % 2 sized by the modules that use it, as
    the code does; "pair": one buffer of the largest two adjacent modules), up to three module
    outputs, two seeds, the head work area (heads run one at a time), the rank input, the
    reconstruction target, and in delayed mode the boundary module's two steps of activations,
    weight shadow and owed gradient."""
    ms = mods[a:b + 1]
    P = sum(m["params"] + m["head_params"] for m in ms)
    f = 3 * P + 2 * sum(m["bn"] for m in ms)
    count = b - a + 1
    out = max(m["out"] for m in ms) * B
    if slots == "pair" and count > 1:
        f += max(ms[i]["act"] + ms[i + 1]["act"] for i in range(count - 1)) * B
    else:
        f += sum(max(m["act"] for m in ms[p::2]) for p in range(min(2, count))) * B
    f += min(3, count) * out + 2 * out
    f += max(m["head_act"] for m in ms) * B
    f += (img_floats if a == 0 else mods[a - 1]["out"]) * B
    f += img_floats * B   # x~ for the InfoPro decoders (travels with the payload)
    if mode == "delayed" and not last_stage:
        f += 2 * (ms[-1]["act"] + ms[-1]["out"]) * B + 3 * ms[-1]["params"]
    return 4.0 * f


def ppdp_ours(mods, pm, B, S, R, mode, net, a, mem, steps=40):
    """img/s, per-GPU bytes and the largest bucket's reduction seconds of S stages x R replicas of
    our pipeline; pm: per-module phase ms on one GPU (ours_phase_ms)."""
    costs = [sum(m[k] for k in PHASES) for m in pm]
    ranges = partition(costs, S)
    pm = [dict(m, out_mb=4.0 * B * (d["out"] + 3 * a.image ** 2) / 2**20) for m, d in zip(pm, mods)]
    ar = [0.0] * len(mods)
    for s, (lo, hi) in enumerate(ranges):   # the stage's replicas: world ranks r*S + s
        ranks = [r * S + s for r in range(R)]
        for m in range(lo, hi + 1):
            ar[m] = net.allreduce(4.0 * (mods[m]["params"] + mods[m]["head_params"]), ranks)
    ips, period, busy = simulate(pm, ranges, B, mode, steps, net.lat_in, a.p2p_gbs * 1e9, True, ar)
    key = ("ours", S, mode if S > 1 else "strict")
    if key in mem and a.slots == "parity":
        bytes_ = mem[key]
    else:
        bytes_ = max(stage_memory(mods, lo, hi, B, mode, s == S - 1, 3 * a.image ** 2, a.slots)
                     for s, (lo, hi) in enumerate(ranges))
    return ips * R, bytes_, max(ar)


def bp_memory(units, lo, hi, B, img_floats, live=1.0):
    """Estimated bytes for end-to-end backprop of units [lo, hi] (same activation accounting):
    parameters, gradients, momentum, BN statistics, every unit's activations and outputs for
    `live` batches' worth, and the stage input."""
    us = units[lo:hi + 1]
    f = 3 * sum(u["params"] for u in us) + 2 * sum(u["bn"] for u in us)
    f += live * B * sum(u["act"] + u["out"] for u in us)
    f += B * (img_floats if lo == 0 else units[lo - 1]["out"])
    return 4.0 * f


def ppdp_baselines(units, t_img, B, N, S, a, net, mem):
    """DDP end-to-end backprop (S = 1) and GPipe / 1F1B over S stages x N/S replicas with
    a.micro micro-batches: img/s and per-GPU bytes. t_img: backprop seconds per image on one GPU,
    spread over the units by their multiply-adds; the backward is 2/3 of a step."""
    R, img = N // S, 3 * a.image ** 2
    grads = 4.0 * (sum(u["params"] for u in units) + 2049 * 1000)
    bp_est = bp_memory(units, 0, len(units) - 1, B, img)
    bp_bytes = mem.get(("bp", 1, ""), bp_est)
    scale = bp_bytes / bp_est   # the program's own count over this estimate (GPipe's stages)
    if S == 1:
        t = t_img * B
        exposed = max(net.allreduce(25 * 2**20, list(range(R))), net.allreduce(grads, list(range(R))) - t * 2 / 3)
        return dict(ddp=(R * B / (t + exposed), bp_bytes + grads))   # + DDP's bucket copy of the gradients
    macs = [u["macs"] for u in units]
    ranges = partition(macs, S)
    tmax = max(t_img * B * sum(macs[lo:hi + 1]) / sum(macs) for lo, hi in ranges)
    exposed = max(net.allreduce(4.0 * sum(u["params"] for u in units[lo:hi + 1]), [r * S + s for r in range(R)])
                  for s, (lo, hi) in enumerate(ranges))
    period = (a.micro + S - 1) / a.micro * tmax + exposed
    gp = max(scale * bp_memory(units, lo, hi, B, img) for lo, hi in ranges)
    f1 = max(scale * bp_memory(units, lo, hi, B, img, min(S - s, a.micro) / a.micro) for s, (lo, hi) in enumerate(ranges))
    return dict(gpipe=(R * B / period, gp), f1b=(R * B / period, f1))


def ppdp_header(a, mods, how, t_img, mem):
    print("# ImageNet ResNet-152 InfoPro+HPFF K=4 (M=4), batch %d per replica, %dx%d images" % (a.batch, a.image, a.image))
    print("# step: %s" % how)
    print("# GPU scale: ResNet-50 backprop at %.0f img/s on one H100 (assumed) -> ResNet-152 backprop %.0f img/s "
          "(by multiply-adds)" % (a.gpu_rn50, 1.0 / t_img))
    print("# links (assumed): intra-node %.0f GB/s, %.0f us; inter-node %.0f GB/s, %.0f us per ring step; "
          "%d GPUs per node; stage-to-stage %.0f GB/s" % (a.intra_gbs, a.intra_lat_us, a.inter_gbs, a.inter_lat_us,
                                                        a.gpus_per_node, a.p2p_gbs))
    print("# memory per GPU: %s" % ("bench_step --memory of the program's buffers (%s)" % a.memory if mem else
                                    "estimated from the architecture (no --memory file)"))
    for m, d in enumerate(mods):
        print("#   module %d: %2d blocks, %6.2f GMAC fwd, heads %5.2f GMAC, %5.1fM params (+%.1fM heads)"
              % (m, d["blocks"], d["macs"] / 1e9, d["head_macs"] / 1e9, d["params"] / 1e6, d["head_params"] / 1e6))


def ppdp_main(a):
    net = Net(a)
    ends = [(3, 0), (3, 9), (3, 17), (4, 2)]      # R101/R152 K=4 (ALGORITHM §2.4)
    units, mods = imagenet_model([3, 8, 36, 3], ends)
    rn50 = sum(u["macs"] for u in imagenet_units([3, 4, 6, 3])) + 2048 * 1000
    rn152 = sum(u["macs"] for u in units) + 2048 * 1000
    t_img = rn152 / (a.gpu_rn50 * rn50)   # ResNet-152 backprop seconds per image on one GPU
    pm, how = ours_phase_ms(a, mods, t_img)
    mem = load_memory(a.memory) if a.memory else {}
    ppdp_header(a, mods, how, t_img, mem)
    B, GiB = a.batch, 2.0**30
    one = ppdp_ours(mods, pm, B, 1, 1, "strict", net, a, mem)[0]
    bp1 = ppdp_baselines(units, t_img, B, 1, 1, a, net, mem)["ddp"][0]
    print("\n| GPUs | training | grid S x R | img/s | speed-up vs its 1 GPU | per-GPU GiB | largest reduction ms |")
    print("| ---: | --- | --- | ---: | ---: | ---: | ---: |")
    for N in a.gpus:
        for S in (s for s in range(1, len(mods) + 1) if N % s == 0):
            for mode in ("strict", "delayed") if S > 1 else ("strict",):
                ips, byt, arm = ppdp_ours(mods, pm, B, S, N // S, mode, net, a, mem)
                tag = " (default)" if S == default_stages(N, len(mods)) else ""
                print("| %d | InfoPro+HPFF %s | %d x %d%s | %.0f | %.2fx | %.1f | %.1f |"
                      % (N, mode, S, N // S, tag, ips, ips / one, byt / GiB, 1e3 * arm))
        ips, byt = ppdp_baselines(units, t_img, B, N, 1, a, net, mem)["ddp"]
        print("| %d | BP, DDP | 1 x %d | %.0f | %.2fx | %.1f | |" % (N, N, ips, ips / bp1, byt / GiB))
        for S in (s for s in (4, 8) if s <= N):
            r = ppdp_baselines(units, t_img, B, N, S, a, net, mem)
            for key, name in (("gpipe", "GPipe"), ("f1b", "1F1B")):
                ips, byt = r[key]
                print("| %d | BP, %s (%d micro-batches) | %d x %d | %.0f | %.2fx | %.1f | |"
                      % (N, name, a.micro, S, N // S, ips, ips / bp1, byt / GiB))
    print("\n# one GPU: InfoPro+HPFF %.0f img/s, BP %.0f img/s" % (one, bp1))


def default_stages(n, M):
    """pipeline.stages' default (src/grid.c): -np when at most M, else its largest divisor <= M."""
    return n if n <= M else max(d for d in range(1, M + 1) if n % d == 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("profile")
    ap.add_argument("--bp", help="bench_step line of end-to-end backprop (GPipe/1F1B rows)")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4, 8, 16, 64])
    ap.add_argument("--latency-us", type=float, default=5.0)
    ap.add_argument("--bandwidth-gbs", type=float, default=5.0, help="GB/s per link")
    ap.add_argument("--micro", type=int, default=8, help="micro-batches for GPipe/1F1B")
    ap.add_argument("--steps", type=int, default=60)
    g = ap.add_argument_group("PP x DP (--ppdp): ImageNet ResNet-152 InfoPro+HPFF K=4, calibrated by PROFILE")
    g.add_argument("--ppdp", action="store_true", help="replicas of the pipeline on GPUs; PROFILE calibrates")
    g.add_argument("--gpus", type=int, nargs="+", default=[1, 4, 8, 16, 64])
    g.add_argument("--batch", type=int, default=128, help="per replica")
    g.add_argument("--image", type=int, default=224)
    g.add_argument("--gpus-per-node", type=int, default=8)
    g.add_argument("--gpu-rn50", type=float, default=1690.0,
                   help="ResNet-50 backprop img/s on one GPU (A100 TF32 938 x 1.8 for an H100, assumed)")
    g.add_argument("--intra-gbs", type=float, default=350.0, help="all-reduce bus bandwidth within a node")
    g.add_argument("--inter-gbs", type=float, default=45.0, help="all-reduce bus bandwidth across nodes")
    g.add_argument("--intra-lat-us", type=float, default=10.0)
    g.add_argument("--inter-lat-us", type=float, default=20.0)
    g.add_argument("--p2p-gbs", type=float, default=150.0, help="stage-to-stage (same node)")
    g.add_argument("--head-factor", type=float, default=0.0,
                   help="override the calibrated head cost per multiply-add (sensitivity)")
    g.add_argument("--slots", choices=("parity", "pair"), default="parity",
                   help="activation slots: the code's (slot k %% 2 sized by its modules), or one buffer of the "
                        "largest adjacent pair (an estimate; --memory is used only for parity)")
    g.add_argument("--memory", help="bench_step --memory [--ranks S] lines (label delayed for delayed mode)")
    a = ap.parse_args()
    if a.ppdp:
        return ppdp_main(a)
    summary, mods = load(a.profile)
    if not mods:
        sys.exit("pipeline_sim: no per-module lines in %s (run bench_step with --profile)" % a.profile)
    batch = summary["batch"]
    push_up = summary.get("cl", 1) == 1
    costs = [sum(m[k] for k in ("fwd_ms", "heads_ms", "up_ms", "param_ms")) for m in mods]
    lat, bw = a.latency_us * 1e-6, a.bandwidth_gbs * 1e9
    print("# %s %s K=%s, batch %d, %d modules, measured %.1f img/s in one process (%s)"
          % (summary["arch"], summary["method"], summary["K"], batch, len(mods), summary["img_per_s"],
             summary["backend"]))
    print("| ranks | cascade | predicted img/s | speed-up | slowest rank busy % | max rank MiB |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    one = None
    for R in a.ranks:
        if R > len(mods):
            print("| %d | — | needs >= %d modules (has %d) | | | |" % (R, R, len(mods)))
            continue
        ranges = partition(costs, R)
        for mode in ("strict", "delayed"):
            ips, period, busy = simulate(mods, ranges, batch, mode, a.steps, lat, bw, push_up)
            one = one or ips
            mem = memory(mods, ranges, mode)
            print("| %d | %s | %.0f | %.2fx | %.0f | %.0f |" % (R, mode, ips, ips / one,
                  100 * max(busy) / period, max(mem)))
    if a.bp:
        bp, _ = load(a.bp)
        act = bp.get("arena_mb", 0)
        print("\n# end-to-end backprop: %.1f img/s in one process, %.0f MiB" % (bp["img_per_s"], act))
        print("| ranks | schedule | micro-batches | predicted img/s | speed-up | activations per rank MiB |")
        print("| ---: | --- | ---: | ---: | ---: | ---: |")
        for R in a.ranks:
            for sched in ("gpipe", "1f1b"):
                period, mem = gpipe(bp["ms_per_step"], act, R, a.micro, sched)
                ips = bp["batch"] / period
                print("| %d | %s | %d | %.0f | %.2fx | %.0f |" % (R, sched, a.micro, ips, ips / bp["img_per_s"], mem))


if __name__ == "__main__":
    main()
