#!/bin/bash
# Fault injection (issue 11): what a pre-empted, careless or unlucky user meets must never lose
# or silently corrupt a run. Each case below failed before its fix:
#   data     hpff_data: OUT.tmp created exclusively (a planted symlink is not followed), an
#            output that is one of the inputs refused, no OUT.tmp left after a fatal error
#   disk     a full disk at a checkpoint or at config.ini leaves no temporary, keeps the previous
#            checkpoint, and the run resumes from it bit-exactly
#   corrupt  a flipped byte or a truncated newest checkpoint is detected (checksums), reported
#            by file, and resume falls back to the previous complete one (bit-exact); none
#            intact: refused
#   lock     two runs in one run dir: the second is refused naming host and PID; a fresh start
#            over an earlier run's checkpoints is refused unless --overwrite; a checkpoints path
#            that is a file is refused at start; hpff-mpirun -np without a number: usage
#   edges    a changed local.K on resume is named as such (not as a pipeline.ranges problem); a
#            key given twice in a config file is warned about with both lines; a quoted run_dir
#            does not create a folder named with the quotes;
#            a finished run resumed (max_steps or epochs reached, or max_steps lowered) does no step;
#            a diverged model (NaN, train.nan_policy = ignore) is reported not finite, its NaN
#            outputs count as wrong (100% error, not 0%) and never make the best test error
#   auto     train.resume = auto: a fresh start in an empty run dir (or one holding only an
#            incomplete checkpoint), a resume when it holds a complete one (bit-exact), nothing to
#            do when the run is finished; with --overwrite refused
#   signal   SIGTERM at a random step of a one-process run: the step finishes, a complete
#            checkpoint, one line saying how to continue, exit 143; resumed, the run ends
#            bit-equal to an uninterrupted one; a second signal while the checkpoint is being
#            written stops at once and the previous complete checkpoint still resumes exactly
#   signal_mpi  the same on 2 ranks (strict and delayed): SIGTERM to launch/hpff-mpirun,
#            SIGUSR1 to one rank only (every rank agrees on the stop step), SIGTERM to every rank
# Args after the common two: the groups to run (default: all of the above).
. "$(dirname "$0")/common.sh" "$@"
shift 2
GROUPS_WANTED=${*:-data disk corrupt lock edges auto signal signal_mpi}
DATA_BIN=$(dirname "$BIN")/hpff_data
POKE=$(dirname "$BIN")/tests/ckpt_poke
SHIM=$(dirname "$BIN")/tests/enospc_shim.so
SRC=$(cd "$(dirname "$0")/../.." && pwd)
tiny_config "$WORK/c.ini"
train() { "$BIN" --config "$WORK/c.ini" "$@"; }
step_dir() { printf '%s/checkpoints/step-%09d' "$1" "$2"; }
want() { case " $GROUPS_WANTED " in *" $1 "*) return 0 ;; esac; return 1; }
# The uninterrupted reference: 2 epochs of 8 steps, a checkpoint every 3 steps.
reference() {
  [ -d "$WORK/full" ] && return 0
  train --set train.run_dir="$WORK/full" --set train.ckpt_every=3 > "$WORK/full.log" 2>&1 \
    || fail "reference run failed: $(tail -3 "$WORK/full.log")"
}

