// ckpt.c — HDF5 checkpoints, one file per rank per step, written atomically.
#include "ckpt.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "h5util.h"
#include "system.h"

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

// The tensors' PyTorch shapes as text: "name 64x3x7x7\n" per tensor (hpff_weights_export reads it).
static char *shapes_text(const hpff_model *md) {
    size_t cap = 256 + (size_t)(md->params.n + md->state.n) * 180, len = 0;
    char *s = hpff_xmalloc(cap), dims[64];
    s[0] = 0;
    const hpff_registry *regs[2] = {&md->params, &md->state};
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < regs[r]->n; i++) {
            hpff_tensor_shape_text(&regs[r]->t[i], dims, sizeof dims);
            len += (size_t)snprintf(s + len, cap - len, "%s %s\n", regs[r]->t[i].name, dims);
        }
    return s;
}

// Every dataset is chunked (at most 4 MiB a chunk) with HDF5's Fletcher-32 filter, so a flipped
// bit in a tensor fails the read (HDF5 checks the checksum of each chunk it reads); the file's
// metadata (superblock, object headers with the attributes, chunk index) carries checksums of its
// own in the newest file format, chosen in create_file.
static hid_t checked_dcpl(size_t count, size_t elem) {
    hid_t p = H5Pcreate(H5P_DATASET_CREATE);
    if (count == 0) return p;
    size_t most = ((size_t)4 << 20) / elem;
    hsize_t chunk[1] = {count < most ? count : most};
    if (H5Pset_chunk(p, 1, chunk) < 0 || H5Pset_fletcher32(p) < 0) {
        H5Pclose(p);
        return -1;
    }
    return p;
}

static int write_array(hid_t f, const char *name, hid_t type, const void *host, size_t count, size_t elem) {
    hsize_t dims[1] = {count};
    hid_t sp = H5Screate_simple(1, dims, NULL), dcpl = checked_dcpl(count, elem);
    hid_t ds = dcpl < 0 ? -1 : H5Dcreate2(f, name, type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int ok = ds >= 0 && (count == 0 || H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, host) >= 0);
    if (ds >= 0) H5Dclose(ds);
    if (dcpl >= 0) H5Pclose(dcpl);
    H5Sclose(sp);
    return ok;
}

static int write_floats(hid_t f, const char *name, const float *dev, size_t count, hpff_backend *be) {
    float *host = hpff_xmalloc((count ? count : 1) * sizeof(float));   // (count)
    be->to_host(be, host, dev, count * sizeof(float));
    int ok = write_array(f, name, H5T_NATIVE_FLOAT, host, count, sizeof(float));
    free(host);
    return ok;
}

static int write_text(hid_t f, const char *name, const char *text) {
    return write_array(f, name, H5T_NATIVE_CHAR, text, strlen(text) + 1, 1);
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

// Creates `tmp` (the temporary name of `path`) exclusively in the newest HDF5 format, whose
// metadata is checksummed. A leftover of a killed writer is removed first: the run-dir lock makes
// this run its only writer.
static hid_t create_file(const char *tmp, const char *path, hpff_status *st) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    hid_t f = hpff_h5_create_tmp(tmp, path, fapl, 1, st);
    H5Pclose(fapl);
    return f;
}

// Flushes `path` to stable storage, so a rename never points at data still in the page cache.
static int sync_file(const char *path) {
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return 0;
    int ok = fsync(fd) == 0;
    close(fd);
    return ok;
}

