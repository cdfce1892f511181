#!/bin/bash
# The ImageNet networks over MPI ranks (ALGORITHM §2.2, §2.4, §9): a reduced bottleneck ResNet
# (stem 8, blocks 1,1,3,1) split K=4 as the authors' K=4 table splits ResNet-101/152 (three modules
# in stage 3, the cascades on stage-3 features) under the InfoPro ImageNet profile (cascade only,
# PFF-C; the image travels to every rank for the decoders), and a reduced ResNeXt 32x8d (grouped
# convs) under DGL+HPFF: strict -np 4 ends with the same parameters, momentum and BN state as -np 1,
# bitwise.
. "$(dirname "$0")/common.sh" "$@"
MPIRUN="mpirun --oversubscribe -np"
tiny_config "$WORK/c.ini"
sed -i 's/^arch = resnet8/arch = resnet50/; s/^width = 4/width = 2\nblocks = 1,1,3,1/' "$WORK/c.ini"
cat >> "$WORK/c.ini" <<EOC
method = infopro
epochs = 1
batch = 16
max_steps = 3
[local]
K = 4
split = list
modules = 3:0,3:1,3:2,4:0
[pipeline]
balance = flops
EOC
run() {   # run NP RUN_DIR [--set ...]
  local np=$1 dir=$2; shift 2
  $MPIRUN "$np" "$BIN" --config "$WORK/c.ini" --set train.run_dir="$dir" "$@" > "$dir.log" 2>&1 \
    || { fail "mpirun -np $np $* failed:"$'\n'"$(tail -5 "$dir.log")"; return 1; }
}
run 1 "$WORK/ip1" && pass
run 4 "$WORK/ip4" && pass
if "$CKDIFF" "$WORK/ip1" "$WORK/ip4"; then pass; else fail "InfoPro bottleneck K=4: strict -np 4 differs from -np 1"; fi
grep -q "pipeline plan: 4 modules on 4 ranks" "$WORK/ip4.log" && pass || fail "-np 4: no 4-rank plan printed"
X=(--set model.arch=resnext101_32x8d --set model.blocks=1,1,2,1 --set train.method=dgl --set local.split=even
   --set local.modules= --set data.pad_to=32)   # 32x32: stage-3 maps of 2x2 hold PFF's 2x2 patches
run 1 "$WORK/dg1" "${X[@]}" && pass
run 4 "$WORK/dg4" "${X[@]}" && pass
if "$CKDIFF" "$WORK/dg1" "$WORK/dg4"; then pass; else fail "ResNeXt DGL K=4: strict -np 4 differs from -np 1"; fi
finish