case_data() {
  local fm=$WORK/fm
  mkdir -p "$fm"
  /usr/bin/python3 - "$fm" <<'EOP' || { fail "cannot make the idx fixture"; return; }
import gzip, struct, sys
d = sys.argv[1]
for name, n in (("train", 20), ("t10k", 10)):
    with gzip.open(f"{d}/{name}-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28) + bytes((7 * i) % 256 for i in range(n * 784)))
    with gzip.open(f"{d}/{name}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n)))
EOP
  # a planted OUT.tmp symlink is refused, its target untouched
  echo precious > "$WORK/victim"
  ln -s "$WORK/victim" "$WORK/o.h5.tmp"
  expect_fail data-symlink "never followed" "$DATA_BIN" fashion-mnist "$fm" "$WORK/o.h5"
  [ "$(cat "$WORK/victim")" = precious ] && pass || fail "hpff_data wrote through the OUT.tmp symlink"
  [ -L "$WORK/o.h5.tmp" ] && pass || fail "hpff_data removed a temporary that was not its own"
  rm -f "$WORK/o.h5.tmp"
  # the output may not be one of the inputs
  cp "$fm/train-labels-idx1-ubyte.gz" "$WORK/labels.bak"
  expect_fail data-self "is one of the input files" "$DATA_BIN" fashion-mnist "$fm" "$fm/train-labels-idx1-ubyte.gz"
  cmp -s "$fm/train-labels-idx1-ubyte.gz" "$WORK/labels.bak" && pass || fail "hpff_data replaced its own input"
  # a fatal error (out of memory for one chunk of 1500x1500 images) leaves no OUT.tmp
  if /usr/bin/python3 -c "import PIL" 2> /dev/null; then
    /usr/bin/python3 - "$WORK/img" <<'EOP'
import os, sys
from PIL import Image
for split in ("train", "test"):
    for c, v in (("a", 10), ("b", 200)):
        os.makedirs(f"{sys.argv[1]}/{split}/{c}", exist_ok=True)
        Image.new("RGB", (1500, 1500), (v, v, v)).save(f"{sys.argv[1]}/{split}/{c}/x.png")
EOP
    expect_fail data-oom "out of host memory" bash -c "ulimit -v 1500000; exec '$DATA_BIN' folder '$WORK/img' '$WORK/big.h5'"
    [ ! -e "$WORK/big.h5.tmp" ] && pass || fail "hpff_data left big.h5.tmp after running out of memory"
  else
    echo "note: no PIL for /usr/bin/python3: the out-of-memory case of hpff_data is skipped"
  fi
  # and a normal conversion still works
  "$DATA_BIN" fashion-mnist "$fm" "$WORK/o.h5" > /dev/null 2>&1 && [ -f "$WORK/o.h5" ] && [ ! -e "$WORK/o.h5.tmp" ] \
    && pass || fail "hpff_data fashion-mnist failed on the fixture"
}

case_disk() {
  reference
  local run=$WORK/disk
  # the disk is full when step 6 is written: the run stops naming the file, no temporary is
  # left, step 3 stays complete, and resuming from it ends where the uninterrupted run ends
  expect_fail disk-ckpt "step-000000006/rank0.h5.tmp" env LD_PRELOAD="$SHIM" \
    HPFF_ENOSPC_MATCH=step-000000006/rank0.h5.tmp "$BIN" --config "$WORK/c.ini" \
    --set train.run_dir="$run" --set train.ckpt_every=3
  [ -z "$(find "$run" -name '*.tmp')" ] && pass || fail "full disk left: $(find "$run" -name '*.tmp')"
  [ -f "$(step_dir "$run" 3)/COMPLETE" ] && pass || fail "the checkpoint before the full disk is gone"
  "$BIN" --resume "$run" > "$WORK/disk.resume.log" 2>&1 || fail "resume after a full disk failed: $(tail -3 "$WORK/disk.resume.log")"
  "$CKDIFF" "$WORK/full" "$run" > /dev/null && pass || fail "resume after a full disk differs from the uninterrupted run"
  # config.ini on a full disk: a clear error, no empty config.ini for a later --resume
  expect_fail disk-config "config.ini" env LD_PRELOAD="$SHIM" HPFF_ENOSPC_MATCH=config.ini.tmp \
    "$BIN" --config "$WORK/c.ini" --set train.run_dir="$WORK/disk2"
  [ ! -e "$WORK/disk2/config.ini" ] && [ ! -e "$WORK/disk2/config.ini.tmp" ] && pass \
    || fail "a full disk left config.ini or its temporary behind"
}

case_corrupt() {
  reference
  local run=$WORK/corrupt
  cp -r "$WORK/full" "$run"   # checkpoints at steps 15 and 16
  "$POKE" "$(step_dir "$run" 16)/rank0.h5" params > /dev/null || fail "ckpt_poke failed"
  "$BIN" --resume "$run" > "$WORK/corrupt.log" 2>&1 || fail "resume over a damaged checkpoint failed: $(tail -3 "$WORK/corrupt.log")"
  grep -q "step-000000016/rank0.h5: dataset 'params' fails its checksum" "$WORK/corrupt.log" && pass \
    || fail "the damaged file was not reported: $(head -5 "$WORK/corrupt.log")"
  grep -q "resumed from .*step-000000015" "$WORK/corrupt.log" && pass || fail "did not fall back to step 15"
  # falling back re-trains step 16 exactly as the uninterrupted run did
  "$CKDIFF" "$WORK/full" "$run" > /dev/null && pass || fail "the run resumed from the fallback differs"
  # truncated newest checkpoint (rank 0's file cut in half)
  local t=$WORK/trunc
  cp -r "$WORK/full" "$t"
  local f
  f="$(step_dir "$t" 16)/rank0.h5"
  truncate -s $(($(stat -c %s "$f") / 2)) "$f"
  "$BIN" --resume "$t" > "$WORK/trunc.log" 2>&1 || fail "resume over a truncated checkpoint failed"
  grep -q "step 16 is damaged.*rank0.h5" "$WORK/trunc.log" && grep -q "resumed from .*step-000000015" "$WORK/trunc.log" \
    && pass || fail "truncated checkpoint not reported or not skipped: $(head -5 "$WORK/trunc.log")"
  "$CKDIFF" "$WORK/full" "$t" > /dev/null && pass || fail "the run resumed past a truncated checkpoint differs"
  # every complete checkpoint damaged: refused
  local n=$WORK/none
  cp -r "$WORK/full" "$n"
  for s in 15 16; do "$POKE" "$(step_dir "$n" $s)/rank0.h5" momentum > /dev/null; done
  expect_fail corrupt-all "no intact checkpoint" "$BIN" --resume "$n"
}

case_lock() {
  local run=$WORK/lock
  "$BIN" --config "$WORK/c.ini" --set train.run_dir="$run" --set train.epochs=100000 --set train.eval=off \
    > "$WORK/lock1.log" 2>&1 &
  local pid=$! i
  for i in $(seq 100); do grep -q PID "$run/LOCK" 2> /dev/null && break; sleep 0.1; done
  expect_fail lock-second "PID $pid" train --set train.run_dir="$run"
  kill -9 $pid 2> /dev/null
  wait $pid 2> /dev/null
  # the kernel dropped the lock with the process: the run dir can be used again
  train --set train.run_dir="$run" --overwrite --set train.max_steps=2 > "$WORK/lock2.log" 2>&1 \
    && pass || fail "run dir still locked after its holder died: $(tail -2 "$WORK/lock2.log")"
  # a fresh start over an earlier run's checkpoints: refused; --overwrite starts afresh
  expect_fail fresh-over-old "--overwrite" train --set train.run_dir="$run"
  train --set train.run_dir="$run" --overwrite --set train.max_steps=1 > "$WORK/lock3.log" 2>&1 \
    || fail "--overwrite failed: $(tail -2 "$WORK/lock3.log")"
  [ "$(ls "$run/checkpoints")" = "step-000000001" ] && pass || fail "--overwrite kept old steps: $(ls "$run/checkpoints")"
  # a checkpoints path that is a regular file is refused before training
  mkdir -p "$WORK/ckfile"
  touch "$WORK/ckfile/checkpoints"
  expect_fail ckpt-file "is not a directory" train --set train.run_dir="$WORK/ckfile"
  [ ! -e "$WORK/ckfile/metrics.jsonl" ] && pass || fail "the run trained before finding checkpoints unusable"
  expect_fail mpirun-np "needs a number of ranks" "$SRC/launch/hpff-mpirun" -np
}

case_edges() {
  printf '[train]\nlr = 0.1\nrun_dir = "%s"\nlr = 0.2\n' "$WORK/quoted" > "$WORK/twice.ini"
  "$BIN" --config "$WORK/twice.ini" --print-config > "$WORK/twice.out" 2> "$WORK/twice.err"
  grep -q "twice.ini:4: train.lr is given twice (lines 2 and 4); line 4 is used" "$WORK/twice.err" && pass \
    || fail "a key given twice was not warned about: $(cat "$WORK/twice.err")"
  grep -q "^run_dir = $WORK/quoted\$" "$WORK/twice.out" && pass || fail "quotes kept in run_dir: $(grep run_dir "$WORK/twice.out")"
  train --set train.run_dir="$WORK/k" --set train.method=dgl --set local.K=2 --set train.max_steps=1 \
    > "$WORK/k.log" 2>&1 || fail "dgl K=2 run failed: $(tail -3 "$WORK/k.log")"
  expect_fail resume-K "local.K: 2 vs 3" "$BIN" --resume "$WORK/k" --set local.K=3
  local f=$WORK/fin
  train --set train.run_dir="$f" --set train.max_steps=9 > /dev/null 2>&1 || fail "9-step run failed"
  for extra in "" "--set train.max_steps=5"; do
    "$BIN" --resume "$f" $extra > "$WORK/fin.log" 2>&1 && grep -q "is finished (step 9" "$WORK/fin.log" && pass \
      || fail "resuming a finished run ($extra) did not say it is finished: $(tail -2 "$WORK/fin.log")"
  done
  [ "$(ls "$f/checkpoints" | tail -1)" = step-000000009 ] && pass || fail "a finished run stepped on: $(ls "$f/checkpoints")"
  [ "$(grep -c '"type":"step"' "$f/metrics.jsonl")" = 3 ] && pass || fail "a finished run logged more steps"
  train --set train.run_dir="$WORK/nan" --set train.nan_policy=ignore --set train.lr=1e30 \
    --set train.schedule=constant > "$WORK/nan.log" 2>&1 || fail "the diverging run failed: $(tail -2 "$WORK/nan.log")"
  grep -q "THE MODEL IS NOT FINITE.*final test err 100.00%.*no best yet" "$WORK/nan.log" && pass \
    || fail "a NaN model was not reported as such: $(grep '^done' "$WORK/nan.log")"
  grep -q '"best_test_err":null,.*"model_finite":0' "$WORK/nan/metrics.jsonl" && pass || fail "summary record of a NaN model"
}

case_auto() {
  reference
  local a=$WORK/auto
  mkdir -p "$a/checkpoints/step-000000004"   # a leftover of a run killed in its first checkpoint
  train --set train.run_dir="$a" --set train.resume=auto --set train.max_steps=5 > "$WORK/auto1.log" 2>&1 \
    && grep -q "no complete checkpoint: removing" "$WORK/auto1.log" && pass || fail "auto: fresh start failed: $(tail -3 "$WORK/auto1.log")"
  train --set train.run_dir="$a" --set train.resume=auto > "$WORK/auto2.log" 2>&1 \
    && grep -q "resumed from .*step-000000005" "$WORK/auto2.log" && pass || fail "auto: did not resume: $(tail -3 "$WORK/auto2.log")"
  "$CKDIFF" "$WORK/full" "$a" > /dev/null && pass || fail "auto: the resumed run differs from the uninterrupted one"
  train --set train.run_dir="$a" --set train.resume=auto > "$WORK/auto3.log" 2>&1 \
    && grep -q "is finished" "$WORK/auto3.log" && pass || fail "auto: a finished run was not recognised: $(tail -3 "$WORK/auto3.log")"
  expect_fail auto-overwrite "give one of them" train --set train.run_dir="$a" --set train.resume=auto --overwrite
}

# signal_run LOG TARGET SIG CMD...: starts CMD (run dir $SIGDIR), waits for a random step among
# the first 100 (of LONG's 800: a step takes ~3 ms, so a wait in seconds could outlast the run
# on a fast machine and the signal would find it finished), sends SIG to TARGET (main: the
# started process; children: every rank; rank1: the rank that does not hold the run-dir lock),
# waits; the exit code is in $RC.
signal_run() {
  local log=$1 target=$2 sig=$3; shift 3
  "$@" > "$log" 2>&1 &
  local pid=$! i at=$((1 + RANDOM % 100))
  for i in $(seq 400); do grep -qs "\"step\":$at," "$SIGDIR/metrics.jsonl" && break; sleep 0.05; done
  local victims=$pid
  case $target in
    children) victims=$(pgrep -P $pid | tr '\n' ' ') ;;
    rank1) victims=$(pgrep -P $pid | grep -vx "$(sed -n 's/.*PID \([0-9]*\).*/\1/p' "$SIGDIR/LOCK")" | tr '\n' ' ') ;;
  esac
  kill -"$sig" $victims 2> /dev/null
  # every rank must agree on the stop step: a rank left waiting for another is a hang, failed
  for i in $(seq 600); do kill -0 $pid 2> /dev/null || break; sleep 0.1; done
  if kill -0 $pid 2> /dev/null; then
    fail "$log: still running 60 s after the signal (ranks disagree on the stop step?)"
    kill -9 $(pgrep -P $pid) $pid 2> /dev/null
  fi
  wait $pid
  RC=$?
}

