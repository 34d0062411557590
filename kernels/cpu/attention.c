// attention.c: causal multi-head self-attention against the KV cache.
//
// One work item is one (head, new token) pair: its scores against every
// cached position up to its own, a max-subtracted softmax, and the weighted
// sum of the values. Items are dealt to the pool's threads round-robin, which
// balances the causal triangle (later tokens see more keys) well enough; each
// thread keeps its scores in its own slice of the caller's scratch. The
// per-item kernel is scalar here (the reference) or attention_avx2.c's; on
// AVX2 a prefill of 4 or more tokens takes blocks of queries at a time
// instead (attn_block_worker).
#include <math.h>
#include <stdlib.h>

#include "cpu.h"
#include "util.h"

void qb_attend_scalar(const qb_attn_args *j, int h, int t, float *s) {
    const int D = j->head_dim;
    const size_t stride = (size_t)j->n_head * D; // one position's row in q, cache, out
    const int n_keys = j->pos0 + t + 1;          // causal: positions 0..pos0+t
    const float *q = j->q + t * stride + (size_t)h * D;
    const float scale = 1.0f / sqrtf((float)D);
    float mx = -INFINITY;
    for (int p = 0; p < n_keys; p++) {
        const float *k = j->k + p * stride + (size_t)h * D;
        float dot = 0;
        for (int d = 0; d < D; d++) dot += q[d] * k[d];
        s[p] = dot * scale;
        if (s[p] > mx) mx = s[p];
    }
    float sum = 0;
    for (int p = 0; p < n_keys; p++) {
        s[p] = expf(s[p] - mx);
        sum += s[p];
    }
    const float inv = 1.0f / sum;
    float *o = j->out + t * stride + (size_t)h * D;
    for (int d = 0; d < D; d++) o[d] = 0;
    for (int p = 0; p < n_keys; p++) {
        const float *v = j->v + p * stride + (size_t)h * D;
        const float wgt = s[p] * inv;
        for (int d = 0; d < D; d++) o[d] += wgt * v[d];
    }
}

typedef struct {
    qb_attn_args a;
    qb_attend_fn fn;
} attn_job;

static void attn_worker(void *ctx, int ith, int nth) {
    const attn_job *j = ctx;
    float *s = j->a.scratch + (size_t)ith * (j->a.pos0 + j->a.T);
    const int items = j->a.n_head * j->a.T;
    for (int it = ith; it < items; it += nth) j->fn(&j->a, it % j->a.n_head, it / j->a.n_head, s);
}

void qb_attn_transpose_keys(const qb_attn_args *a, int h, float *kt, int kt_stride) {
    const int D = a->head_dim, N = a->pos0 + a->T;
    const size_t stride = (size_t)a->n_head * D;
    for (int d = 0; d < D; d++) {
        float *row = kt + (size_t)d * kt_stride;
        for (int p = 0; p < N; p++) row[p] = a->k[p * stride + (size_t)h * D + d];
        for (int p = N; p < kt_stride; p++) row[p] = 0.0f;
    }
}

// Prefill on AVX2: items are (head, block of QB_ATTN_QB queries), dealt
// round-robin head by head; each thread transposes a head's keys once into
// its own buffer (allocated here: the caller's scratch is sized for one row
// of scores per thread, the decode path's need).
static void attn_block_worker(void *ctx, int ith, int nth) {
    const attn_job *j = ctx;
    const qb_attn_args *a = &j->a;
    const int N = a->pos0 + a->T, kt_stride = (N + 15) / 16 * 16;
    const int nb = (a->T + QB_ATTN_QB - 1) / QB_ATTN_QB, items = a->n_head * nb;
    if (ith >= items) return;
    float *kt = qb_aligned_alloc(sizeof(float) * (size_t)a->head_dim * kt_stride);
    float *s = qb_aligned_alloc(sizeof(float) * QB_ATTN_QB * (size_t)kt_stride);
    int have = -1;
    for (int it = ith; it < items; it += nth) {
        const int h = it / nb, t0 = it % nb * QB_ATTN_QB;
        if (h != have) qb_attn_transpose_keys(a, h, kt, kt_stride), have = h;
        qb_attend_block_avx2(a, h, t0, a->T - t0 < QB_ATTN_QB ? a->T - t0 : QB_ATTN_QB, kt, kt_stride, s);
    }
    free(kt);
    free(s);
}

void qb_attention_isa(qb_isa isa, qb_pool *pool, float *out, const float *q, const float *k_cache,
                      const float *v_cache, int pos0, int T, int n_head, int head_dim, float *scratch) {
    attn_job j = {{out, q, k_cache, v_cache, pos0, T, n_head, head_dim, scratch},
                  isa >= QB_ISA_AVX2 ? qb_attend_avx2 : qb_attend_scalar};
    if (T <= 0) return;
    qb_pool_run(pool, isa >= QB_ISA_AVX2 && T >= QB_ATTN_QB ? attn_block_worker : attn_worker, &j);
}

void qb_attention(qb_pool *pool, float *out, const float *q, const float *k_cache, const float *v_cache, int pos0,
                  int T, int n_head, int head_dim, float *scratch) {
    qb_attention_isa(qb_pool_isa(pool), pool, out, q, k_cache, v_cache, pos0, T, n_head, head_dim, scratch);
}
