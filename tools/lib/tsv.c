// tsv.c: see tsv.h.
#include "tsv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static int fail(qb_tsv *t, char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(qb_tsv *t, char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    qb_tsv_free(t);
    return -1;
}

// Undoes the writer's escapes in place (the result is never longer).
static void unescape(char *s) {
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (*r == '\\' && r[1]) {
            char c = r[1];
            char out = c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c == '\\' ? '\\' : c == '#' ? '#' : 0;
            if (out) {
                *w++ = out;
                r++;
                continue;
            }
        }
        *w++ = *r;
    }
    *w = 0;
}

static int count_fields(const char *line) {
    int n = 1;
    for (; *line; line++) n += *line == '\t';
    return n;
}

// Splits line (NUL-terminated, inside t->buf) at tabs into out, which has
// room for count_fields(line) pointers.
static void split(char *line, char **out) {
    int n = 0;
    for (;;) {
        char *tab = strchr(line, '\t');
        out[n++] = line;
        if (!tab) break;
        *tab = 0;
        line = tab + 1;
    }
}

int qb_tsv_parse(qb_tsv *t, const char *name, const char *text, size_t len, char *err, size_t errlen) {
    memset(t, 0, sizeof *t);
    t->name = qb_strdup(name);
    if (memchr(text, 0, len)) {
        size_t off = (size_t)((const char *)memchr(text, 0, len) - text);
        return fail(t, err, errlen, "%s: byte %zu: NUL byte: not a text file", name, off);
    }
    t->buf = qb_malloc(len + 1);
    memcpy(t->buf, text, len);
    t->buf[len] = 0;
    char *p = t->buf, *end = t->buf + len;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;

    char *header_text = NULL; // the header line as read, to spot repeats
    size_t cap = 0;
    long lineno = 0;
    char **scratch = NULL; // fields of the current line, once ncols is known
    while (p < end) {
        lineno++;
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *line = p;
        char *stop = nl ? nl : end;
        p = nl ? nl + 1 : end;
        *stop = 0;
        if (stop > line && stop[-1] == '\r') stop[-1] = 0;
        if (line[0] == '#') continue;

        if (!t->cols) {
            header_text = qb_strdup(line);
            t->ncols = count_fields(line);
            t->cols = qb_malloc((size_t)t->ncols * sizeof *t->cols);
            split(line, t->cols);
            for (int c = 0; c < t->ncols; c++) {
                unescape(t->cols[c]);
                if (!t->cols[c][0]) {
                    free(header_text);
                    return fail(t, err, errlen, "%s:%ld: header: column %d has an empty name", name, lineno, c + 1);
                }
                for (int d = 0; d < c; d++)
                    if (strcmp(t->cols[c], t->cols[d]) == 0) {
                        free(header_text);
                        return fail(t, err, errlen, "%s:%ld: header: column '%s' appears twice (columns %d and %d)",
                                    name, lineno, t->cols[c], d + 1, c + 1);
                    }
            }
            scratch = qb_malloc((size_t)t->ncols * sizeof *scratch);
            continue;
        }
        if (strcmp(line, header_text) == 0) continue; // a repeated header (cat a.tsv b.tsv)
        int n = count_fields(line);
        if (n != t->ncols) {
            free(header_text);
            free(scratch);
            return fail(t, err, errlen, "%s:%ld: %d field%s, header has %d%s", name, lineno, n, n == 1 ? "" : "s",
                        t->ncols, line[0] || n != 1 ? "" : " (empty line)");
        }
        split(line, scratch);
        if (t->nrows == cap) {
            cap = cap ? 2 * cap : 64;
            t->cells = qb_realloc(t->cells, cap * (size_t)t->ncols * sizeof *t->cells);
            t->lines = qb_realloc(t->lines, cap * sizeof *t->lines);
        }
        for (int c = 0; c < t->ncols; c++) {
            unescape(scratch[c]);
            t->cells[t->nrows * (size_t)t->ncols + (size_t)c] = scratch[c];
        }
        t->lines[t->nrows++] = lineno;
    }
    free(header_text);
    free(scratch);
    if (!t->cols) return fail(t, err, errlen, "%s: empty: no header row", name);
    return 0;
}

int qb_tsv_read(qb_tsv *t, const char *path, char *err, size_t errlen) {
    int is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "<stdin>" : path;
    memset(t, 0, sizeof *t);
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", name, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    char *text = qb_malloc(cap);
    for (;;) {
        if (n == cap) text = qb_realloc(text, cap *= 2);
        size_t got = fread(text + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    int saved = errno;
    if (!is_stdin) fclose(f);
    if (bad) {
        free(text);
        snprintf(err, errlen, "%s: read error: %s", name, strerror(saved));
        return -1;
    }
    int rc = qb_tsv_parse(t, name, text, n, err, errlen);
    free(text);
    return rc;
}

void qb_tsv_free(qb_tsv *t) {
    free(t->name);
    free(t->cols);
    free(t->cells);
    free(t->lines);
    free(t->buf);
    memset(t, 0, sizeof *t);
}

int qb_tsv_col(const qb_tsv *t, const char *name) {
    for (int c = 0; c < t->ncols; c++)
        if (strcmp(t->cols[c], name) == 0) return c;
    return -1;
}

void qb_tsv_write_field(FILE *f, const char *s, int first) {
    if (first && s[0] == '#') {
        fputs("\\#", f);
        s++;
    }
    for (; *s; s++) {
        switch (*s) {
        case '\t': fputs("\\t", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\\': fputs("\\\\", f); break;
        default: fputc(*s, f);
        }
    }
}

void qb_tsv_write_row(FILE *f, const char *const *fields, int n) {
    for (int i = 0; i < n; i++) {
        if (i) fputc('\t', f);
        qb_tsv_write_field(f, fields[i], i == 0);
    }
    fputc('\n', f);
}
