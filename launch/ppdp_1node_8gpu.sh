#!/bin/bash
# 8 ranks on one node with 8 GPUs: S stages x R replicas of the pipeline (PP x DP). STAGES sets
# pipeline.stages (0: -np itself up to the module count, else its largest divisor not above it:
# 4 x 2 for a K=4 network). For ImageNet ResNet-152 K=4, STAGES=2 (2 x 4) is the grid the
# simulator finds at least 7x one GPU within DDP's memory (bench/RESULTS.md, issue 16). A
# replica's stages are consecutive ranks; each rank uses the GPU of its node-local rank
# (hpff_pipe binds it: keep every GPU visible to every rank, so NCCL sees one GPU per rank and
# carries both the activations and the gradient averages).
#   launch/ppdp_1node_8gpu.sh CONFIG.ini [--set section.key=value ...]
# (mpirun directly, for the placement options; launch/hpff-mpirun's SIGTERM -> SIGUSR1 forwarding,
# which lets a stopped run write a complete checkpoint first, takes the same arguments after -np.)
set -euo pipefail
CONFIG=${1:?usage: launch/ppdp_1node_8gpu.sh CONFIG.ini [--set k=v ...]}
shift
STAGES=${STAGES:-0}   # 0: the default rule
extra=()
if [ "$(id -u)" = 0 ]; then extra+=(--allow-run-as-root); fi
# --map-by ppr:8:node:PE=N gives each rank N cores of its own for the data loader threads.
PE=$(( $(nproc) / 8 )); [ "$PE" -ge 1 ] || PE=1
exec mpirun "${extra[@]}" -np 8 --map-by "ppr:8:node:PE=$PE" --bind-to core \
  ./build/hpff_pipe --config "$CONFIG" --set pipeline.stages="$STAGES" "$@"