static int write_contents(hid_t f, const hpff_stage *s, const hpff_config *cfg, const hpff_ckpt_pos *pos,
                          int rank, int size, const char *ranges, const float *bn_replicas) {
    const hpff_model *md = s->md;
    char *table = tensor_table(md), *conf = config_text(cfg), *shapes = shapes_text(md);
    int ok = write_floats(f, "params", md->p, md->params.total, md->be) &&
             write_floats(f, "momentum", md->mom, md->params.total, md->be) &&
             write_floats(f, "state", md->st, md->state.total, md->be) &&
             write_text(f, "tensors", table) && write_text(f, "shapes", shapes) && write_text(f, "config", conf) &&
             write_text(f, "ranges", ranges) &&
             write_attr_double(f, "step", (double)pos->step) && write_attr_double(f, "epoch", pos->epoch) &&
             write_attr_double(f, "batch", pos->batch) && write_attr_double(f, "best_err", pos->best_err) &&
             write_attr_double(f, "best_epoch", pos->best_epoch) && write_attr_double(f, "wall", pos->wall) &&
             write_attr_double(f, "opt_first", md->opt_first) && write_attr_double(f, "rank", rank) &&
             write_attr_double(f, "ranks", size) && write_attr_double(f, "m0", md->m0) &&
             write_attr_double(f, "m1", md->m1) && write_attr_double(f, "modules", md->M) &&
             write_attr_double(f, "pending_ready", s->d.pending_ready) &&
             write_attr_double(f, "replicas", pos->replicas > 0 ? pos->replicas : 1);
    if (ok && s->d.pending)   // delayed mode: the boundary gradient owed to the next step
        ok = write_floats(f, "pending", s->d.pending, hpff_stage_boundary_params(s), md->be);
    if (ok && bn_replicas)   // replicas: each one's BN statistics ("state" is replica 0's)
        ok = write_array(f, "state_replicas", H5T_NATIVE_FLOAT, bn_replicas,
                         (size_t)pos->replicas * md->state.total, sizeof(float));
    free(table);
    free(conf);
    free(shapes);
    return ok;
}

hpff_status hpff_ckpt_write_rank(const char *dir, const hpff_stage *s, const hpff_config *cfg,
                                 const hpff_ckpt_pos *pos, int rank, int size, const char *ranges,
                                 const float *bn_replicas) {
    char sd[768], path[800], tmp[820];
    step_dir(sd, sizeof sd, dir, pos->step);
    if (hpff_mkdir_p(sd) != 0)
        return hpff_status_fail("cannot create checkpoint folder '%s': %s", sd, strerror(errno));
    snprintf(path, sizeof path, "%s/rank%d.h5", sd, rank);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hpff_status st;
    hid_t f = create_file(tmp, path, &st);
    if (f < 0) return st;
    int ok = write_contents(f, s, cfg, pos, rank, size, ranges, bn_replicas);
    if (H5Fclose(f) < 0) ok = 0;
    if (ok && !sync_file(tmp)) ok = 0;
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

// Removes one step folder, its COMPLETE marker first: an interrupted removal never leaves a
// step that looks complete with files missing.
static void remove_step(const char *dir, long step) {
    char sd[768], p[1024];
    step_dir(sd, sizeof sd, dir, step);
    snprintf(p, sizeof p, "%s/COMPLETE", sd);
    unlink(p);
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

// Writes the COMPLETE marker of `sd` (hpff_write_file_atomic: temporary, synced, renamed), then
// syncs the folder so the rename itself reaches the disk.
static hpff_status write_marker(const char *sd, long step) {
    char p[800], line[32];
    snprintf(p, sizeof p, "%s/COMPLETE", sd);
    int len = snprintf(line, sizeof line, "%ld\n", step);
    hpff_status st = hpff_write_file_atomic(p, line, (size_t)len);
    if (st.code) return hpff_status_fail("cannot complete checkpoint '%s': %s", sd, st.msg);
    sync_file(sd);
    return st;
}

hpff_status hpff_ckpt_mark_complete(const char *dir, long step, int keep) {
    char sd[768];
    step_dir(sd, sizeof sd, dir, step);
    hpff_status st = write_marker(sd, step);
    if (st.code) return st;
    // Keep the newest `keep` complete steps; drop older ones and incomplete leftovers.
    long steps[4096];
    int n = hpff_ckpt_list(dir, steps, 4096, 0), kept = 1;   // this step
    for (int i = 0; i < n && i < 4096; i++) {   // newest first
        if (steps[i] >= step) continue;
        char name[64];
        snprintf(name, sizeof name, "step-%09ld", steps[i]);
        if (!is_complete(dir, name) || ++kept > keep) remove_step(dir, steps[i]);
    }
    return hpff_status_ok();
}

static int cmp_desc(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x < y) - (x > y);
}

int hpff_ckpt_list(const char *dir, long *steps, int max, int complete_only) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        long s = parse_step(e->d_name);
        if (s < 0 || (complete_only && !is_complete(dir, e->d_name))) continue;
        if (n < max) steps[n] = s;
        n++;
    }
    closedir(d);
    if (steps && n > 0) qsort(steps, (size_t)(n < max ? n : max), sizeof(long), cmp_desc);
    return n;
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

