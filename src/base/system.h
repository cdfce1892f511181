// system.h — what the program asks of the operating system: a monotonic clock, peak memory,
// directories, files written all or nothing; and a human duration for messages.
#ifndef HPFF_SYSTEM_H
#define HPFF_SYSTEM_H
#include <stddef.h>
#include "check.h"
#ifdef __cplusplus
extern "C" {
#endif

// Monotonic clock in seconds.
double hpff_now(void);
// Peak resident set size of this process in bytes (getrusage).
size_t hpff_peak_rss_bytes(void);
// Human duration: "12s", "3m05s", "1h02m"; "?" for negative or non-finite input.
void hpff_format_duration(double seconds, char *buf, size_t n);
// Creates path and its missing parents; an existing directory is fine. 0, or -1 with errno.
int hpff_mkdir_p(const char *path);
// Replaces `path` with `len` bytes of `data` all or nothing: written to "<path>.tmp" (created
// exclusively, never through a link), synced, renamed; the temporary is removed on any failure.
hpff_status hpff_write_file_atomic(const char *path, const void *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif
