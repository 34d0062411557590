// table_group.c: the operations that match rows by key columns: join,
// aggregate, ratio against a baseline.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "table_priv.h"
#include "util.h"

const char *const qb_stat_names[QB_NSTATS] = {"mean", "std", "median", "min", "max"};

static int col_exact(const qb_table *t, const char *name) {
    for (int c = 0; c < t->ncols; c++)
        if (strcmp(t->cols[c], name) == 0) return c;
    return -1;
}

// The same key text as qb_table_key, from a parsed file's row.
static char *tsv_key(const qb_tsv *f, size_t r, const int *cols, int n) {
    size_t len = 1;
    for (int i = 0; i < n; i++) len += strlen(qb_tsv_get(f, r, cols[i])) + 24;
    char *key = qb_malloc(len), *p = key;
    *p = 0;
    for (int i = 0; i < n; i++) {
        const char *v = qb_tsv_get(f, r, cols[i]);
        p += sprintf(p, "%zu:%s", strlen(v), v);
    }
    return key;
}

static char *file_stem(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char *stem = qb_strdup(base);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem) *dot = 0;
    return stem;
}

// Widens the origin array to one more source, filled with "computed".
static int add_source(qb_table *t, const char *name) {
    int ns = t->nsrc + 1;
    qb_origin *origin = qb_malloc((t->cap ? t->cap : 1) * (size_t)ns * sizeof *origin);
    for (size_t r = 0; r < t->nrows; r++) {
        memcpy(&origin[r * (size_t)ns], &t->origin[r * (size_t)t->nsrc], (size_t)t->nsrc * sizeof *origin);
        origin[r * (size_t)ns + (size_t)t->nsrc] = (qb_origin){-1, 0};
    }
    free(t->origin);
    t->origin = origin;
    t->srcname = qb_realloc(t->srcname, (size_t)ns * sizeof *t->srcname);
    t->srcname[t->nsrc] = qb_strdup(name);
    t->files = qb_realloc(t->files, (size_t)(t->nfiles + 1) * sizeof *t->files);
    t->files[t->nfiles++] = qb_strdup(name);
    return t->nsrc++;
}

