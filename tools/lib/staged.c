// staged.c: see staged.h.
#include "staged.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static void release(qb_staged *s) {
    if (s->fd >= 0) close(s->fd);
    s->fd = -1;
    qb_sha256_free(s->h);
    s->h = NULL;
    free(s->path);
    free(s->part);
    s->path = s->part = NULL;
}

int qb_staged_open(qb_staged *s, const char *path, int resume, int64_t limit, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->limit = limit;
    s->path = qb_strdup(path);
    s->part = qb_malloc(strlen(path) + 6);
    sprintf(s->part, "%s.part", path);
    s->h = qb_sha256_new();
    s->fd = open(s->part, O_RDWR | O_CREAT | O_CLOEXEC | (resume ? 0 : O_TRUNC), 0644);
    if (s->fd < 0) {
        snprintf(err, errlen, "%s: cannot create: %s", s->part, strerror(errno));
        release(s);
        return QB_STAGED_IOERR;
    }
    if (resume) { // hash what an earlier transfer left
        enum { BLOCK = 1 << 20 };
        unsigned char *buf = qb_malloc(BLOCK);
        for (;;) {
            ssize_t got = read(s->fd, buf, BLOCK);
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) {
                snprintf(err, errlen, "%s: read error: %s", s->part, strerror(errno));
                free(buf);
                release(s);
                return QB_STAGED_IOERR;
            }
            if (got == 0) break;
            qb_sha256_update(s->h, buf, (size_t)got);
            s->bytes += (uint64_t)got;
        }
        free(buf);
        if (limit >= 0 && s->bytes > (uint64_t)limit) { // longer than the file can be: start over
            if (qb_staged_restart(s, err, errlen) != 0) return QB_STAGED_IOERR;
        }
    }
    return QB_STAGED_OK;
}

int qb_staged_write(qb_staged *s, const void *data, size_t n, char *err, size_t errlen) {
    if (s->limit >= 0 && s->bytes + n > (uint64_t)s->limit) {
        snprintf(err, errlen, "%s: more than the expected %lld bytes", s->path, (long long)s->limit);
        return QB_STAGED_TOO_BIG;
    }
    qb_sha256_update(s->h, data, n);
    const char *p = data;
    size_t left = n;
    while (left) {
        ssize_t w = write(s->fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            snprintf(err, errlen, "%s: write error: %s", s->part, strerror(errno));
            return QB_STAGED_IOERR;
        }
        p += w;
        left -= (size_t)w;
    }
    s->bytes += n;
    return QB_STAGED_OK;
}

int qb_staged_restart(qb_staged *s, char *err, size_t errlen) {
    if (ftruncate(s->fd, 0) != 0 || lseek(s->fd, 0, SEEK_SET) != 0) {
        snprintf(err, errlen, "%s: cannot truncate: %s", s->part, strerror(errno));
        return QB_STAGED_IOERR;
    }
    qb_sha256_reset(s->h);
    s->bytes = 0;
    return QB_STAGED_OK;
}

int qb_staged_finish(qb_staged *s, const char *want_sha, int64_t want_bytes, char got[65], char *err, size_t errlen) {
    qb_sha256_final_hex(s->h, got);
    int rc = QB_STAGED_OK;
    if (want_bytes >= 0 && s->bytes != (uint64_t)want_bytes) {
        snprintf(err, errlen, "%s: got %llu bytes, expected %lld", s->path, (unsigned long long)s->bytes, (long long)want_bytes);
        rc = QB_STAGED_MISMATCH;
    } else if (want_sha && strcmp(got, want_sha) != 0) {
        snprintf(err, errlen, "%s: sha256 %s, expected %s", s->path, got, want_sha);
        rc = QB_STAGED_MISMATCH;
    }
    if (rc == QB_STAGED_MISMATCH) {
        unlink(s->part); // never resume from bytes known to be wrong
    } else if (fsync(s->fd) != 0 || close(s->fd) != 0) {
        s->fd = -1;
        snprintf(err, errlen, "%s: cannot write to disk: %s", s->part, strerror(errno));
        rc = QB_STAGED_IOERR;
    } else {
        s->fd = -1;
        if (rename(s->part, s->path) != 0) {
            snprintf(err, errlen, "%s: cannot rename into place: %s", s->path, strerror(errno));
            rc = QB_STAGED_IOERR;
        }
    }
    release(s);
    return rc;
}

void qb_staged_abandon(qb_staged *s, int keep_part) {
    if (!s->part) return;
    if (!keep_part) unlink(s->part);
    release(s);
}
