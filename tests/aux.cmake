# Auxiliary heads (DGL, InfoPro, PredSim, PFF): their backend ops against double references,
# finite differences of every head kind, the PFF-B two-pass schedule, shapes and work areas.
hpff_test(test_aux_ops cpu test_aux_ops.c)
hpff_test(test_aux_fd cpu test_aux_fd.c)
# The heads' gradient wiring against fp32 finite differences of the loss runs on the im2col
# convolutions: its tolerances were set from their rounding. oneDNN's analytic gradients agree with
# im2col's to 7 digits on these heads; its convolutions have their own reference and
# finite-difference tests (test_dnnl_conv, test_ops_fd).
set_tests_properties(test_aux_fd PROPERTIES ENVIRONMENT HPFF_CPU_CONV=im2col)
hpff_test(test_aux_pffc cpu test_aux_pffc.c)
hpff_test(test_aux_pff cpu test_aux_pff.c)
hpff_test(test_aux_shapes cpu test_aux_shapes.c)
# The CUDA versions against the CPU backend (ops and whole heads); skipped (77) without a device.
if(HPFF_HAVE_CUDA)
  hpff_test(test_aux_gpu gpu test_aux_gpu.c)
endif()
