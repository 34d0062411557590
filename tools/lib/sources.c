// sources.c: see sources.h.
#include "sources.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"
#include "util.h"

static const char *const COLUMNS[] = {"name", "kind", "file", "url", "sha256", "bytes", "member", "note"};
enum { NCOLS = sizeof COLUMNS / sizeof COLUMNS[0] };

static int fail(qb_sources *s, char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(qb_sources *s, char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    qb_sources_free(s);
    return -1;
}

int qb_is_plain_name(const char *s) {
    if (!*s || *s == '.' || strlen(s) > 255) return 0;
    for (; *s; s++)
        if (*s <= ' ' || *s > '~' || *s == '/' || *s == '\\') return 0;
    return 1;
}

static int is_artifact_name(const char *s) {
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')) || strlen(s) > 128) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-')) return 0;
    return 1;
}

int qb_is_fetch_url(const char *url) {
    const char *schemes[] = {"http://", "https://", "file://"};
    for (int i = 0; i < 3; i++) {
        size_t k = strlen(schemes[i]);
        if (strncmp(url, schemes[i], k) == 0) {
            if (!url[k]) return 0;
            for (const char *c = url; *c; c++)
                if (*c <= ' ' || *c > '~') return 0; // URLs are percent-encoded ASCII
            return 1;
        }
    }
    return 0;
}

char *qb_url_basename(const char *url) {
    size_t end = strcspn(url, "?#");
    size_t start = end;
    while (start > 0 && url[start - 1] != '/') start--;
    char *b = qb_malloc(end - start + 1);
    memcpy(b, url + start, end - start);
    b[end - start] = 0;
    if (!qb_is_plain_name(b) || strchr(b, '%')) {
        free(b);
        return NULL;
    }
    return b;
}

// A member path: relative, components non-empty and not "." or "..".
static int is_member_path(const char *m) {
    if (!*m || *m == '/' || strlen(m) > 4096) return 0;
    for (const char *c = m; *c; c++)
        if (*c < ' ' || *c == 127 || *c == '\\') return 0;
    const char *p = m;
    for (;;) {
        size_t k = strcspn(p, "/");
        if (k == 0 || (k == 1 && p[0] == '.') || (k == 2 && p[0] == '.' && p[1] == '.')) return 0;
        if (!p[k]) return 1;
        p += k + 1;
    }
}

static const char *opt(const char *v) { return strcmp(v, "-") == 0 ? NULL : v; }

