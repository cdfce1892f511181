# src/run: one training run — configuration, the registry of backends and transports, the
# trainer, checkpoints and metrics. main.c is hpff_pipe's own (CMakeLists.txt).
set(HPFF_RUN_SOURCES
  src/run/config.c        # the key table: INI, --set, validation, --help
  src/run/registry.c      # which backends and transports were built
  src/run/train.c         # one training run from start (or a checkpoint) to the summary
  src/run/train_data.c    # the trainer's data: rank 0 reads, every rank learns the shapes
  src/run/train_plan.c    # the pipeline plan at start-up (one sizing build)
  src/run/train_report.c  # progress lines, metrics records, summaries
  src/run/ckpt.c          # HDF5 checkpoints
  src/run/rundir.c        # the run-dir lock, fresh start vs an earlier run's checkpoints
  src/run/signals.c       # pre-emption signals: a flag
  src/run/weights.c       # weights under PyTorch state_dict names: --init-from, hpff_export
  src/run/metrics.c       # JSON-lines metrics
  src/run/feature_export.c  # --export-features: a checkpoint's features for analysis/
)
