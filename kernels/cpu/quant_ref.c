// quant_ref.c: type traits, the float row conversions and the reference
// quantizers of the block-of-32 types (Q8_0, Q4_0, Q4_1), in ggml's
// arithmetic order (quantize_row_*_ref in ggml-quants.c).
//
// Bit-exactness needs each float operation rounded on its own: this file must
// be compiled without contraction into fused multiply-adds (GCC's default in
// -std=c11 mode; clang needs the pragma below).
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
#include <float.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "quant.h"
#include "util.h"

// ---- traits -----------------------------------------------------------------

typedef struct {
    qb_type type;
    const char *name, *ggml_name;
    int block;
    size_t bytes;
} type_traits;

static const type_traits traits[] = {
    {QB_TYPE_F32, "f32", "F32", 1, 4},
    {QB_TYPE_F16, "f16", "F16", 1, 2},
    {QB_TYPE_BF16, "bf16", "BF16", 1, 2},
    {QB_TYPE_Q8_0, "q8_0", "Q8_0", QB_QK8_0, sizeof(qb_block_q8_0)},
    {QB_TYPE_Q4_0, "q4_0", "Q4_0", QB_QK4_0, sizeof(qb_block_q4_0)},
    {QB_TYPE_Q4_1, "q4_1", "Q4_1", QB_QK4_1, sizeof(qb_block_q4_1)},
    {QB_TYPE_Q4_K, "q4_k", "Q4_K", QB_QK_K, sizeof(qb_block_q4_K)},
    {QB_TYPE_Q6_K, "q6_k", "Q6_K", QB_QK_K, sizeof(qb_block_q6_K)},
    {QB_TYPE_IQ4_NL, "iq4_nl", "IQ4_NL", QB_QK4_NL, sizeof(qb_block_iq4_nl)},
};
#define N_TRAITS (sizeof traits / sizeof traits[0])

static const type_traits *find(int id) {
    for (size_t i = 0; i < N_TRAITS; i++)
        if ((int)traits[i].type == id) return &traits[i];
    return NULL;
}

int qb_type_valid(int id) { return find(id) != NULL; }
int qb_type_block(qb_type t) {
    const type_traits *tt = find(t);
    return tt ? tt->block : 0;
}
size_t qb_type_block_bytes(qb_type t) {
    const type_traits *tt = find(t);
    return tt ? tt->bytes : 0;
}
size_t qb_row_bytes(qb_type t, int64_t n) {
    const type_traits *tt = find(t);
    return tt ? (size_t)(n / tt->block) * tt->bytes : 0;
}
const char *qb_type_name(qb_type t) {
    const type_traits *tt = find(t);
    return tt ? tt->name : "?";
}
const char *qb_type_ggml_name(qb_type t) {
    const type_traits *tt = find(t);
    return tt ? tt->ggml_name : NULL;
}
int qb_type_parse(const char *name) {
    for (size_t i = 0; i < N_TRAITS; i++)
        if (!strcasecmp(name, traits[i].name)) return (int)traits[i].type;
    return -1;
}

// ---- block-of-32 reference quantizers ------------------------------------------

void qb_quantize_row_q8_0(const float *x, qb_block_q8_0 *y, int64_t n) {
    const int64_t nb = n / QB_QK8_0;
    for (int64_t i = 0; i < nb; i++, x += QB_QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < QB_QK8_0; j++) amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]); // ggml's MAX
        const float d = amax / 127;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = qb_f32_to_f16(d);
        for (int j = 0; j < QB_QK8_0; j++) y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

