// model_gguf.c: a GGUF file (arch gpt2, llama.cpp's tensor names and metadata
// keys, the tokenizer embedded) into a qb_model, tensors used in place.
//
// Metadata: gpt2.context_length, gpt2.embedding_length, gpt2.block_count,
// gpt2.attention.head_count, gpt2.attention.layer_norm_epsilon,
// gpt2.feed_forward_length (4 * n_embd when absent); tokenizer.ggml.model =
// gpt2 with tokenizer.ggml.tokens and tokenizer.ggml.merges. Tensors (ggml
// order: ne[0] is the input dimension): token_embd, position_embd,
// blk.N.{attn_norm, attn_qkv, attn_output, ffn_norm, ffn_up, ffn_down}
// (.weight, .bias), output_norm, and output when not tied to token_embd.
// qbench's own keys (ignored by llama.cpp): qbench.act_scale.NAME (f32), the
// static INT8 activation scale calibrated for matrix NAME.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "model.h"
#include "quant.h"
#include "util.h"

enum { MAX_VOCAB = 1 << 20, MAX_CTX = 1 << 17, MAX_EMBD = 1 << 16, MAX_LAYER = 1024, MAX_INNER = 1 << 18 };

typedef struct {
    qb_model *m;
    qb_gguf *g;
} gguf_loader;

static void free_gguf(void *p) {
    qb_gguf_close(p);
    free(p);
}

static int need_int(gguf_loader *h, const char *key, int lo, int hi, int required, int def) {
    int64_t v;
    const qb_gguf_kv *kv = qb_gguf_find(h->g, key);
    if (!kv) {
        if (required) qb_die(QB_EXIT_DATA, "%s: required key %s is missing", h->m->path, key);
        return def;
    }
    if (qb_gguf_get_int(h->g, key, &v))
        qb_die(QB_EXIT_DATA, "%s: byte %llu: key %s is not an integer", h->m->path, (unsigned long long)kv->at, key);
    if (v < lo || v > hi)
        qb_die(QB_EXIT_DATA, "%s: byte %llu: key %s = %lld is out of range [%d, %d]", h->m->path,
               (unsigned long long)kv->at, key, (long long)v, lo, hi);
    return (int)v;
}

static char *need_str(gguf_loader *h, const char *key) {
    char *s;
    if (qb_gguf_get_str(h->g, key, &s)) qb_die(QB_EXIT_DATA, "%s: required string key %s is missing", h->m->path, key);
    return s;
}

// A tensor of exactly the given ggml dims (ne[0] first).
static const qb_gguf_tensor *need(gguf_loader *h, const char *name, int n_dims, int64_t ne0, int64_t ne1) {
    const qb_gguf_tensor *t = qb_gguf_tensor_find(h->g, name);
    if (!t) qb_die(QB_EXIT_DATA, "%s: required tensor '%s' is missing", h->m->path, name);
    if (t->n_dims != n_dims || t->ne[0] != ne0 || (n_dims > 1 && t->ne[1] != ne1)) {
        char got[96] = "", want[64];
        for (int d = 0; d < t->n_dims; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "", (long long)t->ne[d]);
        if (n_dims == 1)
            snprintf(want, sizeof want, "%lld", (long long)ne0);
        else
            snprintf(want, sizeof want, "%lld, %lld", (long long)ne0, (long long)ne1);
        qb_die(QB_EXIT_DATA, "%s: byte %llu: tensor '%s' has dims [%s], the metadata implies [%s]", h->m->path,
               (unsigned long long)t->at, name, got, want);
    }
    return t;
}

// A matrix mapping n_in -> n_out: ggml dims [n_in, n_out], rows of n_in.
static qb_weight matrix(gguf_loader *h, const char *name, int n_in, int n_out) {
    const qb_gguf_tensor *t = need(h, name, 2, n_in, n_out);
    return (qb_weight){(qb_type)t->type, QB_LAYOUT_OUT_IN, n_in, n_out, t->data};
}

static const float *vec(gguf_loader *h, const char *name, int n) {
    const qb_gguf_tensor *t = need(h, name, 1, n, 0);
    if (t->type != QB_TYPE_F32 && t->type != QB_TYPE_F16 && t->type != QB_TYPE_BF16)
        qb_die(QB_EXIT_DATA, "%s: byte %llu: tensor '%s' is %s (norms and biases must be f32, f16 or bf16)",
               h->m->path, (unsigned long long)t->at, name, qb_type_name((qb_type)t->type));
    return qb_model_f32(h->m, (qb_type)t->type, t->data, (size_t)n);
}

