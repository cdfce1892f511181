# ops tests: every CPU backend op against naive double references (guards, beta, +=), and
# finite-difference checks of every backward op. Shared references: ops_ref.h.
hpff_test(test_ops_cpu cpu test_ops_cpu.c)
hpff_test(test_ops_fd cpu test_ops_fd.c)
hpff_test(test_cpu_threads cpu test_cpu_threads.c)
# Channel-blocked layouts: reorders and blocked batch norm bit for bit against NCHW; with oneDNN,
# blocked convolutions, residual blocks and head chains against the NCHW and im2col paths.
hpff_test(test_cpu_blocked cpu test_cpu_blocked.c)
# The profiling wrapper (src/backend/backend_prof.h): exact op counts, times, bitwise-neutral training.
hpff_test(test_backend_prof cpu test_backend_prof.c)
# Both CPU convolution paths (oneDNN and the im2col reference) against the double references;
# oneDNN's own primitives in use, bitwise repeatable at 1 and 2 threads. With oneDNN the tests
# above run on it (the default); the reference path runs them again (HPFF_CPU_CONV=im2col).
if(HPFF_HAVE_DNNL)
  hpff_test(test_dnnl_conv cpu test_dnnl_conv.c)
  hpff_test(test_ops_dnnl cpu test_ops_dnnl.c)   # the op suite's third driver: oneDNN vs im2col
  foreach(_t test_ops_cpu test_ops_fd test_cpu_threads)
    add_test(NAME ${_t}_im2col COMMAND ${_t})
    set_tests_properties(${_t}_im2col PROPERTIES LABELS cpu ENVIRONMENT HPFF_CPU_CONV=im2col
                         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  endforeach()
endif()
