// config.c — the table of configuration keys and everything it drives: defaults, INI loading
// (libinih), --set overrides, validation, --help, writing the effective config and the
// model-compatibility diff. Adding a key is adding a row below and a field in config.h; the
// only per-key code is the cross-key checks in hpff_config_validate.
#include "config.h"
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ini.h>

typedef enum key_type { KEY_INT, KEY_LONG, KEY_FLOAT, KEY_BOOL, KEY_STR, KEY_ENUM } key_type;

typedef struct key_def {
    const char *section, *name;
    key_type type;
    const char *def;     // default, spelled as in an INI file
    const char *const *names;   // KEY_ENUM: the accepted values in enum order, NULL-terminated
    double lo, hi;       // numeric range, inclusive (NOLO/NOHI: unbounded)
    int model;           // model-defining: compared by hpff_config_diff_model
    size_t off;          // offsetof(hpff_config, field)
    const char *help;
} key_def;

#define NOLO (-DBL_MAX)
#define NOHI DBL_MAX
#define ANY NOLO, NOHI
#define NUM(sec, f, type, def, lo, hi, model, help) \
    {sec, #f, type, def, NULL, lo, hi, model, offsetof(hpff_config, f), help}
#define BOOL(sec, f, def, model, help) \
    {sec, #f, KEY_BOOL, def, NULL, ANY, model, offsetof(hpff_config, f), help}
#define STR(sec, f, def, model, help) \
    {sec, #f, KEY_STR, def, NULL, ANY, model, offsetof(hpff_config, f), help}
#define ENUM(sec, f, def, names, model, help) \
    {sec, #f, KEY_ENUM, def, names, ANY, model, offsetof(hpff_config, f), help}

// The spellings of each enum key, in the order of its C enum (config.h).
#define NAMES(var, count, ...)                                                              \
    static const char *const var[] = {__VA_ARGS__, NULL};                                    \
    _Static_assert(sizeof var / sizeof var[0] == (count) + 1, #var " does not match its enum")
NAMES(k_arch, HPFF_ARCH_COUNT, "resnet8", "resnet14", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
      "resnet50", "resnet101", "resnet152", "resnext101_32x8d", "vgg13");
NAMES(k_augment, HPFF_AUGMENT_COUNT, "auto", "cifar", "svhn", "stl", "imagenet", "none");
NAMES(k_method, HPFF_METHOD_COUNT, "bp", "dgl", "infopro", "predsim");
NAMES(k_schedule, HPFF_SCHEDULE_COUNT, "cifar_cosine", "cosine", "constant");
NAMES(k_nan_policy, HPFF_NAN_COUNT, "abort", "ignore");
NAMES(k_resume, HPFF_RESUME_COUNT, "off", "auto");
NAMES(k_split, HPFF_SPLIT_COUNT, "code", "paper", "even", "list");
NAMES(k_pff_levels, HPFF_PFF_LEVELS_COUNT, "both", "cascade");
NAMES(k_il_loss, HPFF_IL_LOSS_COUNT, "code", "full");
NAMES(k_dgl_aux, HPFF_DGL_AUX_COUNT, "port", "official");
NAMES(k_infopro_aux, HPFF_INFOPRO_AUX_COUNT, "2c2f", "1c2f");
NAMES(k_infopro_mode, HPFF_INFOPRO_MODE_COUNT, "ce", "contrast");
NAMES(k_predsim_variant, HPFF_PREDSIM_VARIANT_COUNT, "port", "official");
NAMES(k_pff_rec, HPFF_PFF_REC_COUNT, "code", "shared", "output", "decoders");
NAMES(k_cascade, HPFF_CASCADE_COUNT, "strict", "delayed");
NAMES(k_transport, HPFF_TRANSPORT_COUNT, "auto", "local", "mpi", "nccl");
NAMES(k_balance, HPFF_BALANCE_COUNT, "measure", "flops");
NAMES(k_device, HPFF_DEVICE_COUNT, "auto", "cpu", "cuda");
NAMES(k_cpu_conv, HPFF_CPU_CONV_COUNT, "auto", "dnnl", "im2col", "dnnl_nchw");

static const char *const k_sections[] = {"model", "data", "train", "local", "pipeline", "backend"};
#define N_SECTIONS (sizeof k_sections / sizeof k_sections[0])

static const key_def k_keys[] = {
    // [model]
    ENUM("model", arch, "resnet32", k_arch, 1,
         "CIFAR-style ResNet (6n+2 layers, 3 stages of n BasicBlocks, §2.1), ImageNet bottleneck ResNet / "
         "ResNeXt in torchvision's layout (§2.2), or VGG13 with batch norm (§2.3)"),
    NUM("model", width, KEY_INT, "16", 1, NOHI, 1,
        "channels of the stem and stage 1 of the CIFAR ResNets; stages 2 and 3 double it (16 in the "
        "paper, §2.1). The ImageNet networks scale with it: stem 4*width (64 at 16; stage planes "
        "64..512, VGG13 widths 64..512 and classifier 4096): smaller values make reduced networks"),
    STR("model", blocks, "", 1,
        "\"\": the architecture's; else blocks per stage, e.g. 1,1,3,1 (reduced networks for tests)"),
    NUM("model", classes, KEY_INT, "0", 0, NOHI, 1,
        "classes of the final head and the aux classifiers (0: the data's count; at least the data's)"),
    STR("model", init_from, "", 0,
        "HDF5 file of initial weights under PyTorch state_dict names (torchvision's for the ImageNet "
        "nets; README: converting a .pth); names or shapes that do not match are refused"),
    // [data]
    STR("data", train_file, "data/fmnist.h5", 1,
        "HDF5 file in the project layout (datasets/README.md); its train split is trained on"),
    STR("data", test_file, "", 0, "HDF5 file whose test split is evaluated (empty: train_file)"),
    ENUM("data", augment, "auto", k_augment, 1,
         "training augmentation (§6): auto picks by dataset; cifar, svhn, stl recipes; imagenet "
         "(RandomResizedCrop + flip, encoded-JPEG datasets); none"),
    NUM("data", pad_to, KEY_INT, "0", 0, NOHI, 1,
        "zero-pad images to pad_to x pad_to before augmentation (0: native size)"),
    NUM("data", loader_threads, KEY_INT, "2", 1, NOHI, 0,
        "background threads that read and augment batches ahead of the step"),
    NUM("data", image_size, KEY_INT, "224", 1, 4096, 1,
        "encoded-JPEG datasets (ImageNet): side of the square samples the transforms produce"),
    NUM("data", eval_resize, KEY_INT, "0", 0, 16384, 0,
        "encoded-JPEG datasets: shorter side before the evaluation centre crop "
        "(0: image_size / 0.875, i.e. 256 for 224)"),
    BOOL("data", dct_scaling, "on", 1,
         "encoded-JPEG datasets: decode at 1/2, 1/4 or 1/8 scale (DCT domain) when the crop is "
         "that many times the output; off: full resolution (the eval transform then equals "
         "torchvision's on PIL images)"),
    // [train]
    ENUM("train", method, "bp", k_method, 1,
         "bp: end-to-end backprop; dgl, infopro, predsim: local learning with that base method (§3)"),
    NUM("train", epochs, KEY_INT, "1", 1, NOHI, 0, "passes over the training set (400 in the paper, §6)"),
    NUM("train", batch, KEY_INT, "128", 1, NOHI, 1,
        "mini-batch size per replica (as in PyTorch DDP); whole batches go through the pipeline "
        "(§6: 1024 CIFAR/SVHN, 128 STL)"),
    NUM("train", lr, KEY_FLOAT, "0.1", 0, NOHI, 0,
        "initial learning rate eta_0 (§6: 0.8 CIFAR/SVHN, 0.1 STL)"),
    ENUM("train", schedule, "cifar_cosine", k_schedule, 0,
         "lr per epoch: cosine with the code's 10-epoch warm-up from 0.01 (§6), plain cosine, or constant"),
    NUM("train", momentum, KEY_FLOAT, "0.9", 0, 1, 0, "SGD Nesterov momentum (§1.10)"),
    NUM("train", weight_decay, KEY_FLOAT, "0.0001", 0, NOHI, 0,
        "L2 weight decay on every parameter that has a gradient this step (§1.10)"),
    NUM("train", seed, KEY_INT, "0", 0, NOHI, 1, "seed of weight init, data order and augmentation"),
    NUM("train", max_steps, KEY_LONG, "0", 0, NOHI, 0,
        "stop after this many optimizer steps (0: no limit; for tests and benchmarks)"),
    STR("train", run_dir, "runs/default", 0, "directory for metrics, checkpoints and the effective config"),
    ENUM("train", resume, "off", k_resume, 0,
         "auto: continue from run_dir's newest intact checkpoint when it holds one, else start afresh "
         "(requeued jobs); off: start afresh (--resume continues)"),
    NUM("train", log_every, KEY_INT, "10", 1, NOHI, 0, "print a progress line every N steps"),
    NUM("train", ckpt_every, KEY_INT, "0", 0, NOHI, 0, "checkpoint every N steps (0: only at epoch ends)"),
    NUM("train", ckpt_every_epochs, KEY_INT, "1", 0, NOHI, 0,
        "checkpoint every N epochs (0: only at the end of training)"),
    NUM("train", threads, KEY_INT, "1", 1, NOHI, 0, "BLAS threads per rank"),
    ENUM("train", nan_policy, "abort", k_nan_policy, 0,
         "on a non-finite loss: abort the run with a message, or ignore it and continue"),
    BOOL("train", eval, "on", 0, "evaluate on the test split after every epoch"),
    // [local]
    NUM("local", K, KEY_INT, "1", 1, NOHI, 1,
        "local modules as the paper counts them (§2.4); 1 for bp, >= 2 for local methods"),
    ENUM("local", split, "code", k_split, 1,
         "module split (§2.4): HPFF code tables, paper (stem is module 0), even, or local.modules"),
    STR("local", modules, "", 1, "split = list: block end points stage:block, e.g. 1:0,1:2,2:1 (§2.4)"),
    BOOL("local", il, "on", 1, "independent level: a local loss on every module output (HiLo, §4)"),
    BOOL("local", cl, "on", 1, "cascade level: a loss spanning two consecutive modules (HiLo, §4)"),
    BOOL("local", pff, "on", 1, "patch feature fusion in the auxiliary nets (§5)"),
    NUM("local", pff_n, KEY_INT, "2", 1, NOHI, 1, "PFF cuts the aux input into n x n patches (n = 2, §5.4)"),
    ENUM("local", pff_levels, "both", k_pff_levels, 1,
         "PFF-B at both levels, or at the cascade level only as in the InfoPro code (§5.4)"),
    NUM("local", w_il, KEY_FLOAT, "-1", NOLO, NOHI, 0,
        "independent-level weight w_I (negative: method default, 0.001 on CIFAR; §4.5, §4.7-1)"),
    NUM("local", w_cl, KEY_FLOAT, "-1", NOLO, NOHI, 0,
        "cascade-level weight w_C (negative: method default, 0.999 on CIFAR; §4.5, §4.7-1)"),
    BOOL("local", il_first, "off", 1, "independent-level aux at module 0 as well (paper; the code has none; §4.7-2)"),
    BOOL("local", last_cascade, "on", 1, "the final head also acts as the last cascade head (code; §4.7-3)"),
    ENUM("local", il_loss, "code", k_il_loss, 1,
         "InfoPro IL loss: CE with the aux classifier (code) or reconstruction + CE (§4.7-4)"),
    BOOL("local", bn_emulate, "off", 0,
         "BN running-stat momentum 1-0.9^n, as the code's repeated forwards give (§4.6)"),
    ENUM("local", dgl_aux, "port", k_dgl_aux, 1,
         "DGL aux net: AugLocal CIFAR-ResNet port or the official MLP-SR-aux (§3.1; the VGG13 configs "
         "use official, as DGL's ImageNet code)"),
    ENUM("local", infopro_aux, "2c2f", k_infopro_aux, 1,
         "InfoPro aux classifier: 2c2f (HPFF) or 1c2f (InfoPro baseline) (§3.2)"),
    ENUM("local", infopro_mode, "ce", k_infopro_mode, 1,
         "InfoPro classifier loss: cross-entropy or SupCon with tau = 0.07 (§3.2)"),
    NUM("local", ixx_1, KEY_FLOAT, "5", 0, NOHI, 0, "InfoPro lambda_rec at the first aux (§3.2)"),
    NUM("local", ixy_1, KEY_FLOAT, "0.5", 0, NOHI, 0, "InfoPro lambda_ce at the first aux (§3.2)"),
    NUM("local", ixx_2, KEY_FLOAT, "0", 0, NOHI, 0, "InfoPro lambda_rec at aux K-2, linear in between (§3.2)"),
    NUM("local", ixy_2, KEY_FLOAT, "0", 0, NOHI, 0, "InfoPro lambda_ce at aux K-2, linear in between (§3.2)"),
    NUM("local", predsim_beta, KEY_FLOAT, "0.99", 0, 1, 0, "PredSim loss beta*L_sim + (1-beta)*L_pred (§3.3)"),
    NUM("local", predsim_T, KEY_INT, "512", 1, NOHI, 1,
        "PredSim prediction input size target of the pooling rule (512 port, 4096 official; §3.3)"),
    ENUM("local", predsim_variant, "port", k_predsim_variant, 1,
         "PredSim: AugLocal port, or official local-loss with the prediction weight 0 at init (§3.3)"),
    BOOL("local", predsim_sim_patch, "on", 0,
         "under PFF-B, PredSim's similarity branch per patch (off: on the whole map) (§5.4)"),
    ENUM("local", pff_rec, "code", k_pff_rec, 1,
         "InfoPro reconstruction under PFF: code (PFF-A on CIFAR-size ResNets, PFF-C on ImageNet "
         "ResNets, as the authors' two code folders), shared (one decoder for every patch), output "
         "(PFF-C: one full-map decoder, its output split into n^2 quadrant BCEs) or decoders (PFF-A: "
         "n^2 separate decoders) (§5.2-§5.4)"),
    // [pipeline]
    ENUM("pipeline", cascade, "strict", k_cascade, 0,
         "boundary cascade gradient applied in the same step (= one process) or one step late (§9)"),
    ENUM("pipeline", transport, "auto", k_transport, 0,
         "rank-to-rank transport; auto: nccl when every rank has its own GPU, else mpi"),
    STR("pipeline", ranges, "", 0, "module ranges per rank, e.g. 0-3,4-9 (empty: balanced by cost)"),
    ENUM("pipeline", balance, "measure", k_balance, 0,
         "cost that balances ranks when ranges is empty: a timed warm-up step of every module on "
         "rank 0, or FLOP counts"),
    NUM("pipeline", stages, KEY_INT, "0", 0, NOHI, 0,
        "pipeline stages S; -np = S x R replicas that average their gradients (data parallel, "
        "train.batch per replica). 0: -np itself up to the module count, else its largest divisor not above it"),
    NUM("pipeline", check_replicas, KEY_INT, "0", 0, NOHI, 0,
        "with replicas: every N steps compare a checksum of each rank's parameters and momentum with "
        "replica 0's and stop at the first replica that differs (0: never)"),
    NUM("pipeline", timeout, KEY_FLOAT, "1800", 0, NOHI, 0,
        "seconds a replicas' gradient average may take before the job is ended naming it (0: no limit)"),
    // [backend]
    ENUM("backend", device, "auto", k_device, 0, "auto: CUDA when built with it and a GPU is present, else CPU"),
    BOOL("backend", tf32, "on", 0, "allow TF32 tensor-core math on the GPU (off for close CPU comparisons)"),
    BOOL("backend", graph, "off", 0,
         "GPU: record a full-batch training step once as CUDA graphs (one per stretch between "
         "transport calls) and replay them: a few launches per step instead of thousands (experimental)"),
    ENUM("backend", cpu_conv, "auto", k_cpu_conv, 0,
         "CPU convolutions: oneDNN (dnnl; auto = dnnl when the build has it) or the im2col + BLAS "
         "reference; dnnl_nchw: oneDNN without the blocked layouts inside residual blocks and heads"),
};
#define N_KEYS (sizeof k_keys / sizeof k_keys[0])

// ---- table access ----

static void *field(hpff_config *c, const key_def *k) { return (char *)c + k->off; }
static const void *cfield(const hpff_config *c, const key_def *k) { return (const char *)c + k->off; }

static int section_known(const char *section) {
    for (size_t i = 0; i < N_SECTIONS; i++)
        if (strcmp(k_sections[i], section) == 0) return 1;
    return 0;
}

static const key_def *find_key(const char *section, const char *name) {
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(k_keys[i].section, section) == 0 && strcmp(k_keys[i].name, name) == 0)
            return &k_keys[i];
    return NULL;
}

// Appends to buf (always terminated; truncates quietly).
static void append(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t n, const char *fmt, ...) {
    size_t used = strlen(buf);
    if (used + 1 >= n) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, n - used, fmt, ap);
    va_end(ap);
}

// ---- "did you mean" ----

// Levenshtein distance; letters differing only in case cost nothing. Long names: INT_MAX.
static int edit_distance(const char *a, const char *b) {
    enum { MAXLEN = 64 };
    size_t la = strlen(a), lb = strlen(b);
    if (la >= MAXLEN || lb >= MAXLEN) return INT_MAX;
    int prev[MAXLEN + 1], cur[MAXLEN + 1];
    for (size_t j = 0; j <= lb; j++) prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof(int) * (lb + 1));
    }
    return prev[lb];
}

// The key whose name is closest to `name` (ties: one in `section`), or NULL if none is close.
static const key_def *closest_key(const char *section, const char *name) {
    const key_def *best = NULL;
    int best_d = INT_MAX;
    for (size_t i = 0; i < N_KEYS; i++) {
        const key_def *k = &k_keys[i];
        int d = edit_distance(name, k->name);
        int better_section = best && strcmp(best->section, section) != 0 && strcmp(k->section, section) == 0;
        if (d < best_d || (d == best_d && better_section)) {
            best = k;
            best_d = d;
        }
    }
    int len = (int)strlen(name), limit = len / 3 > 1 ? len / 3 : 1;
    return best && best_d <= limit && best_d < len ? best : NULL;
}

static void unknown_section(const char *section, char *out, size_t n) {
    out[0] = 0;
    append(out, n, "unknown section [%s]; sections are: ", section);
    for (size_t i = 0; i < N_SECTIONS; i++) append(out, n, "%s%s", i ? ", " : "", k_sections[i]);
}

// One sentence for a section.key that is not in the table.
static void key_error(const char *section, const char *name, char *out, size_t n) {
    out[0] = 0;
    if (*section && !section_known(section)) {
        unknown_section(section, out, n);
        return;
    }
    const key_def *s = closest_key(section, name);
    if (*section) append(out, n, "unknown key '%s.%s'", section, name);
    else append(out, n, "key '%s' has no section", name);
    if (s) {
        append(out, n, "; did you mean '%s.%s'?", s->section, s->name);
    } else if (!*section) {
        append(out, n, "; write it as section.key");
    } else {
        append(out, n, "; %s keys are: ", section);
        int first = 1;
        for (size_t i = 0; i < N_KEYS; i++)
            if (strcmp(k_keys[i].section, section) == 0) {
                append(out, n, "%s%s", first ? "" : ", ", k_keys[i].name);
                first = 0;
            }
    }
}

// ---- values ----

// The accepted range, e.g. ">= 1" or "between 0 and 1"; "" when unbounded.
static void range_text(const key_def *k, char *out, size_t n) {
    if (k->lo == NOLO && k->hi == NOHI) snprintf(out, n, "%s", "");
    else if (k->hi == NOHI) snprintf(out, n, ">= %g", k->lo);
    else if (k->lo == NOLO) snprintf(out, n, "<= %g", k->hi);
    else snprintf(out, n, "between %g and %g", k->lo, k->hi);
}

// The index of v among names, or -1.
static int enum_index(const char *const *names, const char *v) {
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], v) == 0) return i;
    return -1;
}

