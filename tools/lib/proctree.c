// proctree.c: see proctree.h.
#include "proctree.h"
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// How often foreign pids are read again, in case a number was reused by a
// process of the tree within one sample (see proctree.h).
static const double FULL_RECLASSIFY_S = 1.0;

int qb_parse_proc_stat(const char *text, size_t len, qb_stat_fields *f) {
    // "PID (COMM) S PPID ...": COMM may hold spaces and parentheses, so the
    // fields start after the LAST ')'.
    const char *close = NULL;
    for (size_t i = 0; i < len; i++)
        if (text[i] == ')') close = text + i;
    if (!close) return -1;
    const char *p = close + 1, *end = text + len;
    // Fields 3.. (1-based, as in proc(5)); we want 3, 4, 14-17 and 24.
    unsigned long long v[25] = {0};
    for (int field = 3; field <= 24; field++) {
        while (p < end && *p == ' ') p++;
        if (p >= end) return -1;
        if (field == 3) {
            f->state = *p++;
            if (p < end && *p != ' ') return -1;
            continue;
        }
        int neg = 0;
        if (*p == '-') neg = 1, p++;
        if (p >= end || !isdigit((unsigned char)*p)) return -1;
        unsigned long long x = 0;
        while (p < end && isdigit((unsigned char)*p)) x = x * 10 + (unsigned long long)(*p++ - '0');
        if (p < end && *p != ' ' && *p != '\n') return -1;
        v[field] = neg ? 0 : x; // negative values (priority, nice) are not used
    }
    f->ppid = (pid_t)v[4];
    f->utime = v[14];
    f->stime = v[15];
    f->cutime = v[16];
    f->cstime = v[17];
    f->rss_pages = v[24];
    return 0;
}

int qb_proctree_init(qb_proctree *t, pid_t root) {
    memset(t, 0, sizeof *t);
    t->root = root;
    t->page_size = sysconf(_SC_PAGESIZE);
    t->clk_tck = sysconf(_SC_CLK_TCK);
    if (t->page_size <= 0) t->page_size = 4096;
    if (t->clk_tck <= 0) t->clk_tck = 100;
    t->last_full = -1e300;
    DIR *d = opendir("/proc");
    if (!d) return -1;
    closedir(d);
    return 0;
}

static int cmp_pid(const void *a, const void *b) {
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

// Lists the numeric entries of /proc (one per thread group), sorted.
static int list_pids(qb_proctree *t, size_t *n) {
    DIR *d = opendir("/proc");
    if (!d) return -1;
    *n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *s = e->d_name;
        if (*s < '1' || *s > '9') continue;
        long v = 0;
        for (; *s >= '0' && *s <= '9'; s++) v = v * 10 + (*s - '0');
        if (*s) continue;
        if (*n == t->scratch_cap) {
            t->scratch_cap = t->scratch_cap ? 2 * t->scratch_cap : 512;
            t->scratch = qb_realloc(t->scratch, t->scratch_cap * sizeof *t->scratch);
        }
        t->scratch[(*n)++] = (pid_t)v;
    }
    closedir(d);
    qsort(t->scratch, *n, sizeof *t->scratch, cmp_pid); // procfs lists in order; do not rely on it
    return 0;
}

static qb_proc *find(qb_proc *procs, size_t n, pid_t pid) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (procs[mid].pid < pid) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && procs[lo].pid == pid ? &procs[lo] : NULL;
}

static void drop(qb_proc *p) {
    if (p->fd >= 0) close(p->fd);
    p->fd = -1;
}

// The CPU clock of a whole process (all its threads, live and exited), in
// nanoseconds: the kernel's MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED). Far
// finer than the clock ticks of /proc/PID/stat, which matters at 10 ms
// intervals; it still answers for a zombie until it is reaped.
static int process_cpu_seconds(pid_t pid, double *s) {
    clockid_t id = (clockid_t)((~(unsigned)pid << 3) | 2u);
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0) return -1;
    *s = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    return 0;
}

