#!/usr/bin/python3
"""PyTorch side of the ImageNet training benchmarks (ALGORITHM.md §2.2, §2.3): end-to-end backprop
of a torchvision network on synthetic normalised 3x224x224 batches, CE loss, SGD Nesterov (lr 0.05,
momentum 0.9, wd 1e-4), fp32 (TF32 on a GPU only with --tf32), train mode. Optionally the HPFF
authors' own ImageNet model (InfoPro+HPFF, K=4) from $HPFF_PEER_DIR/imagenet_networks (git-ignored).

A fresh subprocess per row does --warmup steps and times --steps steps, and prints one JSON line:

  {"impl":"pytorch"|"authors","model":..., "device":..., "threads":t, "batch":b, "img_per_s":...,
   "ms_per_step":..., "peak_mb":...}

peak_mb: torch.cuda.max_memory_allocated on a GPU, the process's ru_maxrss on the CPU.

    /usr/bin/python3 bench/imagenet_torch.py --model resnet50 --batch 8 --threads 1 2
    /usr/bin/python3 bench/imagenet_torch.py --model resnet50 --device cuda --batch 128 --tf32
    HPFF_PEER_DIR=.peer python3 bench/imagenet_torch.py --model authors_resnet152_k4 --device cuda --batch 128
"""
import argparse
import json
import os
import subprocess
import sys
import time

MODELS = ["resnet50", "resnet101", "resnet152", "resnext101_32x8d", "vgg13", "authors_resnet152_k4",
          "authors_resnet101_k4", "authors_resnext101_32x8d_k4"]


def build(name, classes):
    import torch.nn as nn
    import torchvision.models as tvm
    if name.startswith("authors_"):
        sys.path.insert(0, os.environ.get("HPFF_PEER_DIR", ".peer"))
        import imagenet_networks.resnetInfoPro_HPFF as R
        arch = name[len("authors_"):-len("_k4")]
        return getattr(R, arch)(local_module_num=4, num_classes=classes)
    if name == "vgg13":   # §2.3: vgg13_bn without dropout and without the adaptive pool (224 -> 7x7)
        m = tvm.vgg13_bn(num_classes=classes, dropout=0.0)
        m.avgpool = nn.Identity()
        return m
    return getattr(tvm, name)(num_classes=classes)


def child(a):
    import resource
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    if a.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = a.tf32
        torch.backends.cudnn.allow_tf32 = a.tf32
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    m = build(a.model, 1000).to(dev).train()
    opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    x = torch.randn(a.batch, 3, 224, 224, device=dev)
    y = torch.randint(0, 1000, (a.batch,), device=dev)
    mean = torch.tensor([0.485, 0.456, 0.406], device=dev).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=dev).view(1, 3, 1, 1)
    xt = (x * std + mean).clamp(0, 1)

    def step():
        opt.zero_grad(set_to_none=True)
        if a.model.startswith("authors_"):   # their forward runs every local backward itself
            m(x, initial_image=xt, target=y, criterion=torch.nn.CrossEntropyLoss())
        else:
            F.cross_entropy(m(x), y).backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    if a.device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    if a.device == "cuda":
        torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / a.steps
    peak = (torch.cuda.max_memory_allocated() if a.device == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) / 1048576.0
    print(json.dumps({"impl": "authors" if a.model.startswith("authors_") else "pytorch", "model": a.model,
                      "device": a.device, "threads": a.threads, "batch": a.batch, "tf32": int(a.tf32),
                      "img_per_s": round(a.batch / dt, 2), "ms_per_step": round(1000 * dt, 1),
                      "peak_mb": round(peak, 1), "torch": torch.__version__}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=MODELS, default="resnet50")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--tf32", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        a.threads = a.threads[0]
        child(a)
        return
    for t in a.threads:
        cmd = [sys.executable, __file__, "--child", "--model", a.model, "--device", a.device, "--batch", str(a.batch),
               "--threads", str(t), "--steps", str(a.steps), "--warmup", str(a.warmup)] + (["--tf32"] if a.tf32 else [])
        subprocess.run(cmd, check=True, env=dict(os.environ, OMP_NUM_THREADS=str(t)))


if __name__ == "__main__":
    main()
