// sha256sums.c: see sha256sums.h.
#include "sha256sums.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"
#include "sources.h"
#include "util.h"

int qb_sums_read(qb_sums *s, const char *path, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) return 0;
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    long ln = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        size_t k = strlen(line);
        if (k && line[k - 1] == '\n') line[--k] = 0;
        if (k == 0) continue;
        char hex[65];
        int ok = k > 66 && (line[64] == ' ') && (line[65] == ' ' || line[65] == '*');
        if (ok) {
            memcpy(hex, line, 64);
            hex[64] = 0;
            ok = qb_sha256_is_hex(hex) && qb_is_plain_name(line + 66);
        }
        if (!ok) {
            snprintf(err, errlen, "%s:%ld: expected '<64 hex digits>  <file name>'", path, ln);
            fclose(f);
            qb_sums_free(s);
            return -1;
        }
        qb_sums_set(s, line + 66, hex);
    }
    fclose(f);
    return 0;
}

const char *qb_sums_get(const qb_sums *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0) return s->hex[i];
    return NULL;
}

void qb_sums_set(qb_sums *s, const char *name, const char *hex) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0) {
            memcpy(s->hex[i], hex, 65);
            return;
        }
    s->names = qb_realloc(s->names, (size_t)(s->n + 1) * sizeof *s->names);
    s->hex = qb_realloc(s->hex, (size_t)(s->n + 1) * sizeof *s->hex);
    s->names[s->n] = qb_strdup(name);
    memcpy(s->hex[s->n], hex, 65);
    s->n++;
}

void qb_sums_write(const qb_sums *s, const char *path) {
    qb_out out;
    FILE *f = qb_out_open(&out, path, "w");
    for (int i = 0; i < s->n; i++) fprintf(f, "%s  %s\n", s->hex[i], s->names[i]);
    qb_out_commit(&out);
}

void qb_sums_free(qb_sums *s) {
    for (int i = 0; i < s->n; i++) free(s->names[i]);
    free(s->names);
    free(s->hex);
    memset(s, 0, sizeof *s);
}
