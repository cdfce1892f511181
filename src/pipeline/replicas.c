// replicas.c — the replicas' checksum check and BatchNorm statistics hand-over (replicas.h).
#include "replicas.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void hpff_replicas_init(hpff_replicas *r, const hpff_grid *g, hpff_model *md) {
    memset(r, 0, sizeof *r);
    r->g = g;
    r->md = md;
    r->host_floats = md->params.total > md->state.total ? md->params.total : md->state.total;
    r->host = hpff_xmalloc((r->host_floats ? r->host_floats : 1) * sizeof(float));
    size_t bn = md->state.total ? md->state.total : 1;
    r->own_bn = hpff_xmalloc(bn * sizeof(float));
    if (g->replica == 0 && g->replicas > 1) r->all_bn = hpff_xmalloc((size_t)g->replicas * bn * sizeof(float));
}

void hpff_replicas_free(hpff_replicas *r) {
    free(r->host);
    free(r->own_bn);
    free(r->all_bn);
    r->host = r->own_bn = r->all_bn = NULL;
}

uint64_t hpff_checksum_floats(const float *x, size_t n, uint64_t h) {
    const uint32_t *w = (const uint32_t *)(const void *)x;
    for (size_t i = 0; i < n; i++) h = (h ^ w[i]) * 1099511628211ull;
    return h;
}

uint64_t hpff_replicas_checksum(hpff_replicas *r) {
    hpff_model *md = r->md;
    size_t n = md->params.total;
    uint64_t h = HPFF_CHECKSUM_SEED;
    const float *arenas[2] = {md->p, md->mom};
    for (int i = 0; i < 2; i++) {
        md->be->to_host(md->be, r->host, arenas[i], n * sizeof(float));
        h = hpff_checksum_floats(r->host, n, h);
    }
    return h;
}

void hpff_replicas_check(hpff_replicas *r, long step) {
    const hpff_grid *g = r->g;
    uint64_t mine = hpff_replicas_checksum(r);
    uint64_t *all = hpff_xcalloc((size_t)g->size, sizeof *all);
    hpff_grid_allgather_u64(g, mine, all);
    int bad_replica = -1, bad_stage = -1;
    for (int rep = 1; rep < g->replicas && bad_replica < 0; rep++)
        for (int s = 0; s < g->stages && bad_replica < 0; s++)
            if (all[hpff_grid_rank_of(g, rep, s)] != all[hpff_grid_rank_of(g, 0, s)]) {
                bad_replica = rep;
                bad_stage = s;
            }
    free(all);
    if (bad_replica < 0) return;
    if (g->rank == 0)
        hpff_fatal(__FILE__, __LINE__, "pipeline.check_replicas",
                   "after step %ld replica %d differs from replica 0: the parameters or momentum of stage %d "
                   "(rank %d against rank %d) have another checksum, so the replicas are no longer one model",
                   step, bad_replica, bad_stage, hpff_grid_rank_of(g, bad_replica, bad_stage),
                   hpff_grid_rank_of(g, 0, bad_stage));
    for (;;) pause();   // rank 0 ends the whole job (MPI_Abort)
}

void hpff_replicas_eval_begin(hpff_replicas *r) {
    hpff_model *md = r->md;
    size_t n = md->state.total;
    if (r->g->replicas == 1 || n == 0) return;
    md->be->to_host(md->be, r->own_bn, md->st, n * sizeof(float));
    memcpy(r->host, r->own_bn, n * sizeof(float));
    hpff_grid_stage_bcast(r->g, r->host, n * sizeof(float));
    if (r->g->replica != 0) md->be->to_device(md->be, md->st, r->host, n * sizeof(float));
}

void hpff_replicas_eval_end(hpff_replicas *r) {
    hpff_model *md = r->md;
    size_t n = md->state.total;
    if (r->g->replicas == 1 || n == 0 || r->g->replica == 0) return;   // replica 0's never left
    md->be->to_device(md->be, md->st, r->own_bn, n * sizeof(float));
}

const float *hpff_replicas_gather_bn(hpff_replicas *r) {
    hpff_model *md = r->md;
    size_t n = md->state.total;
    if (r->g->replicas == 1) return NULL;
    md->be->to_host(md->be, r->host, md->st, n * sizeof(float));
    hpff_grid_stage_gather(r->g, r->host, r->all_bn, n * sizeof(float));
    return r->g->replica == 0 ? r->all_bn : NULL;
}

static int owned_by(const hpff_model *md, int group, int m) {
    return group == m || (m == md->M - 1 && group == md->M);
}

int hpff_replicas_module_spans(const hpff_model *md, int k, hpff_span *out, int max) {
    const hpff_registry *reg = &md->params;
    int m = md->m0 + k, n = 0;
    for (int i = 0; i < reg->n; i++) {
        const hpff_tensor_info *t = &reg->t[i];
        if (!owned_by(md, t->group, m)) continue;
        size_t end = i + 1 < reg->n ? reg->t[i + 1].off : reg->total;   // through the padding
        float *p = md->g + t->off;
        if (n > 0 && out[n - 1].p + out[n - 1].n == p) {
            out[n - 1].n += end - t->off;
            continue;
        }
        HPFF_CHECK(n < max, "module %d's gradients lie in more than %d runs of the arena", m, max);
        out[n++] = (hpff_span){p, end - t->off};
    }
    return n;
}

int hpff_replicas_resume_batch(int batch, int old_r, int new_r, int *inexact) {
    long long read = (long long)batch * old_r;   // batches of one replica's size
    *inexact = read % new_r != 0;
    return (int)(read / new_r);
}
