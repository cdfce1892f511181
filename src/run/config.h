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

// Enum-valued keys: parsed once by the key table (config.c) into these; the spelling of each
// value (its INI text) is the table's, in the same order. hpff_config_enum_name gives it back.
typedef enum hpff_arch {
    HPFF_ARCH_RESNET8, HPFF_ARCH_RESNET14, HPFF_ARCH_RESNET20, HPFF_ARCH_RESNET32, HPFF_ARCH_RESNET44,
    HPFF_ARCH_RESNET56, HPFF_ARCH_RESNET110, HPFF_ARCH_RESNET50, HPFF_ARCH_RESNET101, HPFF_ARCH_RESNET152,
    HPFF_ARCH_RESNEXT101_32X8D, HPFF_ARCH_VGG13, HPFF_ARCH_COUNT
} hpff_arch;
typedef enum hpff_augment {
    HPFF_AUGMENT_AUTO, HPFF_AUGMENT_CIFAR, HPFF_AUGMENT_SVHN, HPFF_AUGMENT_STL, HPFF_AUGMENT_IMAGENET,
    HPFF_AUGMENT_NONE, HPFF_AUGMENT_COUNT
} hpff_augment;
typedef enum hpff_method {
    HPFF_METHOD_BP, HPFF_METHOD_DGL, HPFF_METHOD_INFOPRO, HPFF_METHOD_PREDSIM, HPFF_METHOD_COUNT
} hpff_method;
typedef enum hpff_schedule {
    HPFF_SCHEDULE_CIFAR_COSINE, HPFF_SCHEDULE_COSINE, HPFF_SCHEDULE_CONSTANT, HPFF_SCHEDULE_COUNT
} hpff_schedule;
typedef enum hpff_nan_policy { HPFF_NAN_ABORT, HPFF_NAN_IGNORE, HPFF_NAN_COUNT } hpff_nan_policy;
typedef enum hpff_resume { HPFF_RESUME_OFF, HPFF_RESUME_AUTO, HPFF_RESUME_COUNT } hpff_resume;
typedef enum hpff_split_mode {
    HPFF_SPLIT_CODE, HPFF_SPLIT_PAPER, HPFF_SPLIT_EVEN, HPFF_SPLIT_LIST, HPFF_SPLIT_COUNT
} hpff_split_mode;
typedef enum hpff_pff_levels { HPFF_PFF_BOTH, HPFF_PFF_CASCADE, HPFF_PFF_LEVELS_COUNT } hpff_pff_levels;
typedef enum hpff_il_loss { HPFF_IL_LOSS_CODE, HPFF_IL_LOSS_FULL, HPFF_IL_LOSS_COUNT } hpff_il_loss;
typedef enum hpff_dgl_aux { HPFF_DGL_AUX_PORT, HPFF_DGL_AUX_OFFICIAL, HPFF_DGL_AUX_COUNT } hpff_dgl_aux;
typedef enum hpff_infopro_aux {
    HPFF_INFOPRO_AUX_2C2F, HPFF_INFOPRO_AUX_1C2F, HPFF_INFOPRO_AUX_COUNT
} hpff_infopro_aux;
typedef enum hpff_infopro_mode {
    HPFF_INFOPRO_CE, HPFF_INFOPRO_CONTRAST, HPFF_INFOPRO_MODE_COUNT
} hpff_infopro_mode;
typedef enum hpff_predsim_variant {
    HPFF_PREDSIM_PORT, HPFF_PREDSIM_OFFICIAL, HPFF_PREDSIM_VARIANT_COUNT
} hpff_predsim_variant;
typedef enum hpff_pff_rec {
    HPFF_PFF_REC_CODE, HPFF_PFF_REC_SHARED, HPFF_PFF_REC_OUTPUT, HPFF_PFF_REC_DECODERS, HPFF_PFF_REC_COUNT
} hpff_pff_rec;
typedef enum hpff_cascade { HPFF_CASCADE_STRICT, HPFF_CASCADE_DELAYED, HPFF_CASCADE_COUNT } hpff_cascade;
typedef enum hpff_transport_kind {
    HPFF_TRANSPORT_AUTO, HPFF_TRANSPORT_LOCAL, HPFF_TRANSPORT_MPI, HPFF_TRANSPORT_NCCL, HPFF_TRANSPORT_COUNT
} hpff_transport_kind;
typedef enum hpff_balance { HPFF_BALANCE_MEASURE, HPFF_BALANCE_FLOPS, HPFF_BALANCE_COUNT } hpff_balance;
typedef enum hpff_device { HPFF_DEVICE_AUTO, HPFF_DEVICE_CPU, HPFF_DEVICE_CUDA, HPFF_DEVICE_COUNT } hpff_device;
typedef enum hpff_cpu_conv {
    HPFF_CPU_CONV_AUTO, HPFF_CPU_CONV_DNNL, HPFF_CPU_CONV_IM2COL, HPFF_CPU_CONV_DNNL_NCHW, HPFF_CPU_CONV_COUNT
} hpff_cpu_conv;

