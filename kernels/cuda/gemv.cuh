// gemv.cuh: the batch-1 decode matmul's device code: how each weight type's
// lanes load and multiply (the T* structs) and one block's rows
// (qb_gemv_rows), shared by the GEMV kernel (gemv.cu) and the persistent
// decode step (decode_step.cuh). See gemv.cu for the scheme.
#pragma once
#include <string.h>

#include "cuda_backend.h"
#include "device.cuh"

#ifdef QB_SIMT // the CPU emulator: plain loads
__device__ __forceinline__ uint4 ldw16(const uint8_t *p) {
    uint4 v;
    memcpy(&v, p, 16);
    return v;
}
__device__ __forceinline__ uint2 ldw8(const uint8_t *p) {
    uint2 v;
    memcpy(&v, p, 8);
    return v;
}
__device__ __forceinline__ uint32_t ldw4(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
__device__ __forceinline__ uint32_t ldw2(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}
#else
__device__ __forceinline__ uint4 ldw16(const uint8_t *p) {
    uint4 v;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
        : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
        : "l"(p));
    return v;
}
__device__ __forceinline__ uint2 ldw8(const uint8_t *p) {
    uint2 v;
    asm("ld.global.nc.L1::no_allocate.v2.u32 {%0,%1}, [%2];" : "=r"(v.x), "=r"(v.y) : "l"(p));
    return v;
}
__device__ __forceinline__ uint32_t ldw4(const uint8_t *p) {
    uint32_t v;
    asm("ld.global.nc.L1::no_allocate.u32 %0, [%1];" : "=r"(v) : "l"(p));
    return v;
}

__device__ __forceinline__ uint32_t ldw2(const uint8_t *p) {
    unsigned short v;
    asm("ld.global.nc.L1::no_allocate.u16 %0, [%1];" : "=h"(v) : "l"(p));
    return v;
}
#endif
// The float16 in the low half of u.
__device__ __forceinline__ float h2f(uint32_t u) { return __half2float(__ushort_as_half((unsigned short)(u & 0xffffu))); }

// 2^23 + byte k of u, as a float. 2^23's bits come from magic_reg(), a value
// ptxas cannot fold: given the constant, it fills the permute's one immediate
// slot with it and first moves the selector into a register, one more
// instruction a weight (Q4_0's k_gemv loop: 413 instructions for 64 weights a
// lane, 336 this way).
__device__ __forceinline__ uint32_t magic_reg() { return 0x4B000000u | (gridDim.x >> 31); }
__device__ __forceinline__ float bytef(uint32_t u, int k) { return __uint_as_float(__byte_perm(u, magic_reg(), 0x7650 + k)); }
#define MAGIC 8388608.0f

// x from global memory (L1-cached) or, with a fused layernorm, from shared memory.
__device__ __forceinline__ float4 ldx4(const float *x, int i) { return *(const float4 *)(x + i); }

// ---- the types: one step of one lane ----------------------------------------------------------
// NW: 32-bit words a lane loads per step; NX: x values it uses; UNROLL:
// steps whose loads are in flight together; QSTEP, SSTEP: the bytes one step
// moves on in a row's quant and scale planes (load(q, sc, s) reads what
// load(q + s * QSTEP, sc + s * SSTEP, 0) does). load() reads
// the lane's words of a row; xs() its x values (xv[k] for the k-th value in
// the type's own order); dot() the row's contribution from them.

// F32: 4 weights per lane (16 bytes), x contiguous.
struct TF32 {
    static constexpr int NW = 4, NX = 4, PER_STEP = 128;
    static constexpr int QSTEP = PER_STEP * 4, SSTEP = 0; // bytes a step moves on in each plane
    static constexpr int LANE_BYTES = 16; // a lane loads a step of a row
    using XV = float[NX]; // a lane's x values for one step
    static constexpr int UNROLL = 2; // steps in flight: 32 bytes a lane a row
    static constexpr bool DEEP = false; // (deeper on long rows: gpt2-large +4 %, gpt2-xl -3 %)
    static __host__ __device__ int steps(int n_in) { return (n_in + PER_STEP - 1) / PER_STEP; }
    static __device__ bool live(int n_in, int s, int lane) { return s * PER_STEP + lane * 4 < n_in; }
    static __device__ void load(const uint8_t *q, const uint8_t *sc, int s, int lane, uint32_t *w) {
        (void)sc;
        uint4 v = ldw16(q + ((size_t)s * PER_STEP + lane * 4) * 4);
        w[0] = v.x, w[1] = v.y, w[2] = v.z, w[3] = v.w;
    }
    static __device__ void xs(const float *x, int n_in, int s, int lane, float *xv) {
        const int i = s * PER_STEP + lane * 4;
        if (i + 4 <= n_in) {
            float4 a = ldx4(x, i);
            xv[0] = a.x, xv[1] = a.y, xv[2] = a.z, xv[3] = a.w;
        } else
            for (int k = 0; k < 4; k++) xv[k] = i + k < n_in ? x[i + k] : 0.0f;
    }
    static __device__ float dot(int, const uint32_t *w, const float *xv) {
        float a = 0;
#pragma unroll
        for (int k = 0; k < 4; k++) a = fmaf(__uint_as_float(w[k]), xv[k], a);
        return a;
    }
};

