// aux.c — auxiliary heads of the local methods.
#include "aux.h"
#include <string.h>

int hpff_aux_needs_target(const hpff_config *c) { return strcmp(c->method, "infopro") == 0; }

hpff_head *hpff_aux_create(hpff_build *b, const hpff_config *c, int m, hpff_level level,
                           hpff_shape in, hpff_shape image, int classes,
                           const hpff_hilo_module *hm, hpff_status *st) {
    (void)b; (void)m; (void)level; (void)in; (void)image; (void)classes; (void)hm;
    *st = hpff_status_fail("train.method = %s: auxiliary heads are not implemented in this build", c->method);
    return NULL;
}
