// imagenet_list.c — listing an ILSVRC2012 folder and labelling its validation images (see
// imagenet_list.h).
#include "imagenet_list.h"
#include <matio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "convert.h"

enum { TRAIN, VAL };

typedef struct pair {
    char *key, *val;
} pair;

static void add_item(hpff_in_list *l, int split, int *cap, const char *rel, int label) {
    if (l->n[split] == *cap) {
        *cap = *cap ? 2 * *cap : 4096;
        hpff_in_item *g = realloc(l->items[split], (size_t)*cap * sizeof(hpff_in_item));
        HPFF_CHECK(g != NULL, "out of memory listing images");
        l->items[split] = g;
    }
    l->items[split][l->n[split]++] = (hpff_in_item){hpff_conv_strdup(rel), label};
}

static int class_of(const hpff_in_list *l, const char *wnid) {
    char **hit = bsearch(&wnid, l->wnids, (size_t)l->classes, sizeof(char *), hpff_conv_cmp_str);
    return hit ? (int)(hit - l->wnids) : -1;
}

// Adds the image files of folder DIR/<sub> ("train/n0144..." or "val/n0144...") with `label`.
static hpff_status add_folder(hpff_in_list *l, const char *dir, const char *sub, int split,
                              int *cap, int label) {
    char path[4096], rel[4096], **files = NULL;
    int nf = 0;
    hpff_status s = hpff_conv_join(path, sizeof path, dir, sub);
    if (!s.code) s = hpff_conv_list_dir(path, 0, &files, &nf, &l->ignored);
    for (int k = 0; k < nf && !s.code; k++) {
        if (!hpff_conv_is_image_name(files[k])) { l->ignored++; continue; }
        s = hpff_conv_join(rel, sizeof rel, sub, files[k]);
        if (!s.code) add_item(l, split, cap, rel, label);
    }
    hpff_conv_free_list(files, nf);
    return s;
}

static hpff_status list_train(const char *dir, hpff_in_list *l) {
    char root[4096], sub[4096];
    hpff_status s = hpff_conv_join(root, sizeof root, dir, "train");
    if (!s.code) s = hpff_conv_list_dir(root, 1, &l->wnids, &l->classes, NULL);
    if (s.code)
        return hpff_status_fail("%s (imagenet expects %s/train/<wnid>/*.JPEG and %s/val/...)", s.msg, dir, dir);
    if (l->classes == 0 || l->classes > HPFF_CONV_MAX_CLASSES)
        return hpff_status_fail("%s: %d class folders; expected 1 to %d (train/<wnid>/*.JPEG)", root,
                                l->classes, HPFF_CONV_MAX_CLASSES);
    int cap = 0;
    for (int k = 0; k < l->classes && !s.code; k++) {
        snprintf(sub, sizeof sub, "train/%s", l->wnids[k]);
        s = add_folder(l, dir, sub, TRAIN, &cap, k);
    }
    if (!s.code && l->n[TRAIN] == 0)
        s = hpff_status_fail("%s: no .JPEG/.jpg/.png files in its class folders", root);
    return s;
}

// ---------------------------------------------------------------- label files --------------

static int file_exists(const char *p) { return access(p, R_OK) == 0; }

static void free_pairs(pair *p, int n) {
    for (int i = 0; i < n; i++) { free(p[i].key); free(p[i].val); }
    free(p);
}

static int cmp_pair(const void *a, const void *b) {
    return strcmp(((const pair *)a)->key, ((const pair *)b)->key);
}

// Lines "KEY<sep>VALUE..." of a text file; value = the first token after sep (whole rest when
// rest_of_line). The first line is skipped when it starts with `header`.
static hpff_status read_pairs(const char *path, char sep, int rest_of_line, const char *header,
                              pair **out, int *n) {
    FILE *f = fopen(path, "r");
    *out = NULL;
    *n = 0;
    if (!f) return hpff_status_fail("cannot open %s", path);
    char *line = NULL;
    size_t cap = 0;
    int lines = 0, pcap = 0;
    hpff_status s = hpff_status_ok();
    while (getline(&line, &cap, f) > 0 && !s.code) {
        line[strcspn(line, "\r\n")] = 0;
        if (lines++ == 0 && header && strncmp(line, header, strlen(header)) == 0) continue;
        if (!*line) continue;
        char *v = strchr(line, sep);
        if (!v) { s = hpff_status_fail("%s line %d: expected KEY%cVALUE, got '%.60s'", path, lines, sep, line); break; }
        *v++ = 0;
        if (!rest_of_line) v[strcspn(v, " ")] = 0;
        if (*n == pcap) {
            pcap = pcap ? 2 * pcap : 1024;
            pair *g = realloc(*out, (size_t)pcap * sizeof(pair));
            HPFF_CHECK(g != NULL, "out of memory reading %s", path);
            *out = g;
        }
        (*out)[(*n)++] = (pair){hpff_conv_strdup(line), hpff_conv_strdup(v)};
    }
    free(line);
    fclose(f);
    if (!s.code && *n) qsort(*out, (size_t)*n, sizeof(pair), cmp_pair);
    return s;
}

