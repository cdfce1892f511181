// weights.c — loading initial weights from, and exporting checkpoints to, HDF5 files under
// PyTorch state_dict names (weights.h).
#include "weights.h"
#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ckpt.h"
#include "h5util.h"

#define W_MAX_DIMS 8
#define W_EXAMPLES 4   // names quoted per kind of problem

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

// ---------------------------------------------------------------- the file's datasets

typedef struct name_list { char **v; int n, cap; } name_list;

static herr_t collect_name(hid_t g, const char *name, const H5L_info_t *info, void *op) {
    (void)g; (void)info;
    name_list *l = op;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->v = realloc(l->v, (size_t)l->cap * sizeof *l->v);
        HPFF_CHECK(l->v != NULL, "out of memory listing a weight file");
    }
    l->v[l->n++] = strdup(name);
    return 0;
}

static void names_free(name_list *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
}

// Dimensions of dataset `name` (0 when it is not a readable dataset).
static int dataset_dims(hid_t f, const char *name, hsize_t *dims) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return 0;
    hid_t sp = H5Dget_space(d);
    int nd = H5Sget_simple_extent_ndims(sp);
    if (nd > W_MAX_DIMS || nd < 0) nd = 0;
    else H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    H5Dclose(d);
    return nd;
}

static void dims_text(int nd, const hsize_t *dims, char *buf, size_t len) {
    size_t off = 0;
    buf[0] = 0;
    if (nd == 0) snprintf(buf, len, "a scalar");
    for (int i = 0; i < nd && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, i ? "x%llu" : "%llu", (unsigned long long)dims[i]);
}

// 1 when the dataset's shape is the tensor's PyTorch shape.
static int same_shape(const hpff_tensor_info *t, int nd, const hsize_t *dims) {
    if (!t->ndim) return nd == 1 && dims[0] == t->count;
    if (nd != t->ndim) return 0;
    for (int i = 0; i < nd; i++)
        if (dims[i] != (hsize_t)t->dims[i]) return 0;
    return 1;
}

static const hpff_tensor_info *find_tensor(const hpff_model *md, const char *name) {
    int i = hpff_registry_find(&md->params, name);
    if (i >= 0) return &md->params.t[i];
    i = hpff_registry_find(&md->state, name);
    return i >= 0 ? &md->state.t[i] : NULL;
}

// ---------------------------------------------------------------- checking a file

typedef struct problems { char text[1400]; int unknown, shape, missing; } problems;

static void note(problems *p, int *count, const char *fmt, const char *a, const char *b, const char *c) {
    if ((*count)++ >= W_EXAMPLES) return;
    size_t used = strlen(p->text);
    snprintf(p->text + used, sizeof p->text - used, fmt, a, b, c);
}

// Checks every dataset of the file against the whole network `full`, and that every backbone and
// final-head tensor of it is in the file.
static void check_file(hid_t f, const name_list *l, const hpff_model *full, problems *p) {
    char have[96], want[96];
    hsize_t dims[W_MAX_DIMS];
    for (int i = 0; i < l->n; i++) {
        if (ends_with(l->v[i], ".num_batches_tracked")) continue;
        const hpff_tensor_info *t = find_tensor(full, l->v[i]);
        int nd = dataset_dims(f, l->v[i], dims);
        if (!t) {
            note(p, &p->unknown, "\n  '%s' is not a tensor of this network%s%s", l->v[i], "", "");
        } else if (!same_shape(t, nd, dims)) {
            dims_text(nd, dims, have, sizeof have);
            hpff_tensor_shape_text(t, want, sizeof want);
            note(p, &p->shape, "\n  '%s' has shape %s in the file, %s in the network", l->v[i], have, want);
        }
    }
    const hpff_registry *regs[2] = {&full->params, &full->state};
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < regs[r]->n; i++) {
            const char *nm = regs[r]->t[i].name;
            if (strncmp(nm, "aux", 3) != 0 && H5Lexists(f, nm, H5P_DEFAULT) <= 0)
                note(p, &p->missing, "\n  '%s' is missing from the file%s%s", nm, "", "");
        }
}

