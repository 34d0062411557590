// table.h: an in-memory table of result rows and what tabulate does to it:
// concatenate, join, filter, aggregate repeats, ratios against a baseline,
// sort, number formatting, column selection, and rendering as Markdown,
// LaTeX (booktabs), TSV or CSV.
//
// Cells are strings, as read; numbers are parsed where an operation needs
// them. Every row remembers the file and line it came from (one origin per
// source: the inputs and each joined file), so a data error names them.
// Operations that meet bad data print one line and exit 2 (qb_die).
#pragma once
#include <stddef.h>
#include <stdio.h>

#include "tsv.h"

typedef struct {
    int file;  // index into qb_table.files, -1 for a computed row
    long line; // 1-based line in that file
} qb_origin;

typedef struct {
    int ncols;
    char **cols;       // column names
    int *colsrc;       // per column: its source (0 = the inputs, j = the j-th join)
    int nsrc;          // number of sources
    size_t nrows, cap;
    char **cells;      // nrows * ncols strings, row-major, owned, never NULL
    qb_origin *origin; // nrows * nsrc: where each row's cells of each source came from
    int nfiles;
    char **files;      // names of the files read, for messages
    char **srcname;    // per source: its file names, for messages
    int nkeys;         // leading columns naming a computed row in messages
} qb_table;

static inline const char *qb_table_get(const qb_table *t, size_t r, int c) {
    return t->cells[r * (size_t)t->ncols + (size_t)c];
}
void qb_table_set(qb_table *t, size_t r, int c, const char *v); // copies v

// Concatenates n parsed files into t. Columns are the union of all headers in
// order of first appearance; a file without some column gets "" there.
void qb_table_from_tsv(qb_table *t, const qb_tsv *in, int n);
void qb_table_free(qb_table *t);

// Column lookup. A name that is not a column but NAME_mean is (after
// aggregation) finds NAME_mean, so options keep working on aggregated
// tables. qb_table_need dies (exit 2) naming the files and the columns.
int qb_table_find(const qb_table *t, const char *name);
int qb_table_need(const qb_table *t, const char *name, const char *option);

// Numbers: a cell is a number when strtod reads all of it (decimal, with
// optional exponent; inf and nan too; no hex, no blanks); an integer is
// [+-]digits. qb_fmt_shortest prints the shortest text that reads back as v.
int qb_number(const char *s, double *v);
int qb_is_integer(const char *s);
void qb_fmt_shortest(char *buf, size_t n, double v);
// Prints v with sig significant digits in fixed notation (exponent notation
// below 1e-4 and from 1e15); integers from 10^sig up are printed whole.
// Returns the number of decimals printed, or -1 for exponent notation.
int qb_fmt_sig(char *buf, size_t n, double v, int sig);

// Keeps the rows whose column key equals value (or differs, when negate).
void qb_table_where(qb_table *t, const char *key, const char *value, int negate);

// Left join: appends to every row the columns of right's matching row, where
// rows match when they agree on every one of keys that both tables have (at
// least one must be shared). right must have one row per key. Right's key
// columns are not repeated; its other columns keep their names, or become
// STEM.NAME (STEM = file name without directory and extension) where the
// table already has NAME. Rows without a match get "" and one warning.
void qb_table_join(qb_table *t, const qb_tsv *right, char *const *keys, int nkeys);

enum { QB_STAT_MEAN, QB_STAT_STD, QB_STAT_MEDIAN, QB_STAT_MIN, QB_STAT_MAX, QB_NSTATS };
extern const char *const qb_stat_names[QB_NSTATS];
typedef struct {
    const char *col;
    int stat;
} qb_agg;

// Groups rows by the by columns (groups in order of first appearance) and
// replaces t by one row per group: the by columns, n (rows in the group), then
// COL_STAT for each aggregate in order. std is the sample standard deviation
// (n - 1), "" for a group of one row. Aggregated cells must be numbers.
void qb_table_aggregate(qb_table *t, char *const *by, int nby, const qb_agg *aggs, int nagg);

// Appends COL_ratio = COL / COL of the baseline row, the row whose column
// base_key holds base_value among the rows that agree on the within columns.
// Each group must hold exactly one baseline row.
void qb_table_ratio(qb_table *t, const char *col, const char *base_key, const char *base_value, char *const *within,
                    int nwithin);

// Stable sort on columns in order; desc[i] reverses column i. A column whose
// non-empty cells are all numbers sorts numerically, others in natural
// (version) order; empty cells go last either way.
void qb_table_sort(qb_table *t, char *const *cols, const int *desc, int n);

// Formats numbers for display: in every column not named in keep whose
// non-empty cells are all numbers, but not all integers, each cell gets sig
// significant digits (sig 0: cells stay as they are). With pm, each pair NAME_mean,
// NAME_std becomes one column NAME holding "MEAN ± STD", the std printed with
// as many decimals as the mean (just "MEAN" where the std is empty).
void qb_table_format(qb_table *t, int sig, int pm, char *const *keep, int nkeep);

// Keeps the named columns in the given order, named display[i], or where
// that is NULL names[i] as written (so "tok_s" selects tok_s_mean of an
// aggregated table and calls it tok_s).
void qb_table_select(qb_table *t, char *const *names, char *const *display, int n);

// Writes the table as "md" (pipe table, numbers right-aligned), "tex"
// (booktabs tabular, special characters escaped), "tsv" (escaped as tsv.h)
// or "csv" (RFC 4180: quoted where needed, CRLF line ends). Empty cells
// print as na in md and tex.
void qb_table_render(FILE *f, const qb_table *t, const char *format, const char *na);
