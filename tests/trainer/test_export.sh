#!/bin/bash
# Feature export (hpff_pipe --export-features) and the analyses of analysis/ on a tiny run.
# cpu: the exported logits give the run's own final test error; a full map has its unit's shape;
# export errors name what is wrong; CKA of a run against itself is 1 (and below 1 against another
# seed); a probe fitted to shuffled labels is at chance while the real labels' probe is not; the
# t-SNE analysis writes its PNG and JSON.
# mpi: the export of a -np 2 run (two checkpoint files) equals that of the -np 1 run, bitwise.
# Args after the common two: MODE (cpu or mpi).
. "$(dirname "$0")/common.sh" "$@"
shift 2
MODE=${1:-cpu}
ANALYSIS="$(cd "$(dirname "$0")/../../analysis" && pwd)"
PY=/usr/bin/python3
tiny_config "$WORK/c.ini"
sed -i 's/^augment = cifar/augment = none/; s/^lr = 0.05/lr = 0.1/' "$WORK/c.ini"   # learns in 8 epochs
cat >> "$WORK/c.ini" <<EOC
method = dgl
epochs = 8
[local]
K = 2
split = even
[pipeline]
balance = flops
EOC
train() {   # train RUN_DIR [LAUNCHER...]: the tiny config into RUN_DIR
  local dir=$1; shift
  "$@" "$BIN" --config "$WORK/c.ini" --set train.run_dir="$dir" > "$dir.log" 2>&1 \
    || { fail "training $dir failed:"$'\n'"$(tail -5 "$dir.log")"; return 1; }
}
py_check() {   # py_check NAME PYTHON_CODE: the code must print OK
  local out
  out=$(cd "$ANALYSIS" && "$PY" -c "$2" 2>&1)
  [ "$out" = OK ] && pass || fail "$1: $out"
}

if [ "$MODE" = mpi ]; then
  MPIRUN="mpirun --oversubscribe -np"
  train "$WORK/np1" $MPIRUN 1 && train "$WORK/np2" $MPIRUN 2 || { finish; exit 1; }
  for r in np1 np2; do
    "$BIN" --export-features "$WORK/$r" --out "$WORK/$r.h5" > "$WORK/$r.export.log" 2>&1 \
      && pass || fail "export of $r failed: $(cat "$WORK/$r.export.log")"
  done
  grep -q "written by 2 ranks" "$WORK/np2.export.log" && pass || fail "the -np 2 export did not read two rank files"
  py_check "np2 = np1" "
import h5py, numpy as np
a, b = h5py.File('$WORK/np1.h5'), h5py.File('$WORK/np2.h5')
keys = ['logits', 'labels'] + ['features/' + k for k in a['features']]
bad = [k for k in keys if not np.array_equal(a[k][:], b[k][:])]
print('OK' if not bad and int(b.attrs['ranks']) == 2 else f'differ: {bad}, ranks {b.attrs[\"ranks\"]}')"
  expect_fail "export under mpirun" "runs in one process" $MPIRUN 2 "$BIN" --export-features "$WORK/np1"
  finish
  exit
fi

train "$WORK/run" || { finish; exit 1; }
"$BIN" --config "$WORK/c.ini" --set train.run_dir="$WORK/other" --set train.seed=5 > "$WORK/other.log" 2>&1 \
  || fail "seed-5 run failed"
"$BIN" --export-features "$WORK/run" --map-module 0 > "$WORK/export.log" 2>&1 || fail "export failed: $(cat "$WORK/export.log")"
final=$(grep -o '"final_test_err":[0-9.]*' "$WORK/run/metrics.jsonl" | cut -d: -f2)
exported=$(sed -n 's/.*top-1 error \([0-9.]*\)%.*/\1/p' "$WORK/export.log")
[ -n "$final" ] && awk -v a="$final" -v b="$exported" 'BEGIN{exit !(a - b < 0.005 && b - a < 0.005)}' && pass \
  || fail "exported logits give ${exported}% error, the run's final test error is ${final}%"