// F16 and BF16: 8 weights per lane (16 bytes).
template <bool BF>
struct THalf {
    static constexpr int NW = 4, NX = 8, PER_STEP = 256;
    static constexpr int QSTEP = PER_STEP * 2, SSTEP = 0; // bytes a step moves on in each plane
    static constexpr int LANE_BYTES = 16; // a lane loads a step of a row
    using XV = float[NX]; // a lane's x values for one step
    static constexpr int UNROLL = 2; // steps in flight: 32 bytes a lane a row
    static constexpr bool DEEP = true; // long rows load deeper ahead (qb_gemv_unroll)
    static __host__ __device__ int steps(int n_in) { return (n_in + PER_STEP - 1) / PER_STEP; }
    static __device__ bool live(int n_in, int s, int lane) { return s * PER_STEP + lane * 8 < n_in; }
    static __device__ void load(const uint8_t *q, const uint8_t *sc, int s, int lane, uint32_t *w) {
        (void)sc;
        uint4 v = ldw16(q + ((size_t)s * PER_STEP + lane * 8) * 2);
        w[0] = v.x, w[1] = v.y, w[2] = v.z, w[3] = v.w;
    }
    static __device__ void xs(const float *x, int n_in, int s, int lane, float *xv) {
        const int i = s * PER_STEP + lane * 8;
        if (i + 8 <= n_in) {
            float4 a = ldx4(x, i), b = ldx4(x, i + 4);
            xv[0] = a.x, xv[1] = a.y, xv[2] = a.z, xv[3] = a.w;
            xv[4] = b.x, xv[5] = b.y, xv[6] = b.z, xv[7] = b.w;
        } else
            for (int k = 0; k < 8; k++) xv[k] = i + k < n_in ? x[i + k] : 0.0f;
    }
    static __device__ float dot(int, const uint32_t *w, const float *xv) {
        float a = 0;
#pragma unroll
        for (int k = 0; k < 4; k++) {
            float lo, hi;
            if (BF) {
                lo = __uint_as_float(w[k] << 16);
                hi = __uint_as_float(w[k] & 0xffff0000u);
            } else {
                float2 f = __half22float2(*(const __half2 *)&w[k]);
                lo = f.x, hi = f.y;
            }
            a = fmaf(lo, xv[2 * k], a);
            a = fmaf(hi, xv[2 * k + 1], a);
        }
        return a;
    }
};

// Q8_0: 8 weights per lane (8 bytes); 4 lanes share a block of 32.
struct TQ8_0 {
    static constexpr int NW = 3, NX = 8, PER_STEP = 256;
    static constexpr int QSTEP = PER_STEP, SSTEP = 16; // bytes a step moves on in each plane
    static constexpr int LANE_BYTES = 8 + 2; // a lane loads a step of a row
    using XV = float[NX]; // a lane's x values for one step
    static constexpr int UNROLL = 2; // steps in flight: 16 bytes a lane a row (32: xl q8_0 3.5% slower)
    static constexpr bool DEEP = false; // (deeper on long rows: gpt2-xl q4_0 and q8_0 5 % slower)
    static __host__ __device__ int steps(int n_in) { return n_in / PER_STEP + (n_in % PER_STEP != 0); }
    static __device__ bool live(int n_in, int s, int lane) { return s * PER_STEP + lane * 8 < n_in; }
    static __device__ void load(const uint8_t *q, const uint8_t *sc, int s, int lane, uint32_t *w) {
        uint2 v = ldw8(q + (size_t)s * PER_STEP + lane * 8);
        w[0] = v.x, w[1] = v.y;
        w[2] = ldw2(sc + (size_t)(s * 8 + lane / 4) * 2);
    }
    static __device__ void xs(const float *x, int, int s, int lane, float *xv) {
        const int i = s * PER_STEP + lane * 8;
        float4 a = ldx4(x, i), b = ldx4(x, i + 4);
        xv[0] = a.x, xv[1] = a.y, xv[2] = a.z, xv[3] = a.w;
        xv[4] = b.x, xv[5] = b.y, xv[6] = b.z, xv[7] = b.w;
    }
    static __device__ float dot(int lane, const uint32_t *w, const float *xv) {
        const float d = h2f(w[2]);
        float a = 0;
#pragma unroll
        for (int k = 0; k < 2; k++) {
            const uint32_t u = w[k] ^ 0x80808080u; // int8 -> uint8 biased by 128
#pragma unroll
            for (int j = 0; j < 4; j++) a = fmaf(bytef(u, j) - (MAGIC + 128.0f), xv[4 * k + j], a);
        }
        return d * a;
    }
};

// Q4_0, Q4_1, IQ4_NL: 4 bytes per lane = weights j..j+3 (low nibbles) and
// j+16..j+19 (high nibbles) of a block; 4 lanes share a block of 32.
template <qb_type T>
struct TQ4 {
    static constexpr int NW = 2, NX = 8, PER_STEP = 256;
    static constexpr int QSTEP = 128; // quant bytes a step moves on (scales: SSTEP below)
    using XV = float[NX]; // a lane's x values for one step
    // Steps in flight: 16 bytes a lane a row. 8 (32 bytes) held 115 registers a
    // thread at two rows, a quarter of the SM's warps: xl q4_0 -1%, iq4_nl -5%.
    static constexpr int UNROLL = 4;
    static constexpr bool DEEP = false; // (deeper on long rows: gpt2-xl q4_0 and q8_0 5 % slower)
    static constexpr int SB = T == QB_TYPE_Q4_1 ? 4 : 2; // scale bytes per block
    static constexpr int SSTEP = 8 * SB;
    static constexpr int LANE_BYTES = 4 + SB; // a lane loads a step of a row
    static __host__ __device__ int steps(int n_in) { return (n_in + PER_STEP - 1) / PER_STEP; }
    static __device__ bool live(int n_in, int s, int lane) { return s * PER_STEP + (lane / 4) * 32 < n_in; }
    static __device__ void load(const uint8_t *q, const uint8_t *sc, int s, int lane, uint32_t *w) {
        w[0] = ldw4(q + (size_t)s * 128 + lane * 4);
        const uint8_t *sp = sc + (size_t)(s * 8 + lane / 4) * SB;
        w[1] = SB == 4 ? ldw4(sp) : ldw2(sp);
    }
    static __device__ void xs(const float *x, int, int s, int lane, float *xv) {
        const int i = s * PER_STEP + (lane / 4) * 32 + (lane % 4) * 4;
        float4 a = ldx4(x, i), b = ldx4(x, i + 16);
        xv[0] = a.x, xv[1] = a.y, xv[2] = a.z, xv[3] = a.w;
        xv[4] = b.x, xv[5] = b.y, xv[6] = b.z, xv[7] = b.w;
    }
    static __device__ float dot(int lane, const uint32_t *w, const float *xv) {
        const float d = h2f(w[1]);
        const uint32_t lo = w[0] & 0x0f0f0f0fu, hi = (w[0] >> 4) & 0x0f0f0f0fu;
        float a = 0;
        if constexpr (T == QB_TYPE_Q4_0) {
#pragma unroll
            for (int j = 0; j < 4; j++) {
                a = fmaf(bytef(lo, j) - (MAGIC + 8.0f), xv[j], a);
                a = fmaf(bytef(hi, j) - (MAGIC + 8.0f), xv[4 + j], a);
            }
            return d * a;
        } else if constexpr (T == QB_TYPE_Q4_1) {
            float sx = 0;
#pragma unroll
            for (int j = 0; j < 4; j++) {
                a = fmaf(bytef(lo, j) - MAGIC, xv[j], a);
                a = fmaf(bytef(hi, j) - MAGIC, xv[4 + j], a);
                sx += xv[j] + xv[4 + j];
            }
            return d * a + h2f(w[1] >> 16) * sx;
        } else { // IQ4_NL: the codebook looked up with byte permutes
            const uint32_t l = iq4nl_lookup(lo), h = iq4nl_lookup(hi);
#pragma unroll
            for (int j = 0; j < 4; j++) {
                a = fmaf(bytef(l, j) - (MAGIC + 128.0f), xv[j], a);
                a = fmaf(bytef(h, j) - (MAGIC + 128.0f), xv[4 + j], a);
            }
            return d * a;
        }
    }
};

