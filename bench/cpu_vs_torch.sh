#!/bin/bash
# CPU backend against PyTorch and the authors' code (issue: CPU backend on oneDNN). Run on a
# quiet machine: every row of a group runs back to back, in alternation, REPS times, and the
# best of each is kept (the least disturbed run). Nothing else should be running. The rows of a
# target's ratio run next to each other in every round (BP then DGL+HPFF; ours then the
# authors'), and each round's ratio is printed too: on a shared VM whose speed drifts by 10-20%
# over minutes, a pair measured a minute apart is the fair comparison.
#   bench/cpu_vs_torch.sh [BUILD_DIR] [OUT_DIR] [--quickstart] [--reps N]
# Rows (one JSON line each in OUT_DIR/rows.jsonl, a table on stdout):
#  1. ResNet-32 BP, batch 128, 1 and 2 threads: hpff_pipe on oneDNN (dnnl: blocked layouts
#     inside residual blocks and heads; dnnl_nchw: NCHW between every two oneDNN ops), on im2col
#     (the reference path), and PyTorch (bench/bp_torch_cpu.py), each with OPENBLAS_CORETYPE /
#     OPENBLAS_L2_SIZE unset and set to this machine's values (Haswell / 1 MiB when the
#     environment has none).
#  2. ResNet-32 K=16 InfoPro+HPFF, batch 128, 1 thread: ours (dnnl, dnnl_nchw, im2col) against
#     the authors' code (bench/peer_cpu.py; their `network/` package in .peer/, fetched by hand,
#     never committed; the row is skipped when it is missing).
#  3. ResNet-32 K=16 DGL+HPFF against our BP step time (1 thread; dnnl and dnnl_nchw).
#  4. With --quickstart: the README's quickstart job (configs/quickstart.ini, -np 2) wall time
#     with backend.cpu_conv = im2col (before the issue), dnnl_nchw and dnnl (after). About 10
#     minutes each.
# Targets (issue): BP >= 1.2x PyTorch at 1 and 2 threads with the variables unset and set;
# InfoPro+HPFF >= 2x the authors' code; DGL+HPFF <= 1.5x our BP's step time.
set -euo pipefail
BUILD=build
OUT=runs/cpu_vs_torch
QUICK=0
REPS=3
pos=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quickstart) QUICK=1 ;;
    --reps) REPS=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "cpu_vs_torch: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) if [ $pos -eq 0 ]; then BUILD=$1; else OUT=$1; fi; pos=$((pos + 1)) ;;
  esac
  shift
done
mkdir -p "$OUT"
ROWS="$OUT/rows.jsonl"
: > "$ROWS"
CORETYPE=${OPENBLAS_CORETYPE:-Haswell}
L2SIZE=${OPENBLAS_L2_SIZE:-1048576}
PY=/usr/bin/python3
STEPS=${STEPS:-6}   # timed steps per row (the environment may lower it for a smoke run)

# env_run SETTING CMD...: SETTING unset (both variables removed) or set (both given).
env_run() {
  local setting=$1; shift
  if [ "$setting" = set ]; then
    env OPENBLAS_CORETYPE="$CORETYPE" OPENBLAS_L2_SIZE="$L2SIZE" "$@"
  else
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$@"
  fi
}
# row NAME SETTING CMD...: runs CMD (one JSON line on stdout), tags it, appends it.
row() {
  local name=$1 setting=$2; shift 2
  local line
  line=$(env_run "$setting" "$@" 2>"$OUT/last.err" | grep '^{' | tail -1) || true
  if [ -z "$line" ]; then
    echo "cpu_vs_torch: $name ($setting) gave no result:" >&2
    tail -3 "$OUT/last.err" >&2
    return 0
  fi
  echo "{\"row\":\"$name\",\"openblas\":\"$setting\",\"rep\":${rep:-0},\"r\":$line}" >> "$ROWS"
}
# ours NAME SETTING THREADS CONV [--set ...]: one bench_step row
ours() {
  local name=$1 setting=$2 t=$3 conv=$4; shift 4
  row "$name" "$setting" "$BUILD/bench_step" --set backend.device=cpu --set train.batch=128 \
    --set train.threads="$t" --set backend.cpu_conv="$conv" --steps "$STEPS" --warmup 2 "$@"
}

echo "cpu_vs_torch: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $REPS rounds" >&2
for rep in $(seq "$REPS"); do
  # the two local-learning targets first, each as an adjacent pair
  ours bp_dnnl_t1 unset 1 dnnl --set train.method=bp
  ours dgl_hpff_dnnl_t1 unset 1 dnnl --set train.method=dgl --set local.K=16
  ours infopro_hpff_dnnl_t1 unset 1 dnnl --set train.method=infopro --set local.K=16
  if [ -f .peer/network/resnetInfoPro_HPFF.py ]; then
    row infopro_hpff_authors_t1 unset env HPFF_PEER_DIR=.peer "$PY" bench/peer_cpu.py 32 16 128 3 1
  elif [ "$rep" = 1 ]; then
    echo "cpu_vs_torch: .peer/network missing: the authors' row is skipped (see bench/peer_cpu.py)" >&2
  fi
  for setting in unset set; do
    for t in 1 2; do
      # (1 thread, unset: measured above, as the DGL pair's BP row)
      [ "$t$setting" = 1unset ] || ours "bp_dnnl_t$t" "$setting" "$t" dnnl --set train.method=bp
      ours "bp_dnnl_nchw_t$t" "$setting" "$t" dnnl_nchw --set train.method=bp
      ours "bp_im2col_t$t" "$setting" "$t" im2col --set train.method=bp
      row "bp_torch_t$t" "$setting" "$PY" bench/bp_torch_cpu.py --steps "$STEPS" --threads "$t"
    done
  done
  ours dgl_hpff_dnnl_nchw_t1 unset 1 dnnl_nchw --set train.method=dgl --set local.K=16
  ours infopro_hpff_dnnl_nchw_t1 unset 1 dnnl_nchw --set train.method=infopro --set local.K=16
  ours infopro_hpff_im2col_t1 unset 1 im2col --set train.method=infopro --set local.K=16
