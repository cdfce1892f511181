#!/bin/bash
# Replicas of the pipeline on this machine (PP x DP, issue 16): ResNet-32 K=16 DGL+HPFF, batch 128
# per replica, one thread per rank, synthetic 32x32x3 data, strict cascade:
#   -np 1 (1 stage x 1 replica), -np 2 as 1 stage x 2 replicas, -np 2 as 2 stages x 1 replica.
# Global img/s (all replicas) over the step windows after the first two (warm-up), averaged over
# REPEATS runs of each row, run in turn. Needs a quiet machine with 2 free cores; the load average
# before and after is printed with the rows.
#   bench/bench_replicas.sh [BUILD_DIR] [REPEATS]      (prints markdown rows; needs mpirun)
set -euo pipefail
BUILD=${1:-build}
REPEATS=${2:-2}
W=$(mktemp -d /tmp/hpff_bench_rep.XXXXXX)
trap 'rm -rf "$W"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$BUILD/tests/make_tiny_dataset" "$W/data.h5" 8192 32
COMMON=(--config configs/quickstart.ini --set data.train_file="$W/data.h5" --set data.pad_to=0
        --set model.arch=resnet32 --set local.K=16 --set local.split=code --set train.method=dgl
        --set train.batch=128 --set train.eval=off --set train.max_steps=24 --set train.log_every=4
        --set train.ckpt_every_epochs=0 --set pipeline.balance=measure)
# global img/s of one run: the last rank of replica 0 logs global_img_per_s (img_per_s x replicas)
rate() {
  local f=$1
  grep '"type":"step"' "$f" | tail -n +3 |
    sed -e 's/.*"global_img_per_s":\([0-9.]*\).*/\1/;t' -e 's/.*"img_per_s":\([0-9.]*\).*/\1/' |
    awk '{s += $1; n++} END {printf "%.1f", s / n}'
}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| -np | grid (stages x replicas) | global img/s (runs) | mean | vs -np 1 |"
echo "| ---: | --- | --- | ---: | ---: |"
declare -A runs
rows=("1 1" "2 1" "2 2")   # "np stages"
for rep in $(seq "$REPEATS"); do
  for row in "${rows[@]}"; do
    read -r np stages <<< "$row"
    run="$W/run_${np}_${stages}_$rep"
    mpirun --bind-to core -np "$np" "$BUILD/hpff_pipe" "${COMMON[@]}" --set pipeline.stages="$stages" \
      --set train.run_dir="$run" > "$run.log" 2>&1 || { echo "run failed: $(tail -3 "$run.log")"; exit 1; }
    f="$run/metrics.jsonl"; [ "$stages" -gt 1 ] && f="$run/metrics.rank$((stages - 1)).jsonl"
    runs[$row]="${runs[$row]:-} $(rate "$f")"
  done
done
base=""
for row in "${rows[@]}"; do
  read -r np stages <<< "$row"
  mean=$(echo "${runs[$row]}" | awk '{for (i = 1; i <= NF; i++) s += $i; printf "%.1f", s / NF}')
  [ -z "$base" ] && base=$mean
  printf "| %d | %d x %d | %s | %s | %s |\n" "$np" "$stages" $((np / stages)) "$(echo ${runs[$row]} | tr ' ' '/')" \
    "$mean" "$(awk -v a="$mean" -v b="$base" 'BEGIN {printf "%.2fx", a / b}')"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