// Q4_K's scales and minimums of sub-blocks 2c and 2c+1 (qb_q4k_scale_min's
// values) from the 12 scale bytes in three words, by shifts and masks: the
// bytes picked by a lane-dependent index would put the words in local memory.
__device__ __forceinline__ void q4k_scale_min_pair(const uint32_t *q, int c, float *s1, float *m1, float *s2,
                                                   float *m2) {
    const int h = (c & 1) * 16; // bytes 2c, 2c+1 (c < 2) or 2c-4, 2c-3 of each word
    const uint32_t a = (q[0] >> h) & 0xffffu, b = (q[1] >> h) & 0xffffu, d = (q[2] >> h) & 0xffffu;
    uint32_t sp, mp; // the two scales, the two minimums (one a byte)
    if (c < 2) {
        sp = a & 0x3f3fu;
        mp = b & 0x3f3fu;
    } else {
        sp = (d & 0x0f0fu) | (((a >> 6) & 0x0303u) << 4);
        mp = ((d >> 4) & 0x0f0fu) | (((b >> 6) & 0x0303u) << 4);
    }
    *s1 = (float)(sp & 0xffu), *s2 = (float)(sp >> 8);
    *m1 = (float)(mp & 0xffu), *m2 = (float)(mp >> 8);
}

// Q4_K: one step is one super-block (128 quant bytes, 256 weights); lane l
// reads 4 bytes of the 32-byte chunk c = l/8: weights 64c + j..j+3 (low
// nibbles, sub-block 2c) and 64c + 32 + j..j+3 (high nibbles, sub-block 2c+1).
struct TQ4_K {
    static constexpr int NW = 5, NX = 8, PER_STEP = 256;
    static constexpr int QSTEP = 128, SSTEP = 16; // bytes a step moves on in each plane
    static constexpr int LANE_BYTES = 4 + 16; // a lane loads a step of a row
    using XV = float[NX]; // a lane's x values for one step
    static constexpr int UNROLL = 8; // steps in flight: 32 bytes a lane a row
    static constexpr bool DEEP = false; // (deeper on long rows: gpt2-xl q4_0 and q8_0 5 % slower)
    static __host__ __device__ int steps(int n_in) { return n_in / PER_STEP; }
    static __device__ bool live(int, int, int) { return true; }
    static __device__ void load(const uint8_t *q, const uint8_t *sc, int s, int lane, uint32_t *w) {
        w[0] = ldw4(q + (size_t)s * 128 + lane * 4);
        uint4 v = ldw16(sc + (size_t)s * 16); // d, dmin, scales[12]: the same for the whole warp
        w[1] = v.x, w[2] = v.y, w[3] = v.z, w[4] = v.w;
    }
    static __device__ void xs(const float *x, int, int s, int lane, float *xv) {
        const int i = s * PER_STEP + (lane / 8) * 64 + (lane % 8) * 4;
        float4 a = ldx4(x, i), b = ldx4(x, i + 32);
        xv[0] = a.x, xv[1] = a.y, xv[2] = a.z, xv[3] = a.w;
        xv[4] = b.x, xv[5] = b.y, xv[6] = b.z, xv[7] = b.w;
    }
    static __device__ float dot(int lane, const uint32_t *w, const float *xv) {
        const float d = h2f(w[1]), dmin = h2f(w[1] >> 16);
        const int c = lane / 8;
        float s1, m1, s2, m2;
        q4k_scale_min_pair(w + 2, c, &s1, &m1, &s2, &m2);
        const uint32_t lo = w[0] & 0x0f0f0f0fu, hi = (w[0] >> 4) & 0x0f0f0f0fu;
        float a1 = 0, a2 = 0, x1 = 0, x2 = 0;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            a1 = fmaf(bytef(lo, j) - MAGIC, xv[j], a1);
            a2 = fmaf(bytef(hi, j) - MAGIC, xv[4 + j], a2);
            x1 += xv[j];
            x2 += xv[4 + j];
        }
        return d * (s1 * a1 + s2 * a2) - dmin * (m1 * x1 + m2 * x2);
    }
};