void qb_table_join(qb_table *t, const qb_tsv *right, char *const *keys, int nkeys) {
    int *lk = qb_malloc((size_t)(nkeys ? nkeys : 1) * sizeof *lk);
    int *rk = qb_malloc((size_t)(nkeys ? nkeys : 1) * sizeof *rk);
    int n = 0;
    for (int i = 0; i < nkeys; i++) {
        int l = col_exact(t, keys[i]), r = qb_tsv_col(right, keys[i]);
        if (l >= 0 && r >= 0) lk[n] = l, rk[n++] = r;
    }
    if (n == 0) qb_die(QB_EXIT_DATA, "--join %s: shares none of the --on columns with the table", right->name);

    // Right must be a lookup table: one row per key.
    qb_keymap index = {0};
    for (size_t r = 0; r < right->nrows; r++) {
        size_t first = qb_keymap_put(&index, tsv_key(right, r, rk, n), r);
        if (first != r) {
            char keytext[512] = "";
            for (int i = 0, k = 0; i < n && k < (int)sizeof keytext; i++)
                k += snprintf(keytext + k, sizeof keytext - (size_t)k, "%s%s=%s", i ? ", " : "", right->cols[rk[i]],
                              qb_tsv_get(right, r, rk[i]));
            qb_die(QB_EXIT_DATA, "%s:%ld: --join: a second row for %s (first at line %ld); aggregate it first or add --on keys",
                   right->name, right->lines[r], keytext, right->lines[first]);
        }
    }

    int src = add_source(t, right->name);
    int file = t->nfiles - 1;
    char *stem = file_stem(right->name);
    int *dest = qb_malloc((size_t)right->ncols * sizeof *dest); // right column -> table column, -1 for keys
    for (int c = 0; c < right->ncols; c++) {
        dest[c] = -1;
        int is_key = 0;
        for (int i = 0; i < n; i++) is_key |= rk[i] == c;
        if (is_key) continue;
        const char *name = right->cols[c];
        char *renamed = NULL;
        if (col_exact(t, name) >= 0) {
            renamed = qb_malloc(strlen(stem) + strlen(name) + 2);
            sprintf(renamed, "%s.%s", stem, name);
            if (col_exact(t, renamed) >= 0)
                qb_die(QB_EXIT_DATA, "--join %s: column '%s' is already in the table, and so is '%s'", right->name,
                       name, renamed);
            name = renamed;
        }
        dest[c] = qb_table_add_col(t, name, src);
        free(renamed);
    }

    size_t unmatched = 0, first_unmatched = 0;
    for (size_t r = 0; r < t->nrows; r++) {
        char *key = qb_table_key(t, r, lk, n);
        size_t m = qb_keymap_get(&index, key);
        free(key);
        if (m == (size_t)-1) {
            if (!unmatched++) first_unmatched = r;
            continue;
        }
        for (int c = 0; c < right->ncols; c++)
            if (dest[c] >= 0) qb_table_set(t, r, dest[c], qb_tsv_get(right, m, c));
        t->origin[r * (size_t)t->nsrc + (size_t)src] = (qb_origin){file, right->lines[m]};
    }
    if (unmatched) {
        char where[1024], keytext[512];
        qb_table_describe(t, first_unmatched, -1, where, sizeof where);
        qb_table_key_text(t, first_unmatched, lk, n, keytext, sizeof keytext);
        qb_warn("--join %s: no row for %zu of %zu rows, left empty (first: %s, %s)", right->name, unmatched, t->nrows,
                where, keytext);
    }
    qb_keymap_free(&index);
    free(stem);
    free(dest);
    free(lk);
    free(rk);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Statistic s of v[0..n-1] (n >= 1); v is sorted in place. Returns NAN where
// it is undefined (std of one value).
static double stat(int s, double *v, size_t n) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += v[i];
    double mean = sum / (double)n;
    switch (s) {
    case QB_STAT_MEAN: return mean;
    case QB_STAT_STD: {
        if (n < 2) return NAN;
        double ss = 0; // two passes: no cancellation for values far from 0
        for (size_t i = 0; i < n; i++) ss += (v[i] - mean) * (v[i] - mean);
        return sqrt(ss / (double)(n - 1));
    }
    default: break;
    }
    qsort(v, n, sizeof *v, cmp_double);
    if (s == QB_STAT_MIN) return v[0];
    if (s == QB_STAT_MAX) return v[n - 1];
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void qb_table_aggregate(qb_table *t, char *const *by, int nby, const qb_agg *aggs, int nagg) {
    int *byc = qb_malloc((size_t)(nby ? nby : 1) * sizeof *byc);
    for (int i = 0; i < nby; i++) byc[i] = qb_table_need(t, by[i], "--by");
    // The aggregates, each (column, statistic) once, in the order asked.
    int *aggc = qb_malloc((size_t)(nagg ? nagg : 1) * sizeof *aggc);
    int *aggs_ = qb_malloc((size_t)(nagg ? nagg : 1) * sizeof *aggs_);
    int na = 0;
    for (int i = 0; i < nagg; i++) {
        int c = qb_table_need(t, aggs[i].col, "--agg"), dup = 0;
        for (int j = 0; j < na; j++) dup |= aggc[j] == c && aggs_[j] == aggs[i].stat;
        if (!dup) aggc[na] = c, aggs_[na++] = aggs[i].stat;
    }
    // Every aggregated cell must be a number: check them all first, so the
    // message names the first bad line of the file.
    double *vals = qb_malloc((t->nrows ? t->nrows : 1) * (size_t)(na ? na : 1) * sizeof *vals);
    for (size_t r = 0; r < t->nrows; r++)
        for (int j = 0; j < na; j++) vals[r * (size_t)na + (size_t)j] = qb_table_number(t, r, aggc[j], "--agg");

    // Groups in order of first appearance; members listed group by group.
    qb_keymap groups = {0};
    size_t ngroups = 0, *group_of = qb_malloc((t->nrows ? t->nrows : 1) * sizeof *group_of);
    for (size_t r = 0; r < t->nrows; r++) {
        group_of[r] = qb_keymap_put(&groups, qb_table_key(t, r, byc, nby), ngroups);
        if (group_of[r] == ngroups) ngroups++;
    }
    size_t *start = qb_calloc(ngroups + 1, sizeof *start), *fill = qb_calloc(ngroups + 1, sizeof *fill);
    for (size_t r = 0; r < t->nrows; r++) start[group_of[r] + 1]++;
    for (size_t g = 0; g < ngroups; g++) start[g + 1] += start[g];
    size_t *members = qb_malloc((t->nrows ? t->nrows : 1) * sizeof *members);
    for (size_t r = 0; r < t->nrows; r++) members[start[group_of[r]] + fill[group_of[r]]++] = r;

    qb_table out;
    qb_table_init_like(&out, t);
    for (int i = 0; i < nby; i++) qb_table_add_col(&out, t->cols[byc[i]], t->colsrc[byc[i]]);
    qb_table_add_col(&out, "n", 0);
    for (int j = 0; j < na; j++) {
        char name[600];
        snprintf(name, sizeof name, "%s_%s", t->cols[aggc[j]], qb_stat_names[aggs_[j]]);
        qb_table_add_col(&out, name, t->colsrc[aggc[j]]);
    }
    for (int c = 0; c < out.ncols; c++)
        for (int d = 0; d < c; d++)
            if (strcmp(out.cols[c], out.cols[d]) == 0)
                qb_die(QB_EXIT_USAGE, "--by/--agg: output column '%s' would appear twice", out.cols[c]);
    out.nkeys = nby;

    char **row = qb_malloc((size_t)out.ncols * sizeof *row);
    qb_origin *none = qb_malloc((size_t)out.nsrc * sizeof *none);
    for (int s = 0; s < out.nsrc; s++) none[s] = (qb_origin){-1, 0};
    double *v = qb_malloc((t->nrows ? t->nrows : 1) * sizeof *v);
    for (size_t g = 0; g < ngroups; g++) {
        size_t first = members[start[g]], size = start[g + 1] - start[g];
        for (int i = 0; i < nby; i++) row[i] = qb_strdup(qb_table_get(t, first, byc[i]));
        row[nby] = qb_malloc(24);
        snprintf(row[nby], 24, "%zu", size);
        for (int j = 0; j < na; j++) {
            for (size_t k = 0; k < size; k++) v[k] = vals[members[start[g] + k] * (size_t)na + (size_t)j];
            double x = stat(aggs_[j], v, size);
            row[nby + 1 + j] = qb_malloc(40);
            if (aggs_[j] == QB_STAT_STD && size < 2)
                row[nby + 1 + j][0] = 0; // undefined for one run: empty, not 0
            else
                qb_fmt_shortest(row[nby + 1 + j], 40, x);
        }
        qb_table_add_row(&out, row, none);
        for (int c = 0; c < out.ncols; c++) free(row[c]);
    }
    qb_table_free(t);
    *t = out;
    qb_keymap_free(&groups);
    free(v);
    free(none);
    free(row);
    free(members);
    free(start);
    free(fill);
    free(group_of);
    free(vals);
    free(aggs_);
    free(aggc);
    free(byc);
}

void qb_table_ratio(qb_table *t, const char *col, const char *base_key, const char *base_value, char *const *within,
                    int nwithin) {
    int c = qb_table_need(t, col, "--ratio");
    int bk = qb_table_need(t, base_key, "--baseline");
    int *wc = qb_malloc((size_t)(nwithin ? nwithin : 1) * sizeof *wc);
    for (int i = 0; i < nwithin; i++) wc[i] = qb_table_need(t, within[i], "--within");

    qb_keymap base = {0};
    for (size_t r = 0; r < t->nrows; r++) {
        if (strcmp(qb_table_get(t, r, bk), base_value) != 0) continue;
        size_t first = qb_keymap_put(&base, qb_table_key(t, r, wc, nwithin), r);
        if (first != r) {
            char a[1024], b[1024], keys[512];
            qb_table_describe(t, first, -1, a, sizeof a);
            qb_table_describe(t, r, -1, b, sizeof b);
            qb_table_key_text(t, r, wc, nwithin, keys, sizeof keys);
            qb_die(QB_EXIT_DATA, "--baseline %s=%s: two baseline rows (%s and %s) for %s; add --by or --within keys",
                   base_key, base_value, a, b, nwithin ? keys : "the whole table");
        }
    }
    char name[600];
    snprintf(name, sizeof name, "%s_ratio", col);
    if (col_exact(t, name) >= 0) qb_die(QB_EXIT_USAGE, "--ratio %s: column '%s' exists already", col, name);
    int out = qb_table_add_col(t, name, t->colsrc[c]);
    for (size_t r = 0; r < t->nrows; r++) {
        char *key = qb_table_key(t, r, wc, nwithin);
        size_t b = qb_keymap_get(&base, key);
        free(key);
        if (b == (size_t)-1) {
            char where[1024], keys[512];
            qb_table_describe(t, r, -1, where, sizeof where);
            qb_table_key_text(t, r, wc, nwithin, keys, sizeof keys);
            qb_die(QB_EXIT_DATA, "--baseline %s=%s: no baseline row for %s (needed by %s)", base_key, base_value,
                   nwithin ? keys : "the whole table", where);
        }
        double v = qb_table_number(t, r, c, "--ratio"), bv = qb_table_number(t, b, c, "--ratio");
        if (bv == 0) {
            char where[1024];
            qb_table_describe(t, b, c, where, sizeof where);
            qb_die(QB_EXIT_DATA, "%s: --ratio: baseline value of '%s' is 0", where, t->cols[c]);
        }
        char buf[40];
        qb_fmt_shortest(buf, sizeof buf, v / bv);
        qb_table_set(t, r, out, buf);
    }
    qb_keymap_free(&base);
    free(wc);
}
