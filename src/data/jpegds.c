// jpegds.c — reader of the encoded-JPEG dataset layout (see jpegds.h).
#include "jpegds.h"
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "h5util.h"

enum { MAX_FILES = 65536, MAX_SIDE = 65535 };
static const uint64_t k_max_image_bytes = (uint64_t)1 << 28;

struct hpff_jpegds_file {
    char path[4096];
    int fd;
    int base, n;                // global index of the first image, images in this file
    int64_t *offsets;           // (n + 1) byte range of each image in the byte dataset
    uint64_t chunk;             // bytes per storage extent (the whole dataset if contiguous)
    uint64_t nchunks;
    uint64_t *addr;             // (nchunks) file address of each extent
    int shard, shards;          // root attributes written by hpff_data (-1 when absent)
};

typedef struct hpff_jpegds_file jfile;

// ---------------------------------------------------------------- file list ----------------

static int has_glob(const char *s) { return strpbrk(s, "*?[") != NULL; }

static hpff_status add_path(char ***list, int *n, const char *p) {
    if (*n >= MAX_FILES) return hpff_status_fail("more than %d dataset files listed", MAX_FILES);
    char **grown = realloc(*list, (size_t)(*n + 1) * sizeof(char *));
    HPFF_CHECK(grown != NULL, "out of memory listing dataset files");
    *list = grown;
    size_t len = strlen(p) + 1;
    (*list)[*n] = hpff_xmalloc(len);
    memcpy((*list)[*n], p, len);
    (*n)++;
    return hpff_status_ok();
}

// Splits "a.h5, shards/b-*.h5" into paths, expanding glob patterns (sorted matches).
static hpff_status expand_paths(const char *paths, char ***list, int *n) {
    *list = NULL;
    *n = 0;
    char item[4096];
    hpff_status s = hpff_status_ok();
    for (const char *p = paths; *p && !s.code;) {
        size_t len = strcspn(p, ",");
        const char *q = p, *e = p + len;
        while (q < e && (*q == ' ' || *q == '\t')) q++;
        while (e > q && (e[-1] == ' ' || e[-1] == '\t')) e--;
        if ((size_t)(e - q) >= sizeof item) return hpff_status_fail("dataset path too long: %.60s...", q);
        memcpy(item, q, (size_t)(e - q));
        item[e - q] = 0;
        p += len + (p[len] == ',');
        if (!*item) continue;
        if (!has_glob(item)) { s = add_path(list, n, item); continue; }
        glob_t g;
        int rc = glob(item, GLOB_ERR, NULL, &g);
        if (rc == GLOB_NOMATCH || (rc == 0 && g.gl_pathc == 0))
            s = hpff_status_fail("dataset pattern '%s' matches no file", item);
        else if (rc != 0)
            s = hpff_status_fail("dataset pattern '%s': cannot list its folder", item);
        for (size_t i = 0; rc == 0 && i < g.gl_pathc && !s.code; i++) s = add_path(list, n, g.gl_pathv[i]);
        if (rc == 0) globfree(&g);
    }
    if (!s.code && *n == 0) s = hpff_status_fail("no dataset file given ('%s')", paths);
    return s;
}

static void free_paths(char **list, int n) {
    for (int i = 0; i < n; i++) free(list[i]);
    free(list);
}

int hpff_jpegds_probe(const char *paths, char *msg, size_t len) {
    char **list;
    int n, rc = -1;
    msg[0] = 0;
    hpff_status s = expand_paths(paths, &list, &n);
    if (s.code) { snprintf(msg, len, "%s", s.msg); free_paths(list, n); return -1; }
    hpff_h5_quiet q;
    hpff_h5_quiet_begin(&q);
    hid_t f = H5Fis_hdf5(list[0]) > 0 ? H5Fopen(list[0], H5F_ACC_RDONLY, H5P_DEFAULT) : -1;
    if (f >= 0) {
        char fmt[64];
        int e = hpff_h5_read_str_attr(f, "format", fmt, sizeof fmt);
        rc = e == -1 ? 0 : e == 0 && strcmp(fmt, "jpeg") == 0 ? 1 : -2;
        if (rc == -2)
            snprintf(msg, len, "%s: root attribute format is %s%s%s; expected \"jpeg\" (encoded "
                     "images) or no format attribute (pixels)", list[0], e ? "not a string" : "\"",
                     e ? "" : fmt, e ? "" : "\"");
        H5Fclose(f);
    }
    hpff_h5_quiet_end(&q);
    free_paths(list, n);
    return rc;
}

