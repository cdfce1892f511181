#!/usr/bin/env python3
"""The PyTorch side of bench/bench_imagenet_loader.sh.

  imagenet_loader_torch.py make DIR WIDTH HEIGHT N [CLASSES]
      synthetic ImageNet-like JPEGs (quality 90, photo-like entropy: ~100 KB at 500x375) as
      DIR/train/<wnid>/*.JPEG and DIR/val/<wnid>/*.JPEG (N train images, N/10 val)
  imagenet_loader_torch.py run DIR [--workers 0,1,2] [--modes train,eval] [--batch 64]
      [--epochs 2] [--size 224]
      torchvision ImageFolder + DataLoader (PIL decoding) with the transforms hpff_pipe's
      JPEG loader applies: train RandomResizedCrop(size) + RandomHorizontalFlip, eval
      Resize(size/0.875) + CenterCrop(size); ToTensor + Normalize(ImageNet mean/std). One
      intra-op thread per process, so that workers = cores. Prints img/s of the last epoch.
"""
import argparse
import os
import sys
import time

import numpy as np
from PIL import Image


def natural(rng, h, w):
    base = rng.integers(0, 256, (max(2, h // 40), max(2, w // 40), 3), dtype=np.uint8)
    a = np.asarray(Image.fromarray(base).resize((w, h), Image.BICUBIC), dtype=np.float32)
    tex = rng.integers(0, 256, (max(2, h // 3), max(2, w // 3), 3), dtype=np.uint8)
    t = np.asarray(Image.fromarray(tex).resize((w, h), Image.BICUBIC), dtype=np.float32)
    a = 0.5 * a + 0.5 * t + rng.normal(0, 9, a.shape)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def make(root, w, h, n, classes):
    rng = np.random.default_rng(2470)
    pool = [natural(rng, h, w) for _ in range(16)]     # a few distinct images, saved many times
    sizes = []
    for split, count in (("train", n), ("val", max(classes, n // 10))):
        for i in range(count):
            d = os.path.join(root, split, f"n{10000000 + i % classes:08d}")
            os.makedirs(d, exist_ok=True)
            img = pool[i % len(pool)].transpose(Image.FLIP_LEFT_RIGHT) if i // len(pool) % 2 else pool[i % len(pool)]
            p = os.path.join(d, f"img_{i:07d}.JPEG")
            img.save(p, "JPEG", quality=90)
            sizes.append(os.path.getsize(p))
    print(f"made {n} train + {max(classes, n // 10)} val JPEGs of {w}x{h} in {root}: "
          f"mean {np.mean(sizes) / 1e3:.0f} KB")


def worker_init(_):
    import torch
    torch.set_num_threads(1)


def run(args):
    import torch
    import torchvision
    import torchvision.transforms as T
    torch.set_num_threads(1)
    norm = T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    tf = {"train": T.Compose([T.RandomResizedCrop(args.size), T.RandomHorizontalFlip(), T.ToTensor(), norm]),
          "eval": T.Compose([T.Resize(args.size * 8 // 7), T.CenterCrop(args.size), T.ToTensor(), norm])}
    print(f"torchvision {torchvision.__version__}, torch {torch.__version__}, PIL {Image.__version__}: "
          f"ImageFolder + DataLoader, batch {args.batch}, {args.epochs} epochs, last one timed")
    for mode in args.modes.split(","):
        ds = torchvision.datasets.ImageFolder(os.path.join(args.root, "train"), tf[mode])
        for w in map(int, args.workers.split(",")):
            dl = torch.utils.data.DataLoader(ds, batch_size=args.batch, shuffle=True, num_workers=w,
                                             worker_init_fn=worker_init if w else None,
                                             persistent_workers=w > 0)
            for e in range(args.epochs):
                t0, n = time.perf_counter(), 0
                for x, _ in dl:
                    n += x.shape[0]
                dt = time.perf_counter() - t0
            print(f"torch {mode} {args.size}: workers {w}: {n} images in {dt:.2f} s = {n / dt:.0f} img/s")
            sys.stdout.flush()


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "make":
        root, w, h, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        make(root, w, h, n, int(sys.argv[6]) if len(sys.argv) > 6 else 10)
        return
    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=["run"])
    p.add_argument("root")
    p.add_argument("--workers", default="0,1,2")
    p.add_argument("--modes", default="train,eval")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--size", type=int, default=224)
    run(p.parse_args())


if __name__ == "__main__":
    main()
