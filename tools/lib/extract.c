// extract.c: see extract.h.
#include "extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "staged.h"
#include "util.h"

static struct archive *open_archive(const char *path, char *err, size_t errlen) {
    struct archive *a = archive_read_new();
    if (!a) qb_die(QB_EXIT_DATA, "libarchive: cannot allocate a reader");
    archive_read_support_filter_all(a);
    archive_read_support_format_zip(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
        snprintf(err, errlen, "%s: not a readable archive: %s", path, archive_error_string(a));
        archive_read_free(a);
        return NULL;
    }
    return a;
}

// The entry's path with leading "./" removed.
static const char *entry_path(struct archive_entry *e) {
    const char *p = archive_entry_pathname(e);
    if (!p) return "";
    while (p[0] == '.' && p[1] == '/') p += 2;
    return p;
}

// Whether a path stays inside the tree: relative, no ".." component (backslashes
// count as separators too, as some zip writers use them).
static int path_is_safe(const char *p) {
    if (p[0] == '/' || p[0] == '\\') return 0;
    if (((p[0] >= 'A' && p[0] <= 'Z') || (p[0] >= 'a' && p[0] <= 'z')) && p[1] == ':') return 0; // C:
    for (const char *c = p;;) {
        size_t k = strcspn(c, "/\\");
        if (k == 2 && c[0] == '.' && c[1] == '.') return 0;
        if (!c[k]) return 1;
        c += k + 1;
    }
}

// Whether a symlink at entry path p with target t resolves inside the tree.
static int link_is_safe(const char *p, const char *t) {
    if (!path_is_safe(p) || t[0] == '/' || t[0] == '\\') return 0;
    int depth = 0; // directories below the root where the link lives
    for (const char *c = p; *c; c++)
        if (*c == '/' || *c == '\\') depth++;
    for (const char *c = t;;) {
        size_t k = strcspn(c, "/\\");
        if (k == 2 && c[0] == '.' && c[1] == '.') {
            if (--depth < 0) return 0;
        } else if (k > 0 && !(k == 1 && c[0] == '.')) {
            depth++;
        }
        if (!c[k]) return 1;
        c += k + 1;
    }
}

static qb_extract_status check_all(const char *archive, qb_extract_item *items, int n, int64_t max_bytes, char *err,
                                   size_t errlen) {
    char local[512];
    struct archive *a = open_archive(archive, err, errlen);
    if (!a) return QB_EX_BAD;
    int *seen = qb_calloc((size_t)n, sizeof *seen);
    qb_extract_status st = QB_EX_OK;
    struct archive_entry *e;
    int r;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
        const char *p = entry_path(e);
        const char *sym = archive_entry_symlink(e);
        const char *hard = archive_entry_hardlink(e);
        if (!path_is_safe(p)) {
            snprintf(err, errlen, "%s: unsafe entry '%s' (absolute path or '..'): archive refused", archive, p);
            st = QB_EX_BAD;
            break;
        }
        if (sym && !link_is_safe(p, sym)) {
            snprintf(err, errlen, "%s: entry '%s' links outside the archive ('%s'): archive refused", archive, p, sym);
            st = QB_EX_BAD;
            break;
        }
        if (hard && !path_is_safe(hard)) {
            snprintf(err, errlen, "%s: entry '%s' links outside the archive ('%s'): archive refused", archive, p, hard);
            st = QB_EX_BAD;
            break;
        }
        for (int i = 0; i < n; i++) {
            if (strcmp(p, items[i].member) != 0) continue;
            if (seen[i]++) {
                snprintf(err, errlen, "%s: member '%s' appears twice: archive refused", archive, p);
                st = QB_EX_BAD;
            } else if (sym || hard || archive_entry_filetype(e) != AE_IFREG) {
                snprintf(err, errlen, "%s: member '%s' is not a regular file%s%s: archive refused", archive, p,
                         sym || hard ? " but a link to " : "", sym ? sym : hard ? hard : "");
                st = QB_EX_BAD;
            } else {
                int64_t limit = items[i].bytes >= 0 ? items[i].bytes : max_bytes;
                if (archive_entry_size_is_set(e) && archive_entry_size(e) > limit) {
                    snprintf(err, errlen, "%s: member '%s' is %lld bytes, more than the limit of %lld", archive, p,
                             (long long)archive_entry_size(e), (long long)limit);
                    st = items[i].bytes >= 0 ? QB_EX_MISMATCH : QB_EX_BAD;
                }
            }
        }
        if (st != QB_EX_OK) break;
        if (archive_read_data_skip(a) != ARCHIVE_OK) {
            snprintf(local, sizeof local, "%s", archive_error_string(a) ? archive_error_string(a) : "read error");
            snprintf(err, errlen, "%s: corrupt archive at entry '%s': %s", archive, p, local);
            st = QB_EX_BAD;
            break;
        }
    }
    if (st == QB_EX_OK && r != ARCHIVE_EOF) {
        snprintf(err, errlen, "%s: corrupt archive: %s", archive, archive_error_string(a) ? archive_error_string(a) : "read error");
        st = QB_EX_BAD;
    }
    for (int i = 0; st == QB_EX_OK && i < n; i++) {
        if (!seen[i]) {
            snprintf(err, errlen, "%s: has no member '%s'", archive, items[i].member);
            st = QB_EX_BAD;
        }
    }
    free(seen);
    archive_read_free(a);
    return st;
}

qb_extract_status qb_extract(const char *archive, qb_extract_item *items, int n, int64_t max_bytes, char *err, size_t errlen) {
    qb_extract_status st = check_all(archive, items, n, max_bytes, err, errlen);
    if (st != QB_EX_OK) return st;
    struct archive *a = open_archive(archive, err, errlen);
    if (!a) return QB_EX_BAD;
    enum { BLOCK = 1 << 18 };
    char *buf = qb_malloc(BLOCK);
    struct archive_entry *e;
    int r;
    while (st == QB_EX_OK && ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN)) {
        const char *p = entry_path(e);
        qb_extract_item *it = NULL;
        for (int i = 0; i < n && !it; i++)
            if (strcmp(p, items[i].member) == 0) it = &items[i];
        if (!it) continue; // libarchive skips the data of entries not read
        qb_staged sf;
        int64_t limit = it->bytes >= 0 ? it->bytes : max_bytes;
        if (qb_staged_open(&sf, it->dest, 0, limit, err, errlen) != QB_STAGED_OK) {
            st = QB_EX_IOERR;
            break;
        }
        for (;;) {
            la_ssize_t got = archive_read_data(a, buf, BLOCK);
            if (got == 0) break;
            if (got < 0) {
                snprintf(err, errlen, "%s: corrupt data in member '%s': %s", archive, p, archive_error_string(a));
                st = QB_EX_BAD;
                break;
            }
            int rc = qb_staged_write(&sf, buf, (size_t)got, err, errlen);
            if (rc) {
                st = rc == QB_STAGED_TOO_BIG ? (it->bytes >= 0 ? QB_EX_MISMATCH : QB_EX_BAD) : QB_EX_IOERR;
                break;
            }
        }
        if (st != QB_EX_OK) {
            qb_staged_abandon(&sf, 0);
            break;
        }
        int rc = qb_staged_finish(&sf, it->sha256, it->bytes, it->got, err, errlen);
        if (rc == QB_STAGED_MISMATCH) st = QB_EX_MISMATCH;
        if (rc == QB_STAGED_IOERR) st = QB_EX_IOERR;
    }
    free(buf);
    archive_read_free(a);
    return st;
}