// ---------------------------------------------------------------- one file -----------------

typedef struct opener {
    jfile *f;
    const char *split;
    hid_t file;
    int classes;
    float mean[3], std[3];
    char source[64];
} opener;

// Opens /<split>/<name>: an integer dataset of rank 1 with `count` elements (< 0: any).
static hpff_status open_vec(const opener *o, const char *name, long long count, hid_t *d,
                            hsize_t *got) {
    char full[64];
    snprintf(full, sizeof full, "/%s/%s", o->split, name);
    *d = H5Lexists(o->file, o->split, H5P_DEFAULT) > 0 && H5Lexists(o->file, full, H5P_DEFAULT) > 0
             ? H5Dopen2(o->file, full, H5P_DEFAULT) : -1;
    if (*d < 0)
        return hpff_status_fail("%s: dataset %s not found (the jpeg layout has /%s/jpeg, offsets, "
                                "labels, heights, widths; datasets/README.md)", o->f->path, full, o->split);
    hid_t t = H5Dget_type(*d), s = H5Dget_space(*d);
    int ok = H5Tget_class(t) == H5T_INTEGER && H5Sget_simple_extent_ndims(s) == 1;
    if (ok) H5Sget_simple_extent_dims(s, got, NULL);
    int uint8 = H5Tget_size(t) == 1 && H5Tget_sign(t) == H5T_SGN_NONE;
    H5Tclose(t);
    H5Sclose(s);
    if (ok && strcmp(name, "jpeg") == 0) ok = uint8;
    if (ok && count >= 0 && *got != (hsize_t)count) {
        return hpff_status_fail("%s: dataset %s has %llu elements; expected %lld (one per image%s)",
                                o->f->path, full, (unsigned long long)*got, count,
                                strcmp(name, "offsets") == 0 ? ", plus one" : "");
    }
    if (ok) return hpff_status_ok();
    char found[128];
    hpff_h5_describe(*d, found, sizeof found);
    return hpff_status_fail("%s: dataset %s is %s; expected %s", o->f->path, full, found,
                            strcmp(name, "jpeg") == 0 ? "uint8 (bytes)" : "a 1-D integer dataset");
}

