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
declare -A rows=(
  [bp]="--set train.method=bp --set local.K=1"
  [dgl]="--set train.method=dgl --set local.cl=off --set local.pff=off"
  [dgl_hilo]="--set train.method=dgl --set local.pff=off"
  [dgl_hpff]="--set train.method=dgl"
  [infopro]="--set train.method=infopro --set local.cl=off --set local.pff=off --set local.il_loss=full --set local.infopro_aux=1c2f"
  [infopro_hpff]="--set train.method=infopro"
  [predsim]="--set train.method=predsim --set local.cl=off --set local.pff=off"
  [predsim_hpff]="--set train.method=predsim"
)
order=(bp dgl dgl_hilo dgl_hpff infopro infopro_hpff predsim predsim_hpff)
for r in "${order[@]}"; do
  # shellcheck disable=SC2086
  "$BUILD/hpff_pipe" "${common[@]}" ${rows[$r]} --set train.run_dir="$OUT/$r" > "$OUT/$r.log" 2>&1
  echo "$r: $(grep '^done:' "$OUT/$r.log")"
done
/usr/bin/python3 bench/plot_metrics.py "${order[@]/#/$OUT/}" --labels "${order[@]}" --out "$OUT/curves.png" \
  --title "Fashion-MNIST, ResNet-20 w8, K=8, $EPOCHS epochs, CPU"
