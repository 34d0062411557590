// attention_avx2.c: causal attention with AVX2. First the decode path: one
// (head, token) item, the same steps as qb_attend_scalar. Scores are computed eight keys at a
// time (eight dot products side by side, then one transposing reduction),
// the softmax uses a vector e^x, and the weighted sum of values keeps up to
// 64 output dimensions in registers while it walks the keys.
#include <math.h>

#include "cpu.h"
#include "simd_avx2.h"

void qb_attend_avx2(const qb_attn_args *j, int h, int t, float *s) {
    const int D = j->head_dim, D8 = D / 8 * 8;
    const size_t stride = (size_t)j->n_head * D;
    const int n_keys = j->pos0 + t + 1;
    const float *q = j->q + t * stride + (size_t)h * D;
    const float *K = j->k + (size_t)h * D, *V = j->v + (size_t)h * D;
    const float scale = 1.0f / sqrtf((float)D);

    // Scores.
    int p = 0;
    for (; p + 8 <= n_keys; p += 8) {
        __m256 acc[8];
        for (int r = 0; r < 8; r++) acc[r] = _mm256_setzero_ps();
        for (int d = 0; d < D8; d += 8) {
            const __m256 qv = _mm256_loadu_ps(q + d);
            for (int r = 0; r < 8; r++) acc[r] = _mm256_fmadd_ps(_mm256_loadu_ps(K + (p + r) * stride + d), qv, acc[r]);
        }
        __m256 dots = qb_hsum8x8(acc);
        if (D8 < D) {
            float tail[8];
            for (int r = 0; r < 8; r++) {
                tail[r] = 0;
                for (int d = D8; d < D; d++) tail[r] += q[d] * K[(p + r) * stride + d];
            }
            dots = _mm256_add_ps(dots, _mm256_loadu_ps(tail));
        }
        _mm256_storeu_ps(s + p, _mm256_mul_ps(dots, _mm256_set1_ps(scale)));
    }
    for (; p < n_keys; p++) {
        __m256 acc = _mm256_setzero_ps();
        for (int d = 0; d < D8; d += 8)
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(K + p * stride + d), _mm256_loadu_ps(q + d), acc);
        float dot = qb_hsum8(acc);
        for (int d = D8; d < D; d++) dot += q[d] * K[p * stride + d];
        s[p] = dot * scale;
    }

    // Softmax (max-subtracted).
    const int n8 = n_keys / 8 * 8;
    float mx = -INFINITY;
    if (n8) {
        __m256 m = _mm256_loadu_ps(s);
        for (p = 8; p < n8; p += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(s + p));
        mx = qb_hmax8(m);
    }
    for (p = n8; p < n_keys; p++) mx = s[p] > mx ? s[p] : mx;
    const __m256 mxv = _mm256_set1_ps(mx);
    __m256 sumv = _mm256_setzero_ps();
    for (p = 0; p < n8; p += 8) {
        __m256 e = qb_exp8(_mm256_sub_ps(_mm256_loadu_ps(s + p), mxv));
        _mm256_storeu_ps(s + p, e);
        sumv = _mm256_add_ps(sumv, e);
    }
    float sum = qb_hsum8(sumv);
    for (p = n8; p < n_keys; p++) {
        s[p] = expf(s[p] - mx);
        sum += s[p];
    }
    const float inv = 1.0f / sum;

    // Weighted sum of the values, 64 dimensions at a time in registers.
    float *o = j->out + t * stride + (size_t)h * D;
    for (int d0 = 0; d0 < D8; d0 += 64) {
        const int nv = (D8 - d0) / 8 < 8 ? (D8 - d0) / 8 : 8;
        __m256 acc[8];
        for (int c = 0; c < 8; c++) acc[c] = _mm256_setzero_ps();
        for (p = 0; p < n_keys; p++) {
            const __m256 w = _mm256_set1_ps(s[p]);
            const float *v = V + p * stride + d0;
            for (int c = 0; c < nv; c++) acc[c] = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + 8 * c), acc[c]);
        }
        for (int c = 0; c < nv; c++) _mm256_storeu_ps(o + d0 + 8 * c, _mm256_mul_ps(acc[c], _mm256_set1_ps(inv)));
    }
    for (int d = D8; d < D; d++) {
        float acc = 0;
        for (p = 0; p < n_keys; p++) acc += s[p] * V[p * stride + d];
        o[d] = acc * inv;
    }
}

// ---- prefill: blocks of queries against the transposed keys ----------------
//
// Per item, scores are the product of a block of QB_ATTN_QB queries with the
// head's keys laid out [head_dim][position] (transposed once per head), so a
// register tile of 4 queries x 16 keys needs only broadcasts and FMAs and no
// horizontal sums; the weighted sum of values is a 4 queries x 16 dims tile
// walking the positions. The softmax between them is the decode path's.

enum { NQ = QB_ATTN_QB };

