// table_priv.h: helpers shared by the table_*.c files, not part of the API.
#pragma once
#include <stddef.h>

#include "table.h"

// Where row r's cell in column c came from, for messages: "FILE:LINE", or
// for a computed row its key columns "k=v, k=v". c = -1 means the row.
void qb_table_describe(const qb_table *t, size_t r, int c, char *buf, size_t n);

// Parses cell (r, c) as a number or dies naming where it came from; what
// says which option needed it.
double qb_table_number(const qb_table *t, size_t r, int c, const char *what);

// Appends a row of ncols strings (copied) with nsrc origins.
void qb_table_add_row(qb_table *t, char *const *cells, const qb_origin *origin);
// Appends an empty column (cells "") from source src; returns its index.
int qb_table_add_col(qb_table *t, const char *name, int src);
// A new empty table with the same files and sources as like, no columns.
void qb_table_init_like(qb_table *t, const qb_table *like);

// A key built from some columns of a row: the values with their lengths, so
// that two keys are equal exactly when every value is.
char *qb_table_key(const qb_table *t, size_t r, const int *cols, int n);
// "k=v, k=v" for those columns of row r.
void qb_table_key_text(const qb_table *t, size_t r, const int *cols, int n, char *buf, size_t len);

// A string -> index map (open addressing), for grouping and joining.
typedef struct {
    char **keys;
    size_t *vals;
    size_t cap, n;
} qb_keymap;
// Returns the value stored under key, or stores val (taking ownership of
// key) and returns val when key is new; a key already present is freed.
size_t qb_keymap_put(qb_keymap *m, char *key, size_t val);
// The value under key, or (size_t)-1.
size_t qb_keymap_get(const qb_keymap *m, const char *key);
void qb_keymap_free(qb_keymap *m);
