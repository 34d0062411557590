// util.c: see util.h.
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

// The temp files of outputs not yet committed. This is the one piece of
// process-wide mutable state in the library: a fatal error anywhere must be
// able to remove them, like an atexit handler would, without every caller
// threading its outputs through to the point of failure.
enum { QB_MAX_OPEN_OUTPUTS = 16 };
static qb_out *open_outputs[QB_MAX_OPEN_OUTPUTS];

static void forget_output(qb_out *o) {
    for (int i = 0; i < QB_MAX_OPEN_OUTPUTS; i++)
        if (open_outputs[i] == o) open_outputs[i] = NULL;
}

static void remove_open_outputs(void) {
    for (int i = 0; i < QB_MAX_OPEN_OUTPUTS; i++) {
        if (!open_outputs[i]) continue;
        if (open_outputs[i]->f) fclose(open_outputs[i]->f);
        unlink(open_outputs[i]->tmp);
        open_outputs[i] = NULL;
    }
}

static void vmessage(const char *prefix, const char *fmt, va_list ap) {
    char line[4096];
    vsnprintf(line, sizeof line, fmt, ap);
    qb_one_line(line); // messages that quote file content must not break the line
    fprintf(stderr, "%s: %s%s\n", program_invocation_short_name, prefix, line);
}

void qb_one_line(char *s) {
    for (; *s; s++)
        if (*s == '\n' || *s == '\r') *s = ' ';
}

void qb_die(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmessage("", fmt, ap);
    va_end(ap);
    remove_open_outputs();
    exit(code);
}

void qb_warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmessage("warning: ", fmt, ap);
    va_end(ap);
}

void *qb_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) qb_die(QB_EXIT_DATA, "out of memory allocating %zu bytes", n);
    return p;
}

void *qb_calloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) qb_die(QB_EXIT_DATA, "out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *qb_realloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) qb_die(QB_EXIT_DATA, "out of memory allocating %zu bytes", n);
    return q;
}

char *qb_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(qb_malloc(n), s, n);
}

void *qb_aligned_alloc(size_t n) {
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? n : 64) != 0) qb_die(QB_EXIT_DATA, "out of memory allocating %zu bytes", n);
    return p;
}

double qb_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int qb_map_file(qb_map *m, const char *path, char *err, size_t errlen) {
    m->data = NULL;
    m->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_size == 0) {
        snprintf(err, errlen, "%s: file is empty", path);
        close(fd);
        return -1;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd); // the mapping keeps the file alive
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "%s: cannot map: %s", path, strerror(errno));
        return -1;
    }
    m->data = p;
    m->size = (size_t)st.st_size;
    return 0;
}

