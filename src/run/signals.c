// signals.c — records the first pre-emption signal in a flag; on a second signal the handler
// gives the signal its default action.
#include "signals.h"
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t g_sig = 0;
static int g_installed = 0;
static int g_under_mpirun = 0;   // our stdout and stderr are mpirun's, private to this process
static const int k_sigs[] = {SIGTERM, SIGINT, SIGUSR1};
enum { NSIGS = (int)(sizeof k_sigs / sizeof k_sigs[0]) };

// Records the signal. Under mpirun one more thing: SIGTERM to mpirun makes Open MPI stop reading
// the ranks' output, so a progress line could block this process for good; marking stdout and
// stderr non-blocking (fcntl is async-signal-safe) turns such a write, even one this signal
// interrupted, into a dropped line. No other write happens here.
static void on_signal(int sig) {
    if (g_sig == 0) {
        g_sig = sig;
        for (int fd = 1; fd <= 2 && g_under_mpirun; fd++) {
            int fl = fcntl(fd, F_GETFL);
            if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        }
        return;
    }
    // Second signal: stop now. Every checkpoint file is a temporary until its rename and a
    // step counts only with its COMPLETE marker, so what was complete before stays complete.
    signal(sig, SIG_DFL);
    raise(sig);
}

void hpff_signals_install(void) {
    if (g_installed) return;
    g_under_mpirun = getenv("OMPI_COMM_WORLD_SIZE") != NULL;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;   // reads, writes and waits resume; the loop polls the flag
    for (int i = 0; i < NSIGS; i++) sigaction(k_sigs[i], &sa, NULL);
    g_installed = 1;
}

int hpff_signal_pending(void) { return (int)g_sig; }

const char *hpff_signal_name(int sig) {
    static char buf[32];
    switch (sig) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGUSR1: return "SIGUSR1";
    default: snprintf(buf, sizeof buf, "signal %d", sig); return buf;
    }
}

void hpff_signals_restore(void) {
    if (!g_installed) return;
    for (int i = 0; i < NSIGS; i++) signal(k_sigs[i], SIG_DFL);
    g_installed = 0;
    g_sig = 0;
}

void hpff_say_nonblocking(int fd, const char *text) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return;
    if (!(flags & O_NONBLOCK)) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    ssize_t rc = write(fd, text, strlen(text));
    (void)rc;
    if (!(flags & O_NONBLOCK)) fcntl(fd, F_SETFL, flags);
}
