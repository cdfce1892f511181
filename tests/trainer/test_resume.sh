#!/bin/bash
# An interrupted and resumed run ends with bit-identical parameters, momentum and BN state.
# Args after the common two: METHOD and extra --set options for both runs.
. "$(dirname "$0")/common.sh" "$@"
shift 2
METHOD=${1:-bp}; shift || true
tiny_config "$WORK/c.ini"
run() { "$BIN" --config "$WORK/c.ini" --set train.method="$METHOD" "$@" > "$WORK/log.$RANDOM" 2>&1; }
run --set train.run_dir="$WORK/full" "$@" || fail "uninterrupted run failed"
run --set train.run_dir="$WORK/cut" --set train.max_steps=5 "$@" || fail "interrupted run failed"
"$BIN" --resume "$WORK/cut" --set train.max_steps=0 > "$WORK/log.resume" 2>&1 || fail "resume failed: $(tail -3 "$WORK/log.resume")"
grep -q "resumed from" "$WORK/log.resume" && pass || fail "resume did not say where it resumed"
if "$CKDIFF" "$WORK/full" "$WORK/cut"; then pass; else fail "resumed run differs from the uninterrupted one"; fi
# The comparison itself can fail: a different seed must differ.
run --set train.run_dir="$WORK/other" --set train.seed=7 "$@" || fail "seed-7 run failed"
if "$CKDIFF" "$WORK/full" "$WORK/other" > /dev/null 2>&1; then fail "ckpt_diff saw no difference between seeds"; else pass; fi
finish