void qb_unmap(qb_map *m) {
    if (m->data) munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

char *qb_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) qb_die(QB_EXIT_DATA, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = qb_malloc(cap);
    for (;;) {
        if (n + 1 >= cap) buf = qb_realloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) qb_die(QB_EXIT_DATA, "%s: read error: %s", path, strerror(errno));
    fclose(f);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

int qb_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

char *qb_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = qb_malloc(a + b + 2);
    memcpy(p, dir, a);
    size_t k = a;
    if (k && p[k - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

FILE *qb_out_open(qb_out *o, const char *path, const char *mode) {
    // A target that exists and is not a regular file (/dev/null, /dev/stdout, a FIFO) is written
    // in place: renaming a temp file over it would replace a device node with a plain file.
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        o->path = o->tmp = NULL;
        o->f = fopen(path, mode);
        if (!o->f) qb_die(QB_EXIT_DATA, "%s: cannot open: %s", path, strerror(errno));
        return o->f;
    }
    o->path = qb_strdup(path);
    o->tmp = qb_malloc(strlen(path) + 5);
    sprintf(o->tmp, "%s.tmp", path);
    o->f = fopen(o->tmp, mode);
    if (!o->f) qb_die(QB_EXIT_DATA, "%s: cannot create: %s", o->tmp, strerror(errno));
    int i = 0;
    while (i < QB_MAX_OPEN_OUTPUTS && open_outputs[i]) i++;
    if (i == QB_MAX_OPEN_OUTPUTS) qb_die(QB_EXIT_DATA, "too many open outputs");
    open_outputs[i] = o;
    return o->f;
}

void qb_out_commit(qb_out *o) {
    if (!o->tmp) { // written in place (see qb_out_open)
        int bad = ferror(o->f) | fclose(o->f);
        o->f = NULL;
        if (bad) qb_die(QB_EXIT_DATA, "write error: %s", strerror(errno));
        return;
    }
    int bad = ferror(o->f) | fflush(o->f);
    bad |= fsync(fileno(o->f));
    bad |= fclose(o->f);
    o->f = NULL;
    if (bad) qb_die(QB_EXIT_DATA, "%s: write error: %s", o->tmp, strerror(errno));
    if (rename(o->tmp, o->path) != 0) qb_die(QB_EXIT_DATA, "%s: cannot rename into place: %s", o->path, strerror(errno));
    forget_output(o);
    free(o->path);
    free(o->tmp);
    o->path = o->tmp = NULL;
}

void qb_out_abort(qb_out *o) {
    if (o->f) fclose(o->f);
    if (!o->tmp) { // written in place: nothing of ours to remove
        o->f = NULL;
        return;
    }
    o->f = NULL;
    if (o->tmp) unlink(o->tmp);
    forget_output(o);
    free(o->path);
    free(o->tmp);
    o->path = o->tmp = NULL;
}

static void human(char *buf, size_t n, double v, const char *unit) {
    if (strcmp(unit, "B") == 0) {
        const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
        int k = 0;
        while (v >= 1024 && k < 4) v /= 1024, k++;
        snprintf(buf, n, "%.1f %s", v, u[k]);
    } else {
        snprintf(buf, n, "%.0f %s", v, unit);
    }
}

void qb_progress_begin(qb_progress *p, const char *label, double total, const char *unit, int quiet) {
    p->label = label;
    p->unit = unit;
    p->total = total;
    p->done = 0;
    p->t0 = p->last_draw = qb_now();
    p->quiet = quiet;
    p->tty = !quiet && isatty(STDERR_FILENO);
}

static void draw(qb_progress *p, int final) {
    double t = qb_now() - p->t0;
    double rate = t > 0 ? p->done / t : 0;
    char done[32], rate_s[40];
    human(done, sizeof done, p->done, p->unit);
    human(rate_s, sizeof rate_s, rate, p->unit);
    if (p->total > 0) {
        double frac = fmin(1.0, p->done / p->total);
        int width = 30, full = (int)(frac * width);
        char bar[64];
        for (int i = 0; i < width; i++) bar[i] = i < full ? '#' : '.';
        bar[width] = 0;
        double eta = rate > 0 ? (p->total - p->done) / rate : 0;
        fprintf(stderr, "\r%s [%s] %5.1f%% %s %s/s ETA %.0fs ", p->label, bar, 100 * frac, done, rate_s,
                final ? 0.0 : eta);
    } else {
        fprintf(stderr, "\r%s %s %s/s ", p->label, done, rate_s);
    }
    if (final) fputc('\n', stderr);
    fflush(stderr);
}

void qb_progress_update(qb_progress *p, double done) {
    p->done = done;
    if (!p->tty) return;
    double now = qb_now();
    if (now - p->last_draw < 0.1) return; // ten redraws a second is plenty
    p->last_draw = now;
    draw(p, 0);
}

void qb_progress_end(qb_progress *p) {
    if (p->quiet) return;
    if (p->tty) {
        draw(p, 1);
        return;
    }
    char done[32];
    human(done, sizeof done, p->done, p->unit);
    fprintf(stderr, "%s: %s: %s in %.2f s\n", program_invocation_short_name, p->label, done, qb_now() - p->t0);
}

long qb_parse_long(const char *opt, const char *s, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end) qb_die(QB_EXIT_USAGE, "%s: not an integer: '%s'", opt, s);
    if (v < lo || v > hi) qb_die(QB_EXIT_USAGE, "%s: %ld is out of range [%ld, %ld]", opt, v, lo, hi);
    return v;
}

double qb_parse_double(const char *opt, const char *s, double lo, double hi) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) qb_die(QB_EXIT_USAGE, "%s: not a number: '%s'", opt, s);
    if (v < lo || v > hi) qb_die(QB_EXIT_USAGE, "%s: %g is out of range [%g, %g]", opt, v, lo, hi);
    return v;
}
