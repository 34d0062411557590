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
    } else if constexpr (T == QB_TYPE_IQ4_NL) {
        const uint8_t *qs = q + g * 16;
        const float d = qb_ldh(s + g * 2);
        for (int k = 0; k < 16; k += 4) {
            const uint32_t u = *(const uint32_t *)(qs + k);
            const uint32_t lo = iq4nl_lookup(u & 0x0f0f0f0fu), hi = iq4nl_lookup((u >> 4) & 0x0f0f0f0fu);
            for (int j = 0; j < 4; j++) {
                v[k + j] = d * (float)((int)((lo >> 8 * j) & 255u) - 128);
                v[k + j + 16] = d * (float)((int)((hi >> 8 * j) & 255u) - 128);
            }
        }
    } else if constexpr (T == QB_TYPE_Q4_0 || T == QB_TYPE_Q4_1) {
        const uint8_t *qs = q + g * 16;
        const int sb = T == QB_TYPE_Q4_1 ? 4 : 2;
        const float d = qb_ldh(s + g * sb);
        const float m = T == QB_TYPE_Q4_1 ? qb_ldh(s + g * sb + 2) : 0.0f;
        for (int k = 0; k < 16; k++) {
            const int lo = qs[k] & 15, hi = qs[k] >> 4;
            if constexpr (T == QB_TYPE_Q4_0) {
                v[k] = d * (lo - 8);
                v[k + 16] = d * (hi - 8);
            } else {
                v[k] = d * lo + m;
                v[k + 16] = d * hi + m;
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

// ---- many rows at once (GEMM tiles, whole matrices) -------------------------------------------

// Group i = r * (n_in / 32) + g of rows r0.. as OutT into out (rows ld_out
// apart), one thread's work: the reference for qb_dequant_staged below, and
// the path for rows that are not whole groups (float types, any n_in).
template <qb_type T, typename OutT>
__device__ __forceinline__ void qb_dequant_group(OutT *out, size_t ld_out, const uint8_t *w, const qb_planes &p,
                                                 int n_in, int r0, size_t i) {
    const int groups = (n_in + 31) / 32;
    const int r = (int)(i / groups), g = (int)(i % groups);
    float v[32];
    qb_deq32<T>(w, p, r0 + r, g, n_in, v);
    OutT *o = out + (size_t)r * ld_out + (size_t)g * 32;
    const int m = min(32, n_in - g * 32);
#pragma unroll
    for (int k = 0; k < 32; k++)
        if (k < m) o[k] = qb_cvt<OutT>(v[k]);
}

// 16 bytes of OutT values from v[0..16 / sizeof(OutT)).
template <typename OutT> __device__ __forceinline__ uint4 qb_pack16(const float *v);
template <> __device__ __forceinline__ uint4 qb_pack16<float>(const float *v) {
    return make_uint4(__float_as_uint(v[0]), __float_as_uint(v[1]), __float_as_uint(v[2]), __float_as_uint(v[3]));
}
template <> __device__ __forceinline__ uint4 qb_pack16<__half>(const float *v) {
    uint4 u;
    uint32_t *h = (uint32_t *)&u;
#pragma unroll
    for (int k = 0; k < 4; k++) {
        const __half2 pair = __floats2half2_rn(v[2 * k], v[2 * k + 1]);
        memcpy(&h[k], &pair, 4);
    }
    return u;
}

// Groups block * NT .. + NT - 1 of n_groups (numbered as in qb_dequant_group)
// by a block of NT threads, where rows are whole groups and follow each other
// in out (n_in % 32 == 0, ld_out == n_in, out 16-byte aligned): each thread
// dequantises one group into shared memory, then consecutive threads write
// consecutive 16-byte words of the block's part of out.
//
// Why: a thread storing its own 32 values (qb_dequant_group) sends each warp
// store to 32 places 64 or 128 bytes apart, so the DRAM sectors are written
// a few bytes at a time. That was most of a quantized model's prompt pass:
// gpt2-xl q4_0's 16-token TTFT was 25 ms against FP16's 6 on the H100.
//
// A group's W words go to shared memory with word j at j ^ s(group), so that
// the 8 threads of a store's phase write 8 different 16-byte bank columns
// (without it, groups 64 or 128 bytes apart meet in 2 or 1 of them).
template <qb_type T, typename OutT, int NT>
__device__ __forceinline__ void qb_dequant_staged(OutT *out, const uint8_t *w, const qb_planes &p, int n_in, int r0,
                                                  size_t n_groups, size_t block) {
    constexpr int W = 32 * (int)sizeof(OutT) / 16; // words a group: 4 (FP16) or 8 (FP32)
    __shared__ uint4 stage[NT * W];
    auto swz = [](int grp) { return W == 8 ? grp & 7 : (grp >> 1) & 3; };
    const int groups = n_in / 32, t = (int)threadIdx.x;
    const size_t i0 = block * NT;
    if (i0 + t < n_groups) {
        float v[32];
        qb_deq32<T>(w, p, r0 + (int)((i0 + t) / groups), (int)((i0 + t) % groups), n_in, v);
#pragma unroll
        for (int j = 0; j < W; j++) stage[t * W + (j ^ swz(t))] = qb_pack16<OutT>(v + j * (32 / W));
    }
    __syncthreads();
    const int nw = (int)(n_groups - i0 < (size_t)NT ? n_groups - i0 : NT) * W;
    uint4 *o = (uint4 *)(out + i0 * 32);
    for (int k = t; k < nw; k += NT) o[k] = stage[(k / W) * W + ((k % W) ^ swz(k / W))];
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
