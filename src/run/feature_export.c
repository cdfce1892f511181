// feature_export.c — feature export for the analyses (see feature_export.h). The backbone is
// rebuilt unit by unit (one sequence per stem / residual block, the names of net.c), so every
// unit's output is reachable whatever the run's module split or rank count was, and a BP run can
// be compared with a local-learning run block for block. Parameters come from the checkpoint by
// tensor name. (Not "features.h": glibc has a header of that name.)
#include "feature_export.h"
#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend.h"
#include "ckpt.h"
#include "grid.h"
#include "h5util.h"
#include "registry.h"
#include "net.h"
#include "split.h"
#include "train_data.h"

typedef struct exporter {
    const hpff_config *cfg;
    hpff_backend *be;
    hpff_net_spec net;
    hpff_split split;            // the run's modules (attribute module_last_unit)
    int U, n_max;
    hpff_seq *unit, *gap;        // (U) unit u; GAP of unit u's output
    hpff_seq phi;                // Φ: GAP + fc
    hpff_registry params, state;
    float *p, *st;               // device arenas
    float *slot[2];              // unit u runs in slot u % 2 (its input is in the other)
    float *gap_slot, *phi_slot;
    float *x;                    // (n_max, in) the batch
    hpff_exec ex;
} exporter;

static size_t zmax(size_t a, size_t b) { return a > b ? a : b; }

static void plan_seq(hpff_seq *s, int n_max, size_t *slot, size_t *ws, size_t *scratch) {
    hpff_seq_plan(s, n_max);
    *slot = zmax(*slot, s->slot_floats);
    *ws = zmax(*ws, s->ws_bytes);
    *scratch = zmax(*scratch, s->scratch_floats);
}

static hpff_status exporter_build(exporter *e, const hpff_config *c, hpff_shape in, int classes, int n_max) {
    memset(e, 0, sizeof *e);
    e->cfg = c;
    e->n_max = n_max;
    hpff_net_spec net;
    hpff_status st = hpff_net_spec_make(c->arch, c->width, c->blocks, in, classes, &net);
    if (st.code) return st;
    e->net = net;
    st = hpff_split_make(&net, c->method == HPFF_METHOD_BP ? 1 : c->K, c->split, c->modules, &e->split);
    if (st.code) return st;
    char why[256] = "";
    hpff_config one = *c;
    one.graph = 0;   // no recorded steps: every op runs as issued
    e->be = hpff_backend_select(&one, 0, why, sizeof why);
    if (!e->be) return hpff_status_fail("%s", why);
    // the model's build (VGG: its Linear init), so the tensors are those the checkpoint names
    hpff_build b = {e->be, &e->params, &e->state, 0, n_max, 0.1f, net.kind == HPFF_NET_VGG ? 0.01f : 0.f};
    e->U = hpff_net_units(&net);
    e->unit = hpff_xcalloc((size_t)e->U, sizeof *e->unit);
    e->gap = hpff_xcalloc((size_t)e->U, sizeof *e->gap);
    size_t slot = 0, gslot = 0, ws = 0, scratch = 0;
    for (int u = 0; u < e->U; u++) {
        hpff_seq_init(&e->unit[u], hpff_net_unit_in(&net, u));
        hpff_net_push_units(&b, &net, u, u, &e->unit[u]);
        plan_seq(&e->unit[u], n_max, &slot, &ws, &scratch);
        hpff_seq_init(&e->gap[u], e->unit[u].out);
        hpff_seq_push(&e->gap[u], hpff_adaptive_avgpool_create(e->unit[u].out, 1, 1));
        plan_seq(&e->gap[u], n_max, &gslot, &ws, &scratch);
    }
    size_t pslot = 0;
    hpff_seq_init(&e->phi, e->unit[e->U - 1].out);
    hpff_net_final_push(&b, &net, &e->phi);
    plan_seq(&e->phi, n_max, &pslot, &ws, &scratch);
    hpff_backend *be = e->be;
    e->p = be->alloc(be, zmax(e->params.total, 16) * sizeof(float));
    e->st = be->alloc(be, zmax(e->state.total, 16) * sizeof(float));
    for (int i = 0; i < 2; i++) e->slot[i] = be->alloc(be, zmax(slot, 16) * sizeof(float));
    e->gap_slot = be->alloc(be, zmax(gslot, 16) * sizeof(float));
    e->phi_slot = be->alloc(be, zmax(pslot, 16) * sizeof(float));
    e->x = be->alloc(be, (size_t)n_max * hpff_shape_numel(in) * sizeof(float));
    hpff_exec ex = {be, e->p, NULL, e->st, ws ? be->alloc(be, ws) : NULL, ws,
                    be->alloc(be, zmax(scratch, 16) * sizeof(float)), scratch, 0};
    e->ex = ex;
    return hpff_status_ok();
}

