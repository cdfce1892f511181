// test_grid.c — the PP x DP grid's rules (src/grid.c) without MPI: the default stage count
// (-np itself up to the module count, else its largest divisor not above it), the refusals and
// the values they list, the placement of ranks (consecutive per pipeline), and the replicas'
// checksum (src/replicas.c).
#include <string.h>
#include "grid.h"
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

int main(void) {
    default_rule();
    refusals();
    placement();
    checksum();
    return hpff_test_summary("test_grid");
}
