// test_config.c — configuration: defaults, INI loading and --set overrides, every error
// message (file, line, key, value, what is accepted), cross-key validation, write -> load
// round trip, --help coverage and the model-compatibility diff.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "test_util.h"

// Every key, independent of the table in config.c, so a dropped row fails here.
static const char *const k_all_keys[] = {
    "model.arch", "model.width", "model.blocks", "model.classes", "model.init_from",
    "data.train_file", "data.test_file", "data.augment", "data.pad_to", "data.loader_threads",
    "data.image_size", "data.eval_resize", "data.dct_scaling",
    "train.method", "train.epochs", "train.batch", "train.lr", "train.schedule", "train.momentum",
    "train.weight_decay", "train.seed", "train.max_steps", "train.run_dir", "train.resume", "train.log_every",
    "train.ckpt_every", "train.ckpt_every_epochs", "train.threads", "train.nan_policy", "train.eval",
    "local.K", "local.split", "local.modules", "local.il", "local.cl", "local.pff", "local.pff_n",
    "local.pff_levels", "local.w_il", "local.w_cl", "local.il_first", "local.last_cascade",
    "local.il_loss", "local.bn_emulate", "local.dgl_aux", "local.infopro_aux", "local.infopro_mode",
    "local.ixx_1", "local.ixy_1", "local.ixx_2", "local.ixy_2", "local.predsim_beta",
    "local.predsim_T", "local.predsim_variant", "local.predsim_sim_patch", "local.pff_rec",
    "pipeline.cascade", "pipeline.transport", "pipeline.ranges", "pipeline.balance", "pipeline.stages",
    "pipeline.check_replicas", "pipeline.timeout",
    "backend.device", "backend.tf32", "backend.graph", "backend.cpu_conv",
};
#define N_ALL (sizeof k_all_keys / sizeof k_all_keys[0])

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) { perror(path); exit(2); }
    fputs(text, f);
    fclose(f);
}

#define CHECK_MSG(st, expect)                                                                  \
    TEST_CHECK((st).code != 0 && strstr((st).msg, (expect)) != NULL,                           \
               "expected an error containing \"%s\", got code %d: \"%s\"", (expect), (st).code, \
               (st).msg)

// Loads `text` over the defaults and expects an error containing `expect`; the config must be
// left untouched.
static void expect_load_error(const char *text, const char *expect) {
    hpff_config c, d;
    hpff_config_defaults(&c);
    hpff_config_defaults(&d);
    write_file("cfgtest_bad.ini", text);
    hpff_status st = hpff_config_load(&c, "cfgtest_bad.ini");
    CHECK_MSG(st, expect);
    TEST_CHECK(memcmp(&c, &d, sizeof c) == 0, "failed load of \"%s\" changed the config", expect);
}

static void expect_set_error(const char *assignment, const char *expect) {
    hpff_config c, d;
    hpff_config_defaults(&c);
    hpff_config_defaults(&d);
    hpff_status st = hpff_config_set(&c, assignment, "--set");
    CHECK_MSG(st, expect);
    TEST_CHECK(memcmp(&c, &d, sizeof c) == 0, "failed --set %s changed the config", assignment);
}

static void expect_invalid(const hpff_config *c, const char *expect) {
    hpff_status st = hpff_config_validate(c);
    CHECK_MSG(st, expect);
}

