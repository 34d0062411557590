// logitsfile.h: the per-token log-probability file that `ppl --save-logits`
// writes and `ppl --kl-base` reads, to compare a model (e.g. a quantized one)
// with a baseline on exactly the same scored tokens.
//
// The full distribution (n_vocab values per scored token) would be ~29 GB for
// WikiText-2 at GPT-2's vocabulary, so each record keeps the baseline's top-k
// tokens and lumps the rest of the vocabulary into one "rest" bucket:
//
//   header, 64 bytes, little-endian:
//     0  char[8] magic "QBLOGPR1"
//     8  u32 version (1)       12 u32 n_vocab          16 u32 top_k
//     20 u32 ctx               24 u32 stride           28 u32 reserved (0)
//     32 u64 n_tokens (of the tokenized text)          40 u64 n_scored
//     48 u64 tokens_hash (FNV-1a 64 over the token ids as u32 LE)
//     56 u64 reserved (0)
//   then n_scored records in scoring order, 12 + 8 top_k bytes each:
//     u32 target id, f32 log p(target), f32 log p(rest),
//     u32 ids[top_k] (most likely first), f32 log p(ids[i])[top_k]
//
// where "rest" is every token outside ids[] (its exact log-probability mass,
// summed over the vocabulary, not 1 - sum of the top-k). KL(base || model)
// computed on the partition {ids[0], ..., ids[k-1], rest} is a lower bound of
// the true KL (coarse-graining never increases divergence) and equals it when
// the rest carries no mass; top-1 agreement (ids[0] vs the model's argmax) is
// exact.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util.h"

#define QB_LOGITS_MAGIC "QBLOGPR1"
enum { QB_LOGITS_VERSION = 1, QB_LOGITS_HEADER = 64 };

typedef struct {
    uint32_t n_vocab, top_k, ctx, stride;
    uint64_t n_tokens, n_scored, tokens_hash;
} qb_logits_header;

static inline size_t qb_logits_record_bytes(uint32_t top_k) { return 12 + 8 * (size_t)top_k; }

// FNV-1a 64 of the ids as little-endian u32.
uint64_t qb_tokens_hash(const int *ids, size_t n);

// Writes the header; records follow with qb_logits_write_record.
void qb_logits_write_header(FILE *f, const qb_logits_header *h);
void qb_logits_write_record(FILE *f, uint32_t top_k, int target, float lp_target, float lp_rest, const int *ids,
                            const float *lps);

// A baseline file, mapped and checked against what this run expects (every
// field of want); dies (exit 2) naming the file and the first mismatch.
typedef struct {
    qb_map map;
    qb_logits_header h;
    const char *path;
} qb_logits_file;
void qb_logits_open(qb_logits_file *lf, const char *path, const qb_logits_header *want);
void qb_logits_close(qb_logits_file *lf);
// Record i's fields (ids and lps are copied out: the file is not aligned).
void qb_logits_record(const qb_logits_file *lf, uint64_t i, int *target, float *lp_target, float *lp_rest, int *ids,
                      float *lps);
