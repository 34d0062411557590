// test_cuda_env.c: the QB_CUDA_* knobs' parsers (qb_env_pick, qb_env_int),
// which need no device: the default when a knob is unset, each named value,
// and a usage error (one line naming the variable, exit status 1) for a value
// the knob does not take, so that a misspelt knob never measures the default.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"

#ifndef QB_HAVE_CUDA
int main(void) {
    printf("ok 1 # SKIP built without CUDA (no nvcc)\n1..1\n");
    return 0;
}
#else
#include "cuda/cuda_backend.h"

static int pick3(const char *name) { return qb_env_pick(name, "start", "wait", "end"); }
static int pick2(const char *name) { return qb_env_pick(name, "1", "0", NULL); }
static int whole(const char *name) { return qb_env_int(name, 4, 0, 100); }
// The same, as tap_child_exit runs them (their result unused: a bad value exits).
static void try_pick3(const char *name) { (void)pick3(name); }
static void try_pick2(const char *name) { (void)pick2(name); }
static void try_whole(const char *name) { (void)whole(name); }

// Whether parse(name) with name=value exits with status 1 and one line on
// standard error naming name and value.
static int rejects(const char *name, const char *value, void (*parse)(const char *)) {
    char msg[512];
    setenv(name, value, 1);
    const int code = tap_child_exit(parse, name, msg, sizeof msg);
    unsetenv(name);
    const size_t len = strlen(msg);
    const int one_line = len > 0 && strchr(msg, '\n') == msg + len - 1;
    if (one_line) msg[len - 1] = 0;
    tap_diag("%s=%s: %s", name, value, msg);
    return code == 1 && one_line && strstr(msg, name) && strstr(msg, value);
}

int main(void) {
    const char *k = "QB_CUDA_TEST_KNOB";
    unsetenv(k);
    tap_ok(pick3(k) == 0 && pick2(k) == 0, "pick: unset is the default (0)");
    tap_ok(whole(k) == 4, "int: unset is the default");
    const char *names[] = {"start", "wait", "end"};
    for (int i = 0; i < 3; i++) {
        setenv(k, names[i], 1);
        tap_ok(pick3(k) == i, "pick: %s is choice %d", names[i], i);
    }
    setenv(k, "0", 1);
    tap_ok(pick2(k) == 1, "pick: the two-way knob's second value");
    const char *ints[] = {"0", "17", "100"};
    const int want[] = {0, 17, 100};
    for (int i = 0; i < 3; i++) {
        setenv(k, ints[i], 1);
        tap_ok(whole(k) == want[i], "int: %s", ints[i]);
    }
    unsetenv(k);
    tap_ok(rejects(k, "Wait", try_pick3), "pick: a misspelt choice is a usage error");
    tap_ok(rejects(k, "", try_pick3), "pick: an empty value is a usage error");
    tap_ok(rejects(k, "2", try_pick2), "pick: a two-way knob takes no third value");
    tap_ok(rejects(k, "abc", try_whole), "int: garbage is a usage error");
    tap_ok(rejects(k, "", try_whole), "int: an empty value is a usage error");
    tap_ok(rejects(k, "4x", try_whole), "int: trailing characters are a usage error");
    tap_ok(rejects(k, "101", try_whole), "int: above the range is a usage error");
    tap_ok(rejects(k, "-1", try_whole), "int: below the range is a usage error");
    tap_ok(rejects(k, "99999999999999999999", try_whole), "int: overflow is a usage error");
    return tap_done();
}
#endif