static void test_defaults(void) {
    hpff_config c;
    hpff_config_defaults(&c);
    TEST_CHECK(c.arch == HPFF_ARCH_RESNET32 && c.width == 16, "model defaults");
    TEST_CHECK(strcmp(c.train_file, "data/fmnist.h5") == 0 && c.test_file[0] == 0, "data files");
    TEST_CHECK(c.augment == HPFF_AUGMENT_AUTO && c.pad_to == 0 && c.loader_threads == 2, "data");
    TEST_CHECK(c.method == HPFF_METHOD_BP && c.epochs == 1 && c.batch == 128, "method/epochs/batch");
    TEST_CHECK(c.lr == 0.1f && c.momentum == 0.9f && c.weight_decay == 1e-4f, "optimizer");
    TEST_CHECK(c.schedule == HPFF_SCHEDULE_CIFAR_COSINE && c.seed == 0 && c.max_steps == 0, "schedule");
    TEST_CHECK(strcmp(c.run_dir, "runs/default") == 0 && c.log_every == 10, "run_dir/log_every");
    TEST_CHECK(c.ckpt_every == 0 && c.ckpt_every_epochs == 1 && c.threads == 1, "ckpt/threads");
    TEST_CHECK(c.nan_policy == HPFF_NAN_ABORT && c.eval == 1, "nan_policy/eval");
    TEST_CHECK(c.K == 1 && c.split == HPFF_SPLIT_CODE && c.modules[0] == 0, "K/split/modules");
    TEST_CHECK(c.il == 1 && c.cl == 1 && c.pff == 1 && c.pff_n == 2, "levels");
    TEST_CHECK(c.pff_levels == HPFF_PFF_BOTH && c.w_il == -1.0f && c.w_cl == -1.0f, "weights");
    TEST_CHECK(c.il_first == 0 && c.last_cascade == 1 && c.il_loss == HPFF_IL_LOSS_CODE, "§4.7");
    TEST_CHECK(c.bn_emulate == 0 && c.dgl_aux == HPFF_DGL_AUX_PORT, "bn_emulate/dgl_aux");
    TEST_CHECK(c.infopro_aux == HPFF_INFOPRO_AUX_2C2F && c.infopro_mode == HPFF_INFOPRO_CE, "infopro");
    TEST_CHECK(c.ixx_1 == 5.0f && c.ixy_1 == 0.5f && c.ixx_2 == 0 && c.ixy_2 == 0, "lambdas");
    TEST_CHECK(c.predsim_beta == 0.99f && c.predsim_T == 512, "predsim beta/T");
    TEST_CHECK(c.predsim_variant == HPFF_PREDSIM_PORT && c.predsim_sim_patch == 1, "predsim");
    TEST_CHECK(c.pff_rec == HPFF_PFF_REC_CODE && c.cascade == HPFF_CASCADE_STRICT, "pff_rec/cascade");
    TEST_CHECK(c.transport == HPFF_TRANSPORT_AUTO && c.ranges[0] == 0, "transport/ranges");
    TEST_CHECK(c.device == HPFF_DEVICE_AUTO && c.tf32 == 1 && c.graph == 0 && c.cpu_conv == HPFF_CPU_CONV_AUTO,
               "backend");
    hpff_status st = hpff_config_validate(&c);
    TEST_CHECK(st.code == 0, "defaults must validate: %s", st.msg);
}

