// ckpt.c — HDF5 checkpoints, one file per rank per step, written atomically.
#include "ckpt.h"
#include <dirent.h>
#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "metrics.h"

static void step_dir(char *buf, size_t n, const char *dir, long step) {
    snprintf(buf, n, "%s/step-%09ld", dir, step);
}

// The tensor table as text: "name offset count\n" per tensor (params, then "state:" lines).
static char *tensor_table(const hpff_model *md) {
    size_t cap = 256 + (size_t)(md->params.n + md->state.n) * 160, len = 0;
    char *s = hpff_xmalloc(cap);
    s[0] = 0;
    const hpff_registry *regs[2] = {&md->params, &md->state};
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < regs[r]->n; i++)
            len += (size_t)snprintf(s + len, cap - len, "%s%s %zu %zu\n", r ? "state:" : "",
                                    regs[r]->t[i].name, regs[r]->t[i].off, regs[r]->t[i].count);
    return s;
}

static int write_floats(hid_t f, const char *name, const float *dev, size_t count, hpff_backend *be) {
    float *host = hpff_xmalloc((count ? count : 1) * sizeof(float));
    be->to_host(be, host, dev, count * sizeof(float));
    hsize_t dims[1] = {count};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    hid_t ds = H5Dcreate2(f, name, H5T_NATIVE_FLOAT, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int ok = ds >= 0 && H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, host) >= 0;
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(sp);
    free(host);
    return ok;
}

static int write_text(hid_t f, const char *name, const char *text) {
    hsize_t dims[1] = {strlen(text) + 1};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    hid_t ds = H5Dcreate2(f, name, H5T_NATIVE_CHAR, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int ok = ds >= 0 && H5Dwrite(ds, H5T_NATIVE_CHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, text) >= 0;
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(sp);
    return ok;
}

static int write_attr_double(hid_t f, const char *name, double v) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, name, H5T_NATIVE_DOUBLE, sp, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, H5T_NATIVE_DOUBLE, &v) >= 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return ok;
}

static char *config_text(const hpff_config *cfg) {
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    HPFF_CHECK(m != NULL, "open_memstream failed");
    hpff_config_write(cfg, m);
    fclose(m);
    return buf;
}

hpff_status hpff_ckpt_write_rank(const char *dir, const hpff_stage *s, const hpff_config *cfg,
                                 const hpff_ckpt_pos *pos, int rank, int size, const char *ranges) {
    const hpff_model *md = s->md;
    char sd[768], path[800], tmp[820];
    step_dir(sd, sizeof sd, dir, pos->step);
    if (hpff_mkdir_p(sd) != 0)
        return hpff_status_fail("cannot create checkpoint folder '%s': %s", sd, strerror(errno));
    snprintf(path, sizeof path, "%s/rank%d.h5", sd, rank);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return hpff_status_fail("cannot create checkpoint file '%s'", tmp);
    char *table = tensor_table(md), *conf = config_text(cfg);
    int ok = write_floats(f, "params", md->p, md->params.total, md->be) &&
             write_floats(f, "momentum", md->mom, md->params.total, md->be) &&
             write_floats(f, "state", md->st, md->state.total, md->be) &&
             write_text(f, "tensors", table) && write_text(f, "config", conf) &&
             write_text(f, "ranges", ranges) &&
             write_attr_double(f, "step", (double)pos->step) && write_attr_double(f, "epoch", pos->epoch) &&
             write_attr_double(f, "batch", pos->batch) && write_attr_double(f, "best_err", pos->best_err) &&
             write_attr_double(f, "best_epoch", pos->best_epoch) && write_attr_double(f, "wall", pos->wall) &&
             write_attr_double(f, "opt_first", md->opt_first) && write_attr_double(f, "rank", rank) &&
             write_attr_double(f, "ranks", size) && write_attr_double(f, "m0", md->m0) &&
             write_attr_double(f, "m1", md->m1) && write_attr_double(f, "modules", md->M) &&
             write_attr_double(f, "pending_ready", s->d.pending_ready);
    if (ok && s->d.pending)   // delayed mode: the boundary gradient owed to the next step
        ok = write_floats(f, "pending", s->d.pending, hpff_stage_boundary_params(s), md->be);
    free(table);
    free(conf);
    if (H5Fclose(f) < 0) ok = 0;
    if (!ok) {
        unlink(tmp);
        return hpff_status_fail("writing checkpoint '%s' failed (disk full?)", tmp);
    }
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return hpff_status_fail("cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
    }
    return hpff_status_ok();
}

