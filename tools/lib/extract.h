// extract.h: take listed members out of an archive (zip, tar, tar.gz,
// tar.xz, tar.bz2, tar.zst) with libarchive, safely.
//
// Only the listed members are written, each to a destination path the caller
// chose (never a path taken from the archive), through staged.h: hashed while
// written and renamed into place only when its pin matches. Before anything is
// written the whole archive is checked and refused if any entry has an
// absolute path or a '..' component, if a link points outside the archive's
// tree, if a listed member is a link or not a regular file, appears twice, is
// missing, or is larger than its limit.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *member; // path inside the archive ("./" prefixes in the archive are ignored)
    const char *dest;   // where to install it
    const char *sha256; // pin of the extracted file, or NULL
    int64_t bytes;      // pinned size, or -1
    char got[65];       // out: digest of what was installed
} qb_extract_item;

typedef enum {
    QB_EX_OK = 0,
    QB_EX_BAD,      // unreadable, corrupt, unsafe or lacking a member: a data error
    QB_EX_MISMATCH, // a member is not its pinned bytes (nothing of it installed)
    QB_EX_IOERR,    // a local file could not be written
} qb_extract_status;

// max_bytes bounds every member without a pinned size. On failure err holds
// one line naming the archive and the entry.
qb_extract_status qb_extract(const char *archive, qb_extract_item *items, int n, int64_t max_bytes, char *err, size_t errlen);
