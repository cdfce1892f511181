// ckpt.h — checkpoints (HDF5, seam 9). Each pipeline stage writes <dir>/step-NNNNNNNNN/rank<S>.h5
// atomically (temporary file + rename) with its arenas (parameters, momentum, BN state), the
// tensor table, the position in training and the effective config; after every stage has
// written, rank 0 adds the COMPLETE marker. With replicas of the pipeline (grid.h) replica 0's
// ranks write (the parameters are the same on every replica); the file also holds every
// replica's BN statistics and the replica count. Every dataset carries a Fletcher-32 checksum and the
// file's metadata its own checksums; resume takes the newest complete step whose files all read
// back intact, falling back to the previous complete one.
#ifndef HPFF_CKPT_H
#define HPFF_CKPT_H
#include <stdio.h>
#include "check.h"
#include "config.h"
#include "stage.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hpff_ckpt_pos {
    long step;          // optimizer steps done
    int epoch;          // epoch to continue in (0-based)
    int batch;          // next batch of that epoch
    double best_err;    // best test error so far (-1: none)
    int best_epoch;
    double wall;        // training seconds so far
    int replicas;       // replicas that read the epoch's batches so far (1 without replicas)
} hpff_ckpt_pos;

// Writes stage `rank`'s file (of `size` stages) of checkpoint `pos.step` under dir (creating
// folders). `ranges` is the whole pipeline's partition ("0-7,8-14"), kept for resuming;
// bn_replicas (or NULL): every replica's BN statistics, (pos->replicas, state floats) on the host.
hpff_status hpff_ckpt_write_rank(const char *dir, const hpff_stage *s, const hpff_config *cfg,
                                 const hpff_ckpt_pos *pos, int rank, int size, const char *ranges,
                                 const float *bn_replicas);
// Rank 0, after all ranks wrote: marks the step complete and keeps the newest `keep` steps.
hpff_status hpff_ckpt_mark_complete(const char *dir, long step, int keep);
// Newest complete step under dir, or -1.
long hpff_ckpt_latest(const char *dir);
// Steps under dir (complete ones only when complete_only), newest first: fills up to `max`
// entries of `steps` (may be NULL with max 0) and returns how many there are.
int hpff_ckpt_list(const char *dir, long *steps, int max, int complete_only);
// Removes every step folder under dir.
void hpff_ckpt_remove_all(const char *dir);
// Reads every rank file of `step` whole (checksums verified, attributes readable); 0 with the
// file and reason in `why` when one is missing, truncated or corrupt. On success `why` is empty,
// or says that the files predate checksums.
int hpff_ckpt_verify(const char *dir, long step, char *why, size_t n);
// The newest complete step whose files verify, for resuming. Damaged newer steps are reported
// on `log` and renamed to damaged-step-N (so they are never taken again); -1 when there is no
// complete step, -2 when every complete step is damaged.
long hpff_ckpt_latest_intact(const char *dir, FILE *log);
// Refuses a checkpoint whose stored configuration differs from cfg in a model-defining key,
// naming the keys (before the plan, so a changed local.K is reported as such).
hpff_status hpff_ckpt_check_config(const char *dir, long step, const hpff_config *cfg);
// The pipeline's module ranges ("0-7,8-14") stored with checkpoint `step`; "" if absent.
void hpff_ckpt_read_ranges(const char *dir, long step, char *ranges, size_t n);
// Loads stage `rank`'s file (of `size` stages) of `step` into the model of replica `replica`
// (its own BN statistics where the file has them, else replica 0's); refuses a different stage
// count, partition, tensor layout or model-defining config, naming what differs. pos->replicas is
// the replica count that wrote it; an owed delayed boundary gradient is marked averaged.
hpff_status hpff_ckpt_read_rank(const char *dir, long step, hpff_stage *s, const hpff_config *cfg,
                                int rank, int size, int replica, hpff_ckpt_pos *pos);
// Loads the tensors the registries name (parameters into p, BN statistics into st, device arenas)
// from every rank file of checkpoint `step`, whatever partition and rank count wrote it; tensors
// the registries do not name (local heads, when only the backbone is wanted) are skipped. Fails
// naming a tensor that is in no file, in several, or of another size. *ranks: the rank count.
hpff_status hpff_ckpt_load_named(const char *dir, long step, const hpff_registry *params, float *p,
                                 const hpff_registry *state, float *st, hpff_backend *be, int *ranks);

#ifdef __cplusplus
}
#endif
#endif
