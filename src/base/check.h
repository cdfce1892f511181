// check.h — the one error path. Every fatal condition ends in hpff_fatal(), which prints
// rank, host, file:line, the failing statement and a message, then aborts the whole MPI job
// (never exit() in a single rank: that hangs the others).
#ifndef HPFF_CHECK_H
#define HPFF_CHECK_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif

// Prints the message and ends every rank (MPI_Abort when MPI is up, exit(1) otherwise).
_Noreturn void hpff_fatal(const char *file, int line, const char *stmt, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
// Registers the abort hook used once MPI is initialised (set by the mpi transport).
void hpff_set_abort_hook(void (*hook)(int code));
// The rank printed in messages (-1 before MPI is up).
void hpff_set_rank(int rank);
int hpff_get_rank(void);
// Allocation that cannot fail silently.
void *hpff_xmalloc(size_t bytes);
void *hpff_xcalloc(size_t count, size_t size);

#define HPFF_CHECK(cond, ...)                                                  \
    do {                                                                       \
        if (!(cond)) hpff_fatal(__FILE__, __LINE__, #cond, __VA_ARGS__);       \
    } while (0)

// Recoverable errors: functions return an hpff_status; the message is in the buffer.
typedef struct hpff_status {
    int code;           // 0 = ok
    char msg[512];
} hpff_status;
// Sets code 1 and formats msg; returns its argument for `return hpff_status_fail(...)`.
hpff_status hpff_status_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline hpff_status hpff_status_ok(void) { hpff_status s; s.code = 0; s.msg[0] = 0; return s; }

#ifdef __cplusplus
}
#endif
#endif
