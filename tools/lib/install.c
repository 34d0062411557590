// install.c: see install.h.
#include "install.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "extract.h"
#include "sha256.h"
#include "util.h"

void qb_fetch_report_header(FILE *f) { fprintf(f, "name\tfile\tbytes\tsha256\tpinned\tstatus\tsource\n"); }

void qb_mkdirs(const char *dir) {
    char *p = qb_strdup(dir);
    for (char *s = p + 1;; s++) {
        if (*s && *s != '/') continue;
        char c = *s;
        *s = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) qb_die(QB_EXIT_DATA, "%s: cannot create folder: %s", p, strerror(errno));
        *s = c;
        if (!c) break;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) qb_die(QB_EXIT_DATA, "%s: not a folder", dir);
    free(p);
}

int qb_lock_dir(const char *dir, const char *what, int quiet) {
    char *path = qb_path_join(dir, ".fetch.lock");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) qb_die(QB_EXIT_DATA, "%s: cannot create lock file: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK) qb_die(QB_EXIT_DATA, "%s: cannot lock: %s", path, strerror(errno));
        if (!quiet) fprintf(stderr, "%s: %s: another fetch is installing it; waiting\n", program_invocation_short_name, what);
        while (flock(fd, LOCK_EX) != 0)
            if (errno != EINTR) qb_die(QB_EXIT_DATA, "%s: cannot lock: %s", path, strerror(errno));
    }
    free(path);
    return fd;
}

char *qb_install_dir(const qb_fetch_ctx *c, const char *name) {
    const char *kind = NULL;
    for (size_t i = 0; i < c->src->n && !kind; i++)
        if (strcmp(c->src->rows[i].name, name) == 0) kind = c->src->rows[i].kind;
    if (!kind) qb_die(QB_EXIT_USAGE, "unknown name '%s' (fetch --list shows the catalogue)", name);
    char *k = qb_path_join(c->data_dir, qb_kind_dir(kind));
    char *d = qb_path_join(k, name);
    free(k);
    return d;
}

// ---- one artifact run -------------------------------------------------------
typedef struct {
    char *key;  // the archive's canonical url
    char *path; // where its verified copy lies
} fetched_archive;

typedef struct {
    const qb_fetch_ctx *c;
    const char *dir;
    qb_sums *sums;
    fetched_archive *archives;
    int narchives;
} run;

typedef struct {
    char *url;
    int archive; // the url is the archive holding the row's member
} candidate;

static void add_cand(candidate **v, int *n, char *url, int archive) {
    *v = qb_realloc(*v, (size_t)(*n + 1) * sizeof **v);
    (*v)[*n].url = url;
    (*v)[*n].archive = archive;
    (*n)++;
}

static char *rel3(const char *a, const char *b, const char *c) {
    char *ab = qb_path_join(a, b);
    char *abc = qb_path_join(ab, c);
    free(ab);
    return abc;
}

static int build_candidates(const run *R, const qb_source *r, const char *const *extra, candidate **out) {
    const qb_fetch_ctx *c = R->c;
    candidate *v = NULL;
    int n = 0;
    const char *kdir = qb_kind_dir(r->kind);
    // The copy installed under DATA, when installing somewhere else.
    char *home = rel3(c->data_dir, kdir, r->name);
    char *local = qb_path_join(home, r->file);
    if (strcmp(home, R->dir) != 0 && qb_file_exists(local)) add_cand(&v, &n, qb_path_to_file_url(local), 0);
    free(local);
    free(home);
    const qb_source *arch = r->member ? qb_sources_archive(c->src, r->url) : NULL;
    const char *aname = arch ? arch->name : r->name;
    char *abase = r->member ? qb_url_basename(r->url) : NULL;
    for (int m = 0; m < c->mirrors->n; m++) {
        const char *base = c->mirrors->urls[m];
        char *rel = rel3(kdir, r->name, r->file);
        add_cand(&v, &n, qb_mirror_url(base, rel), 0);
        free(rel);
        for (int e = 0; extra && extra[e]; e++) {
            rel = qb_path_join(extra[e], r->file);
            add_cand(&v, &n, qb_mirror_url(base, rel), 0);
            free(rel);
        }
        if (r->member) {
            if (strcmp(aname, r->name) != 0) {
                rel = rel3(kdir, aname, r->file);
                add_cand(&v, &n, qb_mirror_url(base, rel), 0);
                free(rel);
            }
            if (abase) {
                rel = rel3(kdir, aname, abase);
                add_cand(&v, &n, qb_mirror_url(base, rel), 1);
                free(rel);
            }
        }
    }
    if (!c->mirror_only && r->url) add_cand(&v, &n, qb_strdup(r->url), r->member != NULL);
    free(abase);
    *out = v;
    return n;
}

