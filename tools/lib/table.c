// table.c: the table itself: building, lookup, numbers, messages, key maps,
// filtering, sorting and column selection. Grouping operations live in
// table_group.c, display in table_render.c.
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "table_priv.h"
#include "util.h"

static int col_exact(const qb_table *t, const char *name) {
    for (int c = 0; c < t->ncols; c++)
        if (strcmp(t->cols[c], name) == 0) return c;
    return -1;
}

void qb_table_set(qb_table *t, size_t r, int c, const char *v) {
    char **cell = &t->cells[r * (size_t)t->ncols + (size_t)c];
    free(*cell);
    *cell = qb_strdup(v);
}

static void reserve_rows(qb_table *t, size_t need) {
    if (need <= t->cap) return;
    t->cap = t->cap ? t->cap : 64;
    while (t->cap < need) t->cap *= 2;
    t->cells = qb_realloc(t->cells, t->cap * (size_t)(t->ncols ? t->ncols : 1) * sizeof *t->cells);
    t->origin = qb_realloc(t->origin, t->cap * (size_t)t->nsrc * sizeof *t->origin);
}

void qb_table_add_row(qb_table *t, char *const *cells, const qb_origin *origin) {
    reserve_rows(t, t->nrows + 1);
    for (int c = 0; c < t->ncols; c++) t->cells[t->nrows * (size_t)t->ncols + (size_t)c] = qb_strdup(cells[c]);
    memcpy(&t->origin[t->nrows * (size_t)t->nsrc], origin, (size_t)t->nsrc * sizeof *origin);
    t->nrows++;
}

int qb_table_add_col(qb_table *t, const char *name, int src) {
    int nc = t->ncols + 1;
    char **cells = qb_malloc((t->cap ? t->cap : 1) * (size_t)nc * sizeof *cells);
    for (size_t r = 0; r < t->nrows; r++) {
        memcpy(&cells[r * (size_t)nc], &t->cells[r * (size_t)t->ncols], (size_t)t->ncols * sizeof *cells);
        cells[r * (size_t)nc + (size_t)t->ncols] = qb_strdup("");
    }
    free(t->cells);
    t->cells = cells;
    t->cols = qb_realloc(t->cols, (size_t)nc * sizeof *t->cols);
    t->colsrc = qb_realloc(t->colsrc, (size_t)nc * sizeof *t->colsrc);
    t->cols[t->ncols] = qb_strdup(name);
    t->colsrc[t->ncols] = src;
    return t->ncols++;
}

void qb_table_init_like(qb_table *t, const qb_table *like) {
    memset(t, 0, sizeof *t);
    t->nsrc = like->nsrc;
    t->nfiles = like->nfiles;
    t->files = qb_malloc((size_t)(like->nfiles ? like->nfiles : 1) * sizeof *t->files);
    for (int i = 0; i < like->nfiles; i++) t->files[i] = qb_strdup(like->files[i]);
    t->srcname = qb_malloc((size_t)like->nsrc * sizeof *t->srcname);
    for (int i = 0; i < like->nsrc; i++) t->srcname[i] = qb_strdup(like->srcname[i]);
}

void qb_table_from_tsv(qb_table *t, const qb_tsv *in, int n) {
    memset(t, 0, sizeof *t);
    t->nsrc = 1;
    t->nfiles = n;
    t->files = qb_malloc((size_t)(n ? n : 1) * sizeof *t->files);
    size_t namelen = 1;
    for (int i = 0; i < n; i++) {
        t->files[i] = qb_strdup(in[i].name);
        namelen += strlen(in[i].name) + 2;
    }
    t->srcname = qb_malloc(sizeof *t->srcname);
    t->srcname[0] = qb_malloc(namelen);
    char *end = t->srcname[0];
    *end = 0;
    for (int i = 0; i < n; i++) end += sprintf(end, "%s%s", i ? ", " : "", in[i].name);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < in[i].ncols; c++)
            if (col_exact(t, in[i].cols[c]) < 0) qb_table_add_col(t, in[i].cols[c], 0);
    size_t total = 0;
    for (int i = 0; i < n; i++) total += in[i].nrows;
    reserve_rows(t, total);
    int *map = qb_malloc((size_t)t->ncols * sizeof *map);
    for (int i = 0; i < n; i++) {
        for (int c = 0; c < t->ncols; c++) map[c] = qb_tsv_col(&in[i], t->cols[c]);
        for (size_t r = 0; r < in[i].nrows; r++) {
            for (int c = 0; c < t->ncols; c++)
                t->cells[t->nrows * (size_t)t->ncols + (size_t)c] = qb_strdup(map[c] >= 0 ? qb_tsv_get(&in[i], r, map[c]) : "");
            t->origin[t->nrows] = (qb_origin){i, in[i].lines[r]};
            t->nrows++;
        }
    }
    free(map);
}