// Reads /proc/PID/stat of p (through its open fd, or opening it and keeping
// the fd) and stores ppid, rss and CPU time. Returns -1 when the process is
// gone.
static int read_proc(qb_proctree *t, qb_proc *p) {
    char buf[1024];
    ssize_t got = -1;
    if (p->fd >= 0) {
        got = pread(p->fd, buf, sizeof buf - 1, 0);
        if (got <= 0) drop(p); // gone (ESRCH); the pid may be listed again for a new process
    }
    if (p->fd < 0) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)p->pid);
        p->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (p->fd < 0) return -1;
        got = pread(p->fd, buf, sizeof buf - 1, 0);
        if (got <= 0) {
            drop(p);
            return -1;
        }
    }
    buf[got] = 0;
    qb_stat_fields f;
    if (qb_parse_proc_stat(buf, (size_t)got, &f) != 0) return -1;
    p->ppid = f.ppid;
    p->rss = (double)f.rss_pages * (double)t->page_size;
    double own;
    if (process_cpu_seconds(p->pid, &own) != 0) own = (double)(f.utime + f.stime) / (double)t->clk_tck;
    p->cpu_s = own + (double)(f.cutime + f.cstime) / (double)t->clk_tck;
    return 0;
}

int qb_proctree_sample(qb_proctree *t, qb_tree_usage *u) {
    memset(u, 0, sizeof *u);
    size_t n;
    if (list_pids(t, &n) != 0) return -1;
    double now = qb_now();
    int full = now - t->last_full >= FULL_RECLASSIFY_S;
    if (full) t->last_full = now;

    // Merge the old table with the listing: keep what is still listed, add
    // new pids as unknown, close what left.
    qb_proc *next = qb_malloc((n ? n : 1) * sizeof *next);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        pid_t pid = t->scratch[i];
        while (j < t->n && t->procs[j].pid < pid) drop(&t->procs[j++]);
        if (j < t->n && t->procs[j].pid == pid) {
            next[i] = t->procs[j++];
            if (full && next[i].descendant == 0) next[i].descendant = -1;
        } else {
            next[i] = (qb_proc){.pid = pid, .fd = -1, .descendant = -1};
        }
    }
    while (j < t->n) drop(&t->procs[j++]);
    free(t->procs);
    t->procs = next;
    t->n = n;

    // Read every process of the tree and every unknown one.
    for (size_t i = 0; i < n; i++) {
        qb_proc *p = &t->procs[i];
        if (p->descendant == 0) continue;
        if (read_proc(t, p) != 0) {
            // Vanished between listing and reading: counts as nothing.
            p->descendant = 0;
            p->rss = p->cpu_s = 0;
        }
    }
    // Classify the unknown ones: a process descends from the root when its
    // parent is the root or descends from it. New parents may themselves be
    // unknown, and after pid wrap-around a parent can have a larger pid, so
    // iterate to a fixed point (a few passes: the depth of the new part).
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t i = 0; i < n; i++) {
            qb_proc *p = &t->procs[i];
            if (p->descendant != -1) continue;
            if (p->ppid == t->root) {
                p->descendant = 1;
            } else {
                qb_proc *q = find(t->procs, n, p->ppid);
                if (q && q->descendant == -1) continue;
                p->descendant = q && q->descendant == 1 && q != p;
            }
            changed = 1;
        }
    }
    t->ntree = 0;
    free(t->tree);
    t->tree = qb_malloc((n ? n : 1) * sizeof *t->tree);
    for (size_t i = 0; i < n; i++) {
        qb_proc *p = &t->procs[i];
        if (p->descendant == -1) p->descendant = 0; // unresolved (a cycle cannot happen)
        if (p->descendant == 0 || p->pid == t->root) {
            p->descendant = 0;
            drop(p);
            continue;
        }
        t->tree[t->ntree++] = p->pid;
        u->rss_bytes += p->rss;
        u->cpu_s += p->cpu_s;
    }
    u->nproc = t->ntree;
    return 0;
}

double qb_proctree_hwm_bytes(const qb_proctree *t) {
    double best = 0;
    for (size_t i = 0; i < t->ntree; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/status", (int)t->tree[i]);
        FILE *f = fopen(path, "re");
        if (!f) continue;
        char line[256];
        while (fgets(line, sizeof line, f)) {
            unsigned long long kb;
            if (sscanf(line, "VmHWM: %llu kB", &kb) == 1) {
                if (1024.0 * (double)kb > best) best = 1024.0 * (double)kb;
                break;
            }
        }
        fclose(f);
    }
    return best;
}

void qb_proctree_free(qb_proctree *t) {
    for (size_t i = 0; i < t->n; i++) drop(&t->procs[i]);
    free(t->procs);
    free(t->tree);
    free(t->scratch);
    memset(t, 0, sizeof *t);
}