// "a, b, c": the accepted values of an enum key.
static void enum_list(const key_def *k, char *out, size_t n) {
    out[0] = 0;
    for (int i = 0; k->names[i]; i++) append(out, n, "%s%s", i ? ", " : "", k->names[i]);
}

// The number of values of an enum key.
static int enum_count(const key_def *k) {
    int i = 0;
    while (k->names[i]) i++;
    return i;
}

static int parse_bool(const char *v, int *out) {
    static const char *const on[] = {"1", "on", "true", "yes"}, *const off[] = {"0", "off", "false", "no"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, on[i]) == 0) { *out = 1; return 0; }
        if (strcasecmp(v, off[i]) == 0) { *out = 0; return 0; }
    }
    return -1;
}

// A string that an INI line reads back unchanged (libinih ends a value at " ;").
static int ini_safe(const char *v) {
    for (const char *p = v; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) return 0;
        if (*p == ';' && (p == v || p[-1] == ' ' || p[-1] == '\t')) return 0;
    }
    return 1;
}

// The index of v among the key's values.
static int parse_enum(hpff_config *c, const key_def *k, const char *v, char *why, size_t n) {
    int e = enum_index(k->names, v);
    if (e < 0) {
        char list[256];
        enum_list(k, list, sizeof list);
        snprintf(why, n, "is not one of: %s", list);
        return -1;
    }
    *(int *)field(c, k) = e;
    return 0;
}

