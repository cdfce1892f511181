// imagenet_list.h — what an ILSVRC2012 folder holds, for `hpff_data imagenet`: the classes (the
// sorted names of train/'s sub-folders, torchvision ImageFolder's order), the training images
// (class by class, files sorted by name), and the validation images with their labels from
// whichever of the three usual forms is present:
//   val/<wnid>/*.JPEG                     (e.g. after the valprep.sh script)
//   val/*.JPEG + LOC_val_solution.csv     (Kaggle; the CSV in DIR or up to three folders above)
//   val/*.JPEG + the devkit's ILSVRC2012_validation_ground_truth.txt and meta.mat (libmatio),
//              in DIR/ILSVRC2012_devkit_t12/data/ or DIR, or named by --val-labels / --meta.
#ifndef HPFF_IMAGENET_LIST_H
#define HPFF_IMAGENET_LIST_H
#include "check.h"

typedef struct hpff_in_item {
    char *rel;                  // path relative to DIR, e.g. "train/n01440764/n01440764_18.JPEG"
    int label;                  // index of the class in sorted-wnid order
} hpff_in_item;

typedef struct hpff_in_list {
    int classes;
    char **wnids;               // (classes) sorted
    char **words;               // (classes) human-readable names, or NULL when no source gives them
    hpff_in_item *items[2];     // train, val
    int n[2];
    char val_form[160];         // how the validation labels were found (for the summary)
    int ignored;                // entries that are not .JPEG/.jpg/.png files or not regular
} hpff_in_list;

// Lists DIR. val_labels, meta: explicit label files (NULL: look for them).
hpff_status hpff_in_list_open(const char *dir, const char *val_labels, const char *meta,
                              hpff_in_list *out);
void hpff_in_list_free(hpff_in_list *l);

#endif
