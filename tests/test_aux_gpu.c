// test_aux_gpu.c — the CUDA auxiliary-head ops against the CPU backend (values, gradients,
// beta, guards), then whole heads (DGL / PredSim under PFF-B, InfoPro PFF-A, SupCon) run on the
// GPU against the same heads on the CPU from identical parameters: loss, dh, every parameter
// gradient and the BN running statistics. Strict fp32 (no TF32). Exits 77 (ctest: skipped) when
// no CUDA device is present, unless HPFF_REQUIRE_GPU=1.
#include "aux_fixture.h"
#include "cuda_backend.h"

static hpff_backend *g_gpu;

static float *dput(const float *h, size_t n) {
    float *d = g_gpu->alloc(g_gpu, (n + 2 * TEST_GUARD) * sizeof(float));
    float *stage = malloc((n + 2 * TEST_GUARD) * sizeof(float));
    for (size_t i = 0; i < n + 2 * TEST_GUARD; i++) stage[i] = TEST_GUARD_VALUE;
    if (h) memcpy(stage + TEST_GUARD, h, n * sizeof(float));
    g_gpu->to_device(g_gpu, d, stage, (n + 2 * TEST_GUARD) * sizeof(float));
    free(stage);
    return d + TEST_GUARD;
}

// Copies a device body back, checks the guards and compares with ref (atol relative to max |ref|).
static void dcheck(const char *what, float *d, const float *ref, size_t n, double tol) {
    float *stage = malloc((n + 2 * TEST_GUARD) * sizeof(float));
    g_gpu->to_host(g_gpu, stage, d - TEST_GUARD, (n + 2 * TEST_GUARD) * sizeof(float));
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(ref[i]) > m ? fabs(ref[i]) : m;
    test_close(what, stage + TEST_GUARD, ref, n, tol * (m > 0 ? m : 1), tol);
    test_guard_ok(what, stage + TEST_GUARD, n);
    free(stage);
    g_gpu->free(g_gpu, d - TEST_GUARD);
}

static int32_t *dlabels(const int32_t *y, int n) {
    int32_t *d = g_gpu->alloc(g_gpu, (size_t)n * sizeof(int32_t));
    g_gpu->to_device(g_gpu, d, y, (size_t)n * sizeof(int32_t));
    return d;
}

