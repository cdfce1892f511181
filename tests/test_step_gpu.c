// test_step_gpu.c — one whole HPFF training step on the CUDA backend against the CPU backend:
// ResNet-32 K=16 (DGL and InfoPro, HiLo with PFF as configured by default), batch 16 of random
// 3x32x32 images, TF32 off; and reduced ImageNet networks (a bottleneck ResNet under the InfoPro
// ImageNet profile, a ResNeXt 32x8d with grouped convs under DGL, VGG13 K=10 DGL+HPFF with the
// official aux) on 64x64 / 32x32 images. Both models start from the same values (hpff_model_init_values
// depends only on the seed and the tensor names), and hpff_stage_grads runs on the same batch.
//  - every head loss and the final loss: within 1e-4 relative;
//  - parameter gradients: relative L2 error ||g - c|| / ||c|| of all of them together <= 0.05, and
//    of each tensor, ||g - c|| / (||c|| + atol sqrt(n)), <= 0.2. A wrong kernel, buffer or missing
//    synchronisation gives errors of order 1; on an H100 (cuDNN 9, TF32 off) DGL measured 0.006
//    and 0.033, InfoPro 0.0003 and 0.005 — the same as the control below.
// Element by element (atol 1e-5 + rtol 1e-3) the count outside and the worst tensors are printed
// but do not fail the test: a ReLU whose input lies within rounding of zero switches between
// backends, and its jump reaches whole tensors (one unit flipped in an aux MLP changes a row of
// fc1 by percents). The test shows this with a control: the CPU against itself with inputs
// perturbed by 1e-7 relative misses the elementwise bound alike (by factors over 100, with L2
// errors of the GPU's size).
// Exits 77 (ctest: skipped) without a CUDA device, unless HPFF_REQUIRE_GPU=1 (tests/gpu/run.sh),
// which makes that a failure.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "step_fixture.h"

#define N 16
#define CLASSES STEPF_CLASSES
typedef stepf_side side;

static void side_run(side *s, const hpff_config *cfg, hpff_backend *be, int M, hpff_shape shape, const float *img,
                     const int32_t *labels) {
    stepf_side_init_img(s, cfg, be, M, shape);
    hpff_stage_grads(&s->st, img, labels, N, &s->stats);
    be->sync(be);
}

static void side_free(side *s) { stepf_side_free(s); }

static void loss_close(const char *what, float gpu, float cpu) {
    double err = fabs((double)gpu - cpu), lim = 1e-4 * fmax(fabs((double)cpu), 1e-6);
    TEST_CHECK(err <= lim && isfinite(gpu), "%s: GPU %.9g, CPU %.9g (rel err %.3g)", what, gpu, cpu,
               err / fmax(fabs((double)cpu), 1e-30));
}

typedef struct worst { char name[112]; double score, max_err, rel_l2; size_t out, count; } worst;

static void keep_worst(worst *top, worst w) {   // top[5], by score, descending
    for (int k = 0; k < 5; k++)
        if (w.score > top[k].score) { worst tmp = top[k]; top[k] = w; w = tmp; }
}