static float act_scale(gguf_loader *h, const char *name) {
    char key[128];
    double v;
    snprintf(key, sizeof key, "qbench.act_scale.%s", name);
    if (qb_gguf_get_float(h->g, key, &v)) return 0;
    if (!(v > 0 && v < 1e30))
        qb_die(QB_EXIT_DATA, "%s: byte %llu: %s = %g is not a positive scale", h->m->path,
               (unsigned long long)qb_gguf_find(h->g, key)->at, key, v);
    return (float)v;
}

// tokenizer.ggml.tokens / merges as NUL-terminated strings (a token holding
// a NUL byte cannot be a GPT-2 byte-level token and is refused).
static char **string_list(gguf_loader *h, const char *key, int *n, int max) {
    const qb_gguf_kv *kv = qb_gguf_find(h->g, key);
    if (!kv) qb_die(QB_EXIT_DATA, "%s: required key %s is missing", h->m->path, key);
    if (kv->type != QB_GGUF_ARRAY || kv->arr_type != QB_GGUF_STRING)
        qb_die(QB_EXIT_DATA, "%s: byte %llu: %s is not an array of strings", h->m->path, (unsigned long long)kv->at, key);
    if (kv->n > (uint64_t)max)
        qb_die(QB_EXIT_DATA, "%s: byte %llu: %s has %llu entries (at most %d)", h->m->path, (unsigned long long)kv->at,
               key, (unsigned long long)kv->n, max);
    char **out = qb_calloc(kv->n ? kv->n : 1, sizeof *out);
    for (uint64_t i = 0; i < kv->n; i++) {
        if (memchr(kv->strs[i].s, 0, kv->strs[i].len))
            qb_die(QB_EXIT_DATA, "%s: byte %llu: %s entry %llu holds a NUL byte", h->m->path, (unsigned long long)kv->at,
                   key, (unsigned long long)i);
        out[i] = qb_malloc(kv->strs[i].len + 1);
        memcpy(out[i], kv->strs[i].s, kv->strs[i].len);
        out[i][kv->strs[i].len] = 0;
    }
    *n = (int)kv->n;
    return out;
}

