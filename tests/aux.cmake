hpff_test(test_aux_fd cpu test_aux_fd.c)