static void test_load_and_set(void) {
    hpff_config c;
    hpff_config_defaults(&c);
    write_file("cfgtest_ok.ini",
               "# comment\n"
               "; another comment\n"
               "\n"
               "[train]\n"
               "method = dgl\n"
               "batch = 64 ; inline comment\n"
               "   lr = 0.8\n"                   // indented: a key, not a continuation
               "max_steps = 3000000000\n"
               "\n"
               "[local]\n"
               "K = 16\n"
               "modules =\n"
               "w_il = 0.5\n"
               "il_first = yes\n"
               "[data]\n"
               "test_file = data/other file.h5\n");
    hpff_status st = hpff_config_load(&c, "cfgtest_ok.ini");
    TEST_CHECK(st.code == 0, "load: %s", st.msg);
    TEST_CHECK(c.method == HPFF_METHOD_DGL && c.batch == 64 && c.lr == 0.8f, "loaded train values");
    TEST_CHECK(c.max_steps == 3000000000L, "long value %ld", c.max_steps);
    TEST_CHECK(c.K == 16 && c.w_il == 0.5f && c.il_first == 1, "loaded local values");
    TEST_CHECK(strcmp(c.test_file, "data/other file.h5") == 0, "string with a space: '%s'", c.test_file);
    TEST_CHECK(c.epochs == 1 && c.arch == HPFF_ARCH_RESNET32, "untouched keys keep defaults");
    st = hpff_config_validate(&c);
    TEST_CHECK(st.code == 0, "dgl K=16 validates: %s", st.msg);

    st = hpff_config_set(&c, "train.batch=256", "--set");
    TEST_CHECK(st.code == 0 && c.batch == 256, "--set overrides the file: %s", st.msg);
    st = hpff_config_set(&c, "  local.split =  list ", NULL);
    TEST_CHECK(st.code == 0 && c.split == HPFF_SPLIT_LIST, "--set trims spaces: %s", st.msg);
    st = hpff_config_set(&c, "local.modules=1:0,1:2,2:1", "--set");
    TEST_CHECK(st.code == 0 && strcmp(c.modules, "1:0,1:2,2:1") == 0, "--set string: %s", st.msg);
    st = hpff_config_set(&c, "pipeline.ranges=", "--set");
    TEST_CHECK(st.code == 0 && c.ranges[0] == 0, "--set empty string: %s", st.msg);
    st = hpff_config_set(&c, "train.lr=1e-3", "--set");
    TEST_CHECK(st.code == 0 && c.lr == 1e-3f, "--set float with exponent: %s", st.msg);
    for (int i = 0; i < 3; i++) {   // every accepted local.pff_rec value (PFF-A, shared, PFF-C)
        static const char *const rec[] = {"code", "shared", "output"};
        char a[64];
        snprintf(a, sizeof a, "local.pff_rec=%s", rec[i]);
        st = hpff_config_set(&c, a, "--set");
        TEST_CHECK(st.code == 0 && strcmp(hpff_config_enum_name(&c, &c.pff_rec), rec[i]) == 0, "%s: %s", a, st.msg);
    }
    st = hpff_config_set(&c, "local.pff_rec=input", "--set");
    TEST_CHECK(st.code != 0, "local.pff_rec=input is rejected");

    // Every key accepts its own written default through --set.
    hpff_config d;
    hpff_config_defaults(&d);
    FILE *f = fopen("cfgtest_defaults.ini", "w");
    hpff_config_write(&d, f);
    fclose(f);
    f = fopen("cfgtest_defaults.ini", "r");
    char line[512], section[64] = "";
    int n_keys = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (line[0] == '[') { sscanf(line, "[%63[^]]]", section); continue; }
        char *eq = strstr(line, " =");
        if (line[0] == '#' || !eq) continue;
        char assign[600];
        *eq = 0;
        snprintf(assign, sizeof assign, "%s.%s=%s", section, line, eq + 2);
        hpff_config e = d;
        st = hpff_config_set(&e, assign, "--set");
        TEST_CHECK(st.code == 0 && memcmp(&e, &d, sizeof e) == 0, "--set %s: %s", assign, st.msg);
        n_keys++;
    }
    fclose(f);
    TEST_CHECK(n_keys == (int)N_ALL, "written config has %d keys, expected %zu", n_keys, N_ALL);
}

static void test_bools(void) {
    static const char *const on[] = {"1", "on", "true", "yes", "ON", "True", "YES"};
    static const char *const off[] = {"0", "off", "false", "no", "OFF", "False", "No"};
    char a[64];
    for (size_t i = 0; i < sizeof on / sizeof on[0]; i++) {
        hpff_config c;
        hpff_config_defaults(&c);
        c.pff = 0;
        snprintf(a, sizeof a, "local.pff=%s", on[i]);
        hpff_status st = hpff_config_set(&c, a, "--set");
        TEST_CHECK(st.code == 0 && c.pff == 1, "%s -> 1 (%s)", a, st.msg);
        snprintf(a, sizeof a, "local.pff=%s", off[i]);
        st = hpff_config_set(&c, a, "--set");
        TEST_CHECK(st.code == 0 && c.pff == 0, "%s -> 0 (%s)", a, st.msg);
    }
    expect_set_error("train.eval=maybe", "--set train.eval=maybe: 'maybe' is not a boolean (1/0, on/off, true/false, yes/no)");
    expect_set_error("train.eval=2", "'2' is not a boolean");
}

