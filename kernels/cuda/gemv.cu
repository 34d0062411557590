// gemv.cu: the batch-1 decode matmul y = W x + b for every weight type,
// reading each weight byte once.
//
// A block owns R rows; its warps split the row into steps. In one step a warp's 32 lanes read one contiguous run of a
// row's quant plane (each lane a 16-, 8- or 4-byte word, so the warp's load
// is coalesced) and the lanes' x values are contiguous too; the loads of the
// next steps are issued before the arithmetic of the current one. Weights are
// read with L1::no_allocate so the streamed matrix does not evict x from L1,
// where every warp of the SM finds it. Quant bits become floats without the
// slow integer-to-float unit: a byte b placed in the mantissa of 2^23 is the
// float 2^23 + b, and one subtraction removes the offset and the zero point.
#include "common.cuh"

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
// The float16 in the low half of u.
__device__ __forceinline__ float h2f(uint32_t u) { return __half2float(__ushort_as_half((unsigned short)(u & 0xffffu))); }

// 2^23 + byte k of u, as a float.
__device__ __forceinline__ float bytef(uint32_t u, int k) { return __uint_as_float(__byte_perm(u, 0x4B000000u, 0x7650 + k)); }
#define MAGIC 8388608.0f

// x from global memory (L1-cached) or, with a fused layernorm, from shared memory.
__device__ __forceinline__ float4 ldx4(const float *x, int i) { return *(const float4 *)(x + i); }

// ---- the types: one step of one lane ----------------------------------------------------------
// NW: 32-bit words a lane loads per step; NX: x values it uses; UNROLL:
// steps whose loads are in flight together. load() reads
// the lane's words of a row; xs() its x values (xv[k] for the k-th value in
// the type's own order); dot() the row's contribution from them.

