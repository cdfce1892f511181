// loader.c — the pixel loader: per-epoch order and augmentation from augment.c, one sample at a
// time for the batch ring of ring.c.
#include "loader.h"
#include <stdlib.h>
#include "augment.h"

hpff_status hpff_loader_check(const hpff_dataset *ds, const hpff_loader_opts *o) {
    if (!ds || ds->n < 1 || !ds->images)
        return hpff_status_fail("loader: the dataset is empty or not loaded");
    if (o->batch < 1) return hpff_status_fail("loader: batch = %d; expected >= 1", o->batch);
    if (o->threads < 1 || o->threads > 256)
        return hpff_status_fail("loader: threads = %d; expected 1 to 256", o->threads);
    int side = ds->h > ds->w ? ds->h : ds->w;
    if (o->pad_to != 0 && (o->pad_to < side || o->pad_to > 65536))
        return hpff_status_fail("loader: pad_to = %d but the images of %s are %dx%d; expected 0 "
                                "or a side >= %d", o->pad_to, ds->path, ds->h, ds->w, side);
    if (!o->shuffle) return hpff_status_ok();
    hpff_aug a;
    hpff_status s = hpff_aug_resolve(o->augment, ds->source, &a);
    if (s.code) return hpff_status_fail("loader for %s: %s", ds->path, s.msg);
    int oh = o->pad_to ? o->pad_to : ds->h, ow = o->pad_to ? o->pad_to : ds->w;
    if (a.reflect && (a.pad >= oh || a.pad >= ow))
        return hpff_status_fail("loader: augment %s mirrors %d pixels, which needs images larger "
                                "than %dx%d (%s)", hpff_aug_name(a.kind), a.pad, oh, ow, ds->path);
    return hpff_status_ok();
}

// The pixel sample source of the loader: augment.c's draw and render per sample.
typedef struct pixel_src {
    const hpff_dataset *ds;
    hpff_aug aug;               // kind NONE for evaluation
    hpff_aug_geom geom;
    uint64_t seed;
    float *lut;                 // (c, 256) normalised value of every byte
} pixel_src;

static void *pixel_thread_new(void *ctx) {
    const pixel_src *p = ctx;
    return hpff_xmalloc((size_t)(p->geom.oh + p->geom.ow) * sizeof(int));
}

static void pixel_render(void *ctx, void *scratch, int idx, int epoch, float *x, int32_t *y) {
    const pixel_src *p = ctx;
    const hpff_dataset *ds = p->ds;
    size_t img_bytes = (size_t)ds->h * (size_t)ds->w * (size_t)ds->c;
    hpff_aug_draw d = hpff_aug_draw_at(&p->aug, p->seed, epoch, idx);
    hpff_aug_render(ds->images + (size_t)idx * img_bytes, &p->geom, &p->aug, d, p->lut, x, scratch);
    *y = ds->labels[idx];
}

static void pixel_destroy(void *ctx) {
    pixel_src *p = ctx;
    free(p->lut);
    free(p);
}

hpff_loader *hpff_loader_create(const hpff_dataset *ds, const hpff_loader_opts *o) {
    return hpff_loader_create_share(ds, o, (hpff_share){0, 1, 0});
}

hpff_loader *hpff_loader_create_share(const hpff_dataset *ds, const hpff_loader_opts *o,
                                      hpff_share share) {
    hpff_status st = hpff_loader_check(ds, o);
    HPFF_CHECK(!st.code, "%s", st.msg);
    pixel_src *p = hpff_xcalloc(1, sizeof *p);
    p->ds = ds;
    if (o->shuffle) hpff_aug_resolve(o->augment, ds->source, &p->aug);
    else p->aug = (hpff_aug){HPFF_AUG_NONE, 0, 0, 0};
    p->geom = (hpff_aug_geom){ds->h, ds->w, ds->c, o->pad_to ? o->pad_to : ds->h,
                              o->pad_to ? o->pad_to : ds->w};
    p->seed = o->seed;
    p->lut = hpff_xmalloc((size_t)ds->c * 256 * sizeof(float));
    hpff_aug_lut(p->lut, ds->c, ds->mean, ds->std);
    hpff_sample_src src = {ds->n, ds->c, p->geom.oh, p->geom.ow, hpff_aug_name(p->aug.kind), p,
                           pixel_thread_new, free, pixel_render, pixel_destroy};
    hpff_ring_opts r = {o->batch, o->threads, o->seed, o->shuffle != 0, share};
    return hpff_loader_from_source(&src, &r);
}
