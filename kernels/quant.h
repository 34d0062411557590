// quant.h: ggml's weight types as bytes: the block layouts (bit-exact with
// ggml-common.h, so a GGUF tensor's data is an array of these structs), the
// sizes of each type, and the reference quantizers and dequantizers.
//
// The quantizers reproduce what ggml itself writes for a tensor when no
// importance matrix is given (ggml_quantize_chunk with imatrix == NULL, what
// llama-quantize does): quantize_row_q8_0/q4_0/q4_1_ref, quantize_row_q4_K_ref
// (make_qkx2_quants), quantize_row_q6_K_ref (make_qx_quants) and
// quantize_iq4_nl (the scale search over 15 trial scales). The float
// arithmetic is written in ggml's order, with no fused multiply-adds, so the
// same floats give the same bytes.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "kernels.h"

#define QB_QK4_0 32
#define QB_QK4_1 32
#define QB_QK8_0 32
#define QB_QK4_NL 32
#define QB_QK_K 256 // the "super-block" of the k-quants

// Halves are stored as raw IEEE binary16 bits (ggml_half).
typedef struct {
    uint16_t d;             // scale: x = qs * d
    int8_t qs[QB_QK8_0];
} qb_block_q8_0;

typedef struct {
    uint16_t d;              // scale: x = (q - 8) * d
    uint8_t qs[QB_QK4_0 / 2]; // element j in the low nibble of byte j, j+16 in the high one
} qb_block_q4_0;

typedef struct {
    uint16_t d, m;            // x = q * d + m
    uint8_t qs[QB_QK4_1 / 2]; // nibbles as in q4_0
} qb_block_q4_1;

// 8 sub-blocks of 32 with 6-bit scales and mins: x = d*sc*q - dmin*m.
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[12];       // 8 scales and 8 mins, 6 bits each, packed (see get_scale_min)
    uint8_t qs[QB_QK_K / 2];  // 4 chunks of 64: bytes l hold elements l (low) and l+32 (high)
} qb_block_q4_K;

// 16 sub-blocks of 16 with 8-bit signed scales: x = d * scales[s] * (q - 32).
typedef struct {
    uint8_t ql[QB_QK_K / 2];  // low 4 bits of the 6-bit quants
    uint8_t qh[QB_QK_K / 4];  // high 2 bits
    int8_t scales[QB_QK_K / 16];
    uint16_t d;
} qb_block_q6_K;

// 4-bit indices into a fixed non-uniform codebook: x = d * kvalues[q].
typedef struct {
    uint16_t d;
    uint8_t qs[QB_QK4_NL / 2]; // nibbles as in q4_0
} qb_block_iq4_nl;

_Static_assert(sizeof(qb_block_q8_0) == 34, "block_q8_0 is 34 bytes in ggml");
_Static_assert(sizeof(qb_block_q4_0) == 18, "block_q4_0 is 18 bytes in ggml");
_Static_assert(sizeof(qb_block_q4_1) == 20, "block_q4_1 is 20 bytes in ggml");
_Static_assert(sizeof(qb_block_q4_K) == 144, "block_q4_K is 144 bytes in ggml");
_Static_assert(sizeof(qb_block_q6_K) == 210, "block_q6_K is 210 bytes in ggml");
_Static_assert(sizeof(qb_block_iq4_nl) == 18, "block_iq4_nl is 18 bytes in ggml");

// The IQ4_NL codebook (ggml's kvalues_iq4nl).
extern const int8_t qb_kvalues_iq4nl[16];

// ---- type traits ----------------------------------------------------------------
// Whether id is one of the qb_type values (the weight types qbench handles).
int qb_type_valid(int id);
// Elements per block (1 for F32/F16/BF16) and bytes per block; 0 for unknown.
int qb_type_block(qb_type t);
size_t qb_type_block_bytes(qb_type t);
// Bytes of one row of n elements (n a multiple of the block size).
size_t qb_row_bytes(qb_type t, int64_t n);
// Lower-case name as the tools spell it ("q4_k", "iq4_nl"); "?" if unknown.
const char *qb_type_name(qb_type t);
// ggml's spelling ("Q4_K", "IQ4_NL", "F32") for reports that compare with llama.cpp.
const char *qb_type_ggml_name(qb_type t);
// Parses a type name, case-insensitively ("q8_0", "Q8_0"); -1 if unknown.
int qb_type_parse(const char *name);

// ---- rows ---------------------------------------------------------------------
// x has n floats (n a multiple of qb_type_block(t)); y receives qb_row_bytes(t, n).
void qb_quantize_row(qb_type t, const float *x, void *y, int64_t n);
void qb_dequantize_row(qb_type t, const void *x, float *y, int64_t n);

// The per-type reference functions behind the two above.
void qb_quantize_row_q8_0(const float *x, qb_block_q8_0 *y, int64_t n);
void qb_quantize_row_q4_0(const float *x, qb_block_q4_0 *y, int64_t n);
void qb_quantize_row_q4_1(const float *x, qb_block_q4_1 *y, int64_t n);
void qb_quantize_row_q4_K(const float *x, qb_block_q4_K *y, int64_t n);
void qb_quantize_row_q6_K(const float *x, qb_block_q6_K *y, int64_t n);
void qb_quantize_row_iq4_nl(const float *x, qb_block_iq4_nl *y, int64_t n);
void qb_dequantize_row_q8_0(const qb_block_q8_0 *x, float *y, int64_t n);
void qb_dequantize_row_q4_0(const qb_block_q4_0 *x, float *y, int64_t n);
void qb_dequantize_row_q4_1(const qb_block_q4_1 *x, float *y, int64_t n);
void qb_dequantize_row_q4_K(const qb_block_q4_K *x, float *y, int64_t n);
void qb_dequantize_row_q6_K(const qb_block_q6_K *x, float *y, int64_t n);
void qb_dequantize_row_iq4_nl(const qb_block_iq4_nl *x, float *y, int64_t n);

// Scale and min of sub-block j (0..7) of a q4_K block, 6 bits each.
static inline void qb_q4_K_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}
