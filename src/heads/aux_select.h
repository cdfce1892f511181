// aux_select.h — building the auxiliary heads of the local methods (ALGORITHM §3, §5): DGL, InfoPro,
// PredSim, each optionally under PFF. The HiLo schedule decides where heads exist; this file
// decides what they are.
#ifndef HPFF_AUX_SELECT_H
#define HPFF_AUX_SELECT_H
#include "config.h"
#include "head.h"
#include "hilo.h"
#include "layers.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef enum hpff_level { HPFF_LEVEL_IL = 0, HPFF_LEVEL_CL = 1 } hpff_level;

// The head of `level` for module m, reading features of shape `in`; `image` is the input image
// shape (reconstruction targets). Tensor names start with "aux<m>.il." / "aux<m>.cl.".
// Returns NULL and sets *st when the configuration asks for something unsupported.
hpff_head *hpff_aux_create(hpff_build *b, const hpff_config *c, int m, hpff_level level,
                           hpff_shape in, hpff_shape image, int classes,
                           const hpff_hilo_module *hm, hpff_status *st);
// 1 when heads of this configuration read the reconstruction target x~ (InfoPro).
int hpff_aux_needs_target(const hpff_config *c);

#ifdef __cplusplus
}
#endif
#endif
