// gemm.cu: the prefill matmul (T > 1 tokens) through cuBLAS, and the
// dispatcher that sends T == 1 to the GEMV.
//
// Tensor cores take F16/BF16 operands while our activations are float32. A
// float32 x is split into hi = half(x) and lo = half(x - hi); W x = W hi +
// W lo keeps ~22 bits of x (F16: 2^-11 * 2^-11 relative) for two GEMMs (one
// of 2T columns at a short prompt, QB_GEMM_ONE_MAX_T), far cheaper than SGEMM
// and as accurate for our purpose. F32 weights run plain float32 SGEMM (no
// TF32). Block types are dequantised to F16 a tile of rows at a time (F16
// holds their values to 2^-11, well under their own error).
#include "common.cuh"

void qb_cuda_gemv_full(qb_cuda *c, float *y, const float *x, const qb_weight *w, const float *bias,
                       qb_cuda_epilogue epi, int rows_per_warp, uint16_t *k_cache, uint16_t *v_cache, int pos0,
                       const float *ln_g, const float *ln_b, float ln_eps);
void qb_cuda_dequant_f16(qb_cuda *c, __half *out, size_t ld_out, const qb_weight *w, int r0, int n);

template <typename H> __device__ __forceinline__ H to_h(float v);
template <> __device__ __forceinline__ __half to_h<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 to_h<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <typename H> __device__ __forceinline__ float from_h(H v);
template <> __device__ __forceinline__ float from_h<__half>(__half v) { return __half2float(v); }
template <> __device__ __forceinline__ float from_h<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }

// hi[t][k] + lo[t][k] = x[t][k] (rows of ld values; x rows of n values, may be strided).
template <typename H>
__global__ void k_split(H *hi, H *lo, size_t ld, const float *x, size_t ldx, int n, int T) {
    qb_grid_launch_dependents();
    qb_grid_wait();
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)n * T) return;
    const size_t t = i / n, k = i % n;
    const float v = x[t * ldx + k];
    const H h = to_h<H>(v);
    hi[t * ld + k] = h;
    lo[t * ld + k] = to_h<H>(v - from_h<H>(h));
}

// y[t][o] = act(y[t][o] + bias[o]); with parts (the one-GEMM path, [2T][n]:
// W hi, then W lo), y[t][o] = act(((accum ? y[t][o] : 0) + hi + lo) + bias[o]),
// the sums in the order of the two GEMMs' (the second's beta of 1 adds lo last).
__global__ void k_bias_act(float *y, const float *parts, int accum, const float *bias, int n, int T, int gelu) {
    qb_grid_launch_dependents();
    qb_grid_wait();
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)n * T) return;
    float v = y[i];
    if (parts) v = (accum ? v + parts[i] : parts[i]) + parts[(size_t)n * T + i];
    v += bias ? bias[i % n] : 0.0f;
    y[i] = gelu ? qb_gelu_new(v) : v;
}

// Stores the K and V thirds of qkv rows as float16 in the caches.
__global__ void k_kv_store(__half *kc, __half *vc, const float *qkv, int pos0, const int *d_pos, int T, int E) {
    qb_grid_launch_dependents();
    qb_grid_wait();
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)T * E) return;
    const size_t t = i / E, k = i % E;
    const size_t p = (size_t)qb_pos(pos0, d_pos) + t;
    kc[p * E + k] = __float2half_rn(qkv[t * 3 * E + E + k]);
    vc[p * E + k] = __float2half_rn(qkv[t * 3 * E + 2 * E + k]);
}

void qb_cuda_kv_store(qb_cuda *c, uint16_t *k_cache, uint16_t *v_cache, const float *qkv, int pos0, int T,
                      int n_embd) {
    const size_t n = (size_t)T * n_embd;
    if (n) qb_launch(c, k_kv_store, dim3(qb_blocks(n, 256)), dim3(256), 0, (__half *)k_cache, (__half *)v_cache, qkv,
                     pos0, (const int *)c->d_pos, T, n_embd);
}

static size_t al256(size_t n) { return (n + 255) & ~(size_t)255; }

// Prompts up to this many tokens take one GEMM of 2T columns (x's hi and lo
// parts side by side) into scratch, summed by the epilogue kernel, rather than
// two GEMMs of T into y: at a prompt's few tokens the GEMMs are bound by
// reading W, so one read instead of two, and one launch. (Longer runs are
// bound by the products; and their scratch, 2T rows of n_out floats, would
// be 400 MB for the output projection at a 1024-token window.)
#define QB_GEMM_ONE_MAX_T 64

