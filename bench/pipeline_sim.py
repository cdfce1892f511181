#!/usr/bin/env python3
"""Pipeline simulator for hpff_pipe: predicts throughput and per-rank memory of a local-learning
pipeline (strict and delayed cascade) from measured per-module costs, and of end-to-end backprop
under GPipe and 1F1B for comparison.

Input: the output of `bench_step --profile` (one summary line + one line per module), e.g.
  ./build/bench_step --set train.method=dgl --set local.K=16 --set model.arch=resnet32 \
      --steps 5 --profile > prof.jsonl
  ./build/bench_step --set model.arch=resnet32 --steps 5 > bp.jsonl     # optional, for GPipe/1F1B
  python3 bench/pipeline_sim.py prof.jsonl --bp bp.jsonl --ranks 1 2 4 8 16 64

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


def simulate(mods, ranges, batch, mode, steps, lat, bw, push_up):
    R = len(ranges)
    comm = lambda mb: lat + mb * 2**20 / bw
    end = [[0.0] * steps for _ in range(R)]
    pay = [[0.0] * steps for _ in range(R)]     # payload arrival at rank r+1
    up = [[0.0] * steps for _ in range(R)]      # cascade gradient arrival at rank r-1
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
            end[r][t] = x   # the last parameter sweep is added once the cascade gradient is known
        for r in range(R - 1, -1, -1):
            a, b = ranges[r]
            x = end[r][t]
            if r < R - 1 and push_up:
                if mode == "strict":
                    x = max(x, up[r + 1][t])
                elif t:
                    x = max(x, up[r + 1][t - 1])
            x += ms(b, "param_ms") * (2 if mode == "delayed" and r < R - 1 and push_up else 1)
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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("profile")
    ap.add_argument("--bp", help="bench_step line of end-to-end backprop (GPipe/1F1B rows)")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4, 8, 16, 64])
    ap.add_argument("--latency-us", type=float, default=5.0)
    ap.add_argument("--bandwidth-gbs", type=float, default=5.0, help="GB/s per link")
    ap.add_argument("--micro", type=int, default=8, help="micro-batches for GPipe/1F1B")
    ap.add_argument("--steps", type=int, default=60)
    a = ap.parse_args()
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
