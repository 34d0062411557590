// fork-alloc MB SECONDS: forks a child that allocates and touches MB MiB and
// holds it for SECONDS; the parent only waits. Checks that sample-res counts
// the processes below its direct child.
#include "util.h"

#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) qb_die(QB_EXIT_USAGE, "usage: fork-alloc MB SECONDS");
    long mb = qb_parse_long("MB", argv[1], 0, 1 << 20);
    double secs = qb_parse_double("SECONDS", argv[2], 0, 3600);
    pid_t pid = fork();
    if (pid < 0) qb_die(QB_EXIT_DATA, "fork failed");
    if (pid == 0) {
        size_t n = (size_t)mb << 20;
        volatile char *p = qb_malloc(n);
        for (size_t i = 0; i < n; i += 4096) p[i] = (char)(i >> 12 | 1);
        struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
        while (nanosleep(&ts, &ts) != 0) {
        }
        _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return 2;
    return WEXITSTATUS(status);
}