py_check "exported logits give the run's last test loss" "
import h5py, json, numpy as np
f = h5py.File('$WORK/run/features_test.h5')
z, y = f['logits'][:].astype(np.float64), f['labels'][:]
ce = float(np.mean(np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1) - z[np.arange(len(y)), y]))
run = [json.loads(l) for l in open('$WORK/run/metrics.jsonl')]
loss = [r['test_loss'] for r in run if r['type'] == 'epoch'][-1]
print('OK' if abs(ce - loss) <= 1e-5 * max(1, abs(loss)) else f'export CE {ce}, run test loss {loss}')"
py_check "feature file layout" "
import h5py
f = h5py.File('$WORK/run/features_test.h5')
u = int(f['map'].attrs['unit']); m = f['map'].shape
ok = f['labels'].shape == (64,) and f['logits'].shape == (64, 10) and len(f['features']) == 4
side = int(f.attrs['unit_side'][u])
ok = ok and u == int(f.attrs['module_last_unit'][0]) and m == (64, int(f.attrs['unit_channels'][u]), side, side)
print('OK' if ok else f'unexpected shapes: map {m} of unit {u}, {dict(f.attrs)}')"
mkdir -p "$WORK/empty" && cp "$WORK/run/config.ini" "$WORK/empty/"
expect_fail "no checkpoint" "no complete checkpoint in '$WORK/empty/checkpoints'" "$BIN" --export-features "$WORK/empty"
# a damaged newest checkpoint is named and an older intact one is exported (and nothing is moved)
cp -r "$WORK/run" "$WORK/dmg"
newest=$(ls -d "$WORK"/dmg/checkpoints/step-* | tail -1)
"$(dirname "$BIN")/tests/ckpt_poke" "$newest/rank0.h5" params > /dev/null || fail "ckpt_poke failed"
"$BIN" --export-features "$WORK/dmg" --out "$WORK/dmg.h5" > "$WORK/dmg.log" 2>&1 || fail "export past a damaged checkpoint failed: $(tail -3 "$WORK/dmg.log")"
grep -q "checkpoint step [0-9]* is damaged (.*rank0.h5: dataset 'params' fails its checksum" "$WORK/dmg.log" \
  && [ "$(ls -d "$WORK"/dmg/checkpoints/step-* | wc -l)" -ge 2 ] && [ -d "$newest" ] && pass \
  || fail "damaged newest checkpoint: not named, or no older one, or moved: $(cat "$WORK/dmg.log")"
expect_fail "no run" "cannot open config file" "$BIN" --export-features "$WORK/nothing"
expect_fail "bad module" "--map-module 7: the run has modules 0..1" "$BIN" --export-features "$WORK/run" --map-module 7
expect_fail "bad split" "--split 'val': expected test or train" "$BIN" --export-features "$WORK/run" --split val
expect_fail "option without export" "belong to --export-features" "$BIN" --config "$WORK/c.ini" --n 5

# Analyses (run from the analysis folder; they export train features on demand).
export HPFF_PIPE="$BIN"
an() { (cd "$ANALYSIS" && "$PY" "$@") > "$WORK/an.log" 2>&1 || fail "$1 failed: $(tail -5 "$WORK/an.log")"; }
an cka.py --ref "$WORK/run" "$WORK/run" "$WORK/other" --n 0 --units all --out "$WORK/cka"
py_check "CKA self = 1, other seed < 1" "
import json
r = json.load(open('$WORK/cka.json'))['runs']
self_ = [u['cka'] for u in r[0]['units']]; other = [u['cka'] for u in r[1]['units']]
ok = len(self_) == 4 and all(abs(c - 1) < 1e-9 for c in self_) and min(other) < 0.999
print('OK' if ok else f'self {self_}, other seed {other}')"
an separability.py "$WORK/run" --n-train 0 --units all --shuffle-labels --out "$WORK/shuf"
an separability.py "$WORK/run" --n-train 0 --units all --out "$WORK/real"
py_check "shuffled-label probe at chance, real-label probe above" "
import json
s, r = json.load(open('$WORK/shuf.json')), json.load(open('$WORK/real.json'))
sh = [u['probe_test_acc'] for u in s['runs'][0]['units']]; re_ = [u['probe_test_acc'] for u in r['runs'][0]['units']]
ok = s['chance_acc'] == 10 and all(abs(a - 10) <= 15 for a in sh) and max(re_) >= 60
print('OK' if ok else f'shuffled {sh}, real {re_}')"
an tsne.py "$WORK/run" "$WORK/other" --n 64 --out "$WORK/tsne"
[ -s "$WORK/tsne.png" ] && [ -s "$WORK/cka.png" ] && [ -s "$WORK/real.png" ] && pass || fail "a PNG is missing"
py_check "t-SNE numbers" "
import json
r = json.load(open('$WORK/tsne.json'))['runs']
print('OK' if len(r) == 2 and all(0 <= u['knn5_acc_tsne'] <= 100 for x in r for u in x['units']) else r)"
finish
