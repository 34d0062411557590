// attention.cuh: one chunk of split-K decode attention over the float16 KV
// cache (see attention.cu for the scheme), shared by the attention kernel and
// the persistent decode step (decode_step.cuh).
#pragma once
#include <math.h>

#include "device.cuh"

#define CH 64        // keys per block
#define ATT_THREADS 128 // the persistent step's (its blocks'); the graph's kernel takes 512 (or 128, 256)

// Where chunk s of head h, token t keeps its partial (max m, sum l, then
// acc[D]) in part: S chunks a (t, h), D + 2 floats each. The chunks write
// there and the last of them merges from there.
__device__ __forceinline__ size_t qb_attn_partial_at(int n_head, int D, int S, int h, int t, int s) {
    return ((size_t)(t * n_head + h) * S + s) * (D + 2);
}

// The last of the S blocks of head h, token t to get here (a counter, left
// 0 for the next launch) merges their partials in part (m, l, then acc[D]
// each, as qb_attn_chunk writes them) into out; the others return. Not
// inlined: its loads in flight, inlined beside the whole path's registers,
// made the kernel spill (64 registers a thread).
template <int NT>
__device__ __noinline__ void qb_attn_merge(float *out, const float *part, unsigned *counters, int n_head, int D,
                                              int S, int h, int t) {
    __shared__ bool last;
    const int tid = threadIdx.x, E = n_head * D;
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
    // The merge in one pass: each thread (a dimension) loads every partial's
    // max, sum and its value, four partials' loads in flight at once (they
    // depend on nothing before them), and folds them into a running max,
    // sum and value, rescaled as the max grows. (It loaded the S maxima,
    // then the sums, then the values, three round trips to L2 in turn on the
    // chain's critical path.)
    for (int d = tid; d < D; d += NT) {
        float M = -INFINITY, den = 0, num = 0;
#pragma unroll 4
        for (int i = 0; i < S; i++) {
            const float *pi = part + qb_attn_partial_at(n_head, D, S, h, t, i);
            const float m = __ldcg(pi), l = __ldcg(pi + 1), v = __ldcg(pi + 2 + d);
            if (m > -INFINITY) { // (an empty chunk adds nothing)
                const float M2 = fmaxf(M, m), f_old = __expf(M - M2), f = __expf(m - M2);
                den = fmaf(den, f_old, l * f), num = fmaf(num, f_old, v * f), M = M2;
            }
        }
        out[(size_t)t * E + h * D + d] = num / den;
    }
}

// Chunk s of head h for new token t, by one block of NT threads (at least 2 CH): its
// partials (m, l, then acc[D]) into part, and, in the last of the head's S
// chunks to finish, their merge into out. ready() is called once the old
// keys' cache rows are on their way to L2 (they depend on nothing that runs
// before): where the caller waits for q and the new rows.
template <int NT, class Ready>
__device__ __forceinline__ void qb_attn_chunk(float *out, const float *q, int q_stride, const __half *kc,
                                              const __half *vc, int pos0, const int *d_pos, int n_head, int D, int S,
                                              float *part, unsigned *counters, int s, int h, int t, Ready ready,
                                              unsigned long long *trp = nullptr) {
    __shared__ float qs[256];
    __shared__ float sc[CH];
    __shared__ float accs[NT * 2];
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
    float *pp = part + qb_attn_partial_at(n_head, D, S, h, t, s);
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
        qb_trace_mark_product(trp, acc.x); // (the graph trace: this chunk's product done)
        if (g < G) accs[2 * (g * P + dp)] = acc.x, accs[2 * (g * P + dp) + 1] = acc.y;
        __syncthreads();
        for (int d = tid; d < D; d += NT) {
            float v = 0;
            for (int gg = 0; gg < G; gg++) v += accs[2 * gg * P + d];
            pp[2 + d] = v;
        }
    }
    qb_attn_merge<NT>(out, part, counters, n_head, D, S, h, t);
}