void hpff_ckpt_remove_all(const char *dir) {
    long steps[4096];
    int n;
    while ((n = hpff_ckpt_list(dir, steps, 4096, 0)) > 0) {
        for (int i = 0; i < n && i < 4096; i++) remove_step(dir, steps[i]);
        if (n <= 4096) break;
    }
}

static int read_attr_double(hid_t f, const char *name, double *v) {
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    if (a < 0) return 0;
    int ok = H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0;
    H5Aclose(a);
    return ok;
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

// The configuration stored in checkpoint file `path` (its text `conf`) against cfg: refused when
// it does not parse or differs in a model-defining key, naming the keys.
static hpff_status compare_config(const char *path, const char *conf, const hpff_config *cfg) {
    char name[900];
    snprintf(name, sizeof name, "the configuration stored in '%s'", path);
    hpff_config old;
    hpff_config_defaults(&old);
    hpff_status st = hpff_config_load_text(&old, conf, name);
    char why[1024] = "";
    if (!st.code && hpff_config_diff_model(&old, cfg, why, sizeof why))
        st = hpff_status_fail("checkpoint '%s' is from an incompatible configuration (checkpoint vs now):\n%s", path, why);
    return st;
}

hpff_status hpff_ckpt_check_config(const char *dir, long step, const hpff_config *cfg) {
    char sd[768], path[800];
    step_dir(sd, sizeof sd, dir, step);
    snprintf(path, sizeof path, "%s/rank0.h5", sd);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return hpff_status_fail("checkpoint '%s' is missing or not an HDF5 file", path);
    char *conf = hpff_h5_read_text(f, "config");
    H5Fclose(f);
    if (!conf) return hpff_status_fail("checkpoint '%s' lacks its config", path);
    hpff_status st = compare_config(path, conf, cfg);
    free(conf);
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
    char *t = hpff_h5_read_text(f, "ranges");
    if (t) snprintf(ranges, n, "%s", t);
    free(t);
    H5Fclose(f);
}

// Replica `replica`'s own BN statistics from "state_replicas", where the file holds them.
static int read_replica_bn(hid_t f, hpff_model *md, int replica) {
    size_t n = md->state.total;
    if (H5Lexists(f, "state_replicas", H5P_DEFAULT) <= 0 || n == 0) return 1;
    hid_t ds = H5Dopen2(f, "state_replicas", H5P_DEFAULT);
    if (ds < 0) return 0;
    hid_t sp = H5Dget_space(ds);
    hssize_t total = H5Sget_simple_extent_npoints(sp);
    int ok = total > 0 && (size_t)total % n == 0;
    if (ok && (size_t)replica < (size_t)total / n) {
        hsize_t off[1] = {(hsize_t)replica * n}, cnt[1] = {n};
        hid_t mem = H5Screate_simple(1, cnt, NULL);
        float *host = hpff_xmalloc(n * sizeof(float));   // (state floats)
        ok = H5Sselect_hyperslab(sp, H5S_SELECT_SET, off, NULL, cnt, NULL) >= 0 &&
             H5Dread(ds, H5T_NATIVE_FLOAT, mem, sp, H5P_DEFAULT, host) >= 0;
        if (ok) md->be->to_device(md->be, md->st, host, n * sizeof(float));
        free(host);
        H5Sclose(mem);
    }
    H5Sclose(sp);
    H5Dclose(ds);
    return ok;
}

hpff_status hpff_ckpt_read_rank(const char *dir, long step, hpff_stage *s, const hpff_config *cfg,
                                int rank, int size, int replica, hpff_ckpt_pos *pos) {
    hpff_model *md = s->md;
    char sd[768], path[800];
    step_dir(sd, sizeof sd, dir, step);
    snprintf(path, sizeof path, "%s/rank%d.h5", sd, rank);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return hpff_status_fail("checkpoint '%s' is missing or not an HDF5 file", path);
    hpff_status st = hpff_status_ok();
    double ranks = 0, m0 = -1, m1 = -1, v = 0;
    char *conf = hpff_h5_read_text(f, "config"), *table = hpff_h5_read_text(f, "tensors"), *mine = tensor_table(md);
    if (!conf || !table || !read_attr_double(f, "ranks", &ranks) || !read_attr_double(f, "m0", &m0) ||
        !read_attr_double(f, "m1", &m1)) {
        st = hpff_status_fail("checkpoint '%s' lacks the config, tensor table or partition", path);
    } else if ((int)ranks != size) {
        st = hpff_status_fail("checkpoint '%s' was written by %d pipeline stages; this run has %d. Resume with "
                              "pipeline.stages = %d and mpirun -np a multiple of it", path, (int)ranks, size, (int)ranks);
    } else if ((int)m0 != md->m0 || (int)m1 != md->m1) {
        st = hpff_status_fail("checkpoint '%s': rank %d owned modules %d..%d, now %d..%d; set pipeline.ranges to the old partition",
                              path, rank, (int)m0, (int)m1, md->m0, md->m1);
    } else if (!(st = compare_config(path, conf, cfg)).code && strcmp(table, mine) != 0) {
        st = hpff_status_fail("checkpoint '%s' holds a different tensor layout than this model", path);
    }
    if (!st.code) {
        int ok = read_floats(f, "params", md->p, md->params.total, md->be) &&
                 read_floats(f, "momentum", md->mom, md->params.total, md->be) &&
                 read_floats(f, "state", md->st, md->state.total, md->be) && read_replica_bn(f, md, replica);
        double pr = 0;
        if (ok && s->d.pending && read_attr_double(f, "pending_ready", &pr) && pr > 0) {
            ok = read_floats(f, "pending", s->d.pending, hpff_stage_boundary_params(s), md->be);
            s->d.pending_ready = ok;
            s->d.pending_avg = ok;   // the replicas' average where there were several: added as it is
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
        pos->replicas = read_attr_double(f, "replicas", &v) && v >= 1 ? (int)v : 1;
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
    char *table = hpff_h5_read_text(f, "tensors");
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

// ---------------------------------------------------------------- verification -------------

typedef struct verify_ctx {
    char why[400];
    int unchecked;   // datasets without a checksum (written before checksums existed)
} verify_ctx;

// Reads a 1-D dataset whole, a block at a time: HDF5 verifies each chunk's Fletcher-32.
static int verify_dataset(hid_t ds, const char *name, verify_ctx *v) {
    hid_t sp = H5Dget_space(ds), ftype = H5Dget_type(ds);
    hid_t mtype = ftype < 0 ? -1 : H5Tget_native_type(ftype, H5T_DIR_ASCEND);
    hid_t dcpl = H5Dget_create_plist(ds);
    hssize_t n = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    int ok = n >= 0 && mtype >= 0 && H5Sget_simple_extent_ndims(sp) <= 1, checked = 0;
    if (ok && dcpl >= 0) {
        unsigned flags = 0;
        checked = H5Pget_filter_by_id2(dcpl, H5Z_FILTER_FLETCHER32, &flags, NULL, NULL, 0, NULL, NULL) >= 0;
    }
    if (ok && n > 0 && !checked) v->unchecked++;
    size_t elem = ok ? H5Tget_size(mtype) : 1, block = ((size_t)4 << 20) / (elem ? elem : 1);
    void *buf = hpff_xmalloc(block * elem);
    for (hsize_t at = 0; ok && at < (hsize_t)n; at += block) {
        hsize_t cnt = (hsize_t)n - at < block ? (hsize_t)n - at : block;
        hid_t ms = H5Screate_simple(1, &cnt, NULL);
        ok = H5Sselect_hyperslab(sp, H5S_SELECT_SET, &at, NULL, &cnt, NULL) >= 0 &&
             H5Dread(ds, mtype, ms, sp, H5P_DEFAULT, buf) >= 0;
        H5Sclose(ms);
    }
    free(buf);
    if (!ok) snprintf(v->why, sizeof v->why, "dataset '%s' fails its checksum or cannot be read", name);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (mtype >= 0) H5Tclose(mtype);
    if (ftype >= 0) H5Tclose(ftype);
    if (sp >= 0) H5Sclose(sp);
    return ok;
}

static herr_t verify_member(hid_t g, const char *name, const H5L_info_t *info, void *arg) {
    (void)info;
    verify_ctx *v = arg;
    hid_t ds = H5Dopen2(g, name, H5P_DEFAULT);
    if (ds < 0) {
        snprintf(v->why, sizeof v->why, "object '%s' cannot be opened", name);
        return -1;
    }
    int ok = verify_dataset(ds, name, v);
    H5Dclose(ds);
    return ok ? 0 : -1;
}

// Opens one rank file and reads every dataset and the position attributes.
static int verify_file(const char *path, int *ranks, verify_ctx *v) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        snprintf(v->why, sizeof v->why, "%s", access(path, F_OK) == 0 ? "not a readable HDF5 file (truncated?)"
                                                                        : "the file is missing");
        return 0;
    }
    double r = 0, x = 0;
    const char *attrs[] = {"step", "epoch", "batch", "best_err", "best_epoch", "wall", "m0", "m1"};
    int ok = read_attr_double(f, "ranks", &r) && r >= 1;
    for (size_t i = 0; ok && i < sizeof attrs / sizeof attrs[0]; i++) ok = read_attr_double(f, attrs[i], &x);
    if (!ok) snprintf(v->why, sizeof v->why, "its position attributes cannot be read");
    if (ok) ok = H5Literate(f, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, verify_member, v) >= 0;
    if (ok && ranks) *ranks = (int)r;
    H5Fclose(f);
    return ok;
}

int hpff_ckpt_verify(const char *dir, long step, char *why, size_t n) {
    char sd[768], path[800];
    step_dir(sd, sizeof sd, dir, step);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    verify_ctx v = {"", 0};
    int ranks = 1, ok = 1;
    for (int rank = 0; ok && rank < ranks; rank++) {
        snprintf(path, sizeof path, "%s/rank%d.h5", sd, rank);
        ok = verify_file(path, rank == 0 ? &ranks : NULL, &v);
        if (!ok) snprintf(why, n, "%s: %s", path, v.why);
    }
    if (ok && v.unchecked) snprintf(why, n, "%s: written without checksums (an older hpff_pipe); read but not verified", sd);
    else if (ok) why[0] = 0;
    return ok;
}

// Renames a damaged step so that it is never taken again and the steps re-trained after the
// fallback cannot mix with its files; kept for inspection.
static void set_aside(const char *dir, long step) {
    char sd[768], to[800];
    step_dir(sd, sizeof sd, dir, step);
    snprintf(to, sizeof to, "%s/damaged-step-%09ld", dir, step);
    if (rename(sd, to) == 0)
        fprintf(stderr, "hpff_pipe: moved the damaged checkpoint to %s\n", to);
}

long hpff_ckpt_latest_intact(const char *dir, FILE *log) {
    long steps[64];
    int n = hpff_ckpt_list(dir, steps, 64, 1);
    char why[1024];
    for (int i = 0; i < n && i < 64; i++) {
        if (hpff_ckpt_verify(dir, steps[i], why, sizeof why)) {
            if (why[0] && log) fprintf(log, "hpff_pipe: note: %s\n", why);
            if (i > 0 && log)
                fprintf(log, "hpff_pipe: falling back to the previous complete checkpoint, step %ld%s\n", steps[i],
                        i > 1 ? " (the newer ones are damaged)" : "");
            for (int k = 0; k < i; k++) set_aside(dir, steps[k]);
            return steps[i];
        }
        if (log) fprintf(log, "hpff_pipe: checkpoint step %ld is damaged: %s\n", steps[i], why);
    }
    return n > 0 ? -2 : -1;
}
