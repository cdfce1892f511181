// datasrc.h — the trainer's data: the train and test loaders for a configuration, over a pixel
// dataset (data.h) or an encoded-JPEG dataset (jpegds.h), recognised by the root attribute
// format = "jpeg" of the train file (datasets/README.md). Replica `replica` of `replicas`
// reads its share of every epoch (sampler.h: padded for training, exact for evaluation).
#ifndef HPFF_DATASRC_H
#define HPFF_DATASRC_H
#include "config.h"
#include "data.h"
#include "jpegds.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hpff_datasrc {
    int jpeg;                   // 1: encoded-JPEG layout
    hpff_dataset train, test;   // pixel layout
    hpff_jpegds jtrain, jtest;  // encoded-JPEG layout
    hpff_loader *train_ld, *test_ld;
    int c, h, w, classes;       // one sample (c, h, w) after the transforms
    long n_train, n_test;       // images in the files
    float mean[4], std[4];      // normalisation of both splits (the train file's)
    char augment[16];           // the training augmentation in use
} hpff_datasrc;

// Opens both splits and starts both loaders. Errors name the file or key and what is accepted.
hpff_status hpff_datasrc_open(const hpff_config *c, int replica, int replicas, hpff_datasrc *d);
void hpff_datasrc_close(hpff_datasrc *d);

#ifdef __cplusplus
}
#endif
#endif
