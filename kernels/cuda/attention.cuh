// attention.cuh: one chunk of split-K decode attention over the float16 KV
// cache (see attention.cu for the scheme), shared by the attention kernel and
// the persistent decode step (decode_step.cuh).
#pragma once
#include <math.h>

#include "device.cuh"

#define CH 64        // keys per block
#define ATT_THREADS 128 // the persistent step's (its blocks'); the graph's kernel takes 512 (or 128, 256)

// Chunk s of head h for new token t, by one block of NT threads (at least 2 CH): its
// partials (m, l, then acc[D]) into part, and, in the last of the head's S
// chunks to finish, their merge into out. ready() is called once the old
// keys' cache rows are on their way to L2 (they depend on nothing that runs
// before): where the caller waits for q and the new rows.
template <int NT, class Ready>
__device__ __forceinline__ void qb_attn_chunk(float *out, const float *q, int q_stride, const __half *kc,
                                              const __half *vc, int pos0, const int *d_pos, int n_head, int D, int S,
                                              float *part, unsigned *counters, int s, int h, int t, Ready ready) {
    __shared__ float qs[256];
    __shared__ float sc[CH];
    __shared__ float accs[NT * 2];
    __shared__ bool last;
    const int tid = threadIdx.x;
    const int E = n_head * D;
    // The position was set before the launch (by the host), and the K and V
    // rows of earlier positions by earlier steps: only q and the new tokens'
    // rows come from the kernel before this one. So the old rows of this
    // block's keys are sent on their way to L2 before waiting for it (from
    // DRAM they were the longest waits of this short, latency-bound kernel).
    const int first_new = qb_pos(pos0, d_pos), n_keys = first_new + t + 1;
    const int k0 = s * CH, k1 = min(k0 + CH, n_keys);
    {
        const int j = k0 + tid / 2, lines = (D * 2 + 127) / 128;
        const __half *row = (tid % 2 ? vc : kc) + (size_t)j * E + h * D;
        if (j < min(k1, first_new))
            for (int i = 0; i < lines; i++) qb_prefetch_l2(row + 64 * i);
    }
    // This thread's first round of value rows (see below) for the old keys:
    // loaded now, they arrive while the scores are computed.
    constexpr int VB = 16;
    const int P = D / 2, G = NT / P, dp = tid % P, g = tid / P;
    __half2 v_old[VB];
#pragma unroll
    for (int u = 0; u < VB; u++) {
        const int j = k0 + g + u * G;
        v_old[u] = g < G && j < min(k1, first_new) ? *(const __half2 *)(vc + (size_t)j * E + h * D + 2 * dp)
                                                    : __half2();
    }
    ready();
    float *pp = part + ((size_t)(t * n_head + h) * S + s) * (D + 2);
    if (k0 >= n_keys) {
        if (tid == 0) pp[0] = -INFINITY, pp[1] = 0.0f;
    } else {
        const float scale = rsqrtf((float)D);
        // Scores: two threads per key, each half of the dimensions, 16-byte loads.
        // The first 32 dimensions of the half (a 64-wide head's all) are loaded
        // before q, so the two loads share one round trip.
        {
            const int j = k0 + tid / 2, half = tid % 2, HD = D / 2;
            const __half *kr = kc + (size_t)j * E + h * D + half * HD;
            uint4 k4[4];
#pragma unroll
            for (int e = 0; e < 4; e++)
                k4[e] = j < k1 && 8 * e < HD ? *(const uint4 *)(kr + 8 * e) : make_uint4(0, 0, 0, 0);
            for (int d = tid; d < D; d += NT) qs[d] = q[(size_t)t * q_stride + h * D + d] * scale;
            __syncthreads();
            float dot = 0;
            if (j < k1) {
#pragma unroll 4
                for (int d = 0; d < HD; d += 8) {
                    const uint4 u = d < 32 ? k4[d / 8 % 4] : *(const uint4 *)(kr + d);
                    const __half2 *h2 = (const __half2 *)&u;
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        float2 f = __half22float2(h2[e]);
                        dot = fmaf(f.x, qs[half * HD + d + 2 * e], dot);
                        dot = fmaf(f.y, qs[half * HD + d + 2 * e + 1], dot);
                    }
                }
            }
            dot += __shfl_xor_sync(0xffffffffu, dot, 1);
            if (half == 0 && tid / 2 < CH) sc[tid / 2] = j < k1 ? dot : -INFINITY;
        }
        __syncthreads();
        // Max and sum over the chunk (CH = 64: two values per lane of warp 0).
        if (tid < 32) {
            float a = sc[tid], b = sc[tid + 32];
            const float m = qb_warp_max(fmaxf(a, b));
            a = a == -INFINITY ? 0.0f : __expf(a - m);
            b = b == -INFINITY ? 0.0f : __expf(b - m);
            sc[tid] = a, sc[tid + 32] = b;
            const float l = qb_warp_sum(a + b);
            if (tid == 0) pp[0] = m, pp[1] = l;
        }
        __syncthreads();
        // Values: thread = (group g, dimension pair dp); groups split the keys,
        // VB keys' loads at once (one by one, a 64-wide head's 16 keys a thread
        // were 16 round trips to L2, most of the chunk's time).
        // (The first round's old keys are in v_old already.)
        float2 acc = make_float2(0.0f, 0.0f);
        if (g < G)
            for (int j0 = k0 + g; j0 < k1; j0 += VB * G) {
                __half2 v[VB];
#pragma unroll
                for (int u = 0; u < VB; u++) {
                    const int j = j0 + u * G;
                    v[u] = j0 == k0 + g && j < first_new ? v_old[u]
                           : j < k1                      ? *(const __half2 *)(vc + (size_t)j * E + h * D + 2 * dp)
                                                         : __half2();
                }
#pragma unroll
                for (int u = 0; u < VB; u++) {
                    const int j = j0 + u * G;
                    const float w = j < k1 ? sc[j - k0] : 0.0f;
                    const float2 f = __half22float2(v[u]);
                    acc.x = fmaf(w, f.x, acc.x);
                    acc.y = fmaf(w, f.y, acc.y);
                }
            }
        if (g < G) accs[2 * (g * P + dp)] = acc.x, accs[2 * (g * P + dp) + 1] = acc.y;
        __syncthreads();
        for (int d = tid; d < D; d += NT) {
            float v = 0;
            for (int gg = 0; gg < G; gg++) v += accs[2 * gg * P + d];
            pp[2 + d] = v;
        }
    }
    // The last block of (h, t) merges the S partials.
    __threadfence();
    __syncthreads();
    if (tid == 0) {
        unsigned *ctr = counters + t * n_head + h;
        last = atomicAdd(ctr, 1u) == (unsigned)S - 1;
        if (last) *ctr = 0; // ready for the next launch
    }
    __syncthreads();
    if (!last) return;
    __threadfence();
    // The merge, its loads issued in parallel: the S maxima at once, then
    // every dimension's S partial sums (a serial chain of L2 loads here cost
    // more than the whole split before).
    __shared__ float fw[256]; // exp(m_i - M) per chunk (0: empty)
    __shared__ float den;
    const float *base = part + (size_t)(t * n_head + h) * S * (D + 2);
    for (int i = tid; i < S; i += NT) fw[i] = __ldcg(base + (size_t)i * (D + 2));
    __syncthreads();
    if (tid < 32) {
        float M = -INFINITY;
        for (int i = tid; i < S; i += 32) M = fmaxf(M, fw[i]);
        M = qb_warp_max(M);
        float l = 0;
        for (int i = tid; i < S; i += 32) {
            const float m = fw[i];
            const float f = m == -INFINITY ? 0.0f : __expf(m - M);
            fw[i] = f;
            if (f != 0.0f) l += f * __ldcg(base + (size_t)i * (D + 2) + 1);
        }
        l = qb_warp_sum(l);
        if (tid == 0) den = l;
    }
    __syncthreads();
    const float inv = 1.0f / den;
    for (int d = tid; d < D; d += NT) {
        float num = 0;
#pragma unroll 8
        for (int i = 0; i < S; i++) {
            const float f = fw[i];
            const float v = f != 0.0f ? __ldcg(base + (size_t)i * (D + 2) + 2 + d) : 0.0f;
            num = fmaf(f, v, num);
        }
        out[(size_t)t * E + h * D + d] = num * inv;
    }
}