// Gradients of `got` against `ref`, tensor by tensor. `enforce`: the L2 bounds fail the test (the
// elementwise bound is reported either way).
static void compare_grads(const char *method, const char *label, const hpff_model *ref, const hpff_model *got,
                          int enforce) {
    const double atol = 1e-5, rtol = 1e-3, l2_tol = 0.2, all_tol = 0.05;
    const hpff_registry *reg = &ref->params;
    worst by_elem[5], by_l2[5];
    memset(by_elem, 0, sizeof by_elem);
    memset(by_l2, 0, sizeof by_l2);
    int tensors_out = 0, l2_bad = 0;
    size_t elems = 0, elems_out = 0;
    double all_e2 = 0, all_c2 = 0;
    for (int i = 0; i < reg->n; i++) {
        const hpff_tensor_info *t = &reg->t[i];
        float *a = malloc(t->count * sizeof(float)), *b = malloc(t->count * sizeof(float));
        int ok = hpff_model_get_grad(ref, t->name, a, t->count) >= 0 && hpff_model_get_grad(got, t->name, b, t->count) >= 0;
        TEST_CHECK(ok, "%s: gradient of %s missing on one side", method, t->name);
        if (ok) {
            worst w = {{0}, 0, 0, 0, 0, t->count};
            snprintf(w.name, sizeof w.name, "%s", t->name);
            double e2 = 0, c2 = 0, ratio = 0;
            for (size_t j = 0; j < t->count; j++) {
                double e = isfinite(b[j]) ? fabs((double)b[j] - a[j]) : INFINITY;
                double r = e / (atol + rtol * fabs((double)a[j]));
                if (r > 1) w.out++;
                if (r > ratio) ratio = r;
                if (e > w.max_err) w.max_err = e;
                e2 += e * e;
                c2 += (double)a[j] * a[j];
            }
            all_e2 += e2;
            all_c2 += c2;
            w.rel_l2 = sqrt(e2) / (sqrt(c2) + atol * sqrt((double)t->count));
            elems += t->count;
            elems_out += w.out;
            tensors_out += w.out > 0;
            w.score = ratio;
            keep_worst(by_elem, w);
            w.score = w.rel_l2;
            keep_worst(by_l2, w);
            if (enforce) {
                TEST_CHECK(w.rel_l2 <= l2_tol, "%s grad %s: relative L2 error %.3g > %g (max abs err %.3g)", method,
                           t->name, w.rel_l2, l2_tol, w.max_err);
                l2_bad += w.rel_l2 > l2_tol;
            }
        }
        free(a);
        free(b);
    }
    double all_rel = sqrt(all_e2) / sqrt(all_c2);
    if (enforce)
        TEST_CHECK(all_rel <= all_tol, "%s: relative L2 error of all gradients together %.3g > %g", method, all_rel,
                   all_tol);
    printf("%s [%s]: %d gradient tensors; relative L2 error: all %.3g, worst tensor %.3g%s; elementwise "
           "(atol %g + rtol %g): %d tensors, %zu of %zu elements outside\n", method, label, reg->n, all_rel,
           by_l2[0].rel_l2, !enforce ? "" : l2_bad || all_rel > all_tol ? " (FAIL)" : " (ok: bounds 0.05, 0.2)", atol,
           rtol, tensors_out, elems_out, elems);
    for (int k = 0; k < 5 && by_l2[k].name[0]; k++)
        printf("  worst L2    %-44s rel L2 %.3g  max abs err %.3g  %zu of %zu outside\n", by_l2[k].name,
               by_l2[k].rel_l2, by_l2[k].max_err, by_l2[k].out, by_l2[k].count);
    for (int k = 0; k < 5 && by_elem[k].name[0]; k++)
        printf("  worst elem  %-44s err/tol %.3g  rel L2 %.3g  %zu of %zu outside\n", by_elem[k].name,
               by_elem[k].score, by_elem[k].rel_l2, by_elem[k].out, by_elem[k].count);
}

// One case: ResNet-32 K=16 with `method` (arch RESNET32, no blocks), or a reduced ImageNet network.
typedef struct step_spec {
    const char *method;
    hpff_arch arch;
    const char *blocks, *modules;
    hpff_split_mode split;
    int width, K, side;
    hpff_dgl_aux dgl_aux;
} step_spec;

static int case_config(const step_spec *sp, hpff_config *cfg, hpff_shape *img, hpff_backend *cpu) {
    if (sp->arch == HPFF_ARCH_RESNET32) {
        *img = STEPF_IMG;
        return stepf_config(cfg, sp->method, N, 0, cpu);
    }
    hpff_config_defaults(cfg);
    cfg->arch = sp->arch;
    test_set_method(cfg, sp->method);
    snprintf(cfg->blocks, sizeof cfg->blocks, "%s", sp->blocks);
    snprintf(cfg->modules, sizeof cfg->modules, "%s", sp->modules);
    cfg->split = sp->split;
    cfg->dgl_aux = sp->dgl_aux;
    cfg->width = sp->width;
    cfg->K = sp->K;
    cfg->batch = N;
    cfg->tf32 = 0;
    hpff_shape s = {3, sp->side, sp->side};
    *img = s;
    return stepf_config_net(cfg, s, cpu);
}

