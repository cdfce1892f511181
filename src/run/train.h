// train.h — the training run: data (rank 0), model and stage per rank, epochs, learning-rate
// schedule, progress lines, metrics, evaluation, checkpoints and the final summary. The run's
// state is shared by train.c (the run itself), train_plan.c (the pipeline plan at start-up) and
// train_report.c (progress lines, metrics records, summaries).
#ifndef HPFF_TRAIN_H
#define HPFF_TRAIN_H
#include "backend.h"
#include "ckpt.h"
#include "config.h"
#include "grid.h"
#include "metrics.h"
#include "model.h"
#include "plan.h"
#include "reducer.h"
#include "replicas.h"
#include "rundir.h"
#include "stage.h"
#include "train_data.h"
#include "transport.h"
#include "world.h"
#ifdef __cplusplus
extern "C" {
#endif

// Running sums of the steps of one log window, of the epoch or of the whole run.
typedef struct hpff_window {
    double t0, loss, busy, wait_down, wait_up, wait_send, data, reduce;
    long imgs, correct, steps;
} hpff_window;

typedef struct hpff_run {
    const hpff_config *cfg;
    const hpff_world *w;
    hpff_grid grid;             // S stages x R replicas; this rank's place
    char resumed[1024];         // module ranges of the checkpoint being resumed ("" if none)
    hpff_train_data data;       // the first stage of every replica
    hpff_data_info info;        // every rank
    hpff_backend *be;
    hpff_plan plan;             // one range per stage
    hpff_reducer *reducer;      // replicas: the gradient averages (NULL for one replica)
    hpff_replicas reps;         // replicas: checksum check, BN statistics for evaluation/checkpoints
    long eval_images;           // test images of the last evaluation, every replica's
    hpff_model md;
    hpff_transport *tr;
    hpff_stage stage;
    hpff_metrics *mt;
    float *x;                   // (batch, c, h, w) host batch (rank 0)
    int32_t *y;                 // (batch)
    char ckpt_dir[512];
    hpff_ckpt_pos pos;
    long resume_step;           // the checkpoint being resumed, -1 for a fresh start
    hpff_rundir_lock lock;      // rank 0: train.run_dir is this run's
    hpff_vote *vote;            // the pre-emption vote, one call per step
    int stop_sig;               // the signal every rank agreed to stop for (0: none)
    long saved_step;            // the step of the last checkpoint written (-1: none)
    double t_start;
    hpff_window total, epoch;   // the whole run, the current epoch
} hpff_run;

// Learning rate of 0-based epoch e of E (ALGORITHM §6).
float hpff_lr_at(const hpff_config *c, int epoch);
// Runs training; resume_dir (or NULL) holds checkpoints to continue from; `overwrite` lets a
// fresh start delete the checkpoints of an earlier run in train.run_dir. Returns the exit code.
int hpff_train_run(const hpff_config *cfg, const hpff_world *w, const char *resume_dir, int overwrite);

#ifdef __cplusplus
}
#endif
#endif
