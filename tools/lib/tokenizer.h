// tokenizer.h: GPT-2 byte-level BPE, exact (token-for-token the same as
// OpenAI's encoder / Hugging Face tokenizers built from the same files).
//
// Encoding, in order:
//  1. The text is split around every occurrence of the special token
//     "<|endoftext|>" (when the vocabulary has it); each occurrence becomes
//     its id, and the pieces between are encoded independently.
//  2. Each piece is split into maximal runs of valid UTF-8 and of invalid
//     bytes (what Python/Rust reject: stray continuation bytes, truncated
//     sequences, overlong forms, surrogates U+D800..DFFF, code points above
//     U+10FFFF, bytes F5..FF). A valid run is pre-tokenized with the GPT-2
//     pattern (PCRE2, UTF + UCP):
//       's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//     with \s taken as Hugging Face tokenizers' regex engine (Oniguruma)
//     takes it: U+0009..000D, U+0085 and Unicode separators (Zs, Zl, Zp),
//     as if it were a whole text of its own (an invalid run is a boundary,
//     just as a special token is). An invalid run is one pre-token of its own.
//     So every byte is encoded (byte-level BPE covers all 256 bytes) and
//     decode(encode(x)) == x byte for byte for any input, valid UTF-8 or not.
//     For valid UTF-8 this is exactly Hugging Face tokenizers' GPT-2 (the
//     test oracle; OpenAI's original encoder.py, through Python's `regex`
//     module, may class a few rare control characters differently as \s).
//  3. Each pre-token's bytes are mapped to GPT-2's byte-level unicode
//     alphabet (bytes_to_unicode) and merged by BPE: the applicable merge of
//     lowest rank first, the leftmost among equal pairs, until none applies.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct qb_tokenizer qb_tokenizer;

// GPT-2 BPE from vocab.json + merges.txt; dies (exit 2) with one line naming
// the file and the problem (unreadable, malformed JSON, non-integer or
// duplicate ids, merges referring to tokens absent from the vocab, etc.).
qb_tokenizer *qb_tokenizer_load(const char *vocab_path, const char *merges_path);
// The same from in-memory lists (GGUF tokenizer.ggml.tokens / tokenizer.ggml.merges):
// tokens[i] is id i's string in byte-level-unicode form (as in vocab.json),
// merges[i] is "A B". origin names the source in errors.
qb_tokenizer *qb_tokenizer_from_lists(const char *const *tokens, int n_tokens, const char *const *merges,
                                      int n_merges, const char *origin);
void qb_tokenizer_free(qb_tokenizer *t);
int qb_tokenizer_n_vocab(const qb_tokenizer *t);
int qb_tokenizer_eot(const qb_tokenizer *t); // id of "<|endoftext|>", -1 if absent

// Encodes len bytes; returns the count and a malloc'ed array in *ids.
// Thread-safe for concurrent calls on one tokenizer.
size_t qb_tokenize(const qb_tokenizer *t, const char *text, size_t len, int **ids);
// The raw bytes of one token (byte-level decoded), for streaming output; *len
// set. NULL for an invalid id.
const char *qb_token_bytes(const qb_tokenizer *t, int id, size_t *len);
// Decodes ids into a malloc'ed NUL-terminated buffer (*len bytes, may contain
// any byte). Invalid ids are skipped.
char *qb_detokenize(const qb_tokenizer *t, const int *ids, size_t n, size_t *len);

// For GGUF export: the byte-level-unicode string of token id (NULL for an
// invalid id), and the merges in rank order ("A B").
const char *qb_token_string(const qb_tokenizer *t, int id);
int qb_tokenizer_n_merges(const qb_tokenizer *t);
const char *qb_tokenizer_merge(const qb_tokenizer *t, int rank);

// Offset of the first byte of s that is not part of valid UTF-8 (by the rules
// of step 2 above), or len when all of s is valid: for tools that reject
// non-UTF-8 text with an error naming the byte offset.
size_t qb_utf8_invalid_offset(const char *s, size_t len);

// GPT-2's bytes_to_unicode: the code point that stands for byte b in token
// strings (printable bytes map to themselves, the others to U+0100 onwards).
uint32_t qb_byte_to_unicode(uint8_t b);
