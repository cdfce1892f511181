#!/usr/bin/env python3
"""Learning curves from hpff_pipe runs: training loss per logged step and test error per epoch,
one line per run, into one PNG. Needs matplotlib (Debian: python3-matplotlib).
  /usr/bin/python3 bench/plot_metrics.py runs/a runs/b --labels BP DGL --out curves.png"""
import argparse
import glob
import json
import os


def read_run(run_dir):
    steps, epochs = [], []
    for path in sorted(glob.glob(os.path.join(run_dir, "metrics*.jsonl"))):
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if rec.get("type") == "step" and rec.get("loss") is not None:
                    steps.append((rec["step"], rec["loss"]))
                elif rec.get("type") == "epoch" and rec.get("test_err") is not None:
                    epochs.append((rec["epoch"], rec["test_err"]))
    return sorted(steps), sorted(epochs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--labels", nargs="*")
    ap.add_argument("--out", default="curves.png")
    ap.add_argument("--title", default="")
    a = ap.parse_args()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    labels = a.labels if a.labels and len(a.labels) == len(a.runs) else [os.path.basename(r.rstrip("/")) for r in a.runs]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for run, label in zip(a.runs, labels):
        steps, epochs = read_run(run)
        if steps:
            ax1.plot([s for s, _ in steps], [l for _, l in steps], label=label, lw=1.2)
        if epochs:
            ax2.plot([e for e, _ in epochs], [v for _, v in epochs], marker="o", ms=3, label=label)
    ax1.set_xlabel("optimizer step"); ax1.set_ylabel("training loss (final head)"); ax1.set_yscale("log")
    ax2.set_xlabel("epoch"); ax2.set_ylabel("test error (%)")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3); ax.legend(fontsize=8)
    if a.title:
        fig.suptitle(a.title)
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print("wrote", a.out)


if __name__ == "__main__":
    main()
