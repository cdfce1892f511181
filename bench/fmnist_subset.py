#!/usr/bin/env python3
"""Write a class-balanced subset of a dataset file in the project's HDF5 layout
(datasets/README.md): the first N_PER_CLASS training images of every class, in their original
order, and the whole test split (or its first --test-per-class of every class); the attributes (mean, std, source, classes, class names) are
copied unchanged, so the loader normalises and augments exactly as for the full file.
  /usr/bin/python3 bench/fmnist_subset.py data/fmnist.h5 data/fmnist_20k.h5 2000"""
import argparse
import os

import h5py
import numpy as np


def subset_indices(labels, per_class):
    keep = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) < per_class:
            raise SystemExit(f"class {c} has {len(idx)} training images, fewer than {per_class}")
        keep.append(idx[:per_class])
    return np.sort(np.concatenate(keep))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("per_class", type=int)
    ap.add_argument("--test-per-class", type=int, default=0, help="keep only this many test images per class")
    a = ap.parse_args()
    tmp = a.dst + ".tmp"
    with h5py.File(a.src, "r") as f, h5py.File(tmp, "w") as g:
        keep = subset_indices(f["train/labels"][:], a.per_class)
        g["train/images"] = f["train/images"][:][keep]
        g["train/labels"] = f["train/labels"][:][keep].astype(np.int32)
        ty = f["test/labels"][:]
        tkeep = subset_indices(ty, a.test_per_class) if a.test_per_class else np.arange(len(ty))
        g["test/images"] = f["test/images"][:][tkeep]
        g["test/labels"] = ty[tkeep].astype(np.int32)
        for k, v in f.attrs.items():
            g.attrs[k] = v
    os.replace(tmp, a.dst)
    print(f"{a.src} -> {a.dst}: {len(keep)} train ({a.per_class} per class) + "
          f"{len(h5py.File(a.dst, 'r')['test/labels'])} test images")


if __name__ == "__main__":
    main()
