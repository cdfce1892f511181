// enospc_shim.c — fault injection for the trainer tests (LD_PRELOAD): every write to a file
// whose path contains $HPFF_ENOSPC_MATCH fails with ENOSPC, as on a full disk; every write to a
// file whose path contains $HPFF_SLOW_MATCH first sleeps 50 ms, as on a slow or busy disk (so a
// test can signal a process while it writes a checkpoint). Files opened through
// open/open64/openat/creat are tracked (HDF5 and the trainer's own writers use them).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum { MAX_FD = 65536 };
static unsigned char g_full[MAX_FD];

enum { FULL = 1, SLOW = 2 };

static int matches(const char *var, const char *path) {
    const char *m = getenv(var);
    return m && *m && path && strstr(path, m) != NULL;
}

static void track(int fd, const char *path) {
    if (fd >= 0 && fd < MAX_FD)
        g_full[fd] = (unsigned char)((matches("HPFF_ENOSPC_MATCH", path) ? FULL : 0) |
                                     (matches("HPFF_SLOW_MATCH", path) ? SLOW : 0));
}

// Whether a write to fd must fail; a slow file's write waits first.
static int is_full(int fd) {
    if (fd < 0 || fd >= MAX_FD) return 0;
    if (g_full[fd] & SLOW) {
        struct timespec t = {0, 50 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    return g_full[fd] & FULL;
}

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*writev_fn)(int, const struct iovec *, int);
typedef int (*close_fn)(int);
#define REAL(name, type) static type real_##name; if (!real_##name) real_##name = (type)dlsym(RTLD_NEXT, #name)

static mode_t mode_arg(int flags, va_list ap) {
    return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...) {
    REAL(open, open_fn);
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    int fd = real_open(path, flags, mode);
    track(fd, path);
    return fd;
}

int open64(const char *path, int flags, ...) {
    REAL(open64, open_fn);
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    int fd = real_open64(path, flags, mode);
    track(fd, path);
    return fd;
}

int openat(int dirfd, const char *path, int flags, ...) {
    REAL(openat, openat_fn);
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    int fd = real_openat(dirfd, path, flags, mode);
    track(fd, path);
    return fd;
}

int creat(const char *path, mode_t mode) { return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode); }

ssize_t write(int fd, const void *buf, size_t n) {
    REAL(write, write_fn);
    if (is_full(fd) && n > 0) { errno = ENOSPC; return -1; }
    return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
    REAL(pwrite, pwrite_fn);
    if (is_full(fd) && n > 0) { errno = ENOSPC; return -1; }
    return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) {
    REAL(pwrite64, pwrite_fn);
    if (is_full(fd) && n > 0) { errno = ENOSPC; return -1; }
    return real_pwrite64(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt) {
    REAL(writev, writev_fn);
    if (is_full(fd) && cnt > 0) { errno = ENOSPC; return -1; }
    return real_writev(fd, iov, cnt);
}

int close(int fd) {
    REAL(close, close_fn);
    if (fd >= 0 && fd < MAX_FD) g_full[fd] = 0;
    return real_close(fd);
}