static int parse_string(hpff_config *c, const key_def *k, const char *v, char *why, size_t n) {
    if (!ini_safe(v)) {
        snprintf(why, n, "cannot be stored in an INI file (control character, or ';' at the "
                         "start or after white space starts a comment)");
        return -1;
    }
    if (strlen(v) >= HPFF_STR) {
        snprintf(why, n, "is longer than %d characters", HPFF_STR - 1);
        return -1;
    }
    strncpy((char *)field(c, k), v, HPFF_STR);   // zero-fills: configs compare with memcmp
    return 0;
}

// Parses v for key k and stores it in c. On failure c is untouched and `why` completes the
// sentence "'<v>' ..." (e.g. "is not an integer").
static int parse_value(hpff_config *c, const key_def *k, const char *v, char *why, size_t n) {
    char *end = NULL;
    double d = 0;
    long long i = 0;
    switch (k->type) {
    case KEY_BOOL: {
        int b;
        if (parse_bool(v, &b) != 0) {
            snprintf(why, n, "is not a boolean (1/0, on/off, true/false, yes/no)");
            return -1;
        }
        *(int *)field(c, k) = b;
        return 0;
    }
    case KEY_ENUM: return parse_enum(c, k, v, why, n);
    case KEY_STR: return parse_string(c, k, v, why, n);
    case KEY_INT:
    case KEY_LONG:
        errno = 0;
        i = *v ? strtoll(v, &end, 10) : 0;
        if (!*v || *end) {
            snprintf(why, n, "is not an integer");
            return -1;
        }
        long long tmin = k->type == KEY_INT ? INT_MIN : LONG_MIN, tmax = k->type == KEY_INT ? INT_MAX : LONG_MAX;
        if (errno == ERANGE || i < tmin || i > tmax) {
            snprintf(why, n, "is out of range for an integer");
            return -1;
        }
        d = (double)i;
        break;
    case KEY_FLOAT:
        d = *v ? strtod(v, &end) : 0;
        if (!*v || *end || !isfinite(d)) {
            snprintf(why, n, "is not a number");
            return -1;
        }
        if (d > FLT_MAX || d < -FLT_MAX) {
            snprintf(why, n, "is out of range for a float");
            return -1;
        }
        break;
    }
    if (d < k->lo || d > k->hi) {
        char r[64];
        range_text(k, r, sizeof r);
        snprintf(why, n, "is out of range (must be %s)", r);
        return -1;
    }
    if (k->type == KEY_INT) *(int *)field(c, k) = (int)d;
    else if (k->type == KEY_LONG) *(long *)field(c, k) = (long)i;
    else *(float *)field(c, k) = (float)d;
    return 0;
}

