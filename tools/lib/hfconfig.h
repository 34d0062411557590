// hfconfig.h: a Hugging Face GPT-2 config.json as the numbers the engine needs.
#pragma once
#include <stddef.h>

typedef struct {
    int n_vocab;   // vocab_size
    int n_ctx;     // n_positions (the position table's rows: the longest context)
    int n_embd;
    int n_head;
    int n_layer;
    int n_inner;   // n_inner, or 4 * n_embd when null or absent
    float ln_eps;  // layer_norm_epsilon (default 1e-5)
} qb_config;

// Reads path; dies (exit 2) with one line naming the file and the key on a
// missing or non-integer required key (vocab_size, n_positions or n_ctx,
// n_embd, n_head, n_layer), an absurd value (non-positive, n_head not dividing
// n_embd, sizes beyond the limits in hfconfig.c), an activation other than
// tanh-GELU (gelu_new, gelu_pytorch_tanh, gelu_fast), or a GPT-2 variant this
// engine does not compute (model_type not gpt2, unscaled attention, attention
// scaled by layer index, cross-attention).
void qb_config_load(qb_config *c, const char *path);
// The same from JSON text (for tests); returns -1 with a one-line err.
int qb_config_parse(qb_config *c, const char *path, const char *json, size_t len, char *err, size_t errlen);