// ---- one block a head: short contexts -----------------------------------------------------------
// With few keys a head's split into chunks costs more than its work: each
// chunk's partials go to memory, a counter picks the last chunk, which loads
// them all back to merge (dependent round trips on the decode chain's critical
// path). Up to qb_attn_whole_keys(D) keys one block takes the head whole, its
// K and V rows in shared memory (QB_ATT_WHOLE_BYTES), then the scores.
#define QB_ATT_WHOLE_BYTES 65536
__host__ __device__ constexpr int qb_attn_whole_keys(int D) { return QB_ATT_WHOLE_BYTES / (4 * D); }
__host__ __device__ constexpr size_t qb_attn_whole_smem(int D) {
    return QB_ATT_WHOLE_BYTES + 4 * (size_t)qb_attn_whole_keys(D);
}

// Where the 16-byte piece p of key j's row lies in the whole head's K rows in
// shared memory: slot p ^ (j & mask). The scores' threads read a row a
// thread pair (each half of it), so unswizzled every pair of a quarter warp
// hit the same banks (rows 128 bytes apart for heads of 64: 16-way
// conflicts on 4-byte loads, 4-way on 16-byte ones); with the slots turned by
// the key's low bits the quarter warp's 16-byte loads hit eight distinct bank
// groups. mask 0 (no swizzle) where a row's pieces are not a power of two.
__device__ __forceinline__ int qb_attn_k_slot(int p, int j, int pieces) {
    const int mask = pieces & (pieces - 1) ? 0 : min(pieces, 8) - 1;
    return p ^ (j & mask);
}

