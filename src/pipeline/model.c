// model.c — building a rank's part of the network and sizing all of its memory up front.
#include "model.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "aux_select.h"
#include "check.h"
#include "sizes.h"


static hpff_status build_heads(hpff_model *md, hpff_build *b, hpff_shape img, int classes) {
    for (int m = md->m0; m <= md->m1; m++) {
        hpff_module *mo = &md->mod[m - md->m0];
        const hpff_hilo_module *hm = &md->hilo.mod[m];
        hpff_status st = hpff_status_ok();
        b->group = m;
        if (hm->il && m < md->M - 1) {
            mo->il = hpff_aux_create(b, md->cfg, m, HPFF_LEVEL_IL, mo->seq.out, img, classes, hm, &st);
            if (!mo->il) return st;
        }
        if (hm->cl && m < md->M - 1) {
            mo->cl = hpff_aux_create(b, md->cfg, m, HPFF_LEVEL_CL, mo->seq.out, img, classes, hm, &st);
            if (!mo->cl) return st;
        }
    }
    if (md->m1 == md->M - 1) {
        hpff_seq phi;
        hpff_seq_init(&phi, md->mod[md->m1 - md->m0].seq.out);
        b->group = md->M;
        hpff_final_head_push(b, classes, &phi);
        hpff_seq_plan(&phi, md->n_max);
        md->final = hpff_head_classifier("fc", &phi, classes);
    }
    return hpff_status_ok();
}

// Allocates and records a named buffer (the memory report and hpff_model_bytes add these).
static void *named_alloc(hpff_model *md, const char *name, size_t bytes) {
    HPFF_CHECK(md->n_mem < HPFF_MODEL_MAX_BUFFERS, "more than %d model buffers", HPFF_MODEL_MAX_BUFFERS);
    md->mem[md->n_mem].name = name;
    md->mem[md->n_mem].bytes = bytes;
    md->n_mem++;
    return md->sizing ? NULL : md->be->alloc(md->be, bytes);
}

static void *dev_alloc(hpff_model *md, const char *name, size_t floats) {
    return named_alloc(md, name, hpff_zmax(floats, 16) * sizeof(float));
}

