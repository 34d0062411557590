// test_gguf: the GGUF reader on files built byte by byte here (independently
// of our writer): a valid one, then each kind of corruption the reader must
// refuse with a one-line message naming the file and a byte offset; every
// truncation and thousands of random byte flips must be refused or accepted
// cleanly, never crash. Then the writer: every value type, empty arrays, key
// replacement, alignment, read back with the reader.
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../tap.h"
#include "gguf.h"
#include "quant.h"

// ---- a byte builder ---------------------------------------------------------------
typedef struct {
    uint8_t *b;
    size_t n, cap;
} buf;
static void put(buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->b = realloc(b->b, b->cap);
    }
    memcpy(b->b + b->n, p, n);
    b->n += n;
}
static void u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void str(buf *b, const char *s) {
    u64(b, strlen(s));
    put(b, s, strlen(s));
}

typedef struct {
    const char *name;
    uint32_t n_dims;
    uint64_t ne[5];
    uint32_t type;
    uint64_t offset;
    size_t name_len; // nonzero: the name's length (for names holding a NUL)
} tinfo;

// A file description the tests mutate: header fields, tensor infos, extras.
typedef struct {
    const char *magic;
    uint32_t version;
    int64_t claim_kv, claim_t; // >= 0: written instead of the true counts
    uint32_t alignment;        // 0: no general.alignment key
    uint32_t alignment_type;   // its value type (4 = u32)
    int dup_key, nested_array, bad_kv_type;
    uint64_t key_len_lie; // nonzero: the first key's length field
    tinfo t[4];
    int nt;
    size_t data_bytes;
} spec;

static spec valid_spec(void) {
    spec s = {.magic = "GGUF", .version = 3, .claim_kv = -1, .claim_t = -1, .alignment_type = 4};
    s.t[0] = (tinfo){"token_embd.weight", 2, {64, 3}, QB_TYPE_Q8_0, 0, 0};        // 6 blocks: 204 bytes
    s.t[1] = (tinfo){"output_norm.weight", 1, {64}, QB_TYPE_F32, 224, 0};           // 256 bytes
    s.t[2] = (tinfo){"blk.0.ffn_up.weight", 3, {256, 1, 2}, QB_TYPE_Q4_K, 480, 0}; // 288 bytes
    s.nt = 3;
    s.data_bytes = 768;
    return s;
}

static size_t header_kv_count(const spec *s) { return 3 + (s->alignment ? 1 : 0) + s->dup_key + s->nested_array + s->bad_kv_type; }

static buf build(const spec *s) {
    buf b = {0};
    put(&b, s->magic, 4);
    u32(&b, s->version);
    u64(&b, s->claim_t >= 0 ? (uint64_t)s->claim_t : (uint64_t)s->nt);
    u64(&b, s->claim_kv >= 0 ? (uint64_t)s->claim_kv : header_kv_count(s));
    if (s->key_len_lie) {
        u64(&b, s->key_len_lie);
        put(&b, "general.architecture", 20);
    } else
        str(&b, "general.architecture");
    u32(&b, QB_GGUF_STRING);
    str(&b, "gpt2");
    str(&b, "test.ids");
    u32(&b, QB_GGUF_ARRAY);
    u32(&b, QB_GGUF_UINT32);
    u64(&b, 3);
    u32(&b, 7), u32(&b, 8), u32(&b, 9);
    str(&b, "test.flag");
    u32(&b, QB_GGUF_BOOL);
    put(&b, "\1", 1);
    if (s->alignment) {
        str(&b, "general.alignment");
        u32(&b, s->alignment_type);
        if (s->alignment_type == QB_GGUF_UINT64)
            u64(&b, s->alignment);
        else
            u32(&b, s->alignment);
    }
    if (s->dup_key) {
        str(&b, "test.flag");
        u32(&b, QB_GGUF_BOOL);
        put(&b, "\0", 1);
    }
    if (s->nested_array) {
        str(&b, "test.nested");
        u32(&b, QB_GGUF_ARRAY);
        u32(&b, QB_GGUF_ARRAY);
        u64(&b, 0);
    }
    if (s->bad_kv_type) {
        str(&b, "test.bad");
        u32(&b, 13);
        u32(&b, 0);
    }
    for (int i = 0; i < s->nt; i++) {
        size_t len = s->t[i].name_len ? s->t[i].name_len : strlen(s->t[i].name);
        u64(&b, len);
        put(&b, s->t[i].name, len);
        u32(&b, s->t[i].n_dims);
        for (uint32_t d = 0; d < s->t[i].n_dims && d < 5; d++) u64(&b, s->t[i].ne[d]);
        u32(&b, s->t[i].type);
        u64(&b, s->t[i].offset);
    }
    size_t al = s->alignment ? s->alignment : 32;
    while (b.n % al) put(&b, "", 1);
    for (size_t i = 0; i < s->data_bytes; i++) {
        uint8_t v = (uint8_t)(i * 7 + 1);
        put(&b, &v, 1);
    }
    return b;
}

