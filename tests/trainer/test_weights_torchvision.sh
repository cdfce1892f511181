#!/bin/bash
# Weights in the ecosystem's names, end to end with torchvision (skipped, 77, without python3
# torch/torchvision/h5py): a full-width bottleneck ResNet ([1,1,1,1] blocks) trained one step is
# exported by hpff_export and loads into torchvision's ResNet(Bottleneck, [1,1,1,1]) with
# load_state_dict(strict=True); a torchvision state_dict written to HDF5 as the README shows starts
# hpff_pipe (--init-from; lr 0, so the parameters stay as loaded) and comes back out of hpff_export
# bitwise; a 1000-class torchvision file for the 10-class network is refused, naming fc.weight.
. "$(dirname "$0")/common.sh" "$@"
PY=/usr/bin/python3
EXPORT=$(dirname "$BIN")/hpff_export
tiny_config "$WORK/c.ini"
sed -i 's/^arch = resnet8/arch = resnet50\nblocks = 1,1,1,1/; s/^width = 4/width = 16/' "$WORK/c.ini"
sed -i 's/^epochs = 2/epochs = 1\nmax_steps = 1\neval = off/; s/^batch = 32/batch = 8/' "$WORK/c.ini"
"$BIN" --config "$WORK/c.ini" --set train.run_dir="$WORK/a" > "$WORK/a.log" 2>&1 && pass || fail "training run: $(tail -3 "$WORK/a.log")"
"$EXPORT" "$WORK/a" "$WORK/a.h5" > "$WORK/ea.log" 2>&1 && pass || fail "hpff_export: $(cat "$WORK/ea.log")"
$PY - "$WORK/a.h5" "$WORK/tv.h5" "$WORK/tv1000.h5" <<'PYEOF'
import sys
try:
    import h5py, torch
    from torchvision.models.resnet import ResNet, Bottleneck
except ImportError:
    sys.exit(77)
with h5py.File(sys.argv[1]) as f:   # hpff_export's file into torchvision, strictly
    sd = {k: torch.as_tensor(f[k][()]) for k in f}
m = ResNet(Bottleneck, [1, 1, 1, 1], num_classes=10)
m.load_state_dict(sd, strict=True)
torch.manual_seed(5)
for path, classes in ((sys.argv[2], 10), (sys.argv[3], 1000)):   # the README's .pth -> HDF5 lines
    sd = ResNet(Bottleneck, [1, 1, 1, 1], num_classes=classes).state_dict()
    with h5py.File(path, "w") as f:
        for k, v in sd.items():
            f.create_dataset(k, data=v.numpy())
PYEOF
rc=$?
[ $rc -eq 77 ] && { echo "torch/torchvision/h5py missing: skipped"; exit 77; }
[ $rc -eq 0 ] && pass || fail "torchvision side (above)"
"$BIN" --config "$WORK/c.ini" --set train.run_dir="$WORK/b" --init-from "$WORK/tv.h5" --set train.lr=0 \
    --set train.schedule=constant > "$WORK/b.log" 2>&1 && pass || fail "--init-from run: $(tail -3 "$WORK/b.log")"
grep -q "initial weights from $WORK/tv.h5" "$WORK/b.log" && pass || fail "--init-from not reported"
"$EXPORT" "$WORK/b" "$WORK/b.h5" > /dev/null 2>&1 && pass || fail "hpff_export of the --init-from run"
$PY - "$WORK/tv.h5" "$WORK/b.h5" <<'PYEOF' && pass || fail "parameters after --init-from and lr 0 differ from the file"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1]) as a, h5py.File(sys.argv[2]) as b:
    params = [k for k in a if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    bad = [k for k in params if a[k].shape != b[k].shape or not np.array_equal(a[k][()], b[k][()])]
    print("%d parameters compared, %d differ %s" % (len(params), len(bad), bad[:3]))
    sys.exit(1 if bad or not params else 0)
PYEOF
expect_fail "1000-class file" "'fc.weight' has shape 1000x2048 in the file, 10x2048 in the network" \
    "$BIN" --config "$WORK/c.ini" --set train.run_dir="$WORK/c" --init-from "$WORK/tv1000.h5"
finish