static hpff_status read_vec(const opener *o, const char *name, long long count, hid_t mem,
                            void *buf, hsize_t *got) {
    hid_t d;
    hpff_status s = open_vec(o, name, count, &d, got);
    if (!s.code && *got > 0 && H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        s = hpff_status_fail("%s: reading /%s/%s failed (truncated or corrupt file?)", o->f->path,
                             o->split, name);
    if (d >= 0) H5Dclose(d);
    return s;
}

// The file address of every extent of the byte dataset.
static hpff_status map_extents(jfile *f, hid_t d, uint64_t bytes) {
    hid_t dcpl = H5Dget_create_plist(d);
    H5D_layout_t lay = H5Pget_layout(dcpl);
    int filters = H5Pget_nfilters(dcpl);
    hsize_t cd[1] = {0};
    if (lay == H5D_CHUNKED) H5Pget_chunk(dcpl, 1, cd);
    H5Pclose(dcpl);
    if (filters > 0)
        return hpff_status_fail("%s: the JPEG bytes are stored with %d HDF5 filter(s) (compression?); "
                                "store them unfiltered (JPEG does not compress further)", f->path, filters);
    if (lay != H5D_CONTIGUOUS && lay != H5D_CHUNKED)
        return hpff_status_fail("%s: the JPEG bytes use compact storage; expected contiguous or "
                                "chunked", f->path);
    f->chunk = lay == H5D_CHUNKED ? cd[0] : (bytes ? bytes : 1);
    f->nchunks = (bytes + f->chunk - 1) / f->chunk;
    f->addr = hpff_xcalloc(f->nchunks ? f->nchunks : 1, sizeof(uint64_t));
    for (uint64_t k = 0; k < f->nchunks; k++) {
        haddr_t a = HADDR_UNDEF;
        hsize_t at = k * f->chunk, size = 0;
        unsigned mask = 0;
        if (lay == H5D_CONTIGUOUS) a = H5Dget_offset(d);
        else if (H5Dget_chunk_info_by_coord(d, &at, &mask, &a, &size) < 0 || size != f->chunk) a = HADDR_UNDEF;
        if (a == HADDR_UNDEF)
            return hpff_status_fail("%s: bytes %llu.. of the JPEG data were never written (incomplete "
                                    "file?)", f->path, (unsigned long long)at);
        f->addr[k] = (uint64_t)a;
    }
    return hpff_status_ok();
}

static hpff_status read_root(opener *o) {
    int found, e = hpff_h5_read_num_attr(o->file, "classes", H5T_NATIVE_INT, &o->classes, 1, &found);
    if (e || o->classes < 1)
        return hpff_status_fail("%s: root attribute 'classes' %s; expected one integer >= 1",
                                o->f->path, e == -1 ? "is missing" : "is not a number >= 1");
    const char *names[2] = {"mean", "std"};
    float *vals[2] = {o->mean, o->std};
    for (int i = 0; i < 2; i++)
        if (hpff_h5_read_num_attr(o->file, names[i], H5T_NATIVE_FLOAT, vals[i], 3, &found))
            return hpff_status_fail("%s: root attribute '%s' is missing or not 3 numbers (one per "
                                    "RGB channel, [0, 1] units)", o->f->path, names[i]);
    for (int k = 0; k < 3; k++)
        if (!(o->std[k] > 0))
            return hpff_status_fail("%s: root attribute std[%d] = %g; expected > 0", o->f->path, k, o->std[k]);
    if (hpff_h5_read_str_attr(o->file, "source", o->source, sizeof o->source)) o->source[0] = 0;
    o->f->shard = o->f->shards = -1;
    hpff_h5_read_num_attr(o->file, "shard", H5T_NATIVE_INT, &o->f->shard, 1, &found);
    hpff_h5_read_num_attr(o->file, "shards", H5T_NATIVE_INT, &o->f->shards, 1, &found);
    return hpff_status_ok();
}

static hpff_status check_index(const opener *o, const hpff_jpegds *ds, uint64_t bytes) {
    const jfile *f = o->f;
    if (f->n > 0 && f->offsets[0] != 0)
        return hpff_status_fail("%s: /%s/offsets[0] = %lld; expected 0", f->path, o->split,
                                (long long)f->offsets[0]);
    for (int i = 0; i < f->n; i++) {
        int64_t len = f->offsets[i + 1] - f->offsets[i];
        if (len < 1 || (uint64_t)len > k_max_image_bytes)
            return hpff_status_fail("%s: /%s/offsets give image %d %lld bytes; expected increasing "
                                    "offsets, 1 to %llu bytes per image", f->path, o->split, i,
                                    (long long)len, (unsigned long long)k_max_image_bytes);
        int g = f->base + i, lab = ds->labels[g], h = ds->heights[g], w = ds->widths[g];
        if (lab < 0 || lab >= o->classes)
            return hpff_status_fail("%s: /%s/labels: label %d of image %d is outside [0, %d)",
                                    f->path, o->split, lab, i, o->classes);
        if (h < 1 || w < 1 || h > MAX_SIDE || w > MAX_SIDE)
            return hpff_status_fail("%s: /%s/heights, widths: image %d is %dx%d (W x H); expected "
                                    "sides 1 to %d", f->path, o->split, i, w, h, MAX_SIDE);
    }
    if (f->n > 0 && (uint64_t)f->offsets[f->n] != bytes)
        return hpff_status_fail("%s: /%s/offsets end at %lld but /%s/jpeg holds %llu bytes", f->path,
                                o->split, (long long)f->offsets[f->n], o->split, (unsigned long long)bytes);
    return hpff_status_ok();
}

static hpff_status pread_all(const jfile *f, uint8_t *dst, size_t len, uint64_t at) {
    while (len > 0) {
        ssize_t got = pread(f->fd, dst, len, (off_t)at);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0)
            return hpff_status_fail("%s: reading %zu bytes at offset %llu failed: %s", f->path, len,
                                    (unsigned long long)at, got < 0 ? strerror(errno) : "file truncated");
        dst += got;
        len -= (size_t)got;
        at += (uint64_t)got;
    }
    return hpff_status_ok();
}

