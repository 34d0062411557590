// kernels.h: the numeric core behind one header. The forward pass calls only
// these functions; the backend (CPU scalar / AVX2 / AVX-512, CUDA) and the
// weight type only decide which implementation runs.
#pragma once
#include <stddef.h>
#include <stdint.h>

// Weight types: the values are ggml's type ids, so a GGUF tensor's type field
// maps onto this enum unchanged.
typedef enum {
    QB_TYPE_F32 = 0,
    QB_TYPE_F16 = 1,
    QB_TYPE_Q4_0 = 2,
    QB_TYPE_Q4_1 = 3,
    QB_TYPE_Q8_0 = 8,
    QB_TYPE_Q4_K = 12,
    QB_TYPE_Q6_K = 14,
    QB_TYPE_IQ4_NL = 20,
    QB_TYPE_BF16 = 30,
} qb_type;

// Where the reduction (input) dimension lies in memory.
typedef enum {
    // ggml / GGUF / nn.Linear: one row per output, n_in contiguous values.
    QB_LAYOUT_OUT_IN = 0,
    // Hugging Face GPT-2 Conv1D: one row per input, n_out contiguous values.
    // Only F32, F16 and BF16 (safetensors used in place, no transposed copy).
    QB_LAYOUT_IN_OUT = 1,
} qb_layout;

// A weight matrix used in place (mmap'ed file or device memory).
typedef struct {
    qb_type type;
    qb_layout layout;
    int n_in, n_out;
    const void *data;
} qb_weight;

// ---- thread pool: a fixed set of workers, work split by the caller --------
typedef struct qb_pool qb_pool;
qb_pool *qb_pool_new(int n_threads); // n_threads >= 1; the caller is worker 0
void qb_pool_free(qb_pool *pool);
int qb_pool_size(const qb_pool *pool);
// Runs fn(ctx, ith, nth) for ith = 0..nth-1 on the pool's threads and waits.
// One caller at a time, and fn must not call qb_pool_run on the same pool.
// Idle workers spin ~50 us, then sleep (no spinning if threads > CPUs).
void qb_pool_run(qb_pool *pool, void (*fn)(void *ctx, int ith, int nth), void *ctx);

// ---- CPU features, tested at run time ------------------------------------
typedef enum {
    QB_ISA_SCALAR = 0,
    QB_ISA_AVX2 = 1,   // AVX2 + FMA + F16C
    QB_ISA_AVX512 = 2, // AVX-512 F/BW/VL (+ VNNI, BF16 used where present)
} qb_isa;
qb_isa qb_cpu_isa(void);     // best ISA this CPU runs; QB_ISA=scalar|avx2|avx512 may lower it
                             // (a pool keeps the ISA of its qb_pool_new; qb_gelu reads it once)
const char *qb_isa_name(qb_isa isa);

// ---- dense layers ---------------------------------------------------------
// y[t][o] = sum_i x[t][i] * W[o][i] + bias[o]   for t < T
// x is [T][n_in], y is [T][n_out] (row-major, float32); bias may be NULL.
// Split over the pool by output rows; dispatches on weight type, layout and ISA.
// y must not overlap x or bias; float32 accumulation; no alignment needed.
// A weight type without a CPU kernel exits 2 with a message naming the type.
void qb_matmul(qb_pool *pool, float *y, const float *x, const qb_weight *w, const float *bias, int T);
// The scalar reference every fast path is tested against.
void qb_matmul_ref(float *y, const float *x, const qb_weight *w, const float *bias, int T);

// Row r of a QB_LAYOUT_OUT_IN weight (n_in values) as float32: the embedding
// lookup, for every weight type.
void qb_weight_row(const qb_weight *w, int r, float *out);

// ---- quantized weights: how activations meet them ----------------------------
// For the block-quantized types (Q8_0, Q4_0, Q4_1, Q4_K, Q6_K, IQ4_NL; layout
// [out][in] only) the pool's activation mode picks the kernels; float weights
// ignore it. The mode is recorded in metrics rows (qb_act_name).
typedef enum {
    QB_ACT_F32 = 0, // weight-only (default): weights dequantized in registers, float32 FMA
    QB_ACT_Q8 = 1,  // W8A8: activations quantized on the fly to int8 per block of 32
                    // (scale amax/127), integer dot products
} qb_act_mode;
void qb_pool_set_act(qb_pool *pool, qb_act_mode mode);
qb_act_mode qb_pool_act(const qb_pool *pool);
const char *qb_act_name(qb_act_mode mode); // "f32" or "int8"
int qb_act_parse(const char *name);         // "f32"; "int8" or "q8"; -1 if neither
// Static INT8: like qb_matmul, but a quantized weight always meets int8
// activations quantized with one fixed scale calibrated offline,
// q = clamp(round(x / act_scale), -127, 127), whatever the pool's mode.
// act_scale <= 0 means qb_matmul.
void qb_matmul_static(qb_pool *pool, float *y, const float *x, const qb_weight *w, const float *bias, int T,
                      float act_scale);

// ---- elementwise and normalisation ----------------------------------------
// y[t] = (x[t] - mean) / sqrt(var + eps) * g + b over rows of n values
// (biased variance, as PyTorch). y may equal x.
void qb_layernorm(float *y, const float *x, const float *g, const float *b, int n, int T, float eps);
// In place tanh-approximation GELU (Hugging Face "gelu_new").
void qb_gelu(float *x, size_t n);
// y += x (the residual connection).
void qb_add(float *y, const float *x, size_t n);

// ---- softmax statistics of one row (scoring over a vocabulary) -------------
// The lowest index of the largest of x[0..n-1] (n >= 1), as a strict > scan.
int qb_argmax(const float *x, int n);
// sum of exp(x[i] - mx) in double, over the i with skip[i] == 0 (all i when
// skip is NULL). Terms below FLT_MIN's range round as expf does (to 0 at -inf).
double qb_sum_exp(const float *x, int n, float mx, const uint8_t *skip);
// For the exact KL(base || model): returns sum e_i (xb[i] - x[i]) and sets
// *sum_exp = sum e_i, where e_i = exp(xb[i] - mb); terms with e_i = 0 add 0.
double qb_sum_exp_diff(const float *xb, const float *x, int n, float mb, double *sum_exp);
// All a log-softmax needs: argmax, max = x[argmax], sum of exp(x - max)
// (log-sum-exp = max + log(sum_exp)). Within ~3e-7 relative of the FP64 sum.
void qb_logsumexp_stats(const float *x, int n, int *argmax, float *max, double *sum_exp);

// ---- attention -----------------------------------------------------------
// Causal multi-head attention of T new tokens at positions pos0..pos0+T-1
// against a cache holding positions 0..pos0+T-1 (the new tokens' K and V must
// already be stored). q: [T][n_head*head_dim]; k_cache, v_cache:
// [n_ctx][n_head*head_dim] of one layer; out: [T][n_head*head_dim].
// scratch: at least pool_size * (pos0 + T) floats. out must not overlap the
// other arrays.
void qb_attention(qb_pool *pool, float *out, const float *q, const float *k_cache, const float *v_cache, int pos0,
                  int T, int n_head, int head_dim, float *scratch);

// ---- half-precision conversions ---------------------------------------------
float qb_f16_to_f32(uint16_t h);
uint16_t qb_f32_to_f16(float f); // round to nearest even, like ggml/numpy
float qb_bf16_to_f32(uint16_t h);
uint16_t qb_f32_to_bf16(float f); // round to nearest even; NaN stays NaN
