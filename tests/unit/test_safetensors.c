// test_safetensors: the safetensors parser on a file built in memory: a valid
// one parses with the right shapes and pointers; every truncation and
// thousands of random corruptions are rejected or parse into tensors that lie
// inside the buffer (never a crash); specific lies are named. Also config.json
// parsing (defaults, fallbacks, rejections).
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "hfconfig.h"
#include "safetensors.h"

static size_t rnd(tap_rng *r, size_t n) { return (size_t)(tap_uniform(r) * (double)n); }

// Builds header JSON + data into a malloc'ed file image.
static uint8_t *build(const char *json, const uint8_t *data, size_t dlen, size_t *size) {
    size_t h = strlen(json);
    *size = 8 + h + dlen;
    uint8_t *b = malloc(*size);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(b + 8, json, h);
    memcpy(b + 8 + h, data, dlen);
    return b;
}

static const char *valid_json = "{\"__metadata__\":{\"format\":\"pt\"},"
                                "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                                "\"b\":{\"dtype\":\"F16\",\"shape\":[5],\"data_offsets\":[24,34]},"
                                "\"c\":{\"dtype\":\"BF16\",\"shape\":[1,1,3],\"data_offsets\":[34,40]},"
                                "\"e\":{\"dtype\":\"F32\",\"shape\":[0,7],\"data_offsets\":[40,40]}}  ";

static int parse(const uint8_t *b, size_t n, char *err, size_t errlen) {
    qb_safetensors st;
    memset(&st, 0, sizeof st);
    int r = qb_st_parse(&st, "mem.safetensors", b, n, err, errlen);
    if (r == 0) {
        // Whatever parsed must lie inside the buffer and be sized by its shape.
        for (int i = 0; i < st.n; i++) {
            const qb_st_tensor *t = &st.t[i];
            size_t el = t->type == QB_TYPE_F32 ? 4 : 2;
            if ((const uint8_t *)t->data < b || (const uint8_t *)t->data + t->nbytes > b + n ||
                t->nbytes != t->n_elems * el)
                r = 99;
        }
    }
    qb_st_close(&st);
    return r;
}

static void expect_error(const char *json, size_t dlen, const char *want) {
    uint8_t data[64] = {0};
    size_t n;
    uint8_t *b = build(json, data, dlen, &n);
    char err[512] = "";
    int r = parse(b, n, err, sizeof err);
    tap_ok(r == -1 && strstr(err, want) && !strchr(err, '\n'), "rejects: %s", want);
    if (r != -1 || !strstr(err, want)) tap_diag("got %d: %s", r, err);
    free(b);
}

