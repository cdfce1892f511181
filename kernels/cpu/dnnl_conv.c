// dnnl_conv.c — CPU convolutions (forward, backward-data, backward-weights, groups) on oneDNN.
//
// train.threads workers of the backend's pool split a call's batch into contiguous shares (as
// the im2col path does); each worker runs primitives made for its share. Primitives are made
// once per (shape, share, worker) — in conv_workspace, at build time — and cached in the
// backend's oneDNN state. Their tensors use the layouts oneDNN picks (format_tag any: nChw16c /
// OIhw16i16o on AVX-512); the caller's NCHW / OIHW tensors are reordered at the edges of each
// call into workspace copies and outputs reordered back, with a sum post-op where the API
// accumulates (dx with beta 1; dw +=, where the workers' gradients are added in worker order
// after they finish, so the result depends on the thread count only). The primitives'
// scratchpads are user-managed and live in the workspace too: a step allocates nothing.
//
// Workspace: one region per worker, each [arg 0 copy][arg 1 copy][arg 2 copy][scratch], 64-byte
// aligned (a copy only where the layouts differ or an output accumulates). conv_workspace hands
// out the larger of that and the im2col reference's need and records it (hpff_dnnl_family): a
// call with a batch that was never sized (a smaller last batch) makes its own primitives and
// falls back to im2col (which never needs more for fewer images) unless they fit the least
// workspace handed out for that shape. Shapes where oneDNN
// has no primitive, or only its reference implementation, also run on im2col.
//
// Backward-data as a forward convolution: for a stride-1 ungrouped convolution, dx is dy
// correlated with the weights transposed (in <-> out) and flipped, under padding k-1-p. Where
// dy has few channels (c_out <= 16 and fewer than c_in: InfoPro's decoders, 12 -> 3, 64 -> 12),
// oneDNN's backward-data kernels run 2-9x slower than its forward kernel on the transposed
// problem (bench/RESULTS.md), so that direction is made as that forward primitive, fed the
// transposed weights (each worker rewrites its copy per call: c_in*c_out*k*k floats). The rule
// depends on the shape alone, so every run, rank and layout takes the same path.
//
// Blocked activations (backend.h, conv_block): a descriptor whose x_block / y_block name the
// channel-blocked layout the primitive picked for that tensor hands it over as is, with no
// reorder and no copy. Wherever such a call falls back to im2col (above), its blocked tensors go
// through NCHW copies that conv_workspace reserves beyond the im2col workspace, so every path
// takes every descriptor it sized.
#include "dnnl_conv.h"
#include "cpu_internal.h"
#include "dnnl_cpu.h"
#include <stdlib.h>
#include <string.h>

// Forward with and without a bias are two primitives (a layer always calls one of them).
enum { DIR_FWD = 0, DIR_BWD_DATA = 1, DIR_BWD_W = 2, DIR_FWD_BIAS = 3, N_DIRS = 4 };

typedef struct dn_arg {                 // one tensor argument of a primitive
    int io;                             // 0 input; 1 output (overwritten); 2 output (may accumulate)
    int exec_arg;                       // DNNL_ARG_*
    dnnl_memory_desc_t user_md;         // the caller's layout (NCHW / OIHW / GOIHW)
    const dnnl_memory_desc_t *prim_md;  // the primitive's (owned by its pd)
    int same;                           // the two layouts are one: no reorder needed
    size_t off;                         // the copy's offset in the workspace (when used)
    dnnl_memory_t user, prim;
    dnnl_primitive_t in, out, out_add;  // user -> prim; prim -> user, overwriting / adding
} dn_arg;

typedef struct dn_dir {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    dn_arg arg[3];                      // FWD: src w dst; BWD_DATA: diff_src w diff_dst; BWD_W: src diff_w diff_dst
    dnnl_memory_t bias, scratch;
    size_t scratch_off, bytes;          // bytes: the whole workspace of this direction
} dn_dir;

struct hpff_dnnl_conv {                 // one worker's primitives for its share of a batch
    hpff_conv_desc d;                   // n: the share
    int worker;
    int bwd_as_fwd;                     // backward-data runs as a forward primitive (see the top)
    float *wt;                          // bwd_as_fwd: (c_in, c_out, kh, kw) the weights transposed, flipped
    int ok;                             // 0: no (fast) primitive for some direction: im2col
    int share_dy;                       // both backward directions read one copy of dy
    dn_dir dir[N_DIRS];
    size_t bytes;                       // the largest direction
    hpff_dnnl_conv *next;
};

// What conv_workspace handed out: per exact shape (d.n = the batch) the bytes it returned, and
// per shape without the batch (d.n = 0) the least it returned for any batch: a call with an
// unsized batch fits every workspace sized for this shape only when it needs no more than that.
struct hpff_dnnl_family {
    hpff_conv_desc d;
    size_t bytes;
    hpff_dnnl_family *next;
};

