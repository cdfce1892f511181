// dsfile.c — all-or-nothing writer of the project's dataset layout (see dsfile.h).
#include "dsfile.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "h5util.h"

typedef struct split_state {
    int started, n, done, h, w, c;
    int64_t *counts;            // (classes)
} split_state;

struct hpff_dsfile {
    char path[4096], tmp[4096];
    hid_t file, group, img, lab;     // the split being written
    int classes, cur;                // cur: 0 train, 1 test, -1 none
    split_state sp[2];
    uint64_t sum[4], sumsq[4];       // train split, per channel, raw 0..255 values
    uint64_t pixels;                 // train pixels per channel
};

static const char *const k_split[2] = {"train", "test"};

void hpff_dsfile_tmp_path(const char *path, char *buf, size_t len) {
    snprintf(buf, len, "%s.tmp", path);
}

static void close_split(hpff_dsfile *f) {
    if (f->lab >= 0) H5Dclose(f->lab);
    if (f->img >= 0) H5Dclose(f->img);
    if (f->group >= 0) H5Gclose(f->group);
    f->lab = f->img = f->group = -1;
}

static void destroy(hpff_dsfile *f, int remove_tmp) {
    close_split(f);
    if (f->file >= 0) H5Fclose(f->file);
    if (remove_tmp) unlink(f->tmp);
    for (int i = 0; i < 2; i++) free(f->sp[i].counts);
    free(f);
}

