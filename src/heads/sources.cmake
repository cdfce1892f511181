# src/heads: the HiLo schedule and the auxiliary heads of the local methods.
set(HPFF_HEADS_SOURCES
  src/heads/hilo.c          # which losses each module has, and their weights (ALGORITHM §4)
  src/heads/head.c          # the head seam and the plain classifier head (Φ)
  src/heads/auxnet.c        # a head's layer sequence, the PFF patch grid, shared-weight builds
  src/heads/method_nets.c   # the base methods' auxiliary nets (DGL, InfoPro, PredSim)
  src/heads/dgl_predsim.c   # DGL and PredSim heads, whole map or PFF-B
  src/heads/infopro.c       # InfoPro heads: classifier + reconstruction terms
  src/heads/aux_imagenet.c  # the InfoPro nets of the authors' ImageNet code (InfoProAux.py)
  src/heads/aux_select.c    # which head a module gets at each level, from the configuration
)