static void test_file_errors(void) {
    hpff_config c;
    hpff_config_defaults(&c);
    hpff_status st = hpff_config_load(&c, "cfgtest_missing.ini");
    CHECK_MSG(st, "cannot open config file 'cfgtest_missing.ini': No such file or directory");
    st = hpff_config_load(&c, ".");
    CHECK_MSG(st, "cannot read config file '.': Is a directory");

    expect_load_error("[model]\narch = resnet20\n\n# c\n[tran]\nlr = 0.1\n",
                      "cfgtest_bad.ini:5: unknown section [tran]; sections are: model, data, train, "
                      "local, pipeline, backend");
    expect_load_error("[train]\nlr = 0.1\n[tran]\n", "cfgtest_bad.ini:3: unknown section [tran]");
    expect_load_error("[train]\nbatch = 4\nlrr = 0.1\n",
                      "cfgtest_bad.ini:3: unknown key 'train.lrr'; did you mean 'train.lr'?");
    expect_load_error("[train]\nmomentun = 0.9\n", "unknown key 'train.momentun'; did you mean 'train.momentum'?");
    expect_load_error("[train]\nK = 8\n", "cfgtest_bad.ini:2: unknown key 'train.K'; did you mean 'local.K'?");
    expect_load_error("[local]\nk = 8\n", "unknown key 'local.k'; did you mean 'local.K'?");
    expect_load_error("[backend]\nzzzzzzzz = 1\n",
                      "cfgtest_bad.ini:2: unknown key 'backend.zzzzzzzz'; backend keys are: device, tf32, graph, cpu_conv");
    expect_load_error("batch = 4\n", "cfgtest_bad.ini:1: key 'batch' has no section; did you mean 'train.batch'?");
    expect_load_error("[train]\n\n\n\n\n\n\n\n\n\n\n\n\n\nbatch = abc\n",
                      "cfgtest_bad.ini:15: train.batch = 'abc' is not an integer");
    expect_load_error("[train]\nbatch = 12x\n", "train.batch = '12x' is not an integer");
    expect_load_error("[train]\nbatch = 99999999999\n", "train.batch = '99999999999' is out of range for an integer");
    expect_load_error("[train]\nlr = fast\n", "cfgtest_bad.ini:2: train.lr = 'fast' is not a number");
    expect_load_error("[train]\nlr = nan\n", "train.lr = 'nan' is not a number");
    expect_load_error("[train]\nlr = 1e50\n", "train.lr = '1e50' is out of range for a float");
    expect_load_error("[model]\n\n\n\n\n\n\n\n[train]\nmethod = dlg\n",
                      "cfgtest_bad.ini:10: train.method = 'dlg' is not one of: bp, dgl, infopro, predsim");
    expect_load_error("[model]\narch = resnet33\n", "model.arch = 'resnet33' is not one of: resnet8, resnet14, "
                      "resnet20, resnet32, resnet44, resnet56, resnet110");
    expect_load_error("[backend]\ndevice = gpu\n", "backend.device = 'gpu' is not one of: auto, cpu, cuda");
    expect_load_error("[train]\nbatch = 0\n", "cfgtest_bad.ini:2: train.batch = '0' is out of range (must be >= 1)");
    expect_load_error("[train]\nepochs = 0\n", "train.epochs = '0' is out of range (must be >= 1)");
    expect_load_error("[train]\nlr = -0.1\n", "train.lr = '-0.1' is out of range (must be >= 0)");
    expect_load_error("[train]\nthreads = 0\n", "train.threads = '0' is out of range (must be >= 1)");
    expect_load_error("[train]\nmomentum = 1.5\n", "train.momentum = '1.5' is out of range (must be between 0 and 1)");
    expect_load_error("[local]\npff_n = 0\n", "local.pff_n = '0' is out of range (must be >= 1)");
    expect_load_error("[local]\nK = 0\n", "local.K = '0' is out of range (must be >= 1)");
    expect_load_error("[local]\npredsim_beta = 2\n", "local.predsim_beta = '2' is out of range (must be between 0 and 1)");
    expect_load_error("[data]\npad_to = -4\n", "data.pad_to = '-4' is out of range (must be >= 0)");
    expect_load_error("[train]\nbatch 4\n", "cfgtest_bad.ini:2: cannot parse this line");
    // Quotes: a matching pair is dropped, an unmatched one refused (not kept in a path).
    expect_load_error("[train]\nrun_dir = \"/tmp/x\n", "train.run_dir = '\"/tmp/x' has an unmatched quote");
    expect_load_error("[train]\nrun_dir = '/tmp/x\"\n", "has an unmatched quote");
    expect_set_error("train.run_dir=/tmp/x'", "has an unmatched quote");
    write_file("cfgtest_quote.ini", "[train]\nrun_dir = \"/tmp/x y\"\nmethod = 'dgl'\n[local]\nK = \"4\"\n");
    hpff_config_defaults(&c);
    st = hpff_config_load(&c, "cfgtest_quote.ini");
    TEST_CHECK(!st.code && strcmp(c.run_dir, "/tmp/x y") == 0 && c.method == HPFF_METHOD_DGL && c.K == 4,
               "quoted values: %s, run_dir '%s', K %d", st.msg, c.run_dir, c.K);
    // A key given twice in one file: the last counts (and hpff_pipe warns, test_faults.sh edges).
    write_file("cfgtest_twice.ini", "[train]\nlr = 0.1\nbatch = 4\n[model]\nwidth = 8\n[train]\nlr = 0.2\n");
    hpff_config_defaults(&c);
    st = hpff_config_load(&c, "cfgtest_twice.ini");
    TEST_CHECK(!st.code && c.lr == 0.2f && c.batch == 4, "key given twice: %s, lr %g", st.msg, c.lr);
    st = hpff_config_set(&c, "train.run_dir=\"/tmp/z\"", "--set");
    TEST_CHECK(!st.code && strcmp(c.run_dir, "/tmp/z") == 0, "quoted --set: %s, run_dir '%s'", st.msg, c.run_dir);
    expect_load_error("[train\nbatch = 4\n", "cfgtest_bad.ini:1: cannot parse this line");

    char big[400];
    memset(big, 'a', sizeof big);
    memcpy(big, "[train]\nrun_dir = ", 18);
    strcpy(big + 300, "\n");
    expect_load_error(big, "cfgtest_bad.ini:2: line is longer than");
    // A long comment is skipped whole (its tail must not be read as a key).
    char note[400];
    memset(note, 'x', sizeof note);
    memcpy(note, "# ", 2);
    memcpy(note + 250, " = 1\n[train]\nbatch = 32\n", 25);
    write_file("cfgtest_note.ini", note);
    hpff_config_defaults(&c);
    st = hpff_config_load(&c, "cfgtest_note.ini");
    TEST_CHECK(st.code == 0 && c.batch == 32, "long comment line: %s", st.msg);
}

