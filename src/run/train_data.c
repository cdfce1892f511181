// train_data.c — the trainer's data (train_data.h).
#include "train_data.h"
#include <stdio.h>
#include <string.h>

static hpff_status open_data(const hpff_config *c, hpff_train_data *d, hpff_data_info *info) {
    const char *test_file = c->test_file[0] ? c->test_file : c->train_file;
    hpff_status st = hpff_dataset_load(c->train_file, "train", &d->train);
    if (st.code) return st;
    st = hpff_dataset_load(test_file, "test", &d->test);
    if (st.code) return st;
    st = hpff_dataset_check_compatible(&d->train, &d->test);
    if (st.code) return st;
    for (int i = 0; i < 4; i++) {   // test images are normalised like the training images
        d->test.mean[i] = d->train.mean[i];
        d->test.std[i] = d->train.std[i];
    }
    hpff_loader_opts tr = {hpff_config_enum_name(c, &c->augment), c->pad_to, c->batch, c->loader_threads,
                           (uint64_t)c->seed, 1};
    hpff_loader_opts te = tr;
    te.shuffle = 0;
    if ((st = hpff_loader_check(&d->train, &tr)).code) return st;
    if ((st = hpff_loader_check(&d->test, &te)).code) return st;
    d->train_ld = hpff_loader_create(&d->train, &tr);
    d->test_ld = hpff_loader_create(&d->test, &te);
    hpff_loader_shape(d->train_ld, &info->c, &info->h, &info->w);
    info->classes = d->train.classes;
    info->train_batches = hpff_loader_batches(d->train_ld);
    info->test_batches = hpff_loader_batches(d->test_ld);
    info->n_train = d->train.n;
    info->n_test = d->test.n;
    for (int i = 0; i < 4; i++) { info->mean[i] = d->train.mean[i]; info->std[i] = d->train.std[i]; }
    snprintf(info->augment, sizeof info->augment, "%s", hpff_loader_augment(d->train_ld));
    return hpff_status_ok();
}

void hpff_train_data_close(hpff_train_data *d) {
    if (d->train_ld) hpff_loader_destroy(d->train_ld);
    if (d->test_ld) hpff_loader_destroy(d->test_ld);
    if (d->train.images) hpff_dataset_free(&d->train);
    if (d->test.images) hpff_dataset_free(&d->test);
}

int hpff_train_data_open(const hpff_config *c, const hpff_world *w, hpff_train_data *d, hpff_data_info *info) {
    if (w->rank == 0) {
        hpff_status st = open_data(c, d, info);
        info->ok = !st.code;
        snprintf(info->err, sizeof info->err, "%s", st.msg);
    }
    hpff_world_bcast(w, info, sizeof *info, 0);
    if (info->ok) return 0;
    if (w->rank == 0) fprintf(stderr, "hpff_pipe: %s\n", info->err);
    return 2;
}