static hpff_dnnl *state_of(hpff_backend *be) {
    return be && be->ctx ? ((hpff_cpu_ctx *)be->ctx)->dnnl : NULL;
}

static const hpff_cpu_conv_ops *im2col_of(hpff_backend *be) { return &((hpff_cpu_ctx *)be->ctx)->im2col; }

static size_t align64(size_t b) { return (b + 63) / 64 * 64; }

static void md_init(dnnl_memory_desc_t *md, int nd, const dnnl_dims_t dims, dnnl_format_tag_t tag) {
    HPFF_DNNL_CHECK(dnnl_memory_desc_init_by_tag(md, nd, dims, dnnl_f32, tag));
}

// The activation layout of a block (backend.h): 0 NCHW, 8 nChw8c, 16 nChw16c.
static dnnl_format_tag_t act_tag(int block) {
    return block == 16 ? dnnl_nChw16c : block == 8 ? dnnl_nChw8c : dnnl_nchw;
}

static int blocked(const hpff_conv_desc *d) { return d->x_block || d->y_block; }

// d with NCHW activations (what the im2col reference and the layout query take).
static hpff_conv_desc nchw_of(const hpff_conv_desc *d) {
    hpff_conv_desc k = *d;
    k.x_block = k.y_block = 0;
    return k;
}

// The caller's layouts of d: src (N, C, H, W) and dst in their blocks, weights (O, I/g, kh, kw) as OIHW or GOIHW,
// dst, bias (O); `any` gives the same shapes with format_tag any.
typedef struct conv_mds { dnnl_memory_desc_t src, wei, dst, bias; } conv_mds;

static conv_mds conv_md(const hpff_conv_desc *d, int any) {
    conv_mds m;
    dnnl_dims_t s = {d->n, d->c_in, d->h_in, d->w_in}, o = {d->n, d->c_out, d->h_out, d->w_out};
    dnnl_dims_t w4 = {d->c_out, d->c_in, d->kh, d->kw}, b = {d->c_out};
    dnnl_dims_t w5 = {d->groups, d->c_out / d->groups, d->c_in / d->groups, d->kh, d->kw};
    md_init(&m.src, 4, s, any ? dnnl_format_tag_any : act_tag(d->x_block));
    md_init(&m.dst, 4, o, any ? dnnl_format_tag_any : act_tag(d->y_block));
    if (d->groups > 1) md_init(&m.wei, 5, w5, any ? dnnl_format_tag_any : dnnl_goihw);
    else md_init(&m.wei, 4, w4, any ? dnnl_format_tag_any : dnnl_oihw);
    md_init(&m.bias, 1, b, dnnl_a);
    return m;
}

// Whether d's backward-data runs as a forward convolution on the transposed problem (the top).
static int bwd_as_fwd(const hpff_conv_desc *d) {
    int pr_h = (d->h_out - 1) * d->sh + d->kh - d->h_in - d->ph, pr_w = (d->w_out - 1) * d->sw + d->kw - d->w_in - d->pw;
    return d->sh == 1 && d->sw == 1 && d->groups == 1 && d->c_out <= 16 && d->c_out < d->c_in && d->ph < d->kh &&
           d->pw < d->kw && pr_h >= 0 && pr_h < d->kh && pr_w >= 0 && pr_w < d->kw;
}

// The transposed problem of d: dy (n, c_out, h_out, w_out) in, dx out, padding k-1-p per side.
static hpff_conv_desc transposed_of(const hpff_conv_desc *d) {
    hpff_conv_desc t = *d;
    t.c_in = d->c_out, t.h_in = d->h_out, t.w_in = d->w_out, t.x_block = d->y_block;
    t.c_out = d->c_in, t.h_out = d->h_in, t.w_out = d->w_in, t.y_block = d->x_block;
    t.ph = d->kh - 1 - d->ph, t.pw = d->kw - 1 - d->pw;
    return t;
}

// w (c_out, c_in, kh, kw) -> wt (c_in, c_out, kh, kw), each kernel turned half a turn.
static void weights_transpose(const hpff_conv_desc *d, const float *w, float *wt) {
    const int kk = d->kh * d->kw;
    for (int o = 0; o < d->c_out; o++)
        for (int i = 0; i < d->c_in; i++) {
            const float *src = w + ((size_t)o * d->c_in + i) * kk;
            float *dst = wt + ((size_t)i * d->c_out + o) * kk;
            for (int e = 0; e < kk; e++) dst[kk - 1 - e] = src[e];
        }
}

