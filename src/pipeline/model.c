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
        hpff_net_final_push(b, &md->net, &phi);
        hpff_seq_plan(&phi, md->n_max);
        md->final = hpff_head_classifier("fc", &phi, classes);
    }
    return hpff_status_ok();
}

// Parameters (or state) of modules [m0, m1], Φ's with M-1: the arena a rank owning them holds
// (every tensor is stored 16-float aligned, hpff_registry_add).
static size_t range_total(const hpff_registry *r, int m0, int m1, int M) {
    size_t total = 0;
    for (int i = 0; i < r->n; i++) {
        int g = r->t[i].group;
        if ((g >= m0 && g <= m1) || (g == M && m1 == M - 1)) total += hpff_align16(r->t[i].count);
    }
    return total;
}

// The largest needs of the modules' sequences and heads: workspace, scratch, head work area,
// sweep gradients; the activation sizes go into v.
typedef struct needs { size_t ws, scratch, work, grad; } needs;

static needs range_needs(hpff_model *v, int m0, int m1) {
    needs z = {0, 0, 0, 0};
    int n = v->n_max;
    v->slot_floats = v->in_floats_max = v->out_floats_max = 0;
    memset(v->slot_by, 0, sizeof v->slot_by);
    memset(v->out_by, 0, sizeof v->out_by);
    v->work_head = NULL;
    for (int m = m0; m <= m1; m++) {
        const hpff_module *mo = hpff_model_module(v, m);
        size_t out = (size_t)n * hpff_shape_numel(mo->seq.out);
        v->slot_floats = hpff_zmax(v->slot_floats, mo->seq.slot_floats);
        v->slot_by[(m - m0) % 2] = hpff_zmax(v->slot_by[(m - m0) % 2], mo->seq.slot_floats);
        v->out_by[(m - m0) % 3] = hpff_zmax(v->out_by[(m - m0) % 3], out);
        v->in_floats_max = hpff_zmax(v->in_floats_max, (size_t)n * hpff_shape_numel(mo->seq.in));
        v->out_floats_max = hpff_zmax(v->out_floats_max, out);
        z.ws = hpff_zmax(z.ws, mo->seq.ws_bytes);
        z.scratch = hpff_zmax(z.scratch, mo->seq.scratch_floats);
        z.grad = hpff_zmax(z.grad, mo->seq.grad_floats);
        hpff_head *hs[3] = {mo->il, mo->cl, m == v->M - 1 ? v->final : NULL};
        for (int i = 0; i < 3; i++)
            if (hs[i]) {
                z.ws = hpff_zmax(z.ws, hs[i]->ws_bytes);
                z.scratch = hpff_zmax(z.scratch, hs[i]->scratch_floats);
                if (hs[i]->work_floats > z.work) v->work_head = hs[i]->name;
                z.work = hpff_zmax(z.work, hs[i]->work_floats);
            }
    }
    return z;
}

// Module k's activations live in slot k % 2 and its output in out k % 3: the parameter sweep
// of module k-1 runs after module k's forward and reads h_{k-2}, so three outputs but only two
// modules' other activations are alive at once. Each is sized by the modules that use it.
static void activation_buffers(hpff_model *v, int count, hpff_ledger *l) {
    int slots = count < 2 ? count : 2, outs = count < 3 ? count : 3;
    for (int i = 0; i < 2; i++) v->slot[i] = i < slots ? hpff_ledger_floats(l, "module activations", v->slot_by[i]) : NULL;
    for (int i = 0; i < 3; i++) v->out[i] = i < outs ? hpff_ledger_floats(l, "module output", v->out_by[i]) : NULL;
}

