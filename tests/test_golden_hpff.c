// test_golden_hpff.c — ONE InfoPro+HPFF training step (HiLo IL+CL, PFF-A quadrant decoders,
// ResNet-32, K=8, CIFAR 32x32, batch 4) against the gradients of the HPFF authors' own PyTorch
// model code (tests/golden/README.md, fixture hpff_infopro_r32k8.h5; ALGORITHM.md §3.2,
// §4.2-§4.5, §5.2, §2.4). The fixture maps each of their tensor names to ours (/map); the initial
// values are stored exactly (int8 grid: offset + q*scale). Every one of our 365 parameters must be
// mapped. Gradients: sampled entries elementwise, and for every tensor the float64 statistics of
// the full gradient (sum, L1, L2, a signed projection); the final/local losses and the logits.
#include <hdf5.h>
#include <math.h>
#include <string.h>
#include "golden_util.h"
#include "model.h"
#include "stage.h"
#include "test_util.h"
#include "transport.h"

#define NAMELEN 64

static double attr_d(hid_t obj, const char *name) {
    double v = NAN;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return v;
    H5Aread(a, H5T_NATIVE_DOUBLE, &v);
    H5Aclose(a);
    return v;
}

static double ds_attr(hid_t f, const char *path, const char *name) {
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    if (d < 0) return NAN;
    double v = attr_d(d, name);
    H5Dclose(d);
    return v;
}

// Fixed-length string array (numpy "S64") -> n names.
static char (*read_names(hid_t f, const char *path, int *n))[NAMELEN + 1] {
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    if (d < 0) return NULL;
    hid_t sp = H5Dget_space(d);
    *n = (int)H5Sget_simple_extent_npoints(sp);
    hid_t ty = H5Tcopy(H5T_C_S1);
    H5Tset_size(ty, NAMELEN);
    char *raw = calloc((size_t)*n, NAMELEN);
    H5Dread(d, ty, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw);
    char (*out)[NAMELEN + 1] = calloc((size_t)*n, NAMELEN + 1);
    for (int i = 0; i < *n; i++) memcpy(out[i], raw + (size_t)i * NAMELEN, NAMELEN);
    free(raw);
    H5Tclose(ty);
    H5Sclose(sp);
    H5Dclose(d);
    return out;
}

// Report group of one of our tensor names: aux<m>.<il|cl>.<cls|dec>, fc, or F<m> (backbone).
static void group_of(const hpff_model *md, const hpff_tensor_info *t, char *g, size_t len) {
    if (strncmp(t->name, "aux", 3) == 0) {
        int m = 0;
        char lv[4] = "";
        sscanf(t->name, "aux%d.%2s", &m, lv);
        snprintf(g, len, "aux%d.%s.%s", m, lv, strstr(t->name, ".dec") ? "dec" : "cls");
    } else if (strncmp(t->name, "fc", 2) == 0) {
        snprintf(g, len, "fc");
    } else {
        snprintf(g, len, "F%d", t->group < md->M ? t->group : -1);
    }
}

