# Shared by the trainer tests: paths from ctest, a tiny config, and small assertions.
# Usage in a test: . "$(dirname "$0")/common.sh" "$@"   (args: BIN_DIR DATA_FILE)
set -u
BIN=$1/hpff_pipe
CKDIFF=$1/tests/ckpt_diff
DATA=$2
WORK=$(mktemp -d /tmp/hpff_test.XXXXXX)
trap '[ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
FAILS=0
PASSES=0
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

# tiny_config FILE [method]: a ResNet-8 of width 4 on the tiny dataset, 8 steps per epoch.
tiny_config() {
  cat > "$1" <<EOC
[model]
arch = resnet8
width = 4
[data]
train_file = $DATA
augment = cifar
loader_threads = 1
[train]
method = bp
epochs = 2
batch = 32
lr = 0.05
schedule = cosine
log_every = 4
threads = 1
run_dir = $WORK/run
EOC
}

pass() { PASSES=$((PASSES + 1)); }
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
# expect_fail NAME EXPECTED_SUBSTRING CMD...: the command must exit non-zero and print the text.
expect_fail() {
  local name=$1 want=$2; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ $rc -eq 0 ]; then fail "$name: exit 0, expected an error"; return; fi
  case "$out" in *"$want"*) pass ;; *) fail "$name: output lacks '$want':"$'\n'"$out" ;; esac
}
finish() {
  echo "$(basename "$0" .sh): $PASSES passed, $FAILS failed"
  [ $FAILS -eq 0 ]
}