// Q6_K: a step is two super-blocks (384 quant bytes); lane l works in
// super-block l/16, half n = (l/8)%2, positions j = 4(l%8)..+3 of that half:
// ql words at 64n + j and 64n + 32 + j, the qh word at 128 + 32n + j give the
// weights j, j+32, j+64, j+96 (+ 128n) with scales sc[8n + j/16 + 2q].
struct TQ6_K {
    static constexpr int NW = 8, NX = 16, PER_STEP = 512;
    static constexpr int QSTEP = 2 * 192, SSTEP = 2 * 18; // bytes a step moves on in each plane
    static constexpr int LANE_BYTES = 12 + 10; // a lane loads a step of a row
    using XV = float[NX]; // a lane's x values for one step
    static constexpr int UNROLL = 3; // steps in flight: 36 bytes a lane a row
    static constexpr bool DEEP = false; // (deeper on long rows: gpt2-xl q4_0 and q8_0 5 % slower)
    static __host__ __device__ int steps(int n_in) { return (n_in / 256 + 1) / 2; }
    static __device__ bool live(int n_in, int s, int lane) { return s * PER_STEP + (lane / 16) * 256 < n_in; }
    static __device__ void load(const uint8_t *q, const uint8_t *sc, int s, int lane, uint32_t *w) {
        const uint8_t *b = q + (size_t)(s * 2 + lane / 16) * 192;
        const int n = (lane / 8) % 2, j = (lane % 8) * 4;
        w[0] = ldw4(b + 64 * n + j);
        w[1] = ldw4(b + 64 * n + 32 + j);
        w[2] = ldw4(b + 128 + 32 * n + j);
        // Scales sc[8n + j/16 + 2q] (q < 4) sit in the 16-bit words 4n + q; d after them.
        const uint8_t *sp = sc + (size_t)(s * 2 + lane / 16) * 18;
#pragma unroll
        for (int k = 0; k < 4; k++) w[3 + k] = ldw2(sp + 8 * n + 2 * k);
        w[7] = ldw2(sp + 16);
    }
    static __device__ void xs(const float *x, int, int s, int lane, float *xv) {
        const int i = s * PER_STEP + (lane / 16) * 256 + ((lane / 8) % 2) * 128 + (lane % 8) * 4;
#pragma unroll
        for (int q = 0; q < 4; q++) {
            float4 a = ldx4(x, i + 32 * q);
            xv[4 * q] = a.x, xv[4 * q + 1] = a.y, xv[4 * q + 2] = a.z, xv[4 * q + 3] = a.w;
        }
    }
    static __device__ float dot(int lane, const uint32_t *w, const float *xv) {
        const int is = (lane % 8) / 4; // j / 16
        const float d = h2f(w[7]);
        const uint32_t h = w[2];
        uint32_t q6[4];
        q6[0] = (w[0] & 0x0f0f0f0fu) | ((h << 4) & 0x30303030u);
        q6[1] = (w[1] & 0x0f0f0f0fu) | ((h << 2) & 0x30303030u);
        q6[2] = ((w[0] >> 4) & 0x0f0f0f0fu) | (h & 0x30303030u);
        q6[3] = ((w[1] >> 4) & 0x0f0f0f0fu) | ((h >> 2) & 0x30303030u);
        float r = 0;
#pragma unroll
        for (int q = 0; q < 4; q++) {
            float a = 0;
#pragma unroll
            for (int k = 0; k < 4; k++) a = fmaf(bytef(q6[q], k) - (MAGIC + 32.0f), xv[4 * q + k], a);
            r = fmaf((float)(int8_t)(w[3 + q] >> (8 * is)), a, r);
        }
        return d * r;
    }
};

// ---- the kernel ------------------------------------------------------------------------------

// KS warps of a block share its R rows, each taking every KS-th step, so
// even a short, wide matrix (1600 rows of 6400) has warps enough in flight.
#define KS 4

struct gemv_args {
    float *y;
    const float *x;
    const uint8_t *w;
    size_t qrow, srow, scales_off;
    int n_in, n_out;
    const float *bias;
    int epi;
    // Fused K/V store (the QKV projection): rows [E, 3E) also go to the caches.
    __half *k_cache, *v_cache;
    int pos0;
    const int *d_pos;
    // Fused layernorm of x (n_in values) before the product, when ln_g is set.
    const float *ln_g, *ln_b;
    float ln_eps;
    // Bytes sent towards L2 while this GEMV waits for its input: the weights of
    // a GEMV further down the decode chain (QB_CUDA_PREFETCH; pf_bytes 0: none).
    const uint8_t *pf;
    size_t pf_bytes;
    unsigned long long *tr; // the graph trace's stamps (qb_trace_mark), NULL when not tracing
    // Layernorm statistics carried with the residual stream (QB_STATS_SLOTS
    // (sum, sum of squares) pairs in float64): st_out, when set, receives
    // those of the rows this GEMV writes (an ACCUM into the residual); st_in,
    // when set with ln_g and ln_b, holds those of x, which is then normalised
    // from them (no reductions: see ln_stats_to_smem).
    double *st_out;
    const double *st_in;
    // With st_out: the layernorm (gain lo_g, bias lo_b) of the output y into
    // lo_out, made by the last block to finish (qb_ln_by_last_block; lo_ctr
    // its count, zero between launches). NULL lo_out: none.
    float *lo_out;
    const float *lo_g, *lo_b;
    float lo_eps;
    unsigned *lo_ctr;
    // The layernorm folded into the next product (QB_CUDA_LN_FOLD; see
    // qb_fold_smem). Producer, with st_out: yg_out receives y * yg_g (its rows
    // times the next layernorm's gain). Consumer: x is such a product, st_in
    // the sums of the y it came from, fold_wg the rows' W g, and bias is W b
    // plus the matrix's own bias. NULL: none.
    float *yg_out;
    const float *yg_g;
    const float *fold_wg;
    // A row split over gridDim.y blocks (the tensor-core GEMV's R -(rows + 32 S)):
    // each block's sums of its rows go to sk_part (row groups x S x rows floats),
    // and sk_ctr (a zeroed count a row group) elects the block that adds them up
    // and finishes the rows (qb_gemv_fin::split_sum). Unused when gridDim.y is 1.
    float *sk_part;
    unsigned *sk_ctr;
    // Set: the next kernel may launch only once this one's wait has returned
    // (QB_CUDA_GEMV_TRIGGER), not from its start.
    int trig_wait;
};

// The block's copy of layernorm(x) in shared memory (x in registers: n_in
// <= QB_LN_FUSE_MAX); every block computes it, x being small and in L2.
__device__ inline void ln_to_smem(float *xs, const gemv_args &a) {
    __shared__ float red[32];
    qb_layernorm_regs<QB_LN_FUSE_MAX / (32 * KS)>(xs, a.x, a.ln_g, a.ln_b, a.n_in, a.ln_eps, red);
    __syncthreads();
}

// A layernorm's mean and rstd, in every lane of a warp, from the sums and
// sums of squares of its n values spread over the slots (lane l holding slot
// l % QB_STATS_SLOTS). The variance is E[x^2] - mean^2 in float64.
struct qb_ln_stats {
    float m, r; // mean, rstd
};
__device__ __forceinline__ qb_ln_stats qb_ln_stats_of(double s, double q, int n, float eps) {
    for (int o = QB_STATS_SLOTS / 2; o > 0; o >>= 1)
        s += __shfl_xor_sync(0xffffffffu, s, o), q += __shfl_xor_sync(0xffffffffu, q, o);
    const double mean = s / n, var = q / n - mean * mean;
    return {(float)mean, rsqrtf((float)(var > 0 ? var : 0) + eps)};
}

