// forward.c: see forward.h. One decoder block is
//   x += proj(attention(split(qkv(ln_1(x)))))
//   x += proj(gelu(fc(ln_2(x))))
// with the new tokens' K and V stored in the cache before attention reads it.
#include "forward.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

qb_state *qb_state_new(const qb_model *m, int n_cache, int max_T, int n_threads) {
    const qb_config *c = &m->cfg;
    if (n_cache < 1 || n_cache > c->n_ctx || max_T < 1 || max_T > n_cache || n_threads < 1)
        qb_die(QB_EXIT_USAGE, "state: bad sizes n_cache=%d max_T=%d threads=%d (context %d)", n_cache, max_T, n_threads,
               c->n_ctx);
    qb_state *s = qb_calloc(1, sizeof *s);
    s->n_cache = n_cache, s->max_T = max_T, s->n_threads = n_threads;
    const size_t T = (size_t)max_T, E = (size_t)c->n_embd;
    s->x = qb_aligned_alloc(T * E * sizeof(float));
    s->h = qb_aligned_alloc(T * E * sizeof(float));
    s->qkv = qb_aligned_alloc(T * 3 * E * sizeof(float));
    s->q = qb_aligned_alloc(T * E * sizeof(float));
    s->att = qb_aligned_alloc(T * E * sizeof(float));
    s->proj = qb_aligned_alloc(T * E * sizeof(float));
    s->fc = qb_aligned_alloc(T * (size_t)c->n_inner * sizeof(float));
    const size_t cache = (size_t)c->n_layer * (size_t)n_cache * E;
    s->k_cache = qb_aligned_alloc(cache * sizeof(float));
    s->v_cache = qb_aligned_alloc(cache * sizeof(float));
    s->scores = qb_aligned_alloc((size_t)n_threads * (size_t)n_cache * sizeof(float));
    return s;
}

size_t qb_state_bytes(const qb_model *m, const qb_state *s) {
    const size_t T = (size_t)s->max_T, E = (size_t)m->cfg.n_embd;
    size_t act = T * E * 7 + T * (size_t)m->cfg.n_inner;
    size_t cache = 2 * (size_t)m->cfg.n_layer * (size_t)s->n_cache * E;
    return sizeof(float) * (act + cache + (size_t)s->n_threads * (size_t)s->n_cache);
}

void qb_state_free(qb_state *s) {
    if (!s) return;
    free(s->x), free(s->h), free(s->qkv), free(s->q), free(s->att), free(s->proj), free(s->fc);
    free(s->k_cache), free(s->v_cache), free(s->scores);
    free(s);
}

// x[t] = wte[token t] + wpe[pos0 + t]
static void embed(const qb_model *m, float *x, float *row, const int *tokens, int T, int pos0) {
    const size_t E = (size_t)m->cfg.n_embd;
    for (int t = 0; t < T; t++) {
        if (tokens[t] < 0 || tokens[t] >= m->cfg.n_vocab)
            qb_die(QB_EXIT_DATA, "token id %d outside the vocabulary [0, %d)", tokens[t], m->cfg.n_vocab);
        qb_weight_row(&m->wte, tokens[t], x + t * E);
        qb_weight_row(&m->wpe, pos0 + t, row);
        qb_add(x + t * E, row, E);
    }
}

// Splits each token's q | k | v: queries to q, keys and values into the
// layer's cache at their positions.
static void store_kv(float *q, float *k_cache, float *v_cache, const float *qkv, int T, int pos0, int E) {
    for (int t = 0; t < T; t++) {
        const float *r = qkv + (size_t)t * 3 * E;
        memcpy(q + (size_t)t * E, r, (size_t)E * sizeof(float));
        memcpy(k_cache + (size_t)(pos0 + t) * E, r + E, (size_t)E * sizeof(float));
        memcpy(v_cache + (size_t)(pos0 + t) * E, r + 2 * E, (size_t)E * sizeof(float));
    }
}

void qb_forward(const qb_model *m, qb_state *s, qb_pool *pool, const int *tokens, int T, int pos0, float *logits,
                int first_logit) {
    const qb_config *c = &m->cfg;
    const int E = c->n_embd, H = c->n_head;
    const float eps = c->ln_eps;
    if (T < 1 || T > s->max_T || pos0 < 0 || pos0 + T > s->n_cache || first_logit < 0 || first_logit >= T)
        qb_die(QB_EXIT_DATA, "forward: %d tokens at position %d (logits from %d) do not fit (batch %d, context %d)", T,
               pos0, first_logit, s->max_T, s->n_cache);
    if (qb_pool_size(pool) > s->n_threads)
        qb_die(QB_EXIT_USAGE, "forward: pool of %d threads, state sized for %d", qb_pool_size(pool), s->n_threads);
    const size_t cache_layer = (size_t)s->n_cache * E;

    embed(m, s->x, s->h, tokens, T, pos0);
    for (int l = 0; l < c->n_layer; l++) {
        const qb_layer *L = &m->layers[l];
        float *k_cache = s->k_cache + l * cache_layer, *v_cache = s->v_cache + l * cache_layer;
        // attention sublayer
        qb_layernorm(s->h, s->x, L->ln_1_g, L->ln_1_b, E, T, eps);
        qb_matmul_static(pool, s->qkv, s->h, &L->attn_qkv, L->attn_qkv_b, T, L->act_qkv);
        store_kv(s->q, k_cache, v_cache, s->qkv, T, pos0, E);
        qb_attention(pool, s->att, s->q, k_cache, v_cache, pos0, T, H, E / H, s->scores);
        qb_matmul_static(pool, s->proj, s->att, &L->attn_proj, L->attn_proj_b, T, L->act_proj);
        qb_add(s->x, s->proj, (size_t)T * E);
        // MLP sublayer
        qb_layernorm(s->h, s->x, L->ln_2_g, L->ln_2_b, E, T, eps);
        qb_matmul_static(pool, s->fc, s->h, &L->mlp_fc, L->mlp_fc_b, T, L->act_fc);
        qb_gelu(s->fc, (size_t)T * c->n_inner);
        qb_matmul_static(pool, s->proj, s->fc, &L->mlp_proj, L->mlp_proj_b, T, L->act_mlp_proj);
        qb_add(s->x, s->proj, (size_t)T * E);
    }
    // Final norm and the output projection, for the tokens whose logits are asked for.
    const int n = T - first_logit;
    qb_layernorm(s->h, s->x + (size_t)first_logit * E, m->ln_f_g, m->ln_f_b, E, n, eps);
    qb_matmul_static(pool, logits, s->h, &m->lm_head, NULL, n, m->act_lm_head);
}
