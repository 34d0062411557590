// tokenizer.c: the tables of GPT-2 byte-level BPE: loading vocab.json and
// merges.txt (or the same lists from a GGUF file), validating them, token
// lookups and decoding. Encoding lives in tokenizer_encode.c.
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_impl.h"
#include "util.h"

// The GPT-2 pre-tokenizer pattern. \s is spelled out as the character class
// Hugging Face tokenizers' regex engine (Oniguruma) gives it in Unicode mode,
// U+0009..U+000D, U+0085 and the separators (Zs, Zl, Zp); PCRE2's own \s in
// UCP mode leaves out U+0085 (NEL), which would split text differently.
#define QB_WS "\\t\\n\\x0B\\f\\r\\x{85}\\p{Z}"
static const char qb_gpt2_pattern[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" QB_WS "\\p{L}\\p{N}]+"
                                      "|[" QB_WS "]+(?![^" QB_WS "])|[" QB_WS "]+";

uint32_t qb_byte_to_unicode(uint8_t b) {
    // Printable Latin-1 stands for itself; the other 68 bytes take U+0100
    // onwards in byte order (GPT-2's bytes_to_unicode).
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) return b;
    uint32_t n = 0;
    for (int c = 0; c < b; c++)
        if (!((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE)) n++;
    return 256 + n;
}

size_t qb_utf8_valid_len(const uint8_t *s, size_t n) {
    uint8_t c = s[0];
    if (c < 0x80) return 1;
    if (c < 0xC2) return 0; // continuation byte, or overlong 2-byte lead
    if (c < 0xE0) return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (n < 3 || (s[2] & 0xC0) != 0x80) return 0;
        uint8_t lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF; // no overlongs, no surrogates
        return s[1] >= lo && s[1] <= hi ? 3 : 0;
    }
    if (c < 0xF5) {
        if (n < 4 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
        uint8_t lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF; // no overlongs, <= U+10FFFF
        return s[1] >= lo && s[1] <= hi ? 4 : 0;
    }
    return 0;
}

size_t qb_utf8_invalid_offset(const char *s, size_t len) {
    const uint8_t *u = (const uint8_t *)s;
    for (size_t i = 0, l; i < len; i += l)
        if (!(l = u[i] < 0x80 ? 1 : qb_utf8_valid_len(u + i, len - i))) return i;
    return len;
}

static size_t utf8_put(char *out, uint32_t cp) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

// A token string for an error message: control bytes escaped, cut short, so
// the message stays on one line.
static const char *shown(const char *s, char *buf, size_t cap) {
    size_t k = 0;
    for (; *s && k + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7F) k += (size_t)snprintf(buf + k, cap - k, "\\x%02X", c);
        else buf[k++] = (char)c;
    }
    if (*s) k += (size_t)snprintf(buf + k, cap - k, "...");
    buf[k] = 0;
    return buf;
}