// dst = layernorm(x) (n values, a multiple of 4; gain g, bias b) from x's
// sums and sums of squares spread over QB_STATS_SLOTS float64 pairs: x, g
// and b are copied to stage (3 n floats of shared memory; cp.async: no
// registers held) while each warp sums the slots itself, then each thread
// normalises the values it copied (dst may be stage). The variance is
// E[x^2] - mean^2 in float64 (the CPU's two passes agree to float32
// rounding: the residual's mean is far below its spread). x and the slots
// are read through L2: other blocks may just have written them.
__device__ inline void qb_ln_from_sums(float *dst, float *stage, const float *x, const float *g, const float *b,
                                       const double *sums, int n, float eps) {
    const int n4 = n / 4, lane = threadIdx.x & 31;
    float *gs = stage + n, *bs = gs + n;
    for (int i = threadIdx.x; i < n4; i += blockDim.x) {
        qb_async_copy16<true>(stage + 4 * i, x + 4 * i);
        qb_async_copy16(gs + 4 * i, g + 4 * i);
        qb_async_copy16(bs + 4 * i, b + 4 * i);
    }
    const double *slot = qb_stats_slot(sums, lane % QB_STATS_SLOTS);
    const qb_ln_stats st = qb_ln_stats_of(__ldcg(slot), __ldcg(slot + 1), n, eps);
    const float m = st.m, rstd = st.r;
    qb_async_wait();
    for (int i = threadIdx.x; i < n4; i += blockDim.x) {
        float4 v = *(const float4 *)(stage + 4 * i);
        const float4 gv = *(const float4 *)(gs + 4 * i), bv = *(const float4 *)(bs + 4 * i);
        v.x = (v.x - m) * rstd * gv.x + bv.x, v.y = (v.y - m) * rstd * gv.y + bv.y;
        v.z = (v.z - m) * rstd * gv.z + bv.z, v.w = (v.w - m) * rstd * gv.w + bv.w;
        *(float4 *)(dst + 4 * i) = v;
    }
}

// The block's copy of layernorm(x) in shared memory from the sums the GEMV
// that wrote x left in a.st_in (qb_ln_from_sums; no registers held, which
// the weights loaded ahead of the wait fill), one barrier publishing it. A
// separate layernorm kernel cost ~3 us a layernorm in the decode chain (two
// kernel boundaries, a load of x, two block-wide sums); this costs the GEMV
// one round trip and a barrier, but in every block: gpt2-xl's fc (1600
// blocks, two waves) then took 8.1 us after its release instead of 3.0, more
// than the kernel saved (QB_CUDA_LN_STATS=1, off by default; the trace in
// data/results/h100/ab-ln-stats-9ba6193). xs: 3 n_in floats.
__device__ inline void ln_stats_to_smem(float *xs, const gemv_args &a) {
    qb_ln_from_sums(xs, xs, a.x, a.ln_g, a.ln_b, a.st_in, a.n_in, a.ln_eps);
    __syncthreads();
}

// The layernorm of this GEMV's own output y (n_out values, the residual it
// has just accumulated into) from its sums in a.st_out, into a.lo_out, by
// the last of its blocks to finish (a count in a.lo_ctr, reset here for the
// next launch): the consuming GEMV then reads it as it reads a layernorm
// kernel's rows, and that kernel and its two boundaries are gone, while no
// other block pays anything but a fence and an atomic. stage: 3 n_out
// floats of shared memory. (QB_CUDA_LN_LAST, the default under
// QB_CUDA_LN_FOLD=0: the serial work left in the last block, ~2.5 us in the
// graph trace, is less than the layernorm kernel's ~3.7 us;
// data/results/h100/ab-ln-last-06f7c04. The fold removes it: qb_fold_smem.)
__device__ inline void qb_ln_by_last_block(const gemv_args &a, float *stage) {
    __shared__ bool last;
    __threadfence(); // this block's rows and sums, before its count
    __syncthreads();
    if (threadIdx.x == 0) last = atomicAdd(a.lo_ctr, 1u) == gridDim.x - 1;
    __syncthreads();
    if (!last) return;
    __threadfence();
    qb_ln_from_sums(a.lo_out, stage, a.y, a.lo_g, a.lo_b, a.st_out, a.n_out, a.lo_eps);
    if (threadIdx.x == 0) *a.lo_ctr = 0;
}

// The layernorm folded into the product that reads it. With x's mean m and
// rstd r (from the sums carried with it) and LN(x) = (x - m) r g + b,
//   W LN(x) = r W (g x) - m r (W g) + W b,
// where g x is made row by row by x's producer (yg_out) and W g and W b are
// vectors fixed at load: no layernorm pass and no reduction between the two
// products, only the sums, loaded during the product and applied to each
// row as it finishes. The last-block layernorm it replaces left 2.5-4 us of
// serial work, fence, count, load and store, at the end of each residual
// GEMV: folded, gpt2-xl decodes 3.2 % (f16) and 8.8 % (q4_0) faster, gpt2
// 8.7 % and 6.0 % (data/results/h100/ab-ln-fold-c7bcb47). GPT-2's residual
// has a mean far below its spread, so the second term cancels nothing much;
// the CPU agrees to float32 rounding (qb-gpt2-10m: the same logits error).
//
// The block's shared memory for it in qb_gemv_rows: one
// array for every instance of it (in a template each instance would have
// its own, and the persistent step, which holds them all, would pass the
// 48 KiB of static shared memory a kernel may have).
struct qb_fold_smem {
    double2 sums[QB_STATS_SLOTS]; // x's (sum, sum of squares) by slot
    float vec[16];                // the rows' entries of yg_g or fold_wg (R <= 16)
};
__device__ __forceinline__ qb_fold_smem &qb_fold_smem_of() {
    __shared__ qb_fold_smem s;
    return s;
}

// Adds this block's rows (v in threads 0..31, those with counted set) to
// a.st_out's slot for the block: warp 0's lanes sum in float64, lane 0 adds.
__device__ __forceinline__ void qb_stats_add(const gemv_args &a, float v, bool counted) {
    const double d = counted ? (double)v : 0.0, s = qb_warp_sum(d), q = qb_warp_sum(d * d);
    if (threadIdx.x == 0) {
        double *slot = qb_stats_slot(a.st_out, (int)(blockIdx.x % QB_STATS_SLOTS));
        atomicAdd(slot, s), atomicAdd(slot + 1, q);
    }
}

