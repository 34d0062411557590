// quant_k.c: the k-quants Q4_K and Q6_K (super-blocks of 256 with quantized
// sub-block scales), reference quantizers and dequantizers in ggml's
// arithmetic order (quantize_row_q4_K_ref / quantize_row_q6_K_ref).
//
// Q4_K: each sub-block of 32 gets a scale and a min fitted by a weighted
// least-squares search over trial scales (make_qkx2_quants); the 8 scales and
// 8 mins are then quantized to 6 bits against the block's largest, and the
// values requantized with the rounded scales.
// Q6_K: each sub-block of 16 gets a symmetric scale from a search over 19
// trial scales weighted by x^2 (make_qx_quants); scales become int8 against
// the largest.
//
// No fused multiply-adds (see quant_ref.c).
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
#include <math.h>
#include <string.h>

#include "quant.h"

#define GROUP_MAX_EPS 1e-15f

// Round to nearest (ties to even) through the float adder: adding 1.5 * 2^23
// leaves the rounded integer in the low mantissa bits. Valid for |f| < 2^22;
// ggml relies on exactly this (not lrintf) so we do too, out of range included.
static inline int nearest_int(float f) {
    float v = f + 12582912.f;
    int i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

static inline int imax(int a, int b) { return a > b ? a : b; }
static inline int imin(int a, int b) { return a < b ? a : b; }

// Fits x ~ scale * L + min (L in 0..nmax, min <= 0) minimizing the weighted
// squared error: first with the plain min/max grid, then nstep+1 grids whose
// scale is stretched by rmin + rdelta*is, each followed by the closed-form
// least-squares scale and min for its L. Returns the scale, -min in *the_min.
static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min,
                              uint8_t *Laux, float rmin, float rdelta, int nstep) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)imax(0, imin(nmax, l));
        float diff = scale * L[i] + min - x[i];
        diff = diff * diff;
        best_error += weights[i] * diff;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * (x[i] - min));
            l = imax(0, imin(nmax, l));
            Laux[i] = (uint8_t)l;
            float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

// Symmetric fit x ~ scale * (L - nmax), L in 0..2*nmax-1, weights x^2 (ggml's
// rmse_type 1 without importance weights): the scale that maps the largest
// magnitude to -nmax, then 18 neighbours -(nmax + 0.1*is)/max, keeping the
// least-squares scale of the best.
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * x[i]);
        l = imax(-nmax, imin(nmax - 1, l));
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * x[i]);
            l = imax(-nmax, imin(nmax - 1, l));
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) {
                int l = nearest_int(iscale * x[i]);
                L[i] = (int8_t)(nmax + imax(-nmax, imin(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// ---- Q4_K ------------------------------------------------------------------------

void qb_quantize_row_q4_K(const float *x, qb_block_q4_K *y, int64_t n) {
    const int64_t nb = n / QB_QK_K;
    uint8_t L[QB_QK_K], Laux[32];
    float weights[32], mins[QB_QK_K / 32], scales[QB_QK_K / 32];

    for (int64_t i = 0; i < nb; i++, x += QB_QK_K) {
        float max_scale = 0, max_min = 0; // the min is subtracted, so scales are >= 0
        for (int j = 0; j < QB_QK_K / 32; ++j) {
            // Weights favour large values, relative to the sub-block's RMS.
            float sum_x2 = 0;
            for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
            float av_x = sqrtf(sum_x2 / 32);
            for (int l = 0; l < 32; ++l) weights[l] = av_x + fabsf(x[32 * j + l]);
            scales[j] = make_qkx2_quants(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -1.f, 0.1f, 20);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }

        float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
        float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
        uint8_t *s = y[i].scales;
        for (int j = 0; j < QB_QK_K / 32; ++j) {
            uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]);
            uint8_t lm = (uint8_t)nearest_int(inv_min * mins[j]);
            ls = ls < 63 ? ls : 63;
            lm = lm < 63 ? lm : 63;
            // 6-bit packing: sub-blocks 0-3 whole in bytes 0-7; 4-7 split into
            // low nibbles (bytes 8-11) and top 2 bits (bits 6-7 of bytes 0-7).
            if (j < 4) {
                s[j] = ls;
                s[j + 4] = lm;
            } else {
                s[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
                s[j - 4] |= (uint8_t)((ls >> 4) << 6);
                s[j] |= (uint8_t)((lm >> 4) << 6);
            }
        }
        y[i].d = qb_f32_to_f16(max_scale / 63.f);
        y[i].dmin = qb_f32_to_f16(max_min / 63.f);

        // Requantize with the scales as stored.
        for (int j = 0; j < QB_QK_K / 32; ++j) {
            uint8_t sc, m;
            qb_q4_K_scale_min(j, s, &sc, &m);
            const float d = qb_f16_to_f32(y[i].d) * sc;
            if (!d) continue;
            const float dm = qb_f16_to_f32(y[i].dmin) * m;
            for (int ii = 0; ii < 32; ++ii) {
                int l = nearest_int((x[32 * j + ii] + dm) / d);
                L[32 * j + ii] = (uint8_t)imax(0, imin(15, l));
            }
        }

        uint8_t *q = y[i].qs;
        for (int j = 0; j < QB_QK_K; j += 64, q += 32)
            for (int l = 0; l < 32; ++l) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

void qb_dequantize_row_q4_K(const qb_block_q4_K *x, float *y, int64_t n) {
    const int64_t nb = n / QB_QK_K;
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *q = x[i].qs;
        const float d = qb_f16_to_f32(x[i].d), min = qb_f16_to_f32(x[i].dmin);
        for (int j = 0, is = 0; j < QB_QK_K; j += 64, q += 32, is += 2) {
            uint8_t sc, m;
            qb_q4_K_scale_min(is, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            qb_q4_K_scale_min(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

// ---- Q6_K ------------------------------------------------------------------------

void qb_quantize_row_q6_K(const float *x, qb_block_q6_K *y, int64_t n) {
    const int64_t nb = n / QB_QK_K;
    int8_t L[QB_QK_K];
    float scales[QB_QK_K / 16];

    for (int64_t i = 0; i < nb; i++, x += QB_QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < QB_QK_K / 16; ++ib) {
            const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
            scales[ib] = scale;
            if (fabsf(scale) > max_abs_scale) {
                max_abs_scale = fabsf(scale);
                max_scale = scale;
            }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }

        float iscale = -128.f / max_scale;
        y[i].d = qb_f32_to_f16(1 / iscale);
        for (int ib = 0; ib < QB_QK_K / 16; ++ib) y[i].scales[ib] = (int8_t)imin(127, nearest_int(iscale * scales[ib]));

        for (int j = 0; j < QB_QK_K / 16; ++j) {
            float d = qb_f16_to_f32(y[i].d) * y[i].scales[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ++ii) {
                int l = nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)(imax(-32, imin(31, l)) + 32);
            }
        }

        // Chunks of 128: ql byte l holds elements l and l+64 (low nibbles),
        // byte l+32 holds l+32 and l+96; qh byte l holds the top 2 bits of all four.
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
        for (int j = 0; j < QB_QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; ++l) {
                const uint8_t q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF;
                const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                ql[l] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                  ((L[j + l + 96] >> 4) << 6));
            }
        }
    }
}

void qb_dequantize_row_q6_K(const qb_block_q6_K *x, float *y, int64_t n) {
    const int64_t nb = n / QB_QK_K;
    for (int64_t i = 0; i < nb; i++) {
        const float d = qb_f16_to_f32(x[i].d);
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int n0 = 0; n0 < QB_QK_K; n0 += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}
