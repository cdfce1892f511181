#!/bin/bash
# 8 ranks on one node with 8 GPUs: S stages x R replicas of the pipeline (PP x DP), e.g. the
# ImageNet ResNet-152 K=4 network as 4 stages x 2 replicas (pipeline.stages; default -np itself up
# to the module count, else its largest divisor not above it). Ranks 0-3 are replica 0, 4-7
# replica 1; each rank uses the GPU of its node-local rank (hpff_pipe binds it: keep every GPU
# visible to every rank, so NCCL sees one GPU per rank and carries both the activations and the
# gradient averages).
#   launch/ppdp_1node_8gpu.sh CONFIG.ini [--set section.key=value ...]
set -euo pipefail
CONFIG=${1:?usage: launch/ppdp_1node_8gpu.sh CONFIG.ini [--set k=v ...]}
shift
STAGES=${STAGES:-4}
extra=()
if [ "$(id -u)" = 0 ]; then extra+=(--allow-run-as-root); fi
# --map-by ppr:8:node:PE=N gives each rank N cores of its own for the data loader threads.
PE=$(( $(nproc) / 8 )); [ "$PE" -ge 1 ] || PE=1
exec mpirun "${extra[@]}" -np 8 --map-by "ppr:8:node:PE=$PE" --bind-to core \
  ./build/hpff_pipe --config "$CONFIG" --set pipeline.stages="$STAGES" "$@"