static uint32_t str_hash(const char *s, size_t n) {
    uint32_t h = 2166136261u; // FNV-1a
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static int vocab_find(const qb_tokenizer *t, const char *s, size_t n) {
    for (uint32_t i = str_hash(s, n) & t->vocab_mask;; i = (i + 1) & t->vocab_mask) {
        int32_t id = t->vocab_slot[i];
        if (id < 0) return -1;
        const char *ts = t->str_arena + t->str_off[id];
        if (t->str_off[id + 1] - t->str_off[id] - 1 == n && memcmp(ts, s, n) == 0) return id;
    }
}

// Where a problem was found, for error messages: "FILE" for vocab.json or
// "ORIGIN: token N" for in-memory lists; "FILE:LINE" or "ORIGIN: merge N" for merges.
typedef struct {
    const char *vocab, *merges;
    const int *merge_line; // line numbers in merges.txt, or NULL for lists
} origin;

static void merge_where(const origin *o, int rank, char *buf, size_t cap) {
    if (o->merge_line) snprintf(buf, cap, "%s:%d", o->merges, o->merge_line[rank]);
    else snprintf(buf, cap, "%s: merge %d", o->merges, rank);
}

static qb_tokenizer *build(const char *const *tokens, int n_tokens, const char *const *merges, int n_merges,
                           const origin *o) {
    char b1[96], b2[96], where[1200];
    if (n_tokens <= 0) qb_die(QB_EXIT_DATA, "%s: the vocabulary has no tokens", o->vocab);
    if (n_merges <= 0) qb_die(QB_EXIT_DATA, "%s: no merges", o->merges);
    qb_tokenizer *t = qb_calloc(1, sizeof *t);
    t->n_vocab = n_tokens;
    t->n_merges = n_merges;

    // Token strings into one arena, checked to be valid UTF-8.
    size_t total = 0;
    for (int i = 0; i < n_tokens; i++) {
        if (!tokens[i]) qb_die(QB_EXIT_DATA, "%s: token %d is missing", o->vocab, i);
        size_t n = strlen(tokens[i]);
        if (n == 0) qb_die(QB_EXIT_DATA, "%s: token %d is the empty string", o->vocab, i);
        for (size_t k = 0; k < n;) {
            size_t l = qb_utf8_valid_len((const uint8_t *)tokens[i] + k, n - k);
            if (!l) qb_die(QB_EXIT_DATA, "%s: token %d is not valid UTF-8", o->vocab, i);
            k += l;
        }
        total += n + 1;
    }
    if (total > UINT32_MAX) qb_die(QB_EXIT_DATA, "%s: the vocabulary is too large", o->vocab);
    t->str_arena = qb_malloc(total);
    t->str_off = qb_malloc(((size_t)n_tokens + 1) * sizeof *t->str_off);
    size_t off = 0;
    for (int i = 0; i < n_tokens; i++) {
        size_t n = strlen(tokens[i]) + 1;
        memcpy(t->str_arena + off, tokens[i], n);
        t->str_off[i] = (uint32_t)off;
        off += n;
    }
    t->str_off[n_tokens] = (uint32_t)off;

    // String -> id map; a string twice is an error (two ids for one token).
    uint32_t cap = 1;
    while (cap < 2u * (uint32_t)n_tokens) cap <<= 1;
    t->vocab_mask = cap - 1;
    t->vocab_slot = qb_malloc(cap * sizeof *t->vocab_slot);
    memset(t->vocab_slot, 0xFF, cap * sizeof *t->vocab_slot);
    for (int id = 0; id < n_tokens; id++) {
        const char *s = t->str_arena + t->str_off[id];
        size_t n = t->str_off[id + 1] - t->str_off[id] - 1;
        int dup = vocab_find(t, s, n);
        if (dup >= 0)
            qb_die(QB_EXIT_DATA, "%s: token \"%s\" appears twice (ids %d and %d)", o->vocab,
                   shown(s, b1, sizeof b1), dup, id);
        uint32_t i = str_hash(s, n) & t->vocab_mask;
        while (t->vocab_slot[i] >= 0) i = (i + 1) & t->vocab_mask;
        t->vocab_slot[i] = id;
    }

    // Raw bytes of each token: every character of the byte-level alphabet
    // stands for one byte; any other character stands for its own UTF-8 bytes
    // (as in Hugging Face's ByteLevel decoder), which only special tokens use.
    int16_t from_unicode[324];
    for (int c = 0; c < 324; c++) from_unicode[c] = -1;
    for (int b = 0; b < 256; b++) from_unicode[qb_byte_to_unicode((uint8_t)b)] = (int16_t)b;
    t->byte_arena = qb_malloc(total + 1);
    t->byte_off = qb_malloc(((size_t)n_tokens + 1) * sizeof *t->byte_off);
    off = 0;
    for (int id = 0; id < n_tokens; id++) {
        t->byte_off[id] = (uint32_t)off;
        const uint8_t *s = (const uint8_t *)t->str_arena + t->str_off[id];
        size_t n = t->str_off[id + 1] - t->str_off[id] - 1;
        for (size_t k = 0; k < n;) {
            size_t l = qb_utf8_valid_len(s + k, n - k);
            uint32_t cp = l == 1   ? s[k]
                          : l == 2 ? (uint32_t)(s[k] & 0x1F) << 6 | (s[k + 1] & 0x3F)
                                   : 0x10000; // 3- and 4-byte characters are never in the alphabet
            if (cp < 324 && from_unicode[cp] >= 0) t->byte_arena[off++] = (char)from_unicode[cp];
            else {
                memcpy(t->byte_arena + off, s + k, l);
                off += l;
            }
            k += l;
        }
    }
    t->byte_off[n_tokens] = (uint32_t)off;
    t->byte_arena[off] = 0;

    // Every byte needs its one-character token, or some text could not be encoded.
    for (int b = 0; b < 256; b++) {
        char s[4];
        size_t n = utf8_put(s, qb_byte_to_unicode((uint8_t)b));
        s[n] = 0;
        t->byte_id[b] = vocab_find(t, s, n);
        if (t->byte_id[b] < 0)
            qb_die(QB_EXIT_DATA, "%s: no token for byte 0x%02X (\"%s\"), a byte-level BPE needs all 256", o->vocab, b,
                   s);
    }
    t->eot = vocab_find(t, "<|endoftext|>", 13);

    // Merges: "A B", both tokens and their concatenation in the vocabulary.
    total = 0;
    for (int r = 0; r < n_merges; r++) total += strlen(merges[r]) + 1;
    t->merge_arena = qb_malloc(total);
    t->merge_off = qb_malloc(((size_t)n_merges + 1) * sizeof *t->merge_off);
    cap = 1;
    while (cap < 2u * (uint32_t)n_merges) cap <<= 1;
    t->pair_mask = cap - 1;
    t->pair_key = qb_malloc(cap * sizeof *t->pair_key);
    memset(t->pair_key, 0xFF, cap * sizeof *t->pair_key);
    t->pair_rank = qb_malloc(cap * sizeof *t->pair_rank);
    t->pair_merged = qb_malloc(cap * sizeof *t->pair_merged);
    off = 0;
    char *joined = NULL;
    size_t joined_cap = 0;
    for (int r = 0; r < n_merges; r++) {
        const char *m = merges[r];
        size_t n = strlen(m);
        memcpy(t->merge_arena + off, m, n + 1);
        t->merge_off[r] = (uint32_t)off;
        off += n + 1;
        const char *sp = strchr(m, ' ');
        if (!sp || sp == m || !sp[1] || strchr(sp + 1, ' ')) {
            merge_where(o, r, where, sizeof where);
            qb_die(QB_EXIT_DATA, "%s: merge \"%s\" is not two tokens separated by one space", where,
                   shown(m, b1, sizeof b1));
        }
        size_t la = (size_t)(sp - m), lb = n - la - 1;
        int a = vocab_find(t, m, la), b = vocab_find(t, sp + 1, lb);
        if (a < 0 || b < 0) {
            merge_where(o, r, where, sizeof where);
            char tok[96];
            snprintf(tok, sizeof tok, "%.*s", (int)(a < 0 ? la : lb), a < 0 ? m : sp + 1);
            qb_die(QB_EXIT_DATA, "%s: merge names token \"%s\", which is not in the vocabulary (%s)", where,
                   shown(tok, b1, sizeof b1), o->vocab);
        }
        if (la + lb + 1 > joined_cap) joined = qb_realloc(joined, joined_cap = 2 * (la + lb + 1));
        memcpy(joined, m, la);
        memcpy(joined + la, sp + 1, lb);
        joined[la + lb] = 0;
        int ab = vocab_find(t, joined, la + lb);
        if (ab < 0) {
            merge_where(o, r, where, sizeof where);
            qb_die(QB_EXIT_DATA, "%s: merge result \"%s\" is not in the vocabulary (%s)", where,
                   shown(joined, b1, sizeof b1), o->vocab);
        }
        uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
        uint64_t h = key * 0x9E3779B97F4A7C15ull;
        uint32_t i = (uint32_t)(h >> 32) & t->pair_mask;
        while (t->pair_key[i] != ~0ull) {
            if (t->pair_key[i] == key) {
                merge_where(o, r, where, sizeof where);
                qb_die(QB_EXIT_DATA, "%s: merge \"%s\" repeats the merge of rank %d", where, shown(m, b2, sizeof b2),
                       t->pair_rank[i]);
            }
            i = (i + 1) & t->pair_mask;
        }
        t->pair_key[i] = key;
        t->pair_rank[i] = r;
        t->pair_merged[i] = ab;
    }
    t->merge_off[n_merges] = (uint32_t)off;
    free(joined);

    int err;
    PCRE2_SIZE erroff;
    t->re = pcre2_compile((PCRE2_SPTR)qb_gpt2_pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &erroff,
                          NULL);
    if (!t->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        qb_die(QB_EXIT_DATA, "tokenizer: cannot compile the GPT-2 pattern at %zu: %s", (size_t)erroff, (char *)msg);
    }
    pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE); // the interpreter runs it when JIT is unavailable
    return t;
}