static void exporter_free(exporter *e) {
    hpff_backend *be = e->be;
    if (!be) return;
    for (int u = 0; u < e->U && e->unit; u++) { hpff_seq_free(&e->unit[u]); hpff_seq_free(&e->gap[u]); }
    hpff_seq_free(&e->phi);
    free(e->unit);
    free(e->gap);
    void *bufs[] = {e->p, e->st, e->slot[0], e->slot[1], e->gap_slot, e->phi_slot, e->x, e->ex.ws, e->ex.scratch};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) be->free(be, bufs[i]);
    hpff_registry_free(&e->params);
    hpff_registry_free(&e->state);
    hpff_backend_destroy(be);
}

// ---- the output file ----

typedef struct out_file {
    hid_t f;
    hid_t *feat;                 // (U) /features/uNN (N, C_u)
    hid_t logits, labels, map;   // (N, classes), (N), (N, C, H, W) or -1
} out_file;

static hid_t make_dataset(hid_t f, const char *name, hid_t type, int rank, const hsize_t *dims) {
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t ds = H5Dcreate2(f, name, type, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    H5Sclose(sp);
    return ds;
}

// Writes rows [row0, row0 + n) of a dataset whose first dimension is the image index.
static int write_rows(hid_t ds, hid_t type, long row0, int n, const void *buf) {
    hid_t fs = H5Dget_space(ds);
    int rank = H5Sget_simple_extent_ndims(fs);
    hsize_t dims[4], start[4] = {0, 0, 0, 0}, count[4];
    H5Sget_simple_extent_dims(fs, dims, NULL);
    for (int i = 0; i < rank; i++) count[i] = dims[i];
    start[0] = (hsize_t)row0;
    count[0] = (hsize_t)n;
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t ms = H5Screate_simple(rank, count, NULL);
    int ok = H5Dwrite(ds, type, ms, fs, H5P_DEFAULT, buf) >= 0;
    H5Sclose(ms);
    H5Sclose(fs);
    return ok;
}

static int out_open(out_file *o, const char *path, const exporter *e, long N, int map_unit) {
    o->logits = o->labels = o->map = -1;
    o->f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (o->f < 0) return 0;
    int ok = 1;
    o->feat = hpff_xcalloc((size_t)e->U, sizeof(hid_t));
    for (int u = 0; u < e->U; u++) {
        char name[32];
        snprintf(name, sizeof name, "features/u%02d", u);
        hsize_t d[2] = {(hsize_t)N, (hsize_t)e->unit[u].out.c};
        ok &= (o->feat[u] = make_dataset(o->f, name, H5T_NATIVE_FLOAT, 2, d)) >= 0;
    }
    hsize_t dl[2] = {(hsize_t)N, (hsize_t)e->net.classes}, dn[1] = {(hsize_t)N};
    ok &= (o->logits = make_dataset(o->f, "logits", H5T_NATIVE_FLOAT, 2, dl)) >= 0;
    ok &= (o->labels = make_dataset(o->f, "labels", H5T_NATIVE_INT32, 1, dn)) >= 0;
    if (map_unit >= 0) {
        hpff_shape s = e->unit[map_unit].out;
        hsize_t dm[4] = {(hsize_t)N, (hsize_t)s.c, (hsize_t)s.h, (hsize_t)s.w};
        ok &= (o->map = make_dataset(o->f, "map", H5T_NATIVE_FLOAT, 4, dm)) >= 0;
        ok &= hpff_h5_write_num_attr(o->map, "unit", H5T_NATIVE_INT32, H5T_NATIVE_INT, &map_unit, 0) == 0;
    }
    return ok;
}

static int out_close(out_file *o, int U) {
    int ok = 1;
    for (int u = 0; u < U && o->feat; u++) if (o->feat[u] > 0) ok &= H5Dclose(o->feat[u]) >= 0;
    hid_t ds[3] = {o->logits, o->labels, o->map};
    for (int i = 0; i < 3; i++) if (ds[i] > 0) ok &= H5Dclose(ds[i]) >= 0;
    free(o->feat);
    if (o->f > 0) ok &= H5Fclose(o->f) >= 0;
    return ok;
}

// Describes the file: where it came from and how units map to the run's modules.
static int out_attrs(hid_t f, const exporter *e, const hpff_features_opts *o, long step, int ranks, double err) {
    char names[HPFF_MAX_MODULES][24];
    const char *np[HPFF_MAX_MODULES];
    int chans[HPFF_MAX_MODULES], sides[HPFF_MAX_MODULES];
    for (int u = 0; u < e->U; u++) {
        int stage = 0, block = 0;
        if (e->net.stem && u == 0) snprintf(names[u], sizeof names[u], "stem");
        else {
            hpff_net_stage_block(&e->net, u, &stage, &block);
            snprintf(names[u], sizeof names[u], "%s%d.%d", e->net.kind == HPFF_NET_VGG ? "stage" : "layer", stage, block);
        }
        np[u] = names[u];
        chans[u] = e->unit[u].out.c;
        sides[u] = e->unit[u].out.h;
    }
    int step_i = (int)step;
    hid_t T = H5T_NATIVE_INT32;
    int ok = hpff_h5_write_str_attr(f, "run_dir", o->run_dir) == 0 &&
             hpff_h5_write_str_attr(f, "split", o->split) == 0 &&
             hpff_h5_write_str_attr(f, "arch", hpff_config_enum_name(e->cfg, &e->cfg->arch)) == 0 &&
             hpff_h5_write_str_attr(f, "method", hpff_config_enum_name(e->cfg, &e->cfg->method)) == 0 &&
             hpff_h5_write_str_array_attr(f, "unit_names", np, e->U) == 0 &&
             hpff_h5_write_num_attr(f, "unit_channels", T, H5T_NATIVE_INT, chans, e->U) == 0 &&
             hpff_h5_write_num_attr(f, "unit_side", T, H5T_NATIVE_INT, sides, e->U) == 0 &&
             hpff_h5_write_num_attr(f, "module_last_unit", T, H5T_NATIVE_INT, e->split.last, e->split.M) == 0 &&
             hpff_h5_write_num_attr(f, "step", T, H5T_NATIVE_INT, &step_i, 0) == 0 &&
             hpff_h5_write_num_attr(f, "ranks", T, H5T_NATIVE_INT, &ranks, 0) == 0 &&
             hpff_h5_write_num_attr(f, "classes", T, H5T_NATIVE_INT, &e->net.classes, 0) == 0 &&
             hpff_h5_write_num_attr(f, "test_err", H5T_NATIVE_DOUBLE, H5T_NATIVE_DOUBLE, &err, 0) == 0;
    return ok;
}

// ---- the forward pass ----

// One batch: every unit's GAP into gap_host[u] (n, C_u), the map of map_unit, Φ's logits.
// Returns Φ's top-1 hits.
static int forward_batch(exporter *e, out_file *o, int n, long row0, const int32_t *y, int map_unit,
                         float *host) {
    hpff_backend *be = e->be;
    const float *h = e->x;
    int ok = 1;
    for (int u = 0; u < e->U; u++) {
        h = hpff_seq_forward(&e->unit[u], &e->ex, n, h, e->slot[u % 2]);
        hpff_shape s = e->unit[u].out;
        const float *g = hpff_seq_forward(&e->gap[u], &e->ex, n, h, e->gap_slot);
        be->to_host(be, host, g, (size_t)n * s.c * sizeof(float));   // (n, C)
        ok &= write_rows(o->feat[u], H5T_NATIVE_FLOAT, row0, n, host);
        if (u == map_unit) {
            be->to_host(be, host, h, (size_t)n * hpff_shape_numel(s) * sizeof(float));   // (n, C, H, W)
            ok &= write_rows(o->map, H5T_NATIVE_FLOAT, row0, n, host);
        }
    }
    const float *z = hpff_seq_forward(&e->phi, &e->ex, n, h, e->phi_slot);
    int K = e->net.classes, hits = 0;
    be->to_host(be, host, z, (size_t)n * K * sizeof(float));   // (n, classes)
    ok &= write_rows(o->logits, H5T_NATIVE_FLOAT, row0, n, host);
    ok &= write_rows(o->labels, H5T_NATIVE_INT32, row0, n, y);
    HPFF_CHECK(ok, "writing the feature file failed (disk full?)");
    for (int i = 0; i < n; i++) {
        int arg = 0;
        for (int k = 1; k < K; k++) if (host[(size_t)i * K + k] > host[(size_t)i * K + arg]) arg = k;
        hits += arg == y[i];
    }
    return hits;
}

// The split's images as the trainer evaluates them (its own data opening: the same files and
// normalisation, no augmentation): its test loader, or for the training split an unshuffled
// loader over the training images (pixel datasets). Returns 0, or 2 after a message.
static int open_split(const hpff_config *c, const hpff_world *w, const char *split, hpff_train_data *d,
                      hpff_loader **ld) {
    hpff_data_info info;
    hpff_grid g;   // one process: stage 0 of the only replica
    hpff_grid_init(&g, w, 1);
    int rc = hpff_train_data_open(c, w, &g, d, &info);
    hpff_grid_free(&g);
    if (rc) return 2;   // it printed why
    if (strcmp(split, "test") == 0) {
        *ld = d->test_ld;
        return 0;
    }
    if (d->jpeg) {
        fprintf(stderr, "hpff_pipe --export-features: --split train of an encoded-JPEG dataset (%s) is not "
                "implemented; export --split test\n", c->train_file);
        return 2;
    }
    hpff_loader_opts lo = {"none", c->pad_to, c->batch, 1, (uint64_t)c->seed, 0};
    *ld = hpff_loader_create(&d->train, &lo);
    return 0;
}

__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "hpff_pipe --export-features: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 2;
}

