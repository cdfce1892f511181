// test_aux_pffc.c — PFF-C (§5.4, ImageNet code): one full-map decoder whose output and target are
// cut by the §5.4 partition into n² patches, BCE mean per patch, summed. For even image sides and
// n = 2 the four patches have equal size, so the loss is exactly 4x the full-image BCE mean and
// every gradient is 4x the full-map decoder's (same decoder weights: both heads name it
// aux1.cl.dec and draw it from the same seed). Finite differences of PFF-C are in test_aux_fd.
#include <math.h>
#include "aux_fixture.h"

// The fixture with lambda_ce = 0 (the classifier runs with weight 0), so loss = lambda_rec * Rec.
static void build_rec_only(auxf *f, const char *const *sets, hpff_shape in, hpff_shape img, int n) {
    auxf_prepare(f, sets, in, img, n, 5);
    f->hm.lambda_ce = 0.f;
    auxf_make_head(f, HPFF_LEVEL_CL, NULL);
    auxf_arenas(f, 23);
}

static double max_abs(const float *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

// got == 4 * want elementwise within rtol of the largest |want|.
static void check_x4(const char *what, const float *got, const float *want, size_t n, double rtol) {
    double scale = 4 * max_abs(want, n), worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(got[i] - 4.0 * want[i]));
    TEST_CHECK(scale > 0 && worst <= rtol * scale, "%s: max |got - 4 want| = %.3g (scale %.3g)", what, worst, scale);
}

static void test_four_times(hpff_shape in, hpff_shape img, int n) {
    static const char *const out[] = {"train.method=infopro", "model.width=8", "local.pff_rec=output", NULL};
    static const char *const full[] = {"train.method=infopro", "model.width=8", "local.pff=off", NULL};
    auxf c, fl;
    build_rec_only(&c, out, in, img, n);
    build_rec_only(&fl, full, in, img, n);
    TEST_CHECK(c.params.total == fl.params.total && c.params.n == fl.params.n, "PFF-C has the full-map head's tensors");
    for (int i = 0; i < c.params.n && i < fl.params.n; i++)
        TEST_CHECK(strcmp(c.params.t[i].name, fl.params.t[i].name) == 0, "tensor %d: %s vs %s", i,
                   c.params.t[i].name, fl.params.t[i].name);
    TEST_CHECK(memcmp(c.ex.params, fl.ex.params, c.params.total * sizeof(float)) == 0, "same initial weights");
    float Lc = auxf_step(&c, 0.7f, c.dh), Lf = auxf_step(&fl, 0.7f, fl.dh);
    TEST_CHECK(isfinite(Lc) && Lf > 0 && fabs(Lc - 4.0 * Lf) <= 1e-5 * 4 * Lf,
               "%dx%d image: PFF-C loss %.8g vs 4 x full-image BCE %.8g", img.h, img.w, Lc, 4.0 * Lf);
    check_x4("dL/dh", c.dh, fl.dh, (size_t)n * hpff_shape_numel(in), 1e-5);
    for (int i = 0; i < c.params.n; i++) {
        const hpff_tensor_info *t = &c.params.t[i];
        if (!strstr(t->name, ".dec")) continue;   // the classifier's gradients are 0 (lambda_ce = 0)
        check_x4(t->name, c.ex.grads + t->off, fl.ex.grads + t->off, t->count, 1e-5);
    }
    auxf_free(&c);
    auxf_free(&fl);
}

// Odd image side: the patches differ in size, the sum of patch means is not 4x the full mean.
static void test_odd_differs(void) {
    static const char *const out[] = {"train.method=infopro", "model.width=8", "local.pff_rec=output", NULL};
    static const char *const full[] = {"train.method=infopro", "model.width=8", "local.pff=off", NULL};
    hpff_shape in = {8, 5, 5}, img = {3, 9, 9};
    auxf c, fl;
    build_rec_only(&c, out, in, img, 4);
    build_rec_only(&fl, full, in, img, 4);
    float Lc = auxf_step(&c, 1.f, NULL), Lf = auxf_step(&fl, 1.f, NULL);
    TEST_CHECK(isfinite(Lc) && fabs(Lc - 4.0 * Lf) > 1e-6 * Lf, "9x9: PFF-C %.8g, 4 x full %.8g", Lc, 4.0 * Lf);
    auxf_free(&c);
    auxf_free(&fl);
}

int main(void) {
    test_four_times((hpff_shape){8, 4, 4}, (hpff_shape){3, 8, 8}, 4);
    test_four_times((hpff_shape){8, 3, 5}, (hpff_shape){3, 6, 10}, 3);
    test_odd_differs();
    return hpff_test_summary("test_aux_pffc");
}
