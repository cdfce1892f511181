// dataset.c — the dataset reader: the project's HDF5 layout, every defect reported with file,
// dataset and expectation.
#include "dataset.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "h5util.h"

typedef struct reader {
    const char *path, *split;
    hid_t file, img, lab;
} reader;

static const char k_layout[] = "see datasets/README.md for the layout";

// Opens /<split>/<name>; on failure says what the group holds.
static hpff_status open_member(reader *r, const char *name, const char *expect, hid_t *out) {
    char full[64];
    snprintf(full, sizeof full, "/%s/%s", r->split, name);
    *out = -1;
    if (H5Lexists(r->file, r->split, H5P_DEFAULT) <= 0)
        return hpff_status_fail("%s: group /%s not found (expected /%s/images and /%s/labels; "
                                "%s)", r->path, r->split, r->split, r->split, k_layout);
    if (H5Lexists(r->file, full, H5P_DEFAULT) <= 0 || (*out = H5Dopen2(r->file, full, H5P_DEFAULT)) < 0) {
        char found[256] = "";
        hid_t g = H5Gopen2(r->file, r->split, H5P_DEFAULT);
        H5G_info_t info;
        if (g >= 0 && H5Gget_info(g, &info) >= 0)
            for (hsize_t i = 0; i < info.nlinks && strlen(found) < 200; i++) {
                char nm[64] = "";
                H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, nm, sizeof nm, H5P_DEFAULT);
                snprintf(found + strlen(found), sizeof found - strlen(found), "%s%s", i ? ", " : "", nm);
            }
        if (g >= 0) H5Gclose(g);
        return hpff_status_fail("%s: dataset %s not found (expected %s; /%s holds: %s)", r->path,
                                full, expect, r->split, *found ? found : "nothing");
    }
    return hpff_status_ok();
}

// Checks class, size, signedness and rank; fills dims.
static hpff_status check_dataset(const reader *r, hid_t d, const char *name, H5T_class_t cls,
                                 size_t size, int is_signed, int rank, const char *expect,
                                 hsize_t *dims) {
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    int ok = t >= 0 && s >= 0 && H5Tget_class(t) == cls && H5Tget_size(t) == size &&
             (H5Tget_sign(t) == H5T_SGN_2) == is_signed &&
             H5Sget_simple_extent_ndims(s) == rank;
    if (ok) H5Sget_simple_extent_dims(s, dims, NULL);
    if (t >= 0) H5Tclose(t);
    if (s >= 0) H5Sclose(s);
    if (ok) return hpff_status_ok();
    char found[128];
    hpff_h5_describe(d, found, sizeof found);
    return hpff_status_fail("%s: dataset /%s/%s is %s; expected %s", r->path, r->split, name,
                            found, expect);
}

static hpff_status read_attrs(const reader *r, hpff_dataset *ds) {
    int found = 0, e;
    double classes = 0;   // read as stored: a fractional count is refused, not truncated
    e = hpff_h5_read_num_attr(r->file, "classes", H5T_NATIVE_DOUBLE, &classes, 1, &found);
    if (e || !(classes >= 1) || classes > 1e9 || classes != floor(classes))
        return hpff_status_fail("%s: root attribute 'classes' %s; expected one integer >= 1 (%s)",
                                r->path, e == -1 ? "is missing" : e ? "is not one number" :
                                classes != floor(classes) ? "is not an integer" : "is < 1", k_layout);
    ds->classes = (int)classes;
    const char *names[2] = {"mean", "std"};
    float *vals[2] = {ds->mean, ds->std};
    for (int i = 0; i < 2; i++) {
        e = hpff_h5_read_num_attr(r->file, names[i], H5T_NATIVE_FLOAT, vals[i], ds->c, &found);
        char what[48];
        snprintf(what, sizeof what, e == -1 ? "is missing" : e == -2 ? "is not numeric" :
                 "has %d value(s)", found);
        if (e)
            return hpff_status_fail("%s: root attribute '%s' %s; expected %d float(s), one per "
                                    "channel, in [0, 1] units", r->path, names[i], what, ds->c);
    }
    for (int k = 0; k < ds->c; k++) {
        if (!isfinite(ds->mean[k]))
            return hpff_status_fail("%s: root attribute mean[%d] = %g; expected a finite number in [0, 1] units",
                                    r->path, k, ds->mean[k]);
        if (!(ds->std[k] > 0) || !isfinite(ds->std[k]))
            return hpff_status_fail("%s: root attribute std[%d] = %g (mean %g); expected a finite std > 0",
                                    r->path, k, ds->std[k], ds->mean[k]);
    }
    e = hpff_h5_read_str_attr(r->file, "source", ds->source, sizeof ds->source);
    if (e == -2)
        return hpff_status_fail("%s: root attribute 'source' is not a string", r->path);
    if (e == -1) ds->source[0] = 0;
    return hpff_status_ok();
}