qb_tokenizer *qb_tokenizer_from_lists(const char *const *tokens, int n_tokens, const char *const *merges,
                                      int n_merges, const char *origin_name) {
    origin o = {origin_name, origin_name, NULL};
    return build(tokens, n_tokens, merges, n_merges, &o);
}

// vocab.json: one JSON object mapping each token string to its id; the ids
// must be exactly 0..N-1, each once.
static json_t *load_vocab(const char *path, const char ***tokens, int *n_tokens) {
    char err[1200];
    qb_map m;
    if (qb_map_file(&m, path, err, sizeof err) != 0) qb_die(QB_EXIT_DATA, "%s", err);
    json_error_t je;
    json_t *root = json_loadb((const char *)m.data, m.size, JSON_REJECT_DUPLICATES, &je);
    qb_unmap(&m);
    if (!root)
        qb_die(QB_EXIT_DATA, "%s: malformed JSON at line %d column %d (byte %d): %s", path, je.line, je.column,
               je.position, je.text);
    if (!json_is_object(root)) qb_die(QB_EXIT_DATA, "%s: not a JSON object of token -> id", path);
    size_t n = json_object_size(root);
    if (n == 0) qb_die(QB_EXIT_DATA, "%s: the vocabulary has no tokens", path);
    if (n > (1u << 30)) qb_die(QB_EXIT_DATA, "%s: too many tokens (%zu)", path, n);
    const char **tok = qb_calloc(n, sizeof *tok);
    const char *key;
    json_t *val;
    char b1[96], b2[96];
    json_object_foreach(root, key, val) {
        if (!json_is_integer(val))
            qb_die(QB_EXIT_DATA, "%s: the id of token \"%s\" is not an integer", path, shown(key, b1, sizeof b1));
        json_int_t id = json_integer_value(val);
        if (id < 0 || (size_t)id >= n)
            qb_die(QB_EXIT_DATA, "%s: token \"%s\" has id %lld, outside 0..%zu (ids must be 0..N-1)", path,
                   shown(key, b1, sizeof b1), (long long)id, n - 1);
        if (tok[id])
            qb_die(QB_EXIT_DATA, "%s: id %lld is given to both \"%s\" and \"%s\"", path, (long long)id,
                   shown(tok[id], b1, sizeof b1), shown(key, b2, sizeof b2));
        if (strlen(key) == 0) qb_die(QB_EXIT_DATA, "%s: id %lld is the empty string", path, (long long)id);
        tok[id] = key;
    }
    *tokens = tok;
    *n_tokens = (int)n;
    return root;
}