int main(void) {
    tap_rng rng = tap_rng_new();
    uint8_t data[40];
    for (int i = 0; i < 40; i++) data[i] = (uint8_t)(i * 7 + 1);
    size_t n;
    uint8_t *file = build(valid_json, data, sizeof data, &n);

    // ---- the valid file ----
    qb_safetensors st;
    memset(&st, 0, sizeof st);
    char err[512] = "";
    int r = qb_st_parse(&st, "mem.safetensors", file, n, err, sizeof err);
    tap_ok(r == 0 && st.n == 4, "valid file parses into 4 tensors (%s)", err);
    const qb_st_tensor *a = qb_st_find(&st, "a"), *b = qb_st_find(&st, "b"), *c = qb_st_find(&st, "c"),
                       *e = qb_st_find(&st, "e");
    const size_t base = 8 + strlen(valid_json);
    tap_ok(a && a->type == QB_TYPE_F32 && a->n_dims == 2 && a->shape[0] == 2 && a->shape[1] == 3 &&
               a->data == file + base && a->nbytes == 24,
           "F32 [2,3] at the start of the data section");
    tap_ok(b && b->type == QB_TYPE_F16 && b->n_elems == 5 && b->data == file + base + 24, "F16 [5] at offset 24");
    tap_ok(c && c->type == QB_TYPE_BF16 && c->n_dims == 3 && c->data == file + base + 34, "BF16 [1,1,3] at offset 34");
    tap_ok(e && e->n_elems == 0 && e->nbytes == 0, "a zero-element tensor is fine");
    tap_ok(!qb_st_find(&st, "__metadata__") && !qb_st_find(&st, "zz"), "metadata and absent names are not tensors");
    tap_ok(a && strcmp(a->file, "mem.safetensors") == 0, "tensors know their file");
    qb_st_close(&st);

    // ---- every truncation is an error, one line, no crash ----
    int all = 1;
    for (size_t len = 0; len < n; len++) {
        uint8_t *t = malloc(len ? len : 1);
        memcpy(t, file, len);
        err[0] = 0;
        if (parse(t, len, err, sizeof err) != -1 || !err[0] || strchr(err, '\n')) {
            all = 0;
            tap_diag("truncated to %zu: %s", len, err);
        }
        free(t);
    }
    tap_ok(all, "every one of %zu truncations is rejected with a one-line error", n);

    // ---- random corruption: rejected, or parsed into in-bounds tensors ----
    int bad = 0, rejected = 0;
    const int trials = 20000;
    uint8_t *t = malloc(n);
    for (int k = 0; k < trials; k++) {
        memcpy(t, file, n);
        int flips = 1 + (int)rnd(&rng, 4);
        for (int f = 0; f < flips; f++) {
            size_t at = rnd(&rng, base + 8); // mostly the length field and header
            static const char pool[] = "0123456789[]{}\",:-eE. \\FBI8";
            t[at] = rnd(&rng, 3) ? (uint8_t)pool[rnd(&rng, sizeof pool - 1)] : (uint8_t)rnd(&rng, 256);
        }
        int res = parse(t, n, err, sizeof err);
        if (res == 99 || (res == -1 && (!err[0] || strchr(err, '\n')))) bad++;
        rejected += res == -1;
    }
    free(t);
    tap_ok(bad == 0, "%d random corruptions: %d rejected, the rest parse in bounds", trials, rejected);

    // ---- lies, named ----
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 20, "shape x F32 is 24 bytes");
    expect_error("{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "dtype F64 not supported");
    expect_error("{\"a\":{\"dtype\":\"X9\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype 'X9'");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, "end before they begin");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
                 "9 dimensions");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,4]}}", 4,
                 "absurd number of elements");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "shape[0] is not");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "shape[0] is not");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "array of two integers");
    expect_error("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "\"dtype\"");
    expect_error("{\"a\":[1,2]}", 0, "not a JSON object");
    expect_error("{\"__metadata__\":[1]}", 0, "\"__metadata__\" is not a JSON object");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}",
                 6, "overlap");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
                 "4 bytes of the data section before it belong to no tensor");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 9, "5 bytes at the end");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 2, "run past the data section");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                 "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                 4, "duplicate");
    expect_error("{\"a\":\"\\u0000\"}", 0, "bad JSON");
    expect_error("  {}", 0, "header is not a JSON object");
    free(file);

    // ---- config.json ----
    qb_config cfg;
    const char *ok_json = "{\"vocab_size\":100,\"n_positions\":32,\"n_embd\":48,\"n_head\":6,\"n_layer\":2,"
                          "\"n_inner\":null,\"activation_function\":\"gelu_new\",\"model_type\":\"gpt2\"}";
    r = qb_config_parse(&cfg, "c.json", ok_json, strlen(ok_json), err, sizeof err);
    tap_ok(r == 0 && cfg.n_vocab == 100 && cfg.n_ctx == 32 && cfg.n_embd == 48 && cfg.n_head == 6 &&
               cfg.n_layer == 2 && cfg.n_inner == 192 && cfg.ln_eps == 1e-5f,
           "config: values read, n_inner null -> 4 n_embd, eps default 1e-5 (%s)", err);
    const char *old = "{\"vocab_size\":10,\"n_ctx\":16,\"n_embd\":8,\"n_head\":2,\"n_layer\":1,\"n_inner\":20,"
                      "\"layer_norm_epsilon\":1e-6}";
    r = qb_config_parse(&cfg, "c.json", old, strlen(old), err, sizeof err);
    tap_ok(r == 0 && cfg.n_ctx == 16 && cfg.n_inner == 20 && cfg.ln_eps == 1e-6f,
           "config: n_ctx when n_positions is absent; explicit n_inner and eps (%s)", err);
    static const struct {
        const char *json, *want;
    } bad_cfg[] = {
        {"{\"n_positions\":1,\"n_embd\":8,\"n_head\":2,\"n_layer\":1}", "missing required key \"vocab_size\""},
        {"{\"vocab_size\":1,\"n_embd\":8,\"n_head\":2,\"n_layer\":1}", "missing required key \"n_positions\""},
        {"{\"vocab_size\":1,\"n_positions\":1,\"n_embd\":8,\"n_head\":3,\"n_layer\":1}", "does not divide"},
        {"{\"vocab_size\":1,\"n_positions\":1,\"n_embd\":8,\"n_head\":2,\"n_layer\":0}", "out of range"},
        {"{\"vocab_size\":1,\"n_positions\":1,\"n_embd\":8,\"n_head\":0,\"n_layer\":1}", "out of range"},
        {"{\"vocab_size\":1,\"n_positions\":1,\"n_embd\":8,\"n_head\":2,\"n_layer\":1,\"n_inner\":-4}", "out of range"},
        {"{\"vocab_size\":\"50257\",\"n_positions\":1,\"n_embd\":8,\"n_head\":2,\"n_layer\":1}", "not an integer"},
        {"{\"vocab_size\":1,\"n_positions\":1,\"n_embd\":8,\"n_head\":2,\"n_layer\":1,\"scale_attn_weights\":false}",
         "unscaled attention"},
        {"{\"vocab_size\":1,\"n_positions\":1,\"n_embd\":8,\"n_head\":2,\"n_layer\":1,"
         "\"scale_attn_by_inverse_layer_idx\":true}",
         "per-layer attention scaling"},
        {"{\"vocab_size\":1,\"n_positions\":1,\"n_embd\":8,\"n_head\":2,\"n_layer\":1,\"activation_function\":7}",
         "not supported"},
        {"[]", "not a JSON object"},
        {"{\"vocab_size\":1,", "bad JSON"},
    };
    for (size_t i = 0; i < sizeof bad_cfg / sizeof *bad_cfg; i++) {
        err[0] = 0;
        r = qb_config_parse(&cfg, "c.json", bad_cfg[i].json, strlen(bad_cfg[i].json), err, sizeof err);
        tap_ok(r == -1 && strstr(err, bad_cfg[i].want) && strncmp(err, "c.json", 6) == 0, "config rejects: %s",
               bad_cfg[i].want);
        if (r != -1 || !strstr(err, bad_cfg[i].want)) tap_diag("got: %s", err);
    }
    return tap_done();
}
