#!/usr/bin/env python3
"""h5py's side of the dataset layout (datasets/README.md), run by test_data_convert.

  check_h5py.py read PATH CLASSES SOURCE   checks a file written by hpff_data
  check_h5py.py write PATH                 writes a file the way a user would with h5py

Exits 77 (skip) when h5py or numpy is not installed.
"""
import sys

try:
    import h5py
    import numpy as np
except ImportError:
    sys.exit(77)


def read(path, classes, source):
    with h5py.File(path, "r") as f:
        assert set(f.keys()) == {"train", "test"}, list(f.keys())
        shape = None
        for split in ("train", "test"):
            im, lb = f[split]["images"], f[split]["labels"]
            assert im.dtype == np.uint8 and im.ndim == 4, (im.dtype, im.shape)
            assert lb.dtype == np.int32 and lb.shape == (im.shape[0],), (lb.dtype, lb.shape)
            assert shape is None or im.shape[1:] == shape
            shape = im.shape[1:]
            assert lb[...].min() >= 0 and lb[...].max() < classes
        c = shape[2]
        a = f.attrs
        assert int(a["classes"]) == classes, a["classes"]
        for key in ("mean", "std", "train_mean", "train_std"):
            assert a[key].dtype == np.float32 and a[key].shape == (c,), (key, a[key])
        assert isinstance(a["source"], str) and a["source"] == source, a["source"]
        names = list(a["class_names"])
        assert len(names) == classes and all(isinstance(n, str) for n in names), names
        print(f"h5py read {path}: ok, image shape {shape}, classes {names}")


def write(path):
    n, h, w, c = 5, 4, 3, 3
    images = (np.arange(n * h * w * c) * 7 % 251).astype(np.uint8).reshape(n, h, w, c)
    with h5py.File(path, "w") as f:
        for split in ("train", "test"):
            f[f"{split}/images"] = images
            f[f"{split}/labels"] = np.array([0, 1, 2, 1, 0], dtype=np.int32)
        f.attrs["classes"] = 3                     # int64 scalar
        f.attrs["mean"] = [0.25, 0.5, 0.75]        # float64 array
        f.attrs["std"] = np.array([0.5, 0.5, 0.25])
        f.attrs["source"] = "cifar10"             # variable-length str
        f.attrs["class_names"] = ["a", "b", "c"]


if __name__ == "__main__":
    if sys.argv[1] == "read":
        read(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        write(sys.argv[2])
