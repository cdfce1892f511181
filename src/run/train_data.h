// train_data.h — the trainer's data: the first stage of every replica of the pipeline opens the
// dataset files and loaders for its share of each epoch (sampler.h); every rank learns the
// shapes, sizes and normalisation it needs (the later stages read no files). The train file's
// root attribute format = "jpeg" selects the encoded-JPEG layout (jpegds.h, its loader
// jpeg_loader.h); without it the pixel layout (dataset.h, loader.h) is read.
#ifndef HPFF_TRAIN_DATA_H
#define HPFF_TRAIN_DATA_H
#include "config.h"
#include "grid.h"
#include "jpegds.h"
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
    int train_batches, test_batches;   // per replica: the same train count on every replica
                                       //   (padded shares), this replica's test count
    long n_train, n_test;
    float mean[4], std[4];
    char augment[16];
} hpff_data_info;

// The datasets and loaders of a replica's first stage (empty on other ranks).
typedef struct hpff_train_data {
    int jpeg;                   // 1: the encoded-JPEG layout
    hpff_dataset train, test;   // pixel layout
    hpff_jpegds jtrain, jtest;  // encoded-JPEG layout
    hpff_loader *train_ld, *test_ld;
} hpff_train_data;

// Collective: the first stage of every replica of g opens data.train_file / data.test_file and
// loaders for its share (padded for training, exact for evaluation); every rank gets *info (rank
// 0's, with this replica's test batches). Returns 0, or 2 after the failing ranks printed what is
// wrong.
int hpff_train_data_open(const hpff_config *c, const hpff_world *w, const hpff_grid *g, hpff_train_data *d,
                         hpff_data_info *info);
void hpff_train_data_close(hpff_train_data *d);

#ifdef __cplusplus
}
#endif
#endif
