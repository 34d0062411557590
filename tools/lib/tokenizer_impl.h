// tokenizer_impl.h: the inside of qb_tokenizer, shared by tokenizer.c (tables:
// loading, validation, lookups, decoding) and tokenizer_encode.c (pre-tokenizer
// and BPE). Not for use outside those two files.
#pragma once
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

struct qb_tokenizer {
    int n_vocab, n_merges, eot;

    // Token id -> its byte-level-unicode string (NUL-terminated) and its raw
    // bytes (byte_off[id] .. byte_off[id + 1]).
    char *str_arena;
    uint32_t *str_off;
    char *byte_arena; // NUL after the last token only; tokens are not NUL-terminated
    uint32_t *byte_off;

    // Token string -> id, open addressing (-1 = empty slot).
    int32_t *vocab_slot;
    uint32_t vocab_mask;

    // Merges in rank order, as "A B" strings for export.
    char *merge_arena;
    uint32_t *merge_off;

    // (left id, right id) -> rank and merged id, open addressing (key ~0 = empty).
    uint64_t *pair_key;
    int32_t *pair_rank, *pair_merged;
    uint32_t pair_mask;

    int32_t byte_id[256]; // id of the one-byte token for each byte

    pcre2_code *re; // the GPT-2 pre-tokenizer pattern, JIT-compiled when possible
};

// Looks up the merge of adjacent tokens (a, b): returns its rank and sets
// *merged, or returns -1 when the pair never merges.
static inline int qb_tok_pair_rank(const struct qb_tokenizer *t, int32_t a, int32_t b, int32_t *merged) {
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    for (uint32_t i = (uint32_t)(h >> 32) & t->pair_mask;; i = (i + 1) & t->pair_mask) {
        if (t->pair_key[i] == key) {
            *merged = t->pair_merged[i];
            return t->pair_rank[i];
        }
        if (t->pair_key[i] == ~0ull) return -1;
    }
}

// Length of the valid UTF-8 sequence starting at s[0] (1..4), or 0 when the
// bytes there are not valid UTF-8 (the same rules as Python, Rust and PCRE2:
// no overlong forms, no surrogates, nothing above U+10FFFF).
size_t qb_utf8_valid_len(const uint8_t *s, size_t n);