# check_stop NAME LOG RUN_DIR: the run stopped for a signal at a step with a complete checkpoint.
check_stop() {
  local name=$1 log=$2 dir=$3 step
  step=$(sed -n 's/.*stopped by SIG[A-Z0-9]* after step \([0-9]*\):.*/\1/p' "$log" | head -1)
  if [ -z "$step" ]; then fail "$name: no stop line (exit $RC): $(tail -3 "$log")"; return 1; fi
  echo "$name: stopped after step $step"
  [ -f "$(step_dir "$dir" "$step")/COMPLETE" ] && pass || fail "$name: step $step has no complete checkpoint"
}

LONG="--set train.epochs=100 --set train.log_every=1"   # 800 steps of 32 images
case_signal() {
  train --set train.run_dir="$WORK/s_full" $LONG > "$WORK/s_full.log" 2>&1 || fail "100-epoch reference failed"
  SIGDIR=$WORK/s1
  signal_run "$WORK/s1.log" main TERM "$BIN" --config "$WORK/c.ini" --set train.run_dir="$WORK/s1" $LONG
  [ $RC -eq 143 ] && pass || fail "SIGTERM: exit $RC, expected 143 (128 + SIGTERM)"
  if check_stop sigterm-1 "$WORK/s1.log" "$WORK/s1"; then
    grep -q "continue with hpff_pipe --resume $WORK/s1" "$WORK/s1.log" && pass || fail "the stop line does not say how to continue"
    "$BIN" --resume "$WORK/s1" > "$WORK/s1.resume.log" 2>&1 || fail "resume after SIGTERM failed: $(tail -3 "$WORK/s1.resume.log")"
    "$CKDIFF" "$WORK/s_full" "$WORK/s1" > /dev/null && pass || fail "SIGTERM + resume differs from the uninterrupted run"
  fi
  # a second signal while the pre-emption checkpoint is written (writes slowed): stop at once
  train --set train.run_dir="$WORK/s2" $LONG --set train.max_steps=5 > "$WORK/s2a.log" 2>&1 || fail "5-step run failed"
  HPFF_SLOW_MATCH=rank0.h5.tmp LD_PRELOAD="$SHIM" "$BIN" --resume "$WORK/s2" --set train.max_steps=0 \
    --set train.ckpt_every_epochs=0 > "$WORK/s2.log" 2>&1 &
  local pid=$! i
  for i in $(seq 200); do grep -qs '"step":7,' "$WORK/s2/metrics.jsonl" && break; sleep 0.05; done
  kill -TERM $pid
  for i in $(seq 200); do [ -n "$(find "$WORK/s2" -name rank0.h5.tmp)" ] && break; sleep 0.02; done
  kill -TERM $pid
  wait $pid
  RC=$?
  [ $RC -eq 143 ] && ! grep -q "stopped by" "$WORK/s2.log" && pass || fail "second signal: exit $RC, $(tail -2 "$WORK/s2.log")"
  [ "$(ls "$WORK/s2/checkpoints")" = step-000000005 ] || [ ! -f "$(ls -d "$WORK"/s2/checkpoints/step-* | tail -1)/COMPLETE" ] \
    && pass || fail "the interrupted checkpoint looks complete"
  "$BIN" --resume "$WORK/s2" --set train.max_steps=0 > "$WORK/s2.resume.log" 2>&1 || fail "resume after a second signal failed"
  grep -q "resumed from .*step-000000005" "$WORK/s2.resume.log" && pass || fail "did not resume from the last complete checkpoint"
  "$CKDIFF" "$WORK/s_full" "$WORK/s2" > /dev/null && pass || fail "resume after a second signal differs"
}