// The op descriptor of direction dir; fails for shapes oneDNN cannot describe.
static dnnl_status_t conv_op_desc(const hpff_conv_desc *d, int dir, dnnl_convolution_desc_t *cd) {
    if (dir == DIR_BWD_DATA && bwd_as_fwd(d)) {
        hpff_conv_desc t = transposed_of(d);
        return conv_op_desc(&t, DIR_FWD, cd);
    }
    conv_mds a = conv_md(d, 1);
    dnnl_dims_t st = {d->sh, d->sw}, pl = {d->ph, d->pw};
    dnnl_dims_t pr = {(d->h_out - 1) * d->sh + d->kh - d->h_in - d->ph,
                      (d->w_out - 1) * d->sw + d->kw - d->w_in - d->pw};
    if (dir == DIR_FWD || dir == DIR_FWD_BIAS)
        return dnnl_convolution_forward_desc_init(cd, dnnl_forward_training, dnnl_convolution_direct, &a.src,
                                                  &a.wei, dir == DIR_FWD_BIAS ? &a.bias : NULL, &a.dst, st,
                                                  pl, pr);
    if (dir == DIR_BWD_DATA)
        return dnnl_convolution_backward_data_desc_init(cd, dnnl_convolution_direct, &a.src, &a.wei, &a.dst,
                                                        st, pl, pr);
    return dnnl_convolution_backward_weights_desc_init(cd, dnnl_convolution_direct, &a.src, &a.wei, NULL,
                                                       &a.dst, st, pl, pr);
}

// Argument i of a direction: its roles, the caller's layout and the reorders between the two.
static void arg_make(hpff_dnnl *s, dn_dir *dd, int i, int io, int exec_arg, dnnl_query_t q,
                     const dnnl_memory_desc_t *user, size_t *off, size_t *scratch) {
    dn_arg *a = &dd->arg[i];
    a->io = io;
    a->exec_arg = exec_arg;
    a->user_md = *user;
    a->prim_md = dnnl_primitive_desc_query_md(dd->pd, q, 0);
    a->same = dnnl_memory_desc_equal(a->prim_md, user);
    a->user = hpff_dnnl_mem(s, user);
    a->prim = hpff_dnnl_mem(s, a->prim_md);
    if (!a->same || io == 2) {   // a copy in the workspace
        a->off = *off;
        *off += align64(dnnl_memory_desc_get_size(a->prim_md));
    }
    if (io == 0 && !a->same) a->in = hpff_dnnl_reorder(s, user, a->prim_md, 0, scratch);
    if (io >= 1 && !a->same) a->out = hpff_dnnl_reorder(s, a->prim_md, user, 0, scratch);
    if (io == 2) a->out_add = hpff_dnnl_reorder(s, a->prim_md, user, 1, scratch);
}

static int arg_ok(const dn_arg *a) {
    return (a->io != 0 || a->same || a->in) && (a->io == 0 || a->same || a->out) && (a->io != 2 || a->out_add);
}

// Makes direction dir of c; 0 when oneDNN has no primitive (or reorder) for it.
static int dir_make(hpff_dnnl *s, hpff_dnnl_conv *c, int dir, const_dnnl_primitive_desc_t hint) {
    const hpff_conv_desc *d = &c->d;
    dn_dir *dd = &c->dir[dir];
    dnnl_convolution_desc_t cd;
    if (conv_op_desc(d, dir, &cd) != dnnl_success) return 0;
    dnnl_primitive_attr_t attr;
    HPFF_DNNL_CHECK(dnnl_primitive_attr_create(&attr));
    HPFF_DNNL_CHECK(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
    dnnl_status_t st = dnnl_primitive_desc_create(&dd->pd, &cd, attr, s->engine,
                                                  dir == DIR_BWD_DATA && c->bwd_as_fwd ? NULL : hint);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success) {
        dd->pd = NULL;
        return 0;
    }
    const char *impl = "";
    HPFF_DNNL_CHECK(dnnl_primitive_desc_query(dd->pd, dnnl_query_impl_info_str, 0, &impl));
    if (strncmp(impl, "ref", 3) == 0) return 0;   // oneDNN's reference loops: far slower than im2col
    HPFF_DNNL_CHECK(dnnl_primitive_create(&dd->prim, dd->pd));
    conv_mds u = conv_md(d, 0);
    size_t off = 0, scratch = hpff_dnnl_scratch_bytes(dd->pd);
    if (dir == DIR_FWD || dir == DIR_FWD_BIAS) {
        arg_make(s, dd, 0, 0, DNNL_ARG_SRC, dnnl_query_src_md, &u.src, &off, &scratch);
        arg_make(s, dd, 1, 0, DNNL_ARG_WEIGHTS, dnnl_query_weights_md, &u.wei, &off, &scratch);
        arg_make(s, dd, 2, 1, DNNL_ARG_DST, dnnl_query_dst_md, &u.dst, &off, &scratch);
        dd->bias = hpff_dnnl_mem(s, &u.bias);
    } else if (dir == DIR_BWD_DATA && c->bwd_as_fwd) {   // the forward primitive of transposed_of(d)
        hpff_conv_desc td = transposed_of(d);
        conv_mds t = conv_md(&td, 0);   // its weights: OIHW (c_in, c_out, kh, kw), what c->wt holds
        arg_make(s, dd, 2, 0, DNNL_ARG_SRC, dnnl_query_src_md, &u.dst, &off, &scratch);
        arg_make(s, dd, 0, 2, DNNL_ARG_DST, dnnl_query_dst_md, &u.src, &off, &scratch);
        arg_make(s, dd, 1, 0, DNNL_ARG_WEIGHTS, dnnl_query_weights_md, &t.wei, &off, &scratch);
    } else if (dir == DIR_BWD_DATA) {   // both backward directions keep dy's copy at offset 0
        arg_make(s, dd, 2, 0, DNNL_ARG_DIFF_DST, dnnl_query_diff_dst_md, &u.dst, &off, &scratch);
        arg_make(s, dd, 0, 2, DNNL_ARG_DIFF_SRC, dnnl_query_diff_src_md, &u.src, &off, &scratch);
        arg_make(s, dd, 1, 0, DNNL_ARG_WEIGHTS, dnnl_query_weights_md, &u.wei, &off, &scratch);
    } else {
        arg_make(s, dd, 2, 0, DNNL_ARG_DIFF_DST, dnnl_query_diff_dst_md, &u.dst, &off, &scratch);
        arg_make(s, dd, 0, 0, DNNL_ARG_SRC, dnnl_query_src_md, &u.src, &off, &scratch);
        arg_make(s, dd, 1, 2, DNNL_ARG_DIFF_WEIGHTS, dnnl_query_diff_weights_md, &u.wei, &off, &scratch);
    }
    dnnl_memory_desc_t smd;
    dnnl_dims_t sdim = {(dnnl_dim_t)(scratch ? scratch : 1)};
    HPFF_DNNL_CHECK(dnnl_memory_desc_init_by_tag(&smd, 1, sdim, dnnl_u8, dnnl_a));
    dd->scratch = hpff_dnnl_mem(s, &smd);
    dd->scratch_off = off;
    dd->bytes = off + align64(scratch);
    for (int i = 0; i < 3; i++)
        if (!arg_ok(&dd->arg[i])) return 0;
    return 1;
}

