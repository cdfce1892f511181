// train_data.c — the trainer's data (train_data.h): the pixel or the encoded-JPEG layout.
#include "train_data.h"
#include <stdio.h>
#include <string.h>
#ifdef HPFF_JPEG
#include "jpeg_loader.h"
#endif

static const char *test_path(const hpff_config *c) {
    return c->test_file[0] ? c->test_file : c->train_file;
}

static hpff_status open_pixels(const hpff_config *c, hpff_share share, hpff_train_data *d,
                               hpff_data_info *info) {
    if (c->augment == HPFF_AUGMENT_IMAGENET)
        return hpff_status_fail("data.augment = imagenet needs an encoded-JPEG dataset (hpff_data "
                                "imagenet); %s holds decoded pixels", c->train_file);
    hpff_status st = hpff_dataset_load(c->train_file, "train", &d->train);
    if (!st.code) st = hpff_dataset_load(test_path(c), "test", &d->test);
    if (!st.code) st = hpff_dataset_check_compatible(&d->train, &d->test);
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
    d->train_ld = hpff_loader_create_share(&d->train, &tr, share);
    share.pad = 0;
    d->test_ld = hpff_loader_create_share(&d->test, &te, share);
    info->classes = d->train.classes;
    info->n_train = d->train.n;
    info->n_test = d->test.n;
    for (int i = 0; i < 4; i++) { info->mean[i] = d->train.mean[i]; info->std[i] = d->train.std[i]; }
    return hpff_status_ok();
}

#ifdef HPFF_JPEG
static hpff_status open_jpeg(const hpff_config *c, hpff_share share, hpff_train_data *d,
                             hpff_data_info *info) {
    int train_aug = c->augment == HPFF_AUGMENT_AUTO || c->augment == HPFF_AUGMENT_IMAGENET;
    if (!train_aug && c->augment != HPFF_AUGMENT_NONE)
        return hpff_status_fail("data.augment = %s applies to pixel datasets; %s holds encoded JPEGs "
                                "(use imagenet, auto or none)", hpff_config_enum_name(c, &c->augment),
                                c->train_file);
    hpff_status st = hpff_jpegds_open(c->train_file, "train", &d->jtrain);
    if (!st.code) st = hpff_jpegds_open(test_path(c), "test", &d->jtest);
    if (!st.code && d->jtest.classes != d->jtrain.classes)
        st = hpff_status_fail("%s has %d classes but %s has %d; expected the same number",
                              test_path(c), d->jtest.classes, c->train_file, d->jtrain.classes);
    if (st.code) return st;
    memcpy(d->jtest.mean, d->jtrain.mean, sizeof d->jtrain.mean);
    memcpy(d->jtest.std, d->jtrain.std, sizeof d->jtrain.std);
    int resize = c->eval_resize ? c->eval_resize : (int)(c->image_size / 0.875);
    hpff_jpeg_loader_opts tr = {train_aug, c->image_size, resize, c->dct_scaling, c->batch,
                                c->loader_threads, (uint64_t)c->seed, 1, share};
    hpff_jpeg_loader_opts te = tr;
    te.train = te.shuffle = te.share.pad = 0;
    if ((st = hpff_jpeg_loader_check(&d->jtrain, &tr)).code) return st;
    if ((st = hpff_jpeg_loader_check(&d->jtest, &te)).code) return st;
    d->train_ld = hpff_jpeg_loader_create(&d->jtrain, &tr);
    d->test_ld = hpff_jpeg_loader_create(&d->jtest, &te);
    info->classes = d->jtrain.classes;
    info->n_train = d->jtrain.n;
    info->n_test = d->jtest.n;
    for (int i = 0; i < 4; i++) {
        info->mean[i] = i < 3 ? d->jtrain.mean[i] : 0.0f;
        info->std[i] = i < 3 ? d->jtrain.std[i] : 1.0f;
    }
    return hpff_status_ok();
}
#else
static hpff_status open_jpeg(const hpff_config *c, hpff_share share, hpff_train_data *d,
                             hpff_data_info *info) {
    (void)share; (void)d; (void)info;
    return hpff_status_fail("%s holds encoded JPEGs, but this build has no JPEG decoder (install "
                            "libjpeg-turbo's libjpeg62-turbo-dev and rebuild)", c->train_file);
}
#endif

static hpff_status open_data(const hpff_config *c, hpff_share share, hpff_train_data *d,
                             hpff_data_info *info) {
    char msg[512];
    int kind = hpff_jpegds_probe(c->train_file, msg, sizeof msg);
    if (kind == -2) return hpff_status_fail("%s", msg);
    d->jpeg = kind == 1;
    hpff_status st = d->jpeg ? open_jpeg(c, share, d, info) : open_pixels(c, share, d, info);
    if (st.code) return st;
    if (c->classes > 0 && info->classes > c->classes)   // model.classes: at least the data's
        return hpff_status_fail("model.classes = %d, but %s has %d classes", c->classes, c->train_file, info->classes);
    if (c->classes > 0) info->classes = c->classes;
    hpff_loader_shape(d->train_ld, &info->c, &info->h, &info->w);
    info->train_batches = hpff_loader_batches(d->train_ld);
    info->test_batches = hpff_loader_batches(d->test_ld);
    snprintf(info->augment, sizeof info->augment, "%s", hpff_loader_augment(d->train_ld));
    return hpff_status_ok();
}

void hpff_train_data_close(hpff_train_data *d) {
    if (d->train_ld) hpff_loader_destroy(d->train_ld);
    if (d->test_ld) hpff_loader_destroy(d->test_ld);
    if (d->train.images) hpff_dataset_free(&d->train);
    if (d->test.images) hpff_dataset_free(&d->test);
    if (d->jtrain.f) hpff_jpegds_close(&d->jtrain);
    if (d->jtest.f) hpff_jpegds_close(&d->jtest);
}

int hpff_train_data_open(const hpff_config *c, const hpff_world *w, const hpff_grid *g, hpff_train_data *d,
                         hpff_data_info *info) {
    hpff_data_info mine;
    memset(&mine, 0, sizeof mine);
    mine.ok = 1;
    if (g->stage == 0) {
        hpff_status st = open_data(c, (hpff_share){g->replica, g->replicas, 1}, d, &mine);
        mine.ok = !st.code;
        snprintf(mine.err, sizeof mine.err, "%s", st.msg);
    }
    int all_ok = (int)hpff_world_sum(w, mine.ok) == w->size;
    if (!mine.ok && w->rank == 0) fprintf(stderr, "hpff_pipe: %s\n", mine.err);
    else if (!mine.ok) fprintf(stderr, "hpff_pipe: rank %d (replica %d): %s\n", w->rank, g->replica, mine.err);
    if (!all_ok) return 2;
    *info = mine;
    hpff_world_bcast(w, info, sizeof *info, 0);
    // this replica's evaluation share: the test images r, r + R, ... (exact, sampler.h)
    int n_test = hpff_sampler_count((int)info->n_test, (hpff_share){g->replica, g->replicas, 0});
    info->test_batches = (n_test + c->batch - 1) / c->batch;
    return 0;
}