static hpff_status read_all(const reader *r, hid_t d, hid_t mem_type, void *buf, const char *name) {
    if (H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        return hpff_status_fail("%s: reading dataset /%s/%s failed (truncated or corrupt file?)",
                                r->path, r->split, name);
    return hpff_status_ok();
}

static hpff_status check_labels(const reader *r, const hpff_dataset *ds) {
    for (int i = 0; i < ds->n; i++)
        if (ds->labels[i] < 0 || ds->labels[i] >= ds->classes)
            return hpff_status_fail("%s: dataset /%s/labels: label %d at index %d is outside "
                                    "[0, %d) (root attribute classes = %d)", r->path, r->split,
                                    ds->labels[i], i, ds->classes, ds->classes);
    return hpff_status_ok();
}

static hpff_status load_open(reader *r, hpff_dataset *ds) {
    hsize_t di[4], dl[1];
    hpff_status s = open_member(r, "images", "uint8 (N, H, W, C)", &r->img);
    if (!s.code) s = open_member(r, "labels", "int32 (N)", &r->lab);
    if (!s.code) s = check_dataset(r, r->img, "images", H5T_INTEGER, 1, 0, 4, "uint8 (N, H, W, C)", di);
    if (!s.code) s = check_dataset(r, r->lab, "labels", H5T_INTEGER, 4, 1, 1, "int32 (N)", dl);
    if (s.code) return s;
    if (di[0] == 0)
        return hpff_status_fail("%s: dataset /%s/images holds zero images; expected N >= 1",
                                r->path, r->split);
    if (di[3] < 1 || di[3] > 4 || di[1] < 1 || di[2] < 1 || di[0] > (1u << 30) ||
        di[1] > 65536 || di[2] > 65536)
        return hpff_status_fail("%s: dataset /%s/images has shape (%llu, %llu, %llu, %llu); "
                                "expected (N, H, W, C) with 1 to 4 channels", r->path, r->split,
                                (unsigned long long)di[0], (unsigned long long)di[1],
                                (unsigned long long)di[2], (unsigned long long)di[3]);
    if (dl[0] != di[0])
        return hpff_status_fail("%s: /%s/labels holds %llu labels but /%s/images holds %llu "
                                "images; expected one label per image", r->path, r->split,
                                (unsigned long long)dl[0], r->split, (unsigned long long)di[0]);
    ds->n = (int)di[0];
    ds->h = (int)di[1];
    ds->w = (int)di[2];
    ds->c = (int)di[3];
    return read_attrs(r, ds);
}

static hpff_status load(reader *r, hpff_dataset *ds) {
    struct stat st;
    if (stat(r->path, &st) != 0)
        return hpff_status_fail("dataset file '%s' cannot be opened: %s (make one with hpff_data, "
                                "datasets/README.md)", r->path, strerror(errno));
    if (H5Fis_hdf5(r->path) <= 0)
        return hpff_status_fail("dataset file '%s' is not an HDF5 file (expected the layout of "
                                "datasets/README.md, as written by hpff_data)", r->path);
    r->file = H5Fopen(r->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (r->file < 0)
        return hpff_status_fail("dataset file '%s': HDF5 cannot open it (truncated or corrupt "
                                "file?)", r->path);
    hpff_status s = load_open(r, ds);
    if (s.code) return s;
    size_t bytes = (size_t)ds->n * (size_t)ds->h * (size_t)ds->w * (size_t)ds->c;
    ds->images = hpff_xmalloc(bytes);
    ds->labels = hpff_xmalloc((size_t)ds->n * sizeof(int32_t));
    s = read_all(r, r->img, H5T_NATIVE_UINT8, ds->images, "images");
    if (!s.code) s = read_all(r, r->lab, H5T_NATIVE_INT32, ds->labels, "labels");
    if (!s.code) s = check_labels(r, ds);
    return s;
}

hpff_status hpff_dataset_load(const char *path, const char *split, hpff_dataset *ds) {
    memset(ds, 0, sizeof *ds);
    if (strcmp(split, "train") != 0 && strcmp(split, "test") != 0)
        return hpff_status_fail("%s: unknown split '%s' (expected train or test)", path, split);
    if (strlen(path) >= sizeof ds->path)
        return hpff_status_fail("dataset path too long (%zu characters, at most %zu): %s",
                                strlen(path), sizeof ds->path - 1, path);
    snprintf(ds->path, sizeof ds->path, "%s", path);
    reader r = {path, split, -1, -1, -1};
    hpff_h5_quiet q;
    hpff_h5_quiet_begin(&q);
    hpff_status s = load(&r, ds);
    if (r.lab >= 0) H5Dclose(r.lab);
    if (r.img >= 0) H5Dclose(r.img);
    if (r.file >= 0) H5Fclose(r.file);
    hpff_h5_quiet_end(&q);
    if (s.code) hpff_dataset_free(ds);
    return s;
}

void hpff_dataset_free(hpff_dataset *ds) {
    free(ds->images);
    free(ds->labels);
    ds->images = NULL;
    ds->labels = NULL;
    ds->n = 0;
}

hpff_status hpff_dataset_check_compatible(const hpff_dataset *train, const hpff_dataset *test) {
    if (train->h != test->h || train->w != test->w || train->c != test->c)
        return hpff_status_fail("test images in %s are %dx%dx%d (H x W x C) but train images in "
                                "%s are %dx%dx%d; expected the same shape", test->path, test->h,
                                test->w, test->c, train->path, train->h, train->w, train->c);
    if (train->classes != test->classes)
        return hpff_status_fail("%s has %d classes but %s has %d; expected the same number",
                                test->path, test->classes, train->path, train->classes);
    return hpff_status_ok();
}