// Sizes and allocates every buffer; nothing is allocated after this.
static void allocate(hpff_model *md, hpff_shape img) {
    hpff_backend *be = md->be;
    size_t ws = 0, scratch = 0, work = 0, grad = 0;
    int n = md->n_max, count = md->m1 - md->m0 + 1;
    for (int k = 0; k < count; k++) {
        hpff_module *mo = &md->mod[k];
        md->slot_floats = hpff_zmax(md->slot_floats, mo->seq.slot_floats);
        md->in_floats_max = hpff_zmax(md->in_floats_max, (size_t)n * hpff_shape_numel(mo->seq.in));
        md->out_floats_max = hpff_zmax(md->out_floats_max, (size_t)n * hpff_shape_numel(mo->seq.out));
        ws = hpff_zmax(ws, mo->seq.ws_bytes);
        scratch = hpff_zmax(scratch, mo->seq.scratch_floats);
        grad = hpff_zmax(grad, mo->seq.grad_floats);
        hpff_head *hs[3] = {mo->il, mo->cl, k == count - 1 ? md->final : NULL};
        for (int i = 0; i < 3; i++)
            if (hs[i]) {
                ws = hpff_zmax(ws, hs[i]->ws_bytes);
                scratch = hpff_zmax(scratch, hs[i]->scratch_floats);
                if (hs[i]->work_floats > work) md->work_head = hs[i]->name;
                work = hpff_zmax(work, hs[i]->work_floats);
            }
    }
    md->p = dev_alloc(md, "parameters", md->params.total);
    md->g = dev_alloc(md, "gradients", md->params.total);
    md->mom = dev_alloc(md, "momentum", md->params.total);
    md->st = dev_alloc(md, "BN statistics", md->state.total);
    // Module k's activations live in slot k % 2 and its output in out k % 3: the parameter sweep
    // of module k-1 runs after module k's forward and reads h_{k-2}, so three outputs but only
    // two modules' other activations are alive at once.
    int slots = count < 2 ? count : 2, outs = count < 3 ? count : 3;
    for (int i = 0; i < slots; i++) md->slot[i] = dev_alloc(md, "module activations", md->slot_floats);
    for (int i = 0; i < outs; i++) md->out[i] = dev_alloc(md, "module output", md->out_floats_max);
    int delayed = md->cfg->cascade == HPFF_CASCADE_DELAYED && md->m1 < md->M - 1;
    if (delayed) {   // per step parity: the boundary module's activations | its input | its output
        hpff_module *last = &md->mod[count - 1];
        md->bnd_in_floats = (size_t)n * hpff_shape_numel(last->seq.in);
        size_t f = last->seq.slot_floats + md->bnd_in_floats + last->seq.out_floats;
        for (int i = 0; i < 2; i++) md->bnd[i] = dev_alloc(md, "delayed boundary module", f);
        md->shadow = dev_alloc(md, "delayed weight shadow", 2 * (last->p_end - last->p_begin));   // previous | current
        md->pending = dev_alloc(md, "delayed pending gradient", last->p_end - last->p_begin);
    }
    md->x_in_floats = (size_t)n * hpff_shape_numel(md->mod[0].seq.in);   // images on rank 0
    md->x_in = dev_alloc(md, "rank input", md->x_in_floats);
    md->labels = named_alloc(md, "labels", (size_t)n * sizeof(int32_t) + 64);
    if (md->needs_target) md->target = dev_alloc(md, "reconstruction target", (size_t)n * hpff_shape_numel(img));
    if (md->needs_target && md->m0 == 0) md->target_map = dev_alloc(md, "target map", 4 * (size_t)img.c);
    md->head_work = dev_alloc(md, "head work area", work);
    md->stat = dev_alloc(md, "loss stats", hpff_model_stat_floats(md));
    md->g0 = dev_alloc(md, "sweep gradient", grad);
    md->g1 = dev_alloc(md, "sweep gradient", grad);
    for (int i = 0; i < 2; i++) md->seed[i] = dev_alloc(md, "module seed", md->out_floats_max);
    if (md->m1 == md->M - 1 && md->hilo.mod[md->M - 1].push_up)   // Φ's cascade part (stage.c)
        md->cbuf = dev_alloc(md, "final cascade seed", (size_t)n * hpff_shape_numel(md->mod[count - 1].seq.out));
    // u_{m-1} of a module after the rank's first goes to the backward sweep's spare gradient
    // buffer (hpff_seq_spare_grad) when that is large enough, else to a buffer of its own.
    size_t u_need = 0;
    for (int k = 1; k < count; k++)
        if (md->hilo.mod[md->mod[k].m].push_up) u_need = hpff_zmax(u_need, (size_t)n * hpff_shape_numel(md->mod[k].seq.in));
    if (u_need > grad) md->ubuf = dev_alloc(md, "cascade gradient", u_need);
    // Cascade gradients cross rank boundaries only where a module pushes one upstream.
    if (md->m0 > 0 && md->hilo.mod[md->m0].push_up)
        md->up_send = dev_alloc(md, "upstream send", md->x_in_floats);
    if (md->m1 < md->M - 1 && md->hilo.mod[md->m1 + 1].push_up)
        md->u_recv = dev_alloc(md, "downstream receive", (size_t)n * hpff_shape_numel(md->mod[count - 1].seq.out));
    md->ex.be = be;
    md->ex.params = md->p;
    md->ex.grads = md->g;
    md->ex.state = md->st;
    md->ex.ws_bytes = ws;
    md->ex.ws = ws ? named_alloc(md, "conv workspace", ws) : NULL;
    md->ex.scratch_floats = scratch;
    md->ex.scratch = dev_alloc(md, "layer scratch", scratch);
    md->ex.train = 1;
}

enum { BUILD_PLAN = 0, BUILD_ALLOC = 1, BUILD_SIZE = 2 };   // build's last argument

static hpff_status build(hpff_model *md, const hpff_config *cfg, hpff_backend *be, hpff_shape in,
                         int classes, int m0, int m1, int do_alloc) {
    memset(md, 0, sizeof *md);
    md->cfg = cfg;
    md->be = be;
    md->n_max = cfg->batch;
    md->opt_first = 1;
    int nb = hpff_resnet_blocks(cfg->arch);
    if (!nb) return hpff_status_fail("model.arch = %d is not a known network", (int)cfg->arch);
    hpff_resnet_spec net = {nb, cfg->width, in, classes};
    md->net = net;
    int K = cfg->method == HPFF_METHOD_BP ? 1 : cfg->K;
    hpff_status st = hpff_split_make(nb, K, cfg->split, cfg->modules, &md->split);
    if (st.code) return st;
    md->M = md->split.M;
    if (m0 < 0 || m1 >= md->M || m0 > m1)
        return hpff_status_fail("module range %d..%d is outside the %d modules", m0, m1, md->M);
    md->m0 = m0;
    md->m1 = m1;
    st = hpff_hilo_plan(cfg, md->M, &md->hilo);
    if (st.code) return st;
    md->needs_target = hpff_aux_needs_target(cfg);
    // bn_emulate (§4.6): the code's forward count per module sets the running-stat momentum.
    hpff_build b = {be, &md->params, &md->state, 0, md->n_max, 0.1f};
    md->mod = hpff_xcalloc((size_t)(m1 - m0 + 1), sizeof *md->mod);
    for (int m = m0; m <= m1; m++) {
        hpff_module *mo = &md->mod[m - m0];
        mo->m = m;
        b.group = m;
        mo->p_begin = md->params.total;
        int u0 = md->split.first[m];
        hpff_seq_init(&mo->seq, hpff_resnet_unit_in(&net, u0));
        if (u0 == 0) {   // the stem runs once per step in the code too
            b.bn_momentum = 0.1f;
            hpff_resnet_push_units(&b, &net, 0, 0, &mo->seq);
            u0 = 1;
        }
        b.bn_momentum = 0.1f;
        if (cfg->bn_emulate && md->M > 1) {
            int fwd = (m == 0 || m == md->M - 1) ? 2 : 3;
            float keep = 1.f;
            for (int i = 0; i < fwd; i++) keep *= 0.9f;
            b.bn_momentum = 1.f - keep;
        }
        if (u0 <= md->split.last[m]) hpff_resnet_push_units(&b, &net, u0, md->split.last[m], &mo->seq);
        hpff_seq_plan_split(&mo->seq, md->n_max);   // outputs outlive the rest (allocate)
        mo->p_end = md->params.total;
    }
    b.bn_momentum = 0.1f;
    st = build_heads(md, &b, in, classes);
    if (st.code) return st;
    md->sizing = do_alloc == BUILD_SIZE;
    if (do_alloc) allocate(md, in);
    return hpff_status_ok();
}

