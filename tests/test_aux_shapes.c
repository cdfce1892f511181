// test_aux_shapes.c — the shape tables of ALGORITHM §3 (DGL pooling and MLP width, PredSim's
// dim-in-decoder pooling check values, InfoPro classifier and decoders), tensor names and
// initialisation (§1.9), nets built for the patch size under PFF-B, and configurations that
// must be refused with a message.
#include <math.h>
#include "method_nets.h"
#include "aux_fixture.h"

static void check_count(const hpff_registry *r, const char *name, size_t want) {
    int i = hpff_registry_find(r, name);
    TEST_CHECK(i >= 0 && r->t[i].count == want, "%s: %s with %zu elements (want %zu)", name,
               i >= 0 ? "present" : "missing", i >= 0 ? r->t[i].count : 0, want);
}
static void check_absent(const hpff_registry *r, const char *name) {
    TEST_CHECK(hpff_registry_find(r, name) < 0, "%s should not exist", name);
}

// Builds the head and returns its fixture (registries only); free with done().
static auxf build(const char *const *sets, hpff_level level, hpff_shape in, hpff_shape img) {
    auxf f;
    auxf_build(&f, sets, level, in, img, 8, 10, NULL);
    return f;
}
static void done(auxf *f) {
    hpff_head_free(f->hd);
    hpff_registry_free(&f->params);
    hpff_registry_free(&f->state);
    hpff_backend_destroy(f->be);
}

static void test_dgl_table(void) {
    // §3.1: (C, s) -> p1, d for CIFAR/SVHN and STL-10 (port: d = C * min(p1, 2)^2).
    const int rows[6][4] = {{16, 32, 8, 64}, {32, 16, 4, 128}, {64, 8, 2, 256},
                            {16, 96, 24, 64}, {32, 48, 12, 128}, {64, 24, 6, 256}};
    for (int i = 0; i < 6; i++) {
        hpff_shape in = {rows[i][0], rows[i][1], rows[i][1]};
        hpff_dgl_dims d = hpff_aux_dgl_dims(in, 0), o = hpff_aux_dgl_dims(in, 1);
        TEST_CHECK(d.p1h == rows[i][2] && d.p1w == rows[i][2] && d.d == rows[i][3],
                   "DGL port C=%d s=%d: p1 %dx%d d %d (want %d, %d)", rows[i][0], rows[i][1], d.p1h, d.p1w, d.d,
                   rows[i][2], rows[i][3]);
        TEST_CHECK(o.d == 4 * rows[i][0], "DGL official C=%d: d %d", rows[i][0], o.d);
    }
    const char *port[] = {"train.method=dgl", "local.pff=off", NULL};
    auxf f = build(port, HPFF_LEVEL_IL, (hpff_shape){32, 16, 16}, (hpff_shape){3, 32, 32});
    check_count(&f.params, "aux1.il.cls.conv1.weight", 32 * 32);
    check_count(&f.params, "aux1.il.cls.fc1.weight", 128 * 128);
    check_absent(&f.params, "aux1.il.cls.fc1.bias");   // port: bias-free hidden FCs
    check_count(&f.params, "aux1.il.cls.fcbn2.weight", 128);
    check_count(&f.params, "aux1.il.cls.fc3.weight", 10 * 128);
    check_count(&f.params, "aux1.il.cls.fc3.bias", 10);
    check_absent(&f.params, "aux1.il.cls.fc4.weight");
    done(&f);
    const char *off[] = {"train.method=dgl", "local.pff=off", "local.dgl_aux=official", NULL};
    f = build(off, HPFF_LEVEL_CL, (hpff_shape){64, 8, 8}, (hpff_shape){3, 32, 32});
    check_count(&f.params, "aux1.cl.cls.fc3.weight", 256 * 256);
    check_count(&f.params, "aux1.cl.cls.fc3.bias", 256);
    check_count(&f.params, "aux1.cl.cls.fc4.weight", 10 * 256);
    done(&f);
    // PFF-B: the net is built for the 16x16 patch (p1 = 4, p2 = 2: d stays 64).
    const char *pff[] = {"train.method=dgl", NULL};
    f = build(pff, HPFF_LEVEL_CL, (hpff_shape){16, 32, 32}, (hpff_shape){3, 32, 32});
    check_count(&f.params, "aux1.cl.cls.fc1.weight", 64 * 64);
    TEST_CHECK(f.hd->in.h == 32, "PFF-B head reads the whole map");
    done(&f);
}