static void step_case(const step_spec *sp, hpff_backend *cpu, hpff_backend *gpu) {
    hpff_config cfg;
    hpff_shape IMG;
    int M = case_config(sp, &cfg, &IMG, cpu);
    char method[96];
    snprintf(method, sizeof method, "%s %s", hpff_config_enum_name(&cfg, &cfg.arch), sp->method);

    size_t n_img = (size_t)N * hpff_shape_numel(IMG);
    float *img = malloc(n_img * sizeof(float));
    int32_t labels[N];
    test_fill_uniform(img, n_img, -2.f, 2.f, 20240601);
    for (int i = 0; i < N; i++) labels[i] = (i * 7 + 3) % CLASSES;

    side c, g;
    side_run(&c, &cfg, cpu, M, IMG, img, labels);
    side_run(&g, &cfg, gpu, M, IMG, img, labels);

    // losses: every head present on either side, and the final head
    char what[160];
    int heads = 0;
    for (int m = 0; m < M; m++) {
        const hpff_head_stats *hs[2][2] = {{&c.stats.il[m], &g.stats.il[m]}, {&c.stats.cl[m], &g.stats.cl[m]}};
        for (int lv = 0; lv < 2; lv++) {
            if (!hs[lv][0]->present && !hs[lv][1]->present) continue;
            snprintf(what, sizeof what, "%s %s loss of module %d", method, lv ? "cascade" : "independent", m);
            TEST_CHECK(hs[lv][0]->present && hs[lv][1]->present, "%s: present on one backend only", what);
            loss_close(what, hs[lv][1]->loss, hs[lv][0]->loss);
            heads++;
        }
    }
    TEST_CHECK(c.stats.has_final && g.stats.has_final, "%s: no final loss", method);
    snprintf(what, sizeof what, "%s final loss", method);
    loss_close(what, g.stats.final_loss, c.stats.final_loss);
    printf("%s: %d modules, %d head losses + final (CPU %.6f, GPU %.6f)\n", method, M, heads,
           c.stats.final_loss, g.stats.final_loss);

    compare_grads(method, "GPU", &c.md, &g.md, 1);
    side p;   // control: the CPU with the inputs perturbed by 1e-7 relative
    float *img2 = malloc(n_img * sizeof(float));
    uint64_t seed = 77;
    for (size_t i = 0; i < n_img; i++) img2[i] = img[i] * (1.f + 1e-7f * (float)((int)(test_rng_next(&seed) % 3) - 1));
    side_run(&p, &cfg, cpu, M, IMG, img2, labels);
    compare_grads(method, "control: CPU, inputs perturbed by 1e-7", &c.md, &p.md, 0);
    side_free(&p);
    free(img2);
    side_free(&c);
    side_free(&g);
    free(img);
}

int main(void) {
    if (hpff_cuda_device_count() == 0) {
        const char *req = getenv("HPFF_REQUIRE_GPU");   // set on the GPU machine: no skipping
        int required = req && req[0] && strcmp(req, "0") != 0;
        printf("test_step_gpu: no CUDA device; %s\n", required ? "FAIL (HPFF_REQUIRE_GPU is set)" : "skipped");
        return required ? 1 : 77;
    }
    hpff_backend *cpu = hpff_backend_cpu_create();
    hpff_backend *gpu = hpff_backend_cuda_create(0, 0);
    if (!gpu) {
        fprintf(stderr, "FAIL: a CUDA device is present but the CUDA backend could not start\n");
        return 1;
    }
    static const step_spec cases[] = {
        {"dgl", HPFF_ARCH_RESNET32, "", "", HPFF_SPLIT_CODE, 16, 16, 32, HPFF_DGL_AUX_PORT},
        {"infopro", HPFF_ARCH_RESNET32, "", "", HPFF_SPLIT_CODE, 16, 16, 32, HPFF_DGL_AUX_PORT},
        // reduced ImageNet networks (stem 16): bottleneck ResNet under the InfoPro ImageNet profile
        // (cascades on 256 x 4 x 4, PFF-C); ResNeXt 32x8d (groups 32) under DGL+HPFF; VGG13 K=10
        // DGL+HPFF with the official aux (stem 8)
        {"infopro", HPFF_ARCH_RESNET50, "1,1,3,1", "3:0,3:1,3:2,4:0", HPFF_SPLIT_LIST, 4, 4, 64, HPFF_DGL_AUX_PORT},
        {"dgl", HPFF_ARCH_RESNEXT101_32X8D, "1,1,2,1", "", HPFF_SPLIT_EVEN, 4, 4, 64, HPFF_DGL_AUX_PORT},
        {"dgl", HPFF_ARCH_VGG13, "", "", HPFF_SPLIT_CODE, 2, 10, 32, HPFF_DGL_AUX_OFFICIAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) step_case(&cases[i], cpu, gpu);
    hpff_backend_destroy(gpu);
    hpff_backend_destroy(cpu);
    return hpff_test_summary("test_step_gpu");
}
