// sig-count SECONDS: counts the SIGINTs it receives while it sleeps SECONDS,
// then prints "sigint=N" on stdout. Shows whether sample-res passes a signal
// on exactly once.
#include "util.h"

#include <signal.h>
#include <time.h>

static volatile sig_atomic_t count;

static void on_sigint(int sig) {
    (void)sig;
    count++;
}

int main(int argc, char **argv) {
    if (argc != 2) qb_die(QB_EXIT_USAGE, "usage: sig-count SECONDS");
    double secs = qb_parse_double("SECONDS", argv[1], 0, 3600);
    struct sigaction sa = {.sa_handler = on_sigint};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    printf("ready\n");
    fflush(stdout);
    struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) {
    }
    printf("sigint=%d\n", (int)count);
    return 0;
}
