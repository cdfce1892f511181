// rundir.c — the run-dir lock (flock on <run_dir>/LOCK, held by rank 0) and the fresh-start
// rule (no silent mixing of a new run's checkpoints with an old run's).
#include "rundir.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "ckpt.h"
#include "metrics.h"

// What the holder wrote in the lock file ("host H, PID P, since T"), or "unknown holder".
static void read_holder(int fd, char *buf, size_t n) {
    char raw[256] = "";
    ssize_t got = pread(fd, raw, sizeof raw - 1, 0);
    raw[got > 0 ? got : 0] = 0;
    raw[strcspn(raw, "\n")] = 0;
    snprintf(buf, n, "%s", raw[0] ? raw : "a holder that wrote no host and PID");
}

static void write_holder(int fd) {
    char host[128] = "?", line[320], when[64] = "?";
    gethostname(host, sizeof host - 1);
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    int len = snprintf(line, sizeof line, "host %s, PID %ld, since %s\n", host, (long)getpid(), when);
    if (ftruncate(fd, 0) == 0 && pwrite(fd, line, (size_t)len, 0) == len) return;
    fprintf(stderr, "hpff_pipe: warning: cannot record the holder in the run-dir lock: %s\n", strerror(errno));
}

hpff_status hpff_rundir_lock_take(hpff_rundir_lock *l, const char *run_dir) {
    l->fd = -1;
    char path[4200];
    if (hpff_mkdir_p(run_dir) != 0)
        return hpff_status_fail("cannot create train.run_dir '%s': %s", run_dir, strerror(errno));
    snprintf(path, sizeof path, "%s/LOCK", run_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return hpff_status_fail("cannot open the run-dir lock '%s': %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        if (err == EWOULDBLOCK) {
            char who[256];
            read_holder(fd, who, sizeof who);
            close(fd);
            return hpff_status_fail("train.run_dir '%s' is in use by another run (%s; lock %s); wait for it "
                                    "to end or choose another train.run_dir", run_dir, who, path);
        }
        // A file system without locks (some network mounts): say so and go on unlocked.
        fprintf(stderr, "hpff_pipe: warning: cannot lock '%s' (%s); make sure no other run uses %s\n", path,
                strerror(err), run_dir);
        close(fd);
        return hpff_status_ok();
    }
    write_holder(fd);
    l->fd = fd;
    return hpff_status_ok();
}

void hpff_rundir_lock_release(hpff_rundir_lock *l) {
    if (l->fd < 0) return;
    ssize_t rc = ftruncate(l->fd, 0);   // no holder any more
    (void)rc;
    close(l->fd);   // drops the flock
    l->fd = -1;
}

int hpff_rundir_count_steps(const char *run_dir) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/checkpoints", run_dir);
    return hpff_ckpt_list(dir, NULL, 0, 0);
}

static void remove_metrics(const char *run_dir) {
    DIR *d = opendir(run_dir);
    if (!d) return;
    struct dirent *e;
    char p[4400];
    while ((e = readdir(d))) {
        int rank;
        char rest;
        int ours = strcmp(e->d_name, "metrics.jsonl") == 0 ||
                   sscanf(e->d_name, "metrics.rank%d.jsonl%c", &rank, &rest) == 1;
        if (!ours) continue;
        snprintf(p, sizeof p, "%s/%s", run_dir, e->d_name);
        unlink(p);
    }
    closedir(d);
}

hpff_status hpff_rundir_prepare_fresh(const char *run_dir, const char *overwrite) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/checkpoints", run_dir);
    int n = hpff_ckpt_list(dir, NULL, 0, 0);
    if (n > 0 && !overwrite) {
        long newest = hpff_ckpt_latest(dir);
        char at[64] = "none of them complete";
        if (newest >= 0) snprintf(at, sizeof at, "newest complete: step %ld", newest);
        return hpff_status_fail("train.run_dir '%s' already holds %d checkpoint%s (%s) of an earlier run: "
                                "continue it with --resume %s (or train.resume = auto), or start afresh "
                                "with --overwrite, which deletes them", run_dir, n, n == 1 ? "" : "s", at,
                                run_dir);
    }
    if (!overwrite) return hpff_status_ok();
    if (n > 0) printf("hpff_pipe: %s: removing %d checkpoint folder%s and the metrics of the earlier run in %s\n",
                      overwrite, n, n == 1 ? "" : "s", run_dir);
    hpff_ckpt_remove_all(dir);
    remove_metrics(run_dir);
    return hpff_status_ok();
}

hpff_status hpff_rundir_check_ckpt_path(const char *run_dir) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/checkpoints", run_dir);
    struct stat st;
    if (lstat(dir, &st) != 0) {
        if (errno == ENOENT) return hpff_status_ok();
        return hpff_status_fail("cannot use the checkpoint folder '%s': %s", dir, strerror(errno));
    }
    if (S_ISLNK(st.st_mode) && stat(dir, &st) != 0)
        return hpff_status_fail("the checkpoint folder '%s' is a dangling symbolic link", dir);
    if (!S_ISDIR(st.st_mode))
        return hpff_status_fail("the checkpoint folder '%s' exists but is not a directory; move it away or "
                                "choose another train.run_dir", dir);
    if (access(dir, W_OK | X_OK) != 0)
        return hpff_status_fail("the checkpoint folder '%s' is not writable: %s", dir, strerror(errno));
    return hpff_status_ok();
}
