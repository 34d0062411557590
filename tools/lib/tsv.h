// tsv.h: the results-file format every qbench tool writes and reads.
//
// A results file is UTF-8 text, one record per line, fields separated by one
// tab. The first line that does not start with '#' is the header (column
// names, non-empty and unique); every later line must have exactly as many
// fields. Lines starting with '#' are provenance comments (machine, commit,
// command) and are skipped wherever they appear. "\r\n" line ends are read
// like "\n"; a missing newline at the end of the file is fine; a UTF-8 byte
// order mark is skipped. An empty line is a record with one empty field, so
// it is an error unless the header has one column. A later line identical to
// the header is skipped, so `cat a.tsv b.tsv` of files with one header each
// reads as one table.
//
// Fields cannot hold a tab or a newline, so the writer escapes them the way
// PostgreSQL's and MySQL's text formats do and the reader undoes it:
//   \t tab   \n newline   \r carriage return   \\ backslash
//   \# a '#' that starts the first field of a line (else it reads as a comment)
// A backslash before any other character is kept as it is.
#pragma once
#include <stddef.h>
#include <stdio.h>

typedef struct {
    char *name;    // where it came from, for messages ("<stdin>" for "-")
    int ncols;     // columns in the header
    char **cols;   // column names
    size_t nrows;  // data rows (header, comments and repeated headers excluded)
    char **cells;  // nrows * ncols field strings, row-major, never NULL
    long *lines;   // 1-based line number of each data row in the file
    char *buf;     // storage of every string above
} qb_tsv;

// Parses len bytes of text named name (for messages). On error returns -1 and
// leaves one line "NAME:LINE: reason" (or "NAME: reason") in err; t is then
// empty and needs no qb_tsv_free.
int qb_tsv_parse(qb_tsv *t, const char *name, const char *text, size_t len, char *err, size_t errlen);
// Reads and parses a file; path "-" reads standard input.
int qb_tsv_read(qb_tsv *t, const char *path, char *err, size_t errlen);
void qb_tsv_free(qb_tsv *t);

// Index of the column called name, or -1.
int qb_tsv_col(const qb_tsv *t, const char *name);
static inline const char *qb_tsv_get(const qb_tsv *t, size_t row, int col) {
    return t->cells[row * (size_t)t->ncols + (size_t)col];
}

// Writes one field escaped as above; first says whether it starts a line.
void qb_tsv_write_field(FILE *f, const char *s, int first);
// Writes n escaped fields separated by tabs and a "\n".
void qb_tsv_write_row(FILE *f, const char *const *fields, int n);
