#!/usr/bin/env python3
"""Throughput of the HPFF authors' PyTorch model code (InfoPro+HPFF, CIFAR ResNets) on the CPU,
for side-by-side runs with bench_step. Their `Exp on CIFAR_SVHN_STL/network` package must be in
$HPFF_PEER_DIR/network (never committed; see ../shared/bench/ANCHORS.md).
  HPFF_PEER_DIR=.peer /usr/bin/python3 bench/peer_cpu.py LAYERS K BATCH [STEPS] [THREADS]"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.environ.get("HPFF_PEER_DIR", ".peer"))
# Their constructor calls .cuda() on some modules; on the CPU that becomes a no-op.
torch.nn.Module.cuda = lambda self, *a, **k: self
torch.Tensor.cuda = lambda self, *a, **k: self
import network.resnetInfoPro_HPFF as R  # noqa: E402


def main():
    layers, K, batch = map(int, sys.argv[1:4])
    steps = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    threads = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    m = getattr(R, "resnet%d" % layers)(local_module_num=K, batch_size=batch, image_size=32,
        balanced_memory=False, dataset="cifar10", class_num=10, wide_list=(16, 16, 32, 64),
        dropout_rate=0, aux_net_config="2c2f", local_loss_mode="cross_entropy",
        aux_net_widen=1, aux_net_feature_dim=128).train()
    opt = torch.optim.SGD(m.parameters(), lr=0.8, momentum=0.9, nesterov=True, weight_decay=1e-4)
    mean = torch.tensor([125.3, 123.0, 113.9]).view(1, 3, 1, 1) / 255
    std = torch.tensor([63.0, 62.1, 66.7]).view(1, 3, 1, 1) / 255
    x = (torch.rand(batch, 3, 32, 32) - mean) / std
    y = torch.randint(0, 10, (batch,))
    def step():
        opt.zero_grad(set_to_none=True)
        m(img=x, target=y, ixx_1=5, ixy_1=0.5, ixx_2=0, ixy_2=0)
        opt.step()
    step()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps(dict(impl="authors-pytorch", layers=layers, K=K, batch=batch, threads=threads,
                          img_per_s=round(steps * batch / dt, 1), ms_per_step=round(1000 * dt / steps, 1),
                          cpu_ms_per_step=round(1000 * cpu / steps, 1))))


if __name__ == "__main__":
    main()