static long parse_step(const char *name) {
    long s;
    char rest;
    return sscanf(name, "step-%ld%c", &s, &rest) == 1 ? s : -1;
}

static int is_complete(const char *dir, const char *entry) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s/COMPLETE", dir, entry);
    return access(p, F_OK) == 0;
}

static void remove_step(const char *dir, long step) {
    char sd[768], p[1024];
    step_dir(sd, sizeof sd, dir, step);
    DIR *d = opendir(sd);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(p, sizeof p, "%s/%s", sd, e->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(sd);
}

hpff_status hpff_ckpt_mark_complete(const char *dir, long step, int keep) {
    char sd[768], p[800], tmp[820];
    step_dir(sd, sizeof sd, dir, step);
    snprintf(p, sizeof p, "%s/COMPLETE", sd);
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    FILE *f = fopen(tmp, "w");
    if (!f) return hpff_status_fail("cannot write '%s': %s", tmp, strerror(errno));
    fprintf(f, "%ld\n", step);
    if (fclose(f) != 0 || rename(tmp, p) != 0)
        return hpff_status_fail("cannot complete checkpoint '%s': %s", sd, strerror(errno));
    // Keep the newest `keep` complete steps; drop older ones and incomplete leftovers.
    DIR *d = opendir(dir);
    if (!d) return hpff_status_ok();
    long steps[4096];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 4096) {
        long s = parse_step(e->d_name);
        if (s >= 0 && s < step) steps[n++] = is_complete(dir, e->d_name) ? s : -2 - s;
    }
    closedir(d);
    int newer = 1;   // this step
    for (int pass = 0; pass < n; pass++) {   // newest first
        int best = -1;
        for (int i = 0; i < n; i++)
            if (steps[i] >= 0 && (best < 0 || steps[i] > steps[best])) best = i;
        if (best < 0) break;
        if (++newer > keep) remove_step(dir, steps[best]);
        steps[best] = -1;
    }
    for (int i = 0; i < n; i++)
        if (steps[i] <= -2) remove_step(dir, -2 - steps[i]);
    return hpff_status_ok();
}

long hpff_ckpt_latest(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    long best = -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        long s = parse_step(e->d_name);
        if (s > best && is_complete(dir, e->d_name)) best = s;
    }
    closedir(d);
    return best;
}

static int read_attr_double(hid_t f, const char *name, double *v) {
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    if (a < 0) return 0;
    int ok = H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0;
    H5Aclose(a);
    return ok;
}

static char *read_text(hid_t f, const char *name) {
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    if (ds < 0) return NULL;
    hid_t sp = H5Dget_space(ds);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    char *s = hpff_xcalloc((size_t)n + 1, 1);
    if (H5Dread(ds, H5T_NATIVE_CHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, s) < 0) { free(s); s = NULL; }
    H5Sclose(sp);
    H5Dclose(ds);
    return s;
}

static int read_floats(hid_t f, const char *name, float *dev, size_t count, hpff_backend *be) {
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    if (ds < 0) return 0;
    hid_t sp = H5Dget_space(ds);
    int ok = H5Sget_simple_extent_npoints(sp) == (hssize_t)count;
    float *host = hpff_xmalloc((count ? count : 1) * sizeof(float));
    if (ok) ok = H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, host) >= 0;
    if (ok) be->to_device(be, dev, host, count * sizeof(float));
    free(host);
    H5Sclose(sp);
    H5Dclose(ds);
    return ok;
}

// Parses the stored config text into a config (through a temporary file, as the loader reads files).
static hpff_status stored_config(const char *text, hpff_config *out) {
    char tmpl[] = "/tmp/hpff_ckpt_cfg_XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0) return hpff_status_fail("cannot create a temporary file: %s", strerror(errno));
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    hpff_config_defaults(out);
    hpff_status st = hpff_config_load(out, tmpl);
    unlink(tmpl);
    return st;
}

