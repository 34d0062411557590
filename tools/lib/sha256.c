// sha256.c: see sha256.h.
#include "sha256.h"

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <unistd.h>

struct qb_sha256 {
    EVP_MD_CTX *ctx;
};

qb_sha256 *qb_sha256_new(void) {
    qb_sha256 *h = qb_malloc(sizeof *h);
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx) qb_die(QB_EXIT_DATA, "libcrypto: cannot allocate a digest context");
    qb_sha256_reset(h);
    return h;
}

void qb_sha256_reset(qb_sha256 *h) {
    if (EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) qb_die(QB_EXIT_DATA, "libcrypto: SHA-256 init failed");
}

void qb_sha256_update(qb_sha256 *h, const void *data, size_t n) {
    if (n && EVP_DigestUpdate(h->ctx, data, n) != 1) qb_die(QB_EXIT_DATA, "libcrypto: SHA-256 update failed");
}

void qb_sha256_final_hex(qb_sha256 *h, char hex[65]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(h->ctx, md, &len) != 1 || len != 32) qb_die(QB_EXIT_DATA, "libcrypto: SHA-256 final failed");
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = 0;
    qb_sha256_reset(h);
}

void qb_sha256_free(qb_sha256 *h) {
    if (!h) return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

void qb_sha256_hex(const void *data, size_t n, char hex[65]) {
    qb_sha256 *h = qb_sha256_new();
    qb_sha256_update(h, data, n);
    qb_sha256_final_hex(h, hex);
    qb_sha256_free(h);
}

int qb_sha256_file(const char *path, char hex[65], uint64_t *bytes, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    enum { BLOCK = 1 << 20 };
    unsigned char *buf = qb_malloc(BLOCK);
    qb_sha256 *h = qb_sha256_new();
    uint64_t total = 0;
    int rc = 0;
    for (;;) {
        ssize_t got = read(fd, buf, BLOCK);
        if (got < 0) {
            if (errno == EINTR) continue;
            snprintf(err, errlen, "%s: read error at byte %llu: %s", path, (unsigned long long)total, strerror(errno));
            rc = -1;
            break;
        }
        if (got == 0) break;
        qb_sha256_update(h, buf, (size_t)got);
        total += (uint64_t)got;
    }
    if (rc == 0) qb_sha256_final_hex(h, hex);
    if (bytes) *bytes = total;
    qb_sha256_free(h);
    free(buf);
    close(fd);
    return rc;
}

int qb_sha256_is_hex(const char *s) {
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f'))) return 0;
    return n == 64;
}