static void test_predsim_table(void) {
    // §3.3 check values (T = 512): (C, s) -> kernel (kh, kw), padding, output, d.
    const int rows[6][9] = {
        {16, 32, 8, 4, 0, 0, 4, 8, 512}, {32, 16, 4, 4, 0, 0, 4, 4, 512}, {64, 8, 4, 2, 0, 0, 2, 4, 512},
        {16, 96, 32, 16, 0, 0, 3, 6, 288}, {32, 48, 16, 16, 0, 0, 3, 3, 288}, {64, 24, 16, 8, 8, 0, 2, 3, 384}};
    for (int i = 0; i < 6; i++) {
        const int *r = rows[i];
        hpff_predsim_pool p = hpff_aux_predsim_pool((hpff_shape){r[0], r[1], r[1]}, 512);
        TEST_CHECK(!p.identity && p.kh == r[2] && p.kw == r[3] && p.ph == r[4] && p.pw == r[5] && p.oh == r[6] &&
                   p.ow == r[7] && p.d == r[8],
                   "PredSim C=%d s=%d: kernel (%d,%d) pad (%d,%d) out %dx%d d %d", r[0], r[1], p.kh, p.kw, p.ph,
                   p.pw, p.oh, p.ow, p.d);
    }
    hpff_predsim_pool id = hpff_aux_predsim_pool((hpff_shape){8, 2, 2}, 512);
    TEST_CHECK(id.identity && id.d == 32, "PredSim small input: no pooling (d %d)", id.d);
    const char *port[] = {"train.method=predsim", "local.pff=off", NULL};
    auxf f = build(port, HPFF_LEVEL_IL, (hpff_shape){64, 24, 24}, (hpff_shape){3, 96, 96});
    check_count(&f.params, "aux1.il.pred.weight", 10 * 384);
    check_count(&f.params, "aux1.il.sim.weight", 64 * 64 * 9);
    check_absent(&f.params, "aux1.il.sim.bias");
    done(&f);
    // Official: T = 4096, zero-initialised prediction weight. CIFAR stage 1 (16, 32): d = 4096.
    const char *off[] = {"train.method=predsim", "local.pff=off", "local.predsim_variant=official", NULL};
    f = build(off, HPFF_LEVEL_IL, (hpff_shape){16, 32, 32}, (hpff_shape){3, 32, 32});
    check_count(&f.params, "aux1.il.pred.weight", 10 * 4096);
    int w = hpff_registry_find(&f.params, "aux1.il.pred.weight");
    TEST_CHECK(w >= 0 && f.params.t[w].init == HPFF_INIT_ZERO, "official PredSim weight not zero-initialised");
    done(&f);
    // PFF-B: the pooling rule runs on the 16x16 patch: kernel (4,2), d = 512.
    const char *pff[] = {"train.method=predsim", NULL};
    f = build(pff, HPFF_LEVEL_CL, (hpff_shape){16, 32, 32}, (hpff_shape){3, 32, 32});
    check_count(&f.params, "aux1.cl.pred.weight", 10 * 512);
    done(&f);
}

static void test_infopro(void) {
    hpff_shape img = {3, 32, 32};
    const char *il[] = {"train.method=infopro", NULL};
    auxf f = build(il, HPFF_LEVEL_IL, (hpff_shape){16, 32, 32}, img);
    check_count(&f.params, "aux1.il.cls.conv1.weight", 32 * 16 * 9);   // 16 -> 32, stride 2
    check_count(&f.params, "aux1.il.cls.conv2.weight", 32 * 32 * 9);   // 2c2f (HPFF default)
    check_count(&f.params, "aux1.il.cls.fc1.weight", 128 * 32);
    check_count(&f.params, "aux1.il.cls.fc2.weight", 10 * 128);
    TEST_CHECK(auxf_find(&f.params, "dec") < 0, "IL (code) has no decoder");
    done(&f);
    const char *last[] = {"train.method=infopro", "local.infopro_aux=1c2f", "local.infopro_mode=contrast", NULL};
    f = build(last, HPFF_LEVEL_IL, (hpff_shape){64, 8, 8}, img);
    check_count(&f.params, "aux1.il.cls.conv1.weight", 64 * 64 * 9);   // last stage: 64 -> 64, stride 1
    check_absent(&f.params, "aux1.il.cls.conv2.weight");
    check_count(&f.params, "aux1.il.cls.fc2.weight", 128 * 128);         // SupCon features
    TEST_CHECK(f.hd->work_floats > 0, "work");
    done(&f);
    // Cascade, PFF-A: four decoders on 4x4 quadrants resized to 16x16 image quadrants.
    const char *cl[] = {"train.method=infopro", NULL};
    f = build(cl, HPFF_LEVEL_CL, (hpff_shape){64, 8, 8}, img);
    for (int q = 0; q < 4; q++) {
        char nm[64];
        snprintf(nm, sizeof nm, "aux1.cl.dec%d.conv1.weight", q);
        check_count(&f.params, nm, 12 * 64 * 9);
        snprintf(nm, sizeof nm, "aux1.cl.dec%d.conv1.bias", q);
        check_count(&f.params, nm, 12);
        snprintf(nm, sizeof nm, "aux1.cl.dec%d.conv2.weight", q);
        check_count(&f.params, nm, 3 * 12 * 9);
    }
    check_absent(&f.params, "aux1.cl.dec4.conv1.weight");
    check_absent(&f.params, "aux1.cl.dec.conv1.weight");
    // §1.9 initialisation: He fan-out conv weights, PyTorch-default conv bias and linear.
    int cw = hpff_registry_find(&f.params, "aux1.cl.dec0.conv1.weight");
    int cb = hpff_registry_find(&f.params, "aux1.cl.dec0.conv1.bias");
    int lw = hpff_registry_find(&f.params, "aux1.cl.cls.fc1.weight");
    TEST_CHECK(cw >= 0 && f.params.t[cw].init == HPFF_INIT_NORMAL && fabsf(f.params.t[cw].a - sqrtf(2.f / (9 * 12))) < 1e-6f,
               "decoder conv weight init");
    TEST_CHECK(cb >= 0 && f.params.t[cb].init == HPFF_INIT_UNIFORM && fabsf(f.params.t[cb].a - 1.f / sqrtf(64 * 9)) < 1e-6f,
               "decoder conv bias init");
    TEST_CHECK(lw >= 0 && f.params.t[lw].init == HPFF_INIT_UNIFORM && fabsf(f.params.t[lw].a - 1.f / sqrtf(64)) < 1e-6f,
               "classifier linear init");
    done(&f);
    const char *shared[] = {"train.method=infopro", "local.pff_rec=shared", NULL};
    f = build(shared, HPFF_LEVEL_CL, (hpff_shape){32, 16, 16}, img);
    check_count(&f.params, "aux1.cl.dec.conv1.weight", 12 * 32 * 9);
    check_absent(&f.params, "aux1.cl.dec0.conv1.weight");
    done(&f);
    const char *plain[] = {"train.method=infopro", "local.pff=off", NULL};
    f = build(plain, HPFF_LEVEL_CL, (hpff_shape){32, 16, 16}, img);
    check_count(&f.params, "aux1.cl.dec.conv1.weight", 12 * 32 * 9);
    done(&f);
}

