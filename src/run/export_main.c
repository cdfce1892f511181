// export_main.c — hpff_export: writes a run's newest complete checkpoint as an HDF5 file of
// weights under PyTorch state_dict names (torchvision's for the ImageNet networks), the format
// hpff_pipe --init-from reads (weights.h; README: loading it into torchvision).
#include <stdio.h>
#include <string.h>
#include "weights.h"

static void usage(FILE *f) {
    fprintf(f, "usage: hpff_export RUN_DIR OUT.h5 [--heads]\n\n"
               "Writes the newest complete checkpoint under RUN_DIR/checkpoints (all ranks) as OUT.h5: one\n"
               "dataset per tensor of the backbone and the final head, named by its PyTorch state_dict key\n"
               "and shaped as PyTorch shapes it, plus each batch norm's num_batches_tracked.\n"
               "  --heads   also the auxiliary heads' tensors (aux<m>.il.* / aux<m>.cl.*)\n");
}

int main(int argc, char **argv) {
    const char *pos[2] = {NULL, NULL};
    int npos = 0, heads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        if (!strcmp(argv[i], "--heads")) heads = 1;
        else if (npos < 2 && argv[i][0] != '-') pos[npos++] = argv[i];
        else { fprintf(stderr, "hpff_export: unknown or extra argument '%s'\n", argv[i]); usage(stderr); return 2; }
    }
    if (npos != 2) { usage(stderr); return 2; }
    int written = 0;
    hpff_status st = hpff_weights_export(pos[0], pos[1], heads, &written);
    if (st.code) { fprintf(stderr, "hpff_export: %s\n", st.msg); return 1; }
    printf("hpff_export: wrote %d tensors to %s\n", written, pos[1]);
    return 0;
}
