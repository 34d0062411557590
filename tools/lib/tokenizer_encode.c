// tokenizer_encode.c: text -> GPT-2 token ids. Splits around <|endoftext|>,
// then into valid UTF-8 runs (pre-tokenized by the GPT-2 pattern) and invalid
// byte runs, then merges each pre-token by BPE (see tokenizer.h for the rules).
// Everything mutable lives in one encoder per call, so concurrent calls on one
// tokenizer are safe.
#include <string.h>

#include "tokenizer_impl.h"
#include "util.h"

// Words up to this many bytes are remembered per call: text repeats its words
// (wiki.test.raw: ~280k pre-tokens, ~30k distinct), so most skip BPE.
#define CACHE_MAX_WORD 64

typedef struct {
    const char *word; // points into the text being encoded
    uint32_t len, hash;
    uint32_t off, n; // the word's ids in the encoder's cache_ids
} cache_entry;

typedef struct {
    int32_t id;         // current token of this symbol; -1 once merged into its left neighbour
    int32_t prev, next; // neighbours among live symbols, -1 at the ends
} symbol;

typedef struct {
    int32_t rank, left, right; // the merge of symbols left, right (indices)
    int32_t left_id, right_id; // their ids when queued: stale entries are skipped
    int32_t merged;            // the token they make
} candidate;

typedef struct {
    const qb_tokenizer *t;
    int *out;
    size_t n_out, cap_out;
    pcre2_match_data *md;
    cache_entry *cache;
    uint32_t cache_mask, cache_used;
    int32_t *cache_ids;
    size_t n_cache_ids, cap_cache_ids;
    symbol *sym;
    candidate *heap;
    size_t cap_word, n_heap;
} encoder;

static void emit(encoder *e, int id) {
    if (e->n_out == e->cap_out) e->out = qb_realloc(e->out, (e->cap_out = e->cap_out * 2 + 64) * sizeof *e->out);
    e->out[e->n_out++] = id;
}

// Min-heap on (rank, left position): the lowest rank merges first and among
// equal ranks (the same pair) the leftmost, as in GPT-2 and Hugging Face.
static int cand_less(const candidate *a, const candidate *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->left < b->left;
}

static void heap_push(encoder *e, candidate c) {
    size_t i = e->n_heap++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!cand_less(&c, &e->heap[up])) break;
        e->heap[i] = e->heap[up];
        i = up;
    }
    e->heap[i] = c;
}

static candidate heap_pop(encoder *e) {
    candidate top = e->heap[0], last = e->heap[--e->n_heap];
    size_t i = 0, n = e->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && cand_less(&e->heap[c + 1], &e->heap[c])) c++;
        if (!cand_less(&e->heap[c], &last)) break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    if (n) e->heap[i] = last;
    return top;
}

static void queue_pair(encoder *e, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    int32_t merged;
    int rank = qb_tok_pair_rank(e->t, e->sym[left].id, e->sym[right].id, &merged);
    if (rank >= 0) heap_push(e, (candidate){rank, left, right, e->sym[left].id, e->sym[right].id, merged});
}

