# Auxiliary heads (DGL, InfoPro, PredSim, PFF): their backend ops against double references,
# finite differences of every head kind, the PFF-B two-pass schedule, shapes and work areas.
hpff_test(test_aux_ops cpu test_aux_ops.c)
hpff_test(test_aux_fd cpu test_aux_fd.c)
hpff_test(test_aux_pffc cpu test_aux_pffc.c)
hpff_test(test_aux_pff cpu test_aux_pff.c)
hpff_test(test_aux_shapes cpu test_aux_shapes.c)
# The CUDA versions against the CPU backend (ops and whole heads); skipped (77) without a device.
if(HPFF_HAVE_CUDA)
  hpff_test(test_aux_gpu gpu test_aux_gpu.c)
endif()
