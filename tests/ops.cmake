# ops tests: every CPU backend op against naive double references (guards, beta, +=), and
# finite-difference checks of every backward op. Shared references: ops_ref.h.
hpff_test(test_ops_cpu cpu test_ops_cpu.c)
hpff_test(test_ops_fd cpu test_ops_fd.c)
hpff_test(test_cpu_threads cpu test_cpu_threads.c)
# The profiling wrapper (src/backend/backend_prof.h): exact op counts, times, bitwise-neutral training.
hpff_test(test_backend_prof cpu test_backend_prof.c)
