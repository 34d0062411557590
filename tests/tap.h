// tap.h: a minimal Test Anything Protocol producer for the C unit tests, so
// prove runs them beside the shell tests. Header-only; each test program
// includes it once.
#pragma once
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int run, failed;
} tap_state;

static tap_state tap_ = {0, 0};

static int tap_ok(int pass, const char *fmt, ...) __attribute__((format(printf, 2, 3), unused));
static int tap_ok(int pass, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s %d - ", pass ? "ok" : "not ok", ++tap_.run);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    if (!pass) tap_.failed++;
    return pass;
}

// Prints a diagnostic line (shown by prove -v and on failure).
static void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static void tap_diag(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("# ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

// Runs fn(arg) in a child process, for what must die: its standard error goes
// to msg (at most cap - 1 bytes, NUL-terminated, every line of it). Returns the
// child's exit status (0 when fn returned), 128 when a signal ended it, -1
// when no pipe could be had.
static int tap_child_exit(void (*fn)(const char *), const char *arg, char *msg, size_t cap) __attribute__((unused));
static int tap_child_exit(void (*fn)(const char *), const char *arg, char *msg, size_t cap) {
    int fd[2];
    if (pipe(fd)) return -1;
    const pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 2);
        fn(arg);
        _exit(0);
    }
    close(fd[1]);
    const ssize_t got = read(fd[0], msg, cap - 1);
    msg[got > 0 ? got : 0] = 0;
    close(fd[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

// Ends the run: prints the plan and returns the exit status for main.
static int tap_done(void) __attribute__((unused));
static int tap_done(void) {
    printf("1..%d\n", tap_.run);
    return tap_.failed ? 1 : 0;
}

// Relative error ||a - b|| / ||b|| over n values; NaN anywhere gives +inf so
// a comparison against any bound fails.
static double tap_rel_err(const float *a, const double *b, size_t n) __attribute__((unused));
static double tap_rel_err(const float *a, const double *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i])) return INFINITY;
        double d = (double)a[i] - b[i];
        num += d * d;
        den += b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

// A small seeded generator for fresh random test data (xorshift64*): the seed
// comes from the clock unless QB_TEST_SEED is set, and is printed, so a
// failure can be replayed.
typedef struct {
    unsigned long long s;
} tap_rng;
static tap_rng tap_rng_new(void) __attribute__((unused));
static tap_rng tap_rng_new(void) {
    const char *e = getenv("QB_TEST_SEED");
    unsigned long long seed = e ? strtoull(e, NULL, 10) : (unsigned long long)time(NULL) * 2654435761ull;
    if (!seed) seed = 88172645463325252ull;
    printf("# seed %llu (set QB_TEST_SEED to replay)\n", seed);
    return (tap_rng){seed};
}
static double tap_uniform(tap_rng *r) __attribute__((unused)); // [0, 1)
static double tap_uniform(tap_rng *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return (double)((r->s * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}
static double tap_normal(tap_rng *r) __attribute__((unused));
static double tap_normal(tap_rng *r) {
    double u = tap_uniform(r), v = tap_uniform(r);
    return sqrt(-2 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}