static const char *lookup(const pair *p, int n, const char *key) {
    pair k = {(char *)key, NULL};
    const pair *hit = n ? bsearch(&k, p, (size_t)n, sizeof(pair), cmp_pair) : NULL;
    return hit ? hit->val : NULL;
}

static void set_words(hpff_in_list *l, const char *wnid, const char *words) {
    int k = class_of(l, wnid);
    if (k < 0) return;
    if (!l->words) l->words = hpff_xcalloc((size_t)l->classes, sizeof(char *));
    free(l->words[k]);
    l->words[k] = hpff_conv_strdup(words);
}

// ---------------------------------------------------------------- devkit meta.mat ----------

static double mat_number(const matvar_t *v) {
    if (!v || !v->data || v->isComplex) return -1;
    switch (v->class_type) {
    case MAT_C_DOUBLE: return *(const double *)v->data;
    case MAT_C_SINGLE: return *(const float *)v->data;
    case MAT_C_INT32: return *(const int32_t *)v->data;
    case MAT_C_UINT32: return *(const uint32_t *)v->data;
    case MAT_C_INT16: return *(const int16_t *)v->data;
    case MAT_C_UINT16: return *(const uint16_t *)v->data;
    case MAT_C_INT8: return *(const int8_t *)v->data;
    case MAT_C_UINT8: return *(const uint8_t *)v->data;
    default: return -1;
    }
}

// A MATLAB char array as an ASCII/UTF-8 string (UTF-16 code units above 127 become '?').
static void mat_string(const matvar_t *v, char *buf, size_t len) {
    buf[0] = 0;
    if (!v || !v->data || v->class_type != MAT_C_CHAR) return;
    size_t n = v->nbytes / (v->data_size ? v->data_size : 1), k = 0;
    for (size_t i = 0; i < n && k + 1 < len; i++) {
        unsigned c = v->data_size == 2 ? ((const uint16_t *)v->data)[i]
                   : v->data_size == 4 ? ((const uint32_t *)v->data)[i] : ((const uint8_t *)v->data)[i];
        buf[k++] = (char)(v->data_size > 1 && c > 127 ? '?' : c);
    }
    buf[k] = 0;
}

// meta.mat's synsets: ILSVRC2012_ID -> WNID (ids[id] = wnid), and words for the classes.
static hpff_status read_meta(const char *path, hpff_in_list *l, char ***ids, int *nids) {
    mat_t *m = Mat_Open(path, MAT_ACC_RDONLY);
    matvar_t *v = m ? Mat_VarRead(m, "synsets") : NULL;
    hpff_status s = hpff_status_ok();
    if (!v || v->class_type != MAT_C_STRUCT)
        s = hpff_status_fail("%s: %s", path, !m ? "not a MATLAB file libmatio can read"
                             : "no struct array 'synsets' (expected the ILSVRC2012 devkit's meta.mat)");
    size_t n = v && !s.code ? 1 : 0;
    for (int r = 0; n && r < v->rank; r++) n *= v->dims[r];
    *nids = 0;
    *ids = NULL;
    for (size_t i = 0; i < n && !s.code; i++) {
        int id = (int)mat_number(Mat_VarGetStructFieldByName(v, "ILSVRC2012_ID", i));
        char wnid[64], words[512];
        mat_string(Mat_VarGetStructFieldByName(v, "WNID", i), wnid, sizeof wnid);
        mat_string(Mat_VarGetStructFieldByName(v, "words", i), words, sizeof words);
        if (id < 1 || id > 100000 || !*wnid) {
            s = hpff_status_fail("%s: synsets(%zu) has no valid ILSVRC2012_ID / WNID", path, i + 1);
            break;
        }
        if (id >= *nids) {
            char **g = realloc(*ids, (size_t)(id + 1) * sizeof(char *));
            HPFF_CHECK(g != NULL, "out of memory reading %s", path);
            for (int k = *nids; k <= id; k++) g[k] = NULL;
            *ids = g;
            *nids = id + 1;
        }
        free((*ids)[id]);
        (*ids)[id] = hpff_conv_strdup(wnid);
        if (*words) set_words(l, wnid, words);
    }
    if (v) Mat_VarFree(v);
    if (m) Mat_Close(m);
    return s;
}