int qb_sources_parse(qb_sources *s, const char *name, const char *text, size_t len, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    if (qb_tsv_parse(&s->tsv, name, text, len, err, errlen) != 0) return -1;
    qb_tsv *t = &s->tsv;
    if (t->ncols != NCOLS) return fail(s, err, errlen, "%s: header has %d columns, expected %d (%s ... %s)", name, t->ncols, NCOLS, COLUMNS[0], COLUMNS[NCOLS - 1]);
    for (int c = 0; c < NCOLS; c++)
        if (strcmp(t->cols[c], COLUMNS[c]) != 0)
            return fail(s, err, errlen, "%s: header column %d is '%s', expected '%s'", name, c + 1, t->cols[c], COLUMNS[c]);
    s->rows = qb_calloc(t->nrows ? t->nrows : 1, sizeof *s->rows);
    s->n = t->nrows;
    for (size_t i = 0; i < t->nrows; i++) {
        qb_source *r = &s->rows[i];
        long ln = t->lines[i];
        const char *f[NCOLS];
        for (int c = 0; c < NCOLS; c++) f[c] = qb_tsv_get(t, i, c);
        r->line = ln;
        r->name = f[0];
        r->kind = f[1];
        r->file = opt(f[2]);
        r->url = opt(f[3]);
        r->sha256 = opt(f[4]);
        r->member = opt(f[6]);
        r->note = strcmp(f[7], "-") == 0 ? "" : f[7];
        if (!is_artifact_name(r->name))
            return fail(s, err, errlen, "%s:%ld: name '%s' must match [a-z0-9][a-z0-9._-]*", name, ln, r->name);
        if (strcmp(r->kind, "model") != 0 && strcmp(r->kind, "dataset") != 0)
            return fail(s, err, errlen, "%s:%ld: kind '%s' must be model or dataset", name, ln, r->kind);
        if (r->file && !qb_is_plain_name(r->file))
            return fail(s, err, errlen, "%s:%ld: file '%s' must be one plain file name (or '-' for an archive row)", name, ln, r->file);
        if (r->url && !qb_is_fetch_url(r->url))
            return fail(s, err, errlen, "%s:%ld: url '%s' must be http://, https:// or file:// (or '-')", name, ln, r->url);
        if (r->sha256 && !qb_sha256_is_hex(r->sha256))
            return fail(s, err, errlen, "%s:%ld: sha256 '%s' must be 64 lowercase hex digits (or '-')", name, ln, r->sha256);
        r->bytes = -1;
        if (strcmp(f[5], "-") != 0) {
            char *end;
            errno = 0;
            long long v = strtoll(f[5], &end, 10);
            if (errno || end == f[5] || *end || v < 0 || f[5][0] == '+' || f[5][0] == ' ')
                return fail(s, err, errlen, "%s:%ld: bytes '%s' must be a non-negative integer (or '-')", name, ln, f[5]);
            r->bytes = v;
        }
        if (r->member && !is_member_path(r->member))
            return fail(s, err, errlen, "%s:%ld: member '%s' must be a relative path without '.', '..' or empty components", name, ln, r->member);
        if (r->member && !r->url)
            return fail(s, err, errlen, "%s:%ld: a member needs the archive's url", name, ln);
        if (!r->file) { // archive row
            if (!r->url) return fail(s, err, errlen, "%s:%ld: an archive row (file '-') needs a url", name, ln);
            if (r->member) return fail(s, err, errlen, "%s:%ld: an archive row (file '-') has no member", name, ln);
            char *b = qb_url_basename(r->url);
            if (!b) return fail(s, err, errlen, "%s:%ld: archive url '%s' must end in a plain file name", name, ln, r->url);
            free(b);
        }
        for (size_t j = 0; j < i; j++) {
            const qb_source *q = &s->rows[j];
            if (strcmp(q->name, r->name) == 0 && strcmp(q->kind, r->kind) != 0)
                return fail(s, err, errlen, "%s:%ld: '%s' is a %s here but a %s on line %ld", name, ln, r->name, r->kind, q->kind, q->line);
            if (strcmp(q->name, r->name) == 0 && r->file && q->file && strcmp(q->file, r->file) == 0)
                return fail(s, err, errlen, "%s:%ld: %s/%s is already listed on line %ld", name, ln, r->name, r->file, q->line);
            if (!r->file && !q->file && strcmp(q->url, r->url) == 0)
                return fail(s, err, errlen, "%s:%ld: archive %s is already pinned on line %ld", name, ln, r->url, q->line);
        }
    }
    return 0;
}

int qb_sources_read(qb_sources *s, const char *path, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    qb_map m;
    if (qb_map_file(&m, path, err, errlen) != 0) return -1;
    int rc = qb_sources_parse(s, path, (const char *)m.data, m.size, err, errlen);
    qb_unmap(&m);
    return rc;
}

void qb_sources_free(qb_sources *s) {
    qb_tsv_free(&s->tsv);
    free(s->rows);
    s->rows = NULL;
    s->n = 0;
}

int qb_sources_has(const qb_sources *s, const char *name) {
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->rows[i].name, name) == 0) return 1;
    return 0;
}

const qb_source *qb_sources_archive(const qb_sources *s, const char *url) {
    for (size_t i = 0; i < s->n; i++)
        if (!s->rows[i].file && strcmp(s->rows[i].url, url) == 0) return &s->rows[i];
    return NULL;
}

const char *qb_kind_dir(const char *kind) { return strcmp(kind, "model") == 0 ? "models" : "datasets"; }
