// alloc-touch MB SECONDS: allocates MB MiB, writes to every page (so all of
// it is resident), holds it for SECONDS, then exits. The known quantity that
// sample-res's memory readings are checked against.
#include "util.h"

#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
    if (argc != 3) qb_die(QB_EXIT_USAGE, "usage: alloc-touch MB SECONDS");
    long mb = qb_parse_long("MB", argv[1], 0, 1 << 20);
    double secs = qb_parse_double("SECONDS", argv[2], 0, 3600);
    size_t n = (size_t)mb << 20;
    volatile char *p = qb_malloc(n);
    for (size_t i = 0; i < n; i += 4096) p[i] = (char)(i >> 12 | 1);
    struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) {
    }
    free((void *)p);
    return 0;
}