static void report(const run *R, const qb_source *r, uint64_t bytes, const char *hex, const char *pinned, const char *status,
                   const char *source) {
    if (!R->c->report) return;
    fprintf(R->c->report, "%s\t%s\t%llu\t%s\t%s\t%s\t%s\n", r->name, r->file, (unsigned long long)bytes, hex, pinned, status,
            source);
    fflush(R->c->report);
}

static void say_unpinned(const run *R, const qb_source *r, const char *hex) {
    const char *before = qb_sums_get(R->sums, r->file);
    if (before && strcmp(before, hex) != 0) // not an error (nothing pins it), but worth knowing
        qb_warn("%s/%s is not pinned and changed: sha256 %s, recorded before as %s", r->name, r->file, hex, before);
    else if (!R->c->quiet)
        fprintf(stderr, "%s: %s/%s is not pinned: observed sha256 %s, recorded in %s/SHA256SUMS\n",
                program_invocation_short_name, r->name, r->file, hex, R->dir);
}

// Severity of a failed source, for the exit code when all fail: 4 > 2 > 3.
static int worse(int a, int b) {
    int rank[5] = {0, 0, 2, 1, 3}; // by exit code: 2 data, 3 network, 4 integrity
    return rank[b] > rank[a] ? b : a;
}

// The verified local copy of the archive of r, downloading it from url if
// this run has none yet. Returns NULL (with the failure's exit code in *code
// and reason in err) if it cannot be had from url.
static const char *get_archive(run *R, const qb_source *r, const char *url, int *code, int *notfound, char *err,
                               size_t errlen) {
    for (int i = 0; i < R->narchives; i++)
        if (strcmp(R->archives[i].key, r->url) == 0) return R->archives[i].path;
    const qb_source *arch = qb_sources_archive(R->c->src, r->url);
    char *base = qb_url_basename(r->url);
    char *path = qb_path_join(R->dir, base);
    char label[512], got[65];
    snprintf(label, sizeof label, "%s/%s", r->name, base);
    qb_dl_status st = qb_download(url, path, arch ? arch->sha256 : NULL, arch ? arch->bytes : -1, label, &R->c->dl, got,
                                  err, errlen);
    free(base);
    if (st == QB_DL_IOERR) qb_die(QB_EXIT_DATA, "%s", err);
    if (st != QB_DL_OK) {
        *code = st == QB_DL_MISMATCH ? QB_EXIT_INTEGRITY : QB_EXIT_NETWORK;
        *notfound = st == QB_DL_NOTFOUND;
        free(path);
        return NULL;
    }
    R->archives = qb_realloc(R->archives, (size_t)(R->narchives + 1) * sizeof *R->archives);
    R->archives[R->narchives].key = qb_strdup(r->url);
    R->archives[R->narchives].path = path;
    return R->archives[R->narchives++].path;
}

