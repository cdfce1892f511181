#!/bin/bash
# 16 ranks on two nodes of 8 GPUs (Open MPI with a hostfile): S stages x R replicas. Ranks are
# placed in blocks of 8 per node (--map-by ppr:8:node), so with S dividing 8 every pipeline stays
# on one node (activations over NVLink) and only the gradient averages of each stage's replicas
# cross the network (NCCL, one communicator per stage). Rank 0 prints the grid with the host of
# every replica and names any pipeline that spans hosts.
#   HOSTFILE=launch/hostfile.example launch/ppdp_2nodes_hostfile.sh CONFIG.ini [--set k=v ...]
# (mpirun directly, for the placement options; launch/hpff-mpirun's SIGTERM -> SIGUSR1 forwarding,
# which lets a stopped run write a complete checkpoint first, takes the same arguments after -np.)
set -euo pipefail
CONFIG=${1:?usage: launch/ppdp_2nodes_hostfile.sh CONFIG.ini [--set k=v ...]}
shift
HOSTFILE=${HOSTFILE:-launch/hostfile.example}
STAGES=${STAGES:-0}   # 0: the default rule
extra=()
if [ "$(id -u)" = 0 ]; then extra+=(--allow-run-as-root); fi
# -x passes the environment NCCL reads on the remote nodes (add NCCL_SOCKET_IFNAME / NCCL_IB_HCA
# for your fabric); NCCL_DEBUG=WARN makes NCCL name the failing link when a node drops out.
exec mpirun "${extra[@]}" -np 16 --hostfile "$HOSTFILE" --map-by ppr:8:node --bind-to numa \
  -x LD_LIBRARY_PATH -x NCCL_DEBUG="${NCCL_DEBUG:-WARN}" \
  ./build/hpff_pipe --config "$CONFIG" --set pipeline.stages="$STAGES" "$@"