// Loads the checkpoint into the exporter; prints where it came from.
static hpff_status load_checkpoint(exporter *e, const char *run_dir, long *step, int *ranks) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/checkpoints", run_dir);
    // the newest complete step whose files verify (read only: damaged steps are named, not moved)
    long steps[64];
    char why[1024] = "";
    int n = hpff_ckpt_list(dir, steps, 64, 1);
    *step = -1;
    for (int i = 0; i < n && i < 64 && *step < 0; i++) {
        if (hpff_ckpt_verify(dir, steps[i], why, sizeof why)) *step = steps[i];
        else fprintf(stderr, "hpff_pipe --export-features: checkpoint step %ld is damaged (%s); trying an older one\n",
                     steps[i], why);
    }
    if (*step < 0) return hpff_status_fail(n ? "no intact checkpoint in '%s'" : "no complete checkpoint in '%s'", dir);
    if (why[0]) fprintf(stderr, "hpff_pipe --export-features: note: %s\n", why);
    return hpff_ckpt_load_named(dir, *step, &e->params, e->p, &e->state, e->st, e->be, ranks);
}

static hpff_status check_opts(const hpff_features_opts *o, const exporter *e, int *map_unit) {
    *map_unit = o->map_unit;
    if (o->map_module >= 0) {
        if (o->map_module >= e->split.M)
            return hpff_status_fail("--map-module %d: the run has modules 0..%d", o->map_module, e->split.M - 1);
        *map_unit = e->split.last[o->map_module];
    }
    if (*map_unit >= e->U)
        return hpff_status_fail("--map-unit %d: the network has units 0..%d (0 = stem, then the blocks)", *map_unit, e->U - 1);
    return hpff_status_ok();
}

