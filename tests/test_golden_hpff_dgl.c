// test_golden_hpff_dgl.c — one DGL+HPFF step (ALGORITHM §3.1, §4.3, §5.4 PFF-B) against a PyTorch
// re-statement that differentiates the authors' literal x/y/z streams (§4.2) with autograd:
// ResNet-8 width 4, 3x16x16 inputs, batch 6, M = 3 modules, IL and CL DGL-port aux nets at module
// 1 under PFF-B n = 2. From the fixture's initial values, hpff_stage_grads must reproduce every
// parameter gradient and the three losses, for w_I/w_C = 0.001/0.999 (/grad) and 0.5/0.5
// (/grad_eq). Fixture and tolerances: tests/golden/README.md, make_golden_hpff_dgl.py.
#include <hdf5.h>
#include <math.h>
#include <string.h>
#include "golden_util.h"
#include "model.h"
#include "stage.h"
#include "test_util.h"
#include "transport.h"

#define B 6
#define GRAD_ATOL_FRAC 2e-4   // atol = GRAD_ATOL_FRAC * max|ref| of the tensor
#define GRAD_RTOL 1e-3
#define LOSS_RTOL 1e-5
#define N_TENSORS 101         // 63 parameters + 38 running statistics
#define N_GRADS 63

static void config(hpff_config *c, float w_il, float w_cl) {
    hpff_config_defaults(c);
    c->arch = HPFF_ARCH_RESNET8;
    c->width = 4;
    c->batch = B;
    c->method = HPFF_METHOD_DGL;
    c->K = 3;
    c->split = HPFF_SPLIT_EVEN;
    c->pff = 1;
    c->pff_n = 2;
    c->w_il = w_il;
    c->w_cl = w_cl;
}

// Builds the model, loads /init, runs one hpff_stage_grads and compares with /<group>.
static void run_case(hid_t f, float w_il, float w_cl, const char *group, int check_losses) {
    hpff_config cfg;
    config(&cfg, w_il, w_cl);
    hpff_backend *be = hpff_backend_cpu_create();
    hpff_transport *tr = hpff_transport_local_create();
    hpff_model md;
    hpff_shape in = {3, 16, 16};
    hpff_status st = hpff_model_build(&md, &cfg, be, in, 10, 0, 2);
    TEST_CHECK(!st.code, "%s", st.msg);
    if (st.code) return;
    TEST_CHECK(md.split.M == 3 && md.params.n == N_GRADS && md.params.n + md.state.n == N_TENSORS,
               "M = %d, %d parameter tensors, %d state tensors", md.split.M, md.params.n, md.state.n);
    hpff_model_init_values(&md);
    int loaded = golden_load_init(f, &md);
    TEST_CHECK(loaded == N_TENSORS, "loaded %d tensors, the fixture has %d", loaded, N_TENSORS);

    float *x = golden_read_f(f, "/x", NULL);
    int32_t y[B];
    hid_t d = H5Dopen2(f, "/y", H5P_DEFAULT);
    H5Dread(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, y);
    H5Dclose(d);
    hpff_stage s;
    float mean[1] = {0}, sd[1] = {1};   // unused by DGL (no reconstruction target)
    hpff_stage_init(&s, &md, tr, mean, sd, 3);
    hpff_step_stats stats;
    memset(&stats, 0, sizeof stats);
    hpff_stage_grads(&s, x, y, B, &stats);

    if (check_losses) {
        const char *names[3] = {"/loss/il1", "/loss/cl1", "/loss/final"};
        float got[3] = {stats.il[1].loss, stats.cl[1].loss, stats.final_loss};
        TEST_CHECK(stats.il[1].present && stats.cl[1].present && !stats.il[0].present && !stats.cl[0].present &&
                       !stats.il[2].present && !stats.cl[2].present,
                   "heads exactly at module 1");
        for (int i = 0; i < 3; i++) {
            float *ref = golden_read_f(f, names[i], NULL);
            TEST_CHECK(ref != NULL, "%s missing", names[i]);
            if (ref) test_close(names[i], &got[i], ref, 1, 0, LOSS_RTOL);
            free(ref);
        }
    }
    int compared = golden_compare(f, &md, &md.params, group, 1, 0, GRAD_ATOL_FRAC, GRAD_RTOL);
    TEST_CHECK(compared == N_GRADS, "%s: compared %d gradients, expected %d", group, compared, N_GRADS);
    free(x);
    hpff_stage_free(&s);
    hpff_model_free(&md);
    tr->ops->destroy(tr);
    hpff_backend_destroy(be);
}

int main(void) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(HPFF_SOURCE_DIR "/tests/golden/hpff_dgl_r8.h5", H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) { fprintf(stderr, "fixture missing\n"); return 1; }
    run_case(f, 0.001f, 0.999f, "grad", 1);   // the DGL* default weights (§4.5)
    run_case(f, 0.5f, 0.5f, "grad_eq", 1);    // every routed term of comparable size
    H5Fclose(f);
    return hpff_test_summary("test_golden_hpff_dgl");
}