static void dir_free(dn_dir *dd) {
    for (int i = 0; i < 3; i++) {
        dn_arg *a = &dd->arg[i];
        if (a->user) dnnl_memory_destroy(a->user);
        if (a->prim) dnnl_memory_destroy(a->prim);
        if (a->in) dnnl_primitive_destroy(a->in);
        if (a->out) dnnl_primitive_destroy(a->out);
        if (a->out_add) dnnl_primitive_destroy(a->out_add);
    }
    if (dd->bias) dnnl_memory_destroy(dd->bias);
    if (dd->scratch) dnnl_memory_destroy(dd->scratch);
    if (dd->prim) dnnl_primitive_destroy(dd->prim);
    if (dd->pd) dnnl_primitive_desc_destroy(dd->pd);
}

static int desc_eq(const hpff_conv_desc *a, const hpff_conv_desc *b) { return memcmp(a, b, sizeof *a) == 0; }

// Worker w's primitives for a share of d->n images, made on first use.
static hpff_dnnl_conv *conv_get(hpff_dnnl *s, const hpff_conv_desc *d, int w) {
    for (hpff_dnnl_conv *c = s->convs; c; c = c->next)
        if (c->worker == w && desc_eq(&c->d, d)) return c;
    hpff_dnnl_conv *c = hpff_xcalloc(1, sizeof *c);
    c->d = *d;
    c->worker = w;
    c->bwd_as_fwd = bwd_as_fwd(d);
    if (c->bwd_as_fwd) c->wt = hpff_xmalloc((size_t)d->c_in * d->c_out * d->kh * d->kw * sizeof(float));
    c->ok = d->n > 0 && dir_make(s, c, DIR_FWD, NULL);
    c->ok = c->ok && dir_make(s, c, DIR_BWD_DATA, c->dir[DIR_FWD].pd);
    c->ok = c->ok && dir_make(s, c, DIR_BWD_W, c->dir[DIR_FWD].pd);
    c->ok = c->ok && dir_make(s, c, DIR_FWD_BIAS, NULL);
    for (int i = 0; i < N_DIRS; i++)
        if (c->dir[i].bytes > c->bytes) c->bytes = c->dir[i].bytes;
    const dn_arg *a = &c->dir[DIR_BWD_W].arg[2], *b = &c->dir[DIR_BWD_DATA].arg[2];
    c->share_dy = c->ok && !a->same && !b->same && a->off == 0 && b->off == 0 &&
                  dnnl_memory_desc_equal(a->prim_md, b->prim_md);
    c->next = s->convs;
    s->convs = c;
    return c;
}

