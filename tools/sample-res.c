// sample-res: run a command and sample the memory, CPU and GPU use of its
// whole process tree at a fixed interval; write the series and one summary
// row (see tools/man/sample-res.1).
//
// How it works: sample-res makes itself a child subreaper (so orphans of the
// tree are reparented to it and stay counted), blocks the signals it handles
// and reads them from a signalfd, spawns CMD with the original mask, and then
// sleeps in poll() on the signalfd and a timerfd that fires on absolute
// deadlines t0 + k*interval (no drift). Each tick reads the tree from /proc
// (proctree.c) and the GPU memory of its pids from NVML (nvml.c). When CMD
// exits, it is left a zombie (waitid WNOWAIT) for the last sample, which can
// then still read its CPU time, and only then reaped with wait4.
#include "nvml.h"
#include "percentile.h"
#include "proctree.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const double MIB = 1024.0 * 1024.0;

static void usage(FILE *f) {
    fprintf(f,
            "usage: sample-res [-i SECONDS] [-o SERIES.tsv] [-s SUMMARY.tsv] [--tag KEY=VALUE]... [-q] [--] CMD [ARG]...\n"
            "Runs CMD (stdin, stdout and stderr untouched) and samples its whole process tree.\n"
            "  -i, --interval S   sampling interval in seconds (default 0.05); the first sample is taken\n"
            "                     at start, the last when CMD exits\n"
            "  -o, --output F     write the series to F: t_s rss_mb cpu_pct gpu_mb\n"
            "  -s, --summary F    write the summary row to F (header + one row); without -s the summary\n"
            "                     goes to stderr\n"
            "      --tag K=V      add column K with value V in front of the summary (repeatable)\n"
            "  -q, --quiet        no summary on stderr when -s is not given\n"
            "  -h, --help         this help\n"
            "Summary columns: TAGS... wall_s exit_status rss_peak_mb rss_hwm_mb rss_p90_mb rss_mean_mb\n"
            "  cpu_peak_pct cpu_p90_pct cpu_mean_pct gpu_peak_mb gpu_p90_mb samples self_cpu_pct\n"
            "MB are MiB (2^20 bytes). rss_* sum the tree's resident memory over samples; rss_hwm_mb is the\n"
            "kernel's high-water mark (largest single process, as /usr/bin/time -v). CPU %% counts one\n"
            "busy core as 100; cpu_mean_pct is CPU time over wall time. Percentiles are nearest-rank.\n"
            "GPU columns come from NVML and are empty without an NVIDIA driver.\n"
            "Exit status: CMD's, 128+N if it died of signal N, 127 if it could not be started.\n"
            "SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to sample-res are passed on to CMD.\n");
}

typedef struct {
    char *key, *val;
} tag;

static const char *const BUILTIN_COLUMNS[] = {
    "wall_s",      "exit_status", "rss_peak_mb", "rss_hwm_mb", "rss_p90_mb", "rss_mean_mb", "cpu_peak_pct",
    "cpu_p90_pct", "cpu_mean_pct", "gpu_peak_mb", "gpu_p90_mb", "samples", "self_cpu_pct",
};
enum { NBUILTIN = sizeof BUILTIN_COLUMNS / sizeof BUILTIN_COLUMNS[0] };

