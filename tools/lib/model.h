// model.h: a GPT-2 model in memory: its config, its tokenizer and its weights,
// whatever file they came from. Matrices are qb_weight (type + layout + data
// pointer into the mmap'ed file), so a float safetensors checkpoint (Conv1D
// [in][out], QB_LAYOUT_IN_OUT) and a quantized GGUF file (ggml [out][in],
// QB_LAYOUT_OUT_IN) fill the same struct and run through the same forward
// pass. Norm gains and biases are float32 arrays: used in place when the file
// holds them as aligned F32, converted once otherwise.
#pragma once
#include <stddef.h>

#include "hfconfig.h"
#include "kernels.h"
#include "quant.h"
#include "tokenizer.h"

typedef struct {
    const float *ln_1_g, *ln_1_b;                  // [n_embd]
    qb_weight attn_qkv; const float *attn_qkv_b;   // n_embd -> 3 n_embd, outputs q | k | v
    qb_weight attn_proj; const float *attn_proj_b; // n_embd -> n_embd
    const float *ln_2_g, *ln_2_b;                  // [n_embd]
    qb_weight mlp_fc; const float *mlp_fc_b;       // n_embd -> n_inner
    qb_weight mlp_proj; const float *mlp_proj_b;   // n_inner -> n_embd
    // Static INT8 activation scales of the four matrices (0: none, the pool's
    // activation mode applies); see qb_matmul_static.
    float act_qkv, act_proj, act_fc, act_mlp_proj;
} qb_layer;

typedef struct qb_model {
    qb_config cfg;
    qb_tokenizer *tok;
    qb_weight wte;     // token embeddings: n_vocab rows of n_embd (QB_LAYOUT_OUT_IN)
    qb_weight wpe;     // position embeddings: n_ctx rows of n_embd (QB_LAYOUT_OUT_IN)
    qb_layer *layers;  // n_layer
    const float *ln_f_g, *ln_f_b;
    qb_weight lm_head; // n_embd -> n_vocab; a copy of wte when the output is tied to it
    float act_lm_head; // its static INT8 activation scale (0: none)
    int act_mode;      // the qb_act_mode the file asks for (GGUF qbench.act_mode; default f32)
    char *path;        // as given to the loader
    char *name;        // default model name: the base name of the directory or file
    char dtype[16];    // the matrices' type: f32, f16, bf16, q8_0, ..., or "mixed"
    const char *format; // "safetensors" or "gguf"
    // Owned storage, released by qb_model_free: converted arrays and the
    // format's own state (maps, parsed headers).
    void **owned;
    int n_owned;
    void *ext;
    void (*ext_free)(void *ext);
} qb_model;

// Loads a model from path: a Hugging Face directory (config.json,
// model.safetensors or its sharded index, vocab.json, merges.txt). Dies (exit 2)
// with one line naming the file, the tensor where there is one and the problem.
//
// Extension point for other formats: qb_model_load looks at what path is (a
// directory, or a file's first bytes) and calls the matching loader; a loader
// fills a zeroed qb_model through the helpers below and then calls
// qb_model_check, which validates what every format must provide.
qb_model *qb_model_load(const char *path);
qb_model *qb_model_load_hf(const char *dir);
qb_model *qb_model_load_gguf(const char *path); // model_gguf.c
void qb_model_free(qb_model *m);

// ---- for loaders ------------------------------------------------------------
// Allocates a zeroed model with path and default name set.
qb_model *qb_model_new(const char *path, const char *format);
// Takes ownership of p (freed by qb_model_free); returns p.
void *qb_model_own(qb_model *m, void *p);
// n values of a float-typed (F32, F16, BF16) array as float32: data itself when
// it is F32 and 4-byte aligned, else a converted copy owned by m.
const float *qb_model_f32(qb_model *m, qb_type type, const void *data, size_t n);
// Checks shapes, layouts and pointers against cfg (dies naming what is wrong)
// and sets dtype from the matrices' types.
void qb_model_check(qb_model *m);

// ---- sizes --------------------------------------------------------------------
// Bytes of n values of type (n a multiple of the type's block), 0 if unknown.
size_t qb_type_bytes(qb_type type, size_t n);
size_t qb_weight_bytes(const qb_weight *w);
// Bytes one decode step reads with n_pos positions in the KV cache: every
// matrix once (lm_head too; wte and wpe one row each), every norm and bias,
// and the float32 K and V cache rows attention reads (n_pos per layer).
double qb_model_step_bytes(const qb_model *m, int n_pos);
// Parameters (elements of every tensor, the tied output counted once).
size_t qb_model_params(const qb_model *m);
// The activation handling of the run, for metrics rows: "f32" (weight-only),
// "q8" (W8A8, dynamic scales) or "q8-static" (some matrix has a calibrated scale).
const char *qb_model_act_label(const qb_model *m, qb_act_mode mode);
