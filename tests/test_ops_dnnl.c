// test_ops_dnnl.c — the CPU backend's oneDNN convolutions against its im2col reference through
// the op suite (ops_suite.h: the one case table, guards, NaN-prefilled beta = 0 outputs, random
// priors for beta = 1 and +=), at 1 and 2 worker threads, with one workspace of the largest size
// asked so far (as a trainer sizes it). Convolutions agree to a scale-relative 1e-5 (other
// summation orders); every other op is the same code on both sides and must agree bit for bit.
// Built with HPFF_DNNL only (tests/ops.cmake); test_dnnl_conv.c adds what only oneDNN promises.
#include <stdio.h>
#include "backend.h"
#include "ops_suite.h"
#include "test_util.h"

int main(void) {
    for (int threads = 1; threads <= 2; threads++) {
        hpff_backend *be = hpff_backend_cpu_create(), *ref = hpff_backend_cpu_create();
        TEST_CHECK(hpff_backend_cpu_set_conv(be, "dnnl") && hpff_backend_cpu_set_conv(ref, "im2col"),
                   "both convolution paths available");
        be->set_threads(be, threads);
        ref->set_threads(ref, threads);
        char name[32];
        snprintf(name, sizeof name, "dnnl/%d", threads);
        ops_driver drv = {name, be, ref, 1, 0.0, 1e-5, 1, 0};
        ops_suite_run(&drv);
        hpff_backend_destroy(be);
        hpff_backend_destroy(ref);
    }
    return hpff_test_summary("test_ops_dnnl");
}
