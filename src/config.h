// config.h — the run configuration: INI file + `--set section.key=value` overrides. Every key is
// one row of the table in config.c (section, key, type, default, accepted values, help), which
// drives parsing, validation, `--help`, printing and saving; adding a key is adding a row and
// a field here.
#ifndef HPFF_CONFIG_H
#define HPFF_CONFIG_H
#include <stdio.h>
#include "check.h"
#ifdef __cplusplus
extern "C" {
#endif

#define HPFF_STR 256

typedef struct hpff_config {
    // [model]
    char arch[HPFF_STR];        // resnet8 | resnet14 | ... | resnet110 (CIFAR-style 6n+2, §2.1)
    int width;                  // stem/stage-1 width of CIFAR ResNets (16 in the paper)
    // [data]
    char train_file[HPFF_STR];  // HDF5 in the project layout (datasets/README.md)
    char test_file[HPFF_STR];   // may equal train_file (split groups /train and /test)
    char augment[HPFF_STR];     // auto | cifar | svhn | stl | imagenet | none
    int pad_to;                 // 0: native size; else zero-pad images to pad_to x pad_to first
    int loader_threads;         // background prefetch threads
    int image_size;             // encoded-JPEG datasets: output side of the transforms
    int eval_resize;            // encoded-JPEG datasets: eval shorter side (0: image_size / 0.875)
    int dct_scaling;            // encoded-JPEG datasets: DCT-domain downscaling on/off
    // [train]
    char method[HPFF_STR];      // bp | dgl | infopro | predsim
    int epochs;
    int batch;
    float lr;                   // initial learning rate eta_0
    char schedule[HPFF_STR];    // cifar_cosine (10-epoch warm-up) | cosine | constant
    float momentum;
    float weight_decay;
    int seed;
    long max_steps;             // 0: no limit; stops training early (tests, benchmarks)
    char run_dir[HPFF_STR];     // everything a run writes
    int log_every;              // progress line every N steps
    int ckpt_every;             // checkpoint every N steps (0: only at epoch ends)
    int ckpt_every_epochs;      // checkpoint every N epochs (0: only at the end)
    int threads;                // BLAS threads per rank
    char nan_policy[HPFF_STR];  // abort | ignore
    int eval;                   // evaluate on the test split after each epoch (1/0)
    // [local]  (HPFF; ALGORITHM §2-§5)
    int K;                      // number of local modules named by the paper (1 = end-to-end)
    char split[HPFF_STR];       // code | paper | even | list
    char modules[HPFF_STR];     // split=list: block end points, e.g. "1:0,1:2,2:1"
    int il;                     // independent level on/off
    int cl;                     // cascade level on/off
    int pff;                    // patch feature fusion on/off
    int pff_n;                  // n x n patches
    char pff_levels[HPFF_STR];  // both | cascade
    float w_il, w_cl;           // level weights (negative: method default)
    int il_first;               // IL aux at module 0 (§4.7-2)
    int last_cascade;           // final head acts as the last cascade head (§4.7-3)
    char il_loss[HPFF_STR];     // code | full (§4.7-4)
    int bn_emulate;             // running-stat momentum of the code's recomputation (§4.6)
    char dgl_aux[HPFF_STR];     // port | official
    char infopro_aux[HPFF_STR]; // 2c2f | 1c2f
    char infopro_mode[HPFF_STR];// ce | contrast
    float ixx_1, ixy_1, ixx_2, ixy_2;
    float predsim_beta;
    int predsim_T;
    char predsim_variant[HPFF_STR]; // port | official
    int predsim_sim_patch;      // similarity branch per patch under PFF-B
    char pff_rec[HPFF_STR];     // code (PFF-A) | shared | output (PFF-C)
    // [pipeline]
    char cascade[HPFF_STR];     // strict | delayed
    char transport[HPFF_STR];   // auto | local | mpi | nccl
    char ranges[HPFF_STR];      // "" (by cost) or "0-3,4-9,..." module ranges per rank
    char balance[HPFF_STR];     // measure | flops: the cost used to choose ranges
    // [backend]
    char device[HPFF_STR];      // auto | cpu | cuda
    int tf32;                   // allow TF32 on the GPU
    int graph;                  // replay full-batch steps from a recorded CUDA graph
} hpff_config;

// Fills every field with its default.
void hpff_config_defaults(hpff_config *c);
// Reads an INI file over the current values. Errors name file, line, section.key and what is
// accepted (unknown section or key, unparsable or out-of-range value, missing file).
hpff_status hpff_config_load(hpff_config *c, const char *path);
// Applies one "section.key=value" override (source names where it came from, e.g. "--set").
hpff_status hpff_config_set(hpff_config *c, const char *assignment, const char *source);
// Cross-key checks (e.g. batch > 0, split=list needs modules).
hpff_status hpff_config_validate(const hpff_config *c);
// Writes the effective configuration as INI (loadable by hpff_config_load).
void hpff_config_write(const hpff_config *c, FILE *f);
// Writes `--help` text: every key with its type, default, accepted values and help.
void hpff_config_help(FILE *f);
// Compares the keys that change the model or the data order (arch, method, K, split, batch,
// seed, ...); returns 0 if compatible, else writes "key: a vs b" lines into `why`.
int hpff_config_diff_model(const hpff_config *a, const hpff_config *b, char *why, size_t why_len);

#ifdef __cplusplus
}
#endif
#endif
