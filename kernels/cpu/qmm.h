// qmm.h: matmuls with block-quantized weights (internal to kernels/cpu).
//
// Every quantized type is walked in "units" of 32 consecutive weights of a
// row, each with an int8 code per weight and float scale(s) and min:
//   w[i] = s * q[i] + m           (s is s0 for i < 16, s1 for i >= 16)
//   Q8_0, Q4_0 (q - 8), IQ4_NL (codebook value): one block = one unit, m = 0;
//   Q4_1: one block, m = block min; Q4_K: a sub-block, s = d*sc, m = -dmin*mn;
//   Q6_K: 32 values of a super-block, two 16-value sub-blocks (s0 != s1).
// A dot product with x is then, per unit, s0*sum(q*x)[0:16] + s1*sum(q*x)[16:32]
// + m*sum(x): the weights are dequantized in registers, never in memory.
//   Weight-only mode: x stays float32 (f32 FMA over the codes); on AVX-512
//   VNNI the decode of every block-quantized type takes x as three int8 limbs
//   per block (qb_block_x3 below: about float precision, integer dots).
//   W8A8 mode: x is first quantized per block of 32 (qb_block_q8a: a float
//   scale, int8 codes and their sum), and sum(q*x) becomes an integer dot.
#pragma once
#include "cpu.h"
#include "quant.h"

enum { QB_UNIT = 32 };

// One activation block of 32 values: x[i] ~ d * qs[i].
typedef struct {
    float d;
    int32_t sum; // sum of qs (for the min term of Q4_1 / Q4_K)
    int8_t qs[QB_UNIT];
} qb_block_q8a;

// Weight-only decode of 4-bit codes on AVX-512 VNNI: x as three int8 limbs
// per block of 32, x[i] ~ d (qs[0][i] + qs[1][i] / 128 + qs[2][i] / 16384),
// d = amax/127, within amax * 2^-21 (float32 rounds x itself to x *
// 2^-24): the codes' dot with x is then three integer dots (vpdpbusd),
// combined exactly in int32, to about the float kernel's precision.
typedef struct {
    float d;     // NaN where the block holds NaN or Inf
    int32_t sum;  // sum over i of qs[0][i] * 16384 + qs[1][i] * 128 + qs[2][i]
    int32_t sum0; // sum over i of qs[0][i]
    int32_t sum_lo; // sum as above over i < 16
    int8_t qs[3][QB_UNIT];
} qb_block_x3;

// Whether t is a block-quantized type the kernels handle.
int qb_qmm_type(qb_type t);

// Quantizes n values of x (n a multiple of 32) into n/32 blocks: with the
// block's own scale amax/127 when scale <= 0 (dynamic), else with the fixed
// scale (clipped to [-127, 127]). A block holding NaN or Inf gets d = NaN.
void qb_quantize_act(const float *x, qb_block_q8a *y, int n, float scale);
// The same with AVX2, bit for bit (tests/unit/test_qmatmul.c compares them).
void qb_quantize_act_avx2(const float *x, qb_block_q8a *y, int n, float scale);

// x (n a multiple of 32) into n/32 blocks of three limbs (AVX-512).
void qb_quantize_x3_avx512(const float *x, qb_block_x3 *y, int n);
// Whether qb_qmm_range_avx512 decodes weight type t weight-only from three
// limbs on this CPU (it has AVX512-VNNI; Q4_0, Q4_1, Q4_K, Q6_K, IQ4_NL).
int qb_qmm_x3_avx512(qb_type t);

// Everything a thread needs for its rows of one quantized matmul.
typedef struct {
    float *y;
    const float *x;
    const qb_weight *w;
    const float *bias;
    int T;
    qb_act_mode act;
    const qb_block_q8a *xq; // W8A8: T rows of n_in/32 blocks
    const float *xsum;      // weight-only: T rows of n_in/32 sums of x over each unit
    const qb_block_x3 *x3;  // weight-only decode where qb_qmm_x3_avx512 says so, else NULL
} qb_qmm_args;
typedef void (*qb_qmm_range_fn)(const qb_qmm_args *a, int o0, int o1);

void qb_qmm_range_scalar(const qb_qmm_args *a, int o0, int o1);
void qb_qmm_range_avx2(const qb_qmm_args *a, int o0, int o1);
void qb_qmm_range_avx512(const qb_qmm_args *a, int o0, int o1);

// The quantized matmul on a given ISA and activation mode (act_scale > 0:
// static W8A8 with that scale). Called by qb_matmul_isa.
void qb_qmm(qb_isa isa, qb_act_mode act, float act_scale, qb_pool *pool, float *y, const float *x, const qb_weight *w,
            const float *bias, int T);
