// rundir.h — a run directory is owned by one run: rank 0 holds an exclusive flock(2) on
// <run_dir>/LOCK for the whole run (released by the kernel when the process ends, however it
// ends) with the holder's host and PID written in it; a second run is refused naming them. A
// fresh start in a run dir that holds checkpoints is refused unless the user asks to overwrite.
#ifndef HPFF_RUNDIR_H
#define HPFF_RUNDIR_H
#include "check.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hpff_rundir_lock {
    int fd;   // -1 when not held
} hpff_rundir_lock;

// Creates run_dir if needed and takes its lock; fails naming the holder's host and PID.
hpff_status hpff_rundir_lock_take(hpff_rundir_lock *l, const char *run_dir);
// Releases the lock (the file stays; removing it would race with a run taking it).
void hpff_rundir_lock_release(hpff_rundir_lock *l);
// Number of checkpoint steps (complete or not) under <run_dir>/checkpoints.
int hpff_rundir_count_steps(const char *run_dir);
// Starting afresh in run_dir: refused when it holds checkpoints, unless `overwrite` (the reason,
// e.g. "--overwrite", or NULL), which removes them and the old metrics files first: the new
// run's steps must not mix with them.
hpff_status hpff_rundir_prepare_fresh(const char *run_dir, const char *overwrite);
// Checks that <run_dir>/checkpoints is a directory or absent (creatable), at start.
hpff_status hpff_rundir_check_ckpt_path(const char *run_dir);

#ifdef __cplusplus
}
#endif
#endif
