// gemv_mma.cuh: the batch-1 decode matmul of Q4_0, Q4_1, Q8_0, IQ4_NL and Q4_K on
// the tensor cores (mma.sync m16n8k16: FP16 in, FP32 sums), for the decode chain's GEMV
// (gemv.cu's k_gemv with R < 0: -R rows a block, 8 or 16).
//
// Why: after its wait the CUDA-core lane code (gemv.cuh) spends about five
// instructions a weight (byte to float, offset, FMA, scale): gpt2-xl's q4_0
// GEMVs run 4-6 us after their wait for 2 us of DRAM, compute-bound. Here a
// weight costs ~1.1 instructions to become an exact FP16 value (codes minus
// their zero point: small integers), and the products go to the tensor core.
//
// The numerics stay weight-only: x enters as two FP16 limbs, hi = fp16(x)
// and lo = fp16(x - hi) (about 22 bits of x; the products are exact and the
// tensor core sums them in FP32), and each block's scale multiplies its own
// dot in FP32, as the CUDA-core code does. (x must stay inside FP16's range,
// |x| < 65504, as the FP16 K/V cache already asks of the activations.)
//
// The layout of one mma (lane l = 4g + t, g = l / 4, t = l % 4):
// - A, the weights, 16 rows x 16: lane (g, t) holds 4 weights of rows g and
//   g + 8 (rows the warp's) at k = 2t, 2t+1, 2t+8, 2t+9, all from one
//   quant block: block 4s + t of step s. So each k column of four belongs to
//   one lane t, and the four lanes t of a row hold four different blocks.
// - B, x, 16 x 8: column n = 2t' + limb holds limb `limb` of block 4s + t'
//   at lane t''s k slots and zero elsewhere. Lane (g, t) supplies column g at
//   its own k slots, so only the eight lanes with g / 2 == t hold x; the
//   others read zeros.
// - D = A B: D[row][2t + limb] is then lane t's block dotted with one limb,
//   and it lands in lane (g, t) itself (d[0..1]: row g, d[2..3]: row g + 8),
//   the lane that loaded that block's scale.
// Eight mmas take a lane's 32 weights of each row (one quant block), then
// the lane adds scale x (hi + lo) to its rows' sums.
//
// Q4_K's unit is a 32-byte chunk of its super-block: two sub-blocks of 32
// (low nibbles, then high), each its own eight mmas and scale. Types with a
// minimum (Q4_1, Q4_K: w = d q + m) also need each sub-block's sum of x,
// the same for every row: the lanes that convert x sum it as they go.
#pragma once
#include "gemv.cuh"

