// step_fixture.h — whole-network training steps for the step tests (GPU steps, the op profiler,
// the CPU backend's blocked layouts): the ResNet-32 K=16 configuration on 3x32x32 inputs with 10
// classes, and one process's model + stage on a backend (local transport), built from the
// configuration's initial values.
#ifndef HPFF_STEP_FIXTURE_H
#define HPFF_STEP_FIXTURE_H
#include <string.h>
#include "model.h"
#include "stage.h"
#include "test_util.h"
#include "transport.h"

#define STEPF_CLASSES 10
static const hpff_shape STEPF_IMG = {3, 32, 32};

typedef struct stepf_side {
    hpff_backend *be;
    hpff_model md;
    hpff_stage st;
    hpff_step_stats stats;
} stepf_side;

// Validates the configuration in cfg and counts its modules M for images `img` (the ImageNet
// step cases pass theirs); returns M.
static inline int stepf_config_net(const hpff_config *cfg, hpff_shape img, hpff_backend *be) {
    hpff_status st = hpff_config_validate(cfg);
    HPFF_CHECK(!st.code, "%s", st.msg);
    hpff_module_cost cost[HPFF_MAX_MODULES];
    int M = 0;
    st = hpff_model_costs(cfg, be, img, STEPF_CLASSES, cost, &M);
    HPFF_CHECK(!st.code, "%s", st.msg);
    return M;
}

// ResNet-32 K=16 with `method` at `batch` (tf32 as given), validated; returns M.
static inline int stepf_config(hpff_config *cfg, const char *method, int batch, int tf32, hpff_backend *be) {
    hpff_config_defaults(cfg);
    cfg->arch = HPFF_ARCH_RESNET32;
    test_set_method(cfg, method);
    cfg->K = 16;
    cfg->batch = batch;
    cfg->tf32 = tf32;
    return stepf_config_net(cfg, STEPF_IMG, be);
}

// A small ResNet-8 of `width` with `method` at `batch`, cut evenly into K modules (not validated:
// the caller may change more before stepf_config_net).
static inline void stepf_config_small(hpff_config *cfg, const char *method, int width, int batch, int K) {
    hpff_config_defaults(cfg);
    cfg->arch = HPFF_ARCH_RESNET8;
    cfg->width = width;
    cfg->batch = batch;
    test_set_method(cfg, method);
    cfg->K = K;
    cfg->split = HPFF_SPLIT_EVEN;
}

// A whole model of M modules for images `img` on `be`, from the configuration's initial values.
static inline void stepf_side_init_img(stepf_side *s, const hpff_config *cfg, hpff_backend *be, int M, hpff_shape img) {
    memset(s, 0, sizeof *s);
    s->be = be;
    hpff_status st = hpff_model_build(&s->md, cfg, be, img, STEPF_CLASSES, 0, M - 1);
    HPFF_CHECK(!st.code, "%s", st.msg);
    hpff_model_init_values(&s->md);
    float mean[3] = {0.49f, 0.48f, 0.45f}, sd[3] = {0.25f, 0.24f, 0.26f};
    hpff_stage_init(&s->st, &s->md, hpff_transport_local_create(), mean, sd, 3);
}

static inline void stepf_side_init(stepf_side *s, const hpff_config *cfg, hpff_backend *be, int M) {
    stepf_side_init_img(s, cfg, be, M, STEPF_IMG);
}

static inline void stepf_side_free(stepf_side *s) {
    hpff_transport *tr = s->st.tr;
    hpff_stage_free(&s->st);
    hpff_model_free(&s->md);
    tr->ops->destroy(tr);
}
#endif