static void test_ops(hpff_backend *cpu) {
    enum { ROWS = 300, HW = 49, N = 37, D = 24, DS = 128 };
    float *x = malloc(ROWS * HW * sizeof(float)), y[ROWS], dy[ROWS], *dx = malloc(ROWS * HW * sizeof(float));
    test_fill_uniform(x, ROWS * HW, -2.f, 2.f, 1);
    test_fill_uniform(dy, ROWS, -1.f, 1.f, 2);
    cpu->spatial_std_fwd(cpu, ROWS, HW, x, y);
    test_fill_uniform(dx, ROWS * HW, -1.f, 1.f, 3);
    float *gx = dput(x, ROWS * HW), *gy = dput(NULL, ROWS), *gdy = dput(dy, ROWS), *gdx = dput(dx, ROWS * HW);
    g_gpu->spatial_std_fwd(g_gpu, ROWS, HW, gx, gy);
    cpu->spatial_std_bwd(cpu, ROWS, HW, x, y, dy, dx, 1.f);
    g_gpu->spatial_std_bwd(g_gpu, ROWS, HW, gx, gy, gdy, gdx, 1.f);
    dcheck("spatial_std_fwd", gy, y, ROWS, 1e-5);
    dcheck("spatial_std_bwd beta=1", gdx, dx, ROWS * HW, 1e-5);
    g_gpu->free(g_gpu, gx - TEST_GUARD);
    g_gpu->free(g_gpu, gdy - TEST_GUARD);
    int32_t lab[N];
    for (int i = 0; i < N; i++) lab[i] = (i * 5 + 1) % 7;
    lab[N - 1] = 9;   // a class of its own: a SupCon anchor without positives
    int32_t *glab = dlabels(lab, N);
    float *v = malloc(N * DS * sizeof(float)), *dv = malloc(N * DS * sizeof(float));
    test_fill_uniform(v, N * DS, -1.f, 1.f, 4);
    for (int k = 0; k < D; k++) v[3 * D + k] = 0.25f;   // a constant row
    float *gv = dput(v, N * DS), *gdv = dput(NULL, N * D);
    // Loss stat blocks: host memory on the CPU, device memory (read back) on the GPU.
    float cs[HPFF_STAT_FLOATS] = {0}, gs[HPFF_STAT_FLOATS];
    float *gstat = (float *)g_gpu->alloc(g_gpu, sizeof gs);
    cpu->simmat_mse(cpu, N, D, v, lab, 10, 1.5f, dv, cs, 1.f);
    g_gpu->simmat_mse(g_gpu, N, D, gv, glab, 10, 1.5f, gdv, gstat, 1.f);
    g_gpu->to_host(g_gpu, gs, gstat, sizeof gs);
    float L = cs[HPFF_STAT_LOSS], Lg = gs[HPFF_STAT_LOSS];
    TEST_CHECK(fabs(L - Lg) <= 1e-5 * (1 + fabs(L)), "simmat_mse loss %.9g vs cpu %.9g", Lg, L);
    dcheck("simmat_mse dv", gdv, dv, N * D, 1e-5);
    float *gdf = dput(NULL, N * DS);
    cpu->supcon(cpu, N, DS, v, lab, 0.07f, 0.5f, dv, cs, 1.f);   // adds to the simmat loss
    g_gpu->supcon(g_gpu, N, DS, gv, glab, 0.07f, 0.5f, gdf, gstat, 1.f);
    g_gpu->to_host(g_gpu, gs, gstat, sizeof gs);
    g_gpu->free(g_gpu, gstat);
    L = cs[HPFF_STAT_LOSS] - L;
    Lg = gs[HPFF_STAT_LOSS] - Lg;
    TEST_CHECK(fabs(L - Lg) <= 1e-5 * (1 + fabs(L)), "supcon loss %.9g vs cpu %.9g", Lg, L);
    dcheck("supcon df", gdf, dv, N * DS, 1e-5);
    g_gpu->free(g_gpu, gv - TEST_GUARD);
    g_gpu->free(g_gpu, glab);
    free(x); free(dx); free(v); free(dv);
}

