#!/usr/bin/env python3
"""t-SNE of module outputs coloured by class (the HPFF paper's Fig. 3): one row per run, one
column per analysed unit, each panel a 2-D t-SNE of the globally average-pooled features of the
same test images. The numbers (OUT.json) say how well classes separate without looking at the
picture: the silhouette score of the class labels in the feature space and in the embedding,
and the leave-one-out 5-nearest-neighbour accuracy in the embedding.
  /usr/bin/python3 analysis/tsne.py RUN_DIR... [--out tsne] [--n 2000] [--units first,mid,last]
      [--perplexity 30] [--labels NAME...]
--units: 'spread' (default: the first, a middle and the last module end of the first run with
several modules), 'modules', 'all' or unit indices 0,3,5."""
import argparse
import json

import numpy as np

import hpff_features as hf


def embed(x, perplexity, seed):
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler
    z = StandardScaler().fit_transform(x)
    p = min(perplexity, max(2.0, (len(x) - 1) / 3.0))
    kw = {"n_components": 2, "perplexity": p, "init": "pca", "random_state": seed}
    try:
        return z, TSNE(learning_rate="auto", **kw).fit_transform(z)
    except TypeError:   # older scikit-learn: no learning_rate="auto"
        return z, TSNE(**kw).fit_transform(z)


def scores(z, e, y):
    from sklearn.metrics import silhouette_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.model_selection import cross_val_score
    ok = len(np.unique(y)) > 1
    knn = cross_val_score(KNeighborsClassifier(5), e, y, cv=min(5, np.bincount(y).max())) if ok else [np.nan]
    return {"silhouette_features": float(silhouette_score(z, y)) if ok else None,
            "silhouette_tsne": float(silhouette_score(e, y)) if ok else None,
            "knn5_acc_tsne": 100.0 * float(np.mean(knn))}


def spread_units(runs):
    mods = hf.choose_units("modules", runs)
    return sorted({mods[0], mods[len(mods) // 2], mods[-1]})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="run directories or feature files")
    ap.add_argument("--out", default="tsne", help="output prefix: OUT.png, OUT.json")
    ap.add_argument("--n", type=int, default=2000, help="test images embedded (the first N)")
    ap.add_argument("--units", default="spread")
    ap.add_argument("--perplexity", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--title", default="")
    hf.add_source_args(ap)
    a = ap.parse_args()
    runs = [hf.load(s, "test", a.n, a.hpff_pipe, a.set, nm) for s, nm in zip(a.runs, hf.names_for(a, a.runs))]
    units = spread_units(runs) if a.units == "spread" else hf.choose_units(a.units, runs)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(runs), len(units), figsize=(3.2 * len(units), 3.2 * len(runs)), squeeze=False)
    results = []
    for i, r in enumerate(runs):
        y = r.labels[: a.n] if a.n else r.labels
        entry = {"run": r.name, "run_dir": r.run_dir, "method": r.method, "step": r.step, "units": []}
        for j, u in enumerate(units):
            x = r.units[u][: len(y)]
            z, e = embed(x, a.perplexity, a.seed)
            s = scores(z, e, y)
            entry["units"].append({"unit": u, "name": r.unit_names[u], "module": r.module_of_unit(u), **s})
            ax = axes[i][j]
            ax.scatter(e[:, 0], e[:, 1], c=y, cmap="tab10", s=3, vmin=0, vmax=9)
            ax.set_xticks([]); ax.set_yticks([])
            ax.set_title(f"{r.name}\n{hf.unit_label(r, u)}: sil {s['silhouette_tsne']:.2f}, 5-NN {s['knn5_acc_tsne']:.0f}%",
                         fontsize=7)
        results.append(entry)
    if a.title:
        fig.suptitle(a.title)
    fig.tight_layout()
    fig.savefig(a.out + ".png", dpi=100)
    with open(a.out + ".json", "w") as f:
        json.dump({"analysis": "t-SNE", "n": int(len(runs[0].labels[: a.n] if a.n else runs[0].labels)),
                   "perplexity": a.perplexity, "units": units, "runs": results}, f, indent=1)
    for r in results:
        print(f"{r['run']:28s} " + "  ".join(f"{u['name']}: sil {u['silhouette_tsne']:.2f} knn {u['knn5_acc_tsne']:.1f}"
                                            for u in r["units"]))
    print(f"wrote {a.out}.png, {a.out}.json")


if __name__ == "__main__":
    main()
