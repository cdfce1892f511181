# src/nn: layers, layer sequences, tensor registries, networks and their module splits.
set(HPFF_NN_SOURCES
  src/nn/params.c         # parameter / state registries, rank-independent initial values
  src/nn/layers.c         # layer types over the backend table
  src/nn/seq.c            # a planned sequence of layers over one activation slot
  src/nn/resnet.c         # CIFAR ResNets unit by unit, the final head
  src/nn/split.c          # cutting a network into local modules (ALGORITHM §2.4)
)
