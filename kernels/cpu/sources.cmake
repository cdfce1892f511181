# CPU backend: one file per job, mirroring kernels/cuda (cpu_bn.c <-> cuda_bn.cu, ...).
set(HPFF_CPU_SOURCES
  kernels/cpu/cpu_backend.c       # life cycle, memory, profiling marks, the table
  kernels/cpu/cpu_elementwise.c   # fill, scale, axpy, add, ReLU, sigmoid, SGD-Nesterov
  kernels/cpu/cpu_conv.c          # convolution (im2col + sgemm)
  kernels/cpu/cpu_linear.c        # fully connected layers (sgemm)
  kernels/cpu/cpu_bn.c            # batch norm
  kernels/cpu/cpu_bn_blocked.c    # batch norm on channel-blocked tensors (oneDNN's nChw8c / nChw16c)
  kernels/cpu/cpu_layout.c        # layout changes NCHW <-> channel-blocked, with the edges' element-wise work
  kernels/cpu/cpu_pool.c          # max / average / adaptive pooling
  kernels/cpu/cpu_resize.c        # bilinear resize, patch extract / scatter
  kernels/cpu/cpu_loss.c          # softmax cross-entropy, BCE
  kernels/cpu/cpu_aux.c           # PredSim spatial std and similarity loss, SupCon
  kernels/cpu/cpu_threads.c       # the worker pool of train.threads
)
# oneDNN convolutions (with HPFF_DNNL; without it, and as their reference, cpu_conv.c im2col).
set(HPFF_DNNL_SOURCES
  kernels/cpu/dnnl_cpu.c
  kernels/cpu/dnnl_conv.c
)