static void test_set_errors(void) {
    expect_set_error("train.batch=abc", "--set train.batch=abc: 'abc' is not an integer");
    expect_set_error("train.method=dlg", "--set train.method=dlg: 'dlg' is not one of: bp, dgl, infopro, predsim");
    expect_set_error("train.batch=0", "--set train.batch=0: '0' is out of range (must be >= 1)");
    expect_set_error("train.lrr=0.1", "--set train.lrr=0.1: unknown key 'train.lrr'; did you mean 'train.lr'?");
    expect_set_error("tran.lr=0.1", "--set tran.lr=0.1: unknown section [tran]; sections are: model, data, "
                     "train, local, pipeline, backend");
    expect_set_error("batch=4", "--set batch=4: key 'batch' has no section; did you mean 'train.batch'?");
    expect_set_error("train.batch", "--set train.batch: expected section.key=value");
    expect_set_error("train.run_dir=a ;b", "'a ;b' cannot be stored in an INI file");
    expect_set_error("train.run_dir=a\nb", "cannot be stored in an INI file");
    expect_set_error("train.method=DGL", "'DGL' is not one of: bp, dgl, infopro, predsim");
    hpff_config c;
    hpff_config_defaults(&c);
    hpff_status st = hpff_config_set(&c, "train.epochs=x", "HPFF_SET");
    CHECK_MSG(st, "HPFF_SET train.epochs=x: 'x' is not an integer");
}