static hpff_status verdict(const char *path, const problems *p) {
    if (!p->unknown && !p->shape && !p->missing) return hpff_status_ok();
    return hpff_status_fail("model.init_from = %s does not fit this network (%d unknown names, %d shapes "
                            "that differ, %d tensors missing; the first of each):%s", path, p->unknown, p->shape,
                            p->missing, p->text);
}

// Reads dataset `name` (any float type, converted) into the model's tensor t.
static int load_tensor(hpff_model *md, hid_t f, const hpff_tensor_info *t) {
    hid_t d = H5Dopen2(f, t->name, H5P_DEFAULT);
    if (d < 0) return 0;
    hid_t sp = H5Dget_space(d);
    int fits = H5Sget_simple_extent_npoints(sp) == (hssize_t)t->count;
    H5Sclose(sp);
    float *host = hpff_xmalloc((t->count ? t->count : 1) * sizeof(float));
    int ok = fits && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, host) >= 0 &&
             hpff_model_set_tensor(md, t->name, host, t->count) == 0;
    free(host);
    H5Dclose(d);
    return ok;
}

hpff_status hpff_weights_load(hpff_model *md, const char *path, hpff_shape in, int classes, int *loaded) {
    *loaded = 0;
    hpff_h5_quiet q;
    hpff_h5_quiet_begin(&q);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        hpff_h5_quiet_end(&q);
        return hpff_status_fail("model.init_from = %s: not a readable HDF5 file", path);
    }
    name_list l = {0};
    H5Literate(f, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, collect_name, &l);
    hpff_model full;
    hpff_status st = hpff_model_size_all(&full, md->cfg, md->be, in, classes);
    problems p;
    memset(&p, 0, sizeof p);
    if (!st.code) {
        check_file(f, &l, &full, &p);
        st = verdict(path, &p);
        hpff_model_free(&full);
    }
    const hpff_registry *regs[2] = {&md->params, &md->state};
    for (int r = 0; r < 2 && !st.code; r++)
        for (int i = 0; i < regs[r]->n && !st.code; i++) {
            const hpff_tensor_info *t = &regs[r]->t[i];
            if (H5Lexists(f, t->name, H5P_DEFAULT) <= 0) continue;   // an aux head: keeps its init
            if (load_tensor(md, f, t)) (*loaded)++;
            else st = hpff_status_fail("model.init_from = %s: cannot read '%s' as floats", path, t->name);
        }
    names_free(&l);
    H5Fclose(f);
    hpff_h5_quiet_end(&q);
    return st;
}

// ---------------------------------------------------------------- export

static void *read_all(hid_t f, const char *name, hid_t type, size_t elem, size_t *count) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return NULL;
    hid_t sp = H5Dget_space(d);
    size_t n = (size_t)H5Sget_simple_extent_npoints(sp);
    char *v = hpff_xcalloc(n + 1, elem);   // text stays terminated
    if (H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) { free(v); v = NULL; }
    H5Sclose(sp);
    H5Dclose(d);
    if (count) *count = n;
    return v;
}

// The shape line of `name` in the checkpoint's "shapes" text ("name 64x3x7x7"), parsed into dims;
// 0 when absent (an older checkpoint: written as one dimension).
static int shape_of(const char *shapes, const char *name, hsize_t *dims) {
    size_t len = strlen(name);
    for (const char *s = shapes; s && *s; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : NULL) {
        if (strncmp(s, name, len) != 0 || s[len] != ' ') continue;
        int nd = 0;
        const char *p = s + len + 1;
        while (nd < W_MAX_DIMS) {
            char *end;
            dims[nd++] = strtoull(p, &end, 10);
            if (*end != 'x') break;
            p = end + 1;
        }
        return nd;
    }
    return 0;
}

