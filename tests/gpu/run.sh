#!/usr/bin/env bash
# tests/gpu/run.sh — the GPU machine's check: build with the CUDA backend, run the ctest label
# `gpu`, then the benchmarks. Everything goes to the terminal and to $OUT/gpu_log.txt
# (OUT defaults to ./gpu-out). Run from anywhere; it works in the repository root. Each step has
# its own time limit (expected on an H100 box: configure ~10 s, build ~1-2 min, tests < 1 min);
# the caps add up to 6.5 minutes and benchmarks get what is left of a 7.5-minute budget.
set -u -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${OUT:-./gpu-out}"
BUILD="${BUILD:-build-gpu}"
JOBS="${JOBS:-16}"
BUDGET_S="${BUDGET_S:-450}"   # the whole script, benchmarks included

step() {   # step NAME SECONDS CMD...: runs CMD under a time limit, reports its status and time
    local name="$1" limit="$2" t0=$SECONDS rc
    shift 2
    echo "=== ${name} (limit ${limit}s): $*"
    timeout --kill-after=10 "$limit" "$@"
    rc=$?
    [ $rc -eq 124 ] && echo "=== ${name}: TIMED OUT after ${limit}s"
    echo "=== ${name}: exit ${rc} after $((SECONDS - t0))s"
    return $rc
}

environment() {
    echo "=== hpff_pipe GPU check, $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(hostname)"
    git -C "$ROOT" log -1 --format='commit %H %s' 2>/dev/null || echo "commit: (not a git checkout)"
    nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv 2>&1 || true
    nvcc --version 2>&1 | tail -n 2 || true
    cmake --version | head -n 1
}

remaining() { echo $((BUDGET_S - SECONDS)); }   # seconds left of the budget

# ---- benchmarks: the lead adds training benchmarks here, each as
#      step NAME "$(remaining)" CMD...   (skip a benchmark when remaining is too small) ----
run_benchmarks() {
    # The configurations of ../shared/bench/ANCHORS.md, batch 1024, 32x32x3 (issue: CUDA backend).
    local b="$BUILD/bench_step" status=0 cfg
    # Each HPFF row twice: op by op, and replayed from a recorded CUDA graph (backend.graph).
    # A row's own flags come last and win (the ResNet-110 rows take fewer steps).
    local -a rows=(
        "r32_k16_infopro_hpff --set model.arch=resnet32 --set train.method=infopro --set local.K=16"
        "r32_k16_infopro_hpff_graph --set model.arch=resnet32 --set train.method=infopro --set local.K=16 --set backend.graph=on"
        "r32_k16_dgl_hpff --set model.arch=resnet32 --set train.method=dgl --set local.K=16"
        "r32_k16_dgl_hpff_graph --set model.arch=resnet32 --set train.method=dgl --set local.K=16 --set backend.graph=on"
        "r110_k55_infopro_hpff --set model.arch=resnet110 --set train.method=infopro --set local.K=55 --steps 8 --warmup 3"
        "r110_k55_infopro_hpff_graph --set model.arch=resnet110 --set train.method=infopro --set local.K=55 --set backend.graph=on --steps 8 --warmup 3"
        "r32_bp --set model.arch=resnet32 --set train.method=bp"
        "r32_bp_fp32 --set model.arch=resnet32 --set train.method=bp --set backend.tf32=off"
    )
    for cfg in "${rows[@]}"; do
        [ "$(remaining)" -lt 40 ] && { echo "=== skipping ${cfg%% *}: out of time"; continue; }
        # shellcheck disable=SC2086
        step "bench ${cfg%% *}" "$(( $(remaining) < 120 ? $(remaining) : 120 ))" \
            "$b" --steps 20 --warmup 5 --set backend.device=cuda --set train.batch=1024 --label ${cfg} \
            | tee -a "$OUT/bench_gpu.jsonl" || status=1
    done
    # Where a step's device time goes (src/backend/backend_prof.h): ops per step, library vs own kernels
    # vs idle, top ops; op by op (a recorded graph would bypass the counting wrapper).
    for cfg in "r32_k16_dgl_hpff_ops --set train.method=dgl" "r32_k16_infopro_hpff_ops --set train.method=infopro"; do
        [ "$(remaining)" -lt 40 ] && { echo "=== skipping ${cfg%% *}: out of time"; continue; }
        # shellcheck disable=SC2086
        step "bench ${cfg%% *}" "$(( $(remaining) < 90 ? $(remaining) : 90 ))" \
            "$b" --label ${cfg} --set model.arch=resnet32 --set local.K=16 --set backend.device=cuda \
            --set train.batch=1024 --steps 10 --warmup 3 --ops | tee -a "$OUT/bench_gpu.jsonl" || status=1
    done
    return $status
}

