// attention.cu: causal multi-head attention over the float16 KV cache.
//
// Few new tokens (every decode step): split-K "flash decoding". Block (s, h,
// t) takes keys [64 s, 64 s + 64) of head h for token t: scores, their max m
// and sum l of exp(score - m), and the partial output sum_j exp(s_j - m) v_j;
// the last of the S blocks of (h, t) to finish (a counter) merges the S
// partials. S is the grid's height (gridDim.y), the chunks launched: the
// position's when it is known on the host, else n_ctx's, as in a captured
// graph, which then serves every step (blocks past the position only report
// "empty"). At short contexts those were most of the grid (xl: 375 blocks of
// 400), each still to be admitted to an SM before the next kernel could
// start: so the host trims each captured attention node's grid to the
// position's chunks before a replay (qb_cuda_attn_grids; the count changes
// every 64 steps; QB_CUDA_ATTN_GRID=0 keeps the context's).
// While a token's keys fit its lanes' registers (256 for heads of 64 at 512
// threads), block (0, h, t) takes the head whole instead, its warps taking the
// keys in turn, and the others return: no partials in memory, counter or
// merge (qb_attn_whole; QB_CUDA_ATTN_WHOLE=0 always splits). Past that, a
// chunk is as many keys, by the same code, and the last of them merges their
// partials: with 64-key chunks (the split's own code: 8 blocks a head at 464
// keys, three barriers each) the attention cost 10.6 us a layer of gpt2-xl
// f16's step at 440..487 keys against 3.5 at 16..143; with chunks of 256
// and the merge in one pass (qb_attn_merge), 7.3, and decode 10-13 % faster
// there (data/results/h100/chunk-fa54e48).
// Blocks of 512 threads (QB_CUDA_ATT_THREADS=128|256 for fewer): a whole
// head's keys then go 16 warps wide.
//
// Many new tokens (prefill): cuBLAS batched GEMMs S = Q K^T and O = P V per
// head, with a masked softmax between; Q and P are split into F16 hi + lo
// parts as in gemm.cu so the products keep float32 accuracy.
#include <math.h>
#include <string.h>

#include "attention.cuh"
#include "common.cuh"

// Block (h, s, t): qb_attn_block with NT threads (its dynamic shared memory
// qb_attn_whole_smem(D, NT) bytes when whole is set, else none). The head is
// blockIdx.x so that blocks go out to the SMs chunk by chunk: every head's
// chunk 0 (the whole head's block) first. Chunk-major, the last heads' blocks
// went out behind hundreds that had nothing to do, while the QKV GEMV still
// held the SMs (xl f16: 7.3 us a layer for the attention against 5.4).
// 64 registers a thread (1024 / NT blocks an SM), so that two blocks of 512
// share an SM where the split's many blocks run (the whole path needs no more).
// The attention reads little, so DRAM idles while it runs; having its blocks
// send the next GEMVs' first weights towards L2 then (1-32 MB) lost 0.5-17 % on
// every shape (H100, data/results/h100/ab-attn-pf-12d59e0), and was taken out.
template <int NT>
__global__ void __launch_bounds__(NT, 1024 / NT)
    k_attn_split(float *out, const float *q, int q_stride, const __half *kc, const __half *vc, int pos0,
                 const int *d_pos, int n_head, int D, float *part, unsigned *counters, int whole, int trigger,
                 unsigned long long *tr, unsigned long long *trp) {
    // When the next kernel (proj) may launch (QB_CUDA_ATTN_TRIGGER): at start, so that its blocks
    // load their first weights during this one; or once q is ready; or (QB_TRIG_END) at the end.
    if (trigger == QB_TRIG_START) qb_grid_launch_dependents();
    qb_trace_mark(tr, 0);
    extern __shared__ float whole_part[];
    qb_attn_block<NT>(out, q, q_stride, kc, vc, pos0, d_pos, n_head, D, (int)gridDim.y, part, counters, whole,
                      whole_part,
                      blockIdx.y, blockIdx.x, blockIdx.z, [=] {
                      qb_grid_wait();
                      if (trigger == QB_TRIG_WAIT) qb_grid_launch_dependents();
                      qb_trace_mark(tr, 1);
                  }, trp);
    qb_trace_mark(tr, 2);
}

