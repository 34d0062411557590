// hfconfig.c: see hfconfig.h.
#include "hfconfig.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

// Beyond these a config is corrupt, not a model (GPT-2 XL: 50257 x 1024
// positions x 1600 wide x 25 heads x 48 layers).
enum {
    MAX_VOCAB = 1 << 20,
    MAX_CTX = 1 << 17,
    MAX_EMBD = 1 << 16,
    MAX_LAYER = 1024,
    MAX_INNER = 1 << 18,
};

#define FAIL(...)                                                                                                      \
    do {                                                                                                               \
        snprintf(err, errlen, __VA_ARGS__);                                                                            \
        qb_one_line(err); /* jansson's error text quotes the file */                                                   \
        goto fail;                                                                                                     \
    } while (0)

// An integer key in [lo, hi]: 0 ok, 1 absent (or null), -1 error in err.
static int get_int(const json_t *root, const char *path, const char *key, long lo, long hi, int *out, char *err,
                   size_t errlen) {
    const json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 1;
    if (!json_is_integer(v)) FAIL("%s: \"%s\" is not an integer", path, key);
    json_int_t i = json_integer_value(v);
    if (i < lo || i > hi) FAIL("%s: \"%s\" = %lld is out of range [%ld, %ld]", path, key, (long long)i, lo, hi);
    *out = (int)i;
    return 0;
fail:
    return -1;
}

static int require_int(const json_t *root, const char *path, const char *key, long lo, long hi, int *out, char *err,
                       size_t errlen) {
    int r = get_int(root, path, key, lo, hi, out, err, errlen);
    if (r == 1) snprintf(err, errlen, "%s: missing required key \"%s\"", path, key);
    return r == 0 ? 0 : -1;
}

// A boolean key that must have the value GPT-2 inference here assumes.
static int check_bool(const json_t *root, const char *path, const char *key, int want, const char *why, char *err,
                      size_t errlen) {
    const json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) FAIL("%s: \"%s\" is not a boolean", path, key);
    if (json_is_true(v) != want) FAIL("%s: \"%s\": %s", path, key, why);
    return 0;
fail:
    return -1;
}

int qb_config_parse(qb_config *c, const char *path, const char *json, size_t len, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) FAIL("%s: byte %d: bad JSON: %s", path, je.position, je.text);
    if (!json_is_object(root)) FAIL("%s: not a JSON object", path);

    const json_t *mt = json_object_get(root, "model_type");
    if (mt && !(json_is_string(mt) && strcmp(json_string_value(mt), "gpt2") == 0))
        FAIL("%s: \"model_type\" is %s, not \"gpt2\"", path, json_is_string(mt) ? json_string_value(mt) : "not a string");
    if (require_int(root, path, "vocab_size", 1, MAX_VOCAB, &c->n_vocab, err, errlen)) goto fail;
    int r = get_int(root, path, "n_positions", 1, MAX_CTX, &c->n_ctx, err, errlen);
    if (r == 1) r = get_int(root, path, "n_ctx", 1, MAX_CTX, &c->n_ctx, err, errlen); // older configs
    if (r) {
        if (r == 1) snprintf(err, errlen, "%s: missing required key \"n_positions\"", path);
        goto fail;
    }
    if (require_int(root, path, "n_embd", 1, MAX_EMBD, &c->n_embd, err, errlen)) goto fail;
    if (require_int(root, path, "n_head", 1, MAX_EMBD, &c->n_head, err, errlen)) goto fail;
    if (require_int(root, path, "n_layer", 1, MAX_LAYER, &c->n_layer, err, errlen)) goto fail;
    if (c->n_embd % c->n_head != 0)
        FAIL("%s: \"n_head\" = %d does not divide \"n_embd\" = %d", path, c->n_head, c->n_embd);
    r = get_int(root, path, "n_inner", 1, MAX_INNER, &c->n_inner, err, errlen);
    if (r < 0) goto fail;
    if (r == 1) c->n_inner = 4 * c->n_embd;

    c->ln_eps = 1e-5f;
    const json_t *eps = json_object_get(root, "layer_norm_epsilon");
    if (eps && !json_is_null(eps)) {
        if (!json_is_number(eps)) FAIL("%s: \"layer_norm_epsilon\" is not a number", path);
        double e = json_number_value(eps);
        if (!(e > 0 && e <= 0.1)) FAIL("%s: \"layer_norm_epsilon\" = %g is out of range (0, 0.1]", path, e);
        c->ln_eps = (float)e;
    }
    const json_t *act = json_object_get(root, "activation_function");
    if (act) {
        const char *a = json_is_string(act) ? json_string_value(act) : "";
        if (strcmp(a, "gelu_new") && strcmp(a, "gelu_pytorch_tanh") && strcmp(a, "gelu_fast"))
            FAIL("%s: \"activation_function\" '%s' not supported (tanh-GELU only: gelu_new, gelu_pytorch_tanh)", path,
                 json_is_string(act) ? a : "(not a string)");
    }
    if (check_bool(root, path, "scale_attn_weights", 1, "unscaled attention is not supported", err, errlen) ||
        check_bool(root, path, "scale_attn_by_inverse_layer_idx", 0, "per-layer attention scaling is not supported",
                   err, errlen) ||
        check_bool(root, path, "add_cross_attention", 0, "cross-attention is not supported", err, errlen))
        goto fail;
    json_decref(root);
    return 0;
fail:
    json_decref(root);
    return -1;
}

void qb_config_load(qb_config *c, const char *path) {
    size_t len;
    char *text = qb_read_file(path, &len);
    char err[1024];
    if (qb_config_parse(c, path, text, len, err, sizeof err) != 0) qb_die(QB_EXIT_DATA, "%s", err);
    free(text);
}
