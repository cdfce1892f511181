// weights.h — weights under PyTorch state_dict names, in the ecosystem's layout: an HDF5 file
// with one dataset per tensor at the root, named by its state_dict key (conv1.weight,
// layer3.17.bn2.running_var, fc.bias, features.7.weight), shaped as PyTorch shapes it (conv
// (C_out, C_in/groups, kh, kw), linear (out, in), vectors (C)). README: the few lines of Python
// that turn a torchvision .pth into such a file and back.
#ifndef HPFF_WEIGHTS_H
#define HPFF_WEIGHTS_H
#include "check.h"
#include "model.h"
#ifdef __cplusplus
extern "C" {
#endif

// model.init_from: loads this rank's parameters and BN running statistics from `path`. Every
// rank first checks the whole file against the whole network (a sizing build, so every rank
// reaches the same verdict): a dataset that names no tensor of the network, a shape that differs,
// or a backbone / final-head tensor the file lacks is refused, naming them. Datasets ending in
// ".num_batches_tracked" are ignored; auxiliary-head tensors ("aux...") the file lacks keep their
// initial values. *loaded = tensors loaded on this rank.
hpff_status hpff_weights_load(hpff_model *md, const char *path, hpff_shape in, int classes, int *loaded);
// Writes the newest complete checkpoint of `run_dir` (all ranks' files) as such a file: the
// backbone and final head (and the auxiliary heads when `heads`), every BN layer's
// num_batches_tracked = the optimizer steps done, so torchvision's load_state_dict(strict=True)
// accepts it. *written = tensors written.
hpff_status hpff_weights_export(const char *run_dir, const char *out, int heads, int *written);

#ifdef __cplusplus
}
#endif
#endif
