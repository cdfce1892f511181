#!/bin/bash
# Pipeline over MPI ranks on the CPU backend (ARCHITECTURE "Across ranks", ALGORITHM §9).
# strict: -np 2, 3 and 4 (uneven ranges among them) end with the same parameters, momentum and
# BN state as -np 1, bitwise, also at train.threads = 2, with oneDNN's blocked layouts at width 16
# (and equal to NCHW layouts there), and with backend.graph (recorded steps replayed; one rank and
# three, and over two epochs with evaluation); delayed runs, differs from strict and matches its single-process
# rule (tests/test_hilo_ref.c); a killed rank ends the job; a resumed 2-rank run equals an
# uninterrupted one. Args after the common two: METHOD (default dgl).
. "$(dirname "$0")/common.sh" "$@"
shift 2
METHOD=${1:-dgl}
tiny_pipeline_config "$WORK/c.ini" "$METHOD" 6
run() { mpi_run "$@"; }   # run NP RUN_DIR [--set ...]
run 1 "$WORK/np1" && pass
run 2 "$WORK/np2" && pass
run 3 "$WORK/np3" --set pipeline.ranges=0-1,2,3 && pass
run 4 "$WORK/np4" && pass
for np in 2 3 4; do
  if "$CKDIFF" "$WORK/np1" "$WORK/np$np"; then pass; else fail "strict -np $np differs from -np 1"; fi
done
# two worker threads per rank (each convolution's images split between them, weight gradients
# added in worker order): -np 2 still equals -np 1 at that thread count
run 1 "$WORK/t2np1" --set train.threads=2 && pass
run 2 "$WORK/t2np2" --set train.threads=2 && pass
if "$CKDIFF" "$WORK/t2np1" "$WORK/t2np2"; then pass; else fail "strict -np 2 differs from -np 1 at 2 threads"; fi
# oneDNN's channel-blocked layouts between the convolutions of residual blocks and heads
# (backend.cpu_conv = dnnl, the default) change no bit: at width 16 (every stage blocked) -np 2
# equals -np 1, and both equal -np 1 with NCHW tensors between the convolutions (dnnl_nchw)
if $MPIRUN 1 "$BIN" --config "$WORK/c.ini" --set train.run_dir="$WORK/w16nchw" --set model.width=16 \
    --set backend.cpu_conv=dnnl_nchw > "$WORK/w16nchw.log" 2>&1; then
  pass
  run 1 "$WORK/w16" --set model.width=16 && pass
  run 2 "$WORK/w16np2" --set model.width=16 && pass
  if "$CKDIFF" "$WORK/w16" "$WORK/w16np2"; then pass; else fail "width 16 (blocked): -np 2 differs from -np 1"; fi
  if "$CKDIFF" "$WORK/w16" "$WORK/w16nchw"; then pass; else fail "width 16: blocked layouts differ from NCHW (dnnl_nchw)"; fi
elif ! grep -q "has no oneDNN" "$WORK/w16nchw.log"; then
  fail "backend.cpu_conv = dnnl_nchw failed: $(tail -3 "$WORK/w16nchw.log")"
fi
grep -q "pipeline plan: 4 modules on 3 ranks" "$WORK/np3.log" && pass || fail "plan not printed"
# the plan's memory column counts each rank's buffers without allocating: it must equal the
# buffers the ranks report at the end (per-rank table, "arenas")
planned=$(awk '/^pipeline plan/{p=1; next} p && $1 ~ /^[0-9]+$/ && $7 == "MiB" {printf "%s ", $6} /balance:/{exit}' "$WORK/np3.log")
reported=$(awk '/^per-rank time/{p=1; next} p && $1 ~ /^[0-9]+$/ {printf "%s ", $10}' "$WORK/np3.log")
[ -n "$planned" ] && [ "$planned" = "$reported" ] && pass \
  || fail "plan memory per rank ($planned) differs from the ranks' buffers ($reported)"
# backend.graph (on the CPU the op recorder: the graph path of src/pipeline/stage.c): steps 1-2 op by op,
# step 3 recorded (one segment per stretch between transport calls), 4-6 replayed: bitwise as
# op by op, on one rank and on three
run 1 "$WORK/g1" --set backend.graph=on && pass
run 3 "$WORK/g3" --set backend.graph=on --set pipeline.ranges=0-1,2,3 && pass
grep -q "training step recorded as 1 graph " "$WORK/g1.log" && pass || fail "-np 1: no graph recorded"
grep -q "graphs between transport calls" "$WORK/g3.log" && pass || fail "-np 3: no graph segments recorded"
for g in g1 g3; do
  if "$CKDIFF" "$WORK/np1" "$WORK/$g"; then pass; else fail "$g (backend.graph) differs from op-by-op -np 1"; fi