void hpff_ckpt_read_ranges(const char *dir, long step, char *ranges, size_t n) {
    char sd[768], path[800];
    step_dir(sd, sizeof sd, dir, step);
    snprintf(path, sizeof path, "%s/rank0.h5", sd);
    ranges[0] = 0;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return;
    char *t = read_text(f, "ranges");
    if (t) snprintf(ranges, n, "%s", t);
    free(t);
    H5Fclose(f);
}

hpff_status hpff_ckpt_read_rank(const char *dir, long step, hpff_stage *s, const hpff_config *cfg,
                                int rank, int size, hpff_ckpt_pos *pos) {
    hpff_model *md = s->md;
    char sd[768], path[800];
    step_dir(sd, sizeof sd, dir, step);
    snprintf(path, sizeof path, "%s/rank%d.h5", sd, rank);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return hpff_status_fail("checkpoint '%s' is missing or not an HDF5 file", path);
    hpff_status st = hpff_status_ok();
    double ranks = 0, m0 = -1, m1 = -1, v = 0;
    char *conf = read_text(f, "config"), *table = read_text(f, "tensors"), *mine = tensor_table(md);
    if (!conf || !table || !read_attr_double(f, "ranks", &ranks) || !read_attr_double(f, "m0", &m0) ||
        !read_attr_double(f, "m1", &m1)) {
        st = hpff_status_fail("checkpoint '%s' lacks the config, tensor table or partition", path);
    } else if ((int)ranks != size) {
        st = hpff_status_fail("checkpoint '%s' was written by %d ranks; this run has %d. Resume with mpirun -np %d",
                              path, (int)ranks, size, (int)ranks);
    } else if ((int)m0 != md->m0 || (int)m1 != md->m1) {
        st = hpff_status_fail("checkpoint '%s': rank %d owned modules %d..%d, now %d..%d; set pipeline.ranges to the old partition",
                              path, rank, (int)m0, (int)m1, md->m0, md->m1);
    } else {
        hpff_config old;
        st = stored_config(conf, &old);
        char why[1024] = "";
        if (!st.code && hpff_config_diff_model(&old, cfg, why, sizeof why))
            st = hpff_status_fail("checkpoint '%s' is from an incompatible configuration:\n%s", path, why);
        else if (!st.code && strcmp(table, mine) != 0)
            st = hpff_status_fail("checkpoint '%s' holds a different tensor layout than this model", path);
    }
    if (!st.code) {
        int ok = read_floats(f, "params", md->p, md->params.total, md->be) &&
                 read_floats(f, "momentum", md->mom, md->params.total, md->be) &&
                 read_floats(f, "state", md->st, md->state.total, md->be);
        double pr = 0;
        if (ok && s->d.pending && read_attr_double(f, "pending_ready", &pr) && pr > 0) {
            ok = read_floats(f, "pending", s->d.pending, hpff_stage_boundary_params(s), md->be);
            s->d.pending_ready = ok;
        }
        if (!ok) st = hpff_status_fail("checkpoint '%s': arrays unreadable or of the wrong size", path);
    }
    if (!st.code) {
        read_attr_double(f, "step", &v); pos->step = (long)v;
        read_attr_double(f, "epoch", &v); pos->epoch = (int)v;
        read_attr_double(f, "batch", &v); pos->batch = (int)v;
        read_attr_double(f, "best_err", &pos->best_err);
        read_attr_double(f, "best_epoch", &v); pos->best_epoch = (int)v;
        read_attr_double(f, "wall", &pos->wall);
        read_attr_double(f, "opt_first", &v); md->opt_first = (int)v;
    }
    free(conf);
    free(table);
    free(mine);
    H5Fclose(f);
    return st;
}