void qb_table_free(qb_table *t) {
    for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++) free(t->cells[i]);
    for (int c = 0; c < t->ncols; c++) free(t->cols[c]);
    for (int i = 0; i < t->nfiles; i++) free(t->files[i]);
    for (int i = 0; i < t->nsrc; i++) free(t->srcname[i]);
    free(t->cells);
    free(t->cols);
    free(t->colsrc);
    free(t->origin);
    free(t->files);
    free(t->srcname);
    memset(t, 0, sizeof *t);
}

int qb_table_find(const qb_table *t, const char *name) {
    int c = col_exact(t, name);
    if (c >= 0) return c;
    char mean[512];
    if ((size_t)snprintf(mean, sizeof mean, "%s_mean", name) >= sizeof mean) return -1;
    return col_exact(t, mean);
}

int qb_table_need(const qb_table *t, const char *name, const char *option) {
    int c = qb_table_find(t, name);
    if (c >= 0) return c;
    char have[1024] = "";
    size_t k = 0;
    for (int i = 0; i < t->ncols && k < sizeof have - 8; i++) {
        int w = snprintf(have + k, sizeof have - k, "%s%s", i ? ", " : "", t->cols[i]);
        if (w < 0 || (size_t)w >= sizeof have - k) {
            snprintf(have + (sizeof have - 8), 8, ", ...");
            break;
        }
        k += (size_t)w;
    }
    char from[1024] = "";
    for (int s = 0; s < t->nsrc; s++) {
        size_t used = strlen(from);
        snprintf(from + used, sizeof from - used, "%s%s", s ? ", " : "", t->srcname[s]);
    }
    qb_die(QB_EXIT_DATA, "%s: no column '%s' in %s (columns: %s)", option, name, from[0] ? from : "the input",
           t->ncols ? have : "none");
}

int qb_number(const char *s, double *v) {
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    if (!*p || !(*p == '.' || (*p >= '0' && *p <= '9') || *p == 'i' || *p == 'I' || *p == 'n' || *p == 'N'))
        return 0; // no blanks, no empty, nothing strtod would skip
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) return 0;
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || *end) return 0;
    if (v) *v = x;
    return 1;
}

int qb_is_integer(const char *s) {
    if (*s == '+' || *s == '-') s++;
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

void qb_fmt_shortest(char *buf, size_t n, double v) {
    if (isnan(v)) {
        snprintf(buf, n, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, n, v < 0 ? "-inf" : "inf");
        return;
    }
    for (int p = 15; p <= 17; p++) {
        snprintf(buf, n, "%.*g", p, v);
        if (strtod(buf, NULL) == v) return;
    }
}

int qb_fmt_sig(char *buf, size_t n, double v, int sig) {
    sig = sig < 1 ? 1 : sig > 17 ? 17 : sig;
    if (!isfinite(v)) {
        qb_fmt_shortest(buf, n, v);
        return -1;
    }
    if (v == 0) {
        snprintf(buf, n, "%.*f", sig - 1, 0.0);
        return sig - 1;
    }
    // The exponent after rounding to sig digits (9.996 -> 1.00e+01).
    char e[64];
    snprintf(e, sizeof e, "%.*e", sig - 1, v);
    int exp10 = atoi(strchr(e, 'e') + 1);
    if (exp10 < -4 || exp10 >= 15) {
        snprintf(buf, n, "%s", e);
        return -1;
    }
    int decimals = exp10 >= sig - 1 ? 0 : sig - 1 - exp10;
    snprintf(buf, n, "%.*f", decimals, v);
    return decimals;
}

void qb_table_key_text(const qb_table *t, size_t r, const int *cols, int n, char *buf, size_t len) {
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < n && k < len; i++) {
        int w = snprintf(buf + k, len - k, "%s%s=%s", i ? ", " : "", t->cols[cols[i]], qb_table_get(t, r, cols[i]));
        if (w < 0) break;
        k += (size_t)w;
    }
}

