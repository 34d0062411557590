// staged.h: a file that is written under a temporary name (PATH.part), hashed
// as it is written, and renamed to PATH only when its size and SHA-256 are the
// expected ones. What fetch installs goes through here, so nothing reaches its
// final name unverified. A PATH.part that is kept (a transfer cut short) can
// be resumed: reopening it hashes what is already there.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "sha256.h"

typedef struct {
    char *path, *part;
    int fd;
    qb_sha256 *h;
    uint64_t bytes; // bytes in PATH.part so far
    int64_t limit;  // the most bytes accepted (-1: no limit)
} qb_staged;

enum { QB_STAGED_OK = 0, QB_STAGED_IOERR = -1, QB_STAGED_MISMATCH = 1, QB_STAGED_TOO_BIG = 2 };

// Opens PATH.part. With resume, what it holds is kept and hashed (s->bytes is
// its length); otherwise it is truncated. Returns QB_STAGED_OK or
// QB_STAGED_IOERR with a one-line reason in err.
int qb_staged_open(qb_staged *s, const char *path, int resume, int64_t limit, char *err, size_t errlen);
// Appends n bytes. QB_STAGED_TOO_BIG when the limit would be passed (nothing
// is written then), QB_STAGED_IOERR on a write error.
int qb_staged_write(qb_staged *s, const void *data, size_t n, char *err, size_t errlen);
// Drops what was written: PATH.part is emptied and the digest restarted.
int qb_staged_restart(qb_staged *s, char *err, size_t errlen);
// Finishes: the digest goes to got (64 hex digits). If want_sha (when not
// NULL) and want_bytes (when >= 0) match, PATH.part is flushed to disk and
// renamed to PATH: QB_STAGED_OK. On a mismatch PATH.part is removed and
// QB_STAGED_MISMATCH returned with the reason in err. Either way s is closed.
int qb_staged_finish(qb_staged *s, const char *want_sha, int64_t want_bytes, char got[65], char *err, size_t errlen);
// Abandons s: PATH.part is kept (to resume later) or removed.
void qb_staged_abandon(qb_staged *s, int keep_part);