// Parses s; returns 1 when refused with a message naming the file, a byte
// offset and containing want (if given); prints the message.
static int refused(const spec *s, const char *want) {
    buf b = build(s);
    qb_gguf g;
    char err[512] = "";
    int rc = qb_gguf_parse(&g, b.b, b.n, "bad.gguf", err, sizeof err);
    free(b.b);
    tap_diag("%s", rc ? err : "(accepted)");
    if (rc == 0) {
        qb_gguf_close(&g);
        return 0;
    }
    return strncmp(err, "bad.gguf: byte ", 15) == 0 && !strchr(err, '\n') && (!want || strstr(err, want));
}

static void dup_tensor_writer(const char *path) {
    qb_gguf_writer *w = qb_gguf_writer_new();
    int64_t ne[1] = {32};
    float x[32] = {0};
    qb_gguf_add_tensor(w, "a", QB_TYPE_F32, 1, ne, x);
    qb_gguf_add_tensor(w, "a", QB_TYPE_F32, 1, ne, x);
    qb_gguf_write_file(w, path);
}

int main(void) {
    tap_rng rng = tap_rng_new();

    // ---- a valid file
    spec s = valid_spec();
    buf good = build(&s);
    qb_gguf g;
    char err[512];
    int rc = qb_gguf_parse(&g, good.b, good.n, "good.gguf", err, sizeof err);
    if (rc) tap_diag("%s", err);
    tap_ok(rc == 0, "a valid hand-built file parses");
    if (rc == 0) {
        char *arch = NULL;
        int64_t flag = 0;
        const qb_gguf_kv *ids = qb_gguf_find(&g, "test.ids");
        const qb_gguf_tensor *t = qb_gguf_tensor_find(&g, "blk.0.ffn_up.weight");
        tap_ok(qb_gguf_get_str(&g, "general.architecture", &arch) == 0 && !strcmp(arch, "gpt2") &&
                   qb_gguf_get_int(&g, "test.flag", &flag) == 0 && flag == 1 && ids && ids->n == 3 &&
                   qb_gguf_kv_int(ids, 2) == 9 && qb_gguf_get_int(&g, "general.architecture", &flag) == -1 &&
                   qb_gguf_get_float(&g, "test.ids", &(double){0}) == -1 && !qb_gguf_find(&g, "nope"),
               "key/values read back with their types; wrong-type and missing lookups fail");
        free(arch);
        tap_ok(g.n_tensors == 3 && t && t->n_dims == 3 && t->ne[0] == 256 && t->ne[2] == 2 && t->ne[3] == 1 &&
                   t->nbytes == 288 && (const uint8_t *)t->data == good.b + g.data_offset + 480 &&
                   g.data_offset % 32 == 0 && g.alignment == 32,
               "tensor infos: dims, byte size, data pointer at data section + offset");
        qb_gguf_close(&g);
    }

    // ---- each corruption, refused with a one-line message and a byte offset
    s = valid_spec(), s.magic = "GGML";
    tap_ok(refused(&s, "bad magic"), "bad magic");
    s = valid_spec(), s.version = 1;
    tap_ok(refused(&s, "version 1"), "GGUF version 1");
    s = valid_spec(), s.claim_kv = 1ll << 60;
    tap_ok(refused(&s, "key/values cannot fit"), "absurd key/value count");
    s = valid_spec(), s.claim_t = (1ll << 62) + 5;
    tap_ok(refused(&s, "tensors cannot fit"), "absurd tensor count");
    s = valid_spec(), s.claim_kv = 5;
    tap_ok(refused(&s, NULL), "key/value count larger than the keys present");
    s = valid_spec(), s.key_len_lie = 1ull << 40;
    tap_ok(refused(&s, "string length"), "key length past the end of the file");
    s = valid_spec(), s.bad_kv_type = 1;
    tap_ok(refused(&s, "unknown value type 13"), "unknown value type");
    s = valid_spec(), s.nested_array = 1;
    tap_ok(refused(&s, "nested arrays"), "nested array");
    s = valid_spec(), s.dup_key = 1;
    tap_ok(refused(&s, "duplicate key test.flag"), "duplicate key");
    s = valid_spec(), s.alignment = 48;
    tap_ok(refused(&s, "power of two"), "general.alignment 48");
    s = valid_spec(), s.alignment = 64, s.alignment_type = QB_GGUF_UINT64;
    tap_ok(refused(&s, "must be a u32"), "general.alignment stored as u64");
    s = valid_spec(), s.alignment = 64;
    tap_ok(refused(&s, "not a multiple of the alignment 64"), "offsets valid at 32 but not at general.alignment 64");
    s = valid_spec(), s.t[1].offset = 228;
    tap_ok(refused(&s, "offset 228 is not a multiple of the alignment 32"), "misaligned tensor offset");
    s = valid_spec(), s.t[1].n_dims = 5;
    tap_ok(refused(&s, "5 dimensions"), "5 dimensions");
    s = valid_spec(), s.t[1].n_dims = 0;
    tap_ok(refused(&s, "0 dimensions"), "0 dimensions");
    s = valid_spec(), s.t[1].ne[0] = 0;
    tap_ok(refused(&s, "dimension 0 is 0"), "a zero dimension");
    s = valid_spec(), s.t[0].ne[0] = 1ull << 40, s.t[0].ne[1] = 1ull << 40;
    tap_ok(refused(&s, "overflow"), "element count overflowing 64 bits");
    s = valid_spec(), s.t[0].ne[0] = 1ull << 63;
    tap_ok(refused(&s, "dimension 0 is"), "dimension above INT64_MAX");
    s = valid_spec(), s.t[1].type = 6;
    tap_ok(refused(&s, "unknown or unsupported tensor type 6"), "unknown tensor type (6, ggml's removed Q4_2)");
    s = valid_spec(), s.t[1].type = 1000;
    tap_ok(refused(&s, "tensor type 1000"), "tensor type 1000");
    s = valid_spec(), s.t[0].ne[0] = 48;
    tap_ok(refused(&s, "not a multiple of q8_0's block of 32"), "row not a whole number of blocks");
    s = valid_spec(), s.t[2].offset = 512;
    tap_ok(refused(&s, "runs past the end"), "tensor data past the end of the file");
    s = valid_spec(), s.t[2].offset = (uint64_t)-32;
    tap_ok(refused(&s, "runs past the end"), "tensor offset near 2^64");
    s = valid_spec(), s.t[1].offset = 192;
    tap_ok(refused(&s, "overlaps"), "overlapping tensors");
    s = valid_spec(), s.t[2].name = "token_embd.weight";
    tap_ok(refused(&s, "duplicate tensor name token_embd.weight"), "duplicate tensor names");
    s = valid_spec(), s.t[1].name = "";
    tap_ok(refused(&s, "empty tensor name"), "empty tensor name");
    s = valid_spec(), s.t[1].name = "a_name_that_is_far_too_long_for_ggml_whose_limit_is_sixty_three_x";
    tap_ok(refused(&s, "at most 63"), "tensor name of 64 bytes");
    s = valid_spec(), s.t[1].name = "nul\0inside", s.t[1].name_len = 10;
    tap_ok(refused(&s, "tensor name contains a NUL byte"), "tensor name with a NUL byte");

    // ---- every truncation of the valid file
    int trunc_ok = 1;
    for (size_t n = 0; n < good.n; n++) {
        rc = qb_gguf_parse(&g, good.b, n, "cut.gguf", err, sizeof err);
        if (rc == 0) {
            qb_gguf_close(&g);
            trunc_ok = 0;
            tap_diag("truncated to %zu bytes and accepted", n);
        } else if (strncmp(err, "cut.gguf: byte ", 15))
            trunc_ok = 0;
    }
    tap_ok(trunc_ok, "all %zu truncations refused with a message", good.n);

    // ---- random byte flips: accepted or refused, never a crash or a bad message
    int fuzz_ok = 1, accepted = 0;
    uint8_t *m = malloc(good.n);
    for (int it = 0; it < 5000; it++) {
        memcpy(m, good.b, good.n);
        int flips = 1 + (int)(tap_uniform(&rng) * 4);
        for (int k = 0; k < flips; k++) {
            size_t at = (size_t)(tap_uniform(&rng) * good.n);
            m[at] = tap_uniform(&rng) < 0.5 ? (uint8_t)(tap_uniform(&rng) * 256) : (uint8_t)(m[at] ^ 0x80);
        }
        size_t n = tap_uniform(&rng) < 0.2 ? (size_t)(tap_uniform(&rng) * good.n) : good.n;
        rc = qb_gguf_parse(&g, m, n, "fuzz.gguf", err, sizeof err);
        if (rc == 0) {
            accepted++;
            for (uint64_t i = 0; i < g.n_tensors; i++) {
                const qb_gguf_tensor *t = &g.tensors[i];
                if ((const uint8_t *)t->data < m || (const uint8_t *)t->data + t->nbytes > m + n) fuzz_ok = 0;
            }
            qb_gguf_close(&g);
        } else if (strncmp(err, "fuzz.gguf: byte ", 16))
            fuzz_ok = 0;
    }
    free(m);
    tap_ok(fuzz_ok, "5000 randomly corrupted files: %d accepted (data inside the file), the rest refused cleanly",
           accepted);

    // ---- the writer: every value type, empty arrays, replacement, alignment
    char dir[] = "/tmp/qb-test-gguf-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char *path = qb_path_join(dir, "w.gguf");
    qb_gguf_writer *w = qb_gguf_writer_new();
    qb_gguf_set_str(w, "general.architecture", "gpt2");
    qb_gguf_set_u8(w, "k.u8", 200);
    qb_gguf_set_i8(w, "k.i8", -100);
    qb_gguf_set_u16(w, "k.u16", 60000);
    qb_gguf_set_i16(w, "k.i16", -30000);
    qb_gguf_set_u32(w, "k.u32", 4000000000u);
    qb_gguf_set_i32(w, "k.i32", -2000000000);
    qb_gguf_set_u64(w, "k.u64", 1ull << 62);
    qb_gguf_set_i64(w, "k.i64", -(1ll << 60));
    qb_gguf_set_f32(w, "k.f32", 1.5f);
    qb_gguf_set_f64(w, "k.f64", 1e300);
    qb_gguf_set_bool(w, "k.bool", 1);
    qb_gguf_set_u32(w, "k.replaced", 1);
    qb_gguf_set_str(w, "k.replaced", "second");
    qb_gguf_set_arr(w, "k.empty", QB_GGUF_INT32, NULL, 0);
    qb_gguf_set_arr_str(w, "k.no_strings", NULL, 0);
    const qb_gguf_str words[3] = {{"a", 1}, {"", 0}, {"x\0y", 3}};
    qb_gguf_set_arr_str(w, "k.words", words, 3);
    float fl[3] = {1, -2, 3.25f};
    qb_gguf_set_arr(w, "k.floats", QB_GGUF_FLOAT32, fl, 3);
    qb_gguf_set_u32(w, "general.alignment", 64);
    float x[96];
    for (int i = 0; i < 96; i++) x[i] = (float)tap_normal(&rng);
    qb_block_q8_0 q[3];
    qb_quantize_row(QB_TYPE_Q8_0, x, q, 96);
    int64_t ne_a[2] = {32, 3}, ne_b[1] = {5};
    qb_gguf_add_tensor(w, "q", QB_TYPE_Q8_0, 2, ne_a, q);
    qb_gguf_add_tensor(w, "f", QB_TYPE_F32, 1, ne_b, x);
    uint64_t predicted = qb_gguf_writer_size(w);
    qb_gguf_write_file(w, path);
    qb_gguf_writer_free(w);
    rc = qb_gguf_open(&g, path, err, sizeof err);
    if (rc) tap_diag("%s", err);
    tap_ok(rc == 0 && g.map.size == predicted && g.alignment == 64 && g.data_offset % 64 == 0,
           "written file reads back; size as predicted (%llu); alignment 64", (unsigned long long)predicted);
    if (rc == 0) {
        int64_t v;
        double f;
        char *sv = NULL;
        int good_vals = qb_gguf_get_int(&g, "k.u8", &v) == 0 && v == 200 && qb_gguf_get_int(&g, "k.i8", &v) == 0 &&
                        v == -100 && qb_gguf_get_int(&g, "k.u16", &v) == 0 && v == 60000 &&
                        qb_gguf_get_int(&g, "k.i16", &v) == 0 && v == -30000 &&
                        qb_gguf_get_int(&g, "k.u32", &v) == 0 && v == 4000000000ll &&
                        qb_gguf_get_int(&g, "k.i32", &v) == 0 && v == -2000000000 &&
                        qb_gguf_get_int(&g, "k.u64", &v) == 0 && v == 1ll << 62 &&
                        qb_gguf_get_int(&g, "k.i64", &v) == 0 && v == -(1ll << 60) &&
                        qb_gguf_get_float(&g, "k.f32", &f) == 0 && f == 1.5 &&
                        qb_gguf_get_float(&g, "k.f64", &f) == 0 && f == 1e300 &&
                        qb_gguf_get_int(&g, "k.bool", &v) == 0 && v == 1;
        tap_ok(good_vals, "every scalar type reads back");
        int repl = qb_gguf_get_str(&g, "k.replaced", &sv) == 0 && !strcmp(sv, "second");
        free(sv);
        int n_repl = 0;
        for (uint64_t i = 0; i < g.n_kv; i++) n_repl += !strcmp(g.kv[i].key, "k.replaced");
        tap_ok(repl && n_repl == 1 && g.n_kv == 18, "setting a key twice replaces it (18 keys)");
        const qb_gguf_kv *e = qb_gguf_find(&g, "k.empty"), *ns = qb_gguf_find(&g, "k.no_strings"),
                         *ws = qb_gguf_find(&g, "k.words"), *fs = qb_gguf_find(&g, "k.floats");
        tap_ok(e && e->type == QB_GGUF_ARRAY && e->arr_type == QB_GGUF_INT32 && e->n == 0 && ns && ns->n == 0 &&
                   ns->arr_type == QB_GGUF_STRING && ws && ws->n == 3 && ws->strs[1].len == 0 && ws->strs[2].len == 3 &&
                   !memcmp(ws->strs[2].s, "x\0y", 3) && fs && qb_gguf_kv_float(fs, 2) == 3.25,
               "arrays: empty, strings with empty and NUL-holding elements, floats");
        const qb_gguf_tensor *tq = qb_gguf_tensor_find(&g, "q"), *tf = qb_gguf_tensor_find(&g, "f");
        tap_ok(tq && tf && tq->type == QB_TYPE_Q8_0 && tq->nbytes == sizeof q && !memcmp(tq->data, q, sizeof q) &&
                   tf->nbytes == 20 && !memcmp(tf->data, x, 20) && tf->offset % 64 == 0,
               "tensor bytes, types and aligned offsets read back");
        qb_gguf_close(&g);
    }
    unlink(path);

    char msg[512];
    char *path2 = qb_path_join(dir, "dup.gguf");
    int code = tap_child_exit(dup_tensor_writer, path2, msg, sizeof msg);
    msg[strcspn(msg, "\n")] = 0;
    tap_diag("child said: %s", msg);
    tap_ok(code == 2 && strstr(msg, "duplicate tensor a") && !qb_file_exists(path2),
           "the writer refuses a duplicate tensor name (exit 2, no file)");
    rmdir(dir);
    free(path);
    free(path2);
    free(good.b);
    return tap_done();
}
