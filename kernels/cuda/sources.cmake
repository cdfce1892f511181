# CUDA backend (compiled when HPFF_CUDA resolves on).
set(HPFF_CUDA_SOURCES
  kernels/cuda/cuda_backend.cu
  kernels/cuda/cuda_elementwise.cu
  kernels/cuda/cuda_conv.cu
  kernels/cuda/cuda_bn.cu
  kernels/cuda/cuda_pool.cu
  kernels/cuda/cuda_linear.cu
  kernels/cuda/cuda_resize.cu
  kernels/cuda/cuda_loss.cu
  kernels/cuda/cuda_aux.cu
)
