// test_golden_imagenet_infopro.c — one InfoPro+HPFF step of a bottleneck ResNet under the
// ImageNet code profile (cascade level only, w_C = 1, the InfoProAux.py nets, PFF-C, lambda 5 /
// 0.75) against tests/golden/imagenet_infopro_r4.h5: a re-statement of the authors' ImageNet code
// that its generator proves equal to their code in float64 at 224x224 (README there). Checked:
// both cascade losses, Φ's loss and logits, every parameter gradient (samples and statistics).
#include <hdf5.h>
#include <string.h>
#include "golden_hash.h"
#include "model.h"
#include "stage.h"
#include "transport.h"

#define FIXTURE HPFF_SOURCE_DIR "/tests/golden/imagenet_infopro_r4.h5"
static const double GRAD_TOL[2] = {2e-4, 2e-3}, LOSS_RTOL = 1e-5, LOGIT_TOL[2] = {1e-4, 1e-4}, STAT_RTOL = 1e-4,
                    STAT_ATOL = 1e-7;

static void config(hpff_config *c, hid_t f) {
    hpff_config_defaults(c);
    c->arch = HPFF_ARCH_RESNET50;
    strcpy(c->blocks, "1,1,3,1");                 // the fixture's layers
    c->width = (int)gh_attr_d(f, "width") / 4;    // stem 4 x width
    c->batch = (int)gh_attr_d(f, "batch");
    c->method = HPFF_METHOD_INFOPRO;
    c->K = 4;
    c->split = HPFF_SPLIT_LIST;
    strcpy(c->modules, "3:0,3:1,3:2,4:0");        // the fixture's config entries
}

int main(void) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(FIXTURE, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) { fprintf(stderr, "fixture missing: %s\n", FIXTURE); return 1; }
    hpff_config cfg;
    config(&cfg, f);
    int side = (int)gh_attr_d(f, "side"), classes = (int)gh_attr_d(f, "classes"), n = cfg.batch;
    size_t nsamp = (size_t)gh_attr_d(f, "nsamp");
    uint64_t key_base = (uint64_t)gh_attr_d(f, "key_base");
    float mean[3], std[3];
    gh_attr_f(f, "mean", mean);
    gh_attr_f(f, "std", std);
    hpff_backend *be = hpff_backend_cpu_create();
    hpff_transport *tr = hpff_transport_local_create();
    hpff_model md;
    hpff_shape in = {3, side, side};
    hpff_status st = hpff_model_build_all(&md, &cfg, be, in, classes);
    TEST_CHECK(!st.code, "%s", st.msg);
    if (st.code) return hpff_test_summary("test_golden_imagenet_infopro");
    TEST_CHECK(md.M == 4 && md.mod[1].cl && md.mod[2].cl && !md.mod[0].cl && !md.mod[1].il && !md.mod[2].il,
               "the ImageNet profile: cascade heads at modules 1 and 2 only");
    hpff_model_init_values(&md);
    int nt = 0;
    size_t width = 0;
    char *names = gh_read_names(f, "names", &nt, &width);
    double *scale = golden_read_d(f, "scale", NULL), *offset = golden_read_d(f, "offset", NULL);
    double *atol = golden_read_d(f, "grad_atol", NULL), *stat = golden_read_d(f, "grad_stat", NULL);
    float *samp = golden_read_f(f, "grad", NULL);
    TEST_CHECK(nt == md.params.n, "the fixture has %d parameters, the C model %d", nt, md.params.n);
    for (int i = 0; i < nt; i++) {   // initial values
        const char *name = names + (size_t)i * width;
        int t = hpff_registry_find(&md.params, name);
        TEST_CHECK(t >= 0, "fixture tensor %s is not a parameter of the C model", name);
        if (t < 0) continue;
        float *v = malloc(md.params.t[t].count * sizeof(float));
        gh_grid(key_base + (uint64_t)i, md.params.t[t].count, scale[i], offset[i], v);
        hpff_model_set_tensor(&md, name, v, md.params.t[t].count);
        free(v);
    }
    float *x;
    int32_t *y;
    hpff_stage s;
    hpff_step_stats stats;
    gh_stage_grads(f, n, mean, std, &md, tr, &s, &x, &y, &stats);
    double *lcl = golden_read_d(f, "loss_cl", NULL), *lfin = golden_read_d(f, "loss_final", NULL);
    float got[3] = {stats.cl[1].loss, stats.cl[2].loss, stats.final_loss}, ref[3] = {(float)lcl[0], (float)lcl[1], (float)lfin[0]};
    test_close("cascade losses 1, 2 and the final CE", got, ref, 3, 0, LOSS_RTOL);
    float *logits = golden_read_f(f, "logits", NULL);
    gh_compare("logits", hpff_classifier_logits(md.final, md.head_work), (size_t)n * classes, logits,
               (size_t)n * classes, NULL, 0, LOGIT_TOL[0], LOGIT_TOL[1], 0, 0);
    size_t off = 0;
    for (int i = 0; i < nt; i++) {   // every gradient
        const char *name = names + (size_t)i * width;
        int t = hpff_registry_find(&md.params, name);
        if (t < 0) continue;
        size_t count = md.params.t[t].count;
        float *g = malloc(count * sizeof(float));
        hpff_model_get_grad(&md, name, g, count);
        gh_compare(name, g, count, samp + off, nsamp, stat + 4 * i, atol[i], GRAD_TOL[0], GRAD_TOL[1], STAT_RTOL,
                   STAT_ATOL);
        off += gh_nsamp(count, nsamp);
        free(g);
    }
    printf("cascade losses %.6f %.6f, final %.6f (%d parameters)\n", got[0], got[1], got[2], nt);
    free(names); free(scale); free(offset); free(atol); free(stat); free(samp); free(x); free(y);
    free(lcl); free(lfin); free(logits);
    hpff_stage_free(&s);
    hpff_model_free(&md);
    tr->ops->destroy(tr);
    hpff_backend_destroy(be);
    H5Fclose(f);
    return hpff_test_summary("test_golden_imagenet_infopro");
}