static void test_refusals(void) {
    hpff_status st;
    auxf f;
    const char *big_n[] = {"train.method=dgl", "local.pff_n=16", NULL};
    auxf_build(&f, big_n, HPFF_LEVEL_CL, (hpff_shape){8, 8, 8}, (hpff_shape){3, 32, 32}, 4, 10, &st);
    TEST_CHECK(!f.hd && st.code && strstr(st.msg, "pff_n"), "pff_n = 16 on 8x8: %s", st.msg);
    hpff_registry_free(&f.params); hpff_registry_free(&f.state); hpff_backend_destroy(f.be);
    // PredSim with flattened similarity vectors of unequal patches (1x1 and 2x2) cannot average them.
    const char *ps[] = {"train.method=predsim", NULL};
    auxf_build(&f, ps, HPFF_LEVEL_CL, (hpff_shape){8, 3, 3}, (hpff_shape){3, 32, 32}, 4, 10, &st);
    TEST_CHECK(!f.hd && st.code && strstr(st.msg, "differ"), "PredSim 3x3, n=2: %s", st.msg);
    hpff_registry_free(&f.params); hpff_registry_free(&f.state); hpff_backend_destroy(f.be);
    // The ImageNet InfoPro aux exists for the authors' nets only: 4w/8w/16w channels, 1/4-1/16 sides.
    const char *inet[] = {"model.arch=resnet50", "train.method=infopro", NULL};
    auxf_build(&f, inet, HPFF_LEVEL_IL, (hpff_shape){2048, 7, 7}, (hpff_shape){3, 224, 224}, 4, 10, &st);
    TEST_CHECK(!f.hd && st.code && strstr(st.msg, "AuxClassifier(2048)") && strstr(st.msg, "local.split"),
               "ImageNet aux on 2048 channels: %s", st.msg);
    hpff_registry_free(&f.params); hpff_registry_free(&f.state); hpff_backend_destroy(f.be);
    auxf_build(&f, inet, HPFF_LEVEL_IL, (hpff_shape){256, 50, 50}, (hpff_shape){3, 224, 224}, 4, 10, &st);
    TEST_CHECK(!f.hd && st.code && strstr(st.msg, "not 50x50 features for 224x224 images"),
               "ImageNet aux on 50x50 features: %s", st.msg);
    hpff_registry_free(&f.params); hpff_registry_free(&f.state); hpff_backend_destroy(f.be);
    const char *bp[] = {"train.method=bp", NULL};
    auxf_build(&f, bp, HPFF_LEVEL_CL, (hpff_shape){8, 8, 8}, (hpff_shape){3, 32, 32}, 4, 10, &st);
    TEST_CHECK(!f.hd && st.code && strstr(st.msg, "train.method"), "bp: %s", st.msg);
    hpff_registry_free(&f.params); hpff_registry_free(&f.state); hpff_backend_destroy(f.be);
}

int main(void) {
    test_dgl_table();
    test_predsim_table();
    test_infopro();
    test_refusals();
    return hpff_test_summary("test_aux_shapes");
}
