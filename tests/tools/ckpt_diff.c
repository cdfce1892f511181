// ckpt_diff.c — compares the newest complete checkpoints of two run folders tensor by tensor,
// whatever the rank partition of each (tensors are matched by name across rank files).
// With replicas of the pipeline the BN statistics of every replica are compared too.
// usage: ckpt_diff RUN_A RUN_B [RTOL]   exit 0 when every tensor matches (bitwise if RTOL = 0).
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ckpt.h"
#include "h5util.h"

typedef struct tensor { char name[128]; size_t count; float *p, *m; int state; } tensor;
typedef struct set { tensor *t; int n, cap; long step; } set;

static float *read_floats(hid_t f, const char *name) {
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    hid_t sp = H5Dget_space(ds);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    float *v = malloc(((size_t)n + 1) * sizeof(float));
    if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {   // e.g. a failed checksum
        free(v);
        v = NULL;
    }
    H5Sclose(sp);
    H5Dclose(ds);
    return v;
}

static hssize_t dataset_floats(hid_t f, const char *name) {
    if (H5Lexists(f, name, H5P_DEFAULT) <= 0) return 0;
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    hid_t sp = H5Dget_space(ds);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp);
    H5Dclose(ds);
    return n;
}

static tensor *add(set *s, const char *name, size_t count, int state) {
    if (s->n == s->cap) { s->cap = s->cap ? 2 * s->cap : 256; s->t = realloc(s->t, (size_t)s->cap * sizeof *s->t); }
    tensor *t = &s->t[s->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->count = count;
    t->state = state;
    t->p = malloc(count * sizeof(float));
    t->m = malloc(count * sizeof(float));
    return t;
}

// Replicas of the pipeline: the BN statistics of replica k >= 1 ("state_replicas"; replica 0's
// are "state") as tensors "replica<k>/state:<name>". 0 when the dataset is unreadable.
static int add_replica_state(hid_t f, const char *table, set *s) {
    hssize_t per = dataset_floats(f, "state"), all = dataset_floats(f, "state_replicas");
    if (per <= 0 || all <= per) return 1;
    float *v = read_floats(f, "state_replicas");
    if (!v) return 0;
    char *copy = strdup(table);
    for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
        char name[100], full[128];
        size_t off, count;
        if (sscanf(line, "%99s %zu %zu", name, &off, &count) != 3 || strncmp(name, "state:", 6) != 0) continue;
        for (hssize_t k = 1; k < all / per; k++) {
            snprintf(full, sizeof full, "replica%d/%s", (int)k, name);
            memcpy(add(s, full, count, 1)->p, v + k * per + off, count * sizeof(float));
        }
    }
    free(copy);
    free(v);
    return 1;
}

static int load(const char *run, set *s) {
    char dir[600], path[800];
    snprintf(dir, sizeof dir, "%s/checkpoints", run);
    s->step = hpff_ckpt_latest(dir);
    if (s->step < 0) { fprintf(stderr, "ckpt_diff: no complete checkpoint in %s\n", dir); return 0; }
    for (int r = 0;; r++) {
        snprintf(path, sizeof path, "%s/step-%09ld/rank%d.h5", dir, s->step, r);
        hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        if (f < 0) return r > 0;
        char *table = hpff_h5_read_text(f, "tensors");
        float *p = read_floats(f, "params"), *m = read_floats(f, "momentum"), *st = read_floats(f, "state");
        if (!table || !p || !m || !st || !add_replica_state(f, table, s)) {
            fprintf(stderr, "ckpt_diff: %s: tensor table or arrays unreadable (damaged file?)\n", path);
            return 0;
        }
        for (char *line = strtok(table, "\n"); line; line = strtok(NULL, "\n")) {
            char name[128];
            size_t off, count;
            if (sscanf(line, "%127s %zu %zu", name, &off, &count) != 3) continue;
            tensor *t = add(s, name, count, strncmp(name, "state:", 6) == 0);
            memcpy(t->p, (t->state ? st : p) + off, count * sizeof(float));
            if (!t->state) memcpy(t->m, m + off, count * sizeof(float));
        }
        free(table); free(p); free(m); free(st);
        H5Fclose(f);
    }
}

static const tensor *find(const set *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->t[i].name, name) == 0) return &s->t[i];
    return NULL;
}

static void usage(FILE *f) {
    fprintf(f, "usage: ckpt_diff RUN_A RUN_B [RTOL]\n"
               "       ckpt_diff --help\n\n"
               "Compares the newest complete checkpoints of two run folders tensor by tensor\n"
               "(parameters and momentum; state tensors), matched by name across rank files.\n"
               "RTOL 0 (default): bitwise. Exit 0 when every tensor matches, 1 on a mismatch.\n");
}

int main(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) { usage(stdout); return 0; }
    if (argc < 3) { usage(stderr); return 2; }
    double rtol = argc > 3 ? atof(argv[3]) : 0;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    set a = {0}, b = {0};
    if (!load(argv[1], &a) || !load(argv[2], &b)) return 2;
    int bad = 0;
    if (a.step != b.step) { fprintf(stderr, "steps differ: %ld vs %ld\n", a.step, b.step); bad++; }
    if (a.n != b.n) { fprintf(stderr, "tensor counts differ: %d vs %d\n", a.n, b.n); bad++; }
    double worst = 0;
    for (int i = 0; i < a.n; i++) {
        const tensor *x = &a.t[i], *y = find(&b, x->name);
        if (!y || y->count != x->count) { fprintf(stderr, "%s: missing or resized in B\n", x->name); bad++; continue; }
        for (int k = 0; k < 1 + !x->state; k++) {
            const float *u = k ? x->m : x->p, *v = k ? y->m : y->p;
            for (size_t j = 0; j < x->count; j++) {
                double d = fabs((double)u[j] - v[j]), lim = rtol * fmax(fabs(u[j]), 1e-3);
                if (d > worst) worst = d;
                if (rtol == 0 ? memcmp(&u[j], &v[j], sizeof(float)) != 0 : d > lim) {
                    if (bad < 10) fprintf(stderr, "%s%s[%zu]: %.9g vs %.9g\n", x->name, k ? " (momentum)" : "", j, u[j], v[j]);
                    bad++;
                }
            }
        }
    }
    printf("ckpt_diff: step %ld, %d tensors, max abs diff %.3g, %d mismatches (%s)\n", a.step, a.n, worst, bad,
           rtol == 0 ? "bitwise" : "relative");
    return bad ? 1 : 0;
}
