// test_cuda_env.c: the QB_CUDA_* knobs' parsers (qb_env_pick, qb_env_int),
// which need no device: the default when a knob is unset, each named value,
// and a usage error (one line naming the variable, exit status 1) for a value
// the knob does not take, so that a misspelt knob never measures the default.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../tap.h"

#ifndef QB_HAVE_CUDA
int main(void) {
    printf("ok 1 # SKIP built without CUDA (no nvcc)\n1..1\n");
    return 0;
}
#else
#include "cuda/cuda_backend.h"

// Runs parse(name) in a child with name=value; whether it exited with status 1
// and a message on standard error naming name and value.
static int rejects(const char *name, const char *value, int (*parse)(const char *)) {
    int fd[2];
    if (pipe(fd)) return 0;
    const pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 2);
        setenv(name, value, 1);
        parse(name);
        _exit(0);
    }
    close(fd[1]);
    char msg[512] = {0};
    const ssize_t got = read(fd[0], msg, sizeof msg - 1);
    (void)got;
    close(fd[0]);
    int status;
    waitpid(pid, &status, 0);
    const size_t len = strlen(msg);
    const int one_line = len > 0 && strchr(msg, '\n') == msg + len - 1;
    if (one_line) msg[len - 1] = 0;
    tap_diag("%s=%s: %s", name, value, msg);
    return WIFEXITED(status) && WEXITSTATUS(status) == 1 && one_line && strstr(msg, name) && strstr(msg, value);
}

static int pick3(const char *name) { return qb_env_pick(name, "start", "wait", "end"); }
static int pick2(const char *name) { return qb_env_pick(name, "1", "0", NULL); }
static int whole(const char *name) { return qb_env_int(name, 4, 0, 100); }

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
    tap_ok(rejects(k, "Wait", pick3), "pick: a misspelt choice is a usage error");
    tap_ok(rejects(k, "", pick3), "pick: an empty value is a usage error");
    tap_ok(rejects(k, "2", pick2), "pick: a two-way knob takes no third value");
    tap_ok(rejects(k, "abc", whole), "int: garbage is a usage error");
    tap_ok(rejects(k, "", whole), "int: an empty value is a usage error");
    tap_ok(rejects(k, "4x", whole), "int: trailing characters are a usage error");
    tap_ok(rejects(k, "101", whole), "int: above the range is a usage error");
    tap_ok(rejects(k, "-1", whole), "int: below the range is a usage error");
    tap_ok(rejects(k, "99999999999999999999", whole), "int: overflow is a usage error");
    return tap_done();
}
#endif