// The paths a GEMV instance builds in (qb_gemv_rows' P). In the folded
// decode chain each GEMV has one of two roles, and the other's code need not
// be there: a kernel of the chain pays, in code and registers, for every
// path it could take (k_gemv LEAN: 46.6 KB and 95 registers -> 20.4 KB and
// 70, gpt2-xl f16 +7.8 %; data/results/h100/ab-gemv-lean-2ae135c).
#define QB_GEMV_NOFOLD 0   // every path but the folded layernorm's (the persistent step)
#define QB_GEMV_ALL 1      // every path
#define QB_GEMV_CONSUMER 2 // reads a folded layernorm (QKV, fc): fold_wg, the K/V store, GELU
#define QB_GEMV_PRODUCER 3 // writes one (the projections): ACCUM into the residual, st_out, yg_out
__host__ __device__ constexpr bool qb_paths_consume(int P) { return P == QB_GEMV_ALL || P == QB_GEMV_CONSUMER; }
__host__ __device__ constexpr bool qb_paths_produce(int P) { return P == QB_GEMV_ALL || P == QB_GEMV_PRODUCER; }
__host__ __device__ constexpr bool qb_paths_residual(int P) { return P != QB_GEMV_CONSUMER; } // ACCUM, st_out
__host__ __device__ constexpr bool qb_paths_head(int P) { return P != QB_GEMV_PRODUCER; }     // GELU, K/V store
// The role whose paths a's product needs (QB_GEMV_ALL when it needs both
// roles'); a plain product (neither role's extras) runs as a consumer.
__host__ __device__ inline int qb_gemv_role(const gemv_args &a) {
    if (!a.st_out && !a.yg_out && a.epi != QB_CUDA_ACCUM) return QB_GEMV_CONSUMER;
    if (!a.fold_wg && !a.k_cache && a.epi != QB_CUDA_GELU) return QB_GEMV_PRODUCER;
    return QB_GEMV_ALL;
}

// Row `row` of the result is v (the dot product): its bias, epilogue, store
// (res: the row's old value, for QB_CUDA_ACCUM), and the K/V caches' copy for
// the QKV projection's rows [E, 3E). The caller loaded bias and res ahead.
template <int P = QB_GEMV_NOFOLD>
__device__ __forceinline__ float qb_gemv_finish(const gemv_args &a, int row, float v, float bias, float res) {
    v += bias;
    if (qb_paths_head(P) && a.epi == QB_CUDA_GELU) v = qb_gelu_new(v);
    const float out = qb_paths_residual(P) && a.epi == QB_CUDA_ACCUM ? res + v : v;
    a.y[row] = out;
    if (qb_paths_head(P) && a.k_cache) {
        const int E = a.n_out / 3;
        const size_t p = (size_t)qb_pos(a.pos0, a.d_pos);
        if (row >= 2 * E) a.v_cache[p * E + row - 2 * E] = __float2half_rn(v);
        else if (row >= E) a.k_cache[p * E + row - E] = __float2half_rn(v);
    }
    return out;
}

// What a block's finishing threads (thread r < R finishes row row0 + r) do
// around its product: before it, load the row's bias and copy its entry of
// the folded layernorm's vector; once x is ready (ready()), load the row's
// old value and copy the folded layernorm's sums; after it (end()), sum the
// warps' partial sums part[KS][R] and finish the row. Shared by every lane
// code (qb_gemv_rows, qb_gemv_rows_mma); R <= 32, the finishers in warp 0.
template <int P>
struct qb_gemv_fin {
    int row;   // the row this thread finishes
    bool on;   // whether it finishes one (threadIdx.x < R)
    float bias, res;
    const float *vec;
    __device__ __forceinline__ qb_gemv_fin(const gemv_args &a, int row0, int row_end, int R) {
        row = min(row0 + (int)threadIdx.x, row_end - 1);
        on = threadIdx.x < R;
        bias = on && a.bias ? a.bias[row] : 0.0f;
        res = 0.0f;
        // The row's entry of the folded layernorm's vector: the next one's gain (a
        // producer, yg_out) or W g (its consumer, fold_wg); never both (the host's
        // rule). Copied to shared memory: a register held through the product
        // cost k_gemv f16 R 4 a block an SM (56 -> 64 registers).
        vec = qb_paths_produce(P) && a.yg_out ? a.yg_g : qb_paths_consume(P) ? a.fold_wg : NULL;
        if (on && vec) qb_async_copy4(&qb_fold_smem_of().vec[threadIdx.x], vec + row);
    }
    __device__ __forceinline__ void ready(const gemv_args &a) {
        // The row's old value (the residual stream), written by the kernel waited for: on its way during the product.
        res = qb_paths_residual(P) && on && a.epi == QB_CUDA_ACCUM ? a.y[row] : 0.0f;
        // A folded layernorm's sums (a slot's pair a lane of warp 0, the finishers'): copied
        // now, summed after the product; in shared memory they hold no registers through it.
        if (qb_paths_consume(P) && a.fold_wg && threadIdx.x < QB_STATS_SLOTS)
            qb_async_copy16<true>(&qb_fold_smem_of().sums[threadIdx.x], qb_stats_slot(a.st_in, threadIdx.x));
    }
    // A row split over S = gridDim.y blocks, this one its blockIdx.y-th part
    // (part: [W][R], each of the block's W warps' sum of each row). Each block leaves its
    // rows' sums in a.sk_part and counts itself in row group `group`'s
    // a.sk_ctr; the last to count adds the S sums up, in a fixed order (the
    // same rounding whichever block is last), puts them in part as one warp's
    // and returns true: it finishes the rows (end). The others return false.
    // One workspace serves every split GEMV: each kernel of the decode chain
    // waits for the one before it (qb_grid_wait) before it gets here, and
    // the last block sets its count back to zero. S 1: true, nothing done.
    template <int W = KS>
    __device__ __forceinline__ bool split_sum(const gemv_args &a, int group, float *part, int R) {
        const int S = (int)gridDim.y;
        if (S == 1) return true;
        __shared__ bool last;
        __syncthreads(); // every warp's sums in part
        if (threadIdx.x < R) {
            float v = 0;
#pragma unroll
            for (int k = 0; k < W; k++) v += part[k * R + threadIdx.x];
            a.sk_part[((size_t)group * S + blockIdx.y) * R + threadIdx.x] = v;
            __threadfence(); // this block's sums, before its count
        }
        __syncthreads();
        if (threadIdx.x == 0) last = atomicAdd(a.sk_ctr + group, 1u) == (unsigned)S - 1;
        __syncthreads();
        if (!last) {
            if (threadIdx.x < 32) qb_async_wait(); // (the copies the constructor and ready() began)
            return false;
        }
        __threadfence();
        if (threadIdx.x < R) {
            const float *sums = a.sk_part + (size_t)group * S * R + threadIdx.x;
            // The first 8 sums' loads all in flight, then added in block order (from L2: other
            // SMs wrote them). One by one, each load waited for the add before it: an L2 round
            // trip a block on the chain's path (the fused attention's like loop cost ~0.24 us a
            // term on the H100, data/results/h100/ab-attn-proj-9ffd8f4). Adding 0 past S changes nothing.
            float t[8], v = 0;
#pragma unroll
            for (int j = 0; j < 8; j++) t[j] = j < S ? __ldcg(sums + (size_t)j * R) : 0.0f;
#pragma unroll
            for (int j = 0; j < 8; j++) v += t[j];
            for (int j = 8; j < S; j++) v += __ldcg(sums + (size_t)j * R); // (the host splits 8 ways at most)
            part[threadIdx.x] = v;
#pragma unroll
            for (int k = 1; k < W; k++) part[k * R + threadIdx.x] = 0.0f;
        }
        if (threadIdx.x == 0) a.sk_ctr[group] = 0;
        return true;
    }
    // part: [W][R] floats of shared memory, each of the block's W warps' sum of each row.
    template <int W = KS>
    __device__ __forceinline__ void end(const gemv_args &a, int row0, int row_end, const float *part, int R) {
        qb_fold_smem &fs = qb_fold_smem_of();
        qb_ln_stats f = {0.0f, 1.0f};
        if (vec && threadIdx.x < 32) qb_async_wait();
        if (qb_paths_consume(P) && a.fold_wg && threadIdx.x < 32)
            f = qb_ln_stats_of(fs.sums[threadIdx.x % QB_STATS_SLOTS].x, fs.sums[threadIdx.x % QB_STATS_SLOTS].y,
                               a.n_in, a.ln_eps);
        __syncthreads();
        float out = 0;
        bool counted = false;
        if (on) {
            const int r = threadIdx.x, row = row0 + r;
            float v = 0;
#pragma unroll
            for (int k = 0; k < W; k++) v += part[k * R + r];
            if (qb_paths_consume(P) && a.fold_wg) v = f.r * v - f.m * f.r * fs.vec[r];
            if (row < row_end) {
                out = qb_gemv_finish<P>(a, row, v, bias, res), counted = true;
                if (qb_paths_produce(P) && a.yg_out) a.yg_out[row] = out * fs.vec[r];
            }
        }
        if (qb_paths_residual(P) && a.st_out && threadIdx.x < 32) qb_stats_add(a, out, counted);
    }
};

