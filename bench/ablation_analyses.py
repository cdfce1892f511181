#!/usr/bin/env python3
"""The three analyses of analysis/ over the seeds of bench/ablation.sh rows (default BP, DGL,
DGL+HiLo, DGL+HPFF): per module, the linear-probe test accuracy (Fig. 4) and the linear CKA
with the BP run of the same seed (Fig. 5), as mean and spread over seeds; t-SNE panels of the
first seed (Fig. 3). The CKA of BP against BP of another seed is the reference: two end-to-end
runs that differ only in their seed. Features are exported from the runs' checkpoints on demand.
  /usr/bin/python3 bench/ablation_analyses.py runs/ablation_cpu [--rows bp dgl_il dgl_hilo dgl_hpff]
      [--out PREFIX] [--n-train 10000] [--n-test 0] [--hpff-pipe build/hpff_pipe] [--set S.K=V]
Writes PREFIX_probe.png, PREFIX_cka.png, PREFIX_tsne.png and PREFIX.json (PREFIX defaults to
OUT_DIR/analyses) and prints the tables for bench/RESULTS.md."""
import argparse
import glob
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "analysis"))
import hpff_features as hf  # noqa: E402
from cka import linear_cka  # noqa: E402
from separability import probe_accuracy, shuffled_accuracy  # noqa: E402
from tsne import embed, scores  # noqa: E402

LABELS = {"bp": "BP", "dgl_il": "DGL", "dgl_cl": "DGL CL only", "dgl_hilo": "DGL+HiLo", "dgl_hpff": "DGL+HPFF",
          "dgl_hpff_w55": "DGL+HPFF 0.5/0.5", "dgl_hpff_w19": "DGL+HPFF 0.1/0.9", "infopro": "InfoPro",
          "infopro_hpff": "InfoPro+HPFF", "predsim": "PredSim", "predsim_hpff": "PredSim+HPFF"}


def finished(run_dir):
    """The run wrote its summary (a seed still training, or stopped part-way, is left out)."""
    path = os.path.join(run_dir, "metrics.jsonl")
    return os.path.exists(path) and any('"final_test_err"' in line for line in open(path))


def seeds_of(out, row):
    dirs = sorted(glob.glob(os.path.join(out, row, "seed*")))
    return [d for d in dirs if hf.newest_step(d) is not None and finished(d)]


def stats(v):
    v = np.asarray(v, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else float("nan"),
            "min": float(v.min()), "max": float(v.max()), "n": int(len(v)), "values": [float(x) for x in v]}


def band_plot(table, units, ref, ylabel, png, title, ylim=None):
    lines = [(name, [per_unit[u]["mean"] for u in units],
              ([per_unit[u]["min"] for u in units], [per_unit[u]["max"] for u in units]))
             for name, per_unit in table.items()]
    hf.plot_unit_lines(lines, units, ref, ylabel, title, png, ylim, figsize=(8.5, 4.6), rotation=40, title_size=9)


