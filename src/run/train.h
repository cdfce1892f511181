// train.h — the training run: data (rank 0), model and stage per rank, epochs, learning-rate
// schedule, progress lines, metrics, evaluation, checkpoints and the final summary.
#ifndef HPFF_TRAIN_H
#define HPFF_TRAIN_H
#include "config.h"
#include "world.h"
#ifdef __cplusplus
extern "C" {
#endif

// Learning rate of 0-based epoch e of E (ALGORITHM §6).
float hpff_lr_at(const hpff_config *c, int epoch);
// Runs training; resume_dir (or NULL) holds checkpoints to continue from. Returns the exit code.
int hpff_train_run(const hpff_config *cfg, const hpff_world *w, const char *resume_dir);

#ifdef __cplusplus
}
#endif
#endif
