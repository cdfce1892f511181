// test_rank_bytes.c — the plan's memory column: the bytes one sizing build of the whole network
// counts for a module range (hpff_rank_bytes) are exactly what a rank owning that range
// allocates (its model's and its stage's buffers), for every contiguous range, across methods
// and both cascade modes; and the sizing build gives the same module costs as a real one.
#include <stdio.h>
#include "model.h"
#include "stage.h"
#include "test_util.h"
#include "transport.h"

static const hpff_shape IMG = {3, 12, 12};

static void config(hpff_config *c, const char *method, int K, hpff_cascade cascade) {
    hpff_config_defaults(c);
    c->arch = HPFF_ARCH_RESNET14;
    c->width = 4;
    c->batch = 6;
    test_set_method(c, method);
    c->K = K;
    c->split = HPFF_SPLIT_EVEN;
    c->cascade = cascade;
    hpff_status st = hpff_config_validate(c);
    HPFF_CHECK(!st.code, "%s", st.msg);
}

// The bytes a real rank owning [m0, m1] allocates.
static size_t real_bytes(const hpff_config *c, hpff_backend *be, int m0, int m1) {
    hpff_model md;
    hpff_status st = hpff_model_build(&md, c, be, IMG, 10, m0, m1);
    HPFF_CHECK(!st.code, "%s", st.msg);
    hpff_transport *tr = hpff_transport_local_create();
    hpff_stage s;
    float mean[3] = {0, 0, 0}, sd[3] = {1, 1, 1};
    hpff_stage_init(&s, &md, tr, mean, sd, 3);
    size_t b = hpff_stage_bytes(&s);
    hpff_stage_free(&s);
    hpff_model_free(&md);
    tr->ops->destroy(tr);
    return b;
}

static void check_config(const char *method, int K, hpff_cascade cascade, hpff_backend *be) {
    hpff_config c;
    config(&c, method, K, cascade);
    hpff_model full;
    hpff_status st = hpff_model_size_all(&full, &c, be, IMG, 10);
    TEST_CHECK(!st.code, "%s: %s", method, st.msg);
    TEST_CHECK(full.p == NULL && hpff_ledger_bytes(&full.mem) == 0, "%s: the sizing build allocated", method);
    for (int m0 = 0; m0 < full.M; m0++)
        for (int m1 = m0; m1 < full.M; m1++) {
            size_t want = real_bytes(&c, be, m0, m1), got = hpff_rank_bytes(&full, m0, m1);
            TEST_CHECK(got == want, "%s K=%d %s modules %d..%d: counted %zu bytes, a rank allocates %zu", method, K,
                       cascade == HPFF_CASCADE_DELAYED ? "delayed" : "strict", m0, m1, got, want);
        }
    hpff_module_cost a[HPFF_MAX_MODULES], b[HPFF_MAX_MODULES];
    hpff_model_module_costs(&full, a);
    hpff_model real;
    st = hpff_model_build_all(&real, &c, be, IMG, 10);
    HPFF_CHECK(!st.code, "%s", st.msg);
    hpff_model_module_costs(&real, b);
    TEST_CHECK(memcmp(a, b, sizeof(hpff_module_cost) * (size_t)full.M) == 0, "%s: sizing and real costs differ", method);
    hpff_model_free(&real);
    hpff_model_free(&full);
}

int main(void) {
    hpff_backend *be = hpff_backend_cpu_create();
    check_config("dgl", 4, HPFF_CASCADE_STRICT, be);
    check_config("dgl", 4, HPFF_CASCADE_DELAYED, be);
    check_config("infopro", 4, HPFF_CASCADE_STRICT, be);
    check_config("infopro", 4, HPFF_CASCADE_DELAYED, be);
    check_config("predsim", 3, HPFF_CASCADE_DELAYED, be);
    check_config("bp", 1, HPFF_CASCADE_STRICT, be);
    hpff_backend_destroy(be);
    return hpff_test_summary("test_rank_bytes");
}
