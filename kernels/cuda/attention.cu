// attention.cu: causal multi-head attention over the float16 KV cache.
//
// Few new tokens (every decode step): split-K "flash decoding". Block (s, h,
// t) takes keys [64 s, 64 s + 64) of head h for token t: scores, their max m
// and sum l of exp(score - m), and the partial output sum_j exp(s_j - m) v_j;
// the last of the S blocks of (h, t) to finish (a counter) merges the S
// partials. The grid is fixed by n_ctx, not by the position, so one captured
// graph serves every step; blocks past the position only report "empty".
//
// Many new tokens (prefill): cuBLAS batched GEMMs S = Q K^T and O = P V per
// head, with a masked softmax between; Q and P are split into F16 hi + lo
// parts as in gemm.cu so the products keep float32 accuracy.
#include <math.h>

#include "common.cuh"

#define CH 64        // keys per block
#define ATT_THREADS 128

// Partials of block (s, h, t): m, l, then acc[D].
__global__ void __launch_bounds__(ATT_THREADS)
    k_attn_split(float *out, const float *q, int q_stride, const __half *kc, const __half *vc, int pos0,
                 const int *d_pos, int n_head, int D, int S, float *part, unsigned *counters) {
    qb_grid_launch_dependents();
    __shared__ float qs[256];
    __shared__ float sc[CH];
    __shared__ float accs[ATT_THREADS * 2];
    __shared__ bool last;
    const int s = blockIdx.x, h = blockIdx.y, t = blockIdx.z, tid = threadIdx.x;
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
            for (int i = 0; i < lines; i++) asm volatile("prefetch.global.L2 [%0];" ::"l"(row + 64 * i));
    }
    qb_grid_wait();
    float *pp = part + ((size_t)(t * n_head + h) * S + s) * (D + 2);
    if (k0 >= n_keys) {
        if (tid == 0) pp[0] = -INFINITY, pp[1] = 0.0f;
    } else {
        const float scale = rsqrtf((float)D);
        for (int d = tid; d < D; d += ATT_THREADS) qs[d] = q[(size_t)t * q_stride + h * D + d] * scale;
        __syncthreads();
        // Scores: two threads per key, each half of the dimensions, 16-byte loads.
        {
            const int j = k0 + tid / 2, half = tid % 2, HD = D / 2;
            float dot = 0;
            if (j < k1) {
                const __half *kr = kc + (size_t)j * E + h * D + half * HD;
#pragma unroll 4 // the loads of a 64-wide head's half at once
                for (int d = 0; d < HD; d += 8) {
                    uint4 u = *(const uint4 *)(kr + d);
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
        // Values: thread = (group g, dimension pair dp); groups split the keys.
        const int P = D / 2, G = ATT_THREADS / P, dp = tid % P, g = tid / P;
        float2 acc = make_float2(0.0f, 0.0f);
        if (g < G)
            for (int j = k0 + g; j < k1; j += G) {
                const float w = sc[j - k0];
                const float2 v = __half22float2(*(const __half2 *)(vc + (size_t)j * E + h * D + 2 * dp));
                acc.x = fmaf(w, v.x, acc.x);
                acc.y = fmaf(w, v.y, acc.y);
            }
        if (g < G) accs[2 * (g * P + dp)] = acc.x, accs[2 * (g * P + dp) + 1] = acc.y;
        __syncthreads();
        for (int d = tid; d < D; d += ATT_THREADS) {
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
    for (int i = tid; i < S; i += ATT_THREADS) fw[i] = __ldcg(base + (size_t)i * (D + 2));
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
    for (int d = tid; d < D; d += ATT_THREADS) {
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

static void attn_split(qb_cuda *c, float *out, const float *q, int q_stride, const uint16_t *kc,
                       const uint16_t *vc, int pos0, int T, int n_head, int D, int n_ctx) {
    const int S = (n_ctx + CH - 1) / CH;
    if (S > 256) qb_die(QB_EXIT_DATA, "cuda: attention: context of %d positions exceeds 16384", n_ctx);
    if (T * n_head > QB_CUDA_COUNTERS - 256) qb_die(QB_EXIT_DATA, "cuda: attention: too many heads x tokens");
    float *part = (float *)qb_cuda_scratch(c, (size_t)T * n_head * S * (D + 2) * sizeof(float));
    qb_launch(c, k_attn_split, dim3(S, n_head, T), dim3(ATT_THREADS), 0, out, q, q_stride, (const __half *)kc,
              (const __half *)vc, pos0, (const int *)c->d_pos, n_head, D, S, part, c->counters);
}

// ---- prefill through cuBLAS ---------------------------------------------------------------------

// Q rows (q_stride apart, pre-scaled) to hi/lo halves [T][E].
__global__ void k_q_split(__half *hi, __half *lo, const float *q, int q_stride, int E, int T, float scale) {
    qb_grid_launch_dependents();
    qb_grid_wait();
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)T * E) return;
    const size_t t = i / E, k = i % E;
    const float v = q[t * q_stride + k] * scale;
    const __half h = __float2half_rn(v);
    hi[i] = h;
    lo[i] = __float2half_rn(v - __half2float(h));
}

// Row (h, t) of S (n_keys scores, ld apart): causal mask (key j <= pos0 + t),
// softmax, written as hi/lo halves (zeros where masked).
__global__ void k_softmax_split(__half *ph, __half *pl, const float *Sm, int ld, int n_keys, int pos0, int T) {
    qb_grid_launch_dependents();
    qb_grid_wait();
    __shared__ float red[32];
    const size_t row = blockIdx.x;
    const int t = (int)(row % T);
    const int lim = pos0 + t + 1;
    const float *s = Sm + row * ld;
    float m = -INFINITY;
    for (int j = threadIdx.x; j < lim; j += blockDim.x) m = fmaxf(m, s[j]);
    m = qb_warp_max(m);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = m;
    __syncthreads();
    if (threadIdx.x < 32) {
        float v = threadIdx.x < blockDim.x / 32 ? red[threadIdx.x] : -INFINITY;
        v = qb_warp_max(v);
        if (threadIdx.x == 0) red[0] = v;
    }
    __syncthreads();
    m = red[0];
    __syncthreads();
    float l = 0;
    for (int j = threadIdx.x; j < lim; j += blockDim.x) l += __expf(s[j] - m);
    l = qb_warp_sum(l);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = l;
    __syncthreads();
    if (threadIdx.x < 32) {
        float v = threadIdx.x < blockDim.x / 32 ? red[threadIdx.x] : 0.0f;
        v = qb_warp_sum(v);
        if (threadIdx.x == 0) red[0] = v;
    }
    __syncthreads();
    const float inv = 1.0f / red[0];
    for (int j = threadIdx.x; j < ld; j += blockDim.x) {
        const float p = j < lim ? __expf(s[j] - m) * inv : 0.0f;
        const __half h = __float2half_rn(p);
        ph[row * ld + j] = h;
        pl[row * ld + j] = __float2half_rn(p - __half2float(h));
    }
    (void)n_keys;
}

static size_t al256(size_t n) { return (n + 255) & ~(size_t)255; }

static void attn_blas(qb_cuda *c, float *out, const float *q, int q_stride, const uint16_t *kc, const uint16_t *vc,
                      int pos0, int T, int n_head, int D) {
    if (pos0 < 0) qb_die(QB_EXIT_DATA, "cuda: attention: the batched path needs the position on the host");
    qb_blas *b = qb_cuda_blas(c);
    const int E = n_head * D, n_keys = pos0 + T, ld = (n_keys + 7) & ~7;
    const size_t nq = al256((size_t)T * E * 2), ns = al256((size_t)n_head * T * ld * 4),
                 np = al256((size_t)n_head * T * ld * 2);
    uint8_t *s = (uint8_t *)qb_cuda_scratch(c, 2 * nq + ns + 2 * np);
    __half *qh = (__half *)s, *ql = (__half *)(s + nq);
    float *Sm = (float *)(s + 2 * nq);
    __half *ph = (__half *)(s + 2 * nq + ns), *pl = (__half *)(s + 2 * nq + ns + np);
    const size_t n = (size_t)T * E;
    qb_launch(c, k_q_split, dim3(qb_blocks(n, 256)), dim3(256), 0, qh, ql, q, q_stride, E, T, 1.0f / sqrtf((float)D));
    const float one = 1.0f, zero = 0.0f;
    const long long sS = (long long)T * ld;
    // Per head h (column-major): S_h^T [n_keys x T] = K_h [D x n_keys]^T Q_h^T [D x T].
    CKB(c, b->gemm_batched(b->h, CUBLAS_OP_T, CUBLAS_OP_N, n_keys, T, D, &one, kc, CUDA_R_16F, E, D, qh, CUDA_R_16F,
                           E, D, &zero, Sm, CUDA_R_32F, ld, sS, n_head, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    CKB(c, b->gemm_batched(b->h, CUBLAS_OP_T, CUBLAS_OP_N, n_keys, T, D, &one, kc, CUDA_R_16F, E, D, ql, CUDA_R_16F,
                           E, D, &one, Sm, CUDA_R_32F, ld, sS, n_head, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    qb_launch(c, k_softmax_split, dim3((unsigned)(n_head * T)), dim3(256), 0, ph, pl, (const float *)Sm, ld, n_keys,
              pos0, T);
    // O_h^T [D x T] (ld E) = V_h^T [D x n_keys] P_h^T [n_keys x T].
    CKB(c, b->gemm_batched(b->h, CUBLAS_OP_N, CUBLAS_OP_N, D, T, n_keys, &one, vc, CUDA_R_16F, E, D, ph, CUDA_R_16F,
                           ld, sS, &zero, out, CUDA_R_32F, E, D, n_head, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    CKB(c, b->gemm_batched(b->h, CUBLAS_OP_N, CUBLAS_OP_N, D, T, n_keys, &one, vc, CUDA_R_16F, E, D, pl, CUDA_R_16F,
                           ld, sS, &one, out, CUDA_R_32F, E, D, n_head, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

void qb_cuda_attention_path(qb_cuda *c, float *out, const float *q, int q_stride, const uint16_t *k_cache,
                            const uint16_t *v_cache, int pos0, int T, int n_head, int head_dim, int n_ctx,
                            int path) {
    if (T <= 0) return;
    if (head_dim % 16 || head_dim > 256 || (n_head * head_dim) % 8)
        qb_die(QB_EXIT_DATA, "cuda: attention: head_dim %d not supported (multiple of 16, at most 256)", head_dim);
    if (pos0 >= 0 && pos0 + T > n_ctx) qb_die(QB_EXIT_DATA, "cuda: attention: positions past the context");
    if (path == 0) attn_split(c, out, q, q_stride, k_cache, v_cache, pos0, T, n_head, head_dim, n_ctx);
    else attn_blas(c, out, q, q_stride, k_cache, v_cache, pos0, T, n_head, head_dim);
}

void qb_cuda_attention(qb_cuda *c, float *out, const float *q, int q_stride, const uint16_t *k_cache,
                       const uint16_t *v_cache, int pos0, int T, int n_head, int head_dim, int n_ctx) {
    qb_cuda_attention_path(c, out, q, q_stride, k_cache, v_cache, pos0, T, n_head, head_dim, n_ctx,
                           T <= 8 || pos0 < 0 ? 0 : 1);
}