def tsne_panels(runs, units, ref, png, n, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(runs), len(units), figsize=(3.0 * len(units), 3.0 * len(runs)), squeeze=False)
    out = {}
    for i, (name, r) in enumerate(runs.items()):
        y = r.labels[:n]
        out[name] = {}
        for j, u in enumerate(units):
            z, e = embed(r.units[u][:n], 30.0, 0)
            s = scores(z, e, y)
            out[name][u] = s
            ax = axes[i][j]
            ax.scatter(e[:, 0], e[:, 1], c=y, cmap="tab10", s=2, vmin=0, vmax=9)
            ax.set_xticks([]); ax.set_yticks([])
            ax.set_title(f"{name}, {hf.unit_label(ref, u)}\nsilhouette {s['silhouette_tsne']:.2f}, 5-NN {s['knn5_acc_tsne']:.0f}%",
                         fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    return out


def markdown(units, ref, probe, cka):
    head = "| row | " + " | ".join(hf.unit_label(ref, u) for u in units) + " |"
    sep = "| --- |" + " ---: |" * len(units)
    lines = ["Linear-probe test accuracy % per module (mean ± sd over seeds):", "", head, sep]
    for name, per in probe.items():
        lines.append(f"| {name} | " + " | ".join(f"{per[u]['mean']:.1f} ± {per[u]['std']:.1f}" for u in units) + " |")
    lines += ["", "Linear CKA with BP of the same seed per module (mean ± sd):", "", head, sep]
    for name, per in cka.items():
        lines.append(f"| {name} | " + " | ".join(f"{per[u]['mean']:.3f} ± {per[u]['std']:.3f}" for u in units) + " |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--rows", nargs="+", default=["bp", "dgl_il", "dgl_hilo", "dgl_hpff"])
    ap.add_argument("--out", help="output prefix (default OUT_DIR/analyses)")
    ap.add_argument("--n-train", type=int, default=10000)
    ap.add_argument("--n-test", type=int, default=0)
    ap.add_argument("--n-tsne", type=int, default=2000)
    ap.add_argument("--title", default="")
    ap.add_argument("--hpff-pipe", default=os.environ.get("HPFF_PIPE", "build/hpff_pipe"))
    ap.add_argument("--set", action="append", default=[])
    a = ap.parse_args()
    prefix = a.out or os.path.join(a.out_dir, "analyses")
    if "bp" not in a.rows:
        raise SystemExit("--rows must include bp (the CKA reference)")
    tr, te = {}, {}
    for row in a.rows:
        for d in seeds_of(a.out_dir, row):
            key = (row, os.path.basename(d))
            tr[key] = hf.load(d, "train", a.n_train, a.hpff_pipe, a.set)
            te[key] = hf.load(d, "test", a.n_test, a.hpff_pipe, a.set)
    local = [k for k in te if k[0] != "bp"]
    if not local:
        raise SystemExit(f"{a.out_dir}: no finished local-learning run of rows {a.rows}")
    units = hf.choose_units("modules", [te[k] for k in local])
    ref = te[local[0]]
    probe, cka = {}, {}
    for row in a.rows:
        keys = [k for k in te if k[0] == row]
        if not keys:
            continue
        name = LABELS.get(row, row)
        probe[name] = {u: stats([probe_accuracy(tr[k].units[u], tr[k].labels, te[k].units[u], te[k].labels)
                                 for k in keys]) for u in units}
        bp_keys = [("bp", k[1]) for k in keys if ("bp", k[1]) in te]
        if row != "bp" and bp_keys:
            cka[name] = {u: stats([linear_cka(te[k].units[u], te[("bp", k[1])].units[u]) for k in keys
                                   if ("bp", k[1]) in te]) for u in units}
    bps = sorted(k for k in te if k[0] == "bp")
    if len(bps) > 1:   # seed-to-seed reference: BP seed i against BP seed i+1
        pairs = [(bps[i], bps[(i + 1) % len(bps)]) for i in range(len(bps))]
        cka["BP, another seed"] = {u: stats([linear_cka(te[p].units[u], te[q].units[u]) for p, q in pairs]) for u in units}
    shuffled = {}
    if bps:   # the chance control on the first BP run: probes fitted to 5 label permutations
        k = bps[0]
        shuffled = {u: stats(shuffled_accuracy(tr[k].units[u], tr[k].labels, te[k].units[u], te[k].labels, 5))
                    for u in units}
    sub = f" ({a.title})" if a.title else ""
    band_plot(probe, units, ref, "linear probe test accuracy (%)", prefix + "_probe.png",
              f"Layer-wise linear separability, GAP features, mean and min-max over seeds{sub}")
    band_plot(cka, units, ref, "linear CKA with BP (same seed)", prefix + "_cka.png",
              f"Similarity to end-to-end BP per module, test images{sub}", (0, 1.02))
    first = {}
    for row in a.rows:
        keys = sorted(k for k in te if k[0] == row)
        if keys:
            first[LABELS.get(row, row)] = te[keys[0]]
    spread = sorted({units[0], units[len(units) // 2], units[-1]})
    tsne = tsne_panels(first, spread, ref, prefix + "_tsne.png", a.n_tsne,
                       f"t-SNE of GAP features by class, first seed, {a.n_tsne} test images{sub}")
    out = {"units": units, "unit_names": [ref.unit_names[u] for u in units],
           "modules": [ref.module_of_unit(u) for u in units], "probe_test_acc": probe, "cka_with_bp": cka,
           "shuffled_label_probe_bp": shuffled, "tsne": {n: {str(u): s for u, s in v.items()} for n, v in tsne.items()},
           "runs": {f"{k[0]}/{k[1]}": {"step": te[k].step, "test_err_final_head": te[k].test_err} for k in te}}
    with open(prefix + ".json", "w") as f:
        json.dump(out, f, indent=1, default=str)
    md = markdown(units, ref, probe, cka)
    with open(prefix + ".md", "w") as f:
        f.write(md)
    print(md)
    print("shuffled-label probe (BP, first seed; mean ± sd of 5 permutations):",
          ", ".join(f"{hf.unit_label(ref, u)} {v['mean']:.1f} ± {v['std']:.1f}" for u, v in shuffled.items()))
    print(f"wrote {prefix}_probe.png, {prefix}_cka.png, {prefix}_tsne.png, {prefix}.json, {prefix}.md")


if __name__ == "__main__":
    main()
