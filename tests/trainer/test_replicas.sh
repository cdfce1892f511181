#!/bin/bash
# Replicas of the pipeline (PP x DP; ARCHITECTURE "Replicas of the pipeline") on the CPU backend,
# up to -np 4 oversubscribed: strict 2 stages x 2 replicas ends bitwise equal to 1 stage x 2
# replicas (parameters, momentum, the BN state of every replica); delayed 2 x 2 keeps its rule
# (the in-process reference is tests/test_dp_step.c) and stays one model; an epoch with
# evaluation keeps the replicas identical (pipeline.check_replicas = 1) and a perturbed replica is
# caught; backend.graph replays average like op-by-op steps; resume 2x2 -> 2x2 equals an
# uninterrupted run and 2x2 -> 2x1 continues the same model at the same place of the epoch; a rank
# of replica 1 killed by a signal ends the job; a stage count that does not divide -np is refused
# with the values that work.
. "$(dirname "$0")/common.sh" "$@"
MPIRUN="mpirun --oversubscribe -np"
tiny_config "$WORK/c.ini"
sed -i 's/^arch = resnet8/arch = resnet14/' "$WORK/c.ini"   # 6 blocks: room for 4 modules
cat >> "$WORK/c.ini" <<EOC
method = dgl
epochs = 1
max_steps = 4
[local]
K = 4
split = even
[pipeline]
balance = flops
EOC
run() {   # run NP STAGES RUN_DIR [--set ...]
  local np=$1 stages=$2 dir=$3; shift 3
  $MPIRUN "$np" "$BIN" --config "$WORK/c.ini" --set pipeline.stages="$stages" --set train.run_dir="$dir" "$@" \
    > "$dir.log" 2>&1 || { fail "mpirun -np $np stages=$stages $* failed:"$'\n'"$(tail -5 "$dir.log")"; return 1; }
}
same() { if "$CKDIFF" "$2" "$3"; then pass; else fail "$1"; fi; }
differ() { if "$CKDIFF" "$2" "$3" > /dev/null 2>&1; then fail "$1"; else pass; fi; }

# strict: 2 x 2 = 1 x 2 bitwise; the grid is printed; replicas see other data than one process
run 2 1 "$WORK/s12" && pass
run 4 2 "$WORK/s22" --set pipeline.check_replicas=1 && pass
run 1 1 "$WORK/s11" && pass
same "strict 2x2 differs from 1x2" "$WORK/s12" "$WORK/s22"
differ "1x2 equals one process (the replicas read no data of their own)" "$WORK/s11" "$WORK/s12"
grep -q "grid: 2 stages x 2 replicas" "$WORK/s22.log" && pass || fail "grid not printed: $(head -20 "$WORK/s22.log")"
# BN statistics stay per replica: the checkpoint keeps replica 0's as the model's and every replica's
/usr/bin/python3 - "$WORK/s22/checkpoints/step-000000004" <<'EOP' && pass || fail "the checkpoint lacks every replica's BN statistics"
import glob, sys, h5py, numpy as np
for p in sorted(glob.glob(sys.argv[1] + "/rank*.h5")):
    with h5py.File(p, "r") as f:
        st, allr = f["state"][()], f["state_replicas"][()]
        assert allr.size == 2 * st.size and f.attrs["replicas"] == 2, (p, allr.size, st.size)
        assert np.array_equal(allr[:st.size], st), p + ": replica 0's entry is not the model's state"
        assert not np.array_equal(allr[st.size:], st), p + ": replica 1's statistics equal replica 0's"
