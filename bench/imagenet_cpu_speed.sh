#!/usr/bin/env bash
# bench/imagenet_cpu_speed.sh — CPU training speed of the ImageNet networks at 224x224 (issue 14),
# hpff_pipe (bench_step) side by side with PyTorch (bench/imagenet_torch.py, Debian torch) in one
# run, on synthetic normalised batches, fp32, 1 and 2 threads:
#   - ResNet-50 BP and ResNeXt-101 32x8d BP: img/s of both (target: ours >= 0.8x PyTorch);
#   - ResNet-152 BP vs InfoPro+HPFF K=4 (the code profile) and VGG13 BP vs DGL+HPFF K=10: the
#     local-learning step time relative to BP (ours).
# Needs a quiet machine: every row takes the cores it is given, nothing else may run.
#   bash bench/imagenet_cpu_speed.sh [BUILD_DIR] [BATCH] [STEPS]      (defaults: build 8 3)
# Prints one JSON line per row (to stdout and $OUT/imagenet_cpu_speed.jsonl, OUT default ./bench-out)
# and a summary table at the end.
set -u -o pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
BATCH="${2:-8}"
STEPS="${3:-3}"
OUT="${OUT:-./bench-out}"
mkdir -p "$OUT"
LOG="$OUT/imagenet_cpu_speed.jsonl"
: > "$LOG"
B="$BUILD/bench_step"
COMMON=(--shape 3,224,224 --steps "$STEPS" --warmup 1 --set backend.device=cpu --set model.classes=1000
        --set train.batch="$BATCH")

ours() {   # ours LABEL THREADS ARGS...
    local label=$1 t=$2
    shift 2
    OPENBLAS_NUM_THREADS=$t "$B" "${COMMON[@]}" --set train.threads="$t" --label "$label" "$@" | tee -a "$LOG"
}
torch_row() {   # torch_row MODEL THREADS
    /usr/bin/python3 "$ROOT/bench/imagenet_torch.py" --model "$1" --batch "$BATCH" --threads "$2" \
        --steps "$STEPS" --warmup 1 | tee -a "$LOG"
}

echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC')" | tee -a "$LOG"
for t in 1 2; do
    ours "r50_bp_t$t" "$t" --set model.arch=resnet50 --set train.method=bp
    torch_row resnet50 "$t"
    ours "rx101_bp_t$t" "$t" --set model.arch=resnext101_32x8d --set train.method=bp
    torch_row resnext101_32x8d "$t"
    ours "r152_bp_t$t" "$t" --set model.arch=resnet152 --set train.method=bp
    ours "r152_k4_infopro_hpff_t$t" "$t" --set model.arch=resnet152 --set train.method=infopro --set local.K=4 \
        --set local.il=0
    ours "vgg13_bp_t$t" "$t" --set model.arch=vgg13 --set train.method=bp
    ours "vgg13_k10_dgl_hpff_t$t" "$t" --set model.arch=vgg13 --set train.method=dgl --set local.K=10 \
        --set local.dgl_aux=official
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$LOG"

/usr/bin/python3 - "$LOG" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
ours = {r["label"]: r for r in rows if "label" in r}
torch = {(r["model"], r["threads"]): r for r in rows if r.get("impl") == "pytorch"}
print("\n| row | threads | hpff_pipe img/s | PyTorch img/s | ratio |")
print("| --- | ---: | ---: | ---: | ---: |")
for t in (1, 2):
    for lab, model in (("r50_bp", "resnet50"), ("rx101_bp", "resnext101_32x8d")):
        o, p = ours.get("%s_t%d" % (lab, t)), torch.get((model, t))
        if o and p:
            print("| %s BP | %d | %.2f | %.2f | %.2f |" % (model, t, o["img_per_s"], p["img_per_s"], o["img_per_s"] / p["img_per_s"]))
print("\n| network | threads | BP ms/step | local ms/step | local / BP |")
print("| --- | ---: | ---: | ---: | ---: |")
for t in (1, 2):
    for bp, loc, name in (("r152_bp", "r152_k4_infopro_hpff", "ResNet-152, InfoPro+HPFF K=4"),
                          ("vgg13_bp", "vgg13_k10_dgl_hpff", "VGG13, DGL+HPFF K=10")):
        b, l = ours.get("%s_t%d" % (bp, t)), ours.get("%s_t%d" % (loc, t))
        if b and l:
            print("| %s | %d | %.0f | %.0f | %.2f |" % (name, t, b["ms_per_step"], l["ms_per_step"], l["ms_per_step"] / b["ms_per_step"]))
EOF