static hpff_status read_range(const jfile *f, uint8_t *dst, uint64_t o0, uint64_t o1) {
    hpff_status s = hpff_status_ok();
    for (uint64_t at = o0; at < o1 && !s.code;) {
        uint64_t k = at / f->chunk, in = at - k * f->chunk;
        uint64_t take = f->chunk - in < o1 - at ? f->chunk - in : o1 - at;
        s = pread_all(f, dst, (size_t)take, f->addr[k] + in);
        dst += take;
        at += take;
    }
    return s;
}

// The first bytes read through HDF5 and through the extent map must agree.
static hpff_status check_map(const opener *o, hid_t d) {
    const jfile *f = o->f;
    if (f->n == 0) return hpff_status_ok();
    uint8_t a[16], b[16];
    hsize_t start = 0, count = (hsize_t)(f->offsets[1] < 16 ? f->offsets[1] : 16);
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, &count, NULL);
    herr_t e = H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL);
    if (e >= 0) e = H5Dread(d, H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT, a);
    H5Sclose(ms);
    H5Sclose(fs);
    hpff_status s = e < 0 ? hpff_status_fail("%s: reading /%s/jpeg failed", f->path, o->split)
                          : read_range(f, b, 0, count);
    if (!s.code && memcmp(a, b, (size_t)count) != 0)
        s = hpff_status_fail("%s: cannot locate the JPEG bytes in the file (an HDF5 user block?); "
                             "rewrite it with hpff_data or h5py", f->path);
    return s;
}

static void grow_arrays(hpff_jpegds *ds, int n) {
    int32_t **v[3] = {&ds->labels, &ds->heights, &ds->widths};
    for (int i = 0; i < 3; i++) {
        int32_t *g = realloc(*v[i], ((size_t)ds->n + (size_t)n + 1) * sizeof(int32_t));
        HPFF_CHECK(g != NULL, "out of memory reading a dataset index");
        *v[i] = g;
    }
}

static hpff_status read_split(opener *o, hpff_jpegds *ds) {
    jfile *f = o->f;
    hid_t d;
    hsize_t n, got, bytes;
    hpff_status s = open_vec(o, "labels", -1, &d, &n);
    if (d >= 0) H5Dclose(d);
    if (s.code) return s;
    if (n > (hsize_t)(INT32_MAX - 1 - ds->n))
        return hpff_status_fail("%s: %llu images; at most %d in all", f->path, (unsigned long long)n, INT32_MAX - 1);
    f->base = ds->n;
    f->n = (int)n;
    grow_arrays(ds, f->n);
    f->offsets = hpff_xmalloc(((size_t)n + 1) * sizeof(int64_t));
    const char *names[3] = {"labels", "heights", "widths"};
    int32_t *dst[3] = {ds->labels + f->base, ds->heights + f->base, ds->widths + f->base};
    for (int i = 0; i < 3 && !s.code; i++) s = read_vec(o, names[i], (long long)n, H5T_NATIVE_INT32, dst[i], &got);
    if (!s.code) s = read_vec(o, "offsets", (long long)n + 1, H5T_NATIVE_INT64, f->offsets, &got);
    if (!s.code) s = open_vec(o, "jpeg", -1, &d, &bytes);
    else d = -1;
    if (!s.code) s = check_index(o, ds, bytes);
    if (!s.code) s = map_extents(f, d, bytes);
    if (!s.code) s = check_map(o, d);
    if (d >= 0) H5Dclose(d);
    if (!s.code) ds->n += f->n;
    return s;
}

// Shards must come from one conversion: same classes, normalisation, source and shard count,
// each shard once.
static hpff_status check_same(const opener *o, const hpff_jpegds *ds, int i) {
    const jfile *f = o->f;
    if (i == 0) return hpff_status_ok();
    int same = o->classes == ds->classes && strcmp(o->source, ds->source) == 0 &&
               f->shards == ds->f[0].shards;
    for (int k = 0; k < 3; k++) same &= o->mean[k] == ds->mean[k] && o->std[k] == ds->std[k];
    if (!same)
        return hpff_status_fail("%s and %s differ in classes, source, mean/std or shard count; "
                                "list shards of one conversion only", ds->f[0].path, f->path);
    for (int k = 0; k < i; k++)
        if (f->shard >= 0 && ds->f[k].shard == f->shard)
            return hpff_status_fail("%s and %s are both shard %d; list each shard once",
                                    ds->f[k].path, f->path, f->shard);
    return hpff_status_ok();
}