// The value as it is written to an INI file; floats in the shortest form that reads back exactly.
static void format_value(const hpff_config *c, const key_def *k, char *out, size_t n) {
    const void *p = cfield(c, k);
    switch (k->type) {
    case KEY_INT: snprintf(out, n, "%d", *(const int *)p); break;
    case KEY_LONG: snprintf(out, n, "%ld", *(const long *)p); break;
    case KEY_BOOL: snprintf(out, n, "%s", *(const int *)p ? "on" : "off"); break;
    case KEY_STR: snprintf(out, n, "%.*s", HPFF_STR - 1, (const char *)p); break;
    case KEY_ENUM: {   // a value outside the enum reads as its number (validate refuses it)
        int e = *(const int *)p;
        if (e >= 0 && e < enum_count(k)) snprintf(out, n, "%s", k->names[e]);
        else snprintf(out, n, "%d", e);
        break;
    }
    case KEY_FLOAT: {
        float f = *(const float *)p;
        for (int digits = 6; digits <= 9; digits++) {
            snprintf(out, n, "%.*g", digits, (double)f);
            if (strtof(out, NULL) == f) break;
        }
        break;
    }
    }
}

// ---- defaults, overrides ----

void hpff_config_defaults(hpff_config *c) {
    memset(c, 0, sizeof *c);
    char why[256];
    for (size_t i = 0; i < N_KEYS; i++) {
        const key_def *k = &k_keys[i];
        int rc = parse_value(c, k, k->def, why, sizeof why);
        HPFF_CHECK(rc == 0, "config table: default %s.%s = '%s' %s", k->section, k->name, k->def, why);
    }
}