// Head h for new token t, its n_keys keys (first_new of them from earlier
// steps), by one block of NT threads; kv: qb_attn_whole_smem(D) bytes of
// shared memory. The old keys' rows are copied there asynchronously before
// ready() (nothing this step writes them); after it only q and the new
// tokens' rows are loaded.
template <int NT, class Ready>
__device__ __forceinline__ void qb_attn_whole(float *out, const float *q, int q_stride, const __half *kc,
                                              const __half *vc, int first_new, int n_keys, int n_head, int D, int h,
                                              int t, __half *kv, Ready ready) {
    __shared__ __align__(16) float qs[256 + 4]; // q scaled, its halves 4 floats apart
    __shared__ float red[32];
    __shared__ float accs[NT * 2];
    const int tid = threadIdx.x, E = n_head * D, NK = qb_attn_whole_keys(D), pieces = D / 8; // 16-byte pieces a row
    __half *ks = kv, *vs = kv + (size_t)NK * D;
    float *sc = (float *)(vs + (size_t)NK * D);
    for (int i = tid; i < first_new * pieces; i += NT) {
        const int j = i / pieces, c = i % pieces;
        const size_t at = (size_t)j * E + h * D + 8 * c;
        qb_async_copy16(ks + (size_t)j * D + 8 * qb_attn_k_slot(c, j, pieces), kc + at);
        qb_async_copy16(vs + (size_t)j * D + 8 * c, vc + at);
    }
    ready();
    // q and the new tokens' rows come from the kernel waited for: one round
    // trip for both. The rows go by cp.async (through L2, where that kernel
    // left them), issued before q's loads; copied through registers after q,
    // the threads holding both waited out two round trips in turn.
    for (int i = tid; i < (n_keys - first_new) * pieces; i += NT) {
        const int j = first_new + i / pieces, c = i % pieces;
        const size_t at = (size_t)j * E + h * D + 8 * c;
        qb_async_copy16<true>(ks + (size_t)j * D + 8 * qb_attn_k_slot(c, j, pieces), kc + at);
        qb_async_copy16<true>(vs + (size_t)j * D + 8 * c, vc + at);
    }
    // q's second half lies 4 floats further on (qs holds D + 4), so the two
    // halves' 16-byte reads, a broadcast each, fall in different banks.
    const int HD = D / 2, half = tid % 2;
    const float scale = rsqrtf((float)D);
    for (int d = tid; d < D; d += NT) qs[d + (d >= HD ? 4 : 0)] = q[(size_t)t * q_stride + h * D + d] * scale;
    qb_async_wait();
    __syncthreads();
    // Scores: two threads a key, each half of the dimensions (HD / 8 pieces).
    float mx = -INFINITY;
    for (int j0 = 0; j0 < n_keys; j0 += NT / 2) {
        const int j = j0 + tid / 2;
        float dot = 0, dot2 = 0; // two chains: half the dependent FMAs a thread waits on
        if (j < n_keys) {
            const __half *kr = ks + (size_t)j * D;
            const float *qh = qs + half * (HD + 4);
#pragma unroll 4
            for (int c = 0; c < HD / 8; c++) {
                const uint4 u = *(const uint4 *)(kr + 8 * qb_attn_k_slot(half * (HD / 8) + c, j, pieces));
                const float4 qa = *(const float4 *)(qh + 8 * c), qb = *(const float4 *)(qh + 8 * c + 4);
                const __half2 *h2 = (const __half2 *)&u;
                const float2 f0 = __half22float2(h2[0]), f1 = __half22float2(h2[1]);
                const float2 f2 = __half22float2(h2[2]), f3 = __half22float2(h2[3]);
                dot = fmaf(f0.x, qa.x, dot), dot2 = fmaf(f0.y, qa.y, dot2);
                dot = fmaf(f1.x, qa.z, dot), dot2 = fmaf(f1.y, qa.w, dot2);
                dot = fmaf(f2.x, qb.x, dot), dot2 = fmaf(f2.y, qb.y, dot2);
                dot = fmaf(f3.x, qb.z, dot), dot2 = fmaf(f3.y, qb.w, dot2);
            }
        }
        dot += dot2;
        dot += __shfl_xor_sync(0xffffffffu, dot, 1);
        if (j < n_keys) {
            if (half == 0) sc[j] = dot;
            mx = fmaxf(mx, dot);
        }
    }
    const float m = qb_block_max(mx, red); // (its barriers also publish sc)
    float l = 0;
    for (int j = tid; j < n_keys; j += NT) {
        const float p = __expf(sc[j] - m);
        sc[j] = p;
        l += p;
    }
    l = qb_block_sum(l, red); // (and these the weights)
    // Values: thread = (group g, dimension pair dp), the groups splitting the keys.
    const int P = D / 2, G = NT / P, dp = tid % P, g = tid / P;
    float2 acc = make_float2(0.0f, 0.0f);
    if (g < G)
        for (int j = g; j < n_keys; j += G) {
            const float2 f = __half22float2(*(const __half2 *)(vs + (size_t)j * D + 2 * dp));
            acc.x = fmaf(sc[j], f.x, acc.x);
            acc.y = fmaf(sc[j], f.y, acc.y);
        }
    if (g < G) accs[2 * (g * P + dp)] = acc.x, accs[2 * (g * P + dp) + 1] = acc.y;
    __syncthreads();
    const float inv = 1.0f / l;
    for (int d = tid; d < D; d += NT) {
        float v = 0;
        for (int gg = 0; gg < G; gg++) v += accs[2 * gg * P + d];
        out[(size_t)t * E + h * D + d] = v * inv;
    }
}

// Block (s, h, t) of the split kernel (k_attn_split): chunk s of head h for
// token t, or, with whole set and the token's keys fitting, the whole head in
// block (0, h, t) and nothing in the others. kv: qb_attn_whole_smem(D) bytes
// of shared memory when whole is set.
template <int NT, class Ready>
__device__ __forceinline__ void qb_attn_block(float *out, const float *q, int q_stride, const __half *kc,
                                              const __half *vc, int pos0, const int *d_pos, int n_head, int D, int S,
                                              float *part, unsigned *counters, int whole, __half *kv, int s, int h,
                                              int t, Ready ready) {
    const int first_new = qb_pos(pos0, d_pos), n_keys = first_new + t + 1;
    if (whole && n_keys <= qb_attn_whole_keys(D)) {
        if (s == 0) qb_attn_whole<NT>(out, q, q_stride, kc, vc, first_new, n_keys, n_head, D, h, t, kv, ready);
        return;
    }
    qb_attn_chunk<NT>(out, q, q_stride, kc, vc, pos0, d_pos, n_head, D, S, part, counters, s, h, t, ready);
}