EOP
# delayed: 2 x 2 runs as one model (checked every step) and differs from strict
run 4 2 "$WORK/d22" --set pipeline.cascade=delayed --set pipeline.ranges=0,1-3 --set pipeline.check_replicas=1 && pass
differ "delayed 2x2 equals strict" "$WORK/s22" "$WORK/d22"
# backend.graph (the op recorder on the CPU): recorded and replayed steps average after the replay,
# bitwise as op by op, strict and delayed
run 4 2 "$WORK/g22" --set backend.graph=on && pass
same "2x2 with backend.graph differs from op by op" "$WORK/s22" "$WORK/g22"
run 4 2 "$WORK/dg22" --set pipeline.cascade=delayed --set pipeline.ranges=0,1-3 --set backend.graph=on && pass
same "delayed 2x2 with backend.graph differs from op by op" "$WORK/d22" "$WORK/dg22"
# a whole epoch with evaluation split over the replicas; the test error counts every test image once
run 4 2 "$WORK/e22" --set train.max_steps=0 --set train.epochs=2 --set pipeline.check_replicas=1 && pass
grep -q "epoch 2/2 done: test err" "$WORK/e22.log" && pass || fail "no evaluation line: $(tail -3 "$WORK/e22.log")"
grep -q '"type":"epoch".*"test_images":64' "$WORK/e22/metrics.rank1.jsonl" && pass \
  || fail "evaluation did not count the 64 test images once: $(grep '"type":"epoch"' "$WORK/e22/metrics.rank1.jsonl")"
run 4 2 "$WORK/e22d" --set train.max_steps=0 --set train.epochs=2 --set pipeline.check_replicas=1 \
  --set pipeline.cascade=delayed && pass
# a perturbed replica (rank 1 of a 1 x 2 grid trains with another learning rate) is caught at once
expect_fail perturbed "replica 1 differs from replica 0" timeout 60 mpirun --oversubscribe \
  -np 1 "$BIN" --config "$WORK/c.ini" --set pipeline.stages=1 --set train.run_dir="$WORK/bad" --set pipeline.check_replicas=1 : \
  -np 1 "$BIN" --config "$WORK/c.ini" --set pipeline.stages=1 --set train.run_dir="$WORK/bad" --set pipeline.check_replicas=1 \
  --set train.lr=0.07
# resume: 2 x 2 -> 2 x 2 equals the uninterrupted run, strict and delayed
run 4 2 "$WORK/r22" --set train.max_steps=2 && \
  $MPIRUN 4 "$BIN" --resume "$WORK/r22" --set train.max_steps=4 > "$WORK/r22.resume.log" 2>&1 && pass \
  || fail "2x2 resume failed: $(tail -3 "$WORK/r22.resume.log")"
same "2x2 resumed as 2x2 differs from the uninterrupted run" "$WORK/s22" "$WORK/r22"
run 4 2 "$WORK/rd22" --set train.max_steps=2 --set pipeline.cascade=delayed --set pipeline.ranges=0,1-3 && \
  $MPIRUN 4 "$BIN" --resume "$WORK/rd22" --set train.max_steps=4 > "$WORK/rd22.resume.log" 2>&1 && pass \
  || fail "delayed 2x2 resume failed: $(tail -3 "$WORK/rd22.resume.log")"
same "delayed 2x2 resumed differs from the uninterrupted run" "$WORK/d22" "$WORK/rd22"
# 2 x 2 -> 2 x 1: the same model continues at the same place of the epoch's permutation (2 steps of
# 2 replicas = 4 batches of one): equal to resuming a copy whose checkpoint says 1 replica, batch 4
cp -r "$WORK/r22" "$WORK/r21" && cp -r "$WORK/r22" "$WORK/r21ref" && rm -rf "$WORK"/r21*/checkpoints/step-000000004
/usr/bin/python3 - "$WORK/r21ref/checkpoints/step-000000002" <<'EOP' && pass || fail "could not edit the reference checkpoint"
import glob, sys, h5py
for p in glob.glob(sys.argv[1] + "/rank*.h5"):
    with h5py.File(p, "r+") as f:
        assert f.attrs["replicas"] == 2 and f.attrs["batch"] == 2, dict(f.attrs)
        f.attrs["replicas"], f.attrs["batch"] = 1.0, 4.0
