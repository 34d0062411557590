// mirror.c: see mirror.h.
#include "mirror.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sources.h"
#include "util.h"

// Appends s to the growing string *buf (length *len), percent-encoding every
// byte outside RFC 3986's unreserved set and '/'.
static void append_escaped(char **buf, size_t *len, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    *buf = qb_realloc(*buf, *len + 3 * n + 1);
    char *w = *buf + *len;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        int keep = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
                   *c == '.' || *c == '_' || *c == '~' || *c == '/';
        if (keep) {
            *w++ = (char)*c;
        } else {
            *w++ = '%';
            *w++ = hex[*c >> 4];
            *w++ = hex[*c & 15];
        }
    }
    *w = 0;
    *len = (size_t)(w - *buf);
}

char *qb_path_to_file_url(const char *path) {
    char *abs;
    if (path[0] == '/') {
        abs = qb_strdup(path);
    } else {
        char *cwd = getcwd(NULL, 0);
        if (!cwd) qb_die(QB_EXIT_DATA, "cannot read the current directory: %s", strerror(errno));
        abs = qb_path_join(cwd, path);
        free(cwd);
    }
    char *url = qb_strdup("file://");
    size_t len = strlen(url);
    append_escaped(&url, &len, abs);
    free(abs);
    return url;
}

char *qb_mirror_url(const char *base, const char *rel) {
    size_t len = strlen(base);
    char *url = qb_malloc(len + 2);
    memcpy(url, base, len + 1);
    url[len++] = '/';
    url[len] = 0;
    append_escaped(&url, &len, rel);
    return url;
}

int qb_mirrors_add(qb_mirrors *m, const char *base, char *err, size_t errlen) {
    if (!*base) {
        snprintf(err, errlen, "empty mirror");
        return -1;
    }
    char *url;
    if (strstr(base, "://")) {
        if (!qb_is_fetch_url(base)) {
            snprintf(err, errlen, "mirror '%s': only http://, https:// and file:// URLs or directories", base);
            return -1;
        }
        url = qb_strdup(base);
    } else {
        url = qb_path_to_file_url(base);
    }
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/' && !(n >= 3 && strcmp(url + n - 3, "://") == 0)) url[--n] = 0;
    m->urls = qb_realloc(m->urls, (size_t)(m->n + 1) * sizeof *m->urls);
    m->urls[m->n++] = url;
    return 0;
}

static int is_scheme(const char *s, size_t n) {
    return (n == 4 && strncmp(s, "http", 4) == 0) || (n == 5 && strncmp(s, "https", 5) == 0) ||
           (n == 4 && strncmp(s, "file", 4) == 0);
}

int qb_mirrors_add_list(qb_mirrors *m, const char *list, char *err, size_t errlen) {
    const char *p = list;
    while (*p) {
        // One entry: extend over the colons that belong to a URL.
        const char *start = p;
        const char *q = p;
        int in_authority = 0; // after "scheme://", before the next '/'
        for (;;) {
            size_t k = strcspn(q, ":");
            const char *colon = q + k;
            if (!*colon) {
                q = colon;
                break;
            }
            const char *next = colon + 1;
            if (q == start && is_scheme(start, k) && strncmp(next, "//", 2) == 0) {
                in_authority = 1;
                q = next + 2;
                continue;
            }
            if (in_authority && !memchr(q, '/', k) && *next >= '0' && *next <= '9') {
                in_authority = 0;
                q = next;
                continue;
            }
            q = colon;
            break;
        }
        size_t n = (size_t)(q - start);
        if (n) {
            char *entry = qb_malloc(n + 1);
            memcpy(entry, start, n);
            entry[n] = 0;
            int rc = qb_mirrors_add(m, entry, err, errlen);
            free(entry);
            if (rc) return -1;
        }
        p = *q ? q + 1 : q;
    }
    return 0;
}

void qb_mirrors_free(qb_mirrors *m) {
    for (int i = 0; i < m->n; i++) free(m->urls[i]);
    free(m->urls);
    m->urls = NULL;
    m->n = 0;
}