# The ImageNet networks (issue 14) at 224x224, batch 128 (ResNeXt-101 and VGG13 also at their
# recipe batch 64), synthetic data, 1000 classes: BP and the local-learning rows of Table 3 plus
# VGG13, each reporting img/s and device_mb; then the anchors in the same run: torchvision
# ResNet-50 (NVIDIA's published 938 img/s TF32 on an A100) and ResNet-152 BP, and the authors'
# ImageNet code (InfoPro+HPFF K=4; .peer/imagenet_networks, skipped when absent).
run_imagenet_benchmarks() {
    local b="$BUILD/bench_step" status=0 cfg
    local -a rows=(
        "in_r50_bp_b128 --set model.arch=resnet50 --set train.method=bp"
        "in_r50_bp_fp32_b128 --set model.arch=resnet50 --set train.method=bp --set backend.tf32=off"
        "in_r101_bp_b128 --set model.arch=resnet101 --set train.method=bp"
        "in_r101_k4_infopro_hpff_b128 --set model.arch=resnet101 --set train.method=infopro --set local.K=4 --set local.il=0"
        "in_r152_bp_b128 --set model.arch=resnet152 --set train.method=bp"
        "in_r152_k4_infopro_hpff_b128 --set model.arch=resnet152 --set train.method=infopro --set local.K=4 --set local.il=0"
        "in_r152_k4_infopro_hpff_fp32_b128 --set model.arch=resnet152 --set train.method=infopro --set local.K=4 --set local.il=0 --set backend.tf32=off"
        "in_rx101_bp_b64 --set model.arch=resnext101_32x8d --set train.method=bp --set train.batch=64"
        "in_rx101_k4_infopro_hpff_b64 --set model.arch=resnext101_32x8d --set train.method=infopro --set local.K=4 --set local.il=0 --set train.batch=64"
        "in_vgg13_bp_b64 --set model.arch=vgg13 --set train.method=bp --set train.batch=64"
        "in_vgg13_k10_dgl_hpff_b64 --set model.arch=vgg13 --set train.method=dgl --set local.K=10 --set local.dgl_aux=official --set train.batch=64"
    )
    for cfg in "${rows[@]}"; do
        [ "$(remaining)" -lt 40 ] && { echo "=== skipping ${cfg%% *}: out of time"; continue; }
        # shellcheck disable=SC2086
        step "bench ${cfg%% *}" "$(( $(remaining) < 90 ? $(remaining) : 90 ))" \
            "$b" --shape 3,224,224 --steps 8 --warmup 3 --set backend.device=cuda --set model.classes=1000 \
            --set train.batch=128 --label ${cfg} | tee -a "$OUT/bench_gpu.jsonl" || status=1
    done
    local t
    for t in "resnet50 --tf32" "resnet50" "resnet152 --tf32" "resnet152"; do
        [ "$(remaining)" -lt 60 ] && { echo "=== skipping torch $t: out of time"; continue; }
        # shellcheck disable=SC2086
        step "torch $t" 90 python3 "$ROOT/bench/imagenet_torch.py" --device cuda --batch 128 --threads 1 \
            --steps 10 --warmup 3 --model $t | tee -a "$OUT/bench_gpu.jsonl" || status=1
    done
    # Both precisions: our rows above run TF32 by default (backend.tf32) and fp32 with it off.
    for t in "" "--tf32"; do
        [ -d "$ROOT/.peer/imagenet_networks" ] && [ "$(remaining)" -ge 60 ] || continue
        # shellcheck disable=SC2086
        HPFF_PEER_DIR="$ROOT/.peer" step "authors resnet152 k4 $t" 120 python3 "$ROOT/bench/imagenet_torch.py" \
            --device cuda --batch 128 --threads 1 --steps 5 --warmup 2 --model authors_resnet152_k4 $t \
            | tee -a "$OUT/bench_gpu.jsonl" || status=1
    done
    return $status
}