EOP
for d in r21 r21ref; do
  $MPIRUN 2 "$BIN" --resume "$WORK/$d" --set train.max_steps=5 > "$WORK/$d.resume.log" 2>&1 && pass \
    || fail "2x2 -> 2x1 resume ($d) failed: $(tail -3 "$WORK/$d.resume.log")"
done
grep -q "continues at batch 4" "$WORK/r21.resume.log" && pass || fail "2x2 -> 2x1: position not stated: $(grep -i resum "$WORK/r21.resume.log")"
same "2x2 -> 2x1 resume is not at the same model and place" "$WORK/r21" "$WORK/r21ref"
# a stage count that does not divide -np, and a resume with another stage count, are refused
expect_fail stages-divide "these work: 1, 2, 4" $MPIRUN 4 "$BIN" --config "$WORK/c.ini" --set pipeline.stages=3 \
  --set train.run_dir="$WORK/x3"
expect_fail resume-stages "written by 2 pipeline stages" $MPIRUN 4 "$BIN" --resume "$WORK/r22" --set pipeline.stages=4
# a rank of replica 1 killed by a signal ends the whole job, non-zero, within 30 s
$MPIRUN 4 "$BIN" --config "$WORK/c.ini" --set pipeline.stages=2 --set train.run_dir="$WORK/kill" --set train.max_steps=0 \
  --set train.epochs=1000 > "$WORK/kill.log" 2>&1 &
job=$!
for _ in $(seq 150); do grep -q '"type":"step"' "$WORK/kill/metrics.rank3.jsonl" 2>/dev/null && break; sleep 0.2; done
victim=""   # world rank 2: replica 1's first stage
for pid in $(pgrep -f "hpff_pipe --config $WORK/c.ini"); do
  tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=2" && victim=$pid
done
start=$(date +%s)
if [ -n "$victim" ]; then kill -9 "$victim"; else fail "no rank process to kill"; fi
for _ in $(seq 60); do kill -0 $job 2>/dev/null || break; sleep 1; done
took=$(( $(date +%s) - start ))
if kill -0 $job 2>/dev/null; then fail "killed rank: job still running after ${took}s"; kill -9 $job; fi
wait $job; rc=$?
[ $rc -ne 0 ] && pass || fail "killed rank of replica 1: mpirun exited 0"
[ $took -le 30 ] && pass || fail "killed rank of replica 1: the job took ${took}s to end"
# a replica that stops answering (rank 2 stopped by SIGSTOP) ends the job after pipeline.timeout,
# naming the rank, its host and the collective that waited
$MPIRUN 4 "$BIN" --config "$WORK/c.ini" --set pipeline.stages=2 --set train.run_dir="$WORK/stall" --set train.max_steps=0 \
  --set train.epochs=1000 --set pipeline.timeout=3 > "$WORK/stall.log" 2>&1 &
job=$!
for _ in $(seq 600); do grep -q '"type":"step"' "$WORK/stall/metrics.rank3.jsonl" 2>/dev/null && break; sleep 0.2; done
grep -q '"type":"step"' "$WORK/stall/metrics.rank3.jsonl" 2>/dev/null || fail "stopped replica: no step within 120 s (the stall must come after set-up, whose collectives are not timed)"
victim=""
for pid in $(pgrep -f "hpff_pipe --config $WORK/c.ini"); do
  tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=2" && victim=$pid
done
if [ -n "$victim" ]; then kill -STOP "$victim"; else fail "no rank process to stop"; fi
for _ in $(seq 60); do kill -0 $job 2>/dev/null || break; sleep 1; done
if kill -0 $job 2>/dev/null; then fail "stopped replica: job still running after 60 s"; kill -9 $job; fi
wait $job; rc=$?
[ -n "$victim" ] && kill -9 "$victim" 2>/dev/null
[ $rc -ne 0 ] && grep -q "error on rank [0-3] (.*): MPI_I[a-z]* .* has not completed after [0-9]* s (pipeline.timeout)" "$WORK/stall.log" && pass \
  || fail "stopped replica: no timeout naming the collective (rc $rc): $(grep -m3 error "$WORK/stall.log")"
finish
