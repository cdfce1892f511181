#!/bin/bash
# Pipeline throughput on this machine: ResNet-32 K=16 DGL+HPFF, batch 128, one thread per rank,
# -np 1 and -np 2, strict and delayed cascade; then the simulator's prediction from per-module
# costs measured by bench_step --profile, for comparison and for 4..64 ranks.
#   bench/bench_pipeline.sh [BUILD_DIR]      (prints markdown rows; needs mpirun)
set -euo pipefail
BUILD=${1:-build}
W=$(mktemp -d /tmp/hpff_bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$BUILD/tests/make_tiny_dataset" "$W/data.h5" 4096 32
COMMON=(--config configs/quickstart.ini --set data.train_file="$W/data.h5" --set data.pad_to=0
        --set model.arch=resnet32 --set local.K=16 --set local.split=code --set train.method=dgl
        --set train.eval=off --set train.max_steps=24 --set train.log_every=4 --set train.ckpt_every_epochs=0)
echo "| ranks | cascade | img/s (steady state) | speed-up vs -np 1 |"
echo "| ---: | --- | ---: | ---: |"
base=""
for np in 1 2; do
  for mode in strict delayed; do
    [ "$np" = 1 ] && [ "$mode" = delayed ] && continue
    run="$W/run_${np}_$mode"
    mpirun --bind-to core -np "$np" "$BUILD/hpff_pipe" "${COMMON[@]}" --set pipeline.cascade="$mode" \
      --set train.run_dir="$run" > "$run.log" 2>&1
    # the last rank's step records after the first two windows (warm-up)
    f="$run/metrics.jsonl"; [ "$np" -gt 1 ] && f="$run/metrics.rank$((np - 1)).jsonl"
    ips=$(grep '"type":"step"' "$f" | tail -n +3 | sed 's/.*"img_per_s":\([0-9.]*\).*/\1/' |
          awk '{s += $1; n++} END {printf "%.1f", s / n}')
    [ -z "$base" ] && base=$ips
    echo "| $np | $mode | $ips | $(awk -v a="$ips" -v b="$base" 'BEGIN {printf "%.2fx", a / b}') |"
  done
done
echo
"$BUILD/bench_step" --set model.arch=resnet32 --set local.K=16 --set train.method=dgl --set train.batch=128 \
  --steps 6 --warmup 2 --profile > "$W/prof.jsonl"
"$BUILD/bench_step" --set model.arch=resnet32 --set train.method=bp --set train.batch=128 --steps 4 --warmup 1 > "$W/bp.jsonl"
python3 bench/pipeline_sim.py "$W/prof.jsonl" --bp "$W/bp.jsonl" --ranks 1 2 4 8 16 64
