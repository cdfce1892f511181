// transport_local.c — the one-process transport: a single rank owns every module, so nothing
// ever crosses; a call means the stage logic is wrong.
#include <stdlib.h>
#include "check.h"
#include "transport.h"

static void no_send_down(hpff_transport *t, const float *a, size_t af, const int32_t *l, int n,
                         const float *img, size_t imf) {
    (void)t; (void)a; (void)af; (void)l; (void)n; (void)img; (void)imf;
    HPFF_CHECK(0, "local transport: no downstream rank");
}
static int no_recv_down(hpff_transport *t, float *a, size_t af, int32_t *l, float *img, size_t imf) {
    (void)t; (void)a; (void)af; (void)l; (void)img; (void)imf;
    HPFF_CHECK(0, "local transport: no upstream rank");
}
static void no_send_up(hpff_transport *t, const float *g, size_t f) {
    (void)t; (void)g; (void)f;
    HPFF_CHECK(0, "local transport: no upstream rank");
}
static void no_recv_up(hpff_transport *t, float *g, size_t f) {
    (void)t; (void)g; (void)f;
    HPFF_CHECK(0, "local transport: no downstream rank");
}
static void nothing_to_wait(hpff_transport *t) { (void)t; }
static void zero_waits(hpff_transport *t, double *d, double *u, double *s) {
    (void)t;
    *d = *u = *s = 0;
}
static void local_destroy(hpff_transport *t) { free(t); }

static const hpff_transport_ops local_ops = {no_send_down, no_recv_down, no_send_up, no_recv_up,
                                             nothing_to_wait, zero_waits, local_destroy};

hpff_transport *hpff_transport_local_create(void) {
    hpff_transport *t = hpff_xcalloc(1, sizeof *t);
    t->ops = &local_ops;
    t->name = "local";
    t->rank = 0;
    t->size = 1;
    return t;
}