// y (ldc n_out, starting at row r0 of W) = or += W[r0:r0+m] x for the hi and lo
// parts; with parts, parts[0..2T) = W[r0:r0+m] [hi lo] instead (ldc n_out).
static void gemm_pair(qb_cuda *c, qb_blas *b, cudaDataType ty, const void *W, int ldw, int m, const void *xh,
                      const void *xl, int n_in, int T, float *y, float *parts, int n_out, float beta) {
    const float one = 1.0f, zero = 0.0f;
    if (parts) { // (xl follows xh: the 2T columns)
        CKB(c, b->gemm(b->h, CUBLAS_OP_T, CUBLAS_OP_N, m, 2 * T, n_in, &one, W, ty, ldw, xh, ty, n_in, &zero, parts,
                       CUDA_R_32F, n_out, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        return;
    }
    CKB(c, b->gemm(b->h, CUBLAS_OP_T, CUBLAS_OP_N, m, T, n_in, &one, W, ty, ldw, xh, ty, n_in, &beta, y, CUDA_R_32F,
                   n_out, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    CKB(c, b->gemm(b->h, CUBLAS_OP_T, CUBLAS_OP_N, m, T, n_in, &one, W, ty, ldw, xl, ty, n_in, &one, y, CUDA_R_32F,
                   n_out, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

static void matmul_gemm(qb_cuda *c, float *y, const float *x, const qb_weight *w, const float *bias, int T,
                        qb_cuda_epilogue epi) {
    qb_planes p;
    if (!qb_planes_of(w->type, w->n_in, w->n_out, &p))
        qb_die(QB_EXIT_DATA, "cuda: matmul: weight type %d with %d inputs not supported", (int)w->type, w->n_in);
    qb_blas *b = qb_cuda_blas(c);
    const int n_in = w->n_in, n_out = w->n_out;
    const float beta = epi == QB_CUDA_ACCUM ? 1.0f : 0.0f;
    float *parts = NULL; // the one-GEMM path's [2T][n_out] sums, when taken
    if (w->type == QB_TYPE_F32) {
        const float one = 1.0f;
        CKB(c, b->gemm(b->h, CUBLAS_OP_T, CUBLAS_OP_N, n_out, T, n_in, &one, w->data, CUDA_R_32F, (int)(p.qrow / 4),
                       x, CUDA_R_32F, n_in, &beta, y, CUDA_R_32F, n_out, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    } else {
        const bool bf = w->type == QB_TYPE_BF16;
        const size_t n = (size_t)T * n_in, xs = al256(2 * n * 2); // hi, then lo: [2T][n_in]
        const size_t ps = T <= QB_GEMM_ONE_MAX_T ? al256((size_t)2 * T * n_out * sizeof(float)) : 0;
        // Block types: tiles of rows dequantised to F16, about 32 MiB each.
        int tile = w->type == QB_TYPE_F16 || bf ? 0 : (int)((16u << 20) / (size_t)n_in);
        if (tile) tile = tile < 64 ? 64 : tile > n_out ? n_out : tile;
        uint8_t *s = (uint8_t *)qb_cuda_scratch(c, xs + ps + (size_t)tile * n_in * 2);
        parts = ps ? (float *)(s + xs) : NULL;
        void *xh = s, *xl = s + n * 2;
        if (bf)
            qb_launch(c, k_split<__nv_bfloat16>, dim3(qb_blocks(n, 256)), dim3(256), 0, (__nv_bfloat16 *)xh,
                      (__nv_bfloat16 *)xl, (size_t)n_in, x, (size_t)n_in, n_in, T);
        else
            qb_launch(c, k_split<__half>, dim3(qb_blocks(n, 256)), dim3(256), 0, (__half *)xh, (__half *)xl,
                      (size_t)n_in, x, (size_t)n_in, n_in, T);
        const cudaDataType ty = bf ? CUDA_R_16BF : CUDA_R_16F;
        if (!tile)
            gemm_pair(c, b, ty, w->data, (int)(p.qrow / 2), n_out, xh, xl, n_in, T, y, parts, n_out, beta);
        else {
            __half *wt = (__half *)(s + xs + ps);
            for (int r0 = 0; r0 < n_out; r0 += tile) {
                const int m = n_out - r0 < tile ? n_out - r0 : tile;
                qb_cuda_dequant_f16(c, wt, (size_t)n_in, w, r0, m);
                gemm_pair(c, b, ty, wt, n_in, m, xh, xl, n_in, T, y + r0, parts ? parts + r0 : NULL, n_out, beta);
            }
        }
    }
    if (parts || bias || epi == QB_CUDA_GELU) {
        const size_t n = (size_t)T * n_out;
        qb_launch(c, k_bias_act, dim3(qb_blocks(n, 256)), dim3(256), 0, y, (const float *)parts,
                  (int)(epi == QB_CUDA_ACCUM), bias, n_out, T, (int)(epi == QB_CUDA_GELU));
    }
}

// ---- layernorm statistics carried with the residual -----------------------------------------

// The context's layernorm buffer, at least `bytes` (grown outside capture only).
static float *ln_buffer(qb_cuda *c, size_t bytes) {
    if (bytes > c->ln_bytes) {
        if (c->capturing) qb_die(QB_EXIT_DATA, "cuda: layernorm buffer must grow during capture (internal error)");
        qb_cuda_sync(c);
        qb_cuda_free(c, c->ln_buf);
        c->ln_buf = (float *)qb_cuda_alloc(c, bytes);
        c->ln_bytes = bytes;
    }
    return c->ln_buf;
}

void qb_cuda_ln_stats_begin(qb_cuda *c, int T, int n_sets) {
    c->stats_x = c->ln_done_x = NULL, c->lo_hint.g = NULL;
    c->ln_stats_used = c->ln_stats_sets; // none to hand out, unless below
    if (T != 1 || !(c->stats_on || c->ln_last || c->ln_fold) || n_sets <= 0) return;
    const size_t set = QB_STATS_SET * sizeof(double);
    if (n_sets > c->ln_stats_sets) {
        if (c->capturing) return; // (the eager step that precedes every capture allocates them)
        qb_cuda_sync(c);
        // The first decode step's first allocation: QB_CUDA_PAD_STEP's bytes go in front of it (context.cu).
        if (c->pad_step_bytes && !c->pad_step) c->pad_step = qb_cuda_alloc(c, c->pad_step_bytes);
        CK(cudaFree(c->ln_stats));
        CK(cudaFree(c->ln_ctrs));
        CK(cudaMalloc(&c->ln_stats, (size_t)n_sets * set));
        CK(cudaMalloc(&c->ln_ctrs, (size_t)n_sets * sizeof(unsigned)));
        CK(cudaMemset(c->ln_ctrs, 0, (size_t)n_sets * sizeof(unsigned))); // (each last block resets its own)
        c->ln_stats_sets = n_sets;
    }
    CK(cudaMemsetAsync(c->ln_stats, 0, (size_t)n_sets * set, c->stream));
    c->ln_stats_used = 0;
}

void qb_cuda_ln_after(qb_cuda *c, const float *g, const float *b, float eps) {
    c->lo_hint.g = g, c->lo_hint.b = b, c->lo_hint.eps = eps;
}

// At T == 1 a GEMV that accumulates into y fills the next set with y's
// statistics (if one is left) and, with ln_last and a qb_cuda_ln_after hint,
// its last block writes layernorm(y) into ln_buf; any other write to the
// vector they describe voids them.
static void stats_for(qb_cuda *c, const float *y, int T, qb_cuda_epilogue epi, int n) {
    const float *g = c->lo_hint.g;
    c->lo_hint.g = NULL; // a hint for the next accumulation alone
    if (y == c->stats_x) c->stats_x = NULL;
    if (y == c->ln_done_x) c->ln_done_x = NULL;
    if (T != 1 || epi != QB_CUDA_ACCUM || c->ln_stats_used >= c->ln_stats_sets) return;
    const int k = c->ln_stats_used++;
    c->st_out_next = c->ln_stats + (size_t)k * QB_STATS_SET;
    c->stats_x = y;
    if ((c->ln_last || c->ln_fold) && g && n <= QB_LN_FUSE_MAX && n % 4 == 0 &&
        (!c->capturing || c->ln_bytes >= n * sizeof(float))) {
        float *buf = ln_buffer(c, (size_t)n * sizeof(float));
        if (c->ln_fold) c->yg_next.out = buf, c->yg_next.g = g;
        else {
            c->lo_next.out = buf;
            c->lo_next.g = g, c->lo_next.b = c->lo_hint.b, c->lo_next.eps = c->lo_hint.eps, c->lo_next.ctr = c->ln_ctrs + k;
        }
        c->ln_done_x = y, c->ln_done_g = g, c->ln_done_fold = c->ln_fold;
    }
}

// The set the last accumulating GEMV filled, when it describes x (NULL: none).
static const double *set_of(const qb_cuda *c, const float *x) {
    return x == c->stats_x ? c->ln_stats + (size_t)(c->ln_stats_used - 1) * QB_STATS_SET : NULL;
}

// The set describing x, for a layernorm of it at T == 1 from the sums (QB_CUDA_LN_STATS; NULL: none).
static const double *stats_of(const qb_cuda *c, const float *x, int n, int T) {
    if (T != 1 || !c->stats_on || n > QB_LN_FUSE_MAX || n % 4) return NULL;
    return set_of(c, x);
}

// ln_buf, when it already holds layernorm(x) with gain g (made by the last block of x's producer).
static const float *ln_done(const qb_cuda *c, const float *x, const float *g, int T) {
    return T == 1 && x == c->ln_done_x && g == c->ln_done_g && !c->ln_done_fold ? c->ln_buf : NULL;
}

// W g and W b + bias for the layernorm (g, b) folded into w's product: made
// at first use (a GEMV each, outside capture: the eager step before every
// capture makes them); NULL under capture when not made yet.
static const qb_cuda::qb_fold_vecs *fold_vecs(qb_cuda *c, const qb_weight *w, const float *g, const float *b,
                                              const float *bias) {
    for (int i = 0; i < c->n_folds; i++) {
        const qb_cuda::qb_fold_vecs *f = &c->folds[i];
        if (f->w == w->data && f->g == g && f->b == b && f->bias == bias) return f;
    }
    if (c->capturing) return NULL;
    if (c->n_folds == c->folds_cap) {
        c->folds_cap = c->folds_cap ? 2 * c->folds_cap : 64;
        c->folds = (qb_cuda::qb_fold_vecs *)qb_realloc(c->folds, (size_t)c->folds_cap * sizeof *c->folds);
    }
    qb_cuda::qb_fold_vecs *f = &c->folds[c->n_folds++];
    f->w = w->data, f->g = g, f->b = b, f->bias = bias;
    f->wg = (float *)qb_cuda_alloc(c, (size_t)w->n_out * sizeof(float));
    f->wb = (float *)qb_cuda_alloc(c, (size_t)w->n_out * sizeof(float));
    qb_cuda_gemv_bare(c, f->wg, g, w, NULL);
    qb_cuda_gemv_bare(c, f->wb, b, w, bias);
    return f;
}

// At T == 1, when x's producer left x * g in ln_buf (QB_CUDA_LN_FOLD) and w's
// fold vectors exist: the GEMV of that with the layernorm folded in (x's
// statistics, the vectors). 0: not taken (the caller normalises x itself;
// x is whole, only ln_buf holds the product).
static int fold_matmul(qb_cuda *c, float *y, const float *x, const float *g, const float *b, float eps,
                       const qb_weight *w, const float *bias, qb_cuda_epilogue epi, uint16_t *kc, uint16_t *vc,
                       int pos0) {
    const double *st = set_of(c, x);
    if (!(x == c->ln_done_x && g == c->ln_done_g && c->ln_done_fold && st)) return 0;
    const qb_cuda::qb_fold_vecs *f = fold_vecs(c, w, g, b, bias);
    if (!f) return 0;
    stats_for(c, y, 1, epi, w->n_out);
    c->fold_next.wg = f->wg, c->fold_next.st = st;
    qb_cuda_gemv_full(c, y, c->ln_buf, w, f->wb, epi, 0, kc, vc, pos0, NULL, NULL, eps);
    return 1;
}

void qb_cuda_matmul(qb_cuda *c, float *y, const float *x, const qb_weight *w, const float *bias, int T,
                    qb_cuda_epilogue epi) {
    if (T <= 0) return;
    stats_for(c, y, T, epi, w->n_out);
    if (T == 1) qb_cuda_gemv_full(c, y, x, w, bias, epi, 0, NULL, NULL, 0, NULL, NULL, 0);
    else matmul_gemm(c, y, x, w, bias, T, epi);
}

void qb_cuda_matmul_qkv(qb_cuda *c, float *qkv, const float *x, const qb_weight *w, const float *bias, int T,
                        uint16_t *k_cache, uint16_t *v_cache, int pos0) {
    if (T <= 0) return;
    if (w->n_out % 3) qb_die(QB_EXIT_DATA, "cuda: QKV weight has %d outputs, not a multiple of 3", w->n_out);
    stats_for(c, qkv, T, QB_CUDA_STORE, w->n_out);
    if (T == 1) qb_cuda_gemv_full(c, qkv, x, w, bias, QB_CUDA_STORE, 0, k_cache, v_cache, pos0, NULL, NULL, 0);
    else {
        matmul_gemm(c, qkv, x, w, bias, T, QB_CUDA_STORE);
        qb_cuda_kv_store(c, k_cache, v_cache, qkv, pos0, T, w->n_out / 3);
    }
}

void qb_cuda_gemm_f16(qb_cuda *c, uint16_t *C, const uint16_t *A, const uint16_t *B, int m, int n, int k) {
    qb_blas *b = qb_cuda_blas(c);
    const float one = 1.0f, zero = 0.0f;
    // Row-major C[m][n] = A[m][k] B[n][k]^T is column-major C^T = B A^T.
    CKB(c, b->gemm(b->h, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, B, CUDA_R_16F, k, A, CUDA_R_16F, k, &zero, C,
                   CUDA_R_16F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

// ---- layernorm fused into the matmul ----------------------------------------------------

// At T == 1 the GEMV normalises x itself when x's statistics were carried
// with it (ln_stats_to_smem: one load of x and a barrier a block) or, with
// ln_fuse, by computing them (every block: no extra kernel, but each block
// reads x and sums it twice); otherwise a layernorm kernel writes the rows
// into the context's own buffer, then the matmul.
static const float *ln_rows(qb_cuda *c, const float *x, const float *g, const float *b, float eps, int n, int T) {
    const float *done = ln_done(c, x, g, T);
    if (done) return done;
    float *y = ln_buffer(c, (size_t)T * n * sizeof(float));
    c->ln_done_x = NULL; // (overwritten)
    qb_cuda_layernorm(c, y, x, g, b, n, T, eps);
    return y;
}

void qb_cuda_ln_matmul(qb_cuda *c, float *y, const float *x, const float *ln_g, const float *ln_b, float eps,
                       const qb_weight *w, const float *bias, int T, qb_cuda_epilogue epi) {
    if (T <= 0) return;
    if (T == 1 && fold_matmul(c, y, x, ln_g, ln_b, eps, w, bias, epi, NULL, NULL, 0)) return;
    const double *st = stats_of(c, x, w->n_in, T);
    if (T == 1 && !ln_done(c, x, ln_g, T) && (st || (c->ln_fuse && w->n_in <= QB_LN_FUSE_MAX))) {
        stats_for(c, y, T, epi, w->n_out);
        c->st_in_next = st;
        qb_cuda_gemv_full(c, y, x, w, bias, epi, 0, NULL, NULL, 0, ln_g, ln_b, eps);
        return;
    }
    const float *xn = ln_rows(c, x, ln_g, ln_b, eps, w->n_in, T);
    stats_for(c, y, T, epi, w->n_out);
    if (T == 1) qb_cuda_gemv_full(c, y, xn, w, bias, epi, 0, NULL, NULL, 0, NULL, NULL, 0);
    else matmul_gemm(c, y, xn, w, bias, T, epi);
}

void qb_cuda_ln_matmul_qkv(qb_cuda *c, float *qkv, const float *x, const float *ln_g, const float *ln_b, float eps,
                           const qb_weight *w, const float *bias, int T, uint16_t *k_cache, uint16_t *v_cache,
                           int pos0) {
    if (T <= 0) return;
    if (w->n_out % 3) qb_die(QB_EXIT_DATA, "cuda: QKV weight has %d outputs, not a multiple of 3", w->n_out);
    if (T == 1 && fold_matmul(c, qkv, x, ln_g, ln_b, eps, w, bias, QB_CUDA_STORE, k_cache, v_cache, pos0)) return;
    const double *st = stats_of(c, x, w->n_in, T);
    if (T == 1 && !ln_done(c, x, ln_g, T) && (st || (c->ln_fuse && w->n_in <= QB_LN_FUSE_MAX))) {
        stats_for(c, qkv, T, QB_CUDA_STORE, w->n_out);
        c->st_in_next = st;
        qb_cuda_gemv_full(c, qkv, x, w, bias, QB_CUDA_STORE, 0, k_cache, v_cache, pos0, ln_g, ln_b, eps);
    } else qb_cuda_matmul_qkv(c, qkv, ln_rows(c, x, ln_g, ln_b, eps, w->n_in, T), w, bias, T, k_cache, v_cache, pos0);
}