// Every batch of the split up to N images through the network into the open file; returns
// Φ's top-1 hits.
static long export_loop(exporter *e, hpff_loader *ld, out_file *of, long N, int map_unit) {
    hpff_shape in = e->net.in;
    size_t per = zmax(hpff_shape_numel(in), (size_t)e->net.classes);
    for (int u = 0; u < e->U; u++) per = zmax(per, hpff_shape_numel(e->unit[u].out));
    float *x = hpff_xmalloc((size_t)e->n_max * hpff_shape_numel(in) * sizeof(float));   // (n, c, h, w)
    float *host = hpff_xmalloc((size_t)e->n_max * per * sizeof(float));
    int32_t *y = hpff_xmalloc((size_t)e->n_max * sizeof(int32_t));
    hpff_loader_start_epoch(ld, 0, 0);
    double wait = 0;
    long hits = 0;
    for (long row = 0; row < N;) {
        int n = hpff_loader_next(ld, x, y, &wait);
        if (n <= 0) break;
        if (row + n > N) n = (int)(N - row);
        e->be->to_device(e->be, e->x, x, (size_t)n * hpff_shape_numel(in) * sizeof(float));
        hits += forward_batch(e, of, n, row, y, map_unit, host);
        row += n;
    }
    free(x);
    free(host);
    free(y);
    return hits;
}