void qb_attend_block_avx2(const qb_attn_args *j, int h, int t0, int nq, const float *kt, int kt_stride, float *s) {
    const int D = j->head_dim;
    const size_t stride = (size_t)j->n_head * D;
    const int n_max = j->pos0 + t0 + nq; // keys the last query of the block sees
    const float scale = 1.0f / sqrtf((float)D);
    const float *q[NQ];
    for (int r = 0; r < NQ; r++) q[r] = j->q + (size_t)(t0 + (r < nq ? r : nq - 1)) * stride + (size_t)h * D;

    // Scores, 16 keys at a time (kt is padded, so the last chunk may overrun n_max).
    for (int p = 0; p < n_max; p += 16) {
        __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00,
               a31 = a00;
        for (int d = 0; d < D; d++) {
            const __m256 k0 = _mm256_loadu_ps(kt + (size_t)d * kt_stride + p);
            const __m256 k1 = _mm256_loadu_ps(kt + (size_t)d * kt_stride + p + 8);
            __m256 b;
            b = _mm256_broadcast_ss(q[0] + d), a00 = _mm256_fmadd_ps(b, k0, a00), a01 = _mm256_fmadd_ps(b, k1, a01);
            b = _mm256_broadcast_ss(q[1] + d), a10 = _mm256_fmadd_ps(b, k0, a10), a11 = _mm256_fmadd_ps(b, k1, a11);
            b = _mm256_broadcast_ss(q[2] + d), a20 = _mm256_fmadd_ps(b, k0, a20), a21 = _mm256_fmadd_ps(b, k1, a21);
            b = _mm256_broadcast_ss(q[3] + d), a30 = _mm256_fmadd_ps(b, k0, a30), a31 = _mm256_fmadd_ps(b, k1, a31);
        }
        const __m256 sc = _mm256_set1_ps(scale);
        const __m256 acc[NQ][2] = {{a00, a01}, {a10, a11}, {a20, a21}, {a30, a31}};
        for (int r = 0; r < NQ; r++) {
            _mm256_storeu_ps(s + (size_t)r * kt_stride + p, _mm256_mul_ps(acc[r][0], sc));
            _mm256_storeu_ps(s + (size_t)r * kt_stride + p + 8, _mm256_mul_ps(acc[r][1], sc));
        }
    }

    // Softmax of each row over its own causal range; probabilities past it
    // are zero, so the value tile below can walk all n_max positions.
    float inv[NQ];
    for (int r = 0; r < NQ; r++) {
        float *sr = s + (size_t)r * kt_stride;
        const int n = r < nq ? j->pos0 + t0 + r + 1 : 0, n8 = n / 8 * 8;
        float mx = -INFINITY;
        if (n8) {
            __m256 m = _mm256_loadu_ps(sr);
            for (int p = 8; p < n8; p += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(sr + p));
            mx = qb_hmax8(m);
        }
        for (int p = n8; p < n; p++) mx = sr[p] > mx ? sr[p] : mx;
        const __m256 mxv = _mm256_set1_ps(mx);
        __m256 sumv = _mm256_setzero_ps();
        for (int p = 0; p < n8; p += 8) {
            __m256 e = qb_exp8(_mm256_sub_ps(_mm256_loadu_ps(sr + p), mxv));
            _mm256_storeu_ps(sr + p, e);
            sumv = _mm256_add_ps(sumv, e);
        }
        float sum = qb_hsum8(sumv);
        for (int p = n8; p < n; p++) {
            sr[p] = expf(sr[p] - mx);
            sum += sr[p];
        }
        for (int p = n; p < n_max; p++) sr[p] = 0.0f;
        inv[r] = n ? 1.0f / sum : 0.0f;
    }

    // Weighted sums of the values: 4 queries x 16 dimensions per pass.
    const float *V = j->v + (size_t)h * D;
    const float *s0 = s, *s1 = s + kt_stride, *s2 = s + 2 * (size_t)kt_stride, *s3 = s + 3 * (size_t)kt_stride;
    int d0 = 0;
    while (d0 + 8 <= D) {
        const int two = d0 + 16 <= D; // a second vector of 8 dimensions in this pass
        __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00,
               a31 = a00;
        for (int p = 0; p < n_max; p++) {
            const float *v = V + (size_t)p * stride + d0;
            const __m256 v0 = _mm256_loadu_ps(v), v1 = two ? _mm256_loadu_ps(v + 8) : _mm256_setzero_ps();
            __m256 b;
            b = _mm256_broadcast_ss(s0 + p), a00 = _mm256_fmadd_ps(b, v0, a00), a01 = _mm256_fmadd_ps(b, v1, a01);
            b = _mm256_broadcast_ss(s1 + p), a10 = _mm256_fmadd_ps(b, v0, a10), a11 = _mm256_fmadd_ps(b, v1, a11);
            b = _mm256_broadcast_ss(s2 + p), a20 = _mm256_fmadd_ps(b, v0, a20), a21 = _mm256_fmadd_ps(b, v1, a21);
            b = _mm256_broadcast_ss(s3 + p), a30 = _mm256_fmadd_ps(b, v0, a30), a31 = _mm256_fmadd_ps(b, v1, a31);
        }
        const __m256 acc[NQ][2] = {{a00, a01}, {a10, a11}, {a20, a21}, {a30, a31}};
        for (int r = 0; r < nq; r++) {
            float *o = j->out + (size_t)(t0 + r) * stride + (size_t)h * D + d0;
            const __m256 iv = _mm256_set1_ps(inv[r]);
            _mm256_storeu_ps(o, _mm256_mul_ps(acc[r][0], iv));
            if (two) _mm256_storeu_ps(o + 8, _mm256_mul_ps(acc[r][1], iv));
        }
        d0 += two ? 16 : 8;
    }
    for (int d = d0; d < D; d++)
        for (int r = 0; r < nq; r++) {
            const float *sr = s + (size_t)r * kt_stride;
            float acc = 0;
            for (int p = 0; p < n_max; p++) acc += sr[p] * V[(size_t)p * stride + d];
            j->out[(size_t)(t0 + r) * stride + (size_t)h * D + d] = acc * inv[r];
        }
}
