// quant_iq4nl.c: IQ4_NL, 4-bit indices into a fixed non-uniform codebook
// (denser near zero, like NF4), one f16 scale per block of 32.
//
// The quantizer is ggml's quantize_iq4_nl without importance matrix (what
// ggml_quantize_chunk and llama-quantize use): weights x^2; start from the
// scale mapping the largest magnitude onto the codebook's end, take the
// least-squares scale for those indices, then try 15 scales around it
// ((itry - 127) / max, itry = -7..7) and keep the best least-squares fit;
// finally re-index every value with the chosen (unrounded) scale.
//
// No fused multiply-adds (see quant_ref.c).
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
#include <math.h>
#include <string.h>

#include "quant.h"

#define GROUP_MAX_EPS 1e-15f
#define NTRY 7

const int8_t qb_kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// Index of the codebook value nearest to x (val sorted ascending); at an
// exact midpoint the upper one, as ggml's best_index_int8 decides it.
static inline int best_index(const int8_t *val, float x) {
    if (x <= val[0]) return 0;
    if (x >= val[15]) return 15;
    int ml = 0, mu = 15;
    while (mu - ml > 1) {
        int mav = (ml + mu) / 2;
        if (x < val[mav])
            mu = mav;
        else
            ml = mav;
    }
    return x - val[mu - 1] < val[mu] - x ? mu - 1 : mu;
}

static void quantize_block(const float *x, qb_block_iq4_nl *y) {
    const int8_t *values = qb_kvalues_iq4nl;
    uint8_t L[QB_QK4_NL];
    float weight[QB_QK4_NL];

    for (int j = 0; j < QB_QK4_NL; ++j) weight[j] = x[j] * x[j];
    float amax = 0, max = 0;
    for (int j = 0; j < QB_QK4_NL; ++j) {
        float ax = fabsf(x[j]);
        if (ax > amax) {
            amax = ax;
            max = x[j];
        }
    }
    float d = 0;
    if (amax >= GROUP_MAX_EPS) {
        d = -max / values[0];
        float id = 1 / d;
        float sumqx = 0, sumq2 = 0;
        for (int j = 0; j < QB_QK4_NL; ++j) {
            float q = values[best_index(values, id * x[j])];
            float w = weight[j];
            sumqx += w * q * x[j];
            sumq2 += w * q * q;
        }
        d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
        float best = d * sumqx;
        for (int itry = -NTRY; itry <= NTRY; ++itry) {
            id = (itry + values[0]) / max;
            sumqx = sumq2 = 0;
            for (int j = 0; j < QB_QK4_NL; ++j) {
                float q = values[best_index(values, id * x[j])];
                float w = weight[j];
                sumqx += w * q * x[j];
                sumq2 += w * q * q;
            }
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
    }
    // An all-(near-)zero block keeps d = 0 and indexes 0 * x, like ggml.
    y->d = qb_f32_to_f16(d);
    float id = d ? 1 / d : 0;
    for (int j = 0; j < QB_QK4_NL; ++j) L[j] = (uint8_t)best_index(values, id * x[j]);
    for (int j = 0; j < QB_QK4_NL / 2; ++j) y->qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
}

void qb_quantize_row_iq4_nl(const float *x, qb_block_iq4_nl *y, int64_t n) {
    const int64_t nb = n / QB_QK4_NL;
    for (int64_t i = 0; i < nb; i++) quantize_block(x + i * QB_QK4_NL, &y[i]);
}

void qb_dequantize_row_iq4_nl(const qb_block_iq4_nl *x, float *y, int64_t n) {
    const int64_t nb = n / QB_QK4_NL;
    for (int64_t i = 0; i < nb; i++, y += QB_QK4_NL) {
        const float d = qb_f16_to_f32(x[i].d);
        for (int j = 0; j < QB_QK4_NL / 2; ++j) {
            y[j] = d * qb_kvalues_iq4nl[x[i].qs[j] & 0xF];
            y[j + 16] = d * qb_kvalues_iq4nl[x[i].qs[j] >> 4];
        }
    }
}