static hpff_status open_file(hpff_jpegds *ds, int i, const char *path, const char *split) {
    jfile *f = &ds->f[i];
    opener o = {f, split, -1, 0, {0}, {0}, ""};
    f->fd = -1;
    if (strlen(path) >= sizeof f->path) return hpff_status_fail("dataset path too long: %s", path);
    snprintf(f->path, sizeof f->path, "%s", path);
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0)
        return hpff_status_fail("dataset file '%s' cannot be opened: %s (make one with hpff_data "
                                "imagenet, datasets/README.md)", path, strerror(errno));
    if (H5Fis_hdf5(path) <= 0 || (o.file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0)
        return hpff_status_fail("dataset file '%s' is not a readable HDF5 file", path);
    char fmt[64] = "";
    hpff_status s = hpff_status_ok();
    if (hpff_h5_read_str_attr(o.file, "format", fmt, sizeof fmt) || strcmp(fmt, "jpeg") != 0)
        s = hpff_status_fail("%s: root attribute format is '%s'; expected \"jpeg\" (all listed "
                             "files must be encoded-JPEG datasets)", path, fmt);
    if (!s.code) s = read_root(&o);
    if (!s.code) s = check_same(&o, ds, i);
    if (!s.code && i == 0) {
        ds->classes = o.classes;
        memcpy(ds->mean, o.mean, sizeof o.mean);
        memcpy(ds->std, o.std, sizeof o.std);
        snprintf(ds->source, sizeof ds->source, "%s", o.source);
    }
    if (!s.code) s = read_split(&o, ds);
    H5Fclose(o.file);
    return s;
}

hpff_status hpff_jpegds_open(const char *paths, const char *split, hpff_jpegds *ds) {
    memset(ds, 0, sizeof *ds);
    if (strcmp(split, "train") != 0 && strcmp(split, "test") != 0)
        return hpff_status_fail("%s: unknown split '%s' (expected train or test)", paths, split);
    snprintf(ds->split, sizeof ds->split, "%s", split);
    char **list;
    int n;
    hpff_status s = expand_paths(paths, &list, &n);
    if (!s.code) ds->f = hpff_xcalloc((size_t)n, sizeof(jfile));
    hpff_h5_quiet q;
    hpff_h5_quiet_begin(&q);
    for (int i = 0; i < n && !s.code; i++) {
        ds->files = i + 1;
        s = open_file(ds, i, list[i], split);
    }
    hpff_h5_quiet_end(&q);
    if (!s.code && ds->n == 0)
        s = hpff_status_fail("%s: split %s holds zero images; expected at least one", paths, split);
    free_paths(list, n);
    if (s.code) hpff_jpegds_close(ds);
    return s;
}

void hpff_jpegds_close(hpff_jpegds *ds) {
    for (int i = 0; i < ds->files; i++) {
        if (ds->f[i].fd >= 0) close(ds->f[i].fd);
        free(ds->f[i].offsets);
        free(ds->f[i].addr);
    }
    free(ds->f);
    free(ds->labels);
    free(ds->heights);
    free(ds->widths);
    memset(ds, 0, sizeof *ds);
}

static const jfile *file_of(const hpff_jpegds *ds, int i) {
    int lo = 0, hi = ds->files - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (ds->f[mid].base <= i) lo = mid;
        else hi = mid - 1;
    }
    return &ds->f[lo];
}

void hpff_jpegds_where(const hpff_jpegds *ds, int i, char *buf, size_t len) {
    const jfile *f = file_of(ds, i);
    snprintf(buf, len, "%s:/%s image %d", f->path, ds->split, i - f->base);
}

hpff_status hpff_jpegds_read(const hpff_jpegds *ds, int i, uint8_t **buf, size_t *cap,
                             size_t *len) {
    HPFF_CHECK(i >= 0 && i < ds->n, "image %d of a dataset of %d", i, ds->n);
    const jfile *f = file_of(ds, i);
    int k = i - f->base;
    uint64_t o0 = (uint64_t)f->offsets[k], o1 = (uint64_t)f->offsets[k + 1];
    if (o1 - o0 > *cap) {
        free(*buf);
        *cap = (size_t)(o1 - o0);
        *buf = hpff_xmalloc(*cap);
    }
    *len = (size_t)(o1 - o0);
    return read_range(f, *buf, o0, o1);
}