// ---- one block a head: short contexts -----------------------------------------------------------
// With few keys a head's split into chunks costs more than its work: each
// chunk's partials go to memory, a counter picks the last chunk, which loads
// them all back to merge (dependent round trips on the decode chain's critical
// path). Up to qb_attn_whole_keys(D, NT) keys one block takes the head whole,
// its warps the keys in turn, its K and V rows held in registers: a key's row
// is P = D / 8 lanes' 16-byte pieces, so a warp holds 32 / P keys a round
// (QB_ATT_ROUNDS rounds). A key's score is summed over its P lanes (log2 P
// shuffles); each warp's softmax and weighted sum of values stay in the warp
// (summed over its key groups by shuffles); one barrier, then the warps'
// partials (max m, sum l, acc[D]) are merged from shared memory. (Before,
// the rows went through shared memory and the scores, max, sum and values
// each waited on the block: four block-wide barriers.) Heads of 16, 32, 64,
// 128 or 256 (a row's pieces must split a warp evenly); others always split.
#define QB_ATT_ROUNDS 4 // a lane's K and V pieces: 32 registers
__host__ __device__ constexpr int qb_attn_whole_keys(int D, int NT) {
    return D >= 16 && D <= 256 && !(D & (D - 1)) ? NT / 32 * (256 / D) * QB_ATT_ROUNDS : 0;
}
// The warps' partials: m[NW], l[NW], acc[NW][D].
__host__ __device__ constexpr size_t qb_attn_whole_smem(int D, int NT) { return (size_t)NT / 32 * (D + 2) * 4; }

// Head h for new token t: keys k0 .. n_keys - 1, at most
// qb_attn_whole_keys(D, NT) of them (first_new of all its keys from earlier
// steps), by one block of NT threads; part: qb_attn_whole_smem(D, NT) bytes
// of shared memory. The old keys' rows are loaded before ready() (nothing
// this step writes them); after it only q and the new tokens' rows, through
// L2 (the kernel waited for wrote them). With pp NULL (k0 = 0: every key)
// the head's output goes to out; else this range's partial (its max m, sum
// l and acc[D], as qb_attn_chunk's) to pp.
template <int NT, class Ready>
__device__ __forceinline__ void qb_attn_whole(float *out, const float *q, int q_stride, const __half *kc,
                                              const __half *vc, int first_new, int k0, int n_keys, int n_head, int D,
                                              int h, int t, float *part, float *pp, Ready ready,
                                              unsigned long long *trp = nullptr) {
    constexpr int NW = NT / 32, R = QB_ATT_ROUNDS;
    const int lane = threadIdx.x % 32, w = threadIdx.x / 32, E = n_head * D;
    const int P = D / 8, KL = 32 / P, c = lane % P, g = lane / P; // lanes a key; keys a round; piece; key group
    // Key of round r: k0 + NW (KL r + g) + w, so that few keys spread over every warp.
    const size_t at = (size_t)(k0 + NW * g + w) * E + h * D + 8 * c, step = (size_t)NW * KL * E;
    uint4 k[R], v[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        const int j = k0 + NW * (KL * r + g) + w;
        const bool old = j < first_new;
        k[r] = old ? *(const uint4 *)(kc + at + r * step) : make_uint4(0, 0, 0, 0);
        v[r] = old ? *(const uint4 *)(vc + at + r * step) : make_uint4(0, 0, 0, 0);
    }
    ready();
    const float scale = rsqrtf((float)D);
    // q's piece: two 16-byte loads (q_stride and h D are multiples of 8 floats).
    const float *qh = q + (size_t)t * q_stride + h * D + 8 * c;
    const uint4 qa = qb_ldcg16(qh), qb = qb_ldcg16(qh + 4);
    const unsigned qu[8] = {qa.x, qa.y, qa.z, qa.w, qb.x, qb.y, qb.z, qb.w};
    float qp[8];
#pragma unroll
    for (int e = 0; e < 8; e++) qp[e] = __uint_as_float(qu[e]) * scale;
#pragma unroll
    for (int r = 0; r < R; r++) {
        const int j = k0 + NW * (KL * r + g) + w;
        if (j >= first_new && j < n_keys) k[r] = qb_ldcg16(kc + at + r * step), v[r] = qb_ldcg16(vc + at + r * step);
    }
    // Scores, a round's shuffles the warp's together (the rounds' bound is the block's).
    float sc[R], m = -INFINITY;
#pragma unroll
    for (int r = 0; r < R; r++) {
        sc[r] = -INFINITY;
        if (k0 + NW * KL * r < n_keys) {
            const __half2 *h2 = (const __half2 *)&k[r];
            float dot = 0, dot2 = 0;
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const float2 f = __half22float2(h2[e]);
                dot = fmaf(f.x, qp[2 * e], dot), dot2 = fmaf(f.y, qp[2 * e + 1], dot2);
            }
            dot += dot2;
            for (int o = 1; o < P; o *= 2) dot += __shfl_xor_sync(0xffffffffu, dot, o);
            if (k0 + NW * (KL * r + g) + w < n_keys) sc[r] = dot, m = fmaxf(m, dot);
        }
    }
    for (int o = P; o < 32; o *= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    // The warp's weights and values: this lane's piece of its keys, then summed over the key groups.
    float l = 0, acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
#pragma unroll
    for (int r = 0; r < R; r++)
        if (sc[r] != -INFINITY) {
            const float p = __expf(sc[r] - m);
            const __half2 *h2 = (const __half2 *)&v[r];
            l += p;
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const float2 f = __half22float2(h2[e]);
                acc[2 * e] = fmaf(p, f.x, acc[2 * e]), acc[2 * e + 1] = fmaf(p, f.y, acc[2 * e + 1]);
            }
        }
    for (int o = P; o < 32; o *= 2) {
        l += __shfl_xor_sync(0xffffffffu, l, o);
#pragma unroll
        for (int e = 0; e < 8; e++) acc[e] += __shfl_xor_sync(0xffffffffu, acc[e], o);
    }
    qb_trace_mark_product(trp, acc[0]); // (the graph trace: warp 0's keys done, the merge to come)
    // (A warp without keys leaves m = -inf, l = 0, acc = 0: its weight below is 0.)
    float *pm = part, *pl = part + NW, *pacc = part + 2 * NW;
    if (lane == 0) pm[w] = m, pl[w] = l;
    if (g == 0)