void qb_table_describe(const qb_table *t, size_t r, int c, char *buf, size_t n) {
    int src = c >= 0 ? t->colsrc[c] : 0;
    qb_origin o = t->origin[r * (size_t)t->nsrc + (size_t)src];
    if (o.file >= 0) {
        snprintf(buf, n, "%s:%ld", t->files[o.file], o.line);
        return;
    }
    qb_origin o0 = t->origin[r * (size_t)t->nsrc];
    if (src > 0 && o0.file >= 0) { // a joined cell of a row that had no match
        snprintf(buf, n, "%s:%ld (no match in %s)", t->files[o0.file], o0.line, t->srcname[src]);
        return;
    }
    if (t->nkeys > 0) {
        int cols[64], k = t->nkeys < 64 ? t->nkeys : 64;
        for (int i = 0; i < k; i++) cols[i] = i;
        char keys[512];
        qb_table_key_text(t, r, cols, k, keys, sizeof keys);
        snprintf(buf, n, "row %s", keys);
        return;
    }
    snprintf(buf, n, "row %zu", r + 1);
}

double qb_table_number(const qb_table *t, size_t r, int c, const char *what) {
    double v;
    const char *s = qb_table_get(t, r, c);
    if (qb_number(s, &v)) return v;
    char where[1024];
    qb_table_describe(t, r, c, where, sizeof where);
    qb_die(QB_EXIT_DATA, "%s: %s: column '%s': not a number: '%s'", where, what, t->cols[c], s);
}

char *qb_table_key(const qb_table *t, size_t r, const int *cols, int n) {
    size_t len = 1;
    for (int i = 0; i < n; i++) len += strlen(qb_table_get(t, r, cols[i])) + 24;
    char *key = qb_malloc(len), *p = key;
    *p = 0;
    for (int i = 0; i < n; i++) {
        const char *v = qb_table_get(t, r, cols[i]);
        p += sprintf(p, "%zu:%s", strlen(v), v);
    }
    return key;
}

static size_t hash(const char *s) {
    size_t h = 1469598103934665603ull; // FNV-1a
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void keymap_grow(qb_keymap *m) {
    qb_keymap bigger = {0};
    bigger.cap = m->cap ? 2 * m->cap : 64;
    bigger.keys = qb_calloc(bigger.cap, sizeof *bigger.keys);
    bigger.vals = qb_calloc(bigger.cap, sizeof *bigger.vals);
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i]) {
            size_t j = hash(m->keys[i]) & (bigger.cap - 1);
            while (bigger.keys[j]) j = (j + 1) & (bigger.cap - 1);
            bigger.keys[j] = m->keys[i];
            bigger.vals[j] = m->vals[i];
        }
    bigger.n = m->n;
    free(m->keys);
    free(m->vals);
    *m = bigger;
}

size_t qb_keymap_put(qb_keymap *m, char *key, size_t val) {
    if (2 * (m->n + 1) > m->cap) keymap_grow(m);
    size_t j = hash(key) & (m->cap - 1);
    for (; m->keys[j]; j = (j + 1) & (m->cap - 1))
        if (strcmp(m->keys[j], key) == 0) {
            free(key);
            return m->vals[j];
        }
    m->keys[j] = key;
    m->vals[j] = val;
    m->n++;
    return val;
}

size_t qb_keymap_get(const qb_keymap *m, const char *key) {
    if (!m->cap) return (size_t)-1;
    for (size_t j = hash(key) & (m->cap - 1); m->keys[j]; j = (j + 1) & (m->cap - 1))
        if (strcmp(m->keys[j], key) == 0) return m->vals[j];
    return (size_t)-1;
}

