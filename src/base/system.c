// system.c — what the program asks of the operating system (see system.h).
#include "system.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

double hpff_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

size_t hpff_peak_rss_bytes(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (size_t)ru.ru_maxrss * 1024;   // Linux reports kilobytes
}

void hpff_format_duration(double seconds, char *buf, size_t n) {
    if (n == 0) return;
    if (!(seconds >= 0) || !isfinite(seconds)) {
        snprintf(buf, n, "?");
        return;
    }
    long long t = (long long)floor(seconds + 0.5);
    if (t < 60)
        snprintf(buf, n, "%llds", t);
    else if (t < 3600)
        snprintf(buf, n, "%lldm%02llds", t / 60, t % 60);
    else
        snprintf(buf, n, "%lldh%02lldm", t / 3600, (t / 60) % 60);
}

static int mkdir_one(const char *path) {
    if (mkdir(path, 0777) == 0) return 0;
    int err = errno;
    struct stat st;
    if (err == EEXIST && stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return 0;
        err = ENOTDIR;
    }
    errno = err;
    return -1;
}

int hpff_mkdir_p(const char *path) {
    if (!path || !*path) {
        errno = EINVAL;
        return -1;
    }
    char buf[PATH_MAX];
    size_t len = strlen(path);
    if (len >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, len + 1);
    while (len > 1 && buf[len - 1] == '/') buf[--len] = 0;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/' || p[-1] == '/') continue;
        *p = 0;
        int rc = mkdir_one(buf);
        *p = '/';
        if (rc != 0) return -1;
    }
    return mkdir_one(buf);
}

hpff_status hpff_write_file_atomic(const char *path, const void *data, size_t len) {
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return hpff_status_fail("path too long: %s", path);
    unlink(tmp);   // a leftover of a killed writer (the link itself, never its target)
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return hpff_status_fail("cannot create '%s': %s", tmp, strerror(errno));
    const char *p = data;
    size_t done = 0;
    int err = 0;
    while (done < len && !err) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno != EINTR) err = errno;
        if (w > 0) done += (size_t)w;
    }
    if (!err && fsync(fd) != 0) err = errno;
    if (close(fd) != 0 && !err) err = errno;
    if (!err && rename(tmp, path) != 0) err = errno;
    if (err) {
        unlink(tmp);
        return hpff_status_fail("cannot write '%s': %s", path, strerror(err));
    }
    return hpff_status_ok();
}
