#!/bin/bash
# Command-line and configuration errors reach the user as one clear message and exit non-zero.
. "$(dirname "$0")/common.sh" "$@"
tiny_config "$WORK/ok.ini"
expect_fail missing-config "cannot open config file" "$BIN" --config "$WORK/nope.ini"
printf '[train]\nlrr = 0.1\n' > "$WORK/bad_key.ini"
expect_fail unknown-key "unknown key 'train.lrr'; did you mean 'train.lr'" "$BIN" --config "$WORK/bad_key.ini"
printf '[train]\nbatch = abc\n' > "$WORK/bad_val.ini"
expect_fail bad-value "train.batch = 'abc' is not an integer" "$BIN" --config "$WORK/bad_val.ini"
expect_fail bad-set "is not one of" "$BIN" --config "$WORK/ok.ini" --set train.method=dlg
expect_fail bad-arg "unknown or incomplete argument" "$BIN" --config "$WORK/ok.ini" --bogus
expect_fail missing-data "$WORK/none.h5" "$BIN" --config "$WORK/ok.ini" --set data.train_file="$WORK/none.h5"
expect_fail no-checkpoint "no complete checkpoint" "$BIN" --config "$WORK/ok.ini" --resume "$WORK/empty"
if out=$("$BIN" --help 2>&1); then
  case "$out" in *"train.max_steps"*|*"max_steps"*) pass ;; *) fail "--help lacks max_steps" ;; esac
else
  fail "hpff_pipe --help exits non-zero"
fi
# Every program answers --help with its usage (exit 0) and refuses an unknown argument.
for prog in "$1/hpff_data" "$1/bench_step" "$1/bench_loader" "$CKDIFF" "$1/tests/make_tiny_dataset"; do
  [ -x "$prog" ] || { [ "${prog##*/}" = hpff_data ] && continue; fail "$prog missing"; continue; }
  if out=$("$prog" --help 2>&1); then
    case "$out" in usage:*) pass ;; *) fail "${prog##*/} --help printed: ${out%%$'\n'*}" ;; esac
  else
    fail "${prog##*/} --help exits non-zero: ${out%%$'\n'*}"
  fi
done
expect_fail bench-bad-arg "unknown argument '--bogus'" "$1/bench_step" --bogus
# A short run works, writes metrics lines of each type and a checkpoint.
if "$BIN" --config "$WORK/ok.ini" --set train.epochs=1 > "$WORK/log" 2>&1; then pass; else fail "tiny run failed: $(tail -5 "$WORK/log")"; fi
for t in step epoch summary; do grep -q "\"type\":\"$t\"" "$WORK/run/metrics.jsonl" && pass || fail "no $t record in metrics.jsonl"; done
grep -q "test err" "$WORK/log" && pass || fail "no per-epoch test error line"
[ -f "$WORK/run/config.ini" ] && pass || fail "effective config not stored"
ls "$WORK"/run/checkpoints/step-*/COMPLETE > /dev/null 2>&1 && pass || fail "no complete checkpoint"
# A checkpoint from an incompatible config is refused with what differs.
expect_fail incompatible "model.width" "$BIN" --resume "$WORK/run" --set model.width=8
finish
