// install.h: what `fetch NAME` does with the catalogue (sources.h): for each
// file of NAME, the sources in order (local copies, mirrors, then the
// canonical URL), each transfer verified (download.h) or extracted from a
// verified archive (extract.h), under a lock so that concurrent fetches of one
// artifact wait for each other, with the digests recorded in SHA256SUMS.
//
// Where a file may come from, for a row NAME/FILE of kind K (K = models or
// datasets), tried in this order:
//   1. each mirror's K/NAME/FILE (and extra places the caller names);
//   2. for a member of an archive, each mirror's K/A/FILE and then its
//      K/A/ARCHIVE, A being the name of the archive's row (else NAME) and
//      ARCHIVE the last segment of the archive's url;
//   3. unless mirror-only, the canonical url (the archive, for a member).
// A copy is accepted only if it matches the pin. An unpinned row's copy is
// accepted (unless strict), its digest printed and recorded in SHA256SUMS. A
// member of a pinned archive extracted from that archive counts as pinned.
#pragma once
#include <stdint.h>
#include <stdio.h>

#include "download.h"
#include "mirror.h"
#include "sha256sums.h"
#include "sources.h"

typedef struct {
    const qb_sources *src;
    const qb_mirrors *mirrors;
    const char *data_dir;      // installs go to DATA/models/NAME or DATA/datasets/NAME
    int mirror_only, strict, quiet;
    qb_dl_opts dl;
    int64_t max_member_bytes;  // bound on unpinned archive members
    FILE *report;              // one TSV row per file (see qb_fetch_report_header)
} qb_fetch_ctx;

// The report's header: name file bytes sha256 pinned status source.
void qb_fetch_report_header(FILE *f);

// Creates dir and its parents; dies (exit 2) on error.
void qb_mkdirs(const char *dir);
// Takes DIR/.fetch.lock (flock), waiting (with a message) while another
// process holds it. Returns the descriptor to close when done.
int qb_lock_dir(const char *dir, const char *what, int quiet);

// DATA/KIND/NAME, malloc'ed.
char *qb_install_dir(const qb_fetch_ctx *c, const char *name);

// Installs every file of NAME. Dies with DESIGN's exit code on failure: 3 when
// no source could be reached, 4 when the bytes were wrong (or, strict, a row
// is unpinned), 2 for a local or archive data error.
void qb_fetch_artifact(const qb_fetch_ctx *c, const char *name);

// Installs the catalogue files NAME/FILES[i] into dir instead, also looking at
// each mirror's EXTRA/FILE for every prefix in extra (NULL-terminated; may be
// NULL) and at the file installed under DATA. Digests are set in sums. Dies
// like qb_fetch_artifact.
void qb_fetch_files_into(const qb_fetch_ctx *c, const char *name, const char *const *files, int nfiles, const char *dir,
                         const char *const *extra, qb_sums *sums);

// Re-hashes what is installed for NAME against the pins (or SHA256SUMS for
// unpinned files); one TSV row per file on out. Returns 0, 4 for a mismatch,
// 2 for a missing file.
int qb_verify_artifact(const qb_fetch_ctx *c, const char *name, FILE *out);
// The same for any folder with a SHA256SUMS (e.g. a synthetic checkpoint).
int qb_verify_dir(const char *dir, FILE *out);
