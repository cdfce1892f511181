#!/bin/bash
# The HPFF ablation with seeds (issue 17): BP; DGL with the independent level only (= DGL), the
# cascade level only, both (HiLo), both + PFF (HPFF); InfoPro and InfoPro+HPFF; PredSim and
# PredSim+HPFF; DGL+HPFF with free level weights w_I/w_C = 0.5/0.5 and 0.1/0.9 (ALGORITHM §4.7-1).
#   bench/ablation.sh PROFILE [OUT_DIR]        PROFILE: cpu (bench/ablation/cpu.ini, ~2 hours on
#                                              2 quiet cores) or gpu (bench/ablation/gpu.ini)
# Environment: BUILD (folder holding hpff_pipe and hpff_data; default build), JOBS (runs at once;
# cpu 2, gpu 4), SEEDS (default "0 1 2"), ROWS (default all, in the order below), EPOCHS
# (override the profile's), EXTRA (more --set options for every run), REPORT=0 (no report).
# Writes OUT_DIR/<row>/seed<S>/ (metrics, config, checkpoints: every run keeps its final
# checkpoint for analysis/) and OUT_DIR/<row>/seed<S>.log; a run whose metrics already hold a
# summary is skipped, one with a complete checkpoint is resumed (bit-exact), so the script can be
# rerun after an interruption. At the end bench/ablation_report.py writes OUT_DIR/report.md,
# OUT_DIR/report.json and OUT_DIR/curves.png.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CALLER_PWD="$PWD"
cd "$ROOT"

source bench/method_rows.sh   # ROW_ARGS: row name -> its --set options
# Costliest first within a seed, so that the two cores stay busy to the end; seeds in turn, so
# that a partial set already has every row of the first seeds.
ALL_ROWS="infopro_hpff infopro predsim_hpff dgl_hpff dgl_hpff_w55 dgl_hpff_w19 dgl_hilo dgl_cl predsim bp dgl_il"

run_one() {   # run_one CONFIG OUT ROW SEED: one training run, skipped or resumed when possible
    local cfg="$1" out="$2" row="$3" seed="$4" dir="$2/$3/seed$4" log="$2/$3/seed$4.log"
    local -a extra=()
    [ -n "${EPOCHS:-}" ] && extra=(--set train.epochs="$EPOCHS")
    # shellcheck disable=SC2206
    [ -n "${EXTRA:-}" ] && extra+=(${EXTRA})
    mkdir -p "$out/$row"
    if [ -f "$dir/metrics.jsonl" ] && grep -q '"type":"summary"' "$dir/metrics.jsonl"; then
        echo "$row seed $seed: already done"; return 0
    fi
    if compgen -G "$dir/checkpoints/*/COMPLETE" > /dev/null; then
        echo "$row seed $seed: resuming" | tee -a "$log"
        "$BUILD/hpff_pipe" --resume "$dir" >> "$log" 2>&1 || { echo "$row seed $seed: FAILED (see $log)"; return 1; }
    else
        rm -rf "$dir"
        # shellcheck disable=SC2086
        "$BUILD/hpff_pipe" --config "$cfg" ${ROW_ARGS[$row]} "${extra[@]}" --set train.seed="$seed" \
            --set train.run_dir="$dir" > "$log" 2>&1 || { echo "$row seed $seed: FAILED (see $log)"; return 1; }
    fi
    echo "$row seed $seed: $(grep '^done:' "$log" | tail -n 1)"
}

prepare_data() {   # the data files a profile reads, made from Debian's Fashion-MNIST if absent
    mkdir -p data
    if [ ! -f data/fmnist.h5 ]; then
        [ -d /usr/share/datasets/fashion-mnist ] || { echo "data/fmnist.h5 is missing and /usr/share/datasets/fashion-mnist (Debian dataset-fashion-mnist) is not installed" >&2; return 1; }
        "$BUILD/hpff_data" fashion-mnist /usr/share/datasets/fashion-mnist data/fmnist.h5 > /dev/null
    fi
    if [ "$1" = cpu ] && [ ! -f data/fmnist_20k.h5 ]; then
        /usr/bin/python3 bench/fmnist_subset.py data/fmnist.h5 data/fmnist_20k.h5 2000
    fi
}

main() {
    local profile="${1:-}" out cfg row seed
    case "$profile" in
        cpu) JOBS="${JOBS:-2}" ;;
        gpu) JOBS="${JOBS:-4}" ;;
        *) echo "usage: bench/ablation.sh cpu|gpu [OUT_DIR] (env BUILD, JOBS, SEEDS, ROWS, EPOCHS, REPORT)" >&2; return 2 ;;
    esac
    cfg="bench/ablation/$profile.ini"
    out="${2:-runs/ablation_$profile}"
    [ -n "${2:-}" ] && [ "${out#/}" = "$out" ] && out="$CALLER_PWD/$out"
    BUILD="$(cd "$CALLER_PWD" && cd "${BUILD:-$ROOT/build}" && pwd)"
    for row in ${ROWS:-$ALL_ROWS}; do
        [ -n "${ROW_ARGS[$row]:-}" ] || { echo "unknown row '$row'; rows: $ALL_ROWS" >&2; return 2; }
    done
    prepare_data "$profile"
    mkdir -p "$out"
    echo "ablation $profile: rows ${ROWS:-$ALL_ROWS}; seeds ${SEEDS:-0 1 2}; $JOBS at once; into $out"
    export BUILD EPOCHS EXTRA
    for seed in ${SEEDS:-0 1 2}; do
        for row in ${ROWS:-$ALL_ROWS}; do echo "$cfg $out $row $seed"; done
    done | xargs -P "$JOBS" -L 1 "$0" --one || echo "some runs failed: see the logs in $out" >&2
    [ "${REPORT:-1}" = 0 ] || /usr/bin/python3 bench/ablation_report.py "$out"
}

if [ "${1:-}" = --one ]; then
    shift
    run_one "$@"
else
    main "$@"
fi
