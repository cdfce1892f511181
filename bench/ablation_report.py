#!/usr/bin/env python3
"""Summarise bench/ablation.sh: per row, the mean and spread over seeds of the final and best test
error, and per module the local heads' loss and accuracy over the last epoch; learning curves.
  /usr/bin/python3 bench/ablation_report.py runs/ablation_cpu [--out PREFIX]
Writes PREFIX.md (the tables, as pasted into bench/RESULTS.md), PREFIX.json and PREFIX_curves.png
(PREFIX defaults to OUT_DIR/report). Needs numpy and matplotlib (Debian packages)."""
import argparse
import glob
import json
import math
import os

import numpy as np

LABELS = {
    "bp": "BP (end to end)",
    "dgl_il": "DGL: IL only (= DGL)",
    "dgl_cl": "DGL: CL only",
    "dgl_hilo": "DGL: IL+CL (HiLo)",
    "dgl_hpff": "DGL: IL+CL+PFF (HPFF)",
    "dgl_hpff_w55": "DGL+HPFF, w_I/w_C = 0.5/0.5",
    "dgl_hpff_w19": "DGL+HPFF, w_I/w_C = 0.1/0.9",
    "infopro": "InfoPro",
    "infopro_hpff": "InfoPro+HPFF",
    "predsim": "PredSim",
    "predsim_hpff": "PredSim+HPFF",
}
ORDER = list(LABELS)


def read_run(path):
    """One run's metrics (every rank's file): epochs, final/best error, per-module head stats."""
    run = {"epochs": {}, "steps": [], "summary": None, "heads": {}}
    last_epoch_heads = {}
    for fn in sorted(glob.glob(os.path.join(path, "metrics*.jsonl"))):
        with open(fn) as f:
            for line in f:
                rec = json.loads(line)
                t = rec.get("type")
                if t == "epoch" and rec.get("test_err") is not None:
                    run["epochs"][rec["epoch"]] = rec["test_err"]
                elif t == "summary" and rec.get("final_test_err") is not None:
                    run["summary"] = rec
                elif t == "step":
                    if rec.get("loss") is not None:
                        run["steps"].append((rec["step"], rec["loss"]))
                    if "first_module" in rec:
                        last_epoch_heads.setdefault(rec["epoch"], []).append(rec)
    if last_epoch_heads:
        run["heads"] = head_stats(last_epoch_heads[max(last_epoch_heads)])
    return run


def head_stats(recs):
    """Mean over the given step records of each module's il/cl loss and accuracy."""
    acc = {}
    for rec in recs:
        m0 = rec["first_module"]
        for key in ("il_loss", "cl_loss", "il_acc", "cl_acc"):
            for k, v in enumerate(rec[key]):
                if v is not None:
                    acc.setdefault(key, {}).setdefault(m0 + k, []).append(v)
    return {key: {m: float(np.mean(v)) for m, v in d.items()} for key, d in acc.items()}


def spread(values):
    v = np.asarray(values, dtype=float)
    sd = float(v.std(ddof=1)) if len(v) > 1 else float("nan")
    return {"mean": float(v.mean()), "std": sd, "min": float(v.min()), "max": float(v.max()), "n": len(v)}


def collect(out):
    rows = {}
    for row_dir in sorted(glob.glob(os.path.join(out, "*"))):
        row = os.path.basename(row_dir)
        runs = {}
        for seed_dir in sorted(glob.glob(os.path.join(row_dir, "seed*"))):
            if os.path.isdir(seed_dir):
                runs[os.path.basename(seed_dir)] = read_run(seed_dir)
        done = {s: r for s, r in runs.items() if r["summary"]}
        if done:
            rows[row] = done
    return rows


def row_summary(runs):
    final = [r["summary"]["final_test_err"] for r in runs.values()]
    best = [r["summary"]["best_test_err"] for r in runs.values()]
    heads = {}
    for key in ("il_loss", "cl_loss", "il_acc", "cl_acc"):
        per_mod = {}
        for r in runs.values():
            for m, v in r["heads"].get(key, {}).items():
                per_mod.setdefault(m, []).append(v)
        if per_mod:
            heads[key] = {int(m): float(np.mean(v)) for m, v in sorted(per_mod.items())}
    epochs = sorted({e for r in runs.values() for e in r["epochs"]})
    curve = {e: spread([r["epochs"][e] for r in runs.values() if e in r["epochs"]]) for e in epochs}
    return {"seeds": sorted(runs), "final": spread(final), "best": spread(best),
            "wall_s": spread([r["summary"]["wall"] for r in runs.values()]),
            "per_seed_final": final, "per_seed_best": best, "heads": heads,
            "test_err_by_epoch": {str(e): c for e, c in curve.items()}}