static hpff_status create(hpff_dsfile **out, const char *path, int classes) {
    *out = NULL;
    if (classes < 1) return hpff_status_fail("%s: a dataset needs at least one class", path);
    if (strlen(path) + 5 > sizeof ((hpff_dsfile *)0)->tmp)
        return hpff_status_fail("%s: path too long", path);
    hpff_dsfile *f = hpff_xcalloc(1, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    hpff_dsfile_tmp_path(path, f->tmp, sizeof f->tmp);
    f->file = f->group = f->img = f->lab = -1;
    f->classes = classes;
    f->cur = -1;
    // O_CREAT | O_EXCL: an existing file or symbolic link of that name is refused, never
    // followed or truncated (it may be another conversion's, or point at anything).
    struct stat st;
    if (lstat(f->tmp, &st) == 0) {
        hpff_status s = hpff_status_fail("'%s' already exists (another hpff_data writing %s, or left by "
                                         "a killed one%s); remove it and run again", f->tmp, path,
                                         S_ISLNK(st.st_mode) ? "; it is a symbolic link and is never followed" : "");
        destroy(f, 0);
        return s;
    }
    f->file = H5Fcreate(f->tmp, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
    if (f->file < 0) {   // a full disk can fail the create after the file appeared: ours, removed
        hpff_status s = hpff_status_fail("cannot create '%s' (does its folder exist and is it writable? "
                                         "is the disk full?)", f->tmp);
        destroy(f, lstat(f->tmp, &st) == 0 && S_ISREG(st.st_mode));
        return s;
    }
    *out = f;
    return hpff_status_ok();
}

static hid_t create_dataset(hid_t group, const char *name, hid_t type, int rank,
                            const hsize_t *dims) {
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(group, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Sclose(space);
    return d;
}

static hpff_status begin(hpff_dsfile *f, const char *split, int n, int h, int w, int c) {
    int i = strcmp(split, "train") == 0 ? 0 : strcmp(split, "test") == 0 ? 1 : -1;
    if (i < 0) return hpff_status_fail("%s: unknown split '%s' (expected train or test)", f->path, split);
    if (f->sp[i].started) return hpff_status_fail("%s: split %s written twice", f->path, split);
    if (f->cur >= 0 && f->sp[f->cur].done != f->sp[f->cur].n)
        return hpff_status_fail("%s: split %s incomplete (%d of %d images)", f->path,
                                k_split[f->cur], f->sp[f->cur].done, f->sp[f->cur].n);
    if (n < 1 || h < 1 || w < 1 || c < 1 || c > 4)
        return hpff_status_fail("%s: split %s: invalid shape (%d, %d, %d, %d); expected N >= 1 "
                                "images of H, W >= 1 and 1 to 4 channels", f->path, split, n, h, w, c);
    const split_state *o = &f->sp[1 - i];
    if (o->started && (o->h != h || o->w != w || o->c != c))
        return hpff_status_fail("%s: split %s has images of %dx%dx%d but split %s has %dx%dx%d; "
                                "both splits must share one image shape", f->path, split, h, w, c,
                                k_split[1 - i], o->h, o->w, o->c);
    close_split(f);
    f->group = H5Gcreate2(f->file, split, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t di[4] = {(hsize_t)n, (hsize_t)h, (hsize_t)w, (hsize_t)c}, dl = (hsize_t)n;
    if (f->group >= 0) f->img = create_dataset(f->group, "images", H5T_STD_U8LE, 4, di);
    if (f->img >= 0) f->lab = create_dataset(f->group, "labels", H5T_STD_I32LE, 1, &dl);
    if (f->lab < 0) return hpff_status_fail("%s: cannot create /%s (disk full?)", f->tmp, split);
    split_state *s = &f->sp[i];
    *s = (split_state){1, n, 0, h, w, c, hpff_xcalloc((size_t)f->classes, sizeof(int64_t))};
    f->cur = i;
    return hpff_status_ok();
}

static hpff_status write_rows(hid_t d, hid_t mem_type, const void *buf, int rank,
                              const hsize_t *start, const hsize_t *count, const char *what) {
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(rank, count, NULL);
    herr_t e = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    if (e >= 0) e = H5Dwrite(d, mem_type, ms, fs, H5P_DEFAULT, buf);
    H5Sclose(ms);
    H5Sclose(fs);
    return e < 0 ? hpff_status_fail("writing %s failed (disk full?)", what) : hpff_status_ok();
}

static void accumulate(hpff_dsfile *f, const uint8_t *images, size_t pixels, int c) {
    uint64_t sum[4] = {0}, sq[4] = {0};
    for (size_t p = 0; p < pixels; p++)
        for (int k = 0; k < c; k++) {
            uint64_t v = images[p * (size_t)c + (size_t)k];
            sum[k] += v;
            sq[k] += v * v;
        }
    for (int k = 0; k < c; k++) { f->sum[k] += sum[k]; f->sumsq[k] += sq[k]; }
    f->pixels += pixels;
}

static hpff_status append(hpff_dsfile *f, const uint8_t *images, const int32_t *labels,
                          int count) {
    if (f->cur < 0) return hpff_status_fail("%s: append before begin", f->path);
    split_state *s = &f->sp[f->cur];
    const char *split = k_split[f->cur];
    if (count < 0 || count > s->n - s->done)
        return hpff_status_fail("%s: split %s: %d more images than the %d announced", f->path,
                                split, count - (s->n - s->done), s->n);
    for (int i = 0; i < count; i++)
        if (labels[i] < 0 || labels[i] >= f->classes)
            return hpff_status_fail("%s: split %s: image %d has label %d, outside [0, %d)",
                                    f->path, split, s->done + i, labels[i], f->classes);
    char what[4200];
    snprintf(what, sizeof what, "%s:/%s/images", f->tmp, split);
    hsize_t st[4] = {(hsize_t)s->done, 0, 0, 0};
    hsize_t ct[4] = {(hsize_t)count, (hsize_t)s->h, (hsize_t)s->w, (hsize_t)s->c};
    hpff_status r = write_rows(f->img, H5T_NATIVE_UINT8, images, 4, st, ct, what);
    if (r.code) return r;
    snprintf(what, sizeof what, "%s:/%s/labels", f->tmp, split);
    r = write_rows(f->lab, H5T_NATIVE_INT32, labels, 1, st, ct, what);
    if (r.code) return r;
    for (int i = 0; i < count; i++) s->counts[labels[i]]++;
    if (f->cur == 0) accumulate(f, images, (size_t)count * (size_t)s->h * (size_t)s->w, s->c);
    s->done += count;
    return hpff_status_ok();
}

void hpff_dsfile_train_stats(const hpff_dsfile *f, float *mean, float *std) {
    int c = f->sp[0].started ? f->sp[0].c : 0;
    for (int k = 0; k < c; k++) {
        double n = f->pixels ? (double)f->pixels : 1.0;
        double m = (double)f->sum[k] / n, v = (double)f->sumsq[k] / n - m * m;
        mean[k] = (float)(m / 255.0);
        std[k] = (float)(sqrt(v > 0 ? v : 0) / 255.0);
    }
}

const int64_t *hpff_dsfile_class_counts(const hpff_dsfile *f, const char *split) {
    int i = strcmp(split, "train") == 0 ? 0 : strcmp(split, "test") == 0 ? 1 : -1;
    return i >= 0 && f->sp[i].started ? f->sp[i].counts : NULL;
}

static int write_root_attrs(hpff_dsfile *f, const hpff_dsfile_meta *m) {
    int c = f->sp[0].c;
    float mean[4], std[4];
    hpff_dsfile_train_stats(f, mean, std);
    int32_t classes = f->classes;
    int e = hpff_h5_write_num_attr(f->file, "classes", H5T_STD_I32LE, H5T_NATIVE_INT32, &classes, 0);
    e |= hpff_h5_write_num_attr(f->file, "mean", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT,
                                m->mean ? m->mean : mean, c);
    e |= hpff_h5_write_num_attr(f->file, "std", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT,
                                m->std ? m->std : std, c);
    e |= hpff_h5_write_num_attr(f->file, "train_mean", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, mean, c);
    e |= hpff_h5_write_num_attr(f->file, "train_std", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, std, c);
    e |= hpff_h5_write_str_attr(f->file, "source", m->source ? m->source : "");
    if (m->class_names)
        e |= hpff_h5_write_str_array_attr(f->file, "class_names", m->class_names, f->classes);
    return e;
}

static hpff_status commit(hpff_dsfile *f, const hpff_dsfile_meta *meta) {
    hpff_status s = hpff_status_ok();
    for (int i = 0; i < 2 && !s.code; i++)
        if (!f->sp[i].started || f->sp[i].done != f->sp[i].n)
            s = hpff_status_fail("%s: split %s incomplete (%d of %d images)", f->path, k_split[i],
                                 f->sp[i].done, f->sp[i].n);
    float mean[4], std[4];
    hpff_dsfile_train_stats(f, mean, std);
    const float *sd = meta->std ? meta->std : std;
    for (int k = 0; k < f->sp[0].c && !s.code; k++)
        if (!(sd[k] > 0))
            s = hpff_status_fail("%s: std of channel %d is %g (%s); normalising needs std > 0",
                                 f->path, k, sd[k], meta->std ? "given" : "every train pixel "
                                 "has the same value in that channel");
    if (!s.code && write_root_attrs(f, meta))
        s = hpff_status_fail("%s: writing the root attributes failed", f->tmp);
    close_split(f);
    if (!s.code && H5Fclose(f->file) < 0)
        s = hpff_status_fail("%s: closing failed (disk full?)", f->tmp);
    else if (s.code)
        H5Fclose(f->file);
    f->file = -1;
    if (!s.code && rename(f->tmp, f->path) != 0)
        s = hpff_status_fail("cannot rename '%s' to '%s': %s", f->tmp, f->path, strerror(errno));
    destroy(f, s.code != 0);
    return s;
}

// The public entry points run with HDF5's error printing off; our messages replace it.
hpff_status hpff_dsfile_create(hpff_dsfile **out, const char *path, int classes) {
    hpff_h5_quiet q;
    hpff_h5_quiet_begin(&q);
    hpff_status s = create(out, path, classes);
    hpff_h5_quiet_end(&q);
    return s;
}

hpff_status hpff_dsfile_begin(hpff_dsfile *f, const char *split, int n, int h, int w, int c) {
    hpff_h5_quiet q;
    hpff_h5_quiet_begin(&q);
    hpff_status s = begin(f, split, n, h, w, c);
    hpff_h5_quiet_end(&q);
    return s;
}

hpff_status hpff_dsfile_append(hpff_dsfile *f, const uint8_t *images, const int32_t *labels,
                               int count) {
    hpff_h5_quiet q;
    hpff_h5_quiet_begin(&q);
    hpff_status s = append(f, images, labels, count);
    hpff_h5_quiet_end(&q);
    return s;
}

hpff_status hpff_dsfile_commit(hpff_dsfile *f, const hpff_dsfile_meta *meta) {
    hpff_h5_quiet q;
    hpff_h5_quiet_begin(&q);
    hpff_status s = commit(f, meta);
    hpff_h5_quiet_end(&q);
    return s;
}

void hpff_dsfile_abort(hpff_dsfile *f) {
    if (!f) return;
    hpff_h5_quiet q;
    hpff_h5_quiet_begin(&q);
    destroy(f, 1);
    hpff_h5_quiet_end(&q);
}
