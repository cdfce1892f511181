#!/usr/bin/python3
"""PyTorch side of the CPU training benchmark: end-to-end backprop of ResNet-32 (ALGORITHM.md §2.1).

ResNet-32 (n=5, base width 16, projection shortcuts), batch 128, synthetic normalised
3x32x32 input, CE loss, SGD Nesterov (lr 0.1, momentum 0.9, wd 1e-4), fp32, train mode.
For each torch thread count (default 1 and 2), a fresh subprocess does 3 warm-up steps and
then times N steps, and prints one JSON line:

  {"impl":"pytorch","torch":..., "threads":t, "batch":128, "img_per_s":..., "ms_per_step":...,
   "cpu_ms_per_step":..., "peak_rss_mb":...}

cpu_ms_per_step is the process's CPU time per step (all threads): on a loaded machine a steadier
measure of the work than the wall clock. peak_rss_mb is the subprocess's ru_maxrss (whole process: interpreter + torch + model + data).

    /usr/bin/python3 bench/bp_torch_cpu.py [--steps 10] [--threads 1 2]
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

BATCH = 128
LR = 0.1
MOMENTUM = 0.9
WD = 1e-4


def build_model(n, w, cin, classes):
    import torch.nn as nn
    import torch.nn.functional as F

    class Stem(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(cin, w, 3, 1, 1, bias=False)
            self.bn = nn.BatchNorm2d(w)

        def forward(self, x):
            return F.relu(self.bn(self.conv(x)))

    class Shortcut(nn.Module):
        def __init__(self, ci, co, stride):
            super().__init__()
            self.conv = nn.Conv2d(ci, co, 1, stride, 0, bias=False)
            self.bn = nn.BatchNorm2d(co)

        def forward(self, x):
            return self.bn(self.conv(x))

    class BasicBlock(nn.Module):
        def __init__(self, ci, co, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(ci, co, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(co)
            self.conv2 = nn.Conv2d(co, co, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(co)
            self.shortcut = Shortcut(ci, co, stride) if (stride != 1 or ci != co) else None

        def forward(self, x):
            t = F.relu(self.bn1(self.conv1(x)))
            t = self.bn2(self.conv2(t))
            return F.relu(t + (x if self.shortcut is None else self.shortcut(x)))

    class CifarResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = Stem()
            c = w
            for s, (co, stride) in enumerate([(w, 1), (2 * w, 2), (4 * w, 2)], start=1):
                blocks = []
                for b in range(n):
                    blocks.append(BasicBlock(c, co, stride if b == 0 else 1))
                    c = co
                setattr(self, "layer%d" % s, nn.Sequential(*blocks))
            self.fc = nn.Linear(4 * w, classes)

        def forward(self, x):
            h = self.layer3(self.layer2(self.layer1(self.stem(x))))
            return self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))

    model = CifarResNet()
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            kh, kw = m.kernel_size
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / (kh * kw * m.out_channels)))
    return model


def worker(threads, steps, warmup):
    import resource
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model(5, 16, 3, 10)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, nesterov=True,
                          weight_decay=WD)
    # synthetic "normalised" CIFAR batches: N(0,1) pixels; a few distinct batches cycled
    nb = 4
    xs = torch.randn(nb, BATCH, 3, 32, 32)
    ys = torch.randint(0, 10, (nb, BATCH))

    def step(i):
        opt.zero_grad(set_to_none=False)
        loss = F.cross_entropy(model(xs[i % nb]), ys[i % nb])
        loss.backward()
        opt.step()
        return loss

    for i in range(warmup):
        step(i)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(steps):
        loss = step(warmup + i)
    loss.item()
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({
        "impl": "pytorch",
        "torch": str(torch.__version__),
        "threads": threads,
        "batch": BATCH,
        "img_per_s": round(BATCH * steps / dt, 2),
        "ms_per_step": round(1000.0 * dt / steps, 2),
        "cpu_ms_per_step": round(1000.0 * cpu / steps, 2),
        "peak_rss_mb": round(rss_kb / 1024.0, 1),
    }), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("steps", nargs="?", type=int, default=10, help="timed steps (default 10)")
    ap.add_argument("--steps", dest="steps_opt", type=int, default=None)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    steps = args.steps_opt if args.steps_opt is not None else args.steps

    if args.worker is not None:
        worker(args.worker, steps, args.warmup)
        return
    rc = 0
    for t in args.threads:
        env = dict(os.environ)
        for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[k] = str(t)
        r = subprocess.run([sys.executable, os.path.abspath(__file__), "--steps", str(steps),
                            "--warmup", str(args.warmup), "--worker", str(t)], env=env)
        rc = rc or r.returncode
    sys.exit(rc)


if __name__ == "__main__":
    main()