typedef struct hpff_config {
    // [model]
    hpff_arch arch;             // resnet8 ... resnet110 (CIFAR, §2.1) | resnet50/101/152,
                                // resnext101_32x8d (§2.2) | vgg13 (§2.3)
    int width;                  // stem/stage-1 width of CIFAR ResNets (16 in the paper); the
                                // ImageNet networks' stem is 4*width (64 at 16)
    char blocks[HPFF_STR];      // "" or blocks per stage, e.g. "1,1,3,1" (reduced networks)
    int classes;                // 0: the data's class count
    char init_from[HPFF_STR];   // "" or an HDF5 file of weights under state_dict names
    // [data]
    char train_file[HPFF_STR];  // HDF5 in the project layout (datasets/README.md)
    char test_file[HPFF_STR];   // may equal train_file (split groups /train and /test)
    hpff_augment augment;       // auto | cifar | svhn | stl | imagenet | none
    int pad_to;                 // 0: native size; else zero-pad images to pad_to x pad_to first
    int loader_threads;         // background prefetch threads
    int image_size;             // encoded-JPEG datasets: output side of the transforms
    int eval_resize;            // encoded-JPEG datasets: eval shorter side (0: image_size / 0.875)
    int dct_scaling;            // encoded-JPEG datasets: DCT-domain downscaling on/off
    // [train]
    hpff_method method;         // bp | dgl | infopro | predsim
    int epochs;
    int batch;
    float lr;                   // initial learning rate eta_0
    hpff_schedule schedule;     // cifar_cosine (10-epoch warm-up) | cosine | constant
    float momentum;
    float weight_decay;
    int seed;
    long max_steps;             // 0: no limit; stops training early (tests, benchmarks)
    char run_dir[HPFF_STR];     // everything a run writes
    hpff_resume resume;         // off | auto: continue from run_dir's newest intact checkpoint if any
    int log_every;              // progress line every N steps
    int ckpt_every;             // checkpoint every N steps (0: only at epoch ends)
    int ckpt_every_epochs;      // checkpoint every N epochs (0: only at the end)
    int threads;                // BLAS threads per rank
    hpff_nan_policy nan_policy; // abort | ignore
    int eval;                   // evaluate on the test split after each epoch (1/0)
    // [local]  (HPFF; ALGORITHM §2-§5)
    int K;                      // number of local modules named by the paper (1 = end-to-end)
    hpff_split_mode split;      // code | paper | even | list
    char modules[HPFF_STR];     // split=list: block end points, e.g. "1:0,1:2,2:1"
    int il;                     // independent level on/off
    int cl;                     // cascade level on/off
    int pff;                    // patch feature fusion on/off
    int pff_n;                  // n x n patches
    hpff_pff_levels pff_levels; // both | cascade
    float w_il, w_cl;           // level weights (negative: method default)
    int il_first;               // IL aux at module 0 (§4.7-2)
    int last_cascade;           // final head acts as the last cascade head (§4.7-3)
    hpff_il_loss il_loss;       // code | full (§4.7-4)
    int bn_emulate;             // running-stat momentum of the code's recomputation (§4.6)
    hpff_dgl_aux dgl_aux;       // port | official
    hpff_infopro_aux infopro_aux; // 2c2f | 1c2f
    hpff_infopro_mode infopro_mode; // ce | contrast
    float ixx_1, ixy_1, ixx_2, ixy_2;
    float predsim_beta;
    int predsim_T;
    hpff_predsim_variant predsim_variant; // port | official
    int predsim_sim_patch;      // similarity branch per patch under PFF-B
    hpff_pff_rec pff_rec;       // code (the code folder's: PFF-A CIFAR, PFF-C ImageNet) | shared |
                                // output (PFF-C) | decoders (PFF-A)
    // [pipeline]
    hpff_cascade cascade;       // strict | delayed
    hpff_transport_kind transport; // auto | local | mpi | nccl
    char ranges[HPFF_STR];      // "" (by cost) or "0-3,4-9,..." module ranges per rank
    hpff_balance balance;       // measure | flops: the cost used to choose ranges
    int stages;                 // S (0: automatic); -np = S x replicas (grid.h)
    int check_replicas;         // compare the replicas' parameter checksums every N steps (0: never)
    float timeout;              // seconds a replicas' gradient average may take (0: no limit)
    // [backend]
    hpff_device device;         // auto | cpu | cuda
    int tf32;                   // allow TF32 on the GPU
    int graph;                  // replay full-batch steps from a recorded CUDA graph
    hpff_cpu_conv cpu_conv;     // auto | dnnl | im2col | dnnl_nchw: the CPU backend's convolutions
} hpff_config;

// Fills every field with its default.
void hpff_config_defaults(hpff_config *c);
// Reads an INI file over the current values. Errors name file, line, section.key and what is
// accepted (unknown section or key, unparsable or out-of-range value, missing file).
hpff_status hpff_config_load(hpff_config *c, const char *path);
// The same for INI text held in memory (e.g. a checkpoint's stored configuration); errors name
// it as `name`.
hpff_status hpff_config_load_text(hpff_config *c, const char *text, const char *name);
// Applies one "section.key=value" override (source names where it came from, e.g. "--set").
hpff_status hpff_config_set(hpff_config *c, const char *assignment, const char *source);
// Cross-key checks (e.g. batch > 0, split=list needs modules).
hpff_status hpff_config_validate(const hpff_config *c);
// Writes the effective configuration as INI (loadable by hpff_config_load).
void hpff_config_write(const hpff_config *c, FILE *f);
// Writes `--help` text: every key with its type, default, accepted values and help.
void hpff_config_help(FILE *f);
// The INI spelling of an enum-valued field of c, e.g. hpff_config_enum_name(c, &c->method) ==
// "dgl"; fatal for a field that is not an enum key.
const char *hpff_config_enum_name(const hpff_config *c, const void *field);
// Compares the keys that change the model or the data order (arch, method, K, split, batch,
// seed, ...); returns 0 if compatible, else writes "key: a vs b" lines into `why`.
int hpff_config_diff_model(const hpff_config *a, const hpff_config *b, char *why, size_t why_len);

#ifdef __cplusplus
}
#endif
#endif
