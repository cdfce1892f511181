// metrics.c — the JSON-lines metrics writer.
#include "metrics.h"
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

struct hpff_metrics {
    FILE *f;
    double t0;        // hpff_now() at open; "time" is relative to it
    int in_record;    // between begin and end
    int warned;       // a write error has been reported once
    char path[PATH_MAX];
};

hpff_metrics *hpff_metrics_open(const char *run_dir, int rank) {
    if (hpff_mkdir_p(run_dir) != 0) return NULL;
    hpff_metrics *m = hpff_xcalloc(1, sizeof *m);
    int len = rank == 0 ? snprintf(m->path, sizeof m->path, "%s/metrics.jsonl", run_dir)
                        : snprintf(m->path, sizeof m->path, "%s/metrics.rank%d.jsonl", run_dir, rank);
    if (len < 0 || (size_t)len >= sizeof m->path) {
        free(m);
        errno = ENAMETOOLONG;
        return NULL;
    }
    m->f = fopen(m->path, "a");
    if (!m->f) {
        int err = errno;
        free(m);
        errno = err;
        return NULL;
    }
    m->t0 = hpff_now();
    return m;
}

void hpff_metrics_close(hpff_metrics *m) {
    if (!m) return;
    fclose(m->f);
    free(m);
}

const char *hpff_metrics_path(const hpff_metrics *m) { return m ? m->path : ""; }

static void put_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\u%04x", *p);
            else fputc(*p, f);
        }
    }
    fputc('"', f);
}

// Shortest of %.15g / %.17g that reads back as the same double; null when not finite.
static void put_number(FILE *f, double v) {
    if (!isfinite(v)) {
        fputs("null", f);
        return;
    }
    char buf[32];
    snprintf(buf, sizeof buf, "%.15g", v);
    if (strtod(buf, NULL) != v) snprintf(buf, sizeof buf, "%.17g", v);
    fputs(buf, f);
}

static void put_key(hpff_metrics *m, const char *key) {
    HPFF_CHECK(m->in_record, "metrics field '%s' written outside hpff_json_begin/end", key);
    fputc(',', m->f);
    put_string(m->f, key);
    fputc(':', m->f);
}

void hpff_json_begin(hpff_metrics *m, const char *type) {
    if (!m) return;
    HPFF_CHECK(!m->in_record, "hpff_json_begin(\"%s\") while a record is open", type);
    fputs("{\"type\":", m->f);
    put_string(m->f, type);
    m->in_record = 1;
    put_key(m, "time");
    put_number(m->f, hpff_now() - m->t0);
}

void hpff_json_int(hpff_metrics *m, const char *key, long long v) {
    if (!m) return;
    put_key(m, key);
    fprintf(m->f, "%lld", v);
}

void hpff_json_num(hpff_metrics *m, const char *key, double v) {
    if (!m) return;
    put_key(m, key);
    put_number(m->f, v);
}

void hpff_json_str(hpff_metrics *m, const char *key, const char *s) {
    if (!m) return;
    put_key(m, key);
    if (s) put_string(m->f, s);
    else fputs("null", m->f);
}

void hpff_json_num_array(hpff_metrics *m, const char *key, const double *v, size_t n) {
    if (!m) return;
    put_key(m, key);
    fputc('[', m->f);
    for (size_t i = 0; i < n; i++) {
        if (i) fputc(',', m->f);
        put_number(m->f, v[i]);
    }
    fputc(']', m->f);
}

void hpff_json_end(hpff_metrics *m) {
    if (!m) return;
    HPFF_CHECK(m->in_record, "hpff_json_end without hpff_json_begin");
    fputs("}\n", m->f);
    m->in_record = 0;
    if ((fflush(m->f) != 0 || ferror(m->f)) && !m->warned) {
        fprintf(stderr, "hpff_pipe: warning: cannot write %s: %s (metrics lines may be lost)\n",
                m->path, strerror(errno));
        m->warned = 1;
    }
}