void hpff_dnnl_conv_clear(hpff_dnnl *s) {
    s->kept.valid = 0;
    while (s->convs) {
        hpff_dnnl_conv *c = s->convs;
        s->convs = c->next;
        for (int i = 0; i < N_DIRS; i++) dir_free(&c->dir[i]);
        free(c->wt);
        free(c);
    }
}

void hpff_dnnl_conv_free_families(hpff_dnnl *s) {
    while (s->families) {
        hpff_dnnl_family *f = s->families;
        s->families = f->next;
        free(f);
    }
}

// The record of d (batch included, or n = 0 for the shape's least), NULL when none.
static hpff_dnnl_family *family_find(hpff_dnnl *s, const hpff_conv_desc *d, int n) {
    hpff_conv_desc k = *d;
    k.n = n;
    for (hpff_dnnl_family *f = s->families; f; f = f->next)
        if (desc_eq(&f->d, &k)) return f;
    return NULL;
}

// Records that conv_workspace returned `bytes` for d.
static void family_note(hpff_dnnl *s, const hpff_conv_desc *d, size_t bytes) {
    for (int n = 0; n < 2; n++) {
        hpff_dnnl_family *f = family_find(s, d, n ? d->n : 0);
        if (!f) {
            f = hpff_xcalloc(1, sizeof *f);
            f->d = *d;
            f->d.n = n ? d->n : 0;
            f->bytes = bytes;
            f->next = s->families;
            s->families = f;
        }
        if (n ? bytes > f->bytes : bytes < f->bytes) f->bytes = bytes;
    }
}

// A call's batch split over the workers: share w is images [lo[w], lo[w+1]) on part[w], whose
// workspace region starts at w * stride. ok = 0: the im2col reference runs instead.
#define MAX_PARTS 256
typedef struct conv_split {
    int parts, ok, share_dy;
    int lo[MAX_PARTS + 1];
    hpff_dnnl_conv *part[MAX_PARTS];
    size_t stride, bytes;
} conv_split;

static conv_split split_make(hpff_dnnl *s, const hpff_conv_desc *d) {
    conv_split sp;
    sp.parts = d->n < s->threads ? d->n : s->threads;
    if (sp.parts > MAX_PARTS) sp.parts = MAX_PARTS;
    sp.ok = sp.parts > 0;
    sp.stride = 0;
    for (int w = 0; w <= sp.parts && sp.ok; w++) sp.lo[w] = (int)((long)d->n * w / sp.parts);
    for (int w = 0; w < sp.parts && sp.ok; w++) {
        hpff_conv_desc share = *d;
        share.n = sp.lo[w + 1] - sp.lo[w];
        sp.part[w] = conv_get(s, &share, w);
        sp.ok = sp.part[w]->ok;
        if (sp.part[w]->bytes > sp.stride) sp.stride = sp.part[w]->bytes;
    }
    sp.share_dy = sp.ok;
    for (int w = 0; w < sp.parts && sp.ok; w++) sp.share_dy = sp.share_dy && sp.part[w]->share_dy;
    sp.bytes = sp.ok ? sp.stride * (size_t)sp.parts : 0;
    return sp;
}

// The NCHW copies a blocked descriptor's im2col fallback keeps at the start of the workspace:
// x's (x_block set) then y's (y_block set); the im2col workspace follows them.
typedef struct nchw_copies { size_t x_off, y_off, ref_off; } nchw_copies;

static nchw_copies copies_of(const hpff_conv_desc *d) {
    nchw_copies c = {0, 0, 0};
    size_t xb = (size_t)d->n * d->c_in * d->h_in * d->w_in * sizeof(float);
    size_t yb = (size_t)d->n * d->c_out * d->h_out * d->w_out * sizeof(float);
    c.y_off = d->x_block ? align64(xb) : 0;
    c.ref_off = c.y_off + (d->y_block ? align64(yb) : 0);
    return c;
}

static void check_blocks(const hpff_conv_desc *d) {
    HPFF_CHECK((d->x_block == 0 || ((d->x_block == 8 || d->x_block == 16) && d->c_in % d->x_block == 0)) &&
                   (d->y_block == 0 || ((d->y_block == 8 || d->y_block == 16) && d->c_out % d->y_block == 0)),
               "convolution %d -> %d channels: layout blocks %d / %d (0, or 8 or 16 dividing the channels)",
               d->c_in, d->c_out, d->x_block, d->y_block);
}

static size_t dnnl_conv_workspace(hpff_backend *be, const hpff_conv_desc *d) {
    size_t ref = im2col_of(be)->workspace(be, d);   // also validates d
    check_blocks(d);
    if (blocked(d)) ref += copies_of(d).ref_off;
    hpff_dnnl *s = state_of(be);
    if (!s) return ref;
    s->kept.valid = 0;
    conv_split sp = split_make(s, d);
    size_t bytes = sp.bytes > ref ? sp.bytes : ref;
    family_note(s, d, bytes);
    return bytes;
}

