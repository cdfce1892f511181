// ckpt.h — checkpoints (HDF5, seam 9). Each rank writes <dir>/step-NNNNNNNNN/rank<R>.h5
// atomically (temporary file + rename) with its arenas (parameters, momentum, BN state), the
// tensor table, the position in training and the effective config; after every rank has
// written, rank 0 adds the COMPLETE marker. Resume takes the newest complete step.
#ifndef HPFF_CKPT_H
#define HPFF_CKPT_H
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
} hpff_ckpt_pos;

// Writes this rank's file of checkpoint `pos.step` under dir (creating folders).
// `ranges` is the whole pipeline's partition ("0-7,8-14"), kept for resuming.
hpff_status hpff_ckpt_write_rank(const char *dir, const hpff_stage *s, const hpff_config *cfg,
                                 const hpff_ckpt_pos *pos, int rank, int size, const char *ranges);
// Rank 0, after all ranks wrote: marks the step complete and keeps the newest `keep` steps.
hpff_status hpff_ckpt_mark_complete(const char *dir, long step, int keep);
// Newest complete step under dir, or -1.
long hpff_ckpt_latest(const char *dir);
// The pipeline's module ranges ("0-7,8-14") stored with checkpoint `step`; "" if absent.
void hpff_ckpt_read_ranges(const char *dir, long step, char *ranges, size_t n);
// Loads this rank's file of `step` into the model; refuses a different rank count, partition,
// tensor layout or model-defining config, naming what differs.
hpff_status hpff_ckpt_read_rank(const char *dir, long step, hpff_stage *s, const hpff_config *cfg,
                                int rank, int size, hpff_ckpt_pos *pos);
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
