// test_proctree: the pieces of sample-res that can be checked in-process:
// nearest-rank percentiles (against the definition, by brute force, on
// random data and on textbook cases), the /proc/PID/stat parser (names with
// spaces and parentheses), and the process tree reading a forked child.
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../tap.h"
#include "percentile.h"
#include "proctree.h"
#include "util.h"

// The definition: the smallest value v of x such that at least p % of the
// values are <= v.
static double brute_nearest_rank(const double *x, size_t n, double p) {
    double best = NAN;
    for (size_t i = 0; i < n; i++) {
        size_t le = 0;
        for (size_t j = 0; j < n; j++) le += x[j] <= x[i];
        if (100.0 * (double)le >= p * (double)n - 1e-9 && (isnan(best) || x[i] < best)) best = x[i];
    }
    return best;
}

static void test_percentiles(void) {
    double wiki[] = {15, 20, 35, 40, 50}; // the textbook example of nearest rank
    tap_ok(qb_percentile_nearest_rank(wiki, 5, 5) == 15 && qb_percentile_nearest_rank(wiki, 5, 30) == 20 &&
               qb_percentile_nearest_rank(wiki, 5, 40) == 20 && qb_percentile_nearest_rank(wiki, 5, 50) == 35 &&
               qb_percentile_nearest_rank(wiki, 5, 100) == 50,
           "nearest rank of {15,20,35,40,50}: p5 15, p30 20, p40 20, p50 35, p100 50");
    double ten[10];
    for (int i = 0; i < 10; i++) ten[i] = 10 - i; // unsorted input
    tap_ok(qb_percentile_nearest_rank(ten, 10, 90) == 9, "p90 of 1..10 is 9 (0.9*10 taken as exactly 9)");
    double with_nan[] = {NAN, 3, NAN, 1, 2};
    tap_ok(qb_percentile_nearest_rank(with_nan, 5, 50) == 2 && qb_max(with_nan, 5) == 3 && qb_mean(with_nan, 5) == 2,
           "NaN entries are ignored by percentile, max and mean");
    double only_nan[] = {NAN, NAN};
    tap_ok(isnan(qb_percentile_nearest_rank(only_nan, 2, 90)) && isnan(qb_max(only_nan, 2)) &&
               isnan(qb_mean(NULL, 0)),
           "no values: NaN");
    tap_rng r = tap_rng_new();
    int bad = 0;
    for (int trial = 0; trial < 200; trial++) {
        size_t n = 1 + (size_t)(tap_uniform(&r) * 97);
        double x[100];
        for (size_t i = 0; i < n; i++) x[i] = floor(tap_uniform(&r) * 20); // ties on purpose
        double p = trial % 3 == 0 ? 90 : 1 + tap_uniform(&r) * 99;
        double got = qb_percentile_nearest_rank(x, n, p), want = brute_nearest_rank(x, n, p);
        if (got != want) {
            if (!bad) tap_diag("n=%zu p=%g: got %g, definition gives %g", n, p, got, want);
            bad++;
        }
    }
    tap_ok(bad == 0, "200 random series with ties: percentile equals the definition (%d differ)", bad);
}

static void test_stat_parser(void) {
    const char *line = "4242 (a) (b c)) S 17 4242 4242 0 -1 4194304 120 0 0 0 250 31 7 3 20 0 3 0 "
                       "123456 10485760 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
    qb_stat_fields f;
    int rc = qb_parse_proc_stat(line, strlen(line), &f);
    tap_ok(rc == 0 && f.state == 'S' && f.ppid == 17 && f.utime == 250 && f.stime == 31 && f.cutime == 7 &&
               f.cstime == 3 && f.rss_pages == 2560,
           "stat line with ')' and spaces in the name: state, ppid, times, rss");
    const char *cut = "4242 (x) S 17 4242 4242 0 -1 4194304 120 0 0 0 250";
    tap_ok(qb_parse_proc_stat(cut, strlen(cut), &f) != 0, "truncated stat line refused");
    const char *noparen = "4242 x S 17";
    tap_ok(qb_parse_proc_stat(noparen, strlen(noparen), &f) != 0, "stat line without '(name)' refused");
    const char *junk = "1 (x) S 1z 2 3";
    tap_ok(qb_parse_proc_stat(junk, strlen(junk), &f) != 0, "non-numeric field refused");
}

// A child that touches MB MiB and a grandchild that touches as much again,
// both then waiting for the pipe to close: the tree rooted at us must hold
// two processes and at least 2*MB of RSS.
static void test_tree(void) {
    const size_t mb = 48;
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_t child = fork();
    if (child == 0) {
        close(fds[1]);
        fork(); // both the child and the grandchild go on below
        volatile char *p = malloc(mb << 20);
        for (size_t i = 0; i < (mb << 20); i += 4096) p[i] = 1;
        char c;
        if (read(fds[0], &c, 1) < 0) _exit(1);
        while (wait(NULL) > 0) {
        }
        _exit(0);
    }
    close(fds[0]);
    qb_proctree t;
    tap_ok(qb_proctree_init(&t, getpid()) == 0, "proctree init");
    qb_tree_usage u = {0};
    double t0 = qb_now();
    // Wait (up to 5 s) for both to have touched their memory.
    do {
        usleep(20000);
        qb_proctree_sample(&t, &u);
    } while ((u.nproc < 2 || u.rss_bytes < 2.0 * (double)(mb << 20)) && qb_now() - t0 < 5);
    tap_ok(u.nproc == 2, "tree of a child and a grandchild: 2 processes (%zu)", u.nproc);
    tap_ok(u.rss_bytes >= 2.0 * (double)(mb << 20) && u.rss_bytes < 2.0 * (double)(mb << 20) + 64e6,
           "tree RSS covers both allocations (%.1f MiB for 2 x %zu)", u.rss_bytes / 1048576, mb);
    tap_ok(u.cpu_s > 0 && u.cpu_s < 10, "tree CPU time read (%.4f s)", u.cpu_s);
    double hwm = qb_proctree_hwm_bytes(&t);
    tap_ok(hwm >= (double)(mb << 20), "VmHWM of the tree's largest process >= %zu MiB (%.1f)", mb, hwm / 1048576);
    close(fds[1]);
    waitpid(child, NULL, 0);
    usleep(20000);
    qb_proctree_sample(&t, &u);
    tap_ok(u.nproc == 0 && u.rss_bytes == 0, "after exit and reaping: empty tree");
    qb_proctree_free(&t);
}

int main(void) {
    test_percentiles();
    test_stat_parser();
    test_tree();
    return tap_done();
}
