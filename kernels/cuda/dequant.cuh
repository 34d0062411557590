// dequant.cuh: one group of 32 consecutive weights of a device row as
// float32, for every type (the slow, general path: embedding rows and GEMM
// tiles; the GEMV decodes in registers with its own lane layout).
#pragma once
#include "device.cuh"

template <typename T> __device__ __forceinline__ T qb_cvt(float v);
template <> __device__ __forceinline__ float qb_cvt<float>(float v) { return v; }
template <> __device__ __forceinline__ __half qb_cvt<__half>(float v) { return __float2half_rn(v); }

__device__ __forceinline__ float qb_ldh(const uint8_t *p) { return __half2float(*(const __half *)p); }

// v[k] = weight (row, 32 g + k) for k < 32 (values past n_in are left alone).
template <qb_type T>
__device__ __forceinline__ void qb_deq32(const uint8_t *w, const qb_planes &p, int row, int g, int n_in,
                                         float v[32]) {
    const uint8_t *q = w + (size_t)row * p.qrow;
    const uint8_t *s = w + p.scales_off + (size_t)row * p.srow;
    if constexpr (T == QB_TYPE_F32 || T == QB_TYPE_F16 || T == QB_TYPE_BF16) {
        for (int k = 0; k < 32 && g * 32 + k < n_in; k++) {
            const int i = g * 32 + k;
            if constexpr (T == QB_TYPE_F32) v[k] = ((const float *)q)[i];
            else if constexpr (T == QB_TYPE_F16) v[k] = __half2float(((const __half *)q)[i]);
            else v[k] = __uint_as_float((uint32_t)((const uint16_t *)q)[i] << 16);
        }
    } else if constexpr (T == QB_TYPE_Q8_0) {
        const int8_t *qs = (const int8_t *)(q + g * 32);
        const float d = qb_ldh(s + g * 2);
        for (int k = 0; k < 32; k++) v[k] = d * qs[k];
    } else if constexpr (T == QB_TYPE_Q4_0 || T == QB_TYPE_Q4_1 || T == QB_TYPE_IQ4_NL) {
        const uint8_t *qs = q + g * 16;
        const int sb = T == QB_TYPE_Q4_1 ? 4 : 2;
        const float d = qb_ldh(s + g * sb);
        const float m = T == QB_TYPE_Q4_1 ? qb_ldh(s + g * sb + 2) : 0.0f;
        for (int k = 0; k < 16; k++) {
            const int lo = qs[k] & 15, hi = qs[k] >> 4;
            if constexpr (T == QB_TYPE_Q4_0) {
                v[k] = d * (lo - 8);
                v[k + 16] = d * (hi - 8);
            } else if constexpr (T == QB_TYPE_Q4_1) {
                v[k] = d * lo + m;
                v[k + 16] = d * hi + m;
            } else {
                v[k] = d * qb_iq4nl_values[lo];
                v[k + 16] = d * qb_iq4nl_values[hi];
            }
        }
    } else if constexpr (T == QB_TYPE_Q4_K) {
        const int b = g / 8, j = g % 8;
        const uint8_t *qs = q + b * 128 + (j / 2) * 32;
        const uint8_t *sc = s + b * 16;
        const float d = qb_ldh(sc), dmin = qb_ldh(sc + 2);
        float scl, mn;
        qb_q4k_scale_min(j, sc + 4, &scl, &mn);
        const float d1 = d * scl, m1 = dmin * mn;
        for (int k = 0; k < 32; k++) v[k] = d1 * ((j & 1) ? qs[k] >> 4 : qs[k] & 15) - m1;
    } else if constexpr (T == QB_TYPE_Q6_K) {
        const int b = g / 8, j = g % 8, n = j / 4, qq = j % 4;
        const uint8_t *ql = q + b * 192 + n * 64 + (qq & 1) * 32;
        const uint8_t *qh = q + b * 192 + 128 + n * 32;
        const int8_t *sc = (const int8_t *)(s + b * 18) + n * 8;
        const float d = qb_ldh(s + b * 18 + 16);
        for (int l = 0; l < 32; l++) {
            const int lo = (qq & 2) ? ql[l] >> 4 : ql[l] & 15;
            const int q6 = lo | (((qh[l] >> (2 * qq)) & 3) << 4);
            v[l] = d * sc[l / 16 + 2 * qq] * (q6 - 32);
        }
    }
}

// Dequantises group g of row `row` of a matrix whose type is known only at run
// time: the position embedding may be stored in any type (quantize --embed T),
// and a lookup is one row per token, so a switch costs nothing that matters
// and saves compiling every (wte, wpe) pair of types.
__device__ inline void qb_deq32_any(qb_type type, const uint8_t *w, const qb_planes &p, int row, int g, int n, float *out) {
    switch (type) {
    case QB_TYPE_F32: qb_deq32<QB_TYPE_F32>(w, p, row, g, n, out); break;
    case QB_TYPE_F16: qb_deq32<QB_TYPE_F16>(w, p, row, g, n, out); break;
    case QB_TYPE_BF16: qb_deq32<QB_TYPE_BF16>(w, p, row, g, n, out); break;
    case QB_TYPE_Q8_0: qb_deq32<QB_TYPE_Q8_0>(w, p, row, g, n, out); break;
    case QB_TYPE_Q4_0: qb_deq32<QB_TYPE_Q4_0>(w, p, row, g, n, out); break;
    case QB_TYPE_Q4_1: qb_deq32<QB_TYPE_Q4_1>(w, p, row, g, n, out); break;
    case QB_TYPE_IQ4_NL: qb_deq32<QB_TYPE_IQ4_NL>(w, p, row, g, n, out); break;
    case QB_TYPE_Q4_K: qb_deq32<QB_TYPE_Q4_K>(w, p, row, g, n, out); break;
    case QB_TYPE_Q6_K: qb_deq32<QB_TYPE_Q6_K>(w, p, row, g, n, out); break;
    default: for (int k = 0; k < 32; k++) out[k] = __int_as_float(0x7fc00000); // the host refuses other types
    }
}
