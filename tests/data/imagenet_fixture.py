#!/usr/bin/env python3
"""The Python side of test_data_imagenet: a small ILSVRC2012-like tree made with PIL, and the
checks of what hpff_data imagenet and the JPEG loader produce against PIL and torchvision.

  imagenet_fixture.py make WORK    writes WORK/in (train/<wnid>/, flat val/ with the Kaggle CSV
                                   one folder up), WORK/in_devkit (devkit ground truth + meta.mat),
                                   WORK/in_folders (val/<wnid>/), WORK/manifest.json
  imagenet_fixture.py check WORK   checks WORK/out.h5 (and the other conversions) with h5py and
                                   PIL, and the loader dumps the C test wrote, with torchvision

Exits 77 (skip) when numpy, PIL or h5py are missing.
"""
import json
import os
import sys

try:
    import numpy as np
    from PIL import Image
    import h5py
except ImportError:
    sys.exit(77)

WNIDS = ["n02000003", "n01000001", "n01000002"]          # created unsorted on purpose
WORDS = {"n01000001": "tench, Tinca tinca", "n01000002": "goldfish", "n02000003": "kit fox"}
# (class, file, kind, height, width, save options); kind: jpeg, cmyk, gray, png, empty, truncated,
# extraneous (junk bytes before the end marker)
TRAIN = [
    ("n01000001", "a.JPEG", "jpeg", 375, 500, {"quality": 90}),
    ("n01000001", "b.JPEG", "jpeg", 80, 60, {"quality": 75, "subsampling": 0}),
    ("n01000001", "c.JPEG", "jpeg", 500, 333, {"quality": 85, "progressive": True}),
    ("n01000001", "cmyk.JPEG", "cmyk", 150, 200, {"quality": 92}),
    ("n01000001", "empty.JPEG", "empty", 0, 0, {}),
    ("n01000002", "a.JPEG", "jpeg", 500, 375, {"quality": 90}),
    ("n01000002", "d.JPEG", "jpeg", 64, 64, {"quality": 80, "subsampling": 1}),
    ("n01000002", "e.JPEG", "jpeg", 530, 520, {"quality": 90}),
    ("n01000002", "gray.JPEG", "gray", 240, 300, {"quality": 88}),
    ("n01000002", "truncated.JPEG", "truncated", 300, 400, {"quality": 90}),
    ("n02000003", "f.JPEG", "jpeg", 270, 480, {"quality": 90}),
    ("n02000003", "g.jpg", "jpeg", 400, 100, {"quality": 95}),
    ("n02000003", "h.JPEG", "jpeg", 560, 1000, {"quality": 90}),
    ("n02000003", "png.JPEG", "png", 180, 250, {}),
    ("n02000003", "warn.JPEG", "extraneous", 120, 160, {"quality": 85}),
]
VAL = [  # (file, class, height, width)
    ("ILSVRC2012_val_00000001.JPEG", "n01000002", 375, 500),
    ("ILSVRC2012_val_00000002.JPEG", "n02000003", 333, 500),
    ("ILSVRC2012_val_00000003.JPEG", "n01000001", 500, 400),
    ("ILSVRC2012_val_00000004.JPEG", "n01000001", 256, 300),
    ("ILSVRC2012_val_00000005.JPEG", "n02000003", 600, 700),
    ("ILSVRC2012_val_00000006.JPEG", "n01000002", 90, 120),
]
DEVKIT_ID = {"n02000003": 1, "n01000001": 2, "n01000002": 3}   # not the sorted order