// One head on both backends from the CPU fixture's parameters.
static void test_head(const char *name, const char *const *sets, hpff_level level, hpff_shape in, hpff_shape img,
                      int n, int classes) {
    auxf f;
    auxf_build(&f, sets, level, in, img, n, classes, NULL);
    auxf_arenas(&f, 3);
    memset(f.ex.grads, 0, f.params.total * sizeof(float));
    float L = auxf_step(&f, 0.7f, f.dh);
    // The same head built against the GPU backend (same names, same offsets).
    hpff_registry p = {0}, s = {0};
    hpff_build b = {g_gpu, &p, &s, 1, n, 0.1f, 0.f};
    hpff_status st = hpff_status_ok();
    hpff_head *hd = hpff_aux_create(&b, &f.cfg, 1, level, in, img, classes, &f.hm, &st);
    TEST_CHECK(hd && p.total == f.params.total && s.total == f.state.total, "%s: GPU build %s", name, st.msg);
    if (!hd) return;
    float *st0 = malloc((f.state.total + 1) * sizeof(float));
    hpff_registry_init_values(&f.state, 3, st0);
    size_t hn = (size_t)n * hpff_shape_numel(in), tn = (size_t)n * hpff_shape_numel(img);
    hpff_exec ex = {g_gpu, dput(f.ex.params, p.total), dput(NULL, p.total), dput(st0, s.total), NULL, 0, NULL, 0, 1};
    g_gpu->fill(g_gpu, ex.grads, 0.f, p.total);
    ex.ws_bytes = hd->ws_bytes;
    ex.ws = hd->ws_bytes ? g_gpu->alloc(g_gpu, hd->ws_bytes) : NULL;
    ex.scratch_floats = hd->scratch_floats;
    ex.scratch = dput(NULL, hd->scratch_floats + 1);
    float *gh = dput(f.h, hn), *gt = dput(f.target, tn), *gdh = dput(NULL, hn), *gw = dput(NULL, hd->work_floats);
    int32_t *gl = dlabels(f.labels, n);
    hpff_head_io io = {n, gh, gl, gt, 0.7f, gdh, 0.f, gw, NULL, NULL};
    hpff_head_result r;
    hpff_head_run_now(hd, &ex, &io, 1, &r);
    char what[160];
    TEST_CHECK(fabs(r.loss - L) <= 1e-5 * (1 + fabs(L)), "%s: GPU loss %.9g vs CPU %.9g", name, r.loss, L);
    snprintf(what, sizeof what, "%s: dh", name);
    dcheck(what, gdh, f.dh, hn, 1e-4);
    snprintf(what, sizeof what, "%s: parameter gradients", name);
    dcheck(what, ex.grads, f.ex.grads, p.total, 1e-4);
    snprintf(what, sizeof what, "%s: BN running statistics", name);
    dcheck(what, ex.state, f.ex.state, s.total, 1e-4);
    g_gpu->free(g_gpu, ex.params - TEST_GUARD);
    g_gpu->free(g_gpu, ex.scratch - TEST_GUARD);
    g_gpu->free(g_gpu, gh - TEST_GUARD);
    g_gpu->free(g_gpu, gt - TEST_GUARD);
    g_gpu->free(g_gpu, gw - TEST_GUARD);
    g_gpu->free(g_gpu, gl);
    if (ex.ws) g_gpu->free(g_gpu, ex.ws);
    hpff_head_free(hd);
    hpff_registry_free(&p);
    hpff_registry_free(&s);
    free(st0);
    auxf_free(&f);
}

int main(void) {
    if (hpff_cuda_device_count() == 0) {
        const char *req = getenv("HPFF_REQUIRE_GPU");
        int required = req && req[0] && strcmp(req, "0") != 0;
        printf("test_aux_gpu: no CUDA device; %s\n", required ? "FAIL (HPFF_REQUIRE_GPU is set)" : "skipped");
        return required ? 1 : 77;
    }
    setenv("HPFF_SYNC_CHECK", "1", 0);
    hpff_backend *cpu = hpff_backend_cpu_create();
    g_gpu = hpff_backend_cuda_create(0, 0);
    if (!g_gpu) {
        fprintf(stderr, "FAIL: a CUDA device is present but the CUDA backend could not start\n");
        return 1;
    }
    test_ops(cpu);
    hpff_shape c16 = {16, 16, 16}, img = {3, 32, 32};
    const char *dgl[] = {"train.method=dgl", NULL};
    const char *ps[] = {"train.method=predsim", "local.predsim_T=128", NULL};
    const char *ip[] = {"train.method=infopro", NULL};
    const char *sc[] = {"train.method=infopro", "local.infopro_mode=contrast", "local.il_loss=full", NULL};
    test_head("DGL PFF-B", dgl, HPFF_LEVEL_CL, c16, img, 24, 10);
    test_head("PredSim PFF-B", ps, HPFF_LEVEL_CL, c16, img, 24, 10);
    test_head("InfoPro CL PFF-A", ip, HPFF_LEVEL_CL, c16, img, 24, 10);
    test_head("InfoPro IL SupCon + decoder", sc, HPFF_LEVEL_IL, c16, img, 24, 10);
    hpff_backend_destroy(g_gpu);
    hpff_backend_destroy(cpu);
    return hpff_test_summary("test_aux_gpu");
}