// Steps a warp loads ahead (UNROLL steps x R rows of words a lane in flight):
// the type's own UNROLL, fewer at R 4 and 8 (more rows, fewer steps ahead).
// DEEP, for long rows of the types with TT::DEEP (k_gemv's launch_t;
// QB_CUDA_GEMV_DEEP): as many steps as 64 registers of words hold, at most 8.
// A block preloads these before its wait and keeps them in flight after it.
// With long rows (gpt2-xl's mproj: 25 steps, 6-7 a warp, one ahead at R 4)
// the rest came a DRAM round trip a step: 10.4 us for 20.5 MB in the chain
// (2.0 TB/s), 7.2 us deeper. Only the 16-bit floats take it: the quantized
// types lost by it (their loads smaller, their registers fuller: xl q4_0
// and q8_0 5 % slower), and F32's rows were as often slower as faster.
template <class TT, int R, bool DEEP>
__host__ __device__ constexpr int qb_gemv_unroll() {
    constexpr int base = R <= 2 ? TT::UNROLL : (TT::UNROLL * 2 / R > 0 ? TT::UNROLL * 2 / R : 1);
    constexpr int deep = 64 / (R * TT::NW) > 8 ? 8 : 64 / (R * TT::NW);
    return DEEP && deep > base ? deep : base;
}

// Rows row0 .. row0+R-1 (those below row_end) of y = W x + b, by one block
// of KS warps. ready() is called once the first steps' weights are in
// flight (they depend on nothing that runs before) and returns x: where the
// caller waits for x's producer and, with a fused layernorm, normalises it.
// P: the paths built in (QB_GEMV_*); the persistent step, which never folds,
// leaves the folded layernorm's out (its register cap).
template <class TT, int R, int P = QB_GEMV_NOFOLD, bool DEEP = false, class Ready>
__device__ __forceinline__ void qb_gemv_rows(const gemv_args &a, int row0, int row_end, Ready ready) {
    __shared__ float part[KS][R];
    const int lane = threadIdx.x & 31, wk = threadIdx.x >> 5;
    const uint8_t *q[R];
    const uint8_t *sc[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        const int row = min(row0 + r, row_end - 1); // a short last group recomputes the last row
        q[r] = a.w + (size_t)row * a.qrow;
        sc[r] = a.w + a.scales_off + (size_t)row * a.srow;
    }
    constexpr int UNROLL = qb_gemv_unroll<TT, R, DEEP>();
    const int steps = TT::steps(a.n_in);
    float acc[R];
#pragma unroll
    for (int r = 0; r < R; r++) acc[r] = 0;
    uint32_t w[UNROLL][R][TT::NW];
    // The first steps' weights depend on no earlier kernel: load them before
    // waiting, and the bias of the row thread r finishes (in the epilogue it
    // was one more round trip after the reduction, from DRAM: the weights
    // streamed since the last step have evicted it from L2).
#pragma unroll
    for (int u = 0; u < UNROLL; u++) {
        const int s = wk + KS * u;
        if (s < steps && TT::live(a.n_in, s, lane))
#pragma unroll
            for (int r = 0; r < R; r++) TT::load(q[r], sc[r], s, lane, w[u][r]);
    }
    qb_gemv_fin<P> fin(a, row0, row_end, R);
    const float *x = ready();
    fin.ready(a);
    for (int s0 = wk; s0 < steps; s0 += KS * UNROLL) {
#pragma unroll
        for (int u = 0; u < UNROLL; u++) {
            const int s = s0 + KS * u;
            if (s < steps && TT::live(a.n_in, s, lane)) {
                float xv[TT::NX];
                TT::xs(x, a.n_in, s, lane, xv);
#pragma unroll
                for (int r = 0; r < R; r++) acc[r] += TT::dot(lane, w[u][r], xv);
            }
            // Refill this slot with this warp's step UNROLL ahead.
            const int sn = s + KS * UNROLL;
            if (sn < steps && TT::live(a.n_in, sn, lane))
#pragma unroll
                for (int r = 0; r < R; r++) TT::load(q[r], sc[r], sn, lane, w[u][r]);
        }
    }
    qb_trace_mark_product(qb_trace_products(a.tr), acc[0]); // (warp 0's share of the product done)
#pragma unroll
    for (int r = 0; r < R; r++) {
        acc[r] = qb_warp_sum(acc[r]);
        if (lane == 0) part[wk][r] = acc[r];
    }
    fin.end(a, row0, row_end, &part[0][0], R);
}

