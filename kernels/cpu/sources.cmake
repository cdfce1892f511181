# CPU backend.
set(HPFF_CPU_SOURCES
  kernels/cpu/backend_cpu.c
  kernels/cpu/conv_cpu.c
  kernels/cpu/nn_cpu.c
  kernels/cpu/aux_cpu.c
  kernels/cpu/cpu_pool.c
)
