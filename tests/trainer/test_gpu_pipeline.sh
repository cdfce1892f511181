#!/bin/bash
# The pipeline over MPI ranks on the CUDA backend (ARCHITECTURE "Across ranks"), TF32 off.
# Args after the common two: MODE.
#  mpi  (one GPU): strict -np 2 with both ranks on one GPU and pipeline.transport = mpi ends with
#       the same parameters, momentum and BN state as -np 1 on the GPU (bitwise, else within
#       rtol 1e-6), with and without backend.graph (-np 1 with it too; and delayed -np 2 with it
#       equals delayed without); auto picks mpi there and says why; transport = nccl is refused.
#  nccl (>= 2 GPUs, a rank per GPU): strict -np 2 over nccl equals -np 1; auto picks nccl;
#       delayed over nccl equals delayed over mpi; with >= 3 GPUs, -np 3 (both upstream lanes)
#       equals -np 1 and its delayed run equals mpi's.
#  Replicas of the pipeline: on one GPU 1 x 2 and 2 x 2 average over MPI (host staging) and 2 x 2
#  equals 1 x 2; with a GPU each, 1 x 2 averages with ncclAllReduce and equals the MPI averages,
#  and with >= 4 GPUs strict 2 x 2 over NCCL equals 1 x 2.
# Exit 77 (ctest: skipped) when the GPUs are missing (nvidia-smi -L fails or lists too few);
# HPFF_REQUIRE_GPU=1 (tests/gpu/run.sh) makes "no GPU at all" a failure.
. "$(dirname "$0")/common.sh" "$@"
shift 2
MODE=${1:-mpi}
MPIRUN="mpirun --oversubscribe -np"
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ')
gpus=${gpus:-0}
need=1
[ "$MODE" = nccl ] && need=2
if [ "$gpus" -lt "$need" ]; then
  req=${HPFF_REQUIRE_GPU:-0}
  if [ "$gpus" -eq 0 ] && [ -n "$req" ] && [ "$req" != 0 ]; then
    echo "test_gpu_pipeline $MODE: no GPU; FAIL (HPFF_REQUIRE_GPU is set)"
    exit 1
  fi
  echo "test_gpu_pipeline $MODE: $gpus GPU(s), $need needed; skipped"
  exit 77
fi
if [ "$MODE" = mpi ]; then   # every rank on the first visible GPU
  first=${CUDA_VISIBLE_DEVICES:-0}
  export CUDA_VISIBLE_DEVICES=${first%%,*}
fi

tiny_config "$WORK/c.ini"
cat >> "$WORK/c.ini" <<EOC
method = dgl
epochs = 1
max_steps = 6
[local]
K = 3
[pipeline]
balance = flops
[backend]
device = cuda
tf32 = off
EOC
run() {   # run NP RUN_DIR [--set ...]
  local np=$1 dir=$2; shift 2
  $MPIRUN "$np" "$BIN" --config "$WORK/c.ini" --set train.run_dir="$dir" "$@" > "$dir.log" 2>&1 \
    || { fail "mpirun -np $np $* failed:"$'\n'"$(tail -5 "$dir.log")"; return 1; }
}
same() {   # same RUN_A RUN_B WHAT: bitwise, else within rtol 1e-6
  if "$CKDIFF" "$1" "$2" > "$WORK/diff.log" 2>&1; then pass
  elif "$CKDIFF" "$1" "$2" 1e-6 > "$WORK/diff.log" 2>&1; then pass; echo "$3: equal within rtol 1e-6 (not bitwise)"
  else fail "$3:"$'\n'"$(tail -5 "$WORK/diff.log")"; fi
}
says() {   # says LOG TEXT
  grep -qF -- "$2" "$1" && pass || fail "$(basename "$1"): no '$2' in:"$'\n'"$(grep -m3 'transport\|hpff_pipe:' "$1")"
}

