// test_dp_step.c — replicas of the pipeline against a hand computation (mpirun -np 2: one MPI rank
// per replica; the real stage and the real MPI gradient reducer), over 3 SGD steps of ResNet-14
// width 4, K = 4, DGL+HPFF, 4 images of 8x8 per replica and step:
//  1. strict, one stage per replica: every replica's parameters, momentum and BN statistics equal,
//     bitwise, an in-process reference that computes each replica's gradients on its own shard
//     (hpff_stage_grads, no reducer), averages them as (g0 + g1) * 0.5 and takes one SGD step on
//     both (each keeping its own BN statistics);
//  2. delayed, two stages per replica joined in-process by a queue transport (boundary after
//     module 0): the same against two in-process replicas of two stages each, whose gradients are
//     averaged per stage. The reference adds each replica's owed boundary gradient before the
//     average, the stage under test averages it on its own and adds it after: equal to float
//     rounding (checked to 1e-5 relative), and the replicas bitwise equal to each other.
#include <string.h>
#include "grid.h"
#include "model.h"
#include "reducer.h"
#include "replicas.h"
#include "stage.h"
#include "test_util.h"

#define N 4
#include "queue_transport.h"

static const hpff_shape IMG = {3, 8, 8};
enum { STEPS = 3 };
static const float LR = 0.05f;

static void make_config(hpff_config *c, const char *cascade) {
    hpff_config_defaults(c);
    const char *keys[] = {"model.arch=resnet14", "model.width=4", "train.batch=4", "train.method=dgl", "local.K=4",
                          "local.split=even", "train.weight_decay=0.0001", "pipeline.cascade=strict"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        hpff_status st = hpff_config_set(c, keys[i], "test");
        HPFF_CHECK(!st.code, "%s", st.msg);
    }
    char kv[64];
    snprintf(kv, sizeof kv, "pipeline.cascade=%s", cascade);
    hpff_status st = hpff_config_set(c, kv, "test");
    HPFF_CHECK(!st.code, "%s", st.msg);
}

// Replica r's shard of step t.
static void shard(float *x, int32_t *y, int t, int r) {
    test_fill_uniform(x, (size_t)N * hpff_shape_numel(IMG), -2.f, 2.f, 1000u + 10u * (uint64_t)t + (uint64_t)r);
    for (int i = 0; i < N; i++) y[i] = (i * 3 + 7 * t + 5 * r) % 10;
}

typedef struct part {   // one stage of one replica
    hpff_backend *be;
    hpff_model md;
    hpff_stage s;
} part;

static void part_init(part *p, const hpff_config *c, int m0, int m1, hpff_transport *tr) {
    p->be = hpff_backend_cpu_create();
    hpff_status st = hpff_model_build(&p->md, c, p->be, IMG, 10, m0, m1);
    HPFF_CHECK(!st.code, "%s", st.msg);
    hpff_model_init_values(&p->md);
    float mean[3] = {0.5f, 0.4f, 0.3f}, sd[3] = {0.2f, 0.25f, 0.3f};
    hpff_stage_init(&p->s, &p->md, tr, mean, sd, 3);
}

static void part_free(part *p) {
    p->s.tr->ops->destroy(p->s.tr);
    hpff_stage_free(&p->s);
    hpff_model_free(&p->md);
    hpff_backend_destroy(p->be);
}

// The reference's update of one stage: (g0 + g1) * 0.5 into both replicas, one SGD step each.
static void average_and_step(part *a, part *b) {
    size_t n = a->md.params.total;
    for (size_t i = 0; i < n; i++) a->md.g[i] = (a->md.g[i] + b->md.g[i]) * 0.5f;
    memcpy(b->md.g, a->md.g, n * sizeof(float));
    hpff_model_sgd(&a->md, LR);
    hpff_model_sgd(&b->md, LR);
}

// This rank's stage against the reference's: parameters, momentum, BN statistics.
static void compare(const char *label, const part *mine, const part *ref, double rtol) {
    const hpff_model *a = &mine->md, *b = &ref->md;
    char what[96];
    const float *x[3] = {a->p, a->mom, a->st}, *y[3] = {b->p, b->mom, b->st};
    size_t n[3] = {a->params.total, a->params.total, a->state.total};
    const char *names[3] = {"parameters", "momentum", "BN statistics"};
    for (int i = 0; i < 3; i++) {
        snprintf(what, sizeof what, "%s %s", label, names[i]);
        if (rtol == 0) {
            int same = memcmp(x[i], y[i], n[i] * sizeof(float)) == 0;
            TEST_CHECK(same, "%s differ from the hand computation (bitwise)", what);
            if (!same) test_close(what, x[i], y[i], n[i], 0, 0);
        } else {
            test_close(what, x[i], y[i], n[i], 1e-7, rtol);
        }
    }
}