static int write_dataset(hid_t out, const char *name, hid_t mem_type, hid_t file_type, int nd,
                         const hsize_t *dims, const void *v) {
    hid_t sp = nd ? H5Screate_simple(nd, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(out, name, file_type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int ok = d >= 0 && H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0;
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
    return ok;
}

// One rank's checkpoint file: every tensor of its table (parameters, then "state:" lines).
static hpff_status export_rank(hid_t out, const char *path, int heads, long step, int *written) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return hpff_status_fail("checkpoint '%s' is missing or not an HDF5 file", path);
    size_t np = 0, ns = 0;
    char *table = read_all(f, "tensors", H5T_NATIVE_CHAR, 1, NULL), *shapes = read_all(f, "shapes", H5T_NATIVE_CHAR, 1, NULL);
    float *par = read_all(f, "params", H5T_NATIVE_FLOAT, sizeof(float), &np);
    float *sta = read_all(f, "state", H5T_NATIVE_FLOAT, sizeof(float), &ns);
    H5Fclose(f);
    hpff_status st = table && par && sta ? hpff_status_ok()
                                         : hpff_status_fail("checkpoint '%s' lacks its tensor table or arrays", path);
    for (char *line = table ? strtok(table, "\n") : NULL; line && !st.code; line = strtok(NULL, "\n")) {
        int state = strncmp(line, "state:", 6) == 0;
        char name[128];
        size_t off, count;
        if (sscanf(line + (state ? 6 : 0), "%127s %zu %zu", name, &off, &count) != 3 || off + count > (state ? ns : np)) {
            st = hpff_status_fail("checkpoint '%s': bad tensor table line '%s'", path, line);
            break;
        }
        if (!heads && strncmp(name, "aux", 3) == 0) continue;
        hsize_t dims[W_MAX_DIMS] = {count};
        int nd = shape_of(shapes, name, dims);
        if (!write_dataset(out, name, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, nd ? nd : 1, dims, (state ? sta : par) + off))
            st = hpff_status_fail("cannot write '%s'", name);
        (*written)++;
        if (state && ends_with(name, ".running_mean")) {   // torchvision's BN keeps a step counter
            char nbt[160];
            long long steps = step;
            snprintf(nbt, sizeof nbt, "%.*s.num_batches_tracked", (int)(strlen(name) - strlen(".running_mean")), name);
            if (!write_dataset(out, nbt, H5T_NATIVE_LLONG, H5T_STD_I64LE, 0, NULL, &steps))
                st = hpff_status_fail("cannot write '%s'", nbt);
        }
    }
    free(table);
    free(shapes);
    free(par);
    free(sta);
    return st;
}

hpff_status hpff_weights_export(const char *run_dir, const char *out, int heads, int *written) {
    char dir[600], path[700], tmp[720];
    *written = 0;
    snprintf(dir, sizeof dir, "%s/checkpoints", run_dir);
    long step = hpff_ckpt_latest(dir);
    if (step < 0) return hpff_status_fail("no complete checkpoint in %s", dir);
    hpff_h5_quiet q;
    hpff_h5_quiet_begin(&q);
    snprintf(path, sizeof path, "%s/step-%09ld/rank0.h5", dir, step);
    hid_t f0 = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    double ranks = 0;
    if (f0 >= 0) {
        hpff_h5_read_num_attr(f0, "ranks", H5T_NATIVE_DOUBLE, &ranks, 1, NULL);
        H5Fclose(f0);
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    hid_t o = ranks >= 1 ? H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT) : -1;
    hpff_status st = ranks < 1 ? hpff_status_fail("checkpoint '%s' is missing or has no rank count", path)
                     : o < 0   ? hpff_status_fail("cannot create '%s'", tmp)
                               : hpff_status_ok();
    for (int r = 0; r < (int)ranks && !st.code; r++) {
        snprintf(path, sizeof path, "%s/step-%09ld/rank%d.h5", dir, step, r);
        st = export_rank(o, path, heads, step, written);
    }
    if (o >= 0 && H5Fclose(o) < 0 && !st.code) st = hpff_status_fail("writing '%s' failed", tmp);
    hpff_h5_quiet_end(&q);
    if (!st.code && rename(tmp, out) != 0) st = hpff_status_fail("cannot rename '%s' to '%s': %s", tmp, out, strerror(errno));
    if (st.code) unlink(tmp);
    return st;
}