// The block of tensor 0 (x) or 1 (y) in which every part's primitives of every direction take
// it, when that is nChw16c or nChw8c and divides the channels; else 0.
static int dnnl_conv_block(hpff_backend *be, const hpff_conv_desc *d, int tensor) {
    hpff_dnnl *s = state_of(be);
    if (!s || !s->blocked) return 0;
    hpff_conv_desc k = nchw_of(d);
    conv_split sp = split_make(s, &k);
    int c = tensor ? k.c_out : k.c_in, h = tensor ? k.h_out : k.h_in, w = tensor ? k.w_out : k.w_in;
    static const int blocks[2] = {16, 8};
    for (int b = 0; b < 2 && sp.ok; b++) {
        int ok = c % blocks[b] == 0;
        for (int p = 0; p < sp.parts && ok; p++) {
            dnnl_memory_desc_t md;
            dnnl_dims_t dims = {sp.lo[p + 1] - sp.lo[p], c, h, w};
            md_init(&md, 4, dims, act_tag(blocks[b]));
            for (int dir = 0; dir < N_DIRS && ok; dir++)
                ok = dnnl_memory_desc_equal(sp.part[p]->dir[dir].arg[tensor ? 2 : 0].prim_md, &md);
        }
        if (ok) return blocks[b];
    }
    return 0;
}

// The split for this call; ok = 0 where the im2col reference runs instead.
static conv_split split_for_call(hpff_backend *be, const hpff_conv_desc *d) {
    hpff_dnnl *s = state_of(be);
    conv_split sp = {.ok = 0};
    check_blocks(d);
    if (!s || d->n <= 0) return sp;
    s->kept.valid = 0;   // any other call after backward-weights may change dy or the workspace
    hpff_dnnl_family *f = family_find(s, d, d->n);
    if (!f) f = family_find(s, d, 0);
    if (!f) return sp;   // never sized: the caller's workspace is unknown
    sp = split_make(s, d);
    if (sp.bytes > f->bytes) sp.ok = 0;
    return sp;
}

// Runs direction dd on stream st: inputs reordered into their copies, the primitive, outputs
// reordered back (adding where `accumulate`) unless `keep` (the copy stays in the workspace).
// user[i] is the caller's pointer of argument i; reuse_dy: the workspace holds dy's copy already.
static void dir_run(dnnl_stream_t st, dn_dir *dd, char *ws, void *const user[3], const float *bias,
                    int accumulate, int keep, int reuse_dy) {
    dnnl_exec_arg_t args[5];
    int n = 0;
    HPFF_DNNL_CHECK(dnnl_memory_set_data_handle(dd->scratch, ws + dd->scratch_off));
    for (int i = 0; i < 3; i++) {
        dn_arg *a = &dd->arg[i];
        int direct = a->same && !(a->io == 2 && accumulate);
        HPFF_DNNL_CHECK(dnnl_memory_set_data_handle(a->user, user[i]));
        HPFF_DNNL_CHECK(dnnl_memory_set_data_handle(a->prim, direct ? user[i] : ws + a->off));
        if (a->io == 0 && !direct && !(i == 2 && reuse_dy))
            hpff_dnnl_run_reorder(st, a->in, a->user, a->prim, dd->scratch);
        args[n++] = (dnnl_exec_arg_t){a->exec_arg, a->prim};
    }
    if (bias) {
        HPFF_DNNL_CHECK(dnnl_memory_set_data_handle(dd->bias, (void *)bias));
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, dd->bias};
    }
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, dd->scratch};
    HPFF_DNNL_CHECK(dnnl_primitive_execute(dd->prim, st, n, args));
    for (int i = 0; i < 3 && !keep; i++) {
        dn_arg *a = &dd->arg[i];
        if (a->io == 0 || (a->same && !(a->io == 2 && accumulate))) continue;
        hpff_dnnl_run_reorder(st, a->io == 2 && accumulate ? a->out_add : a->out, a->prim, a->user, dd->scratch);
    }
    HPFF_DNNL_CHECK(dnnl_stream_wait(st));
}

// One call over the pool: worker w runs direction `dir` of part w on its images.
typedef struct conv_job {
    hpff_dnnl *s;
    const hpff_conv_desc *d;
    const conv_split *sp;
    int dir, accumulate, keep, reuse_dy;
    char *ws;
    const float *x, *w, *bias, *dy;
    float *y, *dx, *dw;
} conv_job;