// The replicas' parameters and momentum bitwise equal (rank 0 receives rank 1's checksums).
static void replicas_equal(const char *label, const hpff_grid *g, const part *p) {
    const hpff_model *md = &p->md;
    uint64_t all[2], mine = hpff_checksum_floats(md->p, md->params.total, HPFF_CHECKSUM_SEED);
    mine = hpff_checksum_floats(md->mom, md->params.total, mine);
    hpff_grid_allgather_u64(g, mine, all);
    TEST_CHECK(all[0] == all[1], "%s: the replicas' parameters differ", label);
}

static void strict_case(const hpff_grid *g) {
    hpff_config c;
    make_config(&c, "strict");
    hpff_split sp;
    hpff_model_split(&c, &sp);
    part mine, ref[2];
    part_init(&mine, &c, 0, sp.M - 1, hpff_transport_local_create());
    mine.s.reducer = hpff_reducer_mpi_create(g, mine.be, mine.md.params.total, 60.0);
    for (int r = 0; r < 2; r++) part_init(&ref[r], &c, 0, sp.M - 1, hpff_transport_local_create());
    float x[N * 3 * 64];
    int32_t y[N];
    hpff_step_stats st;
    for (int t = 0; t < STEPS; t++) {
        shard(x, y, t, g->replica);
        hpff_stage_step(&mine.s, x, y, N, LR, &st);
        for (int r = 0; r < 2; r++) {
            shard(x, y, t, r);
            hpff_stage_grads(&ref[r].s, x, y, N, &st);
        }
        average_and_step(&ref[0], &ref[1]);
    }
    compare("strict", &mine, &ref[g->replica], 0);
    replicas_equal("strict", g, &mine);
    mine.s.reducer->ops->destroy(mine.s.reducer);
    part_free(&mine);
    for (int r = 0; r < 2; r++) part_free(&ref[r]);
}

// One replica's two stages joined by a queue (boundary after module 0).
static void pipeline_init(part *p, const hpff_config *c, int M) {
    chan *q = calloc(1, sizeof *q);
    part_init(&p[0], c, 0, 0, q_create(q, 0));
    part_init(&p[1], c, 1, M - 1, q_create(q, 1));
}

static void delayed_case(const hpff_grid *g) {
    hpff_config c;
    make_config(&c, "delayed");
    hpff_split sp;
    hpff_model_split(&c, &sp);
    part mine[2], ref[2][2];   // [stage] / [replica][stage]
    pipeline_init(mine, &c, sp.M);
    for (int k = 0; k < 2; k++)   // one reducer per stage, each over the two replicas
        mine[k].s.reducer = hpff_reducer_mpi_create(g, mine[k].be, 2 * mine[k].md.params.total, 60.0);
    for (int r = 0; r < 2; r++) pipeline_init(ref[r], &c, sp.M);
    float x[N * 3 * 64];
    int32_t y[N];
    hpff_step_stats st;
    for (int t = 0; t < STEPS; t++) {
        shard(x, y, t, g->replica);
        hpff_stage_step(&mine[0].s, x, y, N, LR, &st);   // delayed: never waits for stage 1's step
        hpff_stage_step(&mine[1].s, NULL, NULL, 0, LR, &st);
        for (int r = 0; r < 2; r++) {
            shard(x, y, t, r);
            hpff_stage_grads(&ref[r][0].s, x, y, N, &st);
            hpff_stage_grads(&ref[r][1].s, NULL, NULL, 0, &st);
        }
        for (int k = 0; k < 2; k++) average_and_step(&ref[0][k], &ref[1][k]);
    }
    TEST_CHECK(mine[0].s.d.pending != NULL && mine[0].s.boundary_up, "stage 0 has no delayed boundary");
    for (int k = 0; k < 2; k++) {
        char label[32];
        snprintf(label, sizeof label, "delayed stage %d", k);
        compare(label, &mine[k], &ref[g->replica][k], 1e-5);
        replicas_equal(label, g, &mine[k]);
    }
    for (int k = 0; k < 2; k++) {
        mine[k].s.reducer->ops->destroy(mine[k].s.reducer);
        part_free(&mine[k]);
    }
    for (int r = 0; r < 2; r++)
        for (int k = 0; k < 2; k++) part_free(&ref[r][k]);
}

int main(int argc, char **argv) {
    hpff_world w;
    hpff_world_init(&w, &argc, &argv);
    if (w.size != 2) {
        if (w.rank == 0) fprintf(stderr, "test_dp_step: run with mpirun -np 2\n");
        hpff_world_finalize(&w);
        return 77;
    }
    hpff_grid g;
    hpff_grid_init(&g, &w, 1);   // 1 stage x 2 replicas
    strict_case(&g);
    delayed_case(&g);
    hpff_grid_free(&g);
    int rc = hpff_test_summary(w.rank == 0 ? "test_dp_step (replica 0)" : "test_dp_step (replica 1)");
    int any = (int)hpff_world_max(&w, rc != 0);
    hpff_world_finalize(&w);
    return any;
}
