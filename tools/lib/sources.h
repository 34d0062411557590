// sources.h: the catalogue of everything fetch can get (pipeline/sources.tsv).
//
// A TSV file (tsv.h: '#' lines are comments) whose header is exactly
//   name  kind  file  url  sha256  bytes  member  note
// and whose rows each describe one file of a named artifact:
//   name    the artifact, [a-z0-9][a-z0-9._-]*; installs into DATA/models/NAME/ or
//           DATA/datasets/NAME/
//   kind    model or dataset (the folder above, and the mirror layout)
//   file    the installed file name (one path component), or '-' for an
//           archive row (see below)
//   url     the canonical http://, https:// or file:// URL, or '-' when only a
//           mirror has it
//   sha256  the pinned digest of the installed file (64 lowercase hex digits),
//           or '-' when no digest is published yet (unpinned)
//   bytes   the pinned size in bytes, or '-'
//   member  for a file extracted from an archive: its path inside the archive
//           at url; otherwise '-'
//   note    free text (provenance of the pin); '-' for none
// An archive row (file '-') pins the archive at url itself: its sha256/bytes
// verify the download before anything is extracted from it. Rows with a member
// name the url of the archive; their own sha256/bytes pin the extracted file,
// which lets a mirror serve the extracted file instead of the archive.
// Every field is checked strictly; errors name the file and line.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "tsv.h"

typedef struct {
    const char *name, *kind, *file; // file is NULL for an archive row
    const char *url;                // NULL: mirror only
    const char *sha256;             // NULL: unpinned
    int64_t bytes;                  // -1: unknown
    const char *member;             // NULL: not from an archive
    const char *note;               // "" when none
    long line;                      // line in the catalogue, for messages
} qb_source;

typedef struct {
    qb_tsv tsv; // owns every string
    qb_source *rows;
    size_t n;
} qb_sources;

// Parses a catalogue held in text (name is for messages) or read from path.
// Returns 0, or -1 with one line "PATH:LINE: reason" in err (s then needs no
// qb_sources_free).
int qb_sources_parse(qb_sources *s, const char *name, const char *text, size_t len, char *err, size_t errlen);
int qb_sources_read(qb_sources *s, const char *path, char *err, size_t errlen);
void qb_sources_free(qb_sources *s);

// Whether any row has this name.
int qb_sources_has(const qb_sources *s, const char *name);
// The archive row (file '-') of url, or NULL.
const qb_source *qb_sources_archive(const qb_sources *s, const char *url);
// The folder of a kind in the install tree and in mirrors: "models" or "datasets".
const char *qb_kind_dir(const char *kind);

// The last path segment of a URL (without query or fragment), malloc'ed, or
// NULL when it is empty or not a plain file name.
char *qb_url_basename(const char *url);
// Whether s is a plain file name: non-empty, no '/', not starting with '.',
// printable ASCII without spaces or backslashes.
int qb_is_plain_name(const char *s);
// Whether url starts with http://, https:// or file:// and has something after it.
int qb_is_fetch_url(const char *url);