# Libraries the GPU image lacks, unpacked from Debian packages into .deps/root (ignored by git,
# see .gitignore; carried to the machine): point pkg-config, CMake and the loader at them. On a
# machine with apt, make it once in the repository root:
#   mkdir -p .deps/debs && (cd .deps/debs &&
#   apt-get download libinih-dev libinih1 && for f in *.deb; do dpkg -x "$f" ../root; done)
# and name .deps in the device tool's `carry`. The authors' code for run_peer goes in .peer
# (.peer/network = their "Exp on CIFAR_SVHN_STL/network" package, .peer/anchor_bench.py from
# ../shared/bench/peer), likewise ignored and carried.
use_carried_deps() {
    local r="$ROOT/.deps/root/usr"
    [ -d "$r" ] || return 0
    for pc in "$r"/lib/x86_64-linux-gnu/pkgconfig/*.pc; do
        [ -f "$pc" ] && sed -i "s|^prefix=.*|prefix=$r|" "$pc"
    done
    export PKG_CONFIG_PATH="$r/lib/x86_64-linux-gnu/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    export LD_LIBRARY_PATH="$r/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export CMAKE_PREFIX_PATH="$r${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
    echo "=== using carried libraries in $r"
}

# The authors' PyTorch code (InfoPro+HPFF), same GPU, same run: ../shared/bench/peer/anchor_bench.py
# with their network package in .peer/network (never committed; see ../shared/bench/ANCHORS.md).
run_peer() {
    [ -f "$ROOT/.peer/anchor_bench.py" ] || { echo "=== peer: .peer/anchor_bench.py absent, skipped"; return 0; }
    local args
    for args in "32 16 1024 20" "110 55 1024 6"; do
        [ "$(remaining)" -lt 60 ] && { echo "=== skipping peer $args: out of time"; continue; }
        # shellcheck disable=SC2086
        HPFF_PEER_DIR="$ROOT/.peer" step "peer $args" 150 python3 "$ROOT/.peer/anchor_bench.py" $args \
            | tee -a "$OUT/bench_peer.txt"
    done
}


run_torch_bp() {
    # PyTorch end-to-end backprop of the same CIFAR ResNets (fp32, TF32, bf16 channels-last): the
    # anchor the r32_bp rows are compared with (../shared/bench/peer/bp_fast.py, copied to .peer).
    if [ -f "$ROOT/.peer/bp_fast.py" ] && [ "$(remaining)" -ge 60 ]; then
        step "pytorch bp" 120 python3 "$ROOT/.peer/bp_fast.py" | tee -a "$OUT/bench_peer.txt"
    fi
}

# The ablation with seeds, GPU size (issue 17; bench/ablation.sh gpu: ResNet-32 K=16 on the whole
# of Fashion-MNIST, batch 1024, 100 epochs, 11 rows x 3 seeds; several GPU-hours, so it runs only
# when asked: ABLATION_S=<seconds> gives it that long on top of BUDGET_S (ABLATION_EPOCHS,
# ABLATION_SEEDS, ABLATION_ROWS, ABLATION_JOBS shrink it). Needs data/fmnist.h5 (carried) or
# Debian's dataset-fashion-mnist on the machine. A cut-short set still reports its finished runs
# (bench/ablation_report.py); the runs, checkpoints and report land in $OUT/ablation_gpu.
run_ablation() {
    local s="${ABLATION_S:-0}"
    [ "$s" -gt 0 ] || { echo "=== ablation: skipped (set ABLATION_S=<seconds> to run bench/ablation.sh gpu)"; return 0; }
    EPOCHS="${ABLATION_EPOCHS:-}" SEEDS="${ABLATION_SEEDS:-0 1 2}" ROWS="${ABLATION_ROWS:-}" \
        JOBS="${ABLATION_JOBS:-4}" BUILD="$BUILD" REPORT=0 \
        step "ablation (gpu size)" "$s" bash bench/ablation.sh gpu "$OUT/ablation_gpu"
    local rc=$?
    /usr/bin/python3 bench/ablation_report.py "$OUT/ablation_gpu" --title "Fashion-MNIST, ResNet-32 K=16, GPU" \
        > "$OUT/ablation_gpu_report.txt" 2>&1 || rc=1
    cat "$OUT/ablation_gpu_report.txt"
    return $rc
}

# PARTS picks what runs after the build (default: all of them), e.g. PARTS="torchbp imagenet" for a
# short rerun on a machine still warm from a full one.
PARTS="${PARTS:-tests cifar peer torchbp imagenet ablation}"
part() { case " $PARTS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

main() {
    local status=0
    cd "$ROOT" || return 1
    use_carried_deps
    environment
    step configure 60 cmake -S . -B "$BUILD" -DHPFF_CUDA=ON -DHPFF_CUDA_ARCHS=90 || return 1
    step build 210 cmake --build "$BUILD" -j"$JOBS" || return 1
    # HPFF_REQUIRE_GPU turns the no-device skip (exit 77) into a failure: here a GPU must be seen.
    if part tests; then
        HPFF_REQUIRE_GPU=1 step "ctest -L gpu" 120 ctest --test-dir "$BUILD" -L gpu --output-on-failure \
            --output-junit "$OUT/ctest_gpu.xml" || status=1
    fi
    if part cifar; then run_benchmarks || status=1; fi
    if part peer; then run_peer || status=1; fi   # the authors' code right after the rows it is compared with
    if part torchbp; then run_torch_bp || status=1; fi
    if part imagenet; then run_imagenet_benchmarks || status=1; fi
    if part ablation; then run_ablation || status=1; fi
    echo "=== done: $([ $status -eq 0 ] && echo PASS || echo FAIL)"
    return $status
}

mkdir -p "$OUT" && OUT="$(cd "$OUT" && pwd)" || exit 1
main "$@" 2>&1 | tee "$OUT/gpu_log.txt"