static void test_validate(void) {
    hpff_config c;
    hpff_config_defaults(&c);
    c.K = 8;
    expect_invalid(&c, "train.method = bp trains end to end; local.K must be 1 (got 8)");
    hpff_config_defaults(&c);
    c.method = HPFF_METHOD_DGL;
    expect_invalid(&c, "train.method = dgl trains local modules; local.K must be >= 2 (got 1)");
    c.K = 8;
    TEST_CHECK(hpff_config_validate(&c).code == 0, "dgl K=8 is valid");
    c.il = c.cl = 0;
    expect_invalid(&c, "local.il and local.cl both off");
    c.il = 1;
    c.split = HPFF_SPLIT_LIST;
    expect_invalid(&c, "local.split = list needs local.modules");
    strcpy(c.modules, "1:0,2:0,3:4");
    TEST_CHECK(hpff_config_validate(&c).code == 0, "split=list with modules is valid");
    c.split = HPFF_SPLIT_CODE;
    expect_invalid(&c, "local.modules is set but local.split = code");
    hpff_config_defaults(&c);
    c.transport = HPFF_TRANSPORT_NCCL;
    c.device = HPFF_DEVICE_CPU;
    expect_invalid(&c, "pipeline.transport = nccl needs GPUs");
    // Fields set directly still get the per-key checks.
    hpff_config_defaults(&c);
    c.batch = 0;
    expect_invalid(&c, "train.batch = '0' is out of range (must be >= 1)");
    hpff_config_defaults(&c);
    c.schedule = HPFF_SCHEDULE_COUNT;   // no such value
    expect_invalid(&c, "train.schedule = '3' is not one of: cifar_cosine, cosine, constant");
}

static int write_and_load(const hpff_config *c, hpff_config *back) {
    FILE *f = fopen("cfgtest_roundtrip.ini", "w");
    hpff_config_write(c, f);
    fclose(f);
    hpff_config_defaults(back);
    hpff_status st = hpff_config_load(back, "cfgtest_roundtrip.ini");
    TEST_CHECK(st.code == 0, "reloading the written config: %s", st.msg);
    return memcmp(c, back, sizeof *c) == 0;
}

static void test_round_trip(void) {
    hpff_config c, back;
    hpff_config_defaults(&c);
    TEST_CHECK(write_and_load(&c, &back), "defaults: write -> load differs");

    static const char *const sets[] = {
        "model.arch=resnet110", "model.width=32", "data.train_file=/data/cifar 10.h5",
        "data.test_file=data/test.h5", "data.augment=none", "data.pad_to=40", "data.loader_threads=5",
        "data.image_size=32", "data.eval_resize=40", "data.dct_scaling=off",
        "train.method=infopro", "train.epochs=400", "train.batch=1024", "train.lr=0.8",
        "train.schedule=constant", "train.momentum=0.85", "train.weight_decay=5e-4", "train.seed=1234",
        "train.max_steps=9000000000", "train.run_dir=runs/x", "train.log_every=1", "train.ckpt_every=77",
        "train.ckpt_every_epochs=0", "train.threads=4", "train.nan_policy=ignore", "train.eval=off",
        "local.K=55", "local.split=list", "local.modules=1:0,1:1,3:17", "local.il=0", "local.cl=on",
        "local.pff=no", "local.pff_n=3", "local.pff_levels=cascade", "local.w_il=0.001",
        "local.w_cl=0.999", "local.il_first=on", "local.last_cascade=off", "local.il_loss=full",
        "local.bn_emulate=on", "local.dgl_aux=official", "local.infopro_aux=1c2f",
        "local.infopro_mode=contrast", "local.ixx_1=20", "local.ixy_1=0.123456789", "local.ixx_2=1e-7",
        "local.ixy_2=3.4e38", "local.predsim_beta=0.3333333", "local.predsim_T=4096",
        "local.predsim_variant=official", "local.predsim_sim_patch=off", "local.pff_rec=shared",
        "pipeline.cascade=delayed", "pipeline.transport=mpi", "pipeline.ranges=0-3,4-9", "pipeline.balance=flops",
        "pipeline.stages=4", "pipeline.check_replicas=10", "pipeline.timeout=60.5",
        "backend.device=cpu", "backend.tf32=0", "backend.graph=on", "backend.cpu_conv=im2col",
    };
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        hpff_status st = hpff_config_set(&c, sets[i], "--set");
        TEST_CHECK(st.code == 0, "%s", st.msg);
    }
    TEST_CHECK(write_and_load(&c, &back), "non-defaults: write -> load differs");
    TEST_CHECK(back.ixy_1 == 0.123456789f && back.max_steps == 9000000000L && back.K == 55, "values survive");
    hpff_status st = hpff_config_validate(&back);
    TEST_CHECK(st.code == 0, "reloaded config validates: %s", st.msg);
}