// Copies s without surrounding white space into out; -1 if it does not fit.
static int copy_trimmed(char *out, size_t n, const char *s, size_t len) {
    while (len && isspace((unsigned char)*s)) s++, len--;
    while (len && isspace((unsigned char)s[len - 1])) len--;
    if (len >= n) return -1;
    memcpy(out, s, len);
    out[len] = 0;
    return 0;
}

// A value in matching quotes ("..." or '...', as INI files often write paths) is taken without
// them; a quote left unmatched at either end is refused (it would end up in a path or a name).
static int unquote(char *v, char *why, size_t n) {
    size_t len = strlen(v);
    int q0 = len && (v[0] == '"' || v[0] == '\''), q1 = len && (v[len - 1] == '"' || v[len - 1] == '\'');
    if (q0 && q1 && len >= 2 && v[0] == v[len - 1]) {
        memmove(v, v + 1, len - 2);
        v[len - 2] = 0;
        len -= 2;
        q0 = len && (v[0] == '"' || v[0] == '\'');
        q1 = len && (v[len - 1] == '"' || v[len - 1] == '\'');
    }
    if (!q0 && !q1) return 0;
    snprintf(why, n, "has an unmatched quote; write the value without quotes, or in one matching pair");
    return -1;
}

hpff_status hpff_config_set(hpff_config *c, const char *assignment, const char *source) {
    if (!source) source = "--set";
    const char *eq = strchr(assignment, '=');
    if (!eq) return hpff_status_fail("%s %s: expected section.key=value", source, assignment);
    char key[128], value[HPFF_STR + 1], why[400];
    if (copy_trimmed(key, sizeof key, assignment, (size_t)(eq - assignment)) != 0)
        return hpff_status_fail("%s %s: the key is too long to be a section.key", source, assignment);
    if (copy_trimmed(value, sizeof value, eq + 1, strlen(eq + 1)) != 0)
        return hpff_status_fail("%s %s: the value is longer than %d characters", source, assignment,
                                HPFF_STR - 1);
    char *dot = strchr(key, '.');
    const char *section = dot ? key : "", *name = dot ? dot + 1 : key;
    if (dot) *dot = 0;
    const key_def *k = find_key(section, name);
    if (!k) {
        key_error(section, name, why, sizeof why);
        return hpff_status_fail("%s %s: %s", source, assignment, why);
    }
    if (unquote(value, why, sizeof why) != 0 || parse_value(c, k, value, why, sizeof why) != 0)
        return hpff_status_fail("%s %s: '%s' %s", source, assignment, value, why);
    return hpff_status_ok();
}

