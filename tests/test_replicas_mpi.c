// test_replicas_mpi.c — the replicas' communication pieces on 4 MPI ranks as 2 stages x 2
// replicas (mpirun -np 4): placement and the stage communicators, the MPI gradient reducer (two
// buckets in flight, then the average) bitwise against (a + b) * 0.5 computed here, in place on
// host memory and through the host staging a device backend uses, the stage sum and broadcast,
// and the all-rank gather the checksum check uses.
#include <string.h>
#include "backend.h"
#include "grid.h"
#include "reducer.h"
#include "test_util.h"

static float value(int stage, int replica, size_t i) {
    uint64_t s = 1000u * (uint64_t)stage + 17u * (uint64_t)replica + i;
    return (float)((test_rng_next(&s) >> 11) * (1.0 / 9007199254740992.0)) * 3.f - 1.5f;
}

static void reduce_case(const hpff_grid *g, hpff_backend *be, const char *label) {
    enum { A = 1000, B = 37 };
    float x[A + B];
    for (size_t i = 0; i < A + B; i++) x[i] = value(g->stage, g->replica, i);
    hpff_reducer *r = hpff_reducer_mpi_create(g, be, A + B, 60.0);
    TEST_CHECK(r != NULL, "no MPI reducer");
    if (!r) return;
    hpff_span s1 = {x, A}, s2 = {x + A, B};
    r->ops->start(r, &s1, 1, "bucket one");
    r->ops->start(r, &s2, 1, "bucket two");
    r->ops->finish(r);
    float want[A + B];
    for (size_t i = 0; i < A + B; i++) want[i] = (value(g->stage, 0, i) + value(g->stage, 1, i)) * 0.5f;
    int same = memcmp(x, want, sizeof x) == 0;
    TEST_CHECK(same, "%s: rank %d's average differs from (a + b) * 0.5", label, g->rank);
    if (!same) test_close(label, x, want, A + B, 0, 0);
    r->ops->destroy(r);
}

int main(int argc, char **argv) {
    hpff_world w;
    hpff_world_init(&w, &argc, &argv);
    if (w.size != 4) {
        if (w.rank == 0) fprintf(stderr, "test_replicas_mpi: run with mpirun -np 4\n");
        hpff_world_finalize(&w);
        return 77;
    }
    hpff_grid g;
    hpff_grid_init(&g, &w, 2);
    TEST_CHECK(g.stage == w.rank % 2 && g.replica == w.rank / 2 && g.replicas == 2, "placement of rank %d", w.rank);
    hpff_grid_print(&g, stdout);
    hpff_backend *be = hpff_backend_cpu_create();
    reduce_case(&g, be, "in place");
    hpff_backend staged = *be;   // the CPU ops with device semantics: the reducer stages through the host
    staged.host_memory = 0;
    reduce_case(&g, &staged, "staged");
    double v[2] = {g.replica + 1.0, 10.0 * g.stage};
    hpff_grid_stage_sum(&g, v, 2);
    TEST_CHECK(v[0] == 3.0 && v[1] == 20.0 * g.stage, "stage sum on rank %d: %g %g", w.rank, v[0], v[1]);
    int bc[3] = {g.replica * 100 + g.stage, 7, g.replica};
    hpff_grid_stage_bcast(&g, bc, sizeof bc);
    TEST_CHECK(bc[0] == g.stage && bc[2] == 0, "broadcast from replica 0 on rank %d: %d %d", w.rank, bc[0], bc[2]);
    uint64_t all[4];
    hpff_grid_allgather_u64(&g, 1000u + (uint64_t)w.rank, all);
    TEST_CHECK(all[0] == 1000 && all[3] == 1003, "gather on rank %d", w.rank);
    hpff_backend_destroy(be);
    hpff_grid_free(&g);
    int rc = hpff_test_summary("test_replicas_mpi");
    int any = (int)hpff_world_max(&w, rc != 0);
    hpff_world_finalize(&w);
    return any;
}
