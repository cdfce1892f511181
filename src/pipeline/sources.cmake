# src/pipeline: what one rank holds and runs, how ranks are planned and talk to each other.
set(HPFF_PIPELINE_SOURCES
  src/pipeline/model.c             # a rank's modules, heads and arenas, sized up front
  src/pipeline/stage.c             # the HiLo step on a rank's modules, §9's protocol
  src/pipeline/stage_graph.c       # backend.graph: the step recorded between transport calls
  src/pipeline/profile.c           # the whole network on synthetic data, timed by module and phase
  src/pipeline/plan.c              # module ranges per rank by cost
  src/pipeline/world.c             # MPI start-up and collectives
  src/pipeline/transport_local.c   # one process: nothing to move
  src/pipeline/transport_mpi.c     # host buffers over MPI point-to-point
  src/pipeline/grid.c              # S stages x R replicas: placement, stage communicators
  src/pipeline/reducer_mpi.c       # replicas' gradient averages: MPI_Iallreduce on host memory
  src/pipeline/replicas.c          # replicas' checksum check, BN statistics, gradient buckets
)
# Added to libhpff when NCCL is found (CMakeLists.txt).
set(HPFF_NCCL_SOURCES src/pipeline/transport_nccl.c
                      src/pipeline/reducer_nccl.c)   # replicas' gradient averages: ncclAllReduce