static void job_worker(void *arg, int worker, int begin, int end) {
    const conv_job *j = arg;
    const hpff_conv_desc *d = j->d;
    hpff_dnnl_thread_init();
    for (int w = begin; w < end; w++) {
        size_t i0 = (size_t)j->sp->lo[w];
        const size_t xs = (size_t)d->c_in * d->h_in * d->w_in, ys = (size_t)d->c_out * d->h_out * d->w_out;
        void *user[3];
        if (j->dir == DIR_BWD_DATA) {
            user[0] = j->dx + i0 * xs;
            user[2] = (void *)(j->dy + i0 * ys);
        } else {
            user[0] = (void *)(j->x + i0 * xs);
            user[2] = j->dir == DIR_BWD_W ? (void *)(j->dy + i0 * ys) : (void *)(j->y + i0 * ys);
        }
        user[1] = j->dir == DIR_BWD_W ? (void *)j->dw : (void *)j->w;
        hpff_dnnl_conv *part = j->sp->part[w];
        if (j->dir == DIR_BWD_DATA && part->bwd_as_fwd) {
            weights_transpose(&part->d, j->w, part->wt);
            user[1] = part->wt;
        }
        dir_run(j->s->streams[worker], &j->sp->part[w]->dir[j->dir], j->ws + (size_t)w * j->sp->stride, user,
                j->bias, j->accumulate, j->keep, j->reuse_dy);
    }
}

static void job_run(hpff_backend *be, conv_job *j) {
    j->s = state_of(be);
    hpff_cpu_pool_run(hpff_cpu_pool_of(be), j->sp->parts, job_worker, j);
}

// The im2col reference on a blocked descriptor: blocked inputs reordered into the NCHW copies
// (copies_of), outputs computed there and reordered back (dx added where beta = 1).
static void fallback_fwd(hpff_backend *be, const hpff_conv_desc *d, const float *x, const float *w,
                         const float *bias, float *y, void *ws) {
    hpff_conv_desc k = nchw_of(d);
    nchw_copies c = copies_of(d);
    float *xs = (float *)((char *)ws + c.x_off), *ys = (float *)((char *)ws + c.y_off);
    int hw_in = d->h_in * d->w_in, hw_out = d->h_out * d->w_out;
    if (d->x_block) be->reorder(be, d->n, d->c_in, hw_in, d->x_block, x, NULL, 0, xs, NULL, 0);
    im2col_of(be)->fwd(be, &k, d->x_block ? xs : x, w, bias, d->y_block ? ys : y, (char *)ws + c.ref_off);
    if (d->y_block) be->reorder(be, d->n, d->c_out, hw_out, 0, ys, NULL, d->y_block, y, NULL, 0);
}

static void fallback_bwd_data(hpff_backend *be, const hpff_conv_desc *d, const float *w, const float *dy,
                              float *dx, float beta, void *ws) {
    hpff_conv_desc k = nchw_of(d);
    nchw_copies c = copies_of(d);
    float *xs = (float *)((char *)ws + c.x_off), *ys = (float *)((char *)ws + c.y_off);
    int hw_in = d->h_in * d->w_in, hw_out = d->h_out * d->w_out;
    if (d->y_block) be->reorder(be, d->n, d->c_out, hw_out, d->y_block, dy, NULL, 0, ys, NULL, 0);
    im2col_of(be)->bwd_data(be, &k, w, d->y_block ? ys : dy, d->x_block ? xs : dx, d->x_block ? 0.0f : beta,
                            (char *)ws + c.ref_off);
    if (d->x_block)
        be->reorder(be, d->n, d->c_in, hw_in, 0, xs, NULL, d->x_block, dx, beta != 0.0f ? dx : NULL, 0);
}

static void fallback_bwd_filter(hpff_backend *be, const hpff_conv_desc *d, const float *x, const float *dy,
                                float *dw, float *dbias, void *ws) {
    hpff_conv_desc k = nchw_of(d);
    nchw_copies c = copies_of(d);
    float *xs = (float *)((char *)ws + c.x_off), *ys = (float *)((char *)ws + c.y_off);
    int hw_in = d->h_in * d->w_in, hw_out = d->h_out * d->w_out;
    if (d->x_block) be->reorder(be, d->n, d->c_in, hw_in, d->x_block, x, NULL, 0, xs, NULL, 0);
    if (d->y_block) be->reorder(be, d->n, d->c_out, hw_out, d->y_block, dy, NULL, 0, ys, NULL, 0);
    im2col_of(be)->bwd_filter(be, &k, d->x_block ? xs : x, d->y_block ? ys : dy, dw, dbias, (char *)ws + c.ref_off);
}

static void dnnl_conv_fwd(hpff_backend *be, const hpff_conv_desc *d, const float *x, const float *w,
                          const float *bias, float *y, void *ws) {
    conv_split sp = split_for_call(be, d);
    if (!sp.ok) {
        if (blocked(d)) fallback_fwd(be, d, x, w, bias, y, ws);
        else im2col_of(be)->fwd(be, d, x, w, bias, y, ws);
        return;
    }
    conv_job j = {.d = d, .sp = &sp, .dir = bias ? DIR_FWD_BIAS : DIR_FWD, .ws = ws, .x = x, .w = w,
                  .bias = bias, .y = y};
    job_run(be, &j);
}