// D += A B for one m16n8k16 tile (A row-major, B column-major, FP16; D FP32),
// fragments as in the PTX ISA: lane 4g + t holds A[g][2t..2t+1] (a[0]),
// A[g+8][2t..] (a[1]), A[g][2t+8..] (a[2]), A[g+8][2t+8..] (a[3]),
// B[2t..2t+1][g] (b[0]), B[2t+8..2t+9][g] (b[1]), D[g][2t..2t+1] (d[0..1])
// and D[g+8][2t..2t+1] (d[2..3]); the lower half of a word is the first.
__device__ __forceinline__ void qb_mma16816(float *d, const uint32_t *a, const uint32_t *b) {
#ifdef QB_SIMT
    qb_simt_mma16816(d, a, b);
#else
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

__device__ __forceinline__ uint32_t qb_h2_bits(__half2 h) {
    uint32_t u;
    memcpy(&u, &h, 4);
    return u;
}
__device__ __forceinline__ __half2 qb_h2_of(uint32_t u) {
    __half2 h;
    memcpy((void *)&h, &u, 4); // (a trivially copyable value; the cast tells the host compiler so)
    return h;
}
// Two FP16 values 1024 + v (v < 1024: the halves' bits 0x6400 | v) less c.
__device__ __forceinline__ uint32_t qb_h2_sub(uint32_t u, float c) {
    return qb_h2_bits(__hsub2(qb_h2_of(u), __float2half2_rn(c)));
}
// (u & mask) | 0x64006400: the bits of u under mask, placed in the mantissas
// of two FP16 1024s. One LOP3 (written as PTX: from C the compiler spends two,
// the instruction having room for one constant, not both).
__device__ __forceinline__ uint32_t qb_h2_magic(uint32_t u, uint32_t mask) {
#ifdef QB_SIMT
    return (u & mask) | 0x64006400u;
#else
    uint32_t r;
    asm("lop3.b32 %0, %1, %2, %3, 0xea;" : "=r"(r) : "r"(u), "r"(mask), "r"(0x64006400u));
    return r;
#endif
}
// u * m + c in each half (one rounding: exact where the result is an FP16 integer).
__device__ __forceinline__ uint32_t qb_h2_fma(uint32_t u, float m, float c) {
    return qb_h2_bits(__hfma2(qb_h2_of(u), __float2half2_rn(m), __float2half2_rn(c)));
}

// The N quant bytes (16 or 32) of unit blk of a row into w[0 .. N/4 - 1].
template <int N>
__device__ __forceinline__ void qb_mma_quants(const uint8_t *q, int blk, uint32_t *w) {
#pragma unroll
    for (int k = 0; k < N / 16; k++) {
        const uint4 v = ldw16(q + (size_t)blk * N + 16 * k);
        w[4 * k] = v.x, w[4 * k + 1] = v.y, w[4 * k + 2] = v.z, w[4 * k + 3] = v.w;
    }
}

// ---- the types: one quant block of one row, as a lane holds it -------------------------------
// NW: words a lane loads (quants, then the scales); UNROLL: steps in flight;
// NSUB: sub-blocks of 32 weights in a lane's unit (1, or Q4_K's 2); MIN: a
// minimum term; load(): unit blk of a row; halves(w, j, h): sub-block j's 32
// weights as 16 words of two FP16 values, words 2i and 2i+1 for mma i (a[0]
// / a[2] of the row); scale(w, c, j) and minimum(w, c, j): what multiplies
// sub-block j's dot and its sum of x (c = blk % 4: a unit's place in a
// Q4_K super-block); XSPREAD and xword(): how x[4c..4c+3] of a sub-block
// (c = 0..7) pair up in the same order: (x0, x2), (x1, x3) when XSPREAD,
// else (x0, x1), (x2, x3), the pairs being its x words xword(c) and
// xword(c) + 1.

// Q4_0: 16 quant bytes; byte j holds weight j (low nibble) and j + 16 (high).
struct MQ4_0 {
    static constexpr int NW = 5, UNROLL = 4; // 4 steps ahead: 64 (8 rows) or 128 bytes (16) a lane
    static constexpr int NSUB = 1;
    static constexpr bool XSPREAD = true, MIN = false;
    static __device__ void load(const uint8_t *q, const uint8_t *sc, int blk, uint32_t *w) {
        qb_mma_quants<16>(q, blk, w);
        w[4] = ldw2(sc + (size_t)blk * 2);
    }
    static __device__ float scale(const uint32_t *w, int, int) { return h2f(w[4]); }
    static __device__ float minimum(const uint32_t *, int, int) { return 0.0f; }
    // Word q (bytes 4q..4q+3) gives weights (4q, 4q+2) and (4q+1, 4q+3) from
    // the low nibbles (1024 + n, less 1024 + Z), (4q+16, 4q+18) and (4q+17,
    // 4q+19) from the high ones in place (1024 + 16 n: times 1/16, less 64 + Z),
    // Z the codes' zero point.
    template <int Z = 8>
    static __device__ void halves(const uint32_t *w, int, uint32_t *h) {
#pragma unroll
        for (int q = 0; q < 4; q++) {
            const uint32_t u = w[q], v = w[q] >> 8;
            h[4 * q] = qb_h2_sub(qb_h2_magic(u, 0x000f000fu), 1024.0f + Z);
            h[4 * q + 1] = qb_h2_sub(qb_h2_magic(v, 0x000f000fu), 1024.0f + Z);
            h[4 * q + 2] = qb_h2_fma(qb_h2_magic(u, 0x00f000f0u), 0.0625f, -64.0f - Z);
            h[4 * q + 3] = qb_h2_fma(qb_h2_magic(v, 0x00f000f0u), 0.0625f, -64.0f - Z);
        }
    }
    static __device__ int xword(int c) { return c < 4 ? 4 * c : 4 * (c - 4) + 2; }
};

// Q4_1: Q4_0's nibbles, unsigned (no zero point), and a minimum m after the
// scale d: w = d n + m.
struct MQ4_1 : MQ4_0 {
    static constexpr bool MIN = true;
    static __device__ void load(const uint8_t *q, const uint8_t *sc, int blk, uint32_t *w) {
        qb_mma_quants<16>(q, blk, w);
        w[4] = ldw4(sc + (size_t)blk * 4);
    }
    static __device__ float minimum(const uint32_t *w, int, int) { return h2f(w[4] >> 16); }
    static __device__ void halves(const uint32_t *w, int j, uint32_t *h) { MQ4_0::halves<0>(w, j, h); }
};

// Q8_0: 32 quant bytes (int8), weight j in byte j. 4 steps ahead: at 2 it
// lost to the CUDA cores on every shape of gpt2-xl, a type of 1.06 bytes a
// weight needing more bytes in flight than the 4-bit ones; at 4, alone on the
// H100, 7 of its 8 (shape, rows) pairs ran faster: 4800 x 1600 at 16 rows
// 0.435 -> 0.556 of the copy bandwidth, 50257 x 1600 0.794 -> 0.855
// (data/results/h100/split-run-d625b9d, call 2).
struct MQ8_0 {
    static constexpr int NW = 9, UNROLL = 4; // 144 (8 rows) or 288 bytes (16) a lane in flight
    static constexpr int NSUB = 1;
    static constexpr bool XSPREAD = false, MIN = false;
    static __device__ void load(const uint8_t *q, const uint8_t *sc, int blk, uint32_t *w) {
        qb_mma_quants<32>(q, blk, w);
        w[8] = ldw2(sc + (size_t)blk * 2);
    }
    static __device__ float scale(const uint32_t *w, int, int) { return h2f(w[8]); }
    static __device__ float minimum(const uint32_t *, int, int) { return 0.0f; }
    // Word q gives weights (4q, 4q+1) and (4q+2, 4q+3): each byte biased to
    // unsigned (v + 128) under 0x64 is 1024 + 128 + v, less 1152.
    static __device__ void halves(const uint32_t *w, int, uint32_t *h) {
#pragma unroll
        for (int q = 0; q < 8; q++) {
            const uint32_t u = w[q] ^ 0x80808080u;
            h[2 * q] = qb_h2_sub(__byte_perm(u, 0x64646464u, 0x4140), 1152.0f);
            h[2 * q + 1] = qb_h2_sub(__byte_perm(u, 0x64646464u, 0x4342), 1152.0f);
        }
    }
    static __device__ int xword(int c) { return 2 * c; }
};

// IQ4_NL: Q4_0's nibbles, each an index into the 16-value int8 codebook.
struct MIQ4_NL : MQ4_0 {
    static constexpr bool XSPREAD = false;
    // Word q gives weights 4q..4q+3 (low nibbles) and 4q+16..4q+19 (high) as
    // int8 values biased by 128 (iq4nl_lookup), placed as Q8_0's bytes are.
    static __device__ void halves(const uint32_t *w, int, uint32_t *h) {
#pragma unroll
        for (int q = 0; q < 4; q++) {
            const uint32_t lo = iq4nl_lookup(w[q] & 0x0f0f0f0fu), hi = iq4nl_lookup((w[q] >> 4) & 0x0f0f0f0fu);
            h[4 * q] = qb_h2_sub(__byte_perm(lo, 0x64646464u, 0x4140), 1152.0f);
            h[4 * q + 1] = qb_h2_sub(__byte_perm(lo, 0x64646464u, 0x4342), 1152.0f);
            h[4 * q + 2] = qb_h2_sub(__byte_perm(hi, 0x64646464u, 0x4140), 1152.0f);
            h[4 * q + 3] = qb_h2_sub(__byte_perm(hi, 0x64646464u, 0x4342), 1152.0f);
        }
    }
};

// Q4_K: unit blk is chunk c = blk % 4 of super-block blk / 4, 32 quant bytes:
// byte j holds weight j of sub-block 2c (low nibble) and of 2c + 1 (high);
// the super-block's d, dmin and 12 bytes of 6-bit scales and minimums after
// them: w = d sc q - dmin m.
struct MQ4_K {
    static constexpr int NW = 12, UNROLL = 2; // 2 steps ahead: 96 (8 rows) or 192 bytes (16) a lane
    static constexpr int NSUB = 2;
    static constexpr bool XSPREAD = true, MIN = true;
    static __device__ void load(const uint8_t *q, const uint8_t *sc, int blk, uint32_t *w) {
        qb_mma_quants<32>(q, blk, w);
        const uint4 s = ldw16(sc + (size_t)(blk / 4) * 16); // (the same 16 bytes for a row's four lanes)
        w[8] = s.x, w[9] = s.y, w[10] = s.z, w[11] = s.w;
    }
    static __device__ float scale(const uint32_t *w, int c, int j) {
        float s1, m1, s2, m2;
        q4k_scale_min_pair(w + 9, c, &s1, &m1, &s2, &m2);
        return h2f(w[8]) * (j ? s2 : s1);
    }
    static __device__ float minimum(const uint32_t *w, int c, int j) {
        float s1, m1, s2, m2;
        q4k_scale_min_pair(w + 9, c, &s1, &m1, &s2, &m2);
        return -h2f(w[8] >> 16) * (j ? m2 : m1);
    }
    // Word q gives weights (4q, 4q+2) and (4q+1, 4q+3) of sub-block j: the
    // low nibbles (1024 + n, less 1024) or the high ones in place (1024 + 16 n:
    // times 1/16, less 64).
    static __device__ void halves(const uint32_t *w, int j, uint32_t *h) {
#pragma unroll
        for (int q = 0; q < 8; q++) {
            const uint32_t u = w[q], v = w[q] >> 8;
            if (j == 0) {
                h[2 * q] = qb_h2_sub(qb_h2_magic(u, 0x000f000fu), 1024.0f);
                h[2 * q + 1] = qb_h2_sub(qb_h2_magic(v, 0x000f000fu), 1024.0f);
            } else {
                h[2 * q] = qb_h2_fma(qb_h2_magic(u, 0x00f000f0u), 0.0625f, -64.0f);
                h[2 * q + 1] = qb_h2_fma(qb_h2_magic(v, 0x00f000f0u), 0.0625f, -64.0f);
            }
        }
    }
    static __device__ int xword(int c) { return 2 * c; }
};

// The x of one step (four units) as FP16 limbs, each warp its own: two
// buffers (steps alternate), 4 units, NSUB sub-blocks, 2 limbs, 16 words;
// zeros for the lanes that hold no x (8 words read as 8 pairs).
template <int NSUB, int KW>
struct qb_mma_xs {
    uint2 x[KW][2][4][NSUB][2][8];
    uint2 zero[KW][8];
};

// Rows row0 .. row0+MR-1 (those below row_end; MR 8 or 16) of y = W x + b by
// one block of KW warps, each taking every KW-th step of four units (quant
// blocks; Q4_K's chunks); ready() and the finish as qb_gemv_rows'.
//
// With gridDim.y = S > 1 the row is split: this block takes the blockIdx.y-th
// of S runs of steps, and the last of the S blocks to finish adds their
// sums (qb_gemv_fin::split_sum). Why: a matrix of few long rows (gpt2-xl's
// MLP output projection, 1600 x 6400) makes 100 blocks of 16 rows or 200 of
// 8, fewer than two an SM, each with 50 steps in a row: the tensor-core
// code ran it at 0.18 of the copy bandwidth, against 0.49 for the 400
// blocks of 1600-long rows of its input projection. Measured on the H100
// (data/results/h100/split-run-d625b9d), Q4_0 at 16 rows over 4 blocks ran
// it in 5.6 us, not 10.6, yet the CUDA cores' 2 rows take 5.2: the same 400
// blocks' work as the input projection's 3.9 us, plus about 1.6 us of
// counting and summing in the last blocks. Decode did not move, so the
// tuners leave it out unless QB_CUDA_GEMV_SPLIT=1 (Q4_K's, alone: 0.28
// against 0.24 on the CUDA cores, the one shape it wins). 8 warps a block
// (KW below) instead do that work without the count: Q4_K's 1600 x 6400 in
// 5.4 us against the CUDA cores' 7.2, gpt2-xl q4_k decoding 9 % faster
// (data/results/h100/wide-run-b3a8d43); Q4_0's 6.1, still behind their 5.1.
//
// KW: the block's warps, KS or 8 (R -(rows + 512), for matrices of few long
// rows; lean kernels only: the fused layernorm of x assumes KS). 16 warps at
// 8 rows ran gpt2-xl's 1600 x 6400 slower than 8 (q4_0 6.5 us against 5.8,
// q4_k 7.2 against 5.4) and the graph tuner never kept it
// (data/results/h100/w16-run-847b4f9): not offered.
template <class MT, int MR, int P, int KW = KS, class Ready>
__device__ __forceinline__ void qb_gemv_rows_mma(const gemv_args &a, int row0, int row_end, Ready ready) {
    static_assert(MR == 8 || MR == 16, "8 or 16 rows a block");
    constexpr int NR = MR / 8; // rows a lane holds: g (and g + 8)
    __shared__ float part[KW][MR];
    constexpr int NS = MT::NSUB;
    __shared__ qb_mma_xs<NS, KW> xs;
    const int lane = threadIdx.x & 31, wk = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const int nb = a.n_in / (32 * NS), steps = (nb + 3) / 4;
    const int per = (steps + (int)gridDim.y - 1) / (int)gridDim.y; // this block's run of steps: [s_begin, s_end)
    const int s_begin = (int)blockIdx.y * per, s_end = min(steps, s_begin + per);
    const uint8_t *q[NR], *sc[NR];
#pragma unroll
    for (int r = 0; r < NR; r++) {
        const int row = min(row0 + g + 8 * r, row_end - 1); // a short last group recomputes the last row
        q[r] = a.w + (size_t)row * a.qrow;
        sc[r] = a.w + a.scales_off + (size_t)row * a.srow;
    }
    // A lane past the last unit (the last step of a row of 4k + 1..3 blocks)
    // loads the last one again: its x there is zero.
    auto load = [&](int s, uint32_t (*w)[MT::NW]) {
        const int blk = min(4 * s + t, nb - 1);
#pragma unroll
        for (int r = 0; r < NR; r++) MT::load(q[r], sc[r], blk, w[r]);
    };
    constexpr int U = MT::UNROLL;
    uint32_t w[U][NR][MT::NW];
#pragma unroll
    for (int u = 0; u < U; u++)
        if (s_begin + wk + KW * u < s_end) load(s_begin + wk + KW * u, w[u]);
    if (lane < 8) xs.zero[wk][lane] = make_uint2(0u, 0u);
    qb_gemv_fin<P> fin(a, row0, row_end, MR);
    const float *x = ready();
    fin.ready(a);
    const bool holds_x = g / 2 == t; // lane (g, t) supplies B's column g: limb g % 2 of block 4s + t
    // This lane's x of step s, loaded U steps ahead as the weights are (a step
    // waiting on its own x was a round trip to L2 before each step's mmas):
    // values 4c..4c+3 (c = lane % 8) of each sub-block of unit 4s + lane / 8.
    const int bq = lane >> 3, c = lane & 7;
    auto load_x = [&](int s, float4 *v) {
        const int bx = 4 * s + bq;
#pragma unroll
        for (int j = 0; j < NS; j++)
            v[j] = s < s_end && bx < nb ? ldx4(x, (bx * NS + j) * 32 + 4 * c) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    };
    float4 xv[U][NS];
#pragma unroll
    for (int u = 0; u < U; u++) load_x(s_begin + wk + KW * u, xv[u]);
    float acc[NR];
#pragma unroll
    for (int r = 0; r < NR; r++) acc[r] = 0;
    int buf = 0;
    for (int s0 = s_begin + wk; s0 < s_end; s0 += KW * U) {
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int s = s0 + KW * u;
            if (s < s_end) { // (the same for the whole warp: the mma and __syncwarp take every lane)
                // This step's x in limbs into the warp's buffer; with a minimum, each sub-block's sum.
                float sum[NS];
#pragma unroll
                for (int j = 0; j < NS; j++) {
                    const float4 v = xv[u][j];
                    const float p0 = v.x, p1 = MT::XSPREAD ? v.z : v.y, p2 = MT::XSPREAD ? v.y : v.z, p3 = v.w;
                    const __half2 h01 = __floats2half2_rn(p0, p1), h23 = __floats2half2_rn(p2, p3);
                    const float2 f01 = __half22float2(h01), f23 = __half22float2(h23);
                    const int wd = MT::xword(c) / 2;
                    xs.x[wk][buf][bq][j][0][wd] = make_uint2(qb_h2_bits(h01), qb_h2_bits(h23));
                    xs.x[wk][buf][bq][j][1][wd] = make_uint2(qb_h2_bits(__floats2half2_rn(p0 - f01.x, p1 - f01.y)),
                                                             qb_h2_bits(__floats2half2_rn(p2 - f23.x, p3 - f23.y)));
                    sum[j] = (v.x + v.y) + (v.z + v.w);
                }
                load_x(s + KW * U, xv[u]);
                if constexpr (MT::MIN) // over the unit's 8 lanes, then from lane 8t: unit 4s + t's
#pragma unroll
                    for (int j = 0; j < NS; j++) {
                        for (int o = 1; o < 8; o *= 2) sum[j] += __shfl_xor_sync(0xffffffffu, sum[j], o);
                        sum[j] = __shfl_sync(0xffffffffu, sum[j], 8 * t);
                    }
                __syncwarp();
                const int cu = min(4 * s + t, nb - 1) & 3; // this lane's unit's place in a super-block
#pragma unroll
                for (int j = 0; j < NS; j++) {
                    const uint2 *xb = holds_x ? xs.x[wk][buf][t][j][g & 1] : xs.zero[wk];
                    // Two sums, the even and the odd mmas: two chains of dependent mmas, not one of 8.
                    float d[2][4] = {{0.0f, 0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f, 0.0f}};
                    uint32_t h[NR][16];
#pragma unroll
                    for (int r = 0; r < NR; r++) MT::halves(w[u][r], j, h[r]);
#pragma unroll
                    for (int i = 0; i < 8; i++) {
                        const uint2 xw = xb[i];
                        const uint32_t A[4] = {h[0][2 * i], NR > 1 ? h[NR - 1][2 * i] : 0u, h[0][2 * i + 1],
                                               NR > 1 ? h[NR - 1][2 * i + 1] : 0u};
                        const uint32_t B[2] = {xw.x, xw.y};
                        qb_mma16816(d[i & 1], A, B);
                    }
#pragma unroll
                    for (int r = 0; r < NR; r++) {
                        const float dot = (d[0][2 * r] + d[0][2 * r + 1]) + (d[1][2 * r] + d[1][2 * r + 1]);
                        acc[r] = fmaf(MT::scale(w[u][r], cu, j), dot, acc[r]);
                        if constexpr (MT::MIN) acc[r] = fmaf(MT::minimum(w[u][r], cu, j), sum[j], acc[r]);
                    }
                }
                buf ^= 1;
            }
            // Refill this slot with this warp's step U ahead.
            const int sn = s + KW * U;
            if (sn < s_end) load(sn, w[u]);
        }
    }
    qb_trace_mark_product(qb_trace_products(a.tr), acc[0]); // (warp 0's share of the product done)
    // A row's sum: its four lanes t (four blocks a step).
#pragma unroll
    for (int r = 0; r < NR; r++) {
        float v = acc[r];
        v += __shfl_xor_sync(0xffffffffu, v, 1);
        v += __shfl_xor_sync(0xffffffffu, v, 2);
        if (t == 0) part[wk][g + 8 * r] = v;
    }
    if (fin.template split_sum<KW>(a, row0 / MR, &part[0][0], MR)) fin.template end<KW>(a, row0, row_end, &part[0][0], MR);
}
