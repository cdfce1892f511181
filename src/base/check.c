// check.c — fatal-error reporting and checked allocation.
#include "check.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void (*g_abort_hook)(int) = NULL;
static int g_rank = -1;

void hpff_set_abort_hook(void (*hook)(int code)) { g_abort_hook = hook; }
void hpff_set_rank(int rank) { g_rank = rank; }
int hpff_get_rank(void) { return g_rank; }

_Noreturn void hpff_fatal(const char *file, int line, const char *stmt, const char *fmt, ...) {
    char host[64] = "?";
    gethostname(host, sizeof host - 1);
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (g_rank >= 0)
        fprintf(stderr, "hpff_pipe: error on rank %d (%s): %s\n  at %s:%d: %s\n", g_rank, host,
                msg, file, line, stmt);
    else
        fprintf(stderr, "hpff_pipe: error: %s\n  at %s:%d: %s\n", msg, file, line, stmt);
    fflush(stderr);
    if (g_abort_hook) g_abort_hook(1);
    exit(1);
}

void *hpff_xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    HPFF_CHECK(p != NULL, "out of host memory allocating %zu bytes", bytes);
    return p;
}

void *hpff_xcalloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    HPFF_CHECK(p != NULL, "out of host memory allocating %zu x %zu bytes", count, size);
    return p;
}

hpff_status hpff_status_fail(const char *fmt, ...) {
    hpff_status s;
    s.code = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s.msg, sizeof s.msg, fmt, ap);
    va_end(ap);
    return s;
}