// Directly after backward-weights of the same shape, dy and workspace (layers.c calls them in
// that order), dy's reordered copy is still in every worker's region: one reorder fewer.
static void dnnl_conv_bwd_data(hpff_backend *be, const hpff_conv_desc *d, const float *w,
                               const float *dy, float *dx, float beta, void *ws) {
    hpff_dnnl *s = state_of(be);
    int reuse = s && s->kept.valid && s->kept.dy == dy && s->kept.ws == ws && desc_eq(&s->kept.d, d);
    conv_split sp = split_for_call(be, d);
    if (!sp.ok) {
        if (blocked(d)) fallback_bwd_data(be, d, w, dy, dx, beta, ws);
        else im2col_of(be)->bwd_data(be, d, w, dy, dx, beta, ws);
        return;
    }
    conv_job j = {.d = d, .sp = &sp, .dir = DIR_BWD_DATA, .accumulate = beta != 0.0f, .reuse_dy = reuse && sp.share_dy,
                  .ws = ws, .w = w, .dy = dy, .dx = dx};
    job_run(be, &j);
}

// dbias from dy: a blocked dy goes through its NCHW copy (the workspace is free again), so that
// the sums are the reference's (hpff_cpu_conv_bias_grad).
static void bias_grad(hpff_backend *be, const hpff_conv_desc *d, const float *dy, float *dbias, void *ws) {
    if (!d->y_block) {
        hpff_cpu_conv_bias_grad(d, dy, dbias);
        return;
    }
    hpff_conv_desc k = nchw_of(d);
    float *ys = (float *)((char *)ws + copies_of(d).y_off);
    be->reorder(be, d->n, d->c_out, d->h_out * d->w_out, d->y_block, dy, NULL, 0, ys, NULL, 0);
    hpff_cpu_conv_bias_grad(&k, ys, dbias);
}

// The workers leave their dw shares in their workspace regions; this thread adds them into dw
// in worker order.
static void dnnl_conv_bwd_filter(hpff_backend *be, const hpff_conv_desc *d, const float *x,
                                 const float *dy, float *dw, float *dbias, void *ws) {
    conv_split sp = split_for_call(be, d);
    if (!sp.ok) {
        if (blocked(d)) fallback_bwd_filter(be, d, x, dy, dw, dbias, ws);
        else im2col_of(be)->bwd_filter(be, d, x, dy, dw, dbias, ws);
        return;
    }
    conv_job j = {.d = d, .sp = &sp, .dir = DIR_BWD_W, .accumulate = 1, .keep = 1, .ws = ws, .x = x, .dy = dy,
                  .dw = dw};
    job_run(be, &j);
    for (int w = 0; w < sp.parts; w++) {
        dn_dir *dd = &sp.part[w]->dir[DIR_BWD_W];
        dn_arg *a = &dd->arg[1];
        char *region = (char *)ws + (size_t)w * sp.stride;
        HPFF_DNNL_CHECK(dnnl_memory_set_data_handle(dd->scratch, region + dd->scratch_off));
        HPFF_DNNL_CHECK(dnnl_memory_set_data_handle(a->prim, region + a->off));
        HPFF_DNNL_CHECK(dnnl_memory_set_data_handle(a->user, dw));
        hpff_dnnl_run_reorder(j.s->streams[0], a->out_add, a->prim, a->user, dd->scratch);
    }
    HPFF_DNNL_CHECK(dnnl_stream_wait(j.s->streams[0]));
    if (dbias) bias_grad(be, d, dy, dbias, ws);
    if (sp.share_dy && !(dbias && d->y_block)) {
        j.s->kept.dy = dy;
        j.s->kept.ws = ws;
        j.s->kept.d = *d;
        j.s->kept.valid = 1;
    }
}

const char *hpff_dnnl_conv_impl(hpff_backend *be, const hpff_conv_desc *d, int dir) {
    conv_split sp = split_for_call(be, d);
    const char *name = "im2col";
    if (sp.ok && dir >= 0 && dir < N_DIRS)
        HPFF_DNNL_CHECK(dnnl_primitive_desc_query(sp.part[0]->dir[dir].pd, dnnl_query_impl_info_str, 0, &name));
    return name;
}

void hpff_cpu_install_dnnl_conv(hpff_backend *be) {
    hpff_cpu_ctx *cx = be->ctx;
    cx->im2col = (hpff_cpu_conv_ops){be->conv_workspace, be->conv_fwd, be->conv_bwd_data, be->conv_bwd_filter};
    be->conv_workspace = dnnl_conv_workspace;
    be->conv_fwd = dnnl_conv_fwd;
    be->conv_bwd_data = dnnl_conv_bwd_data;
    be->conv_bwd_filter = dnnl_conv_bwd_filter;
    be->conv_block = dnnl_conv_block;
}
