// logitsfile.c: see logitsfile.h. Numbers are stored in the host's byte
// order, which the build requires to be little-endian (the file format's).
#include "logitsfile.h"

#include <string.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the logits file format is little-endian");

uint64_t qb_tokens_hash(const int *ids, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)ids[i];
        for (int b = 0; b < 4; b++) {
            h ^= (v >> (8 * b)) & 0xFF;
            h *= 0x100000001b3ull;
        }
    }
    return h;
}

void qb_logits_write_header(FILE *f, const qb_logits_header *h) {
    uint8_t b[QB_LOGITS_HEADER] = {0};
    memcpy(b, QB_LOGITS_MAGIC, 8);
    const uint32_t u32[6] = {QB_LOGITS_VERSION, h->n_vocab, h->top_k, h->ctx, h->stride, 0};
    memcpy(b + 8, u32, sizeof u32);
    const uint64_t u64[4] = {h->n_tokens, h->n_scored, h->tokens_hash, 0};
    memcpy(b + 32, u64, sizeof u64);
    fwrite(b, 1, sizeof b, f);
}

void qb_logits_write_record(FILE *f, uint32_t top_k, int target, float lp_target, float lp_rest, const int *ids,
                            const float *lps) {
    uint32_t t = (uint32_t)target;
    fwrite(&t, 4, 1, f);
    fwrite(&lp_target, 4, 1, f);
    fwrite(&lp_rest, 4, 1, f);
    fwrite(ids, 4, top_k, f);
    fwrite(lps, 4, top_k, f);
}

// A header field that differs from this run's: the file is of another text,
// model vocabulary or windowing.
#define MISMATCH(field)                                                                                                \
    if (got.field != want->field)                                                                                      \
        qb_die(QB_EXIT_DATA, "%s: " #field " is %llu, this run has %llu (not the same text, vocabulary or windows)",   \
               path, (unsigned long long)got.field, (unsigned long long)want->field);

void qb_logits_open(qb_logits_file *lf, const char *path, const qb_logits_header *want) {
    char err[1024];
    if (qb_map_file(&lf->map, path, err, sizeof err) != 0) qb_die(QB_EXIT_DATA, "%s", err);
    lf->path = path;
    const uint8_t *b = lf->map.data;
    if (lf->map.size < QB_LOGITS_HEADER || memcmp(b, QB_LOGITS_MAGIC, 8) != 0)
        qb_die(QB_EXIT_DATA, "%s: not a logits file (no %s header)", path, QB_LOGITS_MAGIC);
    uint32_t u32[6];
    uint64_t u64[4];
    memcpy(u32, b + 8, sizeof u32);
    memcpy(u64, b + 32, sizeof u64);
    if (u32[0] != QB_LOGITS_VERSION) qb_die(QB_EXIT_DATA, "%s: version %u, expected %d", path, u32[0], QB_LOGITS_VERSION);
    qb_logits_header got = {u32[1], u32[2], u32[3], u32[4], u64[0], u64[1], u64[2]};
    if (got.top_k < 1 || got.top_k > got.n_vocab) qb_die(QB_EXIT_DATA, "%s: top_k %u is absurd", path, got.top_k);
    MISMATCH(n_vocab);
    MISMATCH(ctx);
    MISMATCH(stride);
    MISMATCH(n_tokens);
    MISMATCH(tokens_hash);
    MISMATCH(n_scored);
    const size_t rec = qb_logits_record_bytes(got.top_k);
    if (got.n_scored > (lf->map.size - QB_LOGITS_HEADER) / rec ||
        lf->map.size != QB_LOGITS_HEADER + got.n_scored * rec)
        qb_die(QB_EXIT_DATA, "%s: %zu bytes, the header implies %llu (truncated?)", path, lf->map.size,
               (unsigned long long)(QB_LOGITS_HEADER + got.n_scored * rec));
    lf->h = got;
}

void qb_logits_close(qb_logits_file *lf) { qb_unmap(&lf->map); }

void qb_logits_record(const qb_logits_file *lf, uint64_t i, int *target, float *lp_target, float *lp_rest, int *ids,
                      float *lps) {
    const uint32_t k = lf->h.top_k;
    const uint8_t *r = lf->map.data + QB_LOGITS_HEADER + i * qb_logits_record_bytes(k);
    uint32_t t;
    memcpy(&t, r, 4);
    *target = (int)t;
    memcpy(lp_target, r + 4, 4);
    memcpy(lp_rest, r + 8, 4);
    memcpy(ids, r + 12, 4 * (size_t)k);
    memcpy(lps, r + 12 + 4 * (size_t)k, 4 * (size_t)k);
    for (uint32_t j = 0; j < k; j++)
        if ((uint32_t)ids[j] >= lf->h.n_vocab)
            qb_die(QB_EXIT_DATA, "%s: record %llu: token id %u outside the vocabulary", lf->path,
                   (unsigned long long)i, (uint32_t)ids[j]);
}
