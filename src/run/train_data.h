// train_data.h — the trainer's data: rank 0 opens the dataset files and their loaders; every
// rank learns the shapes, sizes and normalisation it needs (the later ranks read no files).
#ifndef HPFF_TRAIN_DATA_H
#define HPFF_TRAIN_DATA_H
#include "config.h"
#include "loader.h"
#include "world.h"
#ifdef __cplusplus
extern "C" {
#endif

// What every rank must know about the data (broadcast from rank 0).
typedef struct hpff_data_info {
    int ok;
    char err[512];
    int c, h, w, classes;
    int train_batches, test_batches;
    long n_train, n_test;
    float mean[4], std[4];
    char augment[16];
} hpff_data_info;

// Rank 0's datasets and loaders (empty on other ranks).
typedef struct hpff_train_data {
    hpff_dataset train, test;
    hpff_loader *train_ld, *test_ld;
} hpff_train_data;

// Collective: rank 0 opens data.train_file / data.test_file and the loaders; every rank gets
// *info. Returns 0, or 2 after rank 0 printed what is wrong.
int hpff_train_data_open(const hpff_config *c, const hpff_world *w, hpff_train_data *d, hpff_data_info *info);
void hpff_train_data_close(hpff_train_data *d);

#ifdef __cplusplus
}
#endif
#endif
