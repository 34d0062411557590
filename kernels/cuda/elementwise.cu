// elementwise.cu: embedding lookup, layernorm, GELU, residual add, argmax and
// the negative log-likelihood of targets.
#include <math.h>

#include "argmax.cuh"
#include "common.cuh"
#include "dequant.cuh"

static bool embed_type_known(qb_type t) {
    switch (t) {
    case QB_TYPE_F32: case QB_TYPE_F16: case QB_TYPE_BF16: case QB_TYPE_Q8_0: case QB_TYPE_Q4_0:
    case QB_TYPE_Q4_1: case QB_TYPE_IQ4_NL: case QB_TYPE_Q4_K: case QB_TYPE_Q6_K: return true;
    default: return false;
    }
}

// One thread per (token, group of 32): x[t] = wte[tok[t]] + wpe[pos0 + t].
template <qb_type TE>
__global__ void k_embed(float *x, const int *tok, const uint8_t *wte, qb_planes pe, qb_type tp, const uint8_t *wpe,
                        qb_planes pp, int n, int pos0, const int *d_pos, int T, int n_vocab, int n_pos) {
    qb_grid_launch_dependents();
    qb_grid_wait();
    const int groups = (n + 31) / 32;
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)groups * T) return;
    const int t = (int)(i / groups), g = (int)(i % groups);
    int id = tok[t];
    id = id < 0 ? 0 : id >= n_vocab ? n_vocab - 1 : id; // the host validates; never read outside
    int p = qb_pos(pos0, d_pos) + t;
    p = p >= n_pos ? n_pos - 1 : p;
    float a[32], b[32];
    qb_deq32<TE>(wte, pe, id, g, n, a);
    qb_deq32_any(tp, wpe, pp, p, g, n, b);
    float *o = x + (size_t)t * n + g * 32;
    for (int k = 0; k < 32 && g * 32 + k < n; k++) o[k] = a[k] + b[k];
}

template <qb_type TE>
static void embed_p(qb_cuda *c, float *x, const int *tok, const qb_weight *wte, const qb_weight *wpe, int pos0, int T) {
    qb_planes pe, pp;
    qb_planes_of(wte->type, wte->n_in, wte->n_out, &pe);
    if (!embed_type_known(wpe->type))
        qb_die(QB_EXIT_DATA, "cuda: embed: position embedding type %d not supported", (int)wpe->type);
    if (!qb_planes_of(wpe->type, wpe->n_in, wpe->n_out, &pp)) qb_die(QB_EXIT_DATA, "cuda: embed: bad wpe");
    const int n = wte->n_in;
    const size_t work = (size_t)((n + 31) / 32) * T;
    const dim3 g(qb_blocks(work, 128)), b(128);
    const uint8_t *e = (const uint8_t *)wte->data, *p = (const uint8_t *)wpe->data;
    qb_launch(c, k_embed<TE>, g, b, 0, x, tok, e, pe, wpe->type, p, pp, n, pos0, c->d_pos, T, wte->n_out, wpe->n_out);
}

void qb_cuda_embed(qb_cuda *c, float *x, const int *tokens, const qb_weight *wte, const qb_weight *wpe, int pos0,
                   int T) {
    if (T <= 0) return;
    if (wte->n_in != wpe->n_in) qb_die(QB_EXIT_DATA, "cuda: embed: wte and wpe widths differ");
    qb_planes pe;
    if (!qb_planes_of(wte->type, wte->n_in, wte->n_out, &pe)) qb_die(QB_EXIT_DATA, "cuda: embed: bad wte");
    switch (wte->type) {
    case QB_TYPE_F32: embed_p<QB_TYPE_F32>(c, x, tokens, wte, wpe, pos0, T); break;
    case QB_TYPE_F16: embed_p<QB_TYPE_F16>(c, x, tokens, wte, wpe, pos0, T); break;
    case QB_TYPE_BF16: embed_p<QB_TYPE_BF16>(c, x, tokens, wte, wpe, pos0, T); break;
    case QB_TYPE_Q8_0: embed_p<QB_TYPE_Q8_0>(c, x, tokens, wte, wpe, pos0, T); break;
    case QB_TYPE_Q4_0: embed_p<QB_TYPE_Q4_0>(c, x, tokens, wte, wpe, pos0, T); break;
    case QB_TYPE_Q4_1: embed_p<QB_TYPE_Q4_1>(c, x, tokens, wte, wpe, pos0, T); break;
    case QB_TYPE_IQ4_NL: embed_p<QB_TYPE_IQ4_NL>(c, x, tokens, wte, wpe, pos0, T); break;
    case QB_TYPE_Q4_K: embed_p<QB_TYPE_Q4_K>(c, x, tokens, wte, wpe, pos0, T); break;
    case QB_TYPE_Q6_K: embed_p<QB_TYPE_Q6_K>(c, x, tokens, wte, wpe, pos0, T); break;
    default: qb_die(QB_EXIT_DATA, "cuda: embed: token embedding type %d not supported", (int)wte->type);
    }
}