// Reads a whole float dataset of a checkpoint file into host memory; NULL if absent.
static float *read_host_floats(hid_t f, const char *name, size_t *count) {
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    if (ds < 0) return NULL;
    hid_t sp = H5Dget_space(ds);
    *count = (size_t)H5Sget_simple_extent_npoints(sp);
    float *host = hpff_xmalloc((*count ? *count : 1) * sizeof(float));
    if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, host) < 0) { free(host); host = NULL; }
    H5Sclose(sp);
    H5Dclose(ds);
    return host;
}

// One line "name off count" (or "state:name off count") of a tensor table: the tensor lands in
// the arena of the registry that names it; seen[] counts each registry tensor found.
static hpff_status load_table_line(const char *line, const char *path, float *const host[2], const size_t n_host[2],
                                   const hpff_registry *const regs[2], float *const dst[2], hpff_backend *be,
                                   int *const seen[2]) {
    char name[160];
    size_t off, count;
    if (sscanf(line, "%159s %zu %zu", name, &off, &count) != 3)
        return hpff_status_fail("checkpoint '%s': unreadable tensor table line '%.60s'", path, line);
    int r = strncmp(name, "state:", 6) == 0;
    const char *nm = r ? name + 6 : name;
    int i = hpff_registry_find(regs[r], nm);
    if (i < 0) return hpff_status_ok();   // a tensor this model does not have (e.g. a local head)
    if (regs[r]->t[i].count != count || off + count > n_host[r])
        return hpff_status_fail("checkpoint '%s': tensor %s has %zu floats there, %zu in this model", path, nm,
                                count, regs[r]->t[i].count);
    be->to_device(be, dst[r] + regs[r]->t[i].off, host[r] + off, count * sizeof(float));
    seen[r][i]++;
    return hpff_status_ok();
}

static hpff_status load_named_file(const char *path, const hpff_registry *const regs[2], float *const dst[2],
                                   hpff_backend *be, int *const seen[2]) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return hpff_status_fail("checkpoint '%s' is missing or not an HDF5 file", path);
    size_t n_host[2] = {0, 0};
    float *host[2] = {read_host_floats(f, "params", &n_host[0]), read_host_floats(f, "state", &n_host[1])};
    char *table = read_text(f, "tensors");
    hpff_status st = hpff_status_ok();
    if (!host[0] || !host[1] || !table)
        st = hpff_status_fail("checkpoint '%s' lacks its parameters, state or tensor table", path);
    for (char *line = table, *next; !st.code && line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        st = load_table_line(line, path, host, n_host, regs, dst, be, seen);
    }
    free(host[0]);
    free(host[1]);
    free(table);
    H5Fclose(f);
    return st;
}

hpff_status hpff_ckpt_load_named(const char *dir, long step, const hpff_registry *params, float *p,
                                 const hpff_registry *state, float *st_arena, hpff_backend *be, int *ranks) {
    char sd[768], path[800];
    step_dir(sd, sizeof sd, dir, step);
    snprintf(path, sizeof path, "%s/rank0.h5", sd);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    double nr = 0;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return hpff_status_fail("checkpoint '%s' is missing or not an HDF5 file", path);
    int ok = read_attr_double(f, "ranks", &nr) && nr >= 1;
    H5Fclose(f);
    if (!ok) return hpff_status_fail("checkpoint '%s' lacks its rank count", path);
    *ranks = (int)nr;
    const hpff_registry *regs[2] = {params, state};
    float *dst[2] = {p, st_arena};
    int *seen[2] = {hpff_xcalloc((size_t)params->n + 1, sizeof(int)), hpff_xcalloc((size_t)state->n + 1, sizeof(int))};
    hpff_status st = hpff_status_ok();
    for (int r = 0; r < *ranks && !st.code; r++) {
        snprintf(path, sizeof path, "%s/rank%d.h5", sd, r);
        st = load_named_file(path, regs, dst, be, seen);
    }
    for (int r = 0; r < 2 && !st.code; r++)
        for (int i = 0; i < regs[r]->n && !st.code; i++)
            if (seen[r][i] != 1)
                st = hpff_status_fail("checkpoint '%s': tensor %s%s is in %d of its %d rank files (expected 1)", sd,
                                      r ? "state:" : "", regs[r]->t[i].name, seen[r][i], *ranks);
    free(seen[0]);
    free(seen[1]);
    return st;
}