// The keys a chunk (a block) takes: a whole block's (256 for heads of 64 at
// 512 threads) where the whole path runs, else CH.
static int attn_chunk_keys(int D, int NT, int whole) {
    const int nk = whole ? qb_attn_whole_keys(D, NT) : 0;
    return nk ? nk : CH;
}

// The chunks that tokens pos0 .. pos0 + T - 1 need, at most S.
static int attn_chunks(int pos0, int T, int D, int NT, int whole, int S) {
    const int ck = attn_chunk_keys(D, NT, whole), need = (pos0 + T + ck - 1) / ck;
    return need < S ? need : S;
}

template <int NT>
static void attn_split(qb_cuda *c, float *out, const float *q, int q_stride, const uint16_t *kc,
                       const uint16_t *vc, int pos0, int T, int n_head, int D, int n_ctx) {
    const int ck = attn_chunk_keys(D, NT, c->attn_whole), S = (n_ctx + ck - 1) / ck;
    // (The merge loops over the chunks: only the grid's height bounds them.)
    if (S > 65535) qb_die(QB_EXIT_DATA, "cuda: attention: context of %d positions makes %d chunks (65535 at most)", n_ctx, S);
    if (T * n_head > QB_CUDA_COUNTERS - 256) qb_die(QB_EXIT_DATA, "cuda: attention: too many heads x tokens");
    float *part = (float *)qb_cuda_scratch(c, (size_t)T * n_head * S * (D + 2) * sizeof(float));
    const size_t smem = c->attn_whole ? qb_attn_whole_smem(D, NT) : 0; // (16.5 KB at most: under the default limit)
    const size_t blocks = (size_t)S * n_head * T; // as captured: the replays' grids may be trimmed
    unsigned long long *tr = qb_cuda_trace_slot(c, "attn", -1, 0, 0, 0, blocks), *trp = tr ? tr + 3 * blocks : NULL;
    const int grid_S = pos0 >= 0 ? attn_chunks(pos0, T, D, NT, c->attn_whole, S) : S;
    qb_launch(c, k_attn_split<NT>, dim3(n_head, grid_S, T), dim3(NT), smem, out, q, q_stride, (const __half *)kc,
              (const __half *)vc, pos0, (const int *)c->d_pos, n_head, D, part, c->counters, c->attn_whole, c->attn_trigger,
              tr, trp);
    c->after_attn = 1;
    if (c->capturing && pos0 < 0 && c->attn_grid) {
        // This launch's node (the capture's one open end), for qb_cuda_attn_grids.
        cudaStreamCaptureStatus st;
        const cudaGraphNode_t *deps = NULL;
        size_t n_deps = 0;
        CK(cudaStreamGetCaptureInfo(c->stream, &st, NULL, NULL, &deps, NULL, &n_deps));
        if (n_deps != 1 || c->n_attn_nodes == QB_CUDA_ATTN_NODES)
            qb_die(QB_EXIT_DATA, "cuda: attention: cannot keep the captured launch's node (internal error)");
        c->attn_nodes[c->n_attn_nodes++] = {deps[0], T, D, NT, S, S};
    }
}

