// default-signals CMD [ARG]...: runs CMD with SIGINT, SIGQUIT, SIGTERM and
// SIGHUP at their default action and no signal blocked. A script's
// background jobs inherit SIGINT and SIGQUIT ignored (and a script started in
// the background cannot undo that with set -m), which would hide whether
// sample-res passes SIGINT on.
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) qb_die(QB_EXIT_USAGE, "usage: default-signals CMD [ARG]...");
    int sigs[] = {SIGINT, SIGQUIT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execvp(argv[1], argv + 1);
    qb_die(127, "%s: cannot run: %s", argv[1], strerror(errno));
}