#pragma unroll
        for (int e = 0; e < 8; e++) pacc[w * D + 8 * c + e] = acc[e];
    __syncthreads();
    // The merge.
    for (int d = threadIdx.x; d < D; d += NT) {
        float M = -INFINITY, den = 0, num = 0;
#pragma unroll
        for (int u = 0; u < NW; u++) M = fmaxf(M, pm[u]);
#pragma unroll
        for (int u = 0; u < NW; u++) {
            const float f = __expf(pm[u] - M);
            den = fmaf(f, pl[u], den), num = fmaf(f, pacc[u * D + d], num);
        }
        if (!pp) out[(size_t)t * E + h * D + d] = num / den;
        else {
            if (d == 0) pp[0] = M, pp[1] = den;
            pp[2 + d] = num;
        }
    }
}

// Block (s, h, t) of the split kernel (k_attn_split): chunk s of head h for
// token t, or, with whole set and the token's keys fitting, the whole head in
// block (0, h, t) and nothing in the others. part: qb_attn_whole_smem(D, NT)
// bytes of shared memory when whole is set. trp: the graph trace's product
// stamps of the launch (qb_trace_mark_product; NULL when not tracing).
template <int NT, class Ready>
__device__ __forceinline__ void qb_attn_block(float *out, const float *q, int q_stride, const __half *kc,
                                              const __half *vc, int pos0, const int *d_pos, int n_head, int D, int S,
                                              float *part, unsigned *counters, int whole, float *wpart, int s, int h,
                                              int t, Ready ready, unsigned long long *trp = nullptr) {
    const int first_new = qb_pos(pos0, d_pos), n_keys = first_new + t + 1, nk = qb_attn_whole_keys(D, NT);
    if (!whole || !nk) {
        qb_attn_chunk<NT>(out, q, q_stride, kc, vc, pos0, d_pos, n_head, D, S, part, counters, s, h, t, ready, trp);
        return;
    }
    if (n_keys <= nk) {
        if (s == 0)
            qb_attn_whole<NT>(out, q, q_stride, kc, vc, first_new, 0, n_keys, n_head, D, h, t, wpart, nullptr, ready,
                              trp);
        return;
    }
    // More keys than a block holds: chunk s of nk keys (the whole path's
    // code on a range of them), its partial merged by the last of the S.
    float *pp = part + qb_attn_partial_at(n_head, D, S, h, t, s);
    const int k0 = s * nk;
    if (k0 < n_keys)
        qb_attn_whole<NT>(out, q, q_stride, kc, vc, first_new, k0, min(k0 + nk, n_keys), n_head, D, h, t, wpart, pp,
                          ready, trp);
    else {
        ready(); // (a captured graph's grid: chunks past the keys report empty)
        if (threadIdx.x == 0) pp[0] = -INFINITY, pp[1] = 0.0f;
    }
    qb_attn_merge<NT>(out, part, counters, n_head, D, S, h, t);
}
