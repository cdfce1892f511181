#!/usr/bin/env python3
"""Linear CKA against a reference run (the HPFF paper's Fig. 5): for every run and every
analysed unit, the linear centred kernel alignment between the run's features and the
reference run's features of the same unit on the same test images (globally average-pooled
unit outputs; with --map, the full maps of the unit both files hold). The reference is usually
an end-to-end BP run. Writes OUT.png (CKA per module, one line per run) and OUT.json.
  /usr/bin/python3 analysis/cka.py --ref BP_RUN RUN_DIR... [--out cka] [--n 5000]
      [--units modules|all|LIST] [--labels NAME...]
CKA(X, Y) = ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F), Xc, Yc column-centred (Kornblith
et al. 2019); 1 for a run against itself, invariant to rotations and isotropic scaling."""
import argparse
import json

import numpy as np

import hpff_features as hf


def linear_cka(x, y):
    x = x.reshape(len(x), -1).astype(np.float64)
    y = y.reshape(len(y), -1).astype(np.float64)
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    cross = np.linalg.norm(y.T @ x) ** 2
    den = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    return float(cross / den) if den > 0 else float("nan")


def analyse(ref, runs, units, use_map):
    results = []
    for r in runs:
        if len(r.labels) != len(ref.labels) or not np.array_equal(r.labels, ref.labels):
            raise SystemExit(f"{r.name} and the reference {ref.name} were exported on different images "
                             "(same split and --n needed)")
        if use_map:
            if r.map is None or ref.map is None or r.map_unit != ref.map_unit:
                raise SystemExit("--map: both files need the full map of the same unit (--map-unit at export)")
            vals = [{"unit": r.map_unit, "name": r.unit_names[r.map_unit], "module": r.module_of_unit(r.map_unit),
                     "cka": linear_cka(r.map, ref.map)}]
        else:
            vals = [{"unit": u, "name": r.unit_names[u], "module": r.module_of_unit(u),
                     "cka": linear_cka(r.units[u], ref.units[u])} for u in units]
        results.append({**hf.run_summary(r), "units": vals})
    return results


def plot(results, units, label_run, ref_name, png, title):
    hf.plot_units(results, units, label_run, "cka", f"linear CKA with {ref_name}",
                  title or f"Similarity to {ref_name}, unit by unit (test images, GAP features)", png, ylim=(0, 1.02))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="run directories or feature files")
    ap.add_argument("--ref", required=True, help="the reference run (directory or feature file), e.g. BP")
    ap.add_argument("--ref-label", help="its name in the plot")
    ap.add_argument("--out", default="cka", help="output prefix: OUT.png, OUT.json")
    ap.add_argument("--n", type=int, default=5000, help="test images (0: all)")
    ap.add_argument("--units", default="modules", help="modules (default), all, or unit indices 0,3,5")
    ap.add_argument("--map", action="store_true", help="compare the full maps exported with --map-unit")
    ap.add_argument("--title", default="")
    hf.add_source_args(ap)
    a = ap.parse_args()
    ref = hf.load(a.ref, "test", a.n, a.hpff_pipe, a.set, a.ref_label)
    runs = [hf.load(s, "test", a.n, a.hpff_pipe, a.set, nm) for s, nm in zip(a.runs, hf.names_for(a, a.runs))]
    units = hf.choose_units(a.units, runs + [ref])
    results = analyse(ref, runs, [ref.map_unit] if a.map else units, a.map)
    out = {"analysis": "linear CKA", "reference": ref.name, "reference_run_dir": ref.run_dir,
           "features": "map" if a.map else "gap", "units": units, "runs": results}
    with open(a.out + ".json", "w") as f:
        json.dump(out, f, indent=1)
    if not a.map:
        plot(results, units, runs[0], ref.name, a.out + ".png", a.title)
    for r in results:
        print(f"{r['run']:28s} " + "  ".join(f"{u['name']}:{u['cka']:.3f}" for u in r["units"]))
    print(f"wrote {a.out}.json" + ("" if a.map else f", {a.out}.png"))


if __name__ == "__main__":
    main()