void hpff_model_buffers(hpff_model *v, int m0, int m1, hpff_ledger *l) {
    int n = v->n_max, count = m1 - m0 + 1;
    hpff_shape img = v->net.in;
    needs z = range_needs(v, m0, m1);
    size_t params = range_total(&v->params, m0, m1, v->M), state = range_total(&v->state, m0, m1, v->M);
    v->p = hpff_ledger_floats(l, "parameters", params);
    v->g = hpff_ledger_floats(l, "gradients", params);
    v->mom = hpff_ledger_floats(l, "momentum", params);
    v->st = hpff_ledger_floats(l, "BN statistics", state);
    activation_buffers(v, count, l);
    v->x_in_floats = (size_t)n * hpff_shape_numel(hpff_model_module(v, m0)->seq.in);   // images on rank 0
    v->x_in = hpff_ledger_floats(l, "rank input", v->x_in_floats);
    v->labels = hpff_ledger_alloc(l, "labels", (size_t)n * sizeof(int32_t) + 64);
    v->target = v->needs_target ? hpff_ledger_floats(l, "reconstruction target", (size_t)n * hpff_shape_numel(img)) : NULL;
    v->target_map = v->needs_target && m0 == 0 ? hpff_ledger_floats(l, "target map", 4 * (size_t)img.c) : NULL;
    v->head_work = hpff_ledger_floats(l, "head work area", z.work);
    v->stat = hpff_ledger_floats(l, "loss stats", (size_t)(2 * count + 1) * HPFF_STAT_FLOATS);
    v->g0 = hpff_ledger_floats(l, "sweep gradient", z.grad);
    v->g1 = hpff_ledger_floats(l, "sweep gradient", z.grad);
    v->ex = (hpff_exec){v->be, v->p, v->g, v->st, NULL, z.ws, NULL, z.scratch, 1};
    v->ex.ws = z.ws ? hpff_ledger_alloc(l, "conv workspace", z.ws) : NULL;
    v->ex.scratch = hpff_ledger_floats(l, "layer scratch", z.scratch);
}

// The network and its split for the configuration.
static hpff_status net_and_split(const hpff_config *cfg, hpff_shape in, int classes, hpff_net_spec *net,
                                 hpff_split *sp) {
    hpff_status st = hpff_net_spec_make(cfg->arch, cfg->width, cfg->blocks, in, classes, net);
    if (st.code) return st;
    int K = cfg->method == HPFF_METHOD_BP ? 1 : cfg->K;
    return hpff_split_make(net, K, cfg->split, cfg->modules, sp);
}

// bn_emulate (§4.6): the code's forward count per module sets the running-stat momentum.
static float module_bn_momentum(const hpff_config *cfg, int m, int M) {
    if (!cfg->bn_emulate || M == 1) return 0.1f;
    int fwd = (m == 0 || m == M - 1) ? 2 : 3;
    float keep = 1.f;
    for (int i = 0; i < fwd; i++) keep *= 0.9f;
    return 1.f - keep;
}

hpff_status hpff_model_split(const hpff_config *cfg, hpff_split *sp) {
    hpff_net_spec net;   // the cut does not depend on the image shape or the classes
    hpff_shape any = {3, 1, 1};
    return net_and_split(cfg, any, 1, &net, sp);
}

static hpff_status build(hpff_model *md, const hpff_config *cfg, hpff_backend *be, hpff_shape in,
                         int classes, int m0, int m1, int sizing) {
    memset(md, 0, sizeof *md);
    md->cfg = cfg;
    md->be = be;
    md->n_max = cfg->batch;
    md->opt_first = 1;
    hpff_status st = net_and_split(cfg, in, classes, &md->net, &md->split);
    if (st.code) return st;
    md->M = md->split.M;
    if (m1 < 0) m1 = md->M - 1;   // every module
    if (m0 < 0 || m1 >= md->M || m0 > m1)
        return hpff_status_fail("module range %d..%d is outside the %d modules", m0, m1, md->M);
    md->m0 = m0;
    md->m1 = m1;
    st = hpff_hilo_plan(cfg, md->M, &md->hilo);
    if (st.code) return st;
    md->needs_target = hpff_aux_needs_target(cfg);
    // VGG: the VGG-DGL init for the backbone, Φ and every head (§1.9, §2.3).
    float linear_std = md->net.kind == HPFF_NET_VGG ? 0.01f : 0.f;
    hpff_build b = {be, &md->params, &md->state, 0, md->n_max, 0.1f, linear_std};
    md->mod = hpff_xcalloc((size_t)(m1 - m0 + 1), sizeof *md->mod);
    for (int m = m0; m <= m1; m++) {
        hpff_module *mo = &md->mod[m - m0];
        mo->m = m;
        b.group = m;
        mo->p_begin = md->params.total;
        int u0 = md->split.first[m];
        hpff_seq_init(&mo->seq, hpff_net_unit_in(&md->net, u0));
        if (u0 == 0 && md->net.stem) {   // the stem runs once per step in the code too
            b.bn_momentum = 0.1f;
            hpff_net_push_units(&b, &md->net, 0, 0, &mo->seq);
            u0 = 1;
        }
        b.bn_momentum = module_bn_momentum(cfg, m, md->M);
        if (u0 <= md->split.last[m]) hpff_net_push_units(&b, &md->net, u0, md->split.last[m], &mo->seq);
        hpff_seq_plan_split(&mo->seq, md->n_max);   // outputs outlive the rest (allocate)
        mo->p_end = md->params.total;
    }
    b.bn_momentum = 0.1f;
    st = build_heads(md, &b, in, classes);
    if (st.code) return st;
    hpff_ledger_init(&md->mem, be, sizing);
    if (!sizing) hpff_model_buffers(md, m0, m1, &md->mem);
    return hpff_status_ok();
}

