// profile.c — the whole network on a synthetic batch, profiled by module and phase (profile.h).
#include "profile.h"
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "system.h"

#define SOLO_LR 0.01f
#define SOLO_DATA_SEED 12345

hpff_status hpff_solo_init(hpff_solo *r, const hpff_config *cfg, hpff_backend *be, hpff_shape in, int classes) {
    memset(r, 0, sizeof *r);
    hpff_status st = hpff_model_build_all(&r->md, cfg, be, in, classes);
    if (st.code) return st;
    hpff_model_init_values(&r->md);
    r->tr = hpff_transport_local_create();
    float mean[4] = {0.5f, 0.5f, 0.5f, 0.5f}, sd[4] = {0.25f, 0.25f, 0.25f, 0.25f};
    hpff_stage_init(&r->s, &r->md, r->tr, mean, sd, in.c);
    r->n = cfg->batch;
    size_t xn = (size_t)r->n * hpff_shape_numel(in);
    r->x = hpff_xmalloc(xn * sizeof(float));
    r->y = hpff_xmalloc((size_t)r->n * sizeof(int32_t));
    uint64_t rng = SOLO_DATA_SEED;
    for (size_t i = 0; i < xn; i++) r->x[i] = (float)(hpff_rng_uniform01(&rng) * 4.0 - 2.0);
    for (int i = 0; i < r->n; i++) r->y[i] = i % classes;
    return hpff_status_ok();
}

void hpff_solo_steps(hpff_solo *r, int steps, hpff_step_stats *last) {
    hpff_step_stats st;
    for (int i = 0; i < steps; i++) hpff_stage_step(&r->s, r->x, r->y, r->n, SOLO_LR, &st);
    if (last && steps > 0) *last = st;
}

// The phase hook: synchronises the device at every phase boundary and adds the time since the
// previous one to that phase of the module.
typedef struct phase_clock { hpff_backend *be; double t; double *sec; } phase_clock;

static void clock_phase(void *ctx, int m, hpff_phase p) {
    phase_clock *c = ctx;
    c->be->sync(c->be);
    double t = hpff_now();
    if (p != HPFF_PHASE_BEGIN) c->sec[HPFF_PHASES * m + p] += t - c->t;
    c->t = t;
}

void hpff_solo_profile(hpff_solo *r, int steps, double *ms, hpff_step_stats *last) {
    int M = r->md.M;
    memset(ms, 0, sizeof(double) * HPFF_PHASES * (size_t)M);
    phase_clock c = {r->md.be, hpff_now(), ms};
    r->s.on_phase = clock_phase;
    r->s.phase_ctx = &c;
    hpff_solo_steps(r, steps, last);
    r->s.on_phase = NULL;
    r->s.phase_ctx = NULL;
    for (int i = 0; i < HPFF_PHASES * M; i++) ms[i] *= 1000.0 / (steps > 0 ? steps : 1);
}

void hpff_solo_free(hpff_solo *r) {
    free(r->x);
    free(r->y);
    if (r->s.md) hpff_stage_free(&r->s);
    hpff_model_free(&r->md);
    if (r->tr) r->tr->ops->destroy(r->tr);
    memset(r, 0, sizeof *r);
}

hpff_status hpff_measure_module_ms(const hpff_config *cfg, hpff_backend *be, hpff_shape in, int classes,
                                   double *cost) {
    hpff_solo r;
    hpff_status st = hpff_solo_init(&r, cfg, be, in, classes);
    if (st.code) {
        hpff_solo_free(&r);
        return st;
    }
    double *ms = hpff_xcalloc((size_t)HPFF_PHASES * r.md.M, sizeof(double));
    hpff_solo_steps(&r, 1, NULL);
    hpff_solo_profile(&r, 2, ms, NULL);
    for (int m = 0; m < r.md.M; m++) {
        cost[m] = 0;
        for (int p = 0; p < HPFF_PHASES; p++) cost[m] += ms[HPFF_PHASES * m + p];
    }
    free(ms);
    hpff_solo_free(&r);
    return hpff_status_ok();
}