run 1 "$WORK/np1" && pass
grep -q "backend cuda" "$WORK/np1.log" && pass || fail "-np 1 did not run on the CUDA backend"
if [ "$MODE" = mpi ]; then
  run 2 "$WORK/np2" --set pipeline.transport=mpi && pass
  says "$WORK/np2.log" "transport mpi (pipeline.transport = mpi)"
  same "$WORK/np1" "$WORK/np2" "strict -np 2 over mpi on one GPU differs from -np 1"
  # backend.graph: steps 4-6 replay recorded graphs (one per stretch between transport calls)
  run 1 "$WORK/np1g" --set backend.graph=on && pass
  says "$WORK/np1g.log" "training step recorded as 1 graph"
  same "$WORK/np1" "$WORK/np1g" "-np 1 with backend.graph differs from op by op"
  run 2 "$WORK/np2g" --set pipeline.transport=mpi --set backend.graph=on && pass
  says "$WORK/np2g.log" "graphs between transport calls"
  same "$WORK/np1" "$WORK/np2g" "strict -np 2 over mpi with backend.graph differs from -np 1"
  run 2 "$WORK/d2" --set pipeline.transport=mpi --set pipeline.cascade=delayed && pass
  run 2 "$WORK/d2g" --set pipeline.transport=mpi --set pipeline.cascade=delayed --set backend.graph=on && pass
  same "$WORK/d2" "$WORK/d2g" "delayed -np 2 over mpi: backend.graph differs from op by op"
  run 2 "$WORK/auto" --set train.max_steps=1 && pass
  says "$WORK/auto.log" "transport mpi (auto: 2 ranks on a node with 1 GPU, and NCCL refuses two ranks on one GPU)"
  expect_fail nccl-one-gpu "NCCL refuses two ranks on one GPU; use pipeline.transport=mpi" \
    $MPIRUN 2 "$BIN" --config "$WORK/c.ini" --set train.run_dir="$WORK/refused" --set pipeline.transport=nccl
  # replicas of the pipeline sharing the GPU: averages over MPI through host staging; 2 x 2 = 1 x 2
  run 2 "$WORK/r12" --set pipeline.stages=1 --set pipeline.check_replicas=1 && pass
  says "$WORK/r12.log" "gradient averages over 2 replicas: MPI_Iallreduce on host memory"
  run 4 "$WORK/r22" --set pipeline.stages=2 --set pipeline.transport=mpi --set pipeline.check_replicas=1 && pass
  same "$WORK/r12" "$WORK/r22" "replicas on one GPU: strict 2x2 differs from 1x2"
else
  run 2 "$WORK/np2" --set pipeline.transport=nccl && pass
  says "$WORK/np2.log" "transport nccl (pipeline.transport = nccl"
  same "$WORK/np1" "$WORK/np2" "strict -np 2 over nccl differs from -np 1"
  run 2 "$WORK/auto" --set train.max_steps=1 && pass
  says "$WORK/auto.log" "transport nccl (auto"
  run 2 "$WORK/d2n" --set pipeline.transport=nccl --set pipeline.cascade=delayed && pass
  run 2 "$WORK/d2m" --set pipeline.transport=mpi --set pipeline.cascade=delayed && pass
  same "$WORK/d2m" "$WORK/d2n" "delayed -np 2: nccl differs from mpi"
  if [ "$gpus" -ge 3 ]; then
    run 3 "$WORK/np3" --set pipeline.transport=nccl && pass
    same "$WORK/np1" "$WORK/np3" "strict -np 3 over nccl differs from -np 1"
    run 3 "$WORK/d3n" --set pipeline.transport=nccl --set pipeline.cascade=delayed && pass
    run 3 "$WORK/d3m" --set pipeline.transport=mpi --set pipeline.cascade=delayed && pass
    same "$WORK/d3m" "$WORK/d3n" "delayed -np 3: nccl differs from mpi"
  fi
  # replicas of the pipeline, a GPU each: ncclAllReduce on the communication stream equals the MPI
  # averages; with >= 4 GPUs strict 2 x 2 over NCCL equals 1 x 2
  run 2 "$WORK/r12n" --set pipeline.stages=1 --set pipeline.check_replicas=1 && pass
  says "$WORK/r12n.log" "gradient averages over 2 replicas: ncclAllReduce"
  run 2 "$WORK/r12m" --set pipeline.stages=1 --set pipeline.transport=mpi && pass
  same "$WORK/r12m" "$WORK/r12n" "1x2 replicas: ncclAllReduce averages differ from MPI's"
  if [ "$gpus" -ge 4 ]; then
    run 4 "$WORK/r22n" --set pipeline.stages=2 --set pipeline.check_replicas=1 && pass
    same "$WORK/r12n" "$WORK/r22n" "replicas over nccl: strict 2x2 differs from 1x2"
  fi
fi
finish