hpff_status hpff_model_plan_bytes(const hpff_config *cfg, hpff_backend *be, hpff_shape in, int classes,
                                  int m0, int m1, size_t *bytes) {
    hpff_model md;
    hpff_status st = build(&md, cfg, be, in, classes, m0, m1, BUILD_SIZE);
    *bytes = st.code ? 0 : hpff_model_bytes(&md);
    hpff_model_free(&md);
    return st;
}

hpff_status hpff_model_build(hpff_model *md, const hpff_config *cfg, hpff_backend *be,
                             hpff_shape in, int classes, int m0, int m1) {
    return build(md, cfg, be, in, classes, m0, m1, BUILD_ALLOC);
}

hpff_status hpff_model_build_all(hpff_model *md, const hpff_config *cfg, hpff_backend *be,
                                 hpff_shape in, int classes) {
    hpff_split sp;
    int nb = hpff_resnet_blocks(cfg->arch);
    if (!nb) return hpff_status_fail("model.arch = %d is not a known network", (int)cfg->arch);
    int K = cfg->method == HPFF_METHOD_BP ? 1 : cfg->K;
    hpff_status st = hpff_split_make(nb, K, cfg->split, cfg->modules, &sp);
    if (st.code) return st;
    return build(md, cfg, be, in, classes, 0, sp.M - 1, BUILD_ALLOC);
}

hpff_status hpff_model_costs(const hpff_config *cfg, hpff_backend *be, hpff_shape in, int classes,
                             hpff_module_cost *cost, int *M) {
    hpff_model md;
    hpff_status st = build(&md, cfg, be, in, classes, 0, 0, BUILD_PLAN);   // learn M first
    if (!st.code) {
        *M = md.M;
        hpff_model_free(&md);
        st = build(&md, cfg, be, in, classes, 0, *M - 1, BUILD_PLAN);
    }
    if (st.code) return st;
    for (int m = 0; m < *M; m++) {
        const hpff_module *mo = &md.mod[m];
        hpff_module_cost *c = &cost[m];
        memset(c, 0, sizeof *c);
        c->fwd_flops = (double)mo->seq.flops_per_sample;
        if (mo->il) c->head_flops += (double)mo->il->flops_per_sample;
        if (mo->cl) c->head_flops += (double)mo->cl->flops_per_sample;
        if (m == *M - 1) c->head_flops += (double)md.final->flops_per_sample;
        // forward + ~2x backward for the parameter sweep, +1x for the data sweep, heads 3x
        c->cost = c->fwd_flops * (3.0 + (md.hilo.mod[m].push_up ? 1.0 : 0.0)) + 3.0 * c->head_flops;
        c->params = 0;
        for (int i = 0; i < md.params.n; i++)
            if (md.params.t[i].group == m || (m == *M - 1 && md.params.t[i].group == *M))
                c->params += md.params.t[i].count;
        c->act_bytes = (double)mo->seq.slot_floats * sizeof(float);
        c->out_bytes = (double)mo->seq.out_floats * sizeof(float);
    }
    hpff_model_free(&md);
    return hpff_status_ok();
}

void hpff_model_init_values(hpff_model *md) {
    float *host = hpff_xmalloc(hpff_zmax(md->params.total, md->state.total) * sizeof(float) + 64);
    hpff_registry_init_values(&md->params, (uint64_t)md->cfg->seed, host);
    md->be->to_device(md->be, md->p, host, md->params.total * sizeof(float));
    hpff_registry_init_values(&md->state, (uint64_t)md->cfg->seed, host);
    md->be->to_device(md->be, md->st, host, md->state.total * sizeof(float));
    free(host);
    md->be->fill(md->be, md->mom, 0.f, md->params.total);
    md->opt_first = 1;
}

