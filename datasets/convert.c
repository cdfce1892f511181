// convert.c — the format table of hpff_data and helpers shared by the readers.
#include "convert.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
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

hpff_status hpff_conv_file_size(const char *path, long long *size) {
    struct stat st;
    if (stat(path, &st) != 0) return hpff_status_fail("%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return hpff_status_fail("%s: not a regular file", path);
    *size = (long long)st.st_size;
    return hpff_status_ok();
}

hpff_status hpff_conv_fopen(const char *path, FILE **f) {
    *f = fopen(path, "rb");
    if (!*f) return hpff_status_fail("cannot open %s: %s", path, strerror(errno));
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

static char *dup_str(const char *s) {
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
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!*line) continue;
        if (n == info->classes) { n++; break; }
        names[n++] = dup_str(line);
    }
    if (f) fclose(f);
    if (n != info->classes) {
        if (f) fprintf(stderr, "note: %s does not list %d class names; using the built-in ones\n",
                       path, info->classes);
        for (int i = 0; i < n && i < info->classes; i++) free(names[i]);
        if (!fallback) { free(names); return; }
        for (int i = 0; i < info->classes; i++) names[i] = dup_str(fallback[i]);
    }
    info->class_names = names;
}