done
# ... and over two epochs with evaluation between them (eval runs op by op on the recorded buffers)
run 2 "$WORK/e2" --set train.max_steps=0 --set train.epochs=2 && pass
run 2 "$WORK/e2g" --set train.max_steps=0 --set train.epochs=2 --set backend.graph=on && pass
if "$CKDIFF" "$WORK/e2" "$WORK/e2g"; then pass; else fail "two epochs with evaluation: graph run differs"; fi
# delayed: runs and differs from strict (its exact rule is checked by test_hilo_ref)
# (boundary after module 0: with InfoPro's lambda schedule at K = 4 the cascade of module 2 has
# weight 0, so a boundary after module 1 would carry a zero gradient and delayed = strict)
run 2 "$WORK/d2" --set pipeline.cascade=delayed --set pipeline.ranges=0,1-3 && pass
if "$CKDIFF" "$WORK/np2" "$WORK/d2" > /dev/null 2>&1; then fail "delayed equals strict"; else pass; fi
# delayed with backend.graph: the boundary rank records one graph set per step parity
run 2 "$WORK/d2g" --set pipeline.cascade=delayed --set pipeline.ranges=0,1-3 --set backend.graph=on && pass
if "$CKDIFF" "$WORK/d2" "$WORK/d2g"; then pass; else fail "delayed -np 2 with backend.graph differs from op by op"; fi
# delayed with whole epochs, evaluation and epoch checkpoints over 3 ranks ends normally
timeout 120 $MPIRUN 3 "$BIN" --config "$WORK/c.ini" --set train.run_dir="$WORK/d3e" --set pipeline.cascade=delayed \
  --set train.max_steps=0 --set train.epochs=2 > "$WORK/d3e.log" 2>&1 && grep -q "epoch 2/2 done" "$WORK/d3e.log" && pass \
  || fail "delayed -np 3 over two epochs with evaluation did not finish: $(tail -3 "$WORK/d3e.log")"
# ... and the same with backend.graph: flushes before evaluation and checkpoints make the next
# step run op by op, then the recorded sets take over again; the end state is the same
timeout 120 $MPIRUN 3 "$BIN" --config "$WORK/c.ini" --set train.run_dir="$WORK/d3eg" --set pipeline.cascade=delayed \
  --set train.max_steps=0 --set train.epochs=2 --set backend.graph=on > "$WORK/d3eg.log" 2>&1 && pass \
  || fail "delayed -np 3 with backend.graph did not finish: $(tail -3 "$WORK/d3eg.log")"
if "$CKDIFF" "$WORK/d3e" "$WORK/d3eg"; then pass; else fail "delayed -np 3 over epochs: backend.graph differs"; fi
# a rank killed by a signal mid-run ends the whole job, non-zero, within 30 s
$MPIRUN 2 "$BIN" --config "$WORK/c.ini" --set train.run_dir="$WORK/kill" --set train.max_steps=0 \
  --set train.epochs=1000 > "$WORK/kill.log" 2>&1 &
job=$!
for _ in $(seq 100); do grep -q '"type":"step"' "$WORK/kill/metrics.jsonl" 2>/dev/null && break; sleep 0.2; done
victim=$(pgrep -n -f "hpff_pipe --config $WORK/c.ini")
start=$(date +%s)
if [ -n "$victim" ]; then kill -9 "$victim"; else fail "no rank process to kill"; fi
for _ in $(seq 60); do kill -0 $job 2>/dev/null || break; sleep 1; done
took=$(( $(date +%s) - start ))
if kill -0 $job 2>/dev/null; then fail "killed rank: job still running after ${took}s"; kill -9 $job; pkill -9 -f "$WORK/c.ini"; fi
wait $job; rc=$?
[ $rc -ne 0 ] && pass || fail "killed rank: mpirun exited 0"
[ $took -le 30 ] && pass || fail "killed rank: the job took ${took}s to end"
# interrupted and resumed with 2 ranks equals uninterrupted
run 2 "$WORK/r2" --set train.max_steps=3 && \
  $MPIRUN 2 "$BIN" --resume "$WORK/r2" --set train.max_steps=6 > "$WORK/r2.resume.log" 2>&1 && pass \
  || fail "2-rank resume failed: $(tail -3 "$WORK/r2.resume.log")"
if "$CKDIFF" "$WORK/np2" "$WORK/r2"; then pass; else fail "2-rank resume differs"; fi
# the same in delayed mode: the owed boundary gradient travels in the checkpoint
run 2 "$WORK/dr2" --set pipeline.cascade=delayed --set pipeline.ranges=0,1-3 --set train.max_steps=3 && \
  $MPIRUN 2 "$BIN" --resume "$WORK/dr2" --set train.max_steps=6 > "$WORK/dr2.resume.log" 2>&1 && pass \
  || fail "delayed 2-rank resume failed: $(tail -3 "$WORK/dr2.resume.log")"
if "$CKDIFF" "$WORK/d2" "$WORK/dr2"; then pass; else fail "delayed 2-rank resume differs"; fi
# an error on one rank (here a diverging loss with nan_policy = abort) ends the whole job
expect_fail nan-abort "loss is not finite" timeout 60 $MPIRUN 2 "$BIN" --config "$WORK/c.ini" \
  --set train.run_dir="$WORK/nan" --set train.lr=1e8 --set train.max_steps=0 --set train.epochs=5
# a different rank count is refused with a clear message
expect_fail resume-np "Resume with mpirun -np 2" $MPIRUN 1 "$BIN" --resume "$WORK/r2"
finish