def natural(rng, h, w):
    """A smooth colour field with texture and noise: JPEG sizes like photographs'."""
    base = rng.integers(0, 256, (max(2, h // 40), max(2, w // 40), 3), dtype=np.uint8)
    a = np.asarray(Image.fromarray(base).resize((w, h), Image.BICUBIC), dtype=np.float32)
    tex = rng.integers(0, 256, (max(2, h // 5), max(2, w // 5), 3), dtype=np.uint8)
    t = np.asarray(Image.fromarray(tex).resize((w, h), Image.BILINEAR), dtype=np.float32)
    a = 0.75 * a + 0.25 * t + rng.normal(0, 5, a.shape)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def save(rng, path, kind, h, w, opts):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if kind == "empty":
        open(path, "wb").close()
        return
    img = natural(rng, h, w)
    if kind == "cmyk":
        img.convert("CMYK").save(path, "JPEG", **opts)
    elif kind == "gray":
        img.convert("L").save(path, "JPEG", **opts)
    elif kind == "png":
        img.convert("RGBA").save(path, "PNG")
    else:
        img.save(path, "JPEG", **opts)
    if kind == "truncated":
        data = open(path, "rb").read()
        open(path, "wb").write(data[: len(data) * 6 // 10])
    if kind == "extraneous":   # junk before the end marker: libjpeg warns, the image is whole
        data = open(path, "rb").read()
        open(path, "wb").write(data[:-2] + b"\x00" * 7 + data[-2:])


def link(src, dst):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    os.symlink(os.path.abspath(src), dst)


def write_devkit(work, rng):
    d = os.path.join(work, "in_devkit")
    link(os.path.join(work, "in", "train"), os.path.join(d, "train"))
    for f, _, _, _ in VAL:
        link(os.path.join(work, "in", "val", f), os.path.join(d, "val", f))
    data = os.path.join(d, "ILSVRC2012_devkit_t12", "data")
    os.makedirs(data)
    with open(os.path.join(data, "ILSVRC2012_validation_ground_truth.txt"), "w") as g:
        for _, c, _, _ in VAL:
            g.write(f"{DEVKIT_ID[c]}\n")
    try:
        import scipy.io
    except ImportError:
        return False
    rows = [(DEVKIT_ID[w], w, WORDS[w]) for w in WNIDS] + [(4, "n09999999", "a parent synset")]
    syn = np.zeros((len(rows), 1), dtype=[("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O")])
    for i, (k, w, words) in enumerate(rows):
        syn[i, 0] = (np.array([[float(k)]]), w, words)
    scipy.io.savemat(os.path.join(data, "meta.mat"), {"synsets": syn})
    return True


def make(work):
    rng = np.random.default_rng(15)
    src = os.path.join(work, "in")
    manifest = {"train": [], "val": [], "wnids": sorted(WNIDS), "words": WORDS}
    for w in WNIDS:
        os.makedirs(os.path.join(src, "train", w), exist_ok=True)
    open(os.path.join(src, "train", "n01000001", "notes.txt"), "w").write("not an image\n")
    for c, f, kind, h, w, opts in TRAIN:
        rel = f"train/{c}/{f}"
        save(rng, os.path.join(src, rel), kind, h, w, opts)
        manifest["train"].append({"rel": rel, "label": sorted(WNIDS).index(c), "kind": kind})
    for f, c, h, w in VAL:
        save(rng, os.path.join(src, "val", f), "jpeg", h, w, {"quality": 90})
        manifest["val"].append({"rel": f"val/{f}", "label": sorted(WNIDS).index(c), "kind": "jpeg"})
    with open(os.path.join(work, "LOC_val_solution.csv"), "w") as g:    # one folder above in/
        g.write("ImageId,PredictionString\n")
        for f, c, h, w in reversed(VAL):
            g.write(f"{f[:-5]},{c} 10 20 {w - 5} {h - 5} {c} 1 2 30 40\n")
    with open(os.path.join(work, "LOC_synset_mapping.txt"), "w") as g:
        for w in sorted(WNIDS):
            g.write(f"{w} {WORDS[w]}\n")
    manifest["devkit"] = write_devkit(work, rng)
    for f, c, _, _ in VAL:
        link(os.path.join(src, "val", f), os.path.join(work, "in_folders", "val", c, f))
    link(os.path.join(src, "train"), os.path.join(work, "in_folders", "train"))
    json.dump(manifest, open(os.path.join(work, "manifest.json"), "w"), indent=1)
    print(f"made {len(TRAIN)} train and {len(VAL)} val files under {src}")


# ---------------------------------------------------------------- checks ---------------------

FAILS = []


def expect(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what)


def pil(data):
    import io
    return Image.open(io.BytesIO(bytes(data)))


def stored(f, split):
    g = f[split]
    off, raw = g["offsets"][:], g["jpeg"][:]
    return [raw[off[i]:off[i + 1]] for i in range(len(off) - 1)], g


def check_layout(work, man):
    """out.h5 against the source tree: attributes, index, bytes, re-encoded images."""
    f = h5py.File(os.path.join(work, "out.h5"), "r")
    a = f.attrs
    expect(a["format"] == "jpeg" and a["source"] == "imagenet" and int(a["classes"]) == 3, "root attributes")
    expect(list(a["class_names"]) == man["wnids"], f"class_names {list(a['class_names'])}")
    expect(list(a["class_words"]) == [man["words"][w] for w in man["wnids"]], "class_words")
    expect(np.allclose(a["mean"], [0.485, 0.456, 0.406]) and np.allclose(a["std"], [0.229, 0.224, 0.225]), "mean/std")
    worst = 0.0
    for split, key in (("train", "train"), ("test", "val")):
        imgs, g = stored(f, split)
        keep = [m for m in man[key] if m["kind"] not in ("empty", "truncated")]
        names = list(g["names"].asstr()[...])
        expect(names == [m["rel"] for m in keep], f"{split} names {names}")
        expect(list(g["labels"][:]) == [m["label"] for m in keep], f"{split} labels")
        expect(g["jpeg"].dtype == np.uint8 and g["offsets"].dtype == np.int64 and g["offsets"][0] == 0 and
               g["labels"].dtype == np.int32 and g["heights"].dtype == np.int32, f"{split} dtypes")
        expect(g["jpeg"].chunks is not None, f"{split}: the byte dataset is chunked")
        for b, m, h, w in zip(imgs, keep, g["heights"][:], g["widths"][:]):
            im = pil(b)
            expect(im.format == "JPEG" and im.size == (w, h), f"{m['rel']}: stored {im.format} {im.size} vs {w}x{h}")
            src = open(os.path.join(work, "in", m["rel"]), "rb").read()
            if m["kind"] in ("jpeg", "gray", "extraneous"):
                expect(bytes(b) == src, f"{m['rel']}: stored bytes differ from the file")
                expect((im.mode == "L") == (m["kind"] == "gray"), f"{m['rel']}: mode {im.mode}")
            else:   # CMYK / PNG: as PIL's convert("RGB").save(quality=90) would store them
                import io
                buf = io.BytesIO()
                pil(src).convert("RGB").save(buf, "JPEG", quality=90)
                mx, _ = diff(np.asarray(im), pil(buf.getvalue()))
                worst = max(worst, mx)
                expect(im.mode == "RGB" and mx <= 1, f"{m['rel']}: re-encoded pixels differ by {mx} from PIL's")
    print(f"re-encoded CMYK/PNG vs PIL convert('RGB').save(quality=90): max |diff| {int(worst)} level(s) (limit 1)")
    return f


def check_forms_and_shards(work, man, f):
    by = lambda g: dict(zip([n.split("/")[-1] for n in g["names"].asstr()[...]], g["labels"][:]))
    ref = by(f["test"])
    for other in ("out_devkit.h5", "out_folders.h5"):
        expect(by(h5py.File(os.path.join(work, other), "r")["test"]) == ref, f"{other}: validation labels differ")
    listed = [m["rel"] for m in man["train"]]
    for k in range(2):
        sh = h5py.File(os.path.join(work, f"sh-{k:05d}-of-00002.h5"), "r")
        names = list(sh["train/names"].asstr()[...])
        expect(int(sh.attrs["shard"]) == k and int(sh.attrs["shards"]) == 2, "shard attributes")
        expect(all(listed.index(n) % 2 == k for n in names), f"shard {k} holds {names}")
    small = h5py.File(os.path.join(work, "small.h5"), "r")
    sizes = [min(h, w) for h, w in zip(small["train/heights"][:], small["train/widths"][:])]
    expect(max(sizes) == 200 and int(small.attrs["max_resolution"]) == 200, f"--max-resolution 200: {sizes}")


def read_dump(work, name, n_px):
    rows = [list(map(int, l.split())) for l in open(os.path.join(work, name + ".txt"))]
    raw = np.fromfile(os.path.join(work, name), np.uint8)
    return rows, raw.reshape(len(rows), n_px, n_px, 3)


def diff(a, b):
    d = np.abs(a.astype(np.int32) - np.asarray(b, dtype=np.int32))
    return d.max(), d.mean()


def check_decodes(f):
    imgs, g = stored(f, "train")
    raw = np.fromfile(os.path.join(WORK, "dec_full.bin"), np.uint8)
    at = 0
    for b, h, w in zip(imgs, g["heights"][:], g["widths"][:]):
        mine = raw[at:at + h * w * 3].reshape(h, w, 3)
        at += h * w * 3
        expect(np.array_equal(mine, np.asarray(pil(b).convert("RGB"))), "jpeg_dec differs from PIL's decode")
    print(f"jpeg_dec full decodes equal PIL's for all {len(imgs)} stored train images")


def check_torchvision(work, f):
    """The loader's samples against torchvision on PIL images of the same stored bytes."""
    try:
        import torchvision.transforms as T
        import torchvision.transforms.functional as F
    except ImportError:
        print("SKIP: torchvision is not installed; the transforms were not compared with it")
        return
    stats = {}
    for name, split, train, out, dct in (("eval_off.bin", "train", 0, 224, 0), ("evaltest_off.bin", "test", 0, 224, 0),
                                         ("eval_on.bin", "train", 0, 224, 1), ("train_off.bin", "train", 1, 224, 0),
                                         ("train_on.bin", "train", 1, 32, 1)):
        imgs, _ = stored(f, split)
        rows, got = read_dump(work, name, out)
        for (i, h, w, x, y, cw, ch, flip), mine in zip(rows, got):
            im = pil(imgs[i]).convert("RGB")
            if train:
                ref = F.resized_crop(im, y, x, ch, cw, [out, out])
                ref = F.hflip(ref) if flip else ref
                scaled = dct and min(cw, ch) >= 2 * out
            else:
                ref = T.CenterCrop(out)(T.Resize(out * 8 // 7)(im))
                scaled = dct and min(h, w) >= 2 * (out * 8 // 7)
            mx, mean = diff(mine, ref)
            key = (name, bool(scaled))
            a, b, n = stats.get(key, (0, 0.0, 0))
            stats[key] = (max(a, mx), max(b, mean), n + 1)
    for (name, scaled), (mx, mean, n) in sorted(stats.items()):
        if scaled:   # decoded at 1/2..1/8 in the DCT domain, then resampled: not torchvision's pixels
            print(f"{name}: {n} samples decoded at reduced DCT scale: max |diff| {mx}, mean |diff| <= {mean:.2f} "
                  f"levels (limit: mean <= 4)")
            expect(mean <= 4.0, f"{name}: DCT-scaled samples mean |diff| {mean:.2f} > 4 levels")
        else:        # full-resolution decode + Pillow's arithmetic: torchvision's pixels
            print(f"{name}: {n} samples at full resolution: max |diff| {mx} level(s) vs torchvision (limit 1)")
            expect(mx <= 1, f"{name}: max |diff| {mx} > 1 level vs torchvision")


def check(work):
    man = json.load(open(os.path.join(work, "manifest.json")))
    f = check_layout(work, man)
    check_forms_and_shards(work, man, f)
    check_decodes(f)
    check_torchvision(work, f)
    print(f"imagenet_fixture check: {len(FAILS)} failure(s)")
    return 1 if FAILS else 0


if __name__ == "__main__":
    mode, work = sys.argv[1], sys.argv[2]
    WORK = work
    if mode == "make":
        make(work)
    else:
        sys.exit(check(work))