case_signal_mpi() {
  local mpirun="mpirun --oversubscribe -np 2" wrapper="$SRC/launch/hpff-mpirun --oversubscribe -np 2"
  local lcl="--set train.method=dgl --set local.K=2 --set pipeline.balance=flops --set train.eval=off"
  local mode dir launcher
  for mode in strict delayed; do
    $mpirun "$BIN" --config "$WORK/c.ini" --set train.run_dir="$WORK/m_$mode" $LONG $lcl \
      --set pipeline.cascade=$mode > "$WORK/m_$mode.log" 2>&1 || fail "2-rank $mode reference failed: $(tail -3 "$WORK/m_$mode.log")"
  done
  # SIGTERM to launch/hpff-mpirun (what Ctrl-C or a scheduler does), SIGUSR1 to one rank
  # only, SIGTERM to every rank (what Slurm does to srun's tasks)
  for c in "strict main TERM 138" "strict rank1 USR1 138" "delayed children TERM 143"; do
    set -- $c
    dir=$WORK/m_$1_$2
    SIGDIR=$dir
    launcher=$mpirun
    [ "$2" = main ] && launcher=$wrapper
    signal_run "$dir.log" "$2" "$3" $launcher "$BIN" --config "$WORK/c.ini" --set train.run_dir="$dir" $LONG $lcl \
      --set pipeline.cascade=$1
    [ $RC -eq $4 ] && pass || fail "$c: exit $RC, expected $4"
    check_stop "$c" "$dir.log" "$dir" || continue
    $mpirun "$BIN" --resume "$dir" > "$dir.resume.log" 2>&1 || fail "$c: resume failed: $(tail -3 "$dir.resume.log")"
    "$CKDIFF" "$WORK/m_$1" "$dir" > /dev/null && pass || fail "$c: signal + resume differs from the uninterrupted run"
  done
}

for g in $GROUPS_WANTED; do "case_$g"; done
finish