// Opens the temporary file, exports, describes and closes it; renames it to `out` when whole.
static int write_file(exporter *e, hpff_loader *ld, const hpff_features_opts *o, const char *out, long N,
                      int map_unit, long step, int ranks) {
    char tmp[720];
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    out_file of = {0};
    int ok = out_open(&of, tmp, e, N, map_unit);
    double err = NAN;
    if (ok) {
        err = 100.0 * (1.0 - (double)export_loop(e, ld, &of, N, map_unit) / (double)N);
        ok = out_attrs(of.f, e, o, step, ranks, err);
    }
    ok &= out_close(&of, e->U);
    if (!ok || rename(tmp, out) != 0) {
        remove(tmp);
        return fail("cannot write '%s' (folder missing or disk full?)", out);
    }
    printf("exported %ld %s images of %s (checkpoint step %ld, written by %d rank%s): %d units, "
           "logits (top-1 error %.2f%%)%s -> %s\n", N, o->split, o->run_dir, step, ranks, ranks > 1 ? "s" : "",
           e->U, err, map_unit >= 0 ? ", one full map" : "", out);
    return 0;
}

int hpff_features_export(const hpff_config *cfg, const hpff_world *w, const hpff_features_opts *o) {
    if (strcmp(o->split, "test") != 0 && strcmp(o->split, "train") != 0)
        return fail("--split '%s': expected test or train", o->split);
    if (o->n < 0 || o->batch < 0) return fail("--n and --batch take counts >= 0 (0: all images, train.batch)");
    hpff_config c = *cfg;   // the batch of the forward passes
    if (o->batch > 0) c.batch = o->batch;
    hpff_train_data d;
    memset(&d, 0, sizeof d);
    hpff_loader *ld = NULL;
    int rc = open_split(&c, w, o->split, &d, &ld);
    if (rc) {
        hpff_train_data_close(&d);
        return rc;
    }
    int ch, h, wd, map_unit = -1, ranks = 0;
    hpff_loader_shape(ld, &ch, &h, &wd);
    hpff_shape in = {ch, h, wd};
    exporter e;
    long step = -1, all = hpff_loader_samples(ld), N = o->n > 0 && o->n < all ? o->n : all;
    int classes = d.jpeg ? d.jtrain.classes : d.train.classes;
    hpff_status st = exporter_build(&e, &c, in, classes, c.batch);
    if (!st.code) st = check_opts(o, &e, &map_unit);
    if (!st.code) st = load_checkpoint(&e, o->run_dir, &step, &ranks);
    char out[700];
    if (o->out) snprintf(out, sizeof out, "%s", o->out);
    else snprintf(out, sizeof out, "%s/features_%s.h5", o->run_dir, o->split);
    rc = st.code ? fail("%s", st.msg) : write_file(&e, ld, o, out, N, map_unit, step, ranks);
    exporter_free(&e);
    if (ld != d.test_ld) hpff_loader_destroy(ld);
    hpff_train_data_close(&d);
    return rc;
}
