// jpeg_writer.c — all-or-nothing writer of the encoded-JPEG layout (see jpeg_writer.h).
#include "jpeg_writer.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "h5util.h"

enum { CHUNK = 1 << 20, INDEX_CHUNK = 65536 };

struct hpff_jw {
    char path[4096], tmp[4096];
    hpff_jw_meta meta;
    hid_t file, group, bytes;   // the split being written
    char split[8];
    uint8_t *pend;              // (CHUNK) bytes not yet written (the chunk being filled)
    size_t npend;
    uint64_t written;           // bytes of the split in the file
    long long n, cap;           // images of the split
    int64_t *offsets;           // (n + 1)
    int32_t *labels, *heights, *widths;   // (n)
    char **names;               // (n)
};

const char *hpff_jw_tmp(const hpff_jw *w) { return w->tmp; }

static void free_index(hpff_jw *w) {
    for (long long i = 0; i < w->n; i++) free(w->names[i]);
    free(w->offsets);
    free(w->labels);
    free(w->heights);
    free(w->widths);
    free(w->names);
    w->offsets = NULL;
    w->labels = w->heights = w->widths = NULL;
    w->names = NULL;
    w->n = w->cap = 0;
}

static void close_split(hpff_jw *w) {
    if (w->bytes >= 0) H5Dclose(w->bytes);
    if (w->group >= 0) H5Gclose(w->group);
    w->bytes = w->group = -1;
}

static void destroy(hpff_jw *w, int remove_tmp) {
    close_split(w);
    if (w->file >= 0) H5Fclose(w->file);
    if (remove_tmp) unlink(w->tmp);
    free_index(w);
    free(w->pend);
    free(w);
}

hpff_status hpff_jw_create(hpff_jw **out, const char *path, const hpff_jw_meta *meta) {
    *out = NULL;
    if (strlen(path) + 5 > sizeof ((hpff_jw *)0)->tmp) return hpff_status_fail("%s: path too long", path);
    hpff_jw *w = hpff_xcalloc(1, sizeof *w);
    snprintf(w->path, sizeof w->path, "%s", path);
    snprintf(w->tmp, sizeof w->tmp, "%s.tmp", path);
    w->meta = *meta;
    w->group = w->bytes = -1;
    w->pend = hpff_xmalloc(CHUNK);
    hpff_status st;
    w->file = hpff_h5_create_tmp(w->tmp, path, H5P_DEFAULT, 0, &st);
    if (w->file < 0) {
        free(w->pend);
        free(w);
        return st;
    }
    *out = w;
    return hpff_status_ok();
}

hpff_status hpff_jw_begin(hpff_jw *w, const char *split) {
    if (w->group >= 0) return hpff_status_fail("%s: split %s not ended", w->path, w->split);
    snprintf(w->split, sizeof w->split, "%s", split);
    hsize_t dim = 0, maxd = H5S_UNLIMITED, chunk = CHUNK;
    hid_t sp = H5Screate_simple(1, &dim, &maxd), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    H5Pset_chunk(dcpl, 1, &chunk);
    H5Pset_chunk_cache(dapl, 0, 0, H5D_CHUNK_CACHE_W0_DEFAULT);   // whole chunks go straight out
    hpff_h5_quiet q;
    hpff_h5_quiet_begin(&q);
    w->group = H5Gcreate2(w->file, split, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (w->group >= 0) w->bytes = H5Dcreate2(w->group, "jpeg", H5T_STD_U8LE, sp, H5P_DEFAULT, dcpl, dapl);
    hpff_h5_quiet_end(&q);
    H5Pclose(dapl);
    H5Pclose(dcpl);
    H5Sclose(sp);
    free_index(w);
    w->npend = 0;
    w->written = 0;
    w->offsets = hpff_xcalloc(1, sizeof(int64_t));
    if (w->bytes < 0) return hpff_status_fail("%s: cannot create /%s/jpeg (disk full?)", w->tmp, split);
    return hpff_status_ok();
}

// Appends the pending bytes to the byte dataset.
static hpff_status flush(hpff_jw *w) {
    if (w->npend == 0) return hpff_status_ok();
    hsize_t start = w->written, count = w->npend, size = w->written + w->npend;
    hpff_h5_quiet q;
    hpff_h5_quiet_begin(&q);
    herr_t e = H5Dset_extent(w->bytes, &size);
    hid_t fs = e >= 0 ? H5Dget_space(w->bytes) : -1, ms = H5Screate_simple(1, &count, NULL);
    if (fs >= 0) e = H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL);
    if (fs >= 0 && e >= 0) e = H5Dwrite(w->bytes, H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT, w->pend);
    if (fs >= 0) H5Sclose(fs);
    H5Sclose(ms);
    hpff_h5_quiet_end(&q);
    if (fs < 0 || e < 0)
        return hpff_status_fail("%s: writing /%s/jpeg failed (disk full?)", w->tmp, w->split);
    w->written += w->npend;
    w->npend = 0;
    return hpff_status_ok();
}

static void grow_index(hpff_jw *w) {
    if (w->n < w->cap) return;
    w->cap = w->cap ? 2 * w->cap : 4096;
    size_t c = (size_t)w->cap;
    w->offsets = realloc(w->offsets, (c + 1) * sizeof(int64_t));
    w->labels = realloc(w->labels, c * sizeof(int32_t));
    w->heights = realloc(w->heights, c * sizeof(int32_t));
    w->widths = realloc(w->widths, c * sizeof(int32_t));
    w->names = realloc(w->names, c * sizeof(char *));
    HPFF_CHECK(w->offsets && w->labels && w->heights && w->widths && w->names,
               "out of memory indexing %lld images", w->n);
}

