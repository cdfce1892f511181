#!/bin/bash
# The ImageNet loader next to torchvision's: synthetic ImageNet-like JPEGs (500x375 and ~1 MP,
# quality 90) converted with hpff_data imagenet, then in the same run bench_loader --jpeg
# (libjpeg-turbo threads) and torchvision ImageFolder + DataLoader (PIL), both doing
# RandomResizedCrop(224) + flip and Resize(256) + CenterCrop(224) with ImageNet normalisation,
# at 1 and 2 threads / workers. Run it on a quiet machine; it prints the load average around
# each part. Usage: bench/bench_imagenet_loader.sh [BUILD_DIR] [N_SMALL] [N_LARGE]
set -eu
BUILD=${1:-build}
N_SMALL=${2:-2560}
N_LARGE=${3:-640}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench_imagenet.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
load() { echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"; }

echo "# $(date -u +%FT%TZ) $(uname -n): $(lscpu | sed -n 's/^Model name: *//p')"
for spec in "small 500 375 $N_SMALL" "large 1155 866 $N_LARGE"; do
  set -- $spec
  name=$1 w=$2 h=$3 n=$4
  "$PY" "$HERE/imagenet_loader_torch.py" make "$WORK/$name" "$w" "$h" "$n"
  "$BUILD/hpff_data" imagenet --threads 2 "$WORK/$name" "$WORK/$name.h5" | head -1
  load
  "$BUILD/bench_loader" --jpeg "$WORK/$name.h5" --threads 1,2 --mode train,eval --batch 64 --epochs 2
  "$BUILD/bench_loader" --jpeg "$WORK/$name.h5" --threads 1 --mode train,eval --batch 64 --epochs 2 --dct off
  load
  "$PY" "$HERE/imagenet_loader_torch.py" run "$WORK/$name" --workers 0,1,2 --modes train,eval --batch 64 --epochs 2
  load
done
