// convert.c — the format table of hpff_data and helpers shared by the readers.
#include "convert.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <strings.h>
#include <sys/stat.h>

const hpff_conv_format *const hpff_conv_formats[] = {
    &hpff_conv_fashion_mnist, &hpff_conv_cifar10, &hpff_conv_cifar100, &hpff_conv_svhn,
    &hpff_conv_stl10, &hpff_conv_folder, NULL,
};

const hpff_conv_format *hpff_conv_find(const char *name) {
    for (int i = 0; hpff_conv_formats[i]; i++)
        if (strcmp(hpff_conv_formats[i]->name, name) == 0) return hpff_conv_formats[i];
    return NULL;
}

void hpff_conv_info_free(hpff_conv_info *info) {
    if (info->class_names)
        for (int i = 0; i < info->classes; i++) free(info->class_names[i]);
    free(info->class_names);
    if (info->ctx_free) info->ctx_free(info->ctx);
    memset(info, 0, sizeof *info);
}

hpff_status hpff_conv_join(char *buf, size_t len, const char *dir, const char *name) {
    if ((size_t)snprintf(buf, len, "%s/%s", dir, name) >= len)
        return hpff_status_fail("path too long: %s/%s", dir, name);
    return hpff_status_ok();
}

// The files read so far, by (device, inode): an output must not be one of them.
typedef struct file_id { dev_t dev; ino_t ino; } file_id;
static file_id *g_inputs;
static size_t g_n_inputs, g_cap_inputs;

static void note_id(const struct stat *st) {
    if (g_n_inputs == g_cap_inputs) {
        g_cap_inputs = g_cap_inputs ? 2 * g_cap_inputs : 64;
        file_id *grown = realloc(g_inputs, g_cap_inputs * sizeof *grown);
        HPFF_CHECK(grown != NULL, "out of memory noting %zu input files", g_n_inputs);
        g_inputs = grown;
    }
    g_inputs[g_n_inputs++] = (file_id){st->st_dev, st->st_ino};
}

void hpff_conv_note_input(const char *path) {
    struct stat st;
    if (stat(path, &st) == 0) note_id(&st);
}

hpff_status hpff_conv_check_output(const char *out) {
    struct stat st;
    if (stat(out, &st) != 0) return hpff_status_ok();   // nothing there yet: nothing to replace
    for (size_t i = 0; i < g_n_inputs; i++)
        if (g_inputs[i].dev == st.st_dev && g_inputs[i].ino == st.st_ino)
            return hpff_status_fail("the output %s is one of the input files; writing it would replace "
                                    "that input. Choose another output path", out);
    return hpff_status_ok();
}

void hpff_conv_forget_inputs(void) {
    free(g_inputs);
    g_inputs = NULL;
    g_n_inputs = g_cap_inputs = 0;
}

hpff_status hpff_conv_file_size(const char *path, long long *size) {
    struct stat st;
    if (stat(path, &st) != 0) return hpff_status_fail("%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return hpff_status_fail("%s: not a regular file", path);
    *size = (long long)st.st_size;
    note_id(&st);
    return hpff_status_ok();
}

hpff_status hpff_conv_fopen(const char *path, FILE **f) {
    *f = fopen(path, "rb");
    if (!*f) return hpff_status_fail("cannot open %s: %s", path, strerror(errno));
    hpff_conv_note_input(path);
    return hpff_status_ok();
}

hpff_status hpff_conv_fread(FILE *f, void *buf, size_t bytes, const char *path, long long at) {
    size_t got = fread(buf, 1, bytes, f);
    if (got != bytes)
        return hpff_status_fail("%s: %s at byte %lld (wanted %zu more bytes, got %zu)", path,
                                ferror(f) ? strerror(errno) : "truncated", at + (long long)got,
                                bytes, got);
    return hpff_status_ok();
}

char *hpff_conv_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = hpff_xmalloc(n);
    memcpy(d, s, n);
    return d;
}

void hpff_conv_names(hpff_conv_info *info, const char *dir, const char *file,
                     const char *const *fallback) {
    char path[4096], line[512];
    char **names = hpff_xcalloc((size_t)info->classes, sizeof(char *));
    int n = 0;
    FILE *f = file && hpff_conv_join(path, sizeof path, dir, file).code == 0 ? fopen(path, "r") : NULL;
    if (f) hpff_conv_note_input(path);
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!*line) continue;
        if (n == info->classes) { n++; break; }
        names[n++] = hpff_conv_strdup(line);
    }
    if (f) fclose(f);
    if (n != info->classes) {
        if (f) fprintf(stderr, "note: %s does not list %d class names; using the built-in ones\n",
                       path, info->classes);
        for (int i = 0; i < n && i < info->classes; i++) free(names[i]);
        if (!fallback) { free(names); return; }
        for (int i = 0; i < info->classes; i++) names[i] = hpff_conv_strdup(fallback[i]);
    }
    info->class_names = names;
}

int hpff_conv_cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int hpff_conv_is_image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

// Directory or regular file, from the entry type when the file system gives it (no stat per
// file on an ImageNet-sized folder), else from stat; -1 when neither can be told.
static int entry_is_dir(const char *dir, const struct dirent *e) {
    if (e->d_type == DT_DIR) return 1;
    if (e->d_type == DT_REG) return 0;
    char path[4096];
    struct stat st;
    if (hpff_conv_join(path, sizeof path, dir, e->d_name).code || stat(path, &st) != 0) return -1;
    return S_ISDIR(st.st_mode) ? 1 : S_ISREG(st.st_mode) ? 0 : -1;
}

hpff_status hpff_conv_list_dir(const char *dir, int want_dirs, char ***out, int *count, int *other) {
    DIR *d = opendir(dir);
    *out = NULL;
    *count = 0;
    if (!d) return hpff_status_fail("cannot open folder %s: %s", dir, strerror(errno));
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        int is_dir = entry_is_dir(dir, e);
        if (is_dir < 0) continue;
        if (is_dir != (want_dirs != 0)) {
            if (other) (*other)++;
            continue;
        }
        if (*count == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(*out, (size_t)cap * sizeof(char *));
            HPFF_CHECK(grown != NULL, "out of memory listing %s", dir);
            *out = grown;
        }
        (*out)[(*count)++] = hpff_conv_strdup(e->d_name);
    }
    closedir(d);
    if (*count) qsort(*out, (size_t)*count, sizeof(char *), hpff_conv_cmp_str);
    return hpff_status_ok();
}

void hpff_conv_free_list(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}
