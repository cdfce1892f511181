# gpu tests: every CUDA backend op against the CPU backend. Built only with the CUDA backend;
# the binary exits 77 (ctest: skipped) on a machine without a CUDA device.
if(HPFF_HAVE_CUDA)
  hpff_test(test_ops_gpu gpu test_ops_gpu.c)
endif()
