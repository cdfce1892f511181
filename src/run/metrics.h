// metrics.h — the run's machine-readable log (one JSON object per line). Every metrics call
// accepts m == NULL and then does nothing, so ranks or runs that do not log need no branches.
#ifndef HPFF_METRICS_H
#define HPFF_METRICS_H
#include <stddef.h>
#include "system.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hpff_metrics hpff_metrics;

// Creates run_dir (mkdir -p) and opens <run_dir>/metrics.jsonl (rank 0) or
// <run_dir>/metrics.rank<R>.jsonl for appending; NULL with errno set on failure.
hpff_metrics *hpff_metrics_open(const char *run_dir, int rank);
// Flushes and closes; NULL is allowed.
void hpff_metrics_close(hpff_metrics *m);
// The file being written (for messages).
const char *hpff_metrics_path(const hpff_metrics *m);

// Starts a record: {"type":"<type>","time":<seconds since open>
void hpff_json_begin(hpff_metrics *m, const char *type);
// Adds "key":value to the open record.
void hpff_json_int(hpff_metrics *m, const char *key, long long v);
// NaN and infinities are written as null (JSON has no literal for them).
void hpff_json_num(hpff_metrics *m, const char *key, double v);
// The string is escaped; NULL is written as null.
void hpff_json_str(hpff_metrics *m, const char *key, const char *s);
void hpff_json_num_array(hpff_metrics *m, const char *key, const double *v, size_t n);
// Ends the record with "}\n" and flushes, so a killed run keeps every finished line.
void hpff_json_end(hpff_metrics *m);

#ifdef __cplusplus
}
#endif
#endif
