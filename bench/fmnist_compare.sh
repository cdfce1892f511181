#!/bin/bash
# Fashion-MNIST, CPU, one process: BP and each base method with and without HiLo / HPFF, same
# seed, epochs and network (ResNet-20 width 8 cut into K = 8 modules), then the learning curves.
#   bench/fmnist_compare.sh [BUILD_DIR] [OUT_DIR] [EPOCHS]
# Prints one summary row per run; writes OUT_DIR/<row>/ (metrics) and OUT_DIR/curves.png.
set -euo pipefail
BUILD=${1:-build}
OUT=${2:-runs/fmnist_compare}
EPOCHS=${3:-2}
mkdir -p "$OUT"
common=(--config configs/quickstart.ini --set model.arch=resnet20 --set model.width=8
        --set train.epochs="$EPOCHS" --set train.log_every=100 --set local.K=8 --set local.split=even)
source "$(dirname "${BASH_SOURCE[0]}")/method_rows.sh"   # ROW_ARGS
order=(bp dgl_il dgl_hilo dgl_hpff infopro infopro_hpff predsim predsim_hpff)
for r in "${order[@]}"; do
  # shellcheck disable=SC2086
  "$BUILD/hpff_pipe" "${common[@]}" ${ROW_ARGS[$r]} --set train.run_dir="$OUT/$r" > "$OUT/$r.log" 2>&1
  echo "$r: $(grep '^done:' "$OUT/$r.log")"
done
/usr/bin/python3 bench/plot_metrics.py "${order[@]/#/$OUT/}" --labels "${order[@]}" --out "$OUT/curves.png" \
  --title "Fashion-MNIST, ResNet-20 w8, K=8, $EPOCHS epochs, CPU"
