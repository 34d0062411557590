// sha256sums.h: the SHA256SUMS file fetch keeps in every install folder, in
// the format of sha256sum(1) ("HEX  NAME" lines), so `sha256sum -c SHA256SUMS`
// checks an install by hand. For unpinned files it is the only record of the
// digest first observed.
#pragma once
#include <stddef.h>

typedef struct {
    char **names;
    char (*hex)[65];
    int n;
} qb_sums;

// Reads path; a missing file reads as empty. Returns 0, or -1 with
// "PATH:LINE: reason" in err.
int qb_sums_read(qb_sums *s, const char *path, char *err, size_t errlen);
const char *qb_sums_get(const qb_sums *s, const char *name); // NULL if absent
void qb_sums_set(qb_sums *s, const char *name, const char *hex);
// Writes atomically (PATH.tmp, renamed); dies (exit 2) on error.
void qb_sums_write(const qb_sums *s, const char *path);
void qb_sums_free(qb_sums *s);
