# src/nn: layers, layer sequences, tensor registries, networks and their module splits.
set(HPFF_NN_SOURCES
  src/nn/params.c         # parameter / state registries, rank-independent initial values
  src/nn/layers.c         # layer types over the backend table
  src/nn/seq.c            # a planned sequence of layers over one activation slot
  src/nn/net.c            # network specs and units: CIFAR ResNets, dispatch to the ImageNet nets
  src/nn/net_imagenet.c   # ImageNet bottleneck ResNets / ResNeXts and VGG13 unit by unit, VGG's Φ
  src/nn/bottleneck.c     # the torchvision v1.5 bottleneck block (grouped 3x3)
  src/nn/split.c          # cutting a network into local modules (ALGORITHM §2.4)
)