// One block per row; two passes (mean, then variance of the centred values)
// like the CPU reference, in float32.
__global__ void k_layernorm(float *y, const float *x, const float *g, const float *b, int n, float eps) {
    qb_grid_launch_dependents();
    __shared__ float red[32];
    qb_grid_wait();
    const float *xr = x + (size_t)blockIdx.x * n;
    float *yr = y + (size_t)blockIdx.x * n;
    float s = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += xr[i];
    const float mean = qb_block_sum(s, red) / n;
    float v = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const float d = xr[i] - mean;
        v += d * d;
    }
    const float rstd = rsqrtf(qb_block_sum(v, red) / n + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x) yr[i] = (xr[i] - mean) * rstd * g[i] + b[i];
}

// The same for rows of at most 4 values a thread, held in registers.
__global__ void k_layernorm_regs(float *y, const float *x, const float *g, const float *b, int n, float eps) {
    qb_grid_launch_dependents();
    __shared__ float red[32];
    qb_grid_wait();
    qb_layernorm_regs<4>(y + (size_t)blockIdx.x * n, x + (size_t)blockIdx.x * n, g, b, n, eps, red);
}

void qb_cuda_layernorm(qb_cuda *c, float *y, const float *x, const float *g, const float *b, int n, int T,
                       float eps) {
    if (T <= 0) return;
    // One block per row; a wide block for a single row (decode), whose latency is the cost.
    const int threads = T < 8 && n > 1024 ? 512 : 256;
    if (n <= 4 * threads) qb_launch(c, k_layernorm_regs, dim3(T), dim3(threads), 0, y, x, g, b, n, eps);
    else qb_launch(c, k_layernorm, dim3(T), dim3(threads), 0, y, x, g, b, n, eps);
}

__global__ void k_gelu(float *x, size_t n) {
    qb_grid_launch_dependents();
    qb_grid_wait();
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] = qb_gelu_new(x[i]);
}

void qb_cuda_gelu(qb_cuda *c, float *x, size_t n) {
    if (n) qb_launch(c, k_gelu, dim3(qb_blocks(n, 256)), dim3(256), 0, x, n);
}

__global__ void k_add(float *y, const float *x, size_t n) {
    qb_grid_launch_dependents();
    qb_grid_wait();
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] += x[i];
}

void qb_cuda_add(qb_cuda *c, float *y, const float *x, size_t n) {
    if (n) qb_launch(c, k_add, dim3(qb_blocks(n, 256)), dim3(256), 0, y, x, n);
}

// ---- argmax: blocks reduce slices, the last block to finish the rest (argmax.cuh) ----------

// slots: the context's position slot, token slot and run flag (qb_cuda_ahead_begin)
// when out is the token slot, else NULL; ring: the run-ahead tokens' ring.
__global__ void k_argmax(int *out, const float *x, int n, float *pv, int *pi, unsigned *ctr, int *slots, int *ring) {
    qb_grid_launch_dependents();
    qb_grid_wait();
    qb_argmax_block(out, x, n, pv, pi, ctr, slots, ring);
}

void qb_cuda_argmax(qb_cuda *c, int *out, const float *x, int n) {
    if (n <= 0) qb_die(QB_EXIT_DATA, "cuda: argmax of nothing");
    // Its partials live past the attention counters' range in the counter array.
    float *pv = (float *)(c->counters + QB_CUDA_COUNTERS - 2 * AM_BLOCKS - 1);
    int *pi = (int *)(c->counters + QB_CUDA_COUNTERS - AM_BLOCKS - 1);
    int *slots = out == c->d_token ? c->d_pos : NULL;
    qb_launch(c, k_argmax, dim3(AM_BLOCKS), dim3(256), 0, out, x, n, pv, pi, c->counters + QB_CUDA_COUNTERS - 1,
              slots, c->d_ahead);
}

// ---- negative log-likelihood ------------------------------------------------------------------

__global__ void k_nll(float *nll, const float *logits, const int *targets, int n) {
    qb_grid_launch_dependents();
    __shared__ float red[32];
    qb_grid_wait();
    const float *l = logits + (size_t)blockIdx.x * n;
    float m = -INFINITY;
    for (int i = threadIdx.x; i < n; i += blockDim.x) m = fmaxf(m, l[i]);
    m = qb_warp_max(m);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = m;
    __syncthreads();
    m = -INFINITY;
    for (int i = 0; i < (int)(blockDim.x >> 5); i++) m = fmaxf(m, red[i]);
    float s = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += expf(l[i] - m);
    s = qb_block_sum(s, red);
    if (threadIdx.x == 0) {
        const int tg = targets[blockIdx.x];
        nll[blockIdx.x] = (tg >= 0 && tg < n) ? logf(s) + m - l[tg] : NAN;
    }
}

void qb_cuda_nll(qb_cuda *c, float *nll, const float *logits, const int *targets, int T, int n_vocab) {
    if (T > 0) qb_launch(c, k_nll, dim3(T), dim3(512), 0, nll, logits, targets, n_vocab);
}
