// forward.h: the GPT-2 forward pass on the CPU, as a sequence of named kernel
// calls (kernels.h), and the state it runs in (activations, KV cache).
#pragma once
#include "kernels.h"
#include "model.h"

// Everything a forward pass writes. Activations hold up to max_T tokens of one
// call; the KV cache holds n_cache positions per layer, float32,
// [n_layer][n_cache][n_embd] for K and for V (heads side by side, as the
// attention kernel reads them).
typedef struct {
    int n_cache, max_T, n_threads;
    float *x;    // [max_T][n_embd]   the residual stream
    float *h;    // [max_T][n_embd]   a sublayer's normalised input
    float *qkv;  // [max_T][3 n_embd] q | k | v of each token
    float *q;    // [max_T][n_embd]   the queries, gathered for attention
    float *att;  // [max_T][n_embd]   attention output, heads side by side
    float *proj; // [max_T][n_embd]   a sublayer's output before the residual add
    float *fc;   // [max_T][n_inner]  the MLP's hidden layer
    float *k_cache, *v_cache;
    float *scores; // attention scratch: n_threads x n_cache
} qb_state;

// n_cache: the longest context this state will hold (<= the model's n_ctx);
// max_T: the most tokens one qb_forward call gets; n_threads: the pool's size.
qb_state *qb_state_new(const qb_model *m, int n_cache, int max_T, int n_threads);
void qb_state_free(qb_state *s);
// Bytes the state allocated (activations + KV cache).
size_t qb_state_bytes(const qb_model *m, const qb_state *s);

// Runs tokens[0..T) at positions pos0..pos0+T-1, appending their K and V to
// the cache (positions before pos0 must already be there: pos0 = 0 starts a
// new sequence). Writes the logits of tokens first_logit..T-1 to logits
// ([T - first_logit][n_vocab]): 0 for every token (perplexity), T - 1 for the
// last only (generation); the output projection runs only for those. Dies
// (exit 2) on a token id outside the vocabulary or a context/batch beyond the
// state.
void qb_forward(const qb_model *m, qb_state *s, qb_pool *pool, const int *tokens, int T, int pos0, float *logits,
                int first_logit);
