// test_golden_bp.c — one whole end-to-end backprop training run against PyTorch: a ResNet-8
// (width 4, 12x12 inputs) from the fixture's initial weights; the loss, logits and every
// parameter gradient of step 0, and every parameter, running statistic and the eval logits
// after 3 SGD-Nesterov steps (tests/golden/README.md; tolerances from the fixture).
#include <hdf5.h>
#include <string.h>
#include "golden_util.h"
#include "model.h"
#include "stage.h"
#include "test_util.h"
#include "transport.h"

int main(void) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(HPFF_SOURCE_DIR "/tests/golden/bp_resnet8.h5", H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) { fprintf(stderr, "fixture missing\n"); return 1; }
    hpff_config cfg;
    hpff_config_defaults(&cfg);
    cfg.arch = HPFF_ARCH_RESNET8;
    cfg.width = 4;
    cfg.batch = 6;
    cfg.method = HPFF_METHOD_BP;
    cfg.K = 1;
    cfg.momentum = 0.9f;
    cfg.weight_decay = 1e-4f;
    hpff_backend *be = hpff_backend_cpu_create();
    hpff_transport *tr = hpff_transport_local_create();
    hpff_model md;
    hpff_shape in = {3, 12, 12};
    hpff_status st = hpff_model_build(&md, &cfg, be, in, 10, 0, 0);
    TEST_CHECK(!st.code, "%s", st.msg);
    hpff_model_init_values(&md);
    int loaded = golden_load_init(f, &md);   // every parameter and running statistic
    TEST_CHECK(loaded == 47, "loaded %d tensors, the fixture has 47", loaded);
    float *xs = golden_read_f(f, "/batches/x", NULL);
    size_t ny = 0;
    int32_t *ys = golden_read_i32(f, "/batches/y", &ny);
    hpff_stage s;
    float mean[1] = {0}, sd[1] = {1};
    hpff_stage_init(&s, &md, tr, mean, sd, 3);
    size_t per = 6 * 3 * 12 * 12;
    for (int t = 0; t < 3; t++) {
        hpff_step_stats stats;
        hpff_stage_grads(&s, xs + t * per, ys + t * 6, 6, &stats);
        if (t == 0) {
            float *loss = golden_read_f(f, "/step0/loss", NULL), *logits = golden_read_f(f, "/step0/logits", NULL);
            test_close("step0/loss", &stats.final_loss, loss, 1, 0, 1e-5);
            test_close("step0/logits", hpff_classifier_logits(md.final, md.head_work), logits, 60, 1e-5, 1e-5);
            golden_compare(f, &md, &md.params, "step0/grad", 1, 1e-6, 0, 1e-4);
            free(loss);
            free(logits);
        }
        hpff_model_sgd(&md, 0.1f);
    }
    golden_compare(f, &md, &md.params, "final", 0, 1e-6, 0, 1e-5);
    golden_compare(f, &md, &md.state, "final", 0, 1e-5, 0, 1e-5);
    hpff_step_stats es;
    hpff_stage_eval(&s, xs, ys, 6, &es);
    float *eval_logits = golden_read_f(f, "/final/eval_logits", NULL);
    test_close("final/eval_logits", hpff_classifier_logits(md.final, md.head_work), eval_logits, 60, 1e-5, 1e-4);
    free(eval_logits);
    free(xs);
    free(ys);
    hpff_stage_free(&s);
    hpff_model_free(&md);
    tr->ops->destroy(tr);
    hpff_backend_destroy(be);
    H5Fclose(f);
    return hpff_test_summary("test_golden_bp");
}