// ---- INI loading ----
// libinih's handler gets no line number here (INI_HANDLER_LINENO is 0 in the Debian build),
// so the reader counts lines itself. It also catches what libinih would accept silently:
// unknown (possibly empty) sections, and lines cut at libinih's line-length limit. Leading
// white space is removed so an indented line is a key, not a multi-line continuation.

typedef struct load_ctx {
    FILE *f;
    const char *path;
    hpff_config *c;
    int line;         // lines read so far = the line the handler is looking at
    int err_line;     // line of the recorded error (0: none)
    int read_errno;   // errno of a failed read
    int seen[N_KEYS]; // the line that set each key (0: not yet): a key given twice is warned about
    hpff_status st;
} load_ctx;

static void load_fail(load_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void load_fail(load_ctx *x, const char *fmt, ...) {
    if (x->st.code) return;
    char msg[450];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    x->st = hpff_status_fail("%s:%d: %s", x->path, x->line, msg);
    x->err_line = x->line;
}

static void check_section_line(load_ctx *x, const char *open) {
    const char *close = strchr(open, ']');
    if (!close) return;   // libinih reports the malformed header
    char name[64], why[400];
    snprintf(name, sizeof name, "%.*s", close - open < 60 ? (int)(close - open) : 60, open);
    if (section_known(name)) return;
    unknown_section(name, why, sizeof why);
    load_fail(x, "%s", why);
}

static char *read_line(char *buf, int num, void *stream) {
    load_ctx *x = stream;
    if (x->st.code) return NULL;
    if (!fgets(buf, num, x->f)) {
        if (ferror(x->f)) x->read_errno = errno ? errno : EIO;
        return NULL;
    }
    x->line++;
    size_t len = strlen(buf), skip = 0;
    int cut = len + 1 == (size_t)num && buf[len - 1] != '\n' && !feof(x->f);
    if (x->line == 1 && strncmp(buf, "\xEF\xBB\xBF", 3) == 0) skip = 3;
    while (skip < len && (buf[skip] == ' ' || buf[skip] == '\t')) skip++;
    memmove(buf, buf + skip, len - skip + 1);
    if (cut) {
        if (buf[0] != '#' && buf[0] != ';') {
            load_fail(x, "line is longer than %d characters", num - 2);
            return NULL;
        }
        int ch;
        while ((ch = fgetc(x->f)) != EOF && ch != '\n') continue;   // a long comment is fine
    }
    if (buf[0] == '[') check_section_line(x, buf + 1);
    return x->st.code ? NULL : buf;
}

static int on_key(void *user, const char *section, const char *name, const char *value) {
    load_ctx *x = user;
    if (x->st.code) return 0;
    char why[400];
    const key_def *k = find_key(section, name);
    if (!k) {
        key_error(section, name, why, sizeof why);
        load_fail(x, "%s", why);
        return 0;
    }
    size_t ki = (size_t)(k - k_keys);   // the last one counts, as in every INI reader: said, not silent
    if (x->seen[ki] && hpff_get_rank() <= 0)
        fprintf(stderr, "hpff_pipe: warning: %s:%d: %s.%s is given twice (lines %d and %d); line %d is used\n",
                x->path, x->line, section, name, x->seen[ki], x->line, x->line);
    x->seen[ki] = x->line;
    char v[HPFF_STR + 1];
    snprintf(v, sizeof v, "%s", value);
    if (unquote(v, why, sizeof why) != 0 || parse_value(x->c, k, v, why, sizeof why) != 0) {
        load_fail(x, "%s.%s = '%s' %s", section, name, value, why);
        return 0;
    }
    return 1;
}

// Parses an open INI stream named `name` (a file's path) over c.
static hpff_status load_stream(hpff_config *c, FILE *f, const char *name) {
    hpff_config work = *c;   // c changes only if the whole file is good
    load_ctx x = {.f = f, .path = name, .c = &work, .st = hpff_status_ok()};
    int rc = ini_parse_stream(read_line, &x, on_key, &x);
    if (x.read_errno)
        return hpff_status_fail("cannot read config file '%s': %s", name, strerror(x.read_errno));
    if (rc > 0 && (!x.st.code || rc < x.err_line))
        return hpff_status_fail("%s:%d: cannot parse this line; expected 'key = value', '[section]' "
                                "or a comment", name, rc);
    if (x.st.code) return x.st;
    if (rc < 0) return hpff_status_fail("cannot parse config file '%s': out of memory", name);
    *c = work;
    return hpff_status_ok();
}

hpff_status hpff_config_load(hpff_config *c, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return hpff_status_fail("cannot open config file '%s': %s", path, strerror(errno));
    hpff_status st = load_stream(c, f, path);
    fclose(f);
    return st;
}

hpff_status hpff_config_load_text(hpff_config *c, const char *text, const char *name) {
    if (!text[0]) return hpff_status_ok();   // nothing to read (fmemopen refuses an empty buffer)
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    if (!f) return hpff_status_fail("cannot read the configuration of %s: %s", name, strerror(errno));
    hpff_status st = load_stream(c, f, name);
    fclose(f);
    return st;
}

// ---- validation ----

hpff_status hpff_config_validate(const hpff_config *c) {
    // Every value must be one the parser would accept (fields may have been set directly).
    hpff_config scratch;
    char text[HPFF_STR + 32], why[400];
    for (size_t i = 0; i < N_KEYS; i++) {
        const key_def *k = &k_keys[i];
        format_value(c, k, text, sizeof text);
        if (parse_value(&scratch, k, text, why, sizeof why) != 0)
            return hpff_status_fail("%s.%s = '%s' %s", k->section, k->name, text, why);
    }
    int bp = c->method == HPFF_METHOD_BP;
    const char *method = hpff_config_enum_name(c, &c->method);
    if (bp && c->K != 1)
        return hpff_status_fail("train.method = bp trains end to end; local.K must be 1 (got %d)", c->K);
    if (!bp && c->K < 2)
        return hpff_status_fail("train.method = %s trains local modules; local.K must be >= 2 (got %d)",
                                method, c->K);
    if (!bp && !c->il && !c->cl)
        return hpff_status_fail("train.method = %s with local.il and local.cl both off has no local "
                                "loss; turn one of them on", method);
    int list = c->split == HPFF_SPLIT_LIST;
    if (list && !c->modules[0])
        return hpff_status_fail("local.split = list needs local.modules (block end points such as "
                                "1:0,1:2,2:1)");
    if (!list && c->modules[0])
        return hpff_status_fail("local.modules is set but local.split = %s; set local.split = list "
                                "or clear local.modules", hpff_config_enum_name(c, &c->split));
    if (c->transport == HPFF_TRANSPORT_NCCL && c->device == HPFF_DEVICE_CPU)
        return hpff_status_fail("pipeline.transport = nccl needs GPUs, but backend.device = cpu");
    return hpff_status_ok();
}

// ---- output ----

static void type_text(const key_def *k, char *out, size_t n) {
    static const char *const names[] = {"int", "int", "float", "bool (on/off)", "string", "enum"};
    char r[64];
    range_text(k, r, sizeof r);
    if (k->type == KEY_ENUM) {
        char list[256];
        enum_list(k, list, sizeof list);
        snprintf(out, n, "one of: %s", list);
    } else snprintf(out, n, "%s%s%s", names[k->type], *r ? " " : "", r);
}

void hpff_config_write(const hpff_config *c, FILE *f) {
    char value[HPFF_STR + 32], type[160];
    fprintf(f, "# hpff_pipe effective configuration; load it with --config FILE\n");
    for (size_t s = 0; s < N_SECTIONS; s++) {
        fprintf(f, "\n[%s]\n", k_sections[s]);
        for (size_t i = 0; i < N_KEYS; i++) {
            const key_def *k = &k_keys[i];
            if (strcmp(k->section, k_sections[s]) != 0) continue;
            type_text(k, type, sizeof type);
            format_value(c, k, value, sizeof value);
            fprintf(f, "# %s\n# %s; default %s\n%s =%s%s\n", k->help, type, *k->def ? k->def : "\"\"",
                    k->name, *value ? " " : "", value);
        }
    }
}

void hpff_config_help(FILE *f) {
    char type[160];
    fprintf(f, "Configuration keys. Set them in an INI file (--config FILE) under [section] and\n"
               "override any with --set section.key=value; later settings win. Booleans accept\n"
               "1/0, on/off, true/false, yes/no. § numbers refer to ALGORITHM.md.\n");
    for (size_t s = 0; s < N_SECTIONS; s++) {
        fprintf(f, "\n[%s]\n", k_sections[s]);
        for (size_t i = 0; i < N_KEYS; i++) {
            const key_def *k = &k_keys[i];
            if (strcmp(k->section, k_sections[s]) != 0) continue;
            type_text(k, type, sizeof type);
            fprintf(f, "  %-18s %s; default %s\n      %s\n", k->name, type, *k->def ? k->def : "\"\"", k->help);
        }
    }
}

const char *hpff_config_enum_name(const hpff_config *c, const void *f) {
    size_t off = (size_t)((const char *)f - (const char *)c);
    for (size_t i = 0; i < N_KEYS; i++) {
        const key_def *k = &k_keys[i];
        if (k->off != off) continue;
        HPFF_CHECK(k->type == KEY_ENUM, "%s.%s is not an enum key", k->section, k->name);
        int e = *(const int *)f;
        HPFF_CHECK(e >= 0 && e < enum_count(k), "%s.%s holds %d, not one of its values", k->section, k->name, e);
        return k->names[e];
    }
    hpff_fatal(__FILE__, __LINE__, "field", "hpff_config_enum_name: not a field of the configuration");
}

int hpff_config_diff_model(const hpff_config *a, const hpff_config *b, char *why, size_t why_len) {
    char va[HPFF_STR + 32], vb[HPFF_STR + 32];
    int n = 0;
    if (why && why_len) why[0] = 0;
    for (size_t i = 0; i < N_KEYS; i++) {
        const key_def *k = &k_keys[i];
        if (!k->model) continue;
        format_value(a, k, va, sizeof va);
        format_value(b, k, vb, sizeof vb);
        if (strcmp(va, vb) == 0) continue;
        n++;
        if (why && why_len)
            append(why, why_len, "%s.%s: %s vs %s\n", k->section, k->name, *va ? va : "(empty)",
                   *vb ? vb : "(empty)");
    }
    return n;
}
