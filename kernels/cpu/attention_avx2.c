// attention_avx2.c: one (head, token) item of causal attention with AVX2,
// the same steps as qb_attend_scalar. Scores are computed eight keys at a
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
