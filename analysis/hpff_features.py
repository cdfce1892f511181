"""Shared by the analyses: a run's exported features (hpff_pipe --export-features), exported on
demand. A source is a run directory (its features_<split>.h5 is made, or remade when it is
older than the newest checkpoint or holds another image count) or a feature file itself.

File layout (src/export.c): features/uNN (N, C_u) globally average-pooled output of unit u
(0 = stem, then every residual block), logits (N, classes), labels (N), optional map
(N, C, H, W) of one unit; attributes unit_names, unit_channels, unit_side, module_last_unit
(the run's split: the last unit of each local module), step, ranks, test_err, method, arch."""
import glob
import os
import re
import subprocess

import h5py
import numpy as np


class Features:
    """One exported split of one run."""

    def __init__(self, path, name=None):
        with h5py.File(path, "r") as f:
            self.units = {int(k[1:]): f["features"][k][:].astype(np.float64) for k in f["features"]}
            self.labels = f["labels"][:].astype(np.int64)
            self.logits = f["logits"][:]
            self.map = f["map"][:] if "map" in f else None
            self.map_unit = int(f["map"].attrs["unit"]) if "map" in f else None
            a = f.attrs
            self.unit_names = [s.decode() if isinstance(s, bytes) else str(s) for s in a["unit_names"]]
            self.module_last_unit = [int(u) for u in a["module_last_unit"]]
            self.method = _text(a["method"])
            self.run_dir = _text(a["run_dir"])
            self.split = _text(a["split"])
            self.step = int(a["step"])
            self.test_err = float(a["test_err"])
        self.path = path
        self.name = name or default_name(self.run_dir or path)

    def module_of_unit(self, u):
        """The run's module whose last unit is u, or None."""
        return self.module_last_unit.index(u) if u in self.module_last_unit else None


def _text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def default_name(path):
    """'dgl_hpff/seed0' for runs/ablation/dgl_hpff/seed0: the last two folders of a run."""
    parts = os.path.normpath(os.path.abspath(path)).split(os.sep)
    if parts[-1].endswith(".h5"):
        parts = parts[:-1]
    return "/".join(parts[-2:]) if re.match(r"seed\d+$", parts[-1]) else parts[-1]


def newest_step(run_dir):
    steps = [int(m.group(1)) for d in glob.glob(os.path.join(run_dir, "checkpoints", "step-*"))
             if os.path.exists(os.path.join(d, "COMPLETE")) and (m := re.search(r"step-(\d+)$", d))]
    return max(steps) if steps else None


def _fresh(path, run_dir, n):
    if not os.path.exists(path):
        return False
    with h5py.File(path, "r") as f:
        count, step = len(f["labels"]), int(f.attrs["step"])
    return step == newest_step(run_dir) and (n == 0 or count == n)


def load(source, split="test", n=0, hpff_pipe="build/hpff_pipe", sets=(), name=None):
    """Features of a run directory (exported if needed) or of a feature file."""
    if os.path.isfile(source):
        return Features(source, name)
    if not os.path.isdir(os.path.join(source, "checkpoints")):
        raise SystemExit(f"{source}: neither a feature file nor a run directory with checkpoints/")
    path = os.path.join(source, f"features_{split}.h5")
    if not _fresh(path, source, n):
        cmd = [hpff_pipe, "--export-features", source, "--split", split, "--n", str(n), "--out", path]
        for s in sets:
            cmd += ["--set", s]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"export failed ({' '.join(cmd)}):\n{r.stderr.strip()}")
    return Features(path, name)


def add_source_args(ap):
    """The options every analysis shares for finding and exporting features."""
    ap.add_argument("--hpff-pipe", default=os.environ.get("HPFF_PIPE", "build/hpff_pipe"),
                    help="the binary that exports features from run directories (default build/hpff_pipe)")
    ap.add_argument("--set", action="append", default=[], metavar="S.K=V",
                    help="config override for the export, e.g. data.train_file=data/fmnist.h5 (repeatable)")
    ap.add_argument("--labels", nargs="*", help="names of the runs in the plots (default: their folders)")


def names_for(args, sources):
    if args.labels and len(args.labels) == len(sources):
        return args.labels
    return [None] * len(sources)


def choose_units(spec, runs):
    """Units to analyse: 'modules' (the module ends of the first run with several modules, else
    every unit), 'all', or a comma list of unit indices."""
    common = set.intersection(*(set(r.units) for r in runs))
    if spec == "all":
        return sorted(common)
    if spec == "modules":
        split = next((r.module_last_unit for r in runs if len(r.module_last_unit) > 1), None)
        return sorted(split) if split else sorted(common)
    units = [int(u) for u in spec.split(",")]
    missing = [u for u in units if u not in common]
    if missing:
        raise SystemExit(f"--units: unit(s) {missing} not in every run (units 0..{max(common)})")
    return units


def unit_label(run, u):
    m = run.module_of_unit(u)
    return f"{run.unit_names[u]}" + (f" (m{m})" if m is not None else "")


def run_summary(run):
    """The part of a result entry that names the run: name, folder, method, step, final-head test error."""
    return {"run": run.name, "run_dir": run.run_dir, "method": run.method, "step": run.step,
            "test_err_final_head": run.test_err}


def plot_units(results, units, label_run, key, ylabel, title, png, ylim=None):
    """One line per run of r["units"][i][key] against the units (labelled from label_run), to png."""
    lines = [(r["run"], [u[key] for u in r["units"]], None) for r in results]
    plot_unit_lines(lines, units, label_run, ylabel, title, png, ylim)


def plot_unit_lines(lines, units, label_run, ylabel, title, png, ylim=None, figsize=(8, 4.5), rotation=45,
                    title_size=10):
    """lines: (label, value per unit, None or (low per unit, high per unit) shaded as a band); the
    x axis names the units as label_run does."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=figsize)
    x = np.arange(len(units))
    for label, ys, band in lines:
        ax.plot(x, ys, marker="o", ms=4, label=label)
        if band is not None:
            ax.fill_between(x, band[0], band[1], alpha=0.15)
    ax.set_xticks(x)
    ax.set_xticklabels([unit_label(label_run, u) for u in units], rotation=rotation, ha="right", fontsize=7)
    ax.set_ylabel(ylabel)
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_title(title, fontsize=title_size)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
