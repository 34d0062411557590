// synthetic.h: GPT-2 checkpoints with seeded random weights of the real
// shapes, in the Hugging Face layout, for measuring the speed and memory of
// shapes whose trained weights cannot be had. They are NOT trained models:
// config.json says so ("qbench_synthetic": true) and so does fetch on stderr.
//
// Tensors (names as in the Hugging Face gpt2 checkpoints; Conv1D weights are
// [in, out]; no lm_head: it is tied to wte):
//   wte.weight [vocab, n_embd], wpe.weight [n_ctx, n_embd], per layer N
//   h.N.ln_1.weight/bias [n_embd], h.N.attn.c_attn.weight [n_embd, 3 n_embd] /
//   bias [3 n_embd], h.N.attn.c_proj.weight [n_embd, n_embd] / bias,
//   h.N.ln_2.weight/bias, h.N.mlp.c_fc.weight [n_embd, 4 n_embd] / bias
//   [4 n_embd], h.N.mlp.c_proj.weight [4 n_embd, n_embd] / bias [n_embd], and
//   ln_f.weight/bias.
// Initialisation as GPT-2's (and Hugging Face's GPT2PreTrainedModel):
// weights and embeddings N(0, 0.02), the two residual projections (c_proj)
// N(0, 0.02 / sqrt(2 n_layer)), biases 0, LayerNorm weights 1 and biases 0.
// The numbers come from randn.h: the same seed gives the same bytes everywhere.
#pragma once
#include <stdint.h>
#include <stdio.h>

typedef struct {
    char name[64];
    int n_layer, n_embd, n_head, n_ctx, n_vocab;
} qb_gpt2_shape;

// The real configurations: gpt2, distilgpt2, gpt2-medium, gpt2-large, gpt2-xl.
// Returns 0 and fills out, or -1 for an unknown name.
int qb_gpt2_shape_lookup(const char *name, qb_gpt2_shape *out);
// Prints the known names, space-separated.
void qb_gpt2_shape_names(FILE *f);

typedef struct {
    qb_gpt2_shape shape;
    int f16;       // F16 tensors instead of F32
    uint64_t seed;
    int threads;   // generator threads (>= 1)
    int quiet;
} qb_synth_opts;

// Parameter count and data bytes of the checkpoint.
uint64_t qb_synth_params(const qb_gpt2_shape *s);
// Writes the safetensors file to path (streaming, atomically); its sha256 to hex.
void qb_synth_write_weights(const char *path, const qb_synth_opts *o, char hex[65]);
// Writes config.json to path (atomically); its sha256 to hex.
void qb_synth_write_config(const char *path, const qb_synth_opts *o, char hex[65]);