// Bytes a lane of the warp stream keeps loading ahead. On the H100 each warp
// of the persistent step streamed its groups with k_gemv's UNROLL (32-48 bytes
// a lane in flight) and, one latency per round, took ~16 us an op for a few
// MB: the stream was latency-bound (gpt2-xl f16 at half the graph's rate).
#ifndef QB_WARP_INFLIGHT
#define QB_WARP_INFLIGHT 128
#endif

// The same product with every step of a row taken by one warp (no reduction
// across warps, no __syncthreads): warp w of the grid's nw takes the R-row
// groups w, w + nw, ..., and walks them as one stream of (group, step) items
// with UNROLL items' loads in flight, so the loads of its next group are on
// their way while it finishes one. For the persistent step, where a block's
// groups would otherwise each wait out a round trip (qb_step_gemv_warp).
// done(row0), in lane 0 after a group's stores, lets the caller signal them.
// ready() is called by every thread once the first items' weights are on
// their way (they depend on no earlier op) and returns x, what TT::xs reads:
// float32 values (const float *) for the weight-only types, quantized blocks
// for the W8A8 ones (gemv_q8a.cuh).
template <class TT, int R, class Ready, class Done>
__device__ __forceinline__ void qb_gemv_warp_rows(const gemv_args &a, Ready ready, int w, int nw, Done done) {
    const int lane = threadIdx.x & 31;
    const int groups = (a.n_out + R - 1) / R, steps = TT::steps(a.n_in);
    const int mine = w < groups ? (groups - 1 - w) / nw + 1 : 0; // this warp's groups
    // Items in flight: enough for QB_WARP_INFLIGHT bytes a lane (a warp here
    // streams its rows alone, where k_gemv's four warps share each row's steps).
    constexpr int U0 = QB_WARP_INFLIGHT / (R * TT::LANE_BYTES);
    constexpr int U = U0 < 1 ? 1 : U0 > 16 ? 16 : U0;
    // Items are (k, s): step s of this warp's k-th group, walked in order by two
    // cursors, one loading U items ahead of the one computing (no divisions).
    // The load cursor keeps its rows' pointers at the step it loads next: set
    // when it enters a group, moved on by the type's step strides (QSTEP and
    // SSTEP bytes) rather than rebuilt from row and step for every item.
    int lk = 0, ls = 0; // the next item to load
    const uint8_t *lq[R], *lsc[R];
    auto enter = [&](int k) {
        const int row0 = (w + k * nw) * R;
#pragma unroll
        for (int r = 0; r < R; r++) {
            const int row = min(row0 + r, a.n_out - 1); // a short last group recomputes the last row
            lq[r] = a.w + (size_t)row * a.qrow;
            lsc[r] = a.w + a.scales_off + (size_t)row * a.srow;
        }
    };
    auto load = [&](uint32_t (*wr)[TT::NW]) {
        if (TT::live(a.n_in, ls, lane))
#pragma unroll
            for (int r = 0; r < R; r++) TT::load(lq[r], lsc[r], 0, lane, wr[r]);
#pragma unroll
        for (int r = 0; r < R; r++) lq[r] += TT::QSTEP, lsc[r] += TT::SSTEP;
        if (++ls == steps) {
            ls = 0;
            if (++lk < mine) enter(lk);
        }
    };
    uint32_t wv[U][R][TT::NW];
    if (mine > 0) enter(0);
#pragma unroll
    for (int u = 0; u < U; u++)
        if (lk < mine) load(wv[u]);
    const auto x = ready();
    float acc[R];
#pragma unroll
    for (int r = 0; r < R; r++) acc[r] = 0;
    int ck = 0, cs = 0; // the item to compute
    // Lane 0's bias and old residual of the group's rows, loaded as the group
    // begins: at its end they would be one more round trip after the sums.
    float gb[R] = {}, gr[R] = {};
    while (ck < mine) {
#pragma unroll
        for (int u = 0; u < U; u++) {
            if (ck >= mine) break;
            if (cs == 0 && lane == 0) {
                const int row0 = (w + ck * nw) * R;
#pragma unroll
                for (int r = 0; r < R; r++) {
                    const int row = min(row0 + r, a.n_out - 1);
                    gb[r] = a.bias ? a.bias[row] : 0.0f;
                    gr[r] = a.epi == QB_CUDA_ACCUM ? a.y[row] : 0.0f;
                }
            }
            if (TT::live(a.n_in, cs, lane)) {
                typename TT::XV xv;
                TT::xs(x, a.n_in, cs, lane, xv);
#pragma unroll
                for (int r = 0; r < R; r++) acc[r] += TT::dot(lane, wv[u][r], xv);
            }
            if (lk < mine) load(wv[u]); // refill the slot: the stream runs on into the next group
            if (cs == steps - 1) { // the group's rows are complete
                const int row0 = (w + ck * nw) * R;
#pragma unroll
                for (int r = 0; r < R; r++) {
                    const float v = qb_warp_sum(acc[r]);
                    acc[r] = 0;
                    if (lane == 0 && row0 + r < a.n_out) qb_gemv_finish(a, row0 + r, v, gb[r], gr[r]);
                }
                if (lane == 0) done(row0);
            }
            if (++cs == steps) cs = 0, ck++;
        }
    }
}
