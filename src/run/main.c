// main.c — hpff_pipe's command line: wires the config, the MPI world and the training run.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "feature_export.h"
#include "train.h"
#include "world.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: hpff_pipe --config FILE [--set section.key=value ...] [--resume RUN_DIR | --overwrite]\n"
            "       hpff_pipe --export-features RUN_DIR [--split test|train] [--n N] [--out F.h5]\n"
            "                 [--map-unit U | --map-module M] [--batch B] [--set section.key=value ...]\n"
            "       hpff_pipe --help\n\n"
            "Trains a network with locally supervised learning (HPFF), one MPI rank per pipeline\n"
            "stage: mpirun -np N hpff_pipe --config configs/quickstart.ini\n\n"
            "  --config FILE     INI configuration (sections and keys below)\n"
            "  --set S.K=V       override one key (repeatable; applied after the file)\n"
            "  --resume RUN_DIR  continue from the newest complete checkpoint in RUN_DIR/checkpoints;\n"
            "                    without --config the run's saved RUN_DIR/config.ini is used\n"
            "  --overwrite       start afresh in a train.run_dir that holds an earlier run's\n"
            "                    checkpoints, deleting them and its metrics (refused otherwise)\n"
            "  --init-from FILE  start from the weights in FILE (HDF5, PyTorch state_dict names; the same\n"
            "                    as --set model.init_from=FILE; hpff_export writes such files)\n"
            "  --print-config    print the effective configuration and exit\n"
            "  --export-features RUN_DIR\n"
            "                    one process, no training: loads RUN_DIR's newest complete checkpoint\n"
            "                    (any rank count) and writes, for the first N images of a split (file\n"
            "                    order, no augmentation), every unit's output (stem, each block)\n"
            "                    globally average-pooled (features/uNN), Φ's logits and the labels to\n"
            "                    HDF5 (default RUN_DIR/features_<split>.h5; analysis/README.md);\n"
            "                    --map-unit / --map-module add one unit's full map (map); the\n"
            "                    configuration is RUN_DIR/config.ini with the --set overrides\n"
            "  --help            this text\n\n");
}

typedef struct args {
    const char *config, *resume, *init_from, *export_dir;
    const char *sets[128];
    int n_sets, print_only, help, overwrite;
    hpff_features_opts ex;
} args;

// The options of --export-features; returns 1 if s (with its value) was one of them.
static int parse_export_arg(const char *s, const char *val, args *a) {
    char *end = NULL;
    if (!strcmp(s, "--split")) a->ex.split = val;
    else if (!strcmp(s, "--out")) a->ex.out = val;
    else if (!strcmp(s, "--n")) a->ex.n = strtol(val, &end, 10);
    else if (!strcmp(s, "--map-unit")) a->ex.map_unit = (int)strtol(val, &end, 10);
    else if (!strcmp(s, "--map-module")) a->ex.map_module = (int)strtol(val, &end, 10);
    else if (!strcmp(s, "--batch")) a->ex.batch = (int)strtol(val, &end, 10);
    else return 0;
    return !end || (*end == 0 && end != val) ? 1 : -1;
}

static int parse_args(int argc, char **argv, args *a, char *err, size_t n) {
    memset(a, 0, sizeof *a);
    a->ex.split = "test";
    a->ex.map_unit = a->ex.map_module = -1;
    int export_only = 0;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int has_val = i + 1 < argc, e = has_val ? parse_export_arg(s, argv[i + 1], a) : 0;
        if (e) {
            if (e < 0) {
                snprintf(err, n, "%s '%s': expected an integer", s, argv[i + 1]);
                return 1;
            }
            export_only = 1;
            i++;
        } else if (!strcmp(s, "--help") || !strcmp(s, "-h")) a->help = 1;
        else if (!strcmp(s, "--print-config")) a->print_only = 1;
        else if (!strcmp(s, "--overwrite")) a->overwrite = 1;
        else if (!strcmp(s, "--config") && has_val) a->config = argv[++i];
        else if (!strcmp(s, "--resume") && has_val) a->resume = argv[++i];
        else if (!strcmp(s, "--export-features") && has_val) a->export_dir = a->ex.run_dir = argv[++i];
        else if (!strcmp(s, "--init-from") && has_val) a->init_from = argv[++i];
        else if (!strcmp(s, "--set") && has_val && a->n_sets < 128) a->sets[a->n_sets++] = argv[++i];
        else {
            snprintf(err, n, "unknown or incomplete argument '%s' (see hpff_pipe --help)", s);
            return 1;
        }
    }
    if (export_only && !a->export_dir) {
        snprintf(err, n, "--split, --n, --out, --map-unit, --map-module and --batch belong to --export-features RUN_DIR");
        return 1;
    }
    if (a->export_dir && (a->config || a->resume || a->overwrite)) {
        snprintf(err, n, "--export-features reads RUN_DIR/config.ini: give no --config, --resume or --overwrite with it");
        return 1;
    }
    if (a->overwrite && a->resume) {
        snprintf(err, n, "--overwrite starts afresh and --resume continues: give one of them");
        return 1;
    }
    if (!a->help && !a->config && !a->resume && !a->export_dir) {
        snprintf(err, n, "no --config given (see hpff_pipe --help)");
        return 1;
    }
    return 0;
}

static hpff_status load_config(const args *a, hpff_config *c) {
    hpff_config_defaults(c);
    char path[600];
    const char *file = a->config, *from = a->resume ? a->resume : a->export_dir;
    if (!file) {
        snprintf(path, sizeof path, "%s/config.ini", from);
        file = path;
    }
    hpff_status st = hpff_config_load(c, file);
    for (int i = 0; i < a->n_sets && !st.code; i++) st = hpff_config_set(c, a->sets[i], "--set");
    if (!st.code && a->init_from) {
        char kv[HPFF_STR + 32];
        snprintf(kv, sizeof kv, "model.init_from=%s", a->init_from);
        st = hpff_config_set(c, kv, "--init-from");
    }
    if (!st.code && a->resume) snprintf(c->run_dir, sizeof c->run_dir, "%s", a->resume);
    if (!st.code) st = hpff_config_validate(c);
    return st;
}

// The effective configuration without the per-key comments (run_dir/config.ini has them).
static void print_effective(const hpff_config *cfg) {
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m) return;
    hpff_config_write(cfg, m);
    fclose(m);
    printf("effective configuration:\n");
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
        if (line[0] != '#' && line[0] != ';') printf("%s%s\n", line[0] == '[' ? "" : "  ", line);
    printf("\n");
    fflush(stdout);
    free(buf);
}

int main(int argc, char **argv) {
    hpff_world w;
    hpff_world_init(&w, &argc, &argv);
    args a;
    char err[512];
    int rc = 0;
    if (parse_args(argc, argv, &a, err, sizeof err)) {
        if (w.rank == 0) fprintf(stderr, "hpff_pipe: %s\n", err);
        rc = 2;
    } else if (a.help) {
        if (w.rank == 0) { usage(stdout); hpff_config_help(stdout); }
    } else {
        hpff_config cfg;
        hpff_status st = load_config(&a, &cfg);
        if (st.code) {
            if (w.rank == 0) fprintf(stderr, "hpff_pipe: %s\n", st.msg);
            rc = 2;
        } else if (a.print_only) {
            if (w.rank == 0) hpff_config_write(&cfg, stdout);
        } else if (a.export_dir) {
            if (w.size > 1 && w.rank == 0)
                fprintf(stderr, "hpff_pipe: --export-features runs in one process (it reads every rank's checkpoint file); run it without mpirun -np %d\n", w.size);
            rc = w.size > 1 ? 2 : hpff_features_export(&cfg, &w, &a.ex);
        } else {
            if (w.rank == 0) print_effective(&cfg);
            rc = hpff_train_run(&cfg, &w, a.resume, a.overwrite);
        }
    }
    hpff_world_finalize(&w);
    return rc;
}
