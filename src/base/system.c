// system.c — what the program asks of the operating system (see system.h).
#include "system.h"
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

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