static void parse_tag(const char *arg, tag *tags, int ntags) {
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) qb_die(QB_EXIT_USAGE, "--tag: expected KEY=VALUE, got '%s'", arg);
    size_t klen = (size_t)(eq - arg);
    for (size_t i = 0; i < klen; i++) {
        char c = arg[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (i > 0 && ((c >= '0' && c <= '9') || c == '.' || c == '-'));
        if (!ok) qb_die(QB_EXIT_USAGE, "--tag: key '%.*s' must be a name ([A-Za-z_][A-Za-z0-9_.-]*)", (int)klen, arg);
    }
    for (const char *c = eq + 1; *c; c++)
        if (*c == '\t' || *c == '\n' || *c == '\r')
            qb_die(QB_EXIT_USAGE, "--tag: the value of '%.*s' holds a tab or newline", (int)klen, arg);
    tag t = {qb_malloc(klen + 1), qb_strdup(eq + 1)};
    memcpy(t.key, arg, klen);
    t.key[klen] = 0;
    for (int i = 0; i < NBUILTIN; i++)
        if (strcmp(t.key, BUILTIN_COLUMNS[i]) == 0) qb_die(QB_EXIT_USAGE, "--tag: '%s' is a summary column already", t.key);
    for (int i = 0; i < ntags; i++)
        if (strcmp(t.key, tags[i].key) == 0) qb_die(QB_EXIT_USAGE, "--tag: key '%s' given twice", t.key);
    tags[ntags] = t;
}

// The samples, one array per column; NaN where a value is unknown (the CPU %
// of the first sample, which has no interval before it; GPU without NVML).
typedef struct {
    double *t, *rss, *cpu, *gpu;
    size_t n, cap;
} series;

static void series_push(series *s, double t, double rss, double cpu, double gpu) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1024;
        s->t = qb_realloc(s->t, s->cap * sizeof(double));
        s->rss = qb_realloc(s->rss, s->cap * sizeof(double));
        s->cpu = qb_realloc(s->cpu, s->cap * sizeof(double));
        s->gpu = qb_realloc(s->gpu, s->cap * sizeof(double));
    }
    s->t[s->n] = t;
    s->rss[s->n] = rss;
    s->cpu[s->n] = cpu;
    s->gpu[s->n] = gpu;
    s->n++;
}

static double tv_s(struct timeval tv) { return (double)tv.tv_sec + 1e-6 * (double)tv.tv_usec; }

static double children_cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return tv_s(ru.ru_utime) + tv_s(ru.ru_stime);
}

typedef struct {
    qb_proctree tree;
    qb_nvml *gpu;
    double t0;          // monotonic time just before the spawn
    double reaped0;     // our RUSAGE_CHILDREN CPU time before the spawn
    double cpu_acc;     // CPU seconds of the tree so far (kept monotonic)
    double t_prev;      // time of the previous sample, seconds since t0
    int warned;
    series s;
} sampler;

// One sample of the tree: RSS summed over its live processes; CPU % from the
// growth of its CPU time since the previous sample (the live processes' own
// time and their reaped children's, plus the orphans that we reaped); GPU
// memory of its pids.
static void take_sample(sampler *S) {
    qb_tree_usage u;
    if (qb_proctree_sample(&S->tree, &u) != 0) {
        // Never leave CMD running unmeasured over this: skip the sample.
        if (!S->warned++) qb_warn("/proc: cannot list processes: %s", strerror(errno));
        return;
    }
    double cpu = u.cpu_s + children_cpu_s() - S->reaped0;
    // A process reaped between reading it and reading its parent can be
    // counted twice, or not at all, for one sample; keeping the total
    // monotonic stops that from showing as negative CPU use.
    if (cpu < S->cpu_acc) cpu = S->cpu_acc;
    double t = qb_now() - S->t0;
    double pct = NAN;
    if (S->s.n > 0 && t > S->t_prev) pct = 100.0 * (cpu - S->cpu_acc) / (t - S->t_prev);
    double gpu = NAN;
    if (S->gpu) {
        double b = qb_nvml_used_bytes(S->gpu, S->tree.tree, S->tree.ntree);
        if (b >= 0) gpu = b / MIB;
    }
    S->cpu_acc = cpu;
    S->t_prev = t;
    series_push(&S->s, t, u.rss_bytes / MIB, pct, gpu);
}

static void put(FILE *f, const char *fmt, double v, int last) {
    if (!isnan(v)) fprintf(f, fmt, v);
    fputc(last ? '\n' : '\t', f);
}

