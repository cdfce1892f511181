#!/bin/bash
# The inputs of bench/pipeline_sim.py --ppdp for ImageNet ResNet-152 InfoPro+HPFF K=4 (issue 16):
# a measured CPU step of the network itself by module and phase, its end-to-end backprop step on
# the same CPU (the GPU/CPU scale), and the program's own buffers per rank for 1, 2 and 4 stages
# (strict and delayed) and for backprop at the simulated batch (sizing builds: nothing allocated).
#   [DEVICE=cuda] bench/ppdp_inputs.sh [BUILD_DIR] [OUT_PREFIX] [STEP_BATCH] [SIM_BATCH]
# (DEVICE=cuda measures the two steps on the GPU; the memory lines are sizing builds either way)
# then: python3 bench/pipeline_sim.py OUT_PREFIX_profile.jsonl --bp OUT_PREFIX_bp.jsonl \
#         --memory OUT_PREFIX_memory.jsonl --ppdp
set -euo pipefail
BUILD=${1:-build}
OUT=${2:-bench/results_ppdp_r152}
CPU_BATCH=${3:-4}
DEVICE=${DEVICE:-cpu}
SIM_BATCH=${4:-128}
NET=(--shape 3,224,224 --set model.classes=1000 --set model.arch=resnet152)
OURS=(--set train.method=infopro --set local.K=4 --set local.il=0)
"$BUILD/bench_step" "${NET[@]}" "${OURS[@]}" --set train.batch="$CPU_BATCH" --set backend.device="$DEVICE" \
  --steps 3 --warmup 1 --profile \
  > "${OUT}_profile.jsonl"
"$BUILD/bench_step" "${NET[@]}" --set train.method=bp --set train.batch="$CPU_BATCH" --set backend.device="$DEVICE" \
  --steps 3 --warmup 1 \
  > "${OUT}_bp.jsonl"
{
  "$BUILD/bench_step" "${NET[@]}" --set train.method=bp --set train.batch="$SIM_BATCH" --memory | tail -1
  for ranks in 1 2 4; do
    "$BUILD/bench_step" "${NET[@]}" "${OURS[@]}" --set train.batch="$SIM_BATCH" --memory --ranks "$ranks" | tail -1
  done
  for ranks in 2 4; do
    "$BUILD/bench_step" "${NET[@]}" "${OURS[@]}" --set train.batch="$SIM_BATCH" --set pipeline.cascade=delayed \
      --label delayed --memory --ranks "$ranks" | tail -1
  done
} > "${OUT}_memory.jsonl"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); wrote ${OUT}_{profile,bp,memory}.jsonl"
