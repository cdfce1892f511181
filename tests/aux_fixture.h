// aux_fixture.h — shared set-up of the auxiliary-head tests: a CPU backend, registries, one
// head built through hpff_aux_create from configuration overrides, arenas with non-trivial BN
// affine parameters, a random feature map / labels / target, and a guarded work area.
#ifndef HPFF_AUX_FIXTURE_H
#define HPFF_AUX_FIXTURE_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "aux_select.h"
#include "test_util.h"

typedef struct auxf {
    hpff_backend *be;
    hpff_registry params, state;
    hpff_build b;
    hpff_exec ex;
    hpff_config cfg;
    hpff_hilo_module hm;
    hpff_head *hd;
    hpff_shape in, img;
    int n, classes;
    float *h, *dh, *target, *work;   // work is guarded
    int32_t *labels;
} auxf;

// Config defaults plus "section.key=value" overrides (NULL-terminated list).
static inline void auxf_config(auxf *f, const char *const *sets) {
    hpff_config_defaults(&f->cfg);
    for (int i = 0; sets && sets[i]; i++) {
        hpff_status st = hpff_config_set(&f->cfg, sets[i], "test");
        if (st.code) { fprintf(stderr, "bad test override %s: %s\n", sets[i], st.msg); exit(2); }
    }
}

// Everything but the head: config, backend, build context, shapes, and the HiLo entry of
// module 1 with non-trivial InfoPro weights (a test may change f->hm before auxf_make_head).
static inline void auxf_prepare(auxf *f, const char *const *sets, hpff_shape in, hpff_shape img,
                                int n, int classes) {
    memset(f, 0, sizeof *f);
    auxf_config(f, sets);
    f->be = hpff_backend_cpu_create();
    hpff_build b = {f->be, &f->params, &f->state, 1, n, 0.1f, 0.f};
    f->b = b;
    f->in = in;
    f->img = img;
    f->n = n;
    f->classes = classes;
    f->hm.il = f->hm.cl = 1;
    f->hm.lambda_rec = 2.f;
    f->hm.lambda_ce = 0.5f;
}

// The head of `level` for module 1 (NULL on failure: message in *st, or fatal when st is NULL).
static inline void auxf_make_head(auxf *f, hpff_level level, hpff_status *st) {
    hpff_status s = hpff_status_ok();
    f->hd = hpff_aux_create(&f->b, &f->cfg, 1, level, f->in, f->img, f->classes, &f->hm, &s);
    if (st) *st = s;
    else if (!f->hd) { fprintf(stderr, "head build failed: %s\n", s.msg); exit(2); }
}

// Builds the head of `level` for module 1 (NULL head on failure, message in *st).
static inline void auxf_build(auxf *f, const char *const *sets, hpff_level level, hpff_shape in,
                              hpff_shape img, int n, int classes, hpff_status *st) {
    auxf_prepare(f, sets, in, img, n, classes);
    auxf_make_head(f, level, st);
}

// Arenas and inputs (labels cycle through the classes so every class has positives when n allows).
static inline void auxf_arenas(auxf *f, uint64_t seed) {
    f->ex.be = f->be;
    f->ex.params = calloc(f->params.total + 16, sizeof(float));
    f->ex.grads = calloc(f->params.total + 16, sizeof(float));
    f->ex.state = calloc(f->state.total + 16, sizeof(float));
    hpff_registry_init_values(&f->params, seed, f->ex.params);
    hpff_registry_init_values(&f->state, seed, f->ex.state);
    for (int i = 0; i < f->params.n; i++)
        if (strstr(f->params.t[i].name, "bn") && f->params.t[i].init != HPFF_INIT_NORMAL)
            test_fill_uniform(f->ex.params + f->params.t[i].off, f->params.t[i].count, 0.5f, 1.5f, seed + 7 + i);
    f->ex.ws_bytes = f->hd->ws_bytes;
    f->ex.ws = f->hd->ws_bytes ? malloc(f->hd->ws_bytes) : NULL;
    f->ex.scratch_floats = f->hd->scratch_floats;
    f->ex.scratch = calloc(f->hd->scratch_floats + 16, sizeof(float));
    f->ex.train = 1;
    size_t hn = (size_t)f->n * hpff_shape_numel(f->in), tn = (size_t)f->n * hpff_shape_numel(f->img);
    f->h = malloc(hn * sizeof(float));
    f->dh = calloc(hn, sizeof(float));
    f->target = malloc(tn * sizeof(float));
    test_fill_uniform(f->h, hn, -1.5f, 1.5f, seed + 1);
    test_fill_uniform(f->target, tn, 0.05f, 0.95f, seed + 2);
    f->labels = malloc((size_t)f->n * sizeof(int32_t));
    for (int i = 0; i < f->n; i++) f->labels[i] = (int32_t)((i * 7 + 3) % f->classes);
    f->work = test_guarded_alloc(f->hd->work_floats);
}

// One train step with level weight w; dh may be NULL; beta as the head contract. Returns L.
static inline float auxf_step_beta(auxf *f, float w, float *dh, float beta) {
    hpff_head_io io = {f->n, f->h, f->labels, f->target, w, dh, beta, f->work, NULL, NULL};
    hpff_head_result r;
    hpff_head_run_now(f->hd, &f->ex, &io, 1, &r);
    return r.loss;
}
static inline float auxf_step(auxf *f, float w, float *dh) { return auxf_step_beta(f, w, dh, 0.f); }

static inline void auxf_free(auxf *f) {
    test_guard_ok(f->hd->name, f->work, f->hd->work_floats);
    hpff_head_free(f->hd);
    free(f->ex.params); free(f->ex.grads); free(f->ex.state); free(f->ex.ws); free(f->ex.scratch);
    free(f->h); free(f->dh); free(f->target); free(f->labels);
    test_guarded_free(f->work);
    hpff_registry_free(&f->params);
    hpff_registry_free(&f->state);
    hpff_backend_destroy(f->be);
}

// Index of the first tensor whose name contains `part`, or -1.
static inline int auxf_find(const hpff_registry *r, const char *part) {
    for (int i = 0; i < r->n; i++)
        if (strstr(r->t[i].name, part)) return i;
    return -1;
}

#endif