// ---------------------------------------------------------------- validation ---------------

typedef struct val_src {
    const char *csv;            // Kaggle LOC_val_solution.csv, or
    const char *gt, *meta;      // devkit ground truth + meta.mat
} val_src;

// The file name without its extension.
static void stem_of(const char *name, char *buf, size_t len) {
    snprintf(buf, len, "%s", name);
    char *dot = strrchr(buf, '.');
    if (dot) *dot = 0;
}

static hpff_status label_csv(hpff_in_list *l, const char *csv, char **files, int nf, int *cap) {
    pair *p;
    int np;
    hpff_status s = read_pairs(csv, ',', 0, "ImageId", &p, &np);
    for (int i = 0; i < nf && !s.code; i++) {
        char stem[1024], rel[1100];
        stem_of(files[i], stem, sizeof stem);
        const char *wnid = lookup(p, np, stem);
        int k = wnid ? class_of(l, wnid) : -1;
        if (!wnid) s = hpff_status_fail("val/%s has no row in %s", files[i], csv);
        else if (k < 0) s = hpff_status_fail("%s labels val/%s as %s, which has no folder under train/", csv, files[i], wnid);
        snprintf(rel, sizeof rel, "val/%s", files[i]);
        if (!s.code) add_item(l, VAL, cap, rel, k);
    }
    free_pairs(p, np);
    char words[4200];
    const char *slash = strrchr(csv, '/');
    snprintf(words, sizeof words, "%.*s/LOC_synset_mapping.txt", slash ? (int)(slash - csv) : 1,
             slash ? csv : ".");
    if (!s.code && file_exists(words) && !read_pairs(words, ' ', 1, NULL, &p, &np).code) {
        for (int i = 0; i < np; i++) set_words(l, p[i].key, p[i].val);
        free_pairs(p, np);
    }
    return s;
}

static hpff_status read_ground_truth(const char *path, int **gt, int *n) {
    FILE *f = fopen(path, "r");
    *gt = NULL;
    *n = 0;
    if (!f) return hpff_status_fail("cannot open %s", path);
    int v, cap = 0;
    while (fscanf(f, "%d", &v) == 1) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 65536;
            int *g = realloc(*gt, (size_t)cap * sizeof(int));
            HPFF_CHECK(g != NULL, "out of memory reading %s", path);
            *gt = g;
        }
        (*gt)[(*n)++] = v;
    }
    int bad = !feof(f);
    fclose(f);
    return bad ? hpff_status_fail("%s: line %d is not an integer class id", path, *n + 1) : hpff_status_ok();
}

static hpff_status label_devkit(hpff_in_list *l, const val_src *v, char **files, int nf, int *cap) {
    int *gt, ngt, nids = 0;
    char **ids = NULL;
    hpff_status s = read_ground_truth(v->gt, &gt, &ngt);
    if (!s.code) s = read_meta(v->meta, l, &ids, &nids);
    for (int i = 0; i < nf && !s.code; i++) {
        int k = 0, cls = -1;
        char rel[1100];
        if (sscanf(files[i], "ILSVRC2012_val_%d", &k) != 1 || k < 1 || k > ngt) {
            s = hpff_status_fail("val/%s: expected ILSVRC2012_val_NNNNNNNN with NNNNNNNN in 1..%d (the "
                                 "lines of %s)", files[i], ngt, v->gt);
            break;
        }
        int id = gt[k - 1];
        const char *wnid = id >= 0 && id < nids ? ids[id] : NULL;
        if (wnid) cls = class_of(l, wnid);
        if (cls < 0)
            s = hpff_status_fail("val/%s: %s gives class id %d, which %s", files[i], v->gt, id, wnid
                                 ? "names a synset without a folder under train/" : "meta.mat does not list");
        snprintf(rel, sizeof rel, "val/%s", files[i]);
        if (!s.code) add_item(l, VAL, cap, rel, cls);
    }
    for (int i = 0; i < nids; i++) free(ids[i]);
    free(ids);
    free(gt);
    return s;
}