// F32: 4 weights per lane (16 bytes), x contiguous.
struct TF32 {
    static constexpr int NW = 4, NX = 4, PER_STEP = 128;
    static constexpr int UNROLL = 2; // steps in flight: 32 bytes a lane a row
    static __device__ int steps(int n_in) { return (n_in + PER_STEP - 1) / PER_STEP; }
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
    static constexpr int UNROLL = 2; // steps in flight: 32 bytes a lane a row
    static __device__ int steps(int n_in) { return (n_in + PER_STEP - 1) / PER_STEP; }
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
    static constexpr int UNROLL = 2; // steps in flight: 16 bytes a lane a row (32: xl q8_0 3.5% slower)
    static __device__ int steps(int n_in) { return n_in / PER_STEP + (n_in % PER_STEP != 0); }
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

// IQ4_NL: four codebook indices (one per byte, 0..15) to their int8 values
// biased by 128 (one per byte). The 16 entries sit in four words; a byte
// permute picks among 8 bytes, so entries 0-7 and 8-15 are looked up apart
// and merged by the indices' bit 3.
__device__ __forceinline__ uint32_t iq4nl_lookup(uint32_t n) {
    const uint32_t y = n | (n >> 4);
    const uint32_t sel = ((y & 0xffu) | ((y >> 8) & 0xff00u)) & 0x7777u;
    const uint32_t lo = __byte_perm(0x3f2d1801u, 0x766a5d4fu, sel); // entries 0..7  (+128)
    const uint32_t hi = __byte_perm(0xa6998d81u, 0xf1d9c5b5u, sel); // entries 8..15 (+128)
    const uint32_t m = ((n >> 3) & 0x01010101u) * 0xffu;
    return (hi & m) | (lo & ~m);
}

// Q4_0, Q4_1, IQ4_NL: 4 bytes per lane = weights j..j+3 (low nibbles) and
// j+16..j+19 (high nibbles) of a block; 4 lanes share a block of 32.
template <qb_type T>
struct TQ4 {
    static constexpr int NW = 2, NX = 8, PER_STEP = 256;
    // Steps in flight: 16 bytes a lane a row. 8 (32 bytes) held 115 registers a
    // thread at two rows, a quarter of the SM's warps: xl q4_0 -1%, iq4_nl -5%.
    static constexpr int UNROLL = 4;
    static constexpr int SB = T == QB_TYPE_Q4_1 ? 4 : 2; // scale bytes per block
    static __device__ int steps(int n_in) { return (n_in + PER_STEP - 1) / PER_STEP; }
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

// Q4_K: one step is one super-block (128 quant bytes, 256 weights); lane l
// reads 4 bytes of the 32-byte chunk c = l/8: weights 64c + j..j+3 (low
// nibbles, sub-block 2c) and 64c + 32 + j..j+3 (high nibbles, sub-block 2c+1).
struct TQ4_K {
    static constexpr int NW = 5, NX = 8, PER_STEP = 256;
    static constexpr int UNROLL = 8; // steps in flight: 32 bytes a lane a row
    static __device__ int steps(int n_in) { return n_in / PER_STEP; }
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
        const uint8_t *sp = (const uint8_t *)&w[2];
        const int c = lane / 8;
        float s1, m1, s2, m2;
        qb_q4k_scale_min(2 * c, sp, &s1, &m1);
        qb_q4k_scale_min(2 * c + 1, sp, &s2, &m2);
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
    static constexpr int UNROLL = 3; // steps in flight: 36 bytes a lane a row
    static __device__ int steps(int n_in) { return (n_in / 256 + 1) / 2; }
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
};

// The block's copy of layernorm(x) in shared memory (x in registers: n_in
// <= QB_LN_FUSE_MAX); every block computes it, x being small and in L2.
__device__ void ln_to_smem(float *xs, const gemv_args &a) {
    __shared__ float red[32];
    qb_layernorm_regs<QB_LN_FUSE_MAX / (32 * KS)>(xs, a.x, a.ln_g, a.ln_b, a.n_in, a.ln_eps, red);
    __syncthreads();
}

template <class TT, int R>
__global__ void __launch_bounds__(32 * KS) k_gemv(gemv_args a) {
    qb_grid_launch_dependents();
    __shared__ float part[KS][R];
    const int lane = threadIdx.x & 31, wk = threadIdx.x >> 5;
    const int row0 = blockIdx.x * R;
    const uint8_t *q[R];
    const uint8_t *sc[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        const int row = min(row0 + r, a.n_out - 1); // a short last group recomputes the last row
        q[r] = a.w + (size_t)row * a.qrow;
        sc[r] = a.w + a.scales_off + (size_t)row * a.srow;
    }
    // Loads in flight per lane: UNROLL steps x R rows; more rows, fewer steps ahead.
    constexpr int UNROLL = R <= 2 ? TT::UNROLL : (TT::UNROLL * 2 / R > 0 ? TT::UNROLL * 2 / R : 1);
    const int steps = TT::steps(a.n_in);
    float acc[R];
#pragma unroll
    for (int r = 0; r < R; r++) acc[r] = 0;
    uint32_t w[UNROLL][R][TT::NW];
    // The first steps' weights depend on no earlier kernel: load them before waiting.
#pragma unroll
    for (int u = 0; u < UNROLL; u++) {
        const int s = wk + KS * u;
        if (s < steps && TT::live(a.n_in, s, lane))
#pragma unroll
            for (int r = 0; r < R; r++) TT::load(q[r], sc[r], s, lane, w[u][r]);
    }
    qb_grid_wait();
    extern __shared__ float4 xsm4[];
    const float *x = a.x;
    if (a.ln_g) {
        ln_to_smem((float *)xsm4, a);
        x = (const float *)xsm4;
    }
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
#pragma unroll
    for (int r = 0; r < R; r++) {
        acc[r] = qb_warp_sum(acc[r]);
        if (lane == 0) part[wk][r] = acc[r];
    }
    __syncthreads();
    if (threadIdx.x < R) {
        const int r = threadIdx.x, row = row0 + r;
        float v = 0;
#pragma unroll
        for (int k = 0; k < KS; k++) v += part[k][r];
        if (row < a.n_out) {
            if (a.bias) v += a.bias[row];
            if (a.epi == QB_CUDA_GELU) v = qb_gelu_new(v);
            if (a.epi == QB_CUDA_ACCUM) a.y[row] += v;
            else a.y[row] = v;
            if (a.k_cache) {
                const int E = a.n_out / 3;
                const size_t p = (size_t)qb_pos(a.pos0, a.d_pos);
                if (row >= 2 * E) a.v_cache[p * E + row - 2 * E] = __float2half_rn(v);
                else if (row >= E) a.k_cache[p * E + row - E] = __float2half_rn(v);
            }
        }
    }
}

template <class TT, int R>
static void launch_t(qb_cuda *c, const gemv_args &a) {
    const size_t smem = a.ln_g ? ((size_t)a.n_in + 4) * sizeof(float) : 0;
    if (a.ln_g && a.n_in > QB_LN_FUSE_MAX)
        qb_die(QB_EXIT_DATA, "cuda: gemv: a fused layernorm takes at most %d values, not %d", QB_LN_FUSE_MAX, a.n_in);
    qb_launch(c, k_gemv<TT, R>, dim3((unsigned)((a.n_out + R - 1) / R)), dim3(32 * KS), smem, a);
}

template <class TT>
static void launch_r(qb_cuda *c, const gemv_args &a, int R) {
    switch (R) {
    case 1: launch_t<TT, 1>(c, a); break;
    case 4: launch_t<TT, 4>(c, a); break;
    case 8: launch_t<TT, 8>(c, a); break;
    default: launch_t<TT, 2>(c, a); break;
    }
}

// Rows per block, tuned once per matrix shape and type on this device: the
// best of 1, 2, 4, 8 (event-timed, the matrix itself, a scratch output) at the
// shape's first use outside graph capture; 2 until then. QB_CUDA_GEMV_R forces one.
static void dispatch(qb_cuda *c, const gemv_args &a, qb_type t, int R);

static int tuned_rows(qb_cuda *c, const gemv_args &a0, qb_type t) {
    if (c->gemv_r_forced) return c->gemv_r_forced;
    for (int i = 0; i < c->n_tuned; i++)
        if (c->tuned[i].type == (int)t && c->tuned[i].n_in == a0.n_in && c->tuned[i].n_out == a0.n_out)
            return c->tuned[i].R;
    if (c->capturing || c->n_tuned == QB_CUDA_TUNED) return 2;
    gemv_args a = a0;
    a.bias = NULL, a.epi = QB_CUDA_STORE, a.k_cache = a.v_cache = NULL, a.ln_g = a.ln_b = NULL;
    a.y = (float *)qb_cuda_alloc(c, (size_t)a.n_out * sizeof(float));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    int best = 2;
    float best_ms = 1e30f;
    for (int R = 1; R <= 8; R *= 2) {
        for (int k = 0; k < 3; k++) dispatch(c, a, t, R);
        float ms[5];
        for (int k = 0; k < 5; k++) {
            CK(cudaEventRecord(e0, c->stream));
            for (int j = 0; j < 4; j++) dispatch(c, a, t, R);
            CK(cudaEventRecord(e1, c->stream));
            CK(cudaEventSynchronize(e1));
            CK(cudaEventElapsedTime(&ms[k], e0, e1));
        }
        float m = ms[0];
        for (int k = 1; k < 5; k++) m = fminf(m, ms[k]);
        if (m < best_ms * 0.98f) best_ms = m, best = R; // ties go to the fewer rows
    }
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    qb_cuda_free(c, a.y);
    c->tuned[c->n_tuned++] = {(int)t, a0.n_in, a0.n_out, best};
    return best;
}

void qb_cuda_gemv_full(qb_cuda *c, float *y, const float *x, const qb_weight *w, const float *bias,
                       qb_cuda_epilogue epi, int rows_per_warp, uint16_t *k_cache, uint16_t *v_cache, int pos0,
                       const float *ln_g, const float *ln_b, float ln_eps) {
    qb_planes p;
    if (!qb_planes_of(w->type, w->n_in, w->n_out, &p))
        qb_die(QB_EXIT_DATA, "cuda: gemv: weight type %d with %d inputs not supported", (int)w->type, w->n_in);
    if ((uintptr_t)x % 16) qb_die(QB_EXIT_DATA, "cuda: gemv: x must be 16-byte aligned");
    gemv_args a = {y, x, (const uint8_t *)w->data, p.qrow, p.srow, p.scales_off, w->n_in, w->n_out, bias, (int)epi,
                   (__half *)k_cache, (__half *)v_cache, pos0, c->d_pos, ln_g, ln_b, ln_eps};
    dispatch(c, a, w->type, rows_per_warp ? rows_per_warp : tuned_rows(c, a, w->type));
}

static void dispatch(qb_cuda *c, const gemv_args &a, qb_type t, int R) {
    switch (t) {
    case QB_TYPE_F32: launch_r<TF32>(c, a, R); break;
    case QB_TYPE_F16: launch_r<THalf<false>>(c, a, R); break;
    case QB_TYPE_BF16: launch_r<THalf<true>>(c, a, R); break;
    case QB_TYPE_Q8_0: launch_r<TQ8_0>(c, a, R); break;
    case QB_TYPE_Q4_0: launch_r<TQ4<QB_TYPE_Q4_0>>(c, a, R); break;
    case QB_TYPE_Q4_1: launch_r<TQ4<QB_TYPE_Q4_1>>(c, a, R); break;
    case QB_TYPE_IQ4_NL: launch_r<TQ4<QB_TYPE_IQ4_NL>>(c, a, R); break;
    case QB_TYPE_Q4_K: launch_r<TQ4_K>(c, a, R); break;
    case QB_TYPE_Q6_K: launch_r<TQ6_K>(c, a, R); break;
    default: qb_die(QB_EXIT_DATA, "cuda: gemv: weight type %d not supported", (int)t);
    }
}

void qb_cuda_gemv(qb_cuda *c, float *y, const float *x, const qb_weight *w, const float *bias,
                  qb_cuda_epilogue epi, int rows_per_warp) {
    qb_cuda_gemv_full(c, y, x, w, bias, epi, rows_per_warp, NULL, NULL, 0, NULL, NULL, 0);
}
