// test_metrics.c — the JSON-lines writer (every line parsed back by a small strict JSON
// parser: escaping, null for non-finite numbers, arrays, "type" and "time"), file naming per
// rank, append mode, mkdir -p, durations, clocks and peak RSS.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "metrics.h"
#include "test_util.h"

// ---- a strict parser for one JSON object whose values are scalars or arrays of scalars ----

enum { J_NULL, J_NUM, J_STR, J_BOOL, J_ARR };
typedef struct jval {
    char key[64];
    int kind;
    double num;          // J_NUM, J_BOOL
    char str[256];       // J_STR (decoded)
    double arr[16];      // J_ARR (NAN marks null)
    int n_arr;
} jval;
typedef struct jobj {
    jval v[32];
    int n;
} jobj;

static void ws(const char **p) { while (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r') (*p)++; }

static int parse_str(const char **p, char *out, size_t n) {
    const char *s = *p;
    size_t k = 0;
    if (*s++ != '"') return -1;
    while (*s != '"') {
        unsigned c = (unsigned char)*s++;
        if (c == 0 || c < 0x20) return -1;   // raw control characters are invalid JSON
        if (c == '\\') {
            char e = *s++;
            switch (e) {
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case '/': c = '/'; break;
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                char hex[5] = {0};
                for (int i = 0; i < 4; i++) {
                    if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i]) return -1;
                    hex[i] = s[i];
                }
                s += 4;
                c = (unsigned)strtoul(hex, NULL, 16);
                if (c > 0x7f) return -1;   // the writer only escapes ASCII control characters
                break;
            }
            default: return -1;
            }
        }
        if (k + 1 >= n) return -1;
        out[k++] = (char)c;
    }
    out[k] = 0;
    *p = s + 1;
    return 0;
}

// JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
static int parse_num(const char **p, double *out) {
    const char *s = *p, *start = s;
    if (*s == '-') s++;
    if (*s == '0') s++;
    else if (*s >= '1' && *s <= '9') while (*s >= '0' && *s <= '9') s++;
    else return -1;
    if (*s == '.') {
        s++;
        if (!(*s >= '0' && *s <= '9')) return -1;
        while (*s >= '0' && *s <= '9') s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-') s++;
        if (!(*s >= '0' && *s <= '9')) return -1;
        while (*s >= '0' && *s <= '9') s++;
    }
    *out = strtod(start, NULL);
    *p = s;
    return 0;
}

static int parse_scalar(const char **p, jval *v) {
    if (**p == '"') { v->kind = J_STR; return parse_str(p, v->str, sizeof v->str); }
    if (strncmp(*p, "null", 4) == 0) { v->kind = J_NULL; *p += 4; return 0; }
    if (strncmp(*p, "true", 4) == 0) { v->kind = J_BOOL; v->num = 1; *p += 4; return 0; }
    if (strncmp(*p, "false", 5) == 0) { v->kind = J_BOOL; v->num = 0; *p += 5; return 0; }
    v->kind = J_NUM;
    return parse_num(p, &v->num);
}

// Parses exactly one object followed by "\n"; returns 0 on success.
static int parse_line(const char *line, jobj *o) {
    const char *p = line;
    o->n = 0;
    if (*p++ != '{') return -1;
    ws(&p);
    if (*p == '}') return strcmp(p, "}\n") == 0 ? 0 : -1;
    for (;;) {
        if (o->n == 32) return -1;
        jval *v = &o->v[o->n++];
        memset(v, 0, sizeof *v);
        ws(&p);
        if (parse_str(&p, v->key, sizeof v->key)) return -1;
        ws(&p);
        if (*p++ != ':') return -1;
        ws(&p);
        if (*p == '[') {
            p++;
            v->kind = J_ARR;
            ws(&p);
            if (*p == ']') p++;
            else for (;;) {
                jval e;
                if (v->n_arr == 16 || parse_scalar(&p, &e)) return -1;
                if (e.kind != J_NUM && e.kind != J_NULL) return -1;
                v->arr[v->n_arr++] = e.kind == J_NUM ? e.num : NAN;
                ws(&p);
                if (*p == ',') { p++; ws(&p); continue; }
                if (*p++ != ']') return -1;
                break;
            }
        } else if (parse_scalar(&p, v)) {
            return -1;
        }
        ws(&p);
        if (*p == ',') { p++; continue; }
        if (*p++ != '}') return -1;
        return strcmp(p, "\n") == 0 ? 0 : -1;
    }
}