// merges.txt: an optional "#version" first line, then one "A B" per line in
// rank order. Returns the lines (NUL-terminated, in *buf) and their line numbers.
static char **load_merges(const char *path, char **buf, int **lines, int *n_merges) {
    char err[1200];
    qb_map m;
    if (qb_map_file(&m, path, err, sizeof err) != 0) qb_die(QB_EXIT_DATA, "%s", err);
    if (memchr(m.data, 0, m.size)) qb_die(QB_EXIT_DATA, "%s: contains a NUL byte: not a merges file", path);
    char *text = qb_malloc(m.size + 1);
    memcpy(text, m.data, m.size);
    text[m.size] = 0;
    size_t size = m.size;
    qb_unmap(&m);
    size_t max = 1;
    for (size_t i = 0; i < size; i++) max += text[i] == '\n';
    char **out = qb_malloc(max * sizeof *out);
    int *line_no = qb_malloc(max * sizeof *line_no);
    int n = 0, line = 0;
    for (char *p = text; p < text + size;) {
        char *nl = memchr(p, '\n', (size_t)(text + size - p));
        char *end = nl ? nl : text + size;
        line++;
        *end = 0;
        if (end > p && end[-1] == '\r') end[-1] = 0;
        if (!(line == 1 && strncmp(p, "#version", 8) == 0)) {
            if (!*p) qb_die(QB_EXIT_DATA, "%s:%d: empty line", path, line);
            line_no[n] = line;
            out[n++] = p;
        }
        p = end + 1;
    }
    if (n == 0) qb_die(QB_EXIT_DATA, "%s: no merges", path);
    *buf = text;
    *lines = line_no;
    *n_merges = n;
    return out;
}