// Shell-quotes one argument for the provenance line (single quotes when it
// holds anything but plain characters; control characters become '?', so
// the comment stays one line).
static void put_quoted(FILE *f, const char *a) {
    int plain = *a != 0;
    for (const char *c = a; *c; c++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%", *c)) plain = 0;
    if (plain) {
        fputs(a, f);
        return;
    }
    fputc('\'', f);
    for (const char *c = a; *c; c++) {
        if (*c == '\'') fputs("'\\''", f);
        else fputc((unsigned char)*c < 0x20 || *c == 0x7f ? '?' : *c, f);
    }
    fputc('\'', f);
}

static void provenance(FILE *f, int argc, char **argv, const char *gpu_desc) {
    fputs("# command:", f);
    for (int i = 0; i < argc; i++) fputc(' ', f), put_quoted(f, argv[i]);
    fputc('\n', f);
    char cpu[256] = "unknown CPU";
    FILE *ci = fopen("/proc/cpuinfo", "re");
    if (ci) {
        char line[512];
        while (fgets(line, sizeof line, ci)) {
            char *colon = strchr(line, ':');
            if (strncmp(line, "model name", 10) == 0 && colon) {
                snprintf(cpu, sizeof cpu, "%s", colon + 2);
                cpu[strcspn(cpu, "\n")] = 0;
                break;
            }
        }
        fclose(ci);
    }
    struct utsname un;
    if (uname(&un) != 0) strcpy(un.release, "?");
    fprintf(f, "# machine: %s, %ld CPUs, Linux %s; GPU: %s\n", cpu, sysconf(_SC_NPROCESSORS_ONLN), un.release,
            gpu_desc);
}

int main(int argc, char **argv) {
    double interval = 0.05;
    const char *series_path = NULL, *summary_path = NULL;
    int quiet = 0, ntags = 0;
    tag *tags = qb_calloc((size_t)argc, sizeof *tags);
    static const struct option longopts[] = {
        {"help", no_argument, 0, 'h'},         {"interval", required_argument, 0, 'i'},
        {"output", required_argument, 0, 'o'}, {"summary", required_argument, 0, 's'},
        {"tag", required_argument, 0, 't'},    {"quiet", no_argument, 0, 'q'},
        {0, 0, 0, 0},
    };
    opterr = 0;
    int c;
    // '+': options end at CMD, so CMD's own options are left alone even without "--".
    while ((c = getopt_long(argc, argv, "+hi:o:s:q", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return 0;
        case 'i': interval = qb_parse_double("-i", optarg, 0.001, 86400); break;
        case 'o': series_path = optarg; break;
        case 's': summary_path = optarg; break;
        case 't': parse_tag(optarg, tags, ntags++); break;
        case 'q': quiet = 1; break;
        default: // '?': unknown, or its argument is missing (optopt says which option)
            if (optopt && strchr("iost", optopt))
                qb_die(QB_EXIT_USAGE, "option '%s' needs an argument (see --help)", argv[optind - 1]);
            if (optopt) qb_die(QB_EXIT_USAGE, "unknown option '-%c' (see --help)", optopt);
            qb_die(QB_EXIT_USAGE, "unknown option '%s' (see --help)", argv[optind - 1]);
        }
    }
    if (optind >= argc) qb_die(QB_EXIT_USAGE, "no command given (see --help)");
    char **cmd = argv + optind;
    if (series_path && summary_path && strcmp(series_path, summary_path) == 0)
        qb_die(QB_EXIT_USAGE, "-o and -s name the same file");

    // Outputs are created (as NAME.tmp) before CMD runs, so an unwritable
    // path fails at once rather than after a long run; O_CLOEXEC ("e") keeps
    // them out of CMD.
    qb_out series_out = {0}, summary_out = {0};
    FILE *fseries = series_path ? qb_out_open(&series_out, series_path, "we") : NULL;
    FILE *fsummary = summary_path ? qb_out_open(&summary_out, summary_path, "we") : NULL;

    sampler S = {0};
    if (qb_proctree_init(&S.tree, getpid()) != 0) qb_die(QB_EXIT_DATA, "/proc: cannot read: %s", strerror(errno));
    S.gpu = qb_nvml_open();
    char gpu_desc[512] = "none";
    if (S.gpu) qb_nvml_describe(S.gpu, gpu_desc, sizeof gpu_desc);
    // Orphans of the tree (a daemonising grandchild, a shell's background
    // job) are reparented to us instead of init, so they stay in the tree.
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) qb_warn("cannot become a child subreaper: %s", strerror(errno));

    sigset_t handled, old_mask;
    sigemptyset(&handled);
    int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaddset(&handled, forwarded[i]);
    sigaddset(&handled, SIGCHLD);
    sigprocmask(SIG_BLOCK, &handled, &old_mask);
    int sfd = signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (sfd < 0 || tfd < 0) qb_die(QB_EXIT_DATA, "cannot create signalfd/timerfd: %s", strerror(errno));

    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setsigmask(&attr, &old_mask); // CMD gets the signal mask we were given
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);

    struct rusage self0;
    getrusage(RUSAGE_SELF, &self0);
    S.reaped0 = children_cpu_s();
    struct timespec ts0;
    clock_gettime(CLOCK_MONOTONIC, &ts0);
    S.t0 = (double)ts0.tv_sec + 1e-9 * (double)ts0.tv_nsec;
    pid_t child;
    // glibc's posix_spawn reports a failed exec (ENOENT, EACCES, ...) here.
    int err = posix_spawnp(&child, cmd[0], NULL, &attr, cmd, environ);
    if (err) qb_die(127, "%s: cannot run: %s", cmd[0], strerror(err));
    posix_spawnattr_destroy(&attr);

    // Deadlines t0 + k*interval, absolute: sampling cost never shifts them.
    struct itimerspec its = {0};
    its.it_interval.tv_sec = (time_t)interval;
    its.it_interval.tv_nsec = (long)((interval - (double)(time_t)interval) * 1e9);
    its.it_value = ts0;
    its.it_value.tv_sec += its.it_interval.tv_sec;
    its.it_value.tv_nsec += its.it_interval.tv_nsec;
    if (its.it_value.tv_nsec >= 1000000000L) its.it_value.tv_sec++, its.it_value.tv_nsec -= 1000000000L;
    if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) != 0) qb_die(QB_EXIT_DATA, "timerfd: %s", strerror(errno));

    take_sample(&S); // the first sample, at once
    int child_exited = 0;
    while (!child_exited) {
        struct pollfd pf[2] = {{.fd = sfd, .events = POLLIN}, {.fd = tfd, .events = POLLIN}};
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR) continue;
            qb_warn("poll: %s", strerror(errno));
            break; // fall through to waiting for CMD without sampling
        }
        struct signalfd_siginfo si;
        while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
            if ((int)si.ssi_signo == SIGCHLD) continue;
            // A signal from the terminal (Ctrl-C, Ctrl-\, hangup: SI_KERNEL)
            // went to the whole foreground process group, which CMD shares
            // with us: it has it already. Pass on only what was sent to us
            // alone (kill, timeout, make).
            if (si.ssi_code != SI_KERNEL) kill(child, (int)si.ssi_signo);
        }
        // Reap orphans of the tree that ended; leave CMD itself a zombie.
        for (;;) {
            siginfo_t w = {0};
            if (waitid(P_ALL, 0, &w, WEXITED | WNOHANG | WNOWAIT) != 0 || w.si_pid == 0) break;
            if (w.si_pid == child) {
                child_exited = 1;
                break;
            }
            waitpid(w.si_pid, NULL, 0);
        }
        if (child_exited) break;
        uint64_t expirations;
        if (read(tfd, &expirations, sizeof expirations) == (ssize_t)sizeof expirations) take_sample(&S);
    }
    take_sample(&S); // the last sample: CMD is a zombie, its CPU time still readable
    double wall = S.s.n ? S.s.t[S.s.n - 1] : qb_now() - S.t0;
    double hwm_live = qb_proctree_hwm_bytes(&S.tree); // descendants still running
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    struct rusage self1, kids;
    getrusage(RUSAGE_SELF, &self1);
    getrusage(RUSAGE_CHILDREN, &kids);
    // The tree's CPU time for the mean: what the kernel accounted (in
    // microseconds) for all we reaped, CMD and everything it reaped
    // included, plus what descendants still running have used. The samples'
    // running total can be a clock tick short per process that reaped
    // children; this cannot.
    qb_tree_usage still;
    double tree_cpu = S.cpu_acc;
    if (qb_proctree_sample(&S.tree, &still) == 0)
        tree_cpu = tv_s(kids.ru_utime) + tv_s(kids.ru_stime) - S.reaped0 + still.cpu_s;
    // ru_maxrss (KiB) of reaped children is the largest high-water mark among
    // them and everything they reaped: CMD's tree, and the orphans we reaped.
    double hwm = fmax(1024.0 * (double)kids.ru_maxrss, hwm_live) / MIB;
    double self_cpu = tv_s(self1.ru_utime) + tv_s(self1.ru_stime) - tv_s(self0.ru_utime) - tv_s(self0.ru_stime);
    int exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
    qb_proctree_free(&S.tree);
    qb_nvml_close(S.gpu);

    series *s = &S.s;
    if (fseries) {
        provenance(fseries, argc, argv, gpu_desc);
        fprintf(fseries, "t_s\trss_mb\tcpu_pct\tgpu_mb\n");
        for (size_t i = 0; i < s->n; i++) {
            put(fseries, "%.4f", s->t[i], 0);
            put(fseries, "%.2f", s->rss[i], 0);
            put(fseries, "%.1f", s->cpu[i], 0);
            put(fseries, "%.1f", s->gpu[i], 1);
        }
        qb_out_commit(&series_out);
    }
    FILE *f = fsummary ? fsummary : quiet ? NULL : stderr;
    if (f) {
        if (fsummary) provenance(f, argc, argv, gpu_desc);
        for (int i = 0; i < ntags; i++) fprintf(f, "%s\t", tags[i].key);
        for (int i = 0; i < NBUILTIN; i++) fprintf(f, "%s%c", BUILTIN_COLUMNS[i], i + 1 < NBUILTIN ? '\t' : '\n');
        for (int i = 0; i < ntags; i++) fprintf(f, "%s\t", tags[i].val);
        put(f, "%.3f", wall, 0);
        fprintf(f, "%d\t", exit_status);
        put(f, "%.2f", qb_max(s->rss, s->n), 0);
        put(f, "%.2f", hwm, 0);
        put(f, "%.2f", qb_percentile_nearest_rank(s->rss, s->n, 90), 0);
        put(f, "%.2f", qb_mean(s->rss, s->n), 0);
        put(f, "%.1f", qb_max(s->cpu, s->n), 0);
        put(f, "%.1f", qb_percentile_nearest_rank(s->cpu, s->n, 90), 0);
        put(f, "%.1f", wall > 0 ? 100.0 * tree_cpu / wall : NAN, 0);
        put(f, "%.1f", qb_max(s->gpu, s->n), 0);
        put(f, "%.1f", qb_percentile_nearest_rank(s->gpu, s->n, 90), 0);
        fprintf(f, "%zu\t", s->n);
        put(f, "%.2f", wall > 0 ? 100.0 * self_cpu / wall : NAN, 1);
        if (fsummary) qb_out_commit(&summary_out);
        else fflush(f);
    }
    return exit_status;
}