static void install_row(run *R, const qb_source *r, const char *const *extra) {
    const qb_fetch_ctx *c = R->c;
    char *dest = qb_path_join(R->dir, r->file);
    const qb_source *arch = r->member ? qb_sources_archive(c->src, r->url) : NULL;
    int arch_pinned = arch && arch->sha256;
    const char *pinned_word = r->sha256 ? "yes" : arch_pinned ? "archive" : "no";
    char hex[65], err[1024];

    // Already there?
    struct stat sb;
    if (stat(dest, &sb) == 0) {
        uint64_t size;
        if (qb_sha256_file(dest, hex, &size, err, sizeof err) != 0) qb_die(QB_EXIT_DATA, "%s", err);
        const char *want = r->sha256 ? r->sha256 : qb_sums_get(R->sums, r->file);
        if (want && strcmp(want, hex) == 0 && (r->bytes < 0 || (int64_t)size == r->bytes)) {
            qb_sums_set(R->sums, r->file, hex);
            report(R, r, size, hex, pinned_word, "present", "-");
            free(dest);
            return;
        }
        if (!want) {
            if (c->strict && !arch_pinned)
                qb_die(QB_EXIT_INTEGRITY, "%s/%s is not pinned (sha256 '-') and --strict refuses unpinned rows", r->name, r->file);
            say_unpinned(R, r, hex);
            qb_sums_set(R->sums, r->file, hex);
            report(R, r, size, hex, pinned_word, "present", "-");
            free(dest);
            return;
        }
        qb_warn("%s: sha256 %s, expected %s: fetching it again", dest, hex, want);
    }
    if (c->strict && !r->sha256 && !arch_pinned)
        qb_die(QB_EXIT_INTEGRITY, "%s/%s is not pinned (sha256 '-') and --strict refuses unpinned rows", r->name, r->file);

    candidate *cand;
    int n = build_candidates(R, r, extra, &cand);
    int code = QB_EXIT_NETWORK, tried = 0, done = 0;
    char last[1024] = "no source: not on any mirror and no canonical url";
    for (int i = 0; i < n && !done; i++) {
        const char *url = cand[i].url;
        int fail = 0, notfound = 0;
        err[0] = 0;
        if (!cand[i].archive) {
            if (c->strict && !r->sha256) continue;
            char label[512];
            snprintf(label, sizeof label, "%s/%s", r->name, r->file);
            tried++;
            qb_dl_status st = qb_download(url, dest, r->sha256, r->bytes, label, &c->dl, hex, err, sizeof err);
            if (st == QB_DL_IOERR) qb_die(QB_EXIT_DATA, "%s", err);
            if (st == QB_DL_OK) {
                struct stat s2;
                stat(dest, &s2);
                if (!r->sha256) say_unpinned(R, r, hex);
                qb_sums_set(R->sums, r->file, hex);
                report(R, r, (uint64_t)s2.st_size, hex, r->sha256 ? "yes" : "no", "installed", url);
                done = 1;
                break;
            }
            fail = st == QB_DL_MISMATCH ? QB_EXIT_INTEGRITY : QB_EXIT_NETWORK;
            notfound = st == QB_DL_NOTFOUND;
        } else {
            if (c->strict && !r->sha256 && !arch_pinned) continue;
            tried++;
            const char *path = get_archive(R, r, url, &fail, &notfound, err, sizeof err);
            if (path) {
                qb_extract_item item = {.member = r->member, .dest = dest, .sha256 = r->sha256, .bytes = r->bytes};
                qb_extract_status es = qb_extract(path, &item, 1, c->max_member_bytes, err, sizeof err);
                if (es == QB_EX_IOERR) qb_die(QB_EXIT_DATA, "%s", err);
                if (es == QB_EX_OK) {
                    struct stat s2;
                    stat(dest, &s2);
                    if (!r->sha256 && !arch_pinned) say_unpinned(R, r, item.got);
                    qb_sums_set(R->sums, r->file, item.got);
                    char src[2048];
                    snprintf(src, sizeof src, "%s#%s", url, r->member);
                    report(R, r, (uint64_t)s2.st_size, item.got, pinned_word, "installed", src);
                    done = 1;
                    break;
                }
                fail = es == QB_EX_MISMATCH ? QB_EXIT_INTEGRITY : QB_EXIT_DATA;
            }
        }
        code = tried == 1 ? fail : worse(code, fail);
        snprintf(last, sizeof last, "%s", err);
        // A mirror without the file is normal: say so only if nothing works.
        if (i + 1 < n && !c->quiet && !notfound) fprintf(stderr, "%s: %s/%s: %s; trying the next source\n", program_invocation_short_name, r->name, r->file, err);
    }
    for (int i = 0; i < n; i++) free(cand[i].url);
    free(cand);
    free(dest);
    if (done) return;
    if (tried <= 1)
        qb_die(code, "%s/%s: %s", r->name, r->file, last);
    qb_die(code, "%s/%s: none of %d sources gave the right bytes; last: %s", r->name, r->file, tried, last);
}

static void finish_run(run *R) {
    for (int i = 0; i < R->narchives; i++) {
        unlink(R->archives[i].path); // extracted: the members are what is installed
        free(R->archives[i].key);
        free(R->archives[i].path);
    }
    free(R->archives);
    R->archives = NULL;
    R->narchives = 0;
}