void hpff_model_sgd(hpff_model *md, float lr) {
    const hpff_config *c = md->cfg;
    md->be->sgd_nesterov(md->be, md->p, md->g, md->mom, md->params.total, lr, c->momentum,
                         c->weight_decay, md->opt_first);
    md->opt_first = 0;
}

size_t hpff_model_stat_floats(const hpff_model *md) {
    return (size_t)(2 * (md->m1 - md->m0 + 1) + 1) * HPFF_STAT_FLOATS;
}

size_t hpff_model_bytes(const hpff_model *md) {
    size_t b = 0;
    for (int i = 0; i < md->n_mem; i++) b += md->mem[i].bytes;
    return b;
}

void hpff_model_memory_report(const hpff_model *md, FILE *f) {
    // Buffers of one name are summed, in the order first allocated.
    size_t total = hpff_model_bytes(md);
    for (int i = 0; i < md->n_mem; i++) {
        int first = 1, count = 0;
        size_t bytes = 0;
        for (int j = 0; j < md->n_mem; j++) {
            if (strcmp(md->mem[j].name, md->mem[i].name) != 0) continue;
            if (j < i) first = 0;
            bytes += md->mem[j].bytes;
            count++;
        }
        if (!first) continue;
        fprintf(f, "  %-26s %3d x %10.1f MiB = %8.1f MiB (%4.1f%%)\n", md->mem[i].name, count,
                bytes / (double)count / 1048576.0, bytes / 1048576.0, total ? 100.0 * bytes / total : 0.0);
    }
    fprintf(f, "  %-26s                      %8.1f MiB\n", "total", total / 1048576.0);
    if (md->work_head) fprintf(f, "  (the head work area is sized by head %s)\n", md->work_head);
}

void hpff_model_free(hpff_model *md) {
    hpff_backend *be = md->be;
    if (!be) return;
    if (!md->p) {   // planned only: no buffers
        for (int k = 0; k < md->m1 - md->m0 + 1; k++) {
            hpff_seq_free(&md->mod[k].seq);
            hpff_head_free(md->mod[k].il);
            hpff_head_free(md->mod[k].cl);
        }
        free(md->mod);
        hpff_head_free(md->final);
        hpff_registry_free(&md->params);
        hpff_registry_free(&md->state);
        memset(md, 0, sizeof *md);
        return;
    }
    int count = md->m1 - md->m0 + 1;
    for (int k = 0; k < count; k++) {
        hpff_seq_free(&md->mod[k].seq);
        hpff_head_free(md->mod[k].il);
        hpff_head_free(md->mod[k].cl);
    }
    free(md->mod);
    hpff_head_free(md->final);
    void *bufs[] = {md->p, md->g, md->mom, md->st, md->shadow, md->pending, md->slot[0], md->slot[1], md->out[0], md->out[1], md->out[2],
                    md->bnd[0], md->bnd[1], md->x_in, md->target, md->target_map, md->labels, md->head_work, md->stat,
                    md->g0, md->g1, md->seed[0], md->seed[1], md->cbuf, md->ubuf, md->up_send, md->u_recv,
                    md->ex.ws, md->ex.scratch};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) be->free(be, bufs[i]);
    hpff_registry_free(&md->params);
    hpff_registry_free(&md->state);
    memset(md, 0, sizeof *md);
}

static float *tensor_ptr(const hpff_model *md, const char *name, size_t count, int grad) {
    int i = hpff_registry_find(&md->params, name);
    if (i >= 0 && md->params.t[i].count == count) return (grad ? md->g : md->p) + md->params.t[i].off;
    i = hpff_registry_find(&md->state, name);
    if (!grad && i >= 0 && md->state.t[i].count == count) return md->st + md->state.t[i].off;
    return NULL;
}

int hpff_model_set_tensor(hpff_model *md, const char *name, const float *host, size_t count) {
    float *p = tensor_ptr(md, name, count, 0);
    if (!p) return -1;
    md->be->to_device(md->be, p, host, count * sizeof(float));
    return 0;
}

int hpff_model_get_tensor(const hpff_model *md, const char *name, float *host, size_t count) {
    const float *p = tensor_ptr(md, name, count, 0);
    if (!p) return -1;
    md->be->to_host(md->be, host, p, count * sizeof(float));
    return 0;
}

int hpff_model_get_grad(const hpff_model *md, const char *name, float *host, size_t count) {
    const float *p = tensor_ptr(md, name, count, 1);
    if (!p) return -1;
    md->be->to_host(md->be, host, p, count * sizeof(float));
    return 0;
}