// The scalar reference of either mode, single-threaded.
void qb_qmm_ref(qb_act_mode act, float act_scale, float *y, const float *x, const qb_weight *w, const float *bias,
                int T);

// ---- the units of each type (scalar; the SIMD files decode the same way) -----
// Scales of unit u (0-based, 32 weights each) of a row starting at row.
static inline void qb_unit_scales(qb_type t, const void *row, int u, float *s0, float *s1, float *m) {
    *m = 0;
    switch (t) {
    case QB_TYPE_Q8_0: *s0 = *s1 = qb_f16_to_f32(((const qb_block_q8_0 *)row)[u].d); break;
    case QB_TYPE_Q4_0: *s0 = *s1 = qb_f16_to_f32(((const qb_block_q4_0 *)row)[u].d); break;
    case QB_TYPE_IQ4_NL: *s0 = *s1 = qb_f16_to_f32(((const qb_block_iq4_nl *)row)[u].d); break;
    case QB_TYPE_Q4_1: {
        const qb_block_q4_1 *b = (const qb_block_q4_1 *)row + u;
        *s0 = *s1 = qb_f16_to_f32(b->d);
        *m = qb_f16_to_f32(b->m);
        break;
    }
    case QB_TYPE_Q4_K: {
        const qb_block_q4_K *b = (const qb_block_q4_K *)row + u / 8;
        uint8_t sc, mn;
        qb_q4_K_scale_min(u % 8, b->scales, &sc, &mn);
        *s0 = *s1 = qb_f16_to_f32(b->d) * sc;
        *m = -(qb_f16_to_f32(b->dmin) * mn);
        break;
    }
    case QB_TYPE_Q6_K: {
        const qb_block_q6_K *b = (const qb_block_q6_K *)row + u / 8;
        const float d = qb_f16_to_f32(b->d);
        *s0 = d * b->scales[2 * (u % 8)];
        *s1 = d * b->scales[2 * (u % 8) + 1];
        break;
    }
    default: *s0 = *s1 = 0;
    }
}

// The 32 codes of unit u.
static inline void qb_unit_codes(qb_type t, const void *row, int u, int8_t q[QB_UNIT]) {
    switch (t) {
    case QB_TYPE_Q8_0:
        for (int i = 0; i < 32; i++) q[i] = ((const qb_block_q8_0 *)row)[u].qs[i];
        break;
    case QB_TYPE_Q4_0:
    case QB_TYPE_Q4_1:
    case QB_TYPE_IQ4_NL: {
        // Same nibble order in all three: byte j holds values j and j+16.
        const uint8_t *qs = t == QB_TYPE_Q4_1 ? ((const qb_block_q4_1 *)row)[u].qs
                            : t == QB_TYPE_Q4_0 ? ((const qb_block_q4_0 *)row)[u].qs
                                                : ((const qb_block_iq4_nl *)row)[u].qs;
        for (int j = 0; j < 16; j++) {
            int lo = qs[j] & 0xF, hi = qs[j] >> 4;
            if (t == QB_TYPE_Q4_0) lo -= 8, hi -= 8;
            if (t == QB_TYPE_IQ4_NL) lo = qb_kvalues_iq4nl[lo], hi = qb_kvalues_iq4nl[hi];
            q[j] = (int8_t)lo;
            q[j + 16] = (int8_t)hi;
        }
        break;
    }
    case QB_TYPE_Q4_K: {
        // Sub-blocks 2c and 2c+1 share the 32 bytes of chunk c: low and high nibbles.
        const qb_block_q4_K *b = (const qb_block_q4_K *)row + u / 8;
        const int s = u % 8;
        const uint8_t *qs = b->qs + 32 * (s / 2);
        for (int i = 0; i < 32; i++) q[i] = (int8_t)(s % 2 ? qs[i] >> 4 : qs[i] & 0xF);
        break;
    }
    case QB_TYPE_Q6_K: {
        // Unit s of the super-block: half h = s/4 (128 values), quarter k = s%4.
        const qb_block_q6_K *b = (const qb_block_q6_K *)row + u / 8;
        const int s = u % 8, h = s / 4, k = s % 4;
        const uint8_t *ql = b->ql + 64 * h + 32 * (k % 2), *qh = b->qh + 32 * h;
        for (int i = 0; i < 32; i++) {
            int lo = k < 2 ? ql[i] & 0xF : ql[i] >> 4;
            q[i] = (int8_t)((lo | (((qh[i] >> (2 * k)) & 3) << 4)) - 32);
        }
        break;
    }
    default:
        for (int i = 0; i < 32; i++) q[i] = 0;
    }
}
