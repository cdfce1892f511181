// signals.h — pre-emption signals (SIGTERM, SIGINT, SIGUSR1). The handler only records the
// first signal; the training loop polls it at step boundaries, agrees with the other ranks on
// the step to stop at, writes a complete checkpoint and exits with 128 + the signal number.
// A second signal ends the process at once by the signal's default action: checkpoints are
// written to temporary names and completed by a final rename, so the previous complete
// checkpoint is never damaged by it.
#ifndef HPFF_SIGNALS_H
#define HPFF_SIGNALS_H
#ifdef __cplusplus
extern "C" {
#endif

// Installs the handlers (idempotent).
void hpff_signals_install(void);
// The first pre-emption signal received (SIGTERM, SIGINT or SIGUSR1), or 0.
int hpff_signal_pending(void);
// "SIGTERM", "SIGINT", "SIGUSR1" (or "signal N").
const char *hpff_signal_name(int sig);
// Restores the default actions.
void hpff_signals_restore(void);
// Writes `text` to fd without ever blocking (a full pipe or terminal drops it): after a
// pre-emption signal mpirun may have stopped reading the ranks' output.
void hpff_say_nonblocking(int fd, const char *text);

#ifdef __cplusplus
}
#endif
#endif