static void test_help(void) {
    FILE *f = tmpfile();
    hpff_config_help(f);
    long len = ftell(f);
    rewind(f);
    char line[1024], section[64] = "";
    int found[N_ALL] = {0}, n_lines = 0;
    while (fgets(line, sizeof line, f)) {
        char key[64];
        if (line[0] == '[') { sscanf(line, "[%63[^]]]", section); continue; }
        if (strncmp(line, "  ", 2) != 0 || line[2] == ' ' || sscanf(line, "%63s", key) != 1) continue;
        char full[160];
        snprintf(full, sizeof full, "%s.%s", section, key);
        int known = 0;
        for (size_t i = 0; i < N_ALL; i++)
            if (strcmp(full, k_all_keys[i]) == 0) { found[i]++; known = 1; }
        TEST_CHECK(known, "help lists an unexpected key %s", full);
        TEST_CHECK(strstr(line, "default") != NULL, "help line of %s has no default", full);
        n_lines++;
    }
    fclose(f);
    TEST_CHECK(len > 0, "help is empty");
    for (size_t i = 0; i < N_ALL; i++) TEST_CHECK(found[i] == 1, "help lists %s %d times", k_all_keys[i], found[i]);
    TEST_CHECK(n_lines == (int)N_ALL, "help has %d key lines, expected %zu", n_lines, N_ALL);
}

static void test_diff_model(void) {
    hpff_config a, b;
    hpff_config_defaults(&a);
    hpff_config_defaults(&b);
    char why[512] = "junk";
    TEST_CHECK(hpff_config_diff_model(&a, &b, why, sizeof why) == 0 && why[0] == 0, "identical: '%s'", why);
    b.lr = 0.5f;
    b.epochs = 9;
    strcpy(b.run_dir, "elsewhere");
    b.ixx_1 = 1;
    TEST_CHECK(hpff_config_diff_model(&a, &b, why, sizeof why) == 0, "lr/epochs/run_dir are not model keys: %s", why);
    b.batch = 256;
    TEST_CHECK(hpff_config_diff_model(&a, &b, why, sizeof why) == 1, "batch differs: %s", why);
    TEST_CHECK(strstr(why, "train.batch: 128 vs 256") != NULL, "why = '%s'", why);
    b.method = HPFF_METHOD_DGL;
    strcpy(b.modules, "1:0");
    b.pff = 0;
    b.seed = 7;
    strcpy(b.train_file, "data/cifar10.h5");
    TEST_CHECK(hpff_config_diff_model(&a, &b, why, sizeof why) == 6, "six model keys differ: %s", why);
    TEST_CHECK(strstr(why, "train.method: bp vs dgl") && strstr(why, "local.modules: (empty) vs 1:0") &&
                   strstr(why, "local.pff: on vs off") && strstr(why, "train.seed: 0 vs 7") &&
                   strstr(why, "data.train_file: data/fmnist.h5 vs data/cifar10.h5"),
               "why = '%s'", why);
    char tiny[8];
    TEST_CHECK(hpff_config_diff_model(&a, &b, tiny, sizeof tiny) == 6 && strlen(tiny) < sizeof tiny,
               "a short buffer is truncated, not overrun");
    TEST_CHECK(hpff_config_diff_model(&a, &b, NULL, 0) == 6, "why may be NULL");
}

int main(void) {
    test_defaults();
    test_load_and_set();
    test_bools();
    test_file_errors();
    test_set_errors();
    test_validate();
    test_round_trip();
    test_help();
    test_diff_model();
    int rc = hpff_test_summary("test_config");
    static const char *const files[] = {"cfgtest_bad.ini", "cfgtest_ok.ini", "cfgtest_defaults.ini",
                                        "cfgtest_note.ini", "cfgtest_roundtrip.ini"};
    for (size_t i = 0; rc == 0 && i < sizeof files / sizeof files[0]; i++) remove(files[i]);
    return rc;
}
