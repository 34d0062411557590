// mirror.h: mirror bases for fetch, tried in order before the canonical URLs.
//
// A mirror is a directory, a file:// URL or an http(s):// URL laid out like
// the canonical sources: BASE/models/NAME/FILE, BASE/datasets/NAME/FILE (and
// BASE/tokenizers/gpt2/FILE for the GPT-2 tokenizer files). Bases are kept as
// URLs: a directory becomes file:///ABSOLUTE/PATH.
#pragma once
#include <stddef.h>

typedef struct {
    char **urls; // normalised bases, without a trailing '/'
    int n;
} qb_mirrors;

// Adds one base (DIR, file://... or http(s)://...). Returns 0, or -1 with a
// one-line reason in err.
int qb_mirrors_add(qb_mirrors *m, const char *base, char *err, size_t errlen);
// Adds every base of a colon-separated list (QB_MIRROR). The colons of a URL
// ("http://host:8080/x") do not separate: a piece that is "http", "https" or
// "file" followed by one starting with "//" is a URL scheme, and a piece that
// starts with a digit right after a URL's host is its port. Empty pieces are
// skipped.
int qb_mirrors_add_list(qb_mirrors *m, const char *list, char *err, size_t errlen);
void qb_mirrors_free(qb_mirrors *m);

// BASE/rel with rel's bytes percent-encoded where URLs need it; malloc'ed.
char *qb_mirror_url(const char *base, const char *rel);
// A local path as a file:// URL (made absolute against the current
// directory, percent-encoded); malloc'ed.
char *qb_path_to_file_url(const char *path);
