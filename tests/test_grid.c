// test_grid.c — the PP x DP grid's rules (src/grid.c) without MPI: the default stage count
// (-np itself up to the module count, else its largest divisor not above it), the refusals and
// the values they list, the placement of ranks (consecutive per pipeline), and the replicas'
// checksum (src/replicas.c).
#include <string.h>
#include "backend.h"
#include "grid.h"
#include "model.h"
#include "replicas.h"
#include "test_util.h"

static int stages(int ranks, int M, int want) {
    int s = -1;
    hpff_status st = hpff_grid_stages(ranks, M, want, &s);
    return st.code ? -1 : s;
}

static void default_rule(void) {
    // {ranks, modules, expected default}
    static const int cases[][3] = {{1, 4, 1}, {2, 4, 2}, {3, 4, 3}, {4, 4, 4}, {8, 4, 4}, {6, 4, 3}, {5, 4, 1},
                                   {12, 4, 4}, {16, 15, 8}, {7, 15, 7}, {64, 4, 4}, {9, 4, 3}, {2, 1, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = stages(cases[i][0], cases[i][1], 0);
        TEST_CHECK(got == cases[i][2], "-np %d, %d modules: default %d stages, expected %d", cases[i][0], cases[i][1],
                   got, cases[i][2]);
    }
    TEST_CHECK(stages(8, 4, 2) == 2 && stages(8, 4, 1) == 1 && stages(8, 4, 4) == 4, "explicit stage counts");
}

static void refusals(void) {
    int s = 0;
    hpff_status st = hpff_grid_stages(8, 4, 3, &s);
    TEST_CHECK(st.code && strstr(st.msg, "does not divide") && strstr(st.msg, "these work: 1, 2, 4"),
               "3 stages on 8 ranks: %s", st.msg);
    st = hpff_grid_stages(8, 4, 8, &s);
    TEST_CHECK(st.code && strstr(st.msg, "4 local modules") && strstr(st.msg, "these work: 1, 2, 4"),
               "8 stages of 4 modules: %s", st.msg);
    st = hpff_grid_stages(6, 15, 4, &s);
    TEST_CHECK(st.code && strstr(st.msg, "these work: 1, 2, 3, 6"), "4 stages on 6 ranks: %s", st.msg);
    char buf[64];
    hpff_grid_valid_stages(12, 5, buf, sizeof buf);
    TEST_CHECK(strcmp(buf, "1, 2, 3, 4") == 0, "valid stages of 12 ranks, 5 modules: '%s'", buf);
}

static void placement(void) {
    // Without MPI init a grid is placed from the world it is given: world rank = replica*S + stage.
    for (int rank = 0; rank < 8; rank++) {
        hpff_world w = {rank, 8, rank, 8, 0};
        hpff_grid g;
        hpff_grid_init(&g, &w, 4);
        TEST_CHECK(g.stages == 4 && g.replicas == 2 && g.stage == rank % 4 && g.replica == rank / 4 &&
                   hpff_grid_rank_of(&g, g.replica, g.stage) == rank,
                   "rank %d placed at stage %d replica %d", rank, g.stage, g.replica);
        hpff_grid_free(&g);
    }
}

static void checksum(void) {
    float a[64], b[64];
    test_fill_uniform(a, 64, -1.f, 1.f, 7);
    memcpy(b, a, sizeof a);
    uint64_t ha = hpff_checksum_floats(a, 64, HPFF_CHECKSUM_SEED);
    TEST_CHECK(ha == hpff_checksum_floats(b, 64, HPFF_CHECKSUM_SEED), "equal arrays, equal checksums");
    uint32_t bits;
    memcpy(&bits, &b[37], 4);
    bits ^= 1u;   // one bit of one value
    memcpy(&b[37], &bits, 4);
    TEST_CHECK(ha != hpff_checksum_floats(b, 64, HPFF_CHECKSUM_SEED), "one flipped bit changes the checksum");
    b[37] = a[37];
    float t = b[3]; b[3] = b[4]; b[4] = t;   // the same values in another order
    TEST_CHECK(a[3] == a[4] || ha != hpff_checksum_floats(b, 64, HPFF_CHECKSUM_SEED), "order matters");
    float z[2] = {0.f, -0.f};
    TEST_CHECK(hpff_checksum_floats(z, 1, HPFF_CHECKSUM_SEED) != hpff_checksum_floats(z + 1, 1, HPFF_CHECKSUM_SEED),
               "bit patterns, not values: 0 and -0 differ");
}

// Every module's bucket covers exactly its tensors (backbone, heads, Φ with the last module), and
// the buckets together cover the gradient arena once.
static void module_spans(void) {
    hpff_config c;
    hpff_config_defaults(&c);
    const char *keys[] = {"model.arch=resnet14", "model.width=4", "train.batch=4", "train.method=dgl", "local.K=4",
                          "local.split=even"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        hpff_status cs = hpff_config_set(&c, keys[i], "test");
        TEST_CHECK(!cs.code, "%s", cs.msg);
    }
    hpff_backend *be = hpff_backend_cpu_create();
    hpff_model md;
    hpff_shape in = {3, 8, 8};
    hpff_status st = hpff_model_build(&md, &c, be, in, 10, 1, 3);   // a rank owning modules 1..3
    TEST_CHECK(!st.code, "%s", st.msg);
    if (st.code) return;
    char *owner = calloc(md.params.total, 1);
    for (int k = 0; k < md.m1 - md.m0 + 1; k++) {
        hpff_span sp[8];
        int n = hpff_replicas_module_spans(&md, k, sp, 8);
        TEST_CHECK(n >= 1 && n <= 2, "module %d: %d spans", md.m0 + k, n);
        for (int i = 0; i < n; i++)
            for (size_t j = 0; j < sp[i].n; j++) owner[sp[i].p - md.g + j] += (char)(k + 1);
    }
    int wrong = 0, uncovered = 0;
    for (int i = 0; i < md.params.n; i++) {
        const hpff_tensor_info *t = &md.params.t[i];
        int k = (t->group == md.M ? md.M - 1 : t->group) - md.m0;
        for (size_t j = 0; j < t->count; j++) wrong += owner[t->off + j] != k + 1;
    }
    for (size_t j = 0; j < md.params.total; j++) uncovered += owner[j] == 0 || owner[j] > md.m1 - md.m0 + 1;
    TEST_CHECK(wrong == 0 && uncovered == 0, "module buckets: %d floats in another module's bucket, %d not covered "
               "once", wrong, uncovered);
    free(owner);
    hpff_model_free(&md);
    hpff_backend_destroy(be);
}

static void resume_position(void) {
    int inexact = -1;
    TEST_CHECK(hpff_replicas_resume_batch(3, 2, 1, &inexact) == 6 && !inexact, "2 -> 1 replicas at batch 3");
    TEST_CHECK(hpff_replicas_resume_batch(6, 1, 2, &inexact) == 3 && !inexact, "1 -> 2 replicas at batch 6");
    TEST_CHECK(hpff_replicas_resume_batch(5, 1, 2, &inexact) == 2 && inexact, "1 -> 2 replicas at batch 5");
    TEST_CHECK(hpff_replicas_resume_batch(0, 4, 3, &inexact) == 0 && !inexact, "epoch start");
}

int main(void) {
    module_spans();
    resume_position();
    default_rule();
    refusals();
    placement();
    checksum();
    return hpff_test_summary("test_grid");
}