int main(void) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(HPFF_SOURCE_DIR "/tests/golden/hpff_infopro_r32k8.h5", H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) { fprintf(stderr, "fixture missing\n"); return 1; }
    hid_t root = H5Gopen2(f, "/", H5P_DEFAULT);
    const int B = (int)attr_d(root, "batch"), K = (int)attr_d(root, "K");
    const double atol = attr_d(root, "grad_atol"), rtol = attr_d(root, "grad_rtol");
    const double s_rtol = attr_d(root, "stat_rtol"), s_atol = attr_d(root, "stat_atol");
    const double l_atol = attr_d(root, "loss_atol"), l_rtol = attr_d(root, "loss_rtol");
    const double g_atol = attr_d(root, "logits_atol"), g_rtol = attr_d(root, "logits_rtol");
    const long nfull = (long)attr_d(root, "nfull"), nsamp = (long)attr_d(root, "nsamp");
    TEST_CHECK(B == 4 && K == 8, "fixture batch %d K %d", B, K);

    hpff_config cfg;
    hpff_config_defaults(&cfg);
    cfg.arch = HPFF_ARCH_RESNET32;
    cfg.width = 16;
    cfg.batch = B;
    cfg.method = HPFF_METHOD_INFOPRO;
    cfg.K = K;
    cfg.pff = 1;
    // the authors' constants (ALGORITHM §3.2, §4.5) must be our defaults
    TEST_CHECK(cfg.ixx_1 == (float)attr_d(root, "ixx_1") && cfg.ixy_1 == (float)attr_d(root, "ixy_1") &&
               cfg.ixx_2 == (float)attr_d(root, "ixx_2") && cfg.ixy_2 == (float)attr_d(root, "ixy_2"),
               "default ixx/ixy differ from the fixture");
    TEST_CHECK(cfg.infopro_aux == HPFF_INFOPRO_AUX_2C2F && cfg.split == HPFF_SPLIT_CODE,
               "default infopro_aux %d split %d", (int)cfg.infopro_aux, (int)cfg.split);
    hpff_backend *be = hpff_backend_cpu_create();
    hpff_transport *tr = hpff_transport_local_create();
    hpff_model md;
    hpff_shape in = {3, 32, 32};
    hpff_status st = hpff_model_build(&md, &cfg, be, in, 10, 0, 7);
    TEST_CHECK(!st.code, "%s", st.msg);
    if (st.code) return hpff_test_summary("test_golden_hpff");
    TEST_CHECK(md.M == 8, "M = %d", md.M);
    for (int m = 1; m <= 6; m++)
        TEST_CHECK(fabsf(md.hilo.mod[m].w_il - (float)attr_d(root, "wx")) < 1e-9f &&
                   fabsf(md.hilo.mod[m].w_cl - (float)attr_d(root, "wy")) < 1e-9f,
                   "module %d: w_il %g w_cl %g", m, md.hilo.mod[m].w_il, md.hilo.mod[m].w_cl);
    hpff_model_init_values(&md);

    // ---- initial values by the name map; every one of our parameters must be mapped ----------
    int nmap = 0, n2 = 0;
    char (*theirs)[NAMELEN + 1] = read_names(f, "/map/theirs", &nmap);
    char (*ours)[NAMELEN + 1] = read_names(f, "/map/ours", &n2);
    TEST_CHECK(theirs && ours && nmap == n2, "name map missing");
    if (!theirs || !ours) return hpff_test_summary("test_golden_hpff");
    int *seen = calloc((size_t)md.params.n, sizeof(int));
    for (int i = 0; i < nmap; i++) {
        int j = hpff_registry_find(&md.params, ours[i]);
        TEST_CHECK(j >= 0, "their %s -> our %s: no such parameter", theirs[i], ours[i]);
        if (j < 0) continue;
        seen[j]++;
        char path[256];
        snprintf(path, sizeof path, "/init/%s", theirs[i]);
        size_t n = 0;
        float *q = golden_read_f(f, path, &n);
        TEST_CHECK(q && n == md.params.t[j].count, "%s: %zu values, %s has %zu", path, n, ours[i],
                   md.params.t[j].count);
        if (!q || n != md.params.t[j].count) { free(q); continue; }
        float scale = (float)ds_attr(f, path, "scale"), offset = (float)ds_attr(f, path, "offset");
        for (size_t k = 0; k < n; k++) q[k] = offset + q[k] * scale;   // exact (power-of-two scale)
        TEST_CHECK(hpff_model_set_tensor(&md, ours[i], q, n) == 0, "cannot set %s", ours[i]);
        free(q);
    }
    for (int j = 0; j < md.params.n; j++)
        TEST_CHECK(seen[j] == 1, "our %s is mapped %d times (the authors' model %s it)", md.params.t[j].name,
                   seen[j], seen[j] ? "duplicates" : "lacks");
    printf("mapped %d tensors (ours: %d parameters)\n", nmap, md.params.n);

    // ---- one step --------------------------------------------------------------------------
    size_t nx = 0, ny = 0, nm = 0;
    float *x = golden_read_f(f, "/x", &nx), *mean = golden_read_f(f, "/mean", &nm), *sd = golden_read_f(f, "/std", NULL);
    double *yd = golden_read_d(f, "/y", &ny);
    TEST_CHECK(x && yd && nx == (size_t)B * 3 * 32 * 32 && ny == (size_t)B && nm == 3, "bad /x /y /mean");
    int32_t y[16];
    for (int i = 0; i < B; i++) y[i] = (int32_t)yd[i];
    hpff_stage s;
    hpff_stage_init(&s, &md, tr, mean, sd, 3);
    hpff_step_stats stats;
    hpff_stage_grads(&s, x, y, B, &stats);

    // ---- losses and logits ----------------------------------------------------------------
    double *lf = golden_read_d(f, "/loss/final", NULL), *lil = golden_read_d(f, "/loss/il", NULL), *lcl = golden_read_d(f, "/loss/cl", NULL);
    float ref_final = (float)lf[0], got;
    test_close("loss/final", &stats.final_loss, &ref_final, 1, l_atol, l_rtol);
    for (int m = 0; m < md.M; m++) {
        char what[64];
        int has_il = !isnan(lil[m]), has_cl = !isnan(lcl[m]);
        TEST_CHECK(stats.il[m].present == has_il && stats.cl[m].present == has_cl,
                   "module %d: heads present il %d cl %d, the authors' %d %d", m, stats.il[m].present,
                   stats.cl[m].present, has_il, has_cl);
        if (has_il && stats.il[m].present) {
            float r = (float)lil[m];
            got = stats.il[m].loss;
            snprintf(what, sizeof what, "loss/il[%d]", m);
            test_close(what, &got, &r, 1, l_atol, l_rtol);
        }
        if (has_cl && stats.cl[m].present) {
            float r = (float)lcl[m];
            got = stats.cl[m].loss;
            snprintf(what, sizeof what, "loss/cl[%d]", m);
            test_close(what, &got, &r, 1, l_atol, l_rtol);
        }
    }
    size_t nl = 0;
    float *logits = golden_read_f(f, "/logits", &nl);
    test_close("logits", hpff_classifier_logits(md.final, md.head_work), logits, nl, g_atol, g_rtol);

    // ---- gradients ----------------------------------------------------------------------------
    struct { char name[32]; double abs, rel_norm, stat; int n; } grp[64];
    int ngrp = 0;
    for (int i = 0; i < nmap; i++) {
        int j = hpff_registry_find(&md.params, ours[i]);
        if (j < 0) continue;
        const hpff_tensor_info *t = &md.params.t[j];
        size_t n = t->count;
        float *g = malloc(n * sizeof(float));
        TEST_CHECK(hpff_model_get_grad(&md, t->name, g, n) == 0, "cannot read grad %s", t->name);
        char path[256], what[256];
        snprintf(path, sizeof path, "/grad/%s", theirs[i]);
        size_t ns = 0;
        float *ref = golden_read_f(f, path, &ns);
        long cnt = (long)ds_attr(f, path, "count");
        size_t want = (long)n <= nfull ? n : (size_t)nsamp;
        TEST_CHECK(ref && cnt == (long)n && ns == want, "%s: count %ld samples %zu", path, cnt, ns);
        if (!ref || ns != want) { free(g); free(ref); continue; }
        float *got_s = malloc(ns * sizeof(float));
        for (size_t k = 0; k < ns; k++) got_s[k] = g[(long)n <= nfull ? k : (size_t)(((long long)k * (long long)n) / nsamp)];
        snprintf(what, sizeof what, "grad %s (their %s)", t->name, theirs[i]);
        test_close(what, got_s, ref, ns, atol, rtol);
        double emax = 0, rmax = 0;
        for (size_t k = 0; k < ns; k++) {
            emax = fmax(emax, fabs((double)got_s[k] - ref[k]));
            rmax = fmax(rmax, fabs((double)ref[k]));
        }
        // statistics of the full gradient: sum, L1, L2, signed projection (signs as the generator)
        double sg[4] = {0, 0, 0, 0};
        for (size_t k = 0; k < n; k++) {
            double v = g[k];
            uint32_t h = (uint32_t)((uint64_t)k * 2654435761u);
            sg[0] += v;
            sg[1] += fabs(v);
            sg[2] += v * v;
            sg[3] += (h >= 0x80000000u) ? v : -v;
        }
        sg[2] = sqrt(sg[2]);
        snprintf(path, sizeof path, "/gstat/%s", theirs[i]);
        double *sr = golden_read_d(f, path, NULL);
        double stat_err = 0;
        if (sr) {
            double tol = s_rtol * sr[1] + s_atol * sqrt((double)n);
            static const char *sn[4] = {"sum", "l1", "l2", "projection"};
            for (int k = 0; k < 4; k++) {
                double e = fabs(sg[k] - sr[k]);
                stat_err = fmax(stat_err, e / (sr[1] + 1e-30));
                TEST_CHECK(e <= tol, "gstat %s %s: got %.9g expected %.9g (err %.3g > tol %.3g)", t->name, sn[k],
                           sg[k], sr[k], e, tol);
            }
        }
        char gname[32];
        group_of(&md, t, gname, sizeof gname);
        int gi = 0;
        while (gi < ngrp && strcmp(grp[gi].name, gname)) gi++;
        if (gi == ngrp && ngrp < 64) { memset(&grp[ngrp], 0, sizeof grp[0]); strcpy(grp[ngrp++].name, gname); }
        if (gi < ngrp) {
            grp[gi].abs = fmax(grp[gi].abs, emax);
            grp[gi].rel_norm = fmax(grp[gi].rel_norm, rmax > 0 ? emax / rmax : 0);
            grp[gi].stat = fmax(grp[gi].stat, stat_err);
            grp[gi].n++;
        }
        free(sr);
        free(got_s);
        free(ref);
        free(g);
    }
    printf("group            tensors  max|ours-theirs|  /max|theirs|  max gstat err/L1\n");
    for (int i = 0; i < ngrp; i++)
        printf("%-16s %7d  %16.2e  %12.2e  %16.2e\n", grp[i].name, grp[i].n, grp[i].abs, grp[i].rel_norm, grp[i].stat);

    free(seen); free(theirs); free(ours); free(x); free(mean); free(sd); free(yd);
    free(lf); free(lil); free(lcl); free(logits);
    hpff_stage_free(&s);
    hpff_model_free(&md);
    tr->ops->destroy(tr);
    hpff_backend_destroy(be);
    H5Gclose(root);
    H5Fclose(f);
    return hpff_test_summary("test_golden_hpff");
}
