#!/usr/bin/env python3
"""Layer-wise linear separability (the HPFF paper's Fig. 4): for every run and every analysed
unit, a linear classifier (multinomial logistic regression on standardised, globally average-
pooled features) is fitted on the run's frozen features of training images and scored on test
images. Writes OUT.png (probe test accuracy per module, one line per run) and OUT.json.
  /usr/bin/python3 analysis/separability.py RUN_DIR... [--out probe] [--n-train 10000]
      [--n-test 0] [--units modules|all|LIST] [--shuffle-labels] [--labels NAME...]
--shuffle-labels fits each probe to randomly permuted training labels, --repeats times (default
5), and reports the mean: it must sit at chance (1/classes), the check that the probe reads
nothing but the features. (One permutation alone scatters widely around chance on features that
cluster by class: a whole cluster lands on one random label.)"""
import argparse
import json

import numpy as np

import hpff_features as hf


def probe_accuracy(x_tr, y_tr, x_te, y_te, seed=0):
    """Test accuracy (%) of a logistic-regression probe fitted on (x_tr, y_tr)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0, random_state=seed))
    clf.fit(x_tr, y_tr)
    return 100.0 * float(np.mean(clf.predict(x_te) == y_te))


def shuffled_accuracy(x_tr, y_tr, x_te, y_te, repeats, seed=0):
    """Test accuracies (%) of probes fitted to `repeats` random permutations of y_tr."""
    rng = np.random.default_rng(seed)
    return [probe_accuracy(x_tr, rng.permutation(y_tr), x_te, y_te, seed) for _ in range(repeats)]


def analyse(train_runs, test_runs, units, shuffle, repeats=5, seed=0):
    results = []
    for tr, te in zip(train_runs, test_runs):
        vals = []
        for u in units:
            v = {"unit": u, "name": te.unit_names[u], "module": te.module_of_unit(u)}
            if shuffle:
                each = shuffled_accuracy(tr.units[u], tr.labels, te.units[u], te.labels, repeats, seed)
                v.update(probe_test_acc=float(np.mean(each)), probe_test_acc_each=each)
            else:
                v["probe_test_acc"] = probe_accuracy(tr.units[u], tr.labels, te.units[u], te.labels, seed)
            vals.append(v)
        results.append({**hf.run_summary(te), "n_train": len(tr.labels), "n_test": len(te.labels),
                        "shuffled_labels": shuffle, "units": vals})
    return results


def plot(results, units, ref, png, title):
    hf.plot_units(results, units, ref, "probe_test_acc", "linear probe test accuracy (%)",
                  title or "Layer-wise linear separability (frozen GAP features)", png)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="run directories (or pairs TRAIN.h5,TEST.h5 of feature files)")
    ap.add_argument("--out", default="separability", help="output prefix: OUT.png, OUT.json")
    ap.add_argument("--n-train", type=int, default=10000, help="training images the probes are fitted on (0: all)")
    ap.add_argument("--n-test", type=int, default=0, help="test images they are scored on (0: all)")
    ap.add_argument("--units", default="modules", help="modules (default), all, or unit indices 0,3,5")
    ap.add_argument("--shuffle-labels", action="store_true", help="fit to permuted labels (a chance-level control)")
    ap.add_argument("--repeats", type=int, default=5, help="permutations averaged under --shuffle-labels")
    ap.add_argument("--title", default="")
    hf.add_source_args(ap)
    a = ap.parse_args()
    train_runs, test_runs = [], []
    for src, name in zip(a.runs, hf.names_for(a, a.runs)):
        tr_src, te_src = src.split(",") if "," in src else (src, src)
        train_runs.append(hf.load(tr_src, "train", a.n_train, a.hpff_pipe, a.set, name))
        test_runs.append(hf.load(te_src, "test", a.n_test, a.hpff_pipe, a.set, name))
    units = hf.choose_units(a.units, test_runs)
    results = analyse(train_runs, test_runs, units, a.shuffle_labels, a.repeats)
    classes = int(max(r.labels.max() for r in test_runs)) + 1
    out = {"analysis": "linear separability", "chance_acc": 100.0 / classes, "units": units, "runs": results}
    with open(a.out + ".json", "w") as f:
        json.dump(out, f, indent=1)
    plot(results, units, test_runs[0], a.out + ".png", a.title)
    for r in results:
        print(f"{r['run']:28s} " + "  ".join(f"{u['name']}:{u['probe_test_acc']:.1f}" for u in r["units"]))
    print(f"wrote {a.out}.png, {a.out}.json")


if __name__ == "__main__":
    main()
