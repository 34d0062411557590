// busy-threads N SECONDS: N threads spin for SECONDS of wall time each. On
// stderr it reports its own CPU use, "busy-threads: cpu_pct=P", from its own
// rusage, which the sample-res test compares with what it measured: on a
// machine busy with other work the threads get less than N cores, and that
// is then the truth to match.
#include "util.h"

#include <pthread.h>
#include <sys/resource.h>

static double seconds;

static void *spin(void *arg) {
    (void)arg;
    double t0 = qb_now();
    volatile unsigned long x = 0;
    while (qb_now() - t0 < seconds)
        for (int i = 0; i < 10000; i++) x = x * 6364136223846793005UL + 1;
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) qb_die(QB_EXIT_USAGE, "usage: busy-threads N SECONDS");
    int n = (int)qb_parse_long("N", argv[1], 1, 256);
    seconds = qb_parse_double("SECONDS", argv[2], 0, 3600);
    double t0 = qb_now();
    pthread_t th[256];
    for (int i = 0; i < n; i++)
        if (pthread_create(&th[i], NULL, spin, NULL) != 0) qb_die(QB_EXIT_DATA, "pthread_create failed");
    for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
    double wall = qb_now() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
                 1e-6 * (double)ru.ru_stime.tv_usec;
    fprintf(stderr, "busy-threads: cpu_pct=%.1f\n", 100.0 * cpu / wall);
    return 0;
}