// BPE of one pre-token: starts from one symbol per byte and applies the
// lowest-ranked applicable merge until none applies. Emits the ids.
static void bpe(encoder *e, const uint8_t *w, size_t n) {
    if (n > e->cap_word) {
        e->cap_word = n + n / 2;
        e->sym = qb_realloc(e->sym, e->cap_word * sizeof *e->sym);
        // Each merge queues at most two new pairs: n - 1 + 2 (n - 1) candidates at most.
        e->heap = qb_realloc(e->heap, 3 * e->cap_word * sizeof *e->heap);
    }
    for (size_t i = 0; i < n; i++)
        e->sym[i] = (symbol){e->t->byte_id[w[i]], (int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1};
    e->n_heap = 0;
    for (size_t i = 0; i + 1 < n; i++) queue_pair(e, (int32_t)i, (int32_t)i + 1);
    while (e->n_heap) {
        candidate c = heap_pop(e);
        symbol *l = &e->sym[c.left], *r = &e->sym[c.right];
        // Stale when either side has merged since: a symbol's id only changes
        // by growing, so equal ids and adjacency mean the pair is unchanged.
        if (l->id != c.left_id || r->id != c.right_id || l->next != c.right) continue;
        l->id = c.merged;
        l->next = r->next;
        if (r->next >= 0) e->sym[r->next].prev = c.left;
        r->id = -1;
        queue_pair(e, l->prev, c.left);
        queue_pair(e, c.left, l->next);
    }
    for (int32_t i = 0; i >= 0; i = e->sym[i].next) emit(e, e->sym[i].id);
}

static uint32_t word_hash(const uint8_t *s, size_t n) {
    uint32_t h = 2166136261u; // FNV-1a
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 16777619u;
    return h;
}

static void cache_grow(encoder *e) {
    uint32_t cap = e->cache ? 2 * (e->cache_mask + 1) : 4096;
    cache_entry *old = e->cache;
    uint32_t old_cap = old ? e->cache_mask + 1 : 0;
    e->cache = qb_calloc(cap, sizeof *e->cache);
    e->cache_mask = cap - 1;
    for (uint32_t i = 0; i < old_cap; i++) {
        if (!old[i].word) continue;
        uint32_t j = old[i].hash & e->cache_mask;
        while (e->cache[j].word) j = (j + 1) & e->cache_mask;
        e->cache[j] = old[i];
    }
    free(old);
}

// One pre-token: a single byte is its own token; short words go through the cache.
static void encode_word(encoder *e, const uint8_t *w, size_t n) {
    if (n == 1) {
        emit(e, e->t->byte_id[w[0]]);
        return;
    }
    if (n > CACHE_MAX_WORD) {
        bpe(e, w, n);
        return;
    }
    uint32_t h = word_hash(w, n), j = h & e->cache_mask;
    for (; e->cache[j].word; j = (j + 1) & e->cache_mask) {
        cache_entry *c = &e->cache[j];
        if (c->hash == h && c->len == n && memcmp(c->word, w, n) == 0) {
            for (uint32_t k = 0; k < c->n; k++) emit(e, e->cache_ids[c->off + k]);
            return;
        }
    }
    size_t first = e->n_out;
    bpe(e, w, n);
    size_t k = e->n_out - first;
    if (e->n_cache_ids + k > e->cap_cache_ids)
        e->cache_ids = qb_realloc(e->cache_ids, (e->cap_cache_ids = 2 * (e->n_cache_ids + k) + 1024) * sizeof(int32_t));
    memcpy(e->cache_ids + e->n_cache_ids, e->out + first, k * sizeof(int32_t));
    e->cache[j] = (cache_entry){(const char *)w, (uint32_t)n, h, (uint32_t)e->n_cache_ids, (uint32_t)k};
    e->n_cache_ids += k;
    if (++e->cache_used * 2 > e->cache_mask) cache_grow(e);
}

// A run of valid UTF-8, split by the GPT-2 pattern as a text of its own.
static void pretokenize(encoder *e, const uint8_t *s, size_t n) {
    PCRE2_SIZE off = 0;
    uint32_t opts = PCRE2_NO_UTF_CHECK; // validated by the caller; checking again would cost O(n) per match
    while (off < n) {
        int rc = pcre2_match(e->t->re, (PCRE2_SPTR)s, n, off, opts, e->md, NULL);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !(opts & PCRE2_NO_JIT)) {
            opts |= PCRE2_NO_JIT; // the interpreter keeps its backtracking on the heap
            continue;
        }
        if (rc == PCRE2_ERROR_NOMATCH) { // cannot happen: every character matches some branch
            encode_word(e, s + off, n - off);
            return;
        }
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            qb_die(QB_EXIT_DATA, "tokenizer: pre-tokenizer failed at byte %zu: %s", (size_t)off, (char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md);
        PCRE2_SIZE start = ov[0], end = ov[1];
        if (start > off) encode_word(e, s + off, start - off);
        if (end <= start) end = start + qb_utf8_valid_len(s + start, n - start); // no branch is empty; be safe
        encode_word(e, s + start, end - start);
        off = end;
    }
}

// A piece between special tokens: valid UTF-8 runs and invalid byte runs.
static void encode_piece(encoder *e, const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        size_t j = i, l;
        while (j < n && (l = s[j] < 0x80 ? 1 : qb_utf8_valid_len(s + j, n - j))) j += l;
        if (j > i) pretokenize(e, s + i, j - i);
        size_t k = j;
        while (k < n && !qb_utf8_valid_len(s + k, n - k)) k++;
        if (k > j) encode_word(e, s + j, k - j);
        i = k;
    }
}

size_t qb_tokenize(const qb_tokenizer *t, const char *text, size_t len, int **ids) {
    encoder e = {.t = t};
    e.cap_out = len / 3 + 16;
    e.out = qb_malloc(e.cap_out * sizeof *e.out);
    e.md = pcre2_match_data_create_from_pattern(t->re, NULL);
    if (!e.md) qb_die(QB_EXIT_DATA, "tokenizer: out of memory");
    cache_grow(&e);
    const uint8_t *s = (const uint8_t *)text;
    size_t eot_len = 0;
    const char *eot = t->eot >= 0 ? qb_token_bytes(t, t->eot, &eot_len) : NULL;
    size_t pos = 0;
    while (pos < len) {
        const uint8_t *hit = eot ? memmem(s + pos, len - pos, eot, eot_len) : NULL;
        size_t end = hit ? (size_t)(hit - s) : len;
        encode_piece(&e, s + pos, end - pos);
        if (!hit) break;
        emit(&e, t->eot);
        pos = end + eot_len;
    }
    pcre2_match_data_free(e.md);
    free(e.cache);
    free(e.cache_ids);
    free(e.sym);
    free(e.heap);
    *ids = e.out;
    return e.n_out;
}