done

if [ "$QUICK" = 1 ]; then
  [ -f data/fmnist.h5 ] || "$BUILD/hpff_data" fashion-mnist /usr/share/datasets/fashion-mnist data/fmnist.h5
  for conv in im2col dnnl_nchw dnnl; do
    t0=$(date +%s.%N)
    launch/hpff-mpirun -np 2 "$BUILD/hpff_pipe" --config configs/quickstart.ini \
      --set train.run_dir="$OUT/quickstart_$conv" --set backend.cpu_conv="$conv" > "$OUT/quickstart_$conv.log" 2>&1
    t1=$(date +%s.%N)
    echo "{\"row\":\"quickstart_$conv\",\"openblas\":\"unset\",\"r\":{\"wall_s\":$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')," \
         "\"done\":\"$(grep '^done:' "$OUT/quickstart_$conv.log" | tr -d '"')\"}}" >> "$ROWS"
  done
fi

# The table: best img/s (or shortest wall) per row and setting, and the ratios of the targets
# (by img/s; the process CPU time per step beside it tells how much the machine interfered).
"$PY" - "$ROWS" <<'EOF'
import json, sys
best, by_round = {}, {}
for line in open(sys.argv[1]):
    d = json.loads(line)
    k = (d["row"], d["openblas"])
    r = d["r"]
    by_round.setdefault(k, {})[d.get("rep", 0)] = r
    if "img_per_s" in r:
        if k not in best or r["img_per_s"] > best[k]["img_per_s"]:
            best[k] = r
    else:
        best[k] = r
print("%-26s %-8s %10s %10s %12s" % ("row", "openblas", "img/s", "ms/step", "cpu ms/step"))
for (name, s), r in sorted(best.items()):
    if "img_per_s" in r:
        print("%-26s %-8s %10.1f %10.1f %12.1f" % (name, s, r["img_per_s"], r["ms_per_step"],
                                                 r.get("cpu_ms_per_step", float("nan"))))
    else:
        print("%-26s %-8s wall %.0f s  %s" % (name, s, r["wall_s"], r.get("done", "")))
def ratio(a, b, s="unset", inverse=False, key="img_per_s"):
    """a's speed over b's (by img/s, or by CPU ms per step); inverse: b's over a's."""
    if (a, s) not in best or (b, s) not in best:
        return float("nan")
    x, y = best[(a, s)].get(key), best[(b, s)].get(key)
    if not x or not y:
        return float("nan")
    r = x / y if key == "img_per_s" else y / x
    return 1 / r if inverse else r
def both(a, b, s="unset", inverse=False):
    return "%.2fx by wall clock, %.2fx by CPU time" % (ratio(a, b, s, inverse),
                                                        ratio(a, b, s, inverse, "cpu_ms_per_step"))
for s in ("unset", "set"):
    for t in (1, 2):
        print("BP %d thread(s), OpenBLAS variables %s: ours/PyTorch %s (target >= 1.2); im2col/PyTorch %s"
              % (t, s, both("bp_dnnl_t%d" % t, "bp_torch_t%d" % t, s), both("bp_im2col_t%d" % t, "bp_torch_t%d" % t, s)))
def rounds(a, b, inverse=False):
    """a's speed over b's in each round where both ran (adjacent rows), by wall clock; and their median."""
    ra, rb = by_round.get((a, "unset"), {}), by_round.get((b, "unset"), {})
    rs = [ra[i]["img_per_s"] / rb[i]["img_per_s"] for i in sorted(ra) if i in rb
          and ra[i].get("img_per_s") and rb[i].get("img_per_s")]
    rs = [1 / x if inverse else x for x in rs]
    if not rs:
        return "no rounds"
    med = sorted(rs)[len(rs) // 2] if len(rs) % 2 else sum(sorted(rs)[len(rs) // 2 - 1:len(rs) // 2 + 1]) / 2
    return "per round %s, median %.2fx" % (", ".join("%.2fx" % x for x in rs), med)
print("InfoPro+HPFF K=16: ours/authors %s (target >= 2); %s"
      % (both("infopro_hpff_dnnl_t1", "infopro_hpff_authors_t1"), rounds("infopro_hpff_dnnl_t1", "infopro_hpff_authors_t1")))
print("DGL+HPFF K=16 step time / BP step time: %s (target <= 1.5); %s"
      % (both("dgl_hpff_dnnl_t1", "bp_dnnl_t1", inverse=True), rounds("dgl_hpff_dnnl_t1", "bp_dnnl_t1", inverse=True)))
for a, b in (("bp_dnnl_t1", "bp_dnnl_nchw_t1"), ("bp_dnnl_t2", "bp_dnnl_nchw_t2"),
             ("infopro_hpff_dnnl_t1", "infopro_hpff_dnnl_nchw_t1"), ("dgl_hpff_dnnl_t1", "dgl_hpff_dnnl_nchw_t1")):
    print("blocked layouts (%s) over NCHW between oneDNN ops (%s): %s" % (a, b, both(a, b)))
EOF