void qb_quantize_row_q4_0(const float *x, qb_block_q4_0 *y, int64_t n) {
    const int64_t nb = n / QB_QK4_0;
    for (int64_t i = 0; i < nb; i++, x += QB_QK4_0) {
        // The signed value of largest magnitude (first one on ties) maps to -8,
        // so the full range [-8, 7] is used on the side that needs it.
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QB_QK4_0; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -8;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = qb_f32_to_f16(d);
        for (int j = 0; j < QB_QK4_0 / 2; j++) {
            const float x0 = x[j] * id, x1 = x[QB_QK4_0 / 2 + j] * id;
            int8_t t0 = (int8_t)(x0 + 8.5f), t1 = (int8_t)(x1 + 8.5f); // truncation, as ggml
            const uint8_t q0 = t0 < 15 ? (uint8_t)t0 : 15, q1 = t1 < 15 ? (uint8_t)t1 : 15;
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void qb_quantize_row_q4_1(const float *x, qb_block_q4_1 *y, int64_t n) {
    const int64_t nb = n / QB_QK4_1;
    for (int64_t i = 0; i < nb; i++, x += QB_QK4_1) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < QB_QK4_1; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 15;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = qb_f32_to_f16(d);
        y[i].m = qb_f32_to_f16(min);
        for (int j = 0; j < QB_QK4_1 / 2; j++) {
            const float x0 = (x[j] - min) * id, x1 = (x[QB_QK4_1 / 2 + j] - min) * id;
            int8_t t0 = (int8_t)(x0 + 0.5f), t1 = (int8_t)(x1 + 0.5f);
            const uint8_t q0 = t0 < 15 ? (uint8_t)t0 : 15, q1 = t1 < 15 ? (uint8_t)t1 : 15;
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

// ---- dequantizers ------------------------------------------------------------------

void qb_dequantize_row_q8_0(const qb_block_q8_0 *x, float *y, int64_t n) {
    const int64_t nb = n / QB_QK8_0;
    for (int64_t i = 0; i < nb; i++) {
        const float d = qb_f16_to_f32(x[i].d);
        for (int j = 0; j < QB_QK8_0; j++) *y++ = x[i].qs[j] * d;
    }
}

void qb_dequantize_row_q4_0(const qb_block_q4_0 *x, float *y, int64_t n) {
    const int64_t nb = n / QB_QK4_0;
    for (int64_t i = 0; i < nb; i++, y += QB_QK4_0) {
        const float d = qb_f16_to_f32(x[i].d);
        for (int j = 0; j < QB_QK4_0 / 2; j++) {
            y[j] = ((x[i].qs[j] & 0x0F) - 8) * d;
            y[j + QB_QK4_0 / 2] = ((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void qb_dequantize_row_q4_1(const qb_block_q4_1 *x, float *y, int64_t n) {
    const int64_t nb = n / QB_QK4_1;
    for (int64_t i = 0; i < nb; i++, y += QB_QK4_1) {
        const float d = qb_f16_to_f32(x[i].d), m = qb_f16_to_f32(x[i].m);
        for (int j = 0; j < QB_QK4_1 / 2; j++) {
            y[j] = (x[i].qs[j] & 0x0F) * d + m;
            y[j + QB_QK4_1 / 2] = (x[i].qs[j] >> 4) * d + m;
        }
    }
}

// ---- any type ----------------------------------------------------------------------

void qb_quantize_row(qb_type t, const float *x, void *y, int64_t n) {
    switch (t) {
    case QB_TYPE_F32: memcpy(y, x, (size_t)n * sizeof(float)); break;
    case QB_TYPE_F16:
        for (int64_t i = 0; i < n; i++) ((uint16_t *)y)[i] = qb_f32_to_f16(x[i]);
        break;
    case QB_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) ((uint16_t *)y)[i] = qb_f32_to_bf16(x[i]);
        break;
    case QB_TYPE_Q8_0: qb_quantize_row_q8_0(x, y, n); break;
    case QB_TYPE_Q4_0: qb_quantize_row_q4_0(x, y, n); break;
    case QB_TYPE_Q4_1: qb_quantize_row_q4_1(x, y, n); break;
    case QB_TYPE_Q4_K: qb_quantize_row_q4_K(x, y, n); break;
    case QB_TYPE_Q6_K: qb_quantize_row_q6_K(x, y, n); break;
    case QB_TYPE_IQ4_NL: qb_quantize_row_iq4_nl(x, y, n); break;
    default: qb_die(QB_EXIT_DATA, "quantize: unknown weight type %d", (int)t);
    }
}

void qb_dequantize_row(qb_type t, const void *x, float *y, int64_t n) {
    switch (t) {
    case QB_TYPE_F32: memcpy(y, x, (size_t)n * sizeof(float)); break;
    case QB_TYPE_F16:
        for (int64_t i = 0; i < n; i++) y[i] = qb_f16_to_f32(((const uint16_t *)x)[i]);
        break;
    case QB_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) y[i] = qb_bf16_to_f32(((const uint16_t *)x)[i]);
        break;
    case QB_TYPE_Q8_0: qb_dequantize_row_q8_0(x, y, n); break;
    case QB_TYPE_Q4_0: qb_dequantize_row_q4_0(x, y, n); break;
    case QB_TYPE_Q4_1: qb_dequantize_row_q4_1(x, y, n); break;
    case QB_TYPE_Q4_K: qb_dequantize_row_q4_K(x, y, n); break;
    case QB_TYPE_Q6_K: qb_dequantize_row_q6_K(x, y, n); break;
    case QB_TYPE_IQ4_NL: qb_dequantize_row_iq4_nl(x, y, n); break;
    default: qb_die(QB_EXIT_DATA, "dequantize: unknown weight type %d", (int)t);
    }
}
