// queue_transport.h — two in-process pipeline "ranks" joined by FIFO queues (a transport for
// tests): with delayed mode, stepping rank 0 then rank 1 never waits on a message that is not
// there yet. Include after defining N (the largest batch) in one test file.
#ifndef HPFF_TEST_QUEUE_TRANSPORT_H
#define HPFF_TEST_QUEUE_TRANSPORT_H
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "transport.h"

typedef struct msg { float *a; size_t af; int32_t lab[N]; int n; float *img; size_t imf; } msg;
typedef struct chan { msg down[8]; int dh, dt; msg up[8]; int uh, ut; } chan;
typedef struct qside { chan *c; int rank; } qside;

static void q_send_down(hpff_transport *t, const float *act, size_t af, const int32_t *labels, int n,
                        const float *image, size_t imf) {
    chan *c = ((qside *)t->ctx)->c;
    msg *m = &c->down[c->dt++ % 8];
    m->a = malloc(af * sizeof(float));
    memcpy(m->a, act, af * sizeof(float));
    m->af = af;
    memcpy(m->lab, labels, (size_t)n * sizeof(int32_t));
    m->n = n;
    m->imf = image ? imf : 0;
    m->img = NULL;
    if (m->imf) { m->img = malloc(imf * sizeof(float)); memcpy(m->img, image, imf * sizeof(float)); }
}
static int q_recv_down(hpff_transport *t, float *act, size_t amax, int32_t *labels, float *image, size_t imax) {
    chan *c = ((qside *)t->ctx)->c;
    HPFF_CHECK(c->dh < c->dt, "queue transport: no payload (the test stepped the ranks out of order)");
    msg *m = &c->down[c->dh++ % 8];
    HPFF_CHECK(m->af <= amax && m->imf <= imax, "queue transport: payload too large");
    memcpy(act, m->a, m->af * sizeof(float));
    memcpy(labels, m->lab, (size_t)m->n * sizeof(int32_t));
    if (m->imf) memcpy(image, m->img, m->imf * sizeof(float));
    free(m->a);
    free(m->img);
    return m->n;
}
static void q_send_up(hpff_transport *t, const float *g, size_t f) {
    chan *c = ((qside *)t->ctx)->c;
    msg *m = &c->up[c->ut++ % 8];
    m->a = malloc(f * sizeof(float));
    memcpy(m->a, g, f * sizeof(float));
    m->af = f;
}
static void q_recv_up(hpff_transport *t, float *g, size_t f) {
    chan *c = ((qside *)t->ctx)->c;
    HPFF_CHECK(c->uh < c->ut, "queue transport: no cascade gradient (out of order)");
    msg *m = &c->up[c->uh++ % 8];
    HPFF_CHECK(m->af == f, "queue transport: gradient of %zu floats, expected %zu", m->af, f);
    memcpy(g, m->a, f * sizeof(float));
    free(m->a);
}
static void q_wait(hpff_transport *t) { (void)t; }
static void q_times(hpff_transport *t, double *d, double *u, double *s) { (void)t; *d = *u = *s = 0; }
static void q_destroy(hpff_transport *t) { free(t->ctx); free(t); }
static const hpff_transport_ops q_ops = {q_send_down, q_recv_down, q_send_up, q_recv_up, q_wait, q_times, q_destroy};

static hpff_transport *q_create(chan *c, int rank) {
    hpff_transport *t = calloc(1, sizeof *t);
    qside *q = calloc(1, sizeof *q);
    q->c = c;
    q->rank = rank;
    t->ops = &q_ops;
    t->ctx = q;
    t->name = "queue";
    t->rank = rank;
    t->size = 2;
    return t;
}

#endif
