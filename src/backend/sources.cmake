# src/backend: the backend ops table (backend.h; implementations in kernels/) and its wrappers.
set(HPFF_BACKEND_SOURCES
  src/backend/ledger.c           # named device buffers: allocation, bytes by role
  src/backend/backend_prof.c     # profiling wrapper: ops per step, device time by op
  src/backend/backend_record.c   # recording wrapper: CUDA-graph semantics for the CPU backend
)