qb_tokenizer *qb_tokenizer_load(const char *vocab_path, const char *merges_path) {
    const char **tokens;
    int n_tokens, n_merges, *lines;
    char *text;
    json_t *root = load_vocab(vocab_path, &tokens, &n_tokens);
    char **merges = load_merges(merges_path, &text, &lines, &n_merges);
    origin o = {vocab_path, merges_path, lines};
    qb_tokenizer *t = build(tokens, n_tokens, (const char *const *)merges, n_merges, &o);
    free(merges);
    free(lines);
    free(text);
    free(tokens);
    json_decref(root);
    return t;
}

void qb_tokenizer_free(qb_tokenizer *t) {
    if (!t) return;
    pcre2_code_free(t->re);
    free(t->str_arena);
    free(t->str_off);
    free(t->byte_arena);
    free(t->byte_off);
    free(t->vocab_slot);
    free(t->merge_arena);
    free(t->merge_off);
    free(t->pair_key);
    free(t->pair_rank);
    free(t->pair_merged);
    free(t);
}

int qb_tokenizer_n_vocab(const qb_tokenizer *t) { return t->n_vocab; }
int qb_tokenizer_eot(const qb_tokenizer *t) { return t->eot; }
int qb_tokenizer_n_merges(const qb_tokenizer *t) { return t->n_merges; }

const char *qb_tokenizer_merge(const qb_tokenizer *t, int rank) {
    if (rank < 0 || rank >= t->n_merges) return NULL;
    return t->merge_arena + t->merge_off[rank];
}

const char *qb_token_string(const qb_tokenizer *t, int id) {
    if (id < 0 || id >= t->n_vocab) return NULL;
    return t->str_arena + t->str_off[id];
}

const char *qb_token_bytes(const qb_tokenizer *t, int id, size_t *len) {
    if (id < 0 || id >= t->n_vocab) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = t->byte_off[id + 1] - t->byte_off[id];
    return t->byte_arena + t->byte_off[id];
}

char *qb_detokenize(const qb_tokenizer *t, const int *ids, size_t n, size_t *len) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < t->n_vocab) total += t->byte_off[ids[i] + 1] - t->byte_off[ids[i]];
    char *out = qb_malloc(total + 1), *p = out;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        const char *b = qb_token_bytes(t, ids[i], &l);
        if (b) {
            memcpy(p, b, l);
            p += l;
        }
    }
    *p = 0;
    if (len) *len = total;
    return out;
}