hpff_status hpff_model_build(hpff_model *md, const hpff_config *cfg, hpff_backend *be,
                             hpff_shape in, int classes, int m0, int m1) {
    return build(md, cfg, be, in, classes, m0, m1, 0);
}

hpff_status hpff_model_build_all(hpff_model *md, const hpff_config *cfg, hpff_backend *be,
                                 hpff_shape in, int classes) {
    return build(md, cfg, be, in, classes, 0, -1, 0);
}

hpff_status hpff_model_size_all(hpff_model *md, const hpff_config *cfg, hpff_backend *be,
                                hpff_shape in, int classes) {
    return build(md, cfg, be, in, classes, 0, -1, 1);
}

void hpff_model_module_costs(const hpff_model *md, hpff_module_cost *cost) {
    HPFF_CHECK(md->m0 == 0 && md->m1 == md->M - 1, "module costs need every module (held: %d..%d of %d)",
               md->m0, md->m1, md->M);
    for (int m = 0; m < md->M; m++) {
        const hpff_module *mo = &md->mod[m];
        hpff_module_cost *c = &cost[m];
        memset(c, 0, sizeof *c);
        c->fwd_flops = (double)mo->seq.flops_per_sample;
        if (mo->il) c->head_flops += (double)mo->il->flops_per_sample;
        if (mo->cl) c->head_flops += (double)mo->cl->flops_per_sample;
        if (m == md->M - 1) c->head_flops += (double)md->final->flops_per_sample;
        // forward + ~2x backward for the parameter sweep, +1x for the data sweep, heads 3x
        c->cost = c->fwd_flops * (3.0 + (md->hilo.mod[m].push_up ? 1.0 : 0.0)) + 3.0 * c->head_flops;
        for (int i = 0; i < md->params.n; i++)
            if (md->params.t[i].group == m || (m == md->M - 1 && md->params.t[i].group == md->M))
                c->params += md->params.t[i].count;
        c->act_bytes = (double)mo->seq.slot_floats * sizeof(float);
        c->out_bytes = (double)mo->seq.out_floats * sizeof(float);
    }
}

hpff_status hpff_model_costs(const hpff_config *cfg, hpff_backend *be, hpff_shape in, int classes,
                             hpff_module_cost *cost, int *M) {
    hpff_model md;
    hpff_status st = hpff_model_size_all(&md, cfg, be, in, classes);
    if (!st.code) {
        *M = md.M;
        hpff_model_module_costs(&md, cost);
    }
    hpff_model_free(&md);
    return st;
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

void hpff_model_free(hpff_model *md) {
    if (!md->be) return;
    for (int k = 0; md->mod && k < md->m1 - md->m0 + 1; k++) {
        hpff_seq_free(&md->mod[k].seq);
        hpff_head_free(md->mod[k].il);
        hpff_head_free(md->mod[k].cl);
    }
    free(md->mod);
    hpff_head_free(md->final);
    hpff_ledger_free(&md->mem);
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