static const jval *get(const jobj *o, const char *key) {
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->v[i].key, key) == 0) return &o->v[i];
    return NULL;
}

// Reads all lines of a file; returns how many were read into lines[].
static int read_lines(const char *path, char lines[][2048], int max) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0;
    while (n < max && fgets(lines[n], 2048, f)) n++;
    fclose(f);
    return n;
}

// ---- tests ----

static char g_dir[256];

static void test_parser_rejects(void) {
    jobj o;
    TEST_CHECK(parse_line("{\"a\":1}\n", &o) == 0, "parser accepts a valid line");
    static const char *const bad[] = {"{\"a\":1}", "{\"a\":nan}\n", "{\"a\":01}\n", "{\"a\":1,}\n",
                                      "{\"a\":\"x\ty\"}\n", "{\"a\":[1,]}\n", "{a:1}\n", "{\"a\":1}}\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        TEST_CHECK(parse_line(bad[i], &o) != 0, "parser must reject %s", bad[i]);
}

static void test_records(void) {
    char run_dir[512];
    snprintf(run_dir, sizeof run_dir, "%s/deep/er/run", g_dir);
    hpff_metrics *m = hpff_metrics_open(run_dir, 0);
    TEST_CHECK(m != NULL, "open %s: %s", run_dir, strerror(errno));
    if (!m) return;
    char expect_path[600];
    snprintf(expect_path, sizeof expect_path, "%s/metrics.jsonl", run_dir);
    TEST_CHECK(strcmp(hpff_metrics_path(m), expect_path) == 0, "path %s", hpff_metrics_path(m));

    const char *nasty = "q\"b\\s\nn\tt\r\x01 end /é";
    double arr[4] = {1.5, NAN, -2e-300, INFINITY};
    hpff_json_begin(m, "step");
    hpff_json_int(m, "step", 123456789012LL);
    hpff_json_num(m, "loss", 0.1);
    hpff_json_num(m, "bad", NAN);
    hpff_json_num(m, "inf", -INFINITY);
    hpff_json_num(m, "tiny", 1e-310);
    hpff_json_str(m, "msg", nasty);
    hpff_json_str(m, "none", NULL);
    hpff_json_num_array(m, "arr", arr, 4);
    hpff_json_num_array(m, "empty", arr, 0);
    hpff_json_end(m);
    hpff_json_begin(m, "epoch");
    hpff_json_end(m);
    // Lines are flushed at end: readable before close.
    char lines[8][2048];
    TEST_CHECK(read_lines(expect_path, lines, 8) == 2, "two lines before close");
    hpff_metrics_close(m);

    int n = read_lines(expect_path, lines, 8);
    TEST_CHECK(n == 2, "two lines, got %d", n);
    jobj o;
    TEST_CHECK(parse_line(lines[0], &o) == 0, "line 1 is valid JSON: %s", lines[0]);
    TEST_CHECK(strncmp(lines[0], "{\"type\":\"step\",\"time\":", 22) == 0, "type then time first: %s", lines[0]);
    const jval *v;
    TEST_CHECK((v = get(&o, "type")) && v->kind == J_STR && strcmp(v->str, "step") == 0, "type");
    TEST_CHECK((v = get(&o, "time")) && v->kind == J_NUM && v->num >= 0 && v->num < 60, "time");
    TEST_CHECK((v = get(&o, "step")) && v->kind == J_NUM && v->num == 123456789012.0, "int");
    TEST_CHECK((v = get(&o, "loss")) && v->kind == J_NUM && v->num == 0.1, "num 0.1 exact");
    TEST_CHECK((v = get(&o, "bad")) && v->kind == J_NULL, "NaN -> null");
    TEST_CHECK((v = get(&o, "inf")) && v->kind == J_NULL, "-inf -> null");
    TEST_CHECK((v = get(&o, "tiny")) && v->kind == J_NUM && v->num == 1e-310, "denormal exact");
    TEST_CHECK((v = get(&o, "msg")) && v->kind == J_STR && strcmp(v->str, nasty) == 0, "escaped string");
    TEST_CHECK((v = get(&o, "none")) && v->kind == J_NULL, "NULL string -> null");
    TEST_CHECK((v = get(&o, "arr")) && v->kind == J_ARR && v->n_arr == 4 && v->arr[0] == 1.5 &&
                   isnan(v->arr[1]) && v->arr[2] == -2e-300 && isnan(v->arr[3]),
               "array with nulls");
    TEST_CHECK((v = get(&o, "empty")) && v->kind == J_ARR && v->n_arr == 0, "empty array");
    TEST_CHECK(o.n == 11, "11 members, got %d", o.n);
    TEST_CHECK(parse_line(lines[1], &o) == 0 && o.n == 2, "line 2: %s", lines[1]);

    // Append mode: reopening adds lines.
    m = hpff_metrics_open(run_dir, 0);
    hpff_json_begin(m, "resume");
    hpff_json_end(m);
    hpff_metrics_close(m);
    n = read_lines(expect_path, lines, 8);
    TEST_CHECK(n == 3 && parse_line(lines[2], &o) == 0 && strcmp(get(&o, "type")->str, "resume") == 0,
               "append: %d lines", n);

    // Other ranks write their own file.
    m = hpff_metrics_open(run_dir, 3);
    hpff_json_begin(m, "rank");
    hpff_json_int(m, "rank", 3);
    hpff_json_end(m);
    hpff_metrics_close(m);
    snprintf(expect_path, sizeof expect_path, "%s/metrics.rank3.jsonl", run_dir);
    n = read_lines(expect_path, lines, 8);
    TEST_CHECK(n == 1 && parse_line(lines[0], &o) == 0, "rank 3 file: %d lines", n);

    // NULL metrics: every call is a no-op.
    hpff_json_begin(NULL, "x");
    hpff_json_num(NULL, "a", 1);
    hpff_json_end(NULL);
    hpff_metrics_close(NULL);
}

static void test_mkdir(void) {
    char p[512];
    snprintf(p, sizeof p, "%s/a/b//c/", g_dir);
    TEST_CHECK(hpff_mkdir_p(p) == 0, "mkdir -p %s: %s", p, strerror(errno));
    TEST_CHECK(hpff_mkdir_p(p) == 0, "existing directory is fine");
    struct stat st;
    snprintf(p, sizeof p, "%s/a/b/c", g_dir);
    TEST_CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode), "%s exists", p);
    snprintf(p, sizeof p, "%s/file", g_dir);
    FILE *f = fopen(p, "w");
    fclose(f);
    errno = 0;
    TEST_CHECK(hpff_mkdir_p(p) == -1 && errno == ENOTDIR, "a file is not a directory (errno %d)", errno);
    snprintf(p, sizeof p, "%s/file/sub", g_dir);
    TEST_CHECK(hpff_mkdir_p(p) == -1, "below a file fails");
    errno = 0;
    TEST_CHECK(hpff_metrics_open(p, 0) == NULL && errno != 0, "metrics_open fails with errno");
    TEST_CHECK(hpff_mkdir_p("") == -1 && errno == EINVAL, "empty path");
}