// Where the labels of a flat val/ folder are: explicit files, else the usual places.
static hpff_status find_val_labels(const char *dir, const char *val_labels, const char *meta,
                                   val_src *v, char bufs[3][4096]) {
    *v = (val_src){NULL, NULL, NULL};
    if (val_labels) {
        size_t n = strlen(val_labels);
        if (n > 4 && !strcasecmp(val_labels + n - 4, ".csv")) v->csv = val_labels;
        else v->gt = val_labels;
    } else {   // nearest first: DIR's own label files, then a Kaggle CSV further up
        static const char *const where[6] = {
            "/LOC_val_solution.csv", "/ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt",
            "/ILSVRC2012_validation_ground_truth.txt", "/../LOC_val_solution.csv",
            "/../../LOC_val_solution.csv", "/../../../LOC_val_solution.csv"};
        for (int i = 0; i < 6 && !v->csv && !v->gt; i++) {
            snprintf(bufs[0], 4096, "%s%s", dir, where[i]);
            if (!file_exists(bufs[0])) continue;
            if (strstr(where[i], ".csv")) v->csv = bufs[0];
            else v->gt = bufs[0];
        }
    }
    if (v->gt) {
        const char *slash = strrchr(v->gt, '/');
        snprintf(bufs[2], 4096, "%.*s/meta.mat", slash ? (int)(slash - v->gt) : 1, slash ? v->gt : ".");
        v->meta = meta ? meta : bufs[2];
        if (!file_exists(v->meta))
            return hpff_status_fail("%s needs the devkit's meta.mat (looked for %s; or give --meta FILE)",
                                    v->gt, v->meta);
    }
    if (!v->csv && !v->gt)
        return hpff_status_fail("%s/val holds images but no class folders, and no labels were found: "
                                "looked for LOC_val_solution.csv in %s and up to three folders above, "
                                "and for %s/ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt "
                                "(or give --val-labels FILE)", dir, dir, dir);
    return hpff_status_ok();
}

static hpff_status list_val(const char *dir, const char *val_labels, const char *meta, hpff_in_list *l) {
    char root[4096], **sub = NULL, **files = NULL, bufs[3][4096];
    int nsub = 0, nf = 0, cap = 0, other = 0;
    hpff_status s = hpff_conv_join(root, sizeof root, dir, "val");
    if (!s.code) s = hpff_conv_list_dir(root, 1, &sub, &nsub, NULL);
    if (s.code) s = hpff_status_fail("%s (imagenet expects the validation images in %s/val)", s.msg, dir);
    for (int i = 0; i < nsub && !s.code; i++) {   // val/<wnid>/
        char rel[4096];
        int k = class_of(l, sub[i]);
        if (k < 0) s = hpff_status_fail("%s/%s: class '%s' has no folder under %s/train", root, sub[i], sub[i], dir);
        else snprintf(rel, sizeof rel, "val/%s", sub[i]);
        if (!s.code) s = add_folder(l, dir, rel, VAL, &cap, k);
    }
    if (!s.code && nsub > 0) snprintf(l->val_form, sizeof l->val_form, "val/<wnid>/ folders");
    if (!s.code && nsub == 0) s = hpff_conv_list_dir(root, 0, &files, &nf, &other);
    int ni = 0;
    for (int i = 0; i < nf; i++)
        if (hpff_conv_is_image_name(files[i])) files[ni++] = files[i];
        else { free(files[i]); l->ignored++; }
    val_src v = {NULL, NULL, NULL};
    if (!s.code && nsub == 0 && ni > 0) s = find_val_labels(dir, val_labels, meta, &v, bufs);
    if (!s.code && v.csv) {
        s = label_csv(l, v.csv, files, ni, &cap);
        snprintf(l->val_form, sizeof l->val_form, "flat val/ + %.140s", v.csv);
    } else if (!s.code && v.gt) {
        s = label_devkit(l, &v, files, ni, &cap);
        snprintf(l->val_form, sizeof l->val_form, "flat val/ + devkit %.120s", v.gt);
    }
    hpff_conv_free_list(sub, nsub);
    hpff_conv_free_list(files, ni);
    if (!s.code && l->n[VAL] == 0) s = hpff_status_fail("%s: no validation images", root);
    return s;
}

hpff_status hpff_in_list_open(const char *dir, const char *val_labels, const char *meta,
                              hpff_in_list *out) {
    memset(out, 0, sizeof *out);
    hpff_status s = list_train(dir, out);
    if (!s.code) s = list_val(dir, val_labels, meta, out);
    if (s.code) hpff_in_list_free(out);
    return s;
}

void hpff_in_list_free(hpff_in_list *l) {
    for (int sp = 0; sp < 2; sp++) {
        for (int i = 0; i < l->n[sp]; i++) free(l->items[sp][i].rel);
        free(l->items[sp]);
    }
    if (l->words)
        for (int k = 0; k < l->classes; k++) free(l->words[k]);
    free(l->words);
    hpff_conv_free_list(l->wnids, l->classes);
    memset(l, 0, sizeof *l);
}