static void free_list(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

qb_model *qb_model_load_gguf(const char *path) {
    qb_model *m = qb_model_new(path, "gguf");
    qb_gguf *g = qb_calloc(1, sizeof *g);
    char err[600];
    if (qb_gguf_open(g, path, err, sizeof err)) qb_die(QB_EXIT_DATA, "%s", err);
    m->ext = g;
    m->ext_free = free_gguf;
    gguf_loader h = {m, g};

    char *arch = need_str(&h, "general.architecture");
    if (strcmp(arch, "gpt2")) qb_die(QB_EXIT_DATA, "%s: general.architecture is '%s', not gpt2", path, arch);
    free(arch);
    qb_config *c = &m->cfg;
    c->n_ctx = need_int(&h, "gpt2.context_length", 1, MAX_CTX, 1, 0);
    c->n_embd = need_int(&h, "gpt2.embedding_length", 1, MAX_EMBD, 1, 0);
    c->n_layer = need_int(&h, "gpt2.block_count", 1, MAX_LAYER, 1, 0);
    c->n_head = need_int(&h, "gpt2.attention.head_count", 1, MAX_EMBD, 1, 0);
    c->n_inner = need_int(&h, "gpt2.feed_forward_length", 1, MAX_INNER, 0, 4 * c->n_embd);
    if (c->n_embd % c->n_head)
        qb_die(QB_EXIT_DATA, "%s: gpt2.attention.head_count = %d does not divide gpt2.embedding_length = %d", path,
               c->n_head, c->n_embd);
    double eps = 1e-5;
    const qb_gguf_kv *ekv = qb_gguf_find(g, "gpt2.attention.layer_norm_epsilon");
    if (ekv && qb_gguf_get_float(g, "gpt2.attention.layer_norm_epsilon", &eps))
        qb_die(QB_EXIT_DATA, "%s: byte %llu: gpt2.attention.layer_norm_epsilon is not a float", path,
               (unsigned long long)ekv->at);
    if (!(eps > 0 && eps <= 0.1))
        qb_die(QB_EXIT_DATA, "%s: gpt2.attention.layer_norm_epsilon = %g is out of range (0, 0.1]", path, eps);
    c->ln_eps = (float)eps;

    // The vocabulary is the token table's rows.
    const qb_gguf_tensor *te = qb_gguf_tensor_find(g, "token_embd.weight");
    if (!te) qb_die(QB_EXIT_DATA, "%s: required tensor 'token_embd.weight' is missing", path);
    if (te->n_dims != 2 || te->ne[1] < 1 || te->ne[1] > MAX_VOCAB)
        qb_die(QB_EXIT_DATA, "%s: byte %llu: token_embd.weight is not a [n_embd, n_vocab] table", path,
               (unsigned long long)te->at);
    c->n_vocab = (int)te->ne[1];

    char *tmodel = need_str(&h, "tokenizer.ggml.model");
    if (strcmp(tmodel, "gpt2")) qb_die(QB_EXIT_DATA, "%s: tokenizer.ggml.model is '%s', not gpt2", path, tmodel);
    free(tmodel);
    int n_tokens, n_merges;
    char **tokens = string_list(&h, "tokenizer.ggml.tokens", &n_tokens, MAX_VOCAB);
    char **merges = string_list(&h, "tokenizer.ggml.merges", &n_merges, MAX_VOCAB);
    m->tok = qb_tokenizer_from_lists((const char *const *)tokens, n_tokens, (const char *const *)merges, n_merges, path);
    free_list(tokens, n_tokens);
    free_list(merges, n_merges);

    const int E = c->n_embd, I = c->n_inner;
    char name[96];
    m->wte = matrix(&h, "token_embd.weight", E, c->n_vocab);
    m->wpe = matrix(&h, "position_embd.weight", E, c->n_ctx);
    m->layers = qb_calloc((size_t)c->n_layer, sizeof *m->layers);
    for (int l = 0; l < c->n_layer; l++) {
        qb_layer *L = &m->layers[l];
#define N(s) (snprintf(name, sizeof name, "blk.%d.%s", l, s), name)
        L->ln_1_g = vec(&h, N("attn_norm.weight"), E);
        L->ln_1_b = vec(&h, N("attn_norm.bias"), E);
        L->attn_qkv = matrix(&h, N("attn_qkv.weight"), E, 3 * E);
        L->act_qkv = act_scale(&h, name);
        L->attn_qkv_b = vec(&h, N("attn_qkv.bias"), 3 * E);
        L->attn_proj = matrix(&h, N("attn_output.weight"), E, E);
        L->act_proj = act_scale(&h, name);
        L->attn_proj_b = vec(&h, N("attn_output.bias"), E);
        L->ln_2_g = vec(&h, N("ffn_norm.weight"), E);
        L->ln_2_b = vec(&h, N("ffn_norm.bias"), E);
        L->mlp_fc = matrix(&h, N("ffn_up.weight"), E, I);
        L->act_fc = act_scale(&h, name);
        L->mlp_fc_b = vec(&h, N("ffn_up.bias"), I);
        L->mlp_proj = matrix(&h, N("ffn_down.weight"), I, E);
        L->act_mlp_proj = act_scale(&h, name);
        L->mlp_proj_b = vec(&h, N("ffn_down.bias"), E);
#undef N
    }
    m->ln_f_g = vec(&h, "output_norm.weight", E);
    m->ln_f_b = vec(&h, "output_norm.bias", E);
    if (qb_gguf_tensor_find(g, "output.weight")) {
        m->lm_head = matrix(&h, "output.weight", E, c->n_vocab);
        m->act_lm_head = act_scale(&h, "output.weight");
    } else {
        m->lm_head = m->wte;
        m->act_lm_head = act_scale(&h, "token_embd.weight");
    }
    char *act = NULL;
    if (qb_gguf_get_str(g, "qbench.act_mode", &act) == 0) {
        if (!strcmp(act, "q8"))
            m->act_mode = QB_ACT_Q8;
        else if (strcmp(act, "f32"))
            qb_die(QB_EXIT_DATA, "%s: qbench.act_mode '%s' is neither f32 nor q8", path, act);
        free(act);
    }
    qb_model_check(m);
    return m;
}