static void test_helpers(void) {
    static const struct { double s; const char *want; } cases[] = {
        {0, "0s"}, {12, "12s"}, {12.4, "12s"}, {59.4, "59s"}, {59.6, "1m00s"}, {185, "3m05s"},
        {3599, "59m59s"}, {3600, "1h00m"}, {3720, "1h02m"}, {90061, "25h01m"}, {-1, "?"}, {NAN, "?"},
    };
    char buf[32];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hpff_format_duration(cases[i].s, buf, sizeof buf);
        TEST_CHECK(strcmp(buf, cases[i].want) == 0, "duration %g: got '%s', want '%s'", cases[i].s, buf,
                   cases[i].want);
    }
    char small[4];
    hpff_format_duration(3720, small, sizeof small);
    TEST_CHECK(strlen(small) == 3, "short buffer truncates: '%s'", small);

    double t0 = hpff_now();
    usleep(20000);
    double t1 = hpff_now();
    TEST_CHECK(t1 - t0 >= 0.019 && t1 - t0 < 5, "hpff_now measures a 20 ms sleep: %g", t1 - t0);
    size_t before = hpff_peak_rss_bytes();
    size_t big = 64u << 20;
    char *mem = malloc(big);
    memset(mem, 1, big);
    size_t after = hpff_peak_rss_bytes();
    TEST_CHECK(before > 0 && after >= before + big / 2, "peak RSS grows: %zu -> %zu", before, after);
    free(mem);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "metrics_test_%d", (int)getpid());
    test_parser_rejects();
    test_records();
    test_mkdir();
    test_helpers();
    int rc = hpff_test_summary("test_metrics");
    if (rc == 0) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    }
    return rc;
}