void qb_keymap_free(qb_keymap *m) {
    for (size_t i = 0; i < m->cap; i++) free(m->keys[i]);
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

// Removes the rows whose keep[r] is 0, in place.
static void keep_rows(qb_table *t, const unsigned char *keep) {
    size_t w = 0, nc = (size_t)t->ncols, ns = (size_t)t->nsrc;
    for (size_t r = 0; r < t->nrows; r++) {
        if (!keep[r]) {
            for (size_t c = 0; c < nc; c++) free(t->cells[r * nc + c]);
            continue;
        }
        memmove(&t->cells[w * nc], &t->cells[r * nc], nc * sizeof *t->cells);
        memmove(&t->origin[w * ns], &t->origin[r * ns], ns * sizeof *t->origin);
        w++;
    }
    t->nrows = w;
}

void qb_table_where(qb_table *t, const char *key, const char *value, int negate) {
    int c = qb_table_need(t, key, "--where");
    unsigned char *keep = qb_malloc(t->nrows ? t->nrows : 1);
    for (size_t r = 0; r < t->nrows; r++) keep[r] = (strcmp(qb_table_get(t, r, c), value) == 0) != negate;
    keep_rows(t, keep);
    free(keep);
}

// Sorting: one column's values, numbers parsed once.
typedef struct {
    int col, desc, numeric;
    double *num;
} sort_key;
typedef struct {
    const qb_table *t;
    const sort_key *keys;
    int n;
} sort_ctx;

static int cmp_rows(const void *a, const void *b, void *arg) {
    const sort_ctx *ctx = arg;
    size_t ra = *(const size_t *)a, rb = *(const size_t *)b;
    for (int i = 0; i < ctx->n; i++) {
        const sort_key *k = &ctx->keys[i];
        const char *sa = qb_table_get(ctx->t, ra, k->col), *sb = qb_table_get(ctx->t, rb, k->col);
        int ea = !sa[0], eb = !sb[0];
        if (ea || eb) {
            if (ea != eb) return ea - eb; // empty last, whatever the direction
            continue;
        }
        int d;
        if (k->numeric) {
            double x = k->num[ra], y = k->num[rb];
            // NaN after every other number, then by value.
            d = isnan(x) || isnan(y) ? isnan(x) - isnan(y) : (x > y) - (x < y);
        } else {
            d = strverscmp(sa, sb);
        }
        if (d) return k->desc ? -d : d;
    }
    return (ra > rb) - (ra < rb); // stable
}

void qb_table_sort(qb_table *t, char *const *cols, const int *desc, int n) {
    sort_key *keys = qb_calloc((size_t)(n ? n : 1), sizeof *keys);
    for (int i = 0; i < n; i++) {
        keys[i].col = qb_table_need(t, cols[i], "--sort");
        keys[i].desc = desc[i];
        keys[i].numeric = 0;
        keys[i].num = qb_malloc((t->nrows ? t->nrows : 1) * sizeof(double));
        int numeric = 1, any = 0;
        for (size_t r = 0; r < t->nrows && numeric; r++) {
            const char *s = qb_table_get(t, r, keys[i].col);
            if (!s[0]) continue;
            any = 1;
            numeric = qb_number(s, &keys[i].num[r]);
        }
        keys[i].numeric = numeric && any;
    }
    size_t *idx = qb_malloc((t->nrows ? t->nrows : 1) * sizeof *idx);
    for (size_t r = 0; r < t->nrows; r++) idx[r] = r;
    sort_ctx ctx = {t, keys, n};
    qsort_r(idx, t->nrows, sizeof *idx, cmp_rows, &ctx);
    size_t nc = (size_t)t->ncols, ns = (size_t)t->nsrc;
    char **cells = qb_malloc((t->cap ? t->cap : 1) * (nc ? nc : 1) * sizeof *cells);
    qb_origin *origin = qb_malloc((t->cap ? t->cap : 1) * ns * sizeof *origin);
    for (size_t r = 0; r < t->nrows; r++) {
        memcpy(&cells[r * nc], &t->cells[idx[r] * nc], nc * sizeof *cells);
        memcpy(&origin[r * ns], &t->origin[idx[r] * ns], ns * sizeof *origin);
    }
    free(t->cells);
    free(t->origin);
    t->cells = cells;
    t->origin = origin;
    for (int i = 0; i < n; i++) free(keys[i].num);
    free(keys);
    free(idx);
}

void qb_table_select(qb_table *t, char *const *names, char *const *display, int n) {
    int *pick = qb_malloc((size_t)(n ? n : 1) * sizeof *pick);
    for (int i = 0; i < n; i++) pick[i] = qb_table_need(t, names[i], "--columns");
    size_t oc = (size_t)t->ncols;
    char **cells = qb_malloc((t->cap ? t->cap : 1) * (size_t)(n ? n : 1) * sizeof *cells);
    for (size_t r = 0; r < t->nrows; r++) {
        for (int i = 0; i < n; i++) cells[r * (size_t)n + (size_t)i] = qb_strdup(t->cells[r * oc + (size_t)pick[i]]);
        for (size_t c = 0; c < oc; c++) free(t->cells[r * oc + c]);
    }
    char **cols = qb_malloc((size_t)(n ? n : 1) * sizeof *cols);
    int *colsrc = qb_malloc((size_t)(n ? n : 1) * sizeof *colsrc);
    for (int i = 0; i < n; i++) {
        cols[i] = qb_strdup(display[i] ? display[i] : names[i]); // as asked: tok_s, not tok_s_mean
        colsrc[i] = t->colsrc[pick[i]];
    }
    for (size_t c = 0; c < oc; c++) free(t->cols[c]);
    free(t->cells);
    free(t->cols);
    free(t->colsrc);
    t->cells = cells;
    t->cols = cols;
    t->colsrc = colsrc;
    t->ncols = n;
    t->nkeys = 0; // the leading columns may no longer be the keys
    free(pick);
}
