// ledger.c — named device buffers (see ledger.h).
#include "ledger.h"
#include <string.h>
#include "check.h"
#include "sizes.h"

void hpff_ledger_init(hpff_ledger *l, hpff_backend *be, int sizing) {
    memset(l, 0, sizeof *l);
    l->be = be;
    l->sizing = sizing;
}

void *hpff_ledger_alloc(hpff_ledger *l, const char *name, size_t bytes) {
    HPFF_CHECK(l->n < HPFF_LEDGER_MAX, "more than %d buffers in one ledger (adding '%s')", HPFF_LEDGER_MAX, name);
    hpff_ledger_entry *e = &l->e[l->n++];
    e->name = name;
    e->bytes = bytes;
    e->p = l->sizing ? NULL : l->be->alloc(l->be, bytes);
    return e->p;
}

float *hpff_ledger_floats(hpff_ledger *l, const char *name, size_t floats) {
    return hpff_ledger_alloc(l, name, hpff_zmax(floats, 16) * sizeof(float));
}

size_t hpff_ledger_bytes(const hpff_ledger *l) {
    size_t b = 0;
    for (int i = 0; i < l->n; i++) b += l->e[i].bytes;
    return b;
}

void hpff_ledger_free(hpff_ledger *l) {
    for (int i = 0; i < l->n; i++)
        if (l->e[i].p) l->be->free(l->be, l->e[i].p);
    l->n = 0;
}

// Bytes and buffers of role `name` over the ledgers.
static size_t role_bytes(const hpff_ledger *const *ls, int n, const char *name, int *count) {
    size_t bytes = 0;
    *count = 0;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < ls[j]->n; i++)
            if (strcmp(ls[j]->e[i].name, name) == 0) {
                bytes += ls[j]->e[i].bytes;
                (*count)++;
            }
    return bytes;
}

// 1 when `name` was recorded before entry i of ledger j.
static int seen_before(const hpff_ledger *const *ls, int j, int i, const char *name) {
    for (int a = 0; a <= j; a++)
        for (int b = 0; b < (a < j ? ls[a]->n : i); b++)
            if (strcmp(ls[a]->e[b].name, name) == 0) return 1;
    return 0;
}

void hpff_ledger_report(const hpff_ledger *const *ls, int n, FILE *f) {
    size_t total = 0;
    for (int j = 0; j < n; j++) total += hpff_ledger_bytes(ls[j]);
    for (int j = 0; j < n; j++)
        for (int i = 0; i < ls[j]->n; i++) {
            const char *name = ls[j]->e[i].name;
            if (seen_before(ls, j, i, name)) continue;
            int count;
            size_t bytes = role_bytes(ls, n, name, &count);
            fprintf(f, "  %-26s %3d x %10.1f MiB = %8.1f MiB (%4.1f%%)\n", name, count,
                    bytes / (double)count / 1048576.0, bytes / 1048576.0, total ? 100.0 * bytes / total : 0.0);
        }
    fprintf(f, "  %-26s                      %8.1f MiB\n", "total", total / 1048576.0);
}
