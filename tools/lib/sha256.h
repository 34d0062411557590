// sha256.h: SHA-256 digests, streaming, through OpenSSL's libcrypto (EVP),
// which uses the CPU's SHA extensions where there are any.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct qb_sha256 qb_sha256; // opaque: an EVP digest context

qb_sha256 *qb_sha256_new(void);                                 // dies (exit 2) if libcrypto fails
void qb_sha256_reset(qb_sha256 *h);                             // start over, as if new
void qb_sha256_update(qb_sha256 *h, const void *data, size_t n);
// Finishes the digest into hex (64 lowercase hex digits + NUL); h is then
// reset and can be reused.
void qb_sha256_final_hex(qb_sha256 *h, char hex[65]);
void qb_sha256_free(qb_sha256 *h);

// One-shot helpers.
void qb_sha256_hex(const void *data, size_t n, char hex[65]);
// Digest of a whole file, read in large blocks. Returns 0, or -1 with a
// one-line reason naming the path in err. If bytes is not NULL it receives the
// file's length.
int qb_sha256_file(const char *path, char hex[65], uint64_t *bytes, char *err, size_t errlen);

// Whether s is exactly 64 lowercase hex digits.
int qb_sha256_is_hex(const char *s);