void qb_cuda_attn_grids(qb_cuda *c, int pos) {
    for (int i = 0; i < c->n_attn_nodes; i++) {
        qb_attn_node *a = &c->attn_nodes[i];
        const int S = attn_chunks(pos, a->T, a->D, a->NT, c->attn_whole, a->S_max);
        if (S == a->S_now) continue;
        cudaKernelNodeParams p;
        CK(cudaGraphKernelNodeGetParams(a->node, &p));
        p.gridDim.y = S;
        CK(cudaGraphExecKernelNodeSetParams(c->exec, a->node, &p));
        a->S_now = S;
    }
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

// The softmax weights times P_SCALE (2^14: at most 16384 < 65504) go into
// the V x P GEMMs, which multiply by 1 / P_SCALE (a power of two: exact).
// Unscaled, most of a long row's weights fall below F16's normal range
// (6.1e-5 at 2^-14), where the hi and lo parts keep few bits (2e-4 relative
// at 20000 keys).
static constexpr float P_SCALE = 16384.0f;

// Row (h, t) of S (n_keys scores, ld apart): causal mask (key j <= pos0 + t),
// softmax times P_SCALE, written as hi/lo halves (zeros where masked).
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
    const float inv = P_SCALE / red[0];
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
    const float one = 1.0f, zero = 0.0f, p_unscale = 1.0f / P_SCALE;
    const long long sS = (long long)T * ld;
    // Per head h (column-major): S_h^T [n_keys x T] = K_h [D x n_keys]^T Q_h^T [D x T].
    CKB(c, b->gemm_batched(b->h, CUBLAS_OP_T, CUBLAS_OP_N, n_keys, T, D, &one, kc, CUDA_R_16F, E, D, qh, CUDA_R_16F,
                           E, D, &zero, Sm, CUDA_R_32F, ld, sS, n_head, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    CKB(c, b->gemm_batched(b->h, CUBLAS_OP_T, CUBLAS_OP_N, n_keys, T, D, &one, kc, CUDA_R_16F, E, D, ql, CUDA_R_16F,
                           E, D, &one, Sm, CUDA_R_32F, ld, sS, n_head, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    qb_launch(c, k_softmax_split, dim3((unsigned)(n_head * T)), dim3(256), 0, ph, pl, (const float *)Sm, ld, n_keys,
              pos0, T);
    // O_h^T [D x T] (ld E) = V_h^T [D x n_keys] P_h^T [n_keys x T].
    CKB(c, b->gemm_batched(b->h, CUBLAS_OP_N, CUBLAS_OP_N, D, T, n_keys, &p_unscale, vc, CUDA_R_16F, E, D, ph, CUDA_R_16F,
                           ld, sS, &zero, out, CUDA_R_32F, E, D, n_head, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    CKB(c, b->gemm_batched(b->h, CUBLAS_OP_N, CUBLAS_OP_N, D, T, n_keys, &p_unscale, vc, CUDA_R_16F, E, D, pl, CUDA_R_16F,
                           ld, sS, &one, out, CUDA_R_32F, E, D, n_head, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

void qb_cuda_attention_path(qb_cuda *c, float *out, const float *q, int q_stride, const uint16_t *k_cache,
                            const uint16_t *v_cache, int pos0, int T, int n_head, int head_dim, int n_ctx,
                            int path) {
    if (T <= 0) return;
    if (head_dim % 16 || head_dim > 256 || (n_head * head_dim) % 8)
        qb_die(QB_EXIT_DATA, "cuda: attention: head_dim %d not supported (multiple of 16, at most 256)", head_dim);
    if (pos0 >= 0 && pos0 + T > n_ctx) qb_die(QB_EXIT_DATA, "cuda: attention: positions past the context");
    if (path == 0) {
        auto split = c->att_threads == 512 ? attn_split<512> : c->att_threads == 128 ? attn_split<128> : attn_split<256>;
        split(c, out, q, q_stride, k_cache, v_cache, pos0, T, n_head, head_dim, n_ctx);
    } else attn_blas(c, out, q, q_stride, k_cache, v_cache, pos0, T, n_head, head_dim);
}

void qb_cuda_attention(qb_cuda *c, float *out, const float *q, int q_stride, const uint16_t *k_cache,
                       const uint16_t *v_cache, int pos0, int T, int n_head, int head_dim, int n_ctx) {
    qb_cuda_attention_path(c, out, q, q_stride, k_cache, v_cache, pos0, T, n_head, head_dim, n_ctx,
                           T <= 8 || pos0 < 0 ? 0 : 1);
}
