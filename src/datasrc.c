// datasrc.c — the trainer's loaders for either dataset layout (see datasrc.h).
#include "datasrc.h"
#include <stdio.h>
#include <string.h>
#ifdef HPFF_JPEG
#include "jpeg_loader.h"
#endif

static const char *test_path(const hpff_config *c) {
    return c->test_file[0] ? c->test_file : c->train_file;
}

static hpff_status open_pixels(const hpff_config *c, int replica, int replicas, hpff_datasrc *d) {
    if (strcmp(c->augment, "imagenet") == 0)
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
    hpff_loader_opts tr = {c->augment, c->pad_to, c->batch, c->loader_threads, (uint64_t)c->seed, 1};
    hpff_loader_opts te = tr;
    te.shuffle = 0;
    if ((st = hpff_loader_check(&d->train, &tr)).code) return st;
    if ((st = hpff_loader_check(&d->test, &te)).code) return st;
    d->train_ld = hpff_loader_create_share(&d->train, &tr, (hpff_share){replica, replicas, 1});
    d->test_ld = hpff_loader_create_share(&d->test, &te, (hpff_share){replica, replicas, 0});
    d->classes = d->train.classes;
    d->n_train = d->train.n;
    d->n_test = d->test.n;
    memcpy(d->mean, d->train.mean, sizeof d->mean);
    memcpy(d->std, d->train.std, sizeof d->std);
    return hpff_status_ok();
}

static hpff_status jpeg_augment(const hpff_config *c, int *train) {
    const char *a = c->augment;
    *train = strcmp(a, "auto") == 0 || strcmp(a, "imagenet") == 0;
    if (*train || strcmp(a, "none") == 0) return hpff_status_ok();
    return hpff_status_fail("data.augment = %s applies to pixel datasets; %s holds encoded JPEGs "
                            "(use imagenet, auto or none)", a, c->train_file);
}

#ifdef HPFF_JPEG
static hpff_status open_jpeg(const hpff_config *c, int replica, int replicas, hpff_datasrc *d) {
    int train_aug;
    hpff_status st = jpeg_augment(c, &train_aug);
    if (!st.code) st = hpff_jpegds_open(c->train_file, "train", &d->jtrain);
    if (!st.code) st = hpff_jpegds_open(test_path(c), "test", &d->jtest);
    if (!st.code && d->jtest.classes != d->jtrain.classes)
        st = hpff_status_fail("%s has %d classes but %s has %d; expected the same number",
                              test_path(c), d->jtest.classes, c->train_file, d->jtrain.classes);
    if (st.code) return st;
    memcpy(d->jtest.mean, d->jtrain.mean, sizeof d->jtrain.mean);
    memcpy(d->jtest.std, d->jtrain.std, sizeof d->jtrain.std);
    int resize = c->eval_resize ? c->eval_resize : (int)(c->image_size / 0.875);
    hpff_jpeg_loader_opts tr = {train_aug, c->image_size, resize, c->dct_scaling, c->batch,
                                c->loader_threads, (uint64_t)c->seed, 1, {replica, replicas, 1}};
    hpff_jpeg_loader_opts te = tr;
    te.train = te.shuffle = te.share.pad = 0;
    if ((st = hpff_jpeg_loader_check(&d->jtrain, &tr)).code) return st;
    if ((st = hpff_jpeg_loader_check(&d->jtest, &te)).code) return st;
    d->train_ld = hpff_jpeg_loader_create(&d->jtrain, &tr);
    d->test_ld = hpff_jpeg_loader_create(&d->jtest, &te);
    d->classes = d->jtrain.classes;
    d->n_train = d->jtrain.n;
    d->n_test = d->jtest.n;
    for (int i = 0; i < 4; i++) {
        d->mean[i] = i < 3 ? d->jtrain.mean[i] : 0.0f;
        d->std[i] = i < 3 ? d->jtrain.std[i] : 1.0f;
    }
    return hpff_status_ok();
}
#else
static hpff_status open_jpeg(const hpff_config *c, int replica, int replicas, hpff_datasrc *d) {
    (void)replica; (void)replicas; (void)d;
    return hpff_status_fail("%s holds encoded JPEGs, but this build has no JPEG decoder (install "
                            "libjpeg-turbo's libjpeg62-turbo-dev and rebuild)", c->train_file);
}
#endif

hpff_status hpff_datasrc_open(const hpff_config *c, int replica, int replicas, hpff_datasrc *d) {
    memset(d, 0, sizeof *d);
    char msg[512];
    int kind = hpff_jpegds_probe(c->train_file, msg, sizeof msg);
    if (kind == -2) return hpff_status_fail("%s", msg);
    d->jpeg = kind == 1;
    hpff_status st = d->jpeg ? open_jpeg(c, replica, replicas, d) : open_pixels(c, replica, replicas, d);
    if (st.code) return st;
    hpff_loader_shape(d->train_ld, &d->c, &d->h, &d->w);
    snprintf(d->augment, sizeof d->augment, "%s", hpff_loader_augment(d->train_ld));
    return hpff_status_ok();
}

void hpff_datasrc_close(hpff_datasrc *d) {
    if (d->train_ld) hpff_loader_destroy(d->train_ld);
    if (d->test_ld) hpff_loader_destroy(d->test_ld);
    if (d->train.images) hpff_dataset_free(&d->train);
    if (d->test.images) hpff_dataset_free(&d->test);
    if (d->jtrain.f) hpff_jpegds_close(&d->jtrain);
    if (d->jtest.f) hpff_jpegds_close(&d->jtest);
    memset(d, 0, sizeof *d);
}
