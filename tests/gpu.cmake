# gpu tests: every CUDA backend op against the CPU backend. Built only with the CUDA backend;
# the binary exits 77 (ctest: skipped) on a machine without a CUDA device.
if(HPFF_HAVE_CUDA)
  hpff_test(test_ops_gpu gpu test_ops_gpu.c)
  # One whole HPFF step (DGL, InfoPro; ResNet-32 K=16) on the GPU against the CPU backend.
  hpff_test(test_step_gpu gpu test_step_gpu.c)
  # backend.graph: the recorded-and-replayed step trains bitwise like the op-by-op step.
  hpff_test(test_graph_gpu gpu test_graph_gpu.c)
endif()
# The trainer over ranks on the GPU, each equal to -np 1 (tests/trainer/test_gpu_pipeline.sh):
# two ranks sharing one GPU over mpi, and, with two GPUs or more, a rank per GPU over nccl.
# Exit 77 (skipped) without the GPUs they need.
if(HPFF_HAVE_CUDA AND HPFF_HAVE_MPI)
  hpff_script_test(pipeline_gpu_mpi gpu test_gpu_pipeline.sh mpi)
  set_tests_properties(pipeline_gpu_mpi PROPERTIES SKIP_RETURN_CODE 77)
endif()
if(HPFF_HAVE_NCCL)
  hpff_script_test(pipeline_gpu_nccl gpu test_gpu_pipeline.sh nccl)
  set_tests_properties(pipeline_gpu_nccl PROPERTIES SKIP_RETURN_CODE 77)
endif()
