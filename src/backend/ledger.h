// ledger.h — the named device buffers one owner allocates through a backend, sized before the
// first step. The ledger records each buffer's role and bytes (memory reports, the plan's
// memory column) and frees them together. A sizing ledger records without allocating: the same
// code that allocates a rank's buffers also counts them for a rank that is only planned.
#ifndef HPFF_LEDGER_H
#define HPFF_LEDGER_H
#include <stddef.h>
#include <stdio.h>
#include "backend.h"
#ifdef __cplusplus
extern "C" {
#endif

#define HPFF_LEDGER_MAX 40
typedef struct hpff_ledger_entry {
    const char *name;   // role, e.g. "module activations" (a string literal)
    size_t bytes;
    void *p;            // NULL in a sizing ledger
} hpff_ledger_entry;

typedef struct hpff_ledger {
    hpff_backend *be;
    int sizing;         // 1: record only
    int n;
    hpff_ledger_entry e[HPFF_LEDGER_MAX];
} hpff_ledger;

void hpff_ledger_init(hpff_ledger *l, hpff_backend *be, int sizing);
// Records a buffer of `bytes` and allocates it (zero-filled) unless the ledger is sizing.
void *hpff_ledger_alloc(hpff_ledger *l, const char *name, size_t bytes);
// A float buffer of at least 16 floats (a buffer is never empty; 64-byte multiple).
float *hpff_ledger_floats(hpff_ledger *l, const char *name, size_t floats);
size_t hpff_ledger_bytes(const hpff_ledger *l);
// Frees every buffer and empties the ledger.
void hpff_ledger_free(hpff_ledger *l);
// One line per role over n ledgers (buffers of one name summed, in the order first recorded):
// count, size, share of the total; then the total.
void hpff_ledger_report(const hpff_ledger *const *ls, int n, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
