// cpu.h: what the CPU kernel files share among themselves (not part of the
// public kernels.h): the pool's chosen ISA, per-ISA matmul entry points (the
// tests call them directly to exercise every path), and helpers to split work.
#pragma once
#include "kernels.h"

// The ISA the pool's matmuls use: qb_cpu_isa() at qb_pool_new time, so a test
// can set QB_ISA and make a new pool to force a path.
qb_isa qb_pool_isa(const qb_pool *pool);

// qb_matmul on an explicitly chosen ISA (which must be <= qb_cpu_isa()).
void qb_matmul_isa(qb_isa isa, qb_pool *pool, float *y, const float *x, const qb_weight *w, const float *bias,
                   int T);

// Everything a thread needs to compute its share of one matmul. A range
// kernel computes y[t][o] for all t < T and o0 <= o < o1.
typedef struct {
    float *y;
    const float *x;
    const qb_weight *w;
    const float *bias;
    int T;
} qb_mm_args;
typedef void (*qb_mm_range_fn)(const qb_mm_args *a, int o0, int o1);

// The range kernels of each ISA for the float weight types (F32, F16, BF16),
// both layouts, any T.
void qb_mm_range_scalar(const qb_mm_args *a, int o0, int o1);
void qb_mm_range_float_avx2(const qb_mm_args *a, int o0, int o1);
void qb_mm_range_float_avx512(const qb_mm_args *a, int o0, int o1);

// Splits [0, n) into nth contiguous ranges whose boundaries are multiples of
// grain (except n itself); range ith is [*lo, *hi), possibly empty.
static inline void qb_split(int n, int grain, int ith, int nth, int *lo, int *hi) {
    long chunks = (n + grain - 1) / grain;
    long a = chunks * ith / nth * grain, b = chunks * (ith + 1) / nth * grain;
    *lo = a < n ? (int)a : n;
    *hi = b < n ? (int)b : n;
}

// ---- attention ----------------------------------------------------------------
// One qb_attention call; a work item is one (head, new token) pair.
typedef struct {
    float *out;
    const float *q, *k, *v;
    int pos0, T, n_head, head_dim;
    float *scratch;
} qb_attn_args;
// Attention of new token t (position pos0 + t) in head h; s: pos0 + T floats.
typedef void (*qb_attend_fn)(const qb_attn_args *a, int h, int t, float *s);
void qb_attend_scalar(const qb_attn_args *a, int h, int t, float *s);
void qb_attend_avx2(const qb_attn_args *a, int h, int t, float *s);
// Prefill: queries t0..t0+nq-1 (nq <= QB_ATTN_QB) of head h at once, with the
// head's keys transposed into kt ([head_dim][kt_stride], built by
// qb_attn_transpose_keys_avx2, zero-padded to a multiple of 16 keys) and
// scores in s (QB_ATTN_QB rows of kt_stride floats).
enum { QB_ATTN_QB = 4 };
void qb_attn_transpose_keys(const qb_attn_args *a, int h, float *kt, int kt_stride);
void qb_attend_block_avx2(const qb_attn_args *a, int h, int t0, int nq, const float *kt, int kt_stride, float *s);
// qb_attention on an explicitly chosen ISA (<= qb_cpu_isa()).
void qb_attention_isa(qb_isa isa, qb_pool *pool, float *out, const float *q, const float *k_cache,
                      const float *v_cache, int pos0, int T, int n_head, int head_dim, float *scratch);

// ---- elementwise ----------------------------------------------------------------
// The ISA for kernels that take no pool (gelu): qb_cpu_isa() read once per
// process, since they run hundreds of times per token.
qb_isa qb_cpu_isa_cached(void);
void qb_gelu_scalar(float *x, size_t n);
void qb_gelu_avx2(float *x, size_t n);

// ---- softmax statistics (softmax.c, softmax_avx2.c) ------------------------------
int qb_argmax_scalar(const float *x, int n);
int qb_argmax_avx2(const float *x, int n);
double qb_sum_exp_scalar(const float *x, int n, float mx, const uint8_t *skip);
double qb_sum_exp_avx2(const float *x, int n, float mx, const uint8_t *skip);
double qb_sum_exp_diff_scalar(const float *xb, const float *x, int n, float mb, double *sum_exp);
double qb_sum_exp_diff_avx2(const float *xb, const float *x, int n, float mb, double *sum_exp);