def fmt(s):
    sd = "" if math.isnan(s["std"]) else f" ± {s['std']:.2f}"
    return f"{s['mean']:.2f}{sd} ({s['min']:.2f}-{s['max']:.2f})"


def markdown(summ):
    lines = ["| row | seeds | final test error % (mean ± sd, min-max) | best test error % | per seed (final) |",
             "| --- | ---: | --- | --- | --- |"]
    for row in [r for r in ORDER if r in summ] + sorted(set(summ) - set(ORDER)):
        s = summ[row]
        per = ", ".join(f"{v:.2f}" for v in s["per_seed_final"])
        lines.append(f"| {LABELS.get(row, row)} | {s['final']['n']} | {fmt(s['final'])} | {fmt(s['best'])} | {per} |")
    for key, what, fmt_v in (("acc", "training accuracy % of each module's IL / CL head", "{:.1f}"),
                             ("loss", "training loss of each module's IL / CL head (unweighted)", "{:.3f}")):
        lines += head_table(summ, key, what, fmt_v)
    return "\n".join(lines) + "\n"


def head_table(summ, key, what, fmt_v):
    """Per module: the IL / CL head's value over the last epoch (mean of the logged steps, then
    of the seeds); module m's CL head reads h_m and trains modules m-1 and m."""
    lines = ["", f"Local heads over the last epoch: {what} (mean of the logged steps, then of the seeds; "
             "module m's CL head reads h_m and trains modules m-1 and m).", ""]
    mods = sorted({m for s in summ.values() for k in ("il_" + key, "cl_" + key) for m in s["heads"].get(k, {})})
    if not mods:
        return []
    lines.append("| row | " + " | ".join(f"m{m}" for m in mods) + " |")
    lines.append("| --- |" + " ---: |" * len(mods))
    for row in [r for r in ORDER if r in summ]:
        h = summ[row]["heads"]
        if not h:
            continue
        cells = []
        for m in mods:
            il, cl = h.get("il_" + key, {}).get(m), h.get("cl_" + key, {}).get(m)
            cells.append(" / ".join("-" if v is None else fmt_v.format(v) for v in (il, cl)))
        lines.append(f"| {LABELS.get(row, row)} | " + " | ".join(cells) + " |")
    return lines


def plot(summ, rows, png, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    groups = [("DGL: levels, PFF, weights", ["bp", "dgl_il", "dgl_cl", "dgl_hilo", "dgl_hpff", "dgl_hpff_w55", "dgl_hpff_w19"]),
              ("InfoPro, PredSim", ["bp", "infopro", "infopro_hpff", "predsim", "predsim_hpff"])]
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    for ax, (name, members) in zip(axes[:2], groups):
        for row in [r for r in members if r in summ]:
            c = summ[row]["test_err_by_epoch"]
            ep = sorted(int(e) for e in c)
            mean = [c[str(e)]["mean"] for e in ep]
            ax.plot(ep, mean, marker="o", ms=3, label=LABELS.get(row, row))
            ax.fill_between(ep, [c[str(e)]["min"] for e in ep], [c[str(e)]["max"] for e in ep], alpha=0.15)
        ax.set_title(name + " (mean, band = min-max over seeds)", fontsize=9)
        ax.set_xlabel("epoch"); ax.set_ylabel("test error (%)"); ax.grid(alpha=0.3); ax.legend(fontsize=7)
    ax = axes[2]
    for row in [r for r in ORDER if r in rows]:
        steps = [r["steps"] for r in rows[row].values() if r["steps"]]
        if steps:
            n = min(len(s) for s in steps)
            ax.plot([s for s, _ in steps[0][:n]], np.mean([[l for _, l in s[:n]] for s in steps], axis=0),
                    lw=1, label=LABELS.get(row, row))
    ax.set_yscale("log"); ax.set_xlabel("optimizer step"); ax.set_ylabel("final-head training loss (seed mean)")
    ax.grid(alpha=0.3); ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png, dpi=100)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--out", help="output prefix (default OUT_DIR/report)")
    ap.add_argument("--title", default="")
    a = ap.parse_args()
    prefix = a.out or os.path.join(a.out_dir, "report")
    rows = collect(a.out_dir)
    if not rows:
        raise SystemExit(f"{a.out_dir}: no finished run (no metrics.jsonl with a summary and a test error)")
    summ = {row: row_summary(runs) for row, runs in rows.items()}
    with open(prefix + ".json", "w") as f:
        json.dump(summ, f, indent=1)
    md = markdown(summ)
    with open(prefix + ".md", "w") as f:
        f.write(md)
    plot(summ, rows, prefix + "_curves.png", a.title)
    print(md)
    print(f"wrote {prefix}.md, {prefix}.json, {prefix}_curves.png")


if __name__ == "__main__":
    main()