void qb_fetch_artifact(const qb_fetch_ctx *c, const char *name) {
    char *dir = qb_install_dir(c, name);
    qb_mkdirs(dir);
    int lock = qb_lock_dir(dir, name, c->quiet);
    char *sums_path = qb_path_join(dir, "SHA256SUMS");
    char err[1024];
    qb_sums sums;
    if (qb_sums_read(&sums, sums_path, err, sizeof err) != 0) qb_die(QB_EXIT_DATA, "%s", err);
    run R = {.c = c, .dir = dir, .sums = &sums};
    for (size_t i = 0; i < c->src->n; i++) {
        const qb_source *r = &c->src->rows[i];
        if (strcmp(r->name, name) != 0 || !r->file) continue;
        install_row(&R, r, NULL);
        qb_sums_write(&sums, sums_path); // after each file, so a later failure keeps the record
    }
    finish_run(&R);
    qb_sums_free(&sums);
    free(sums_path);
    close(lock);
    free(dir);
}

void qb_fetch_files_into(const qb_fetch_ctx *c, const char *name, const char *const *files, int nfiles, const char *dir,
                         const char *const *extra, qb_sums *sums) {
    run R = {.c = c, .dir = dir, .sums = sums};
    for (int f = 0; f < nfiles; f++) {
        const qb_source *row = NULL;
        for (size_t i = 0; i < c->src->n && !row; i++)
            if (strcmp(c->src->rows[i].name, name) == 0 && c->src->rows[i].file &&
                strcmp(c->src->rows[i].file, files[f]) == 0)
                row = &c->src->rows[i];
        if (!row) qb_die(QB_EXIT_DATA, "the catalogue has no %s/%s", name, files[f]);
        install_row(&R, row, extra);
    }
    finish_run(&R);
}

// ---- verification -------------------------------------------------------------
static int verify_one(FILE *out, const char *name, const char *dir, const char *file, const char *want, int64_t want_bytes) {
    char *path = qb_path_join(dir, file);
    char hex[65], err[1024];
    uint64_t size = 0;
    const char *status;
    int rc = 0;
    if (!qb_file_exists(path)) {
        status = "missing";
        snprintf(hex, sizeof hex, "-");
        rc = QB_EXIT_DATA;
    } else if (qb_sha256_file(path, hex, &size, err, sizeof err) != 0) {
        qb_die(QB_EXIT_DATA, "%s", err);
    } else if (!want) {
        status = "unrecorded";
    } else if (strcmp(hex, want) != 0 || (want_bytes >= 0 && (int64_t)size != want_bytes)) {
        status = "mismatch";
        rc = QB_EXIT_INTEGRITY;
    } else {
        status = "ok";
    }
    fprintf(out, "%s\t%s\t%llu\t%s\t%s\t%s\n", name, file, (unsigned long long)size, hex, want ? want : "-", status);
    if (rc) fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, path, status);
    free(path);
    return rc;
}

static int merge(int a, int b) { return worse(a, b); }

int qb_verify_artifact(const qb_fetch_ctx *c, const char *name, FILE *out) {
    char *dir = qb_install_dir(c, name);
    char *sums_path = qb_path_join(dir, "SHA256SUMS");
    char err[1024];
    qb_sums sums;
    if (qb_sums_read(&sums, sums_path, err, sizeof err) != 0) qb_die(QB_EXIT_DATA, "%s", err);
    int rc = 0;
    for (size_t i = 0; i < c->src->n; i++) {
        const qb_source *r = &c->src->rows[i];
        if (strcmp(r->name, name) != 0 || !r->file) continue;
        const char *want = r->sha256 ? r->sha256 : qb_sums_get(&sums, r->file);
        rc = merge(rc, verify_one(out, name, dir, r->file, want, r->sha256 ? r->bytes : -1));
    }
    qb_sums_free(&sums);
    free(sums_path);
    free(dir);
    return rc;
}

int qb_verify_dir(const char *dir, FILE *out) {
    char *sums_path = qb_path_join(dir, "SHA256SUMS");
    char err[1024];
    qb_sums sums;
    if (!qb_file_exists(sums_path)) qb_die(QB_EXIT_DATA, "%s: no such file", sums_path);
    if (qb_sums_read(&sums, sums_path, err, sizeof err) != 0) qb_die(QB_EXIT_DATA, "%s", err);
    const char *slash = strrchr(dir, '/');
    const char *name = slash && slash[1] ? slash + 1 : dir;
    int rc = 0;
    for (int i = 0; i < sums.n; i++) rc = merge(rc, verify_one(out, name, dir, sums.names[i], sums.hex[i], -1));
    qb_sums_free(&sums);
    free(sums_path);
    return rc;
}