hpff_status hpff_jw_append(hpff_jw *w, const uint8_t *bytes, size_t len, int label, int height,
                           int width, const char *name) {
    if (w->bytes < 0) return hpff_status_fail("%s: append outside a split", w->path);
    grow_index(w);
    hpff_status s = hpff_status_ok();
    for (size_t done = 0; done < len && !s.code;) {
        size_t take = CHUNK - w->npend < len - done ? CHUNK - w->npend : len - done;
        memcpy(w->pend + w->npend, bytes + done, take);
        w->npend += take;
        done += take;
        if (w->npend == CHUNK) s = flush(w);
    }
    if (s.code) return s;
    long long i = w->n++;
    w->offsets[i + 1] = w->offsets[i] + (int64_t)len;
    w->labels[i] = label;
    w->heights[i] = height;
    w->widths[i] = width;
    size_t nl = strlen(name) + 1;
    w->names[i] = hpff_xmalloc(nl);
    memcpy(w->names[i], name, nl);
    return hpff_status_ok();
}

// A 1-D dataset /<split>/<name> of n elements, chunked when large.
static int write_vec(hpff_jw *w, const char *name, hid_t ftype, hid_t mtype, const void *buf,
                     long long n) {
    hsize_t dim = (hsize_t)n, chunk = n < INDEX_CHUNK ? (hsize_t)(n ? n : 1) : INDEX_CHUNK;
    hid_t sp = H5Screate_simple(1, &dim, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (n > INDEX_CHUNK) H5Pset_chunk(dcpl, 1, &chunk);
    hid_t d = H5Dcreate2(w->group, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int ok = d >= 0 && (n == 0 || H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    if (d >= 0) H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    return ok ? 0 : -1;
}

hpff_status hpff_jw_end(hpff_jw *w) {
    if (w->group < 0) return hpff_status_fail("%s: no split to end", w->path);
    hpff_status s = flush(w);
    if (s.code) return s;
    hid_t str = H5Tcopy(H5T_C_S1);
    H5Tset_size(str, H5T_VARIABLE);
    H5Tset_cset(str, H5T_CSET_UTF8);
    hpff_h5_quiet q;
    hpff_h5_quiet_begin(&q);
    int e = write_vec(w, "offsets", H5T_STD_I64LE, H5T_NATIVE_INT64, w->offsets, w->n + 1);
    e |= write_vec(w, "labels", H5T_STD_I32LE, H5T_NATIVE_INT32, w->labels, w->n);
    e |= write_vec(w, "heights", H5T_STD_I32LE, H5T_NATIVE_INT32, w->heights, w->n);
    e |= write_vec(w, "widths", H5T_STD_I32LE, H5T_NATIVE_INT32, w->widths, w->n);
    e |= write_vec(w, "names", str, str, w->names, w->n);
    hpff_h5_quiet_end(&q);
    H5Tclose(str);
    close_split(w);
    if (e) return hpff_status_fail("%s: writing the index of /%s failed (disk full?)", w->tmp, w->split);
    return hpff_status_ok();
}

static int write_root(hpff_jw *w) {
    const hpff_jw_meta *m = &w->meta;
    hid_t f = w->file;
    int32_t ints[5] = {m->classes, m->shard, m->shards, m->max_resolution, m->quality};
    const char *const names[5] = {"classes", "shard", "shards", "max_resolution", "quality"};
    int e = hpff_h5_write_str_attr(f, "format", "jpeg");
    for (int i = 0; i < 5; i++)
        e |= hpff_h5_write_num_attr(f, names[i], H5T_STD_I32LE, H5T_NATIVE_INT32, &ints[i], 0);
    e |= hpff_h5_write_num_attr(f, "mean", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, m->mean, 3);
    e |= hpff_h5_write_num_attr(f, "std", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, m->std, 3);
    e |= hpff_h5_write_str_attr(f, "source", m->source);
    e |= hpff_h5_write_str_array_attr(f, "class_names", m->class_names, m->classes);
    if (m->class_words) e |= hpff_h5_write_str_array_attr(f, "class_words", m->class_words, m->classes);
    return e;
}

hpff_status hpff_jw_commit(hpff_jw *w) {
    hpff_status s = hpff_status_ok();
    if (w->group >= 0) s = hpff_status_fail("%s: split %s not ended", w->path, w->split);
    hpff_h5_quiet q;
    hpff_h5_quiet_begin(&q);
    if (!s.code && write_root(w)) s = hpff_status_fail("%s: writing the root attributes failed", w->tmp);
    herr_t e = H5Fclose(w->file);
    hpff_h5_quiet_end(&q);
    w->file = -1;
    if (!s.code && e < 0) s = hpff_status_fail("%s: closing failed (disk full?)", w->tmp);
    if (!s.code && rename(w->tmp, w->path) != 0)
        s = hpff_status_fail("cannot rename '%s' to '%s': %s", w->tmp, w->path, strerror(errno));
    destroy(w, s.code != 0);
    return s;
}

void hpff_jw_abort(hpff_jw *w) {
    if (!w) return;
    hpff_h5_quiet q;
    hpff_h5_quiet_begin(&q);
    destroy(w, 1);
    hpff_h5_quiet_end(&q);
}
