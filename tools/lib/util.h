// util.h: what every qbench tool shares: exit codes, fatal errors, checked
// allocation, clocks, read-only file maps, atomic (temp + rename) outputs and
// the stderr progress bar.
#pragma once
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

// Exit codes of every tool (DESIGN.md, "Conventions for every tool").
enum {
    QB_EXIT_OK = 0,
    QB_EXIT_USAGE = 1,     // bad command line
    QB_EXIT_DATA = 2,      // a file is missing, unreadable or malformed
    QB_EXIT_NETWORK = 3,   // a transfer failed
    QB_EXIT_INTEGRITY = 4, // a checksum did not match
};

// Prints "PROG: message" on one line to stderr and exits with code. Any
// atomic output still open is removed first (see qb_out_*), so a failing tool
// never leaves a file that Make would take for finished.
_Noreturn void qb_die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// Same, without exiting: for warnings ("PROG: warning: ...").
void qb_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// Makes a message one line in place: newlines and carriage returns become
// spaces. For messages that quote file content (a parser's error text).
void qb_one_line(char *s);

void *qb_malloc(size_t n);                 // dies (exit 2) when out of memory
void *qb_calloc(size_t n, size_t size);
void *qb_realloc(void *p, size_t n);
char *qb_strdup(const char *s);
// Allocation aligned to 64 bytes (one cache line, one AVX-512 vector).
void *qb_aligned_alloc(size_t n);

double qb_now(void);                        // monotonic clock, seconds

// Read-only whole-file map. On failure returns -1 and leaves a one-line reason
// (naming the path) in err.
typedef struct {
    const uint8_t *data;
    size_t size;
} qb_map;
int qb_map_file(qb_map *m, const char *path, char *err, size_t errlen);
void qb_unmap(qb_map *m);

// Reads a whole (small) file into a NUL-terminated buffer; dies on error.
char *qb_read_file(const char *path, size_t *len);
int qb_file_exists(const char *path);
// Joins dir and name with one '/'; the result is malloc'ed.
char *qb_path_join(const char *dir, const char *name);

// Atomic output: writes go to "PATH.tmp", qb_out_commit renames it to PATH.
// qb_die removes the temp file of every output still open (at most a few per
// tool, registered in a fixed table owned by util.c).
typedef struct {
    FILE *f;
    char *path;
    char *tmp;
} qb_out;
FILE *qb_out_open(qb_out *o, const char *path, const char *mode); // dies on error
void qb_out_commit(qb_out *o);                                     // fclose + rename, dies on error
void qb_out_abort(qb_out *o);                                      // fclose + unlink

// Progress bar on stderr, drawn only when stderr is a terminal; otherwise
// nothing is printed until qb_progress_end, which prints one summary line
// unless quiet.
typedef struct {
    const char *label;
    const char *unit;
    double total, done;
    double t0, last_draw;
    int tty, quiet;
} qb_progress;
void qb_progress_begin(qb_progress *p, const char *label, double total, const char *unit, int quiet);
void qb_progress_update(qb_progress *p, double done);
void qb_progress_end(qb_progress *p);

// Parses a whole decimal integer / float argument or dies with a usage error
// naming the option.
long qb_parse_long(const char *opt, const char *s, long lo, long hi);
double qb_parse_double(const char *opt, const char *s, double lo, double hi);
