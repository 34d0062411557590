// model_hf.c: a Hugging Face GPT-2 directory (config.json, safetensors,
// vocab.json, merges.txt) into a qb_model, tensors used in place.
//
// Tensor names are GPT2Model's (h.N.attn.c_attn.weight, ...), with or without
// GPT2LMHeadModel's "transformer." prefix. Conv1D weights are [in][out], used
// as QB_LAYOUT_IN_OUT; the embeddings and an explicit lm_head.weight are
// [rows][n_embd]. The causal-mask buffers some checkpoints carry
// (attn.bias, attn.masked_bias) are not weights and are ignored.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "safetensors.h"
#include "util.h"

typedef struct {
    qb_model *m;
    const qb_safetensors *st;
    const char *prefix; // "" or "transformer."
    const char *where;  // the checkpoint, for messages
} hf_loader;

static void free_st(void *p) {
    qb_st_close(p);
    free(p);
}

static const qb_st_tensor *need(hf_loader *h, const char *name, int n_dims, int64_t d0, int64_t d1) {
    char full[160];
    snprintf(full, sizeof full, "%s%s", h->prefix, name);
    const qb_st_tensor *t = qb_st_find(h->st, full);
    if (!t) qb_die(QB_EXIT_DATA, "%s: required tensor '%s' is missing", h->where, full);
    int ok = t->n_dims == n_dims && t->shape[0] == d0 && (n_dims == 1 || t->shape[1] == d1);
    if (!ok) {
        char got[128] = "[";
        for (int i = 0; i < t->n_dims; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        strcat(got, "]");
        char want[64];
        if (n_dims == 1) snprintf(want, sizeof want, "[%lld]", (long long)d0);
        else snprintf(want, sizeof want, "[%lld, %lld]", (long long)d0, (long long)d1);
        qb_die(QB_EXIT_DATA, "%s: tensor '%s': shape %s, config.json implies %s", t->file, full, got, want);
    }
    return t;
}

// Kernels read elements through typed pointers: a tensor not aligned to its
// element size (possible in a valid file) is copied into aligned memory.
static const void *aligned_data(hf_loader *h, const qb_st_tensor *t) {
    size_t el = t->type == QB_TYPE_F32 ? 4 : 2;
    if (((uintptr_t)t->data & (el - 1)) == 0) return t->data;
    void *p = qb_model_own(h->m, qb_aligned_alloc(t->nbytes));
    memcpy(p, t->data, t->nbytes);
    return p;
}

// A [rows][n_embd] table (embedding, or nn.Linear weight [out][in]).
static qb_weight rows_weight(hf_loader *h, const char *name, int rows, int cols) {
    const qb_st_tensor *t = need(h, name, 2, rows, cols);
    return (qb_weight){t->type, QB_LAYOUT_OUT_IN, cols, rows, aligned_data(h, t)};
}

// A Conv1D weight [n_in][n_out].
static qb_weight conv_weight(hf_loader *h, const char *name, int n_in, int n_out) {
    const qb_st_tensor *t = need(h, name, 2, n_in, n_out);
    return (qb_weight){t->type, QB_LAYOUT_IN_OUT, n_in, n_out, aligned_data(h, t)};
}

static const float *vec(hf_loader *h, const char *name, int n) {
    const qb_st_tensor *t = need(h, name, 1, n, 0);
    return qb_model_f32(h->m, t->type, t->data, (size_t)n);
}

qb_model *qb_model_load_hf(const char *dir) {
    qb_model *m = qb_model_new(dir, "safetensors");
    char *p = qb_path_join(dir, "config.json");
    qb_config_load(&m->cfg, p);
    free(p);
    char *vocab = qb_path_join(dir, "vocab.json"), *merges = qb_path_join(dir, "merges.txt");
    m->tok = qb_tokenizer_load(vocab, merges);
    free(vocab);
    free(merges);

    hf_loader h = {.m = m};
    qb_safetensors *st = qb_calloc(1, sizeof *st);
    qb_st_open_dir(st, dir);
    h.st = st;
    m->ext = st;
    m->ext_free = free_st;
    h.where = st->n_files == 1 ? st->paths[0] : dir;
    h.prefix = qb_st_find(st, "transformer.wte.weight") ? "transformer." : "";

    const qb_config *c = &m->cfg;
    const int E = c->n_embd, I = c->n_inner;
    char name[128];
    m->wte = rows_weight(&h, "wte.weight", c->n_vocab, E);
    m->wpe = rows_weight(&h, "wpe.weight", c->n_ctx, E);
    m->layers = qb_calloc((size_t)c->n_layer, sizeof *m->layers);
    for (int l = 0; l < c->n_layer; l++) {
        qb_layer *L = &m->layers[l];
#define N(s) (snprintf(name, sizeof name, "h.%d.%s", l, s), name)
        L->ln_1_g = vec(&h, N("ln_1.weight"), E);
        L->ln_1_b = vec(&h, N("ln_1.bias"), E);
        L->attn_qkv = conv_weight(&h, N("attn.c_attn.weight"), E, 3 * E);
        L->attn_qkv_b = vec(&h, N("attn.c_attn.bias"), 3 * E);
        L->attn_proj = conv_weight(&h, N("attn.c_proj.weight"), E, E);
        L->attn_proj_b = vec(&h, N("attn.c_proj.bias"), E);
        L->ln_2_g = vec(&h, N("ln_2.weight"), E);
        L->ln_2_b = vec(&h, N("ln_2.bias"), E);
        L->mlp_fc = conv_weight(&h, N("mlp.c_fc.weight"), E, I);
        L->mlp_fc_b = vec(&h, N("mlp.c_fc.bias"), I);
        L->mlp_proj = conv_weight(&h, N("mlp.c_proj.weight"), I, E);
        L->mlp_proj_b = vec(&h, N("mlp.c_proj.bias"), E);
#undef N
    }
    m->ln_f_g = vec(&h, "ln_f.weight", E);
    m->ln_f_b = vec(&h, "ln_f.bias", E);
    // The output: lm_head.weight (never prefixed) when present, else tied to wte.
    if (qb_st_find(st, "lm_head.weight")) {
        const char *saved = h.prefix;
        h.prefix = "";
        m->lm_head = rows_weight(&h, "lm_head.weight", c->n_vocab, E);
        h.prefix = saved;
    } else {
        m->lm_head = m->wte;
    }
    qb_model_check(m);
    return m;
}
