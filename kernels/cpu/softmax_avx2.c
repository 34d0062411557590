// softmax_avx2.c: the softmax statistics of softmax.c with AVX2 + FMA. The
// argmax keeps (value, index) per lane; the sums take e^x 8 at a time
// (exp8_full below) and add each term in double lanes, so the rounding of
// 50k float terms does not pile up. (Adding 4 vectors in float first was
// ~10% faster but tripled the error of an exact KL of ~1e-5, where the
// log-sum-exps of two models cancel to 6 digits.)
#include <math.h>

#include "cpu.h"
#include "simd_avx2.h"

// e^x for 8 floats x <= 88.3, like simd_avx2.h's qb_exp8 (the same Cephes
// core, qb_exp8_reduced, within 2 ulp) but without its floor at
// -87: 2^n is applied in two halves, so results in the subnormal range come
// out as expf gives them and e^-inf is 0. A sum over masked entries may be
// that small. NaN stays NaN (max/min return their second operand on NaN).
static inline __m256 exp8_full(__m256 x) {
    x = _mm256_min_ps(_mm256_set1_ps(88.3f), _mm256_max_ps(_mm256_set1_ps(-104.0f), x));
    __m256 n;
    const __m256 p = qb_exp8_reduced(x, &n);
    // n in [-150, 128]: each half is a normal power of two.
    const __m256i ni = _mm256_cvtps_epi32(n), n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

// e^(x[i] - mx) for 8 entries, zero where skip[i] != 0 (skip may be NULL).
static inline __m256 exp8_at(const float *x, __m256 mx, const uint8_t *skip) {
    __m256 e = exp8_full(_mm256_sub_ps(_mm256_loadu_ps(x), mx));
    if (skip) {
        const __m128i b = _mm_loadl_epi64((const __m128i *)skip);
        const __m256i keep = _mm256_cmpeq_epi32(_mm256_cvtepu8_epi32(b), _mm256_setzero_si256());
        e = _mm256_and_ps(e, _mm256_castsi256_ps(keep));
    }
    return e;
}

// acc += the 8 lanes of v as doubles (low half into a[0], high into a[1]).
static inline void fold8(__m256d a[2], __m256 v) {
    a[0] = _mm256_add_pd(a[0], _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    a[1] = _mm256_add_pd(a[1], _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

static inline double hsum4d(__m256d v) {
    __m128d q = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q)));
}

// Of two (value, index) lane sets, per lane the larger value, the lower
// index on equal values: the first occurrence, as the scalar scan finds it.
static inline void argmax_merge(__m256 *m, __m256i *idx, __m256 m2, __m256i idx2) {
    const __m256 take = _mm256_or_ps(_mm256_cmp_ps(m2, *m, _CMP_GT_OQ),
                                     _mm256_and_ps(_mm256_cmp_ps(m2, *m, _CMP_EQ_OQ),
                                                   _mm256_castsi256_ps(_mm256_cmpgt_epi32(*idx, idx2))));
    *m = _mm256_blendv_ps(*m, m2, take);
    *idx = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(*idx), _mm256_castsi256_ps(idx2), take));
}

int qb_argmax_avx2(const float *x, int n) {
    if (n < 16) return qb_argmax_scalar(x, n);
    // Two independent lane sets (even and odd vectors) hide the compare's
    // latency; within a lane a strict > keeps the first occurrence.
    const __m256i step = _mm256_set1_epi32(16);
    __m256i cur0 = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), cur1 = _mm256_add_epi32(cur0, _mm256_set1_epi32(8));
    __m256 m0 = _mm256_loadu_ps(x), m1 = _mm256_loadu_ps(x + 8);
    __m256i i0 = cur0, i1 = cur1;
    int i = 16;
    for (; i + 16 <= n; i += 16) {
        cur0 = _mm256_add_epi32(cur0, step), cur1 = _mm256_add_epi32(cur1, step);
        const __m256 v0 = _mm256_loadu_ps(x + i), v1 = _mm256_loadu_ps(x + i + 8);
        const __m256 g0 = _mm256_cmp_ps(v0, m0, _CMP_GT_OQ), g1 = _mm256_cmp_ps(v1, m1, _CMP_GT_OQ);
        m0 = _mm256_blendv_ps(m0, v0, g0), m1 = _mm256_blendv_ps(m1, v1, g1);
        i0 = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(i0), _mm256_castsi256_ps(cur0), g0));
        i1 = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(i1), _mm256_castsi256_ps(cur1), g1));
    }
    argmax_merge(&m0, &i0, m1, i1);
    float mv[8];
    int iv[8];
    _mm256_storeu_ps(mv, m0);
    _mm256_storeu_si256((__m256i *)iv, i0);
    int am = iv[0];
    for (int l = 1; l < 8; l++)
        if (mv[l] > x[am] || (mv[l] == x[am] && iv[l] < am)) am = iv[l];
    for (; i < n; i++) // the tail lies after every index seen: strict >
        if (x[i] > x[am]) am = i;
    return am;
}

double qb_sum_exp_avx2(const float *x, int n, float mx, const uint8_t *skip) {
    const __m256 vmx = _mm256_set1_ps(mx);
    __m256d acc[2] = {_mm256_setzero_pd(), _mm256_setzero_pd()};
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        const uint8_t *s = skip ? skip + i : NULL;
        const __m256 e0 = exp8_at(x + i, vmx, s), e1 = exp8_at(x + i + 8, vmx, s ? s + 8 : NULL);
        const __m256 e2 = exp8_at(x + i + 16, vmx, s ? s + 16 : NULL), e3 = exp8_at(x + i + 24, vmx, s ? s + 24 : NULL);
        fold8(acc, e0), fold8(acc, e1), fold8(acc, e2), fold8(acc, e3);
    }
    for (; i + 8 <= n; i += 8) fold8(acc, exp8_at(x + i, vmx, skip ? skip + i : NULL));
    double s = hsum4d(_mm256_add_pd(acc[0], acc[1]));
    return s + qb_sum_exp_scalar(x + i, n - i, mx, skip ? skip + i : NULL);
}

// The weighted terms of 8 entries, in double as in the scalar twin (see
// softmax.c): a[k] += e (xb - x) per half; returns the 8 weights e.
static inline __m256 diff8(const float *xb, const float *x, __m256 vmb, __m256d a[2]) {
    __m256 b = _mm256_loadu_ps(xb), q = _mm256_loadu_ps(x);
    const __m256 e = exp8_full(_mm256_sub_ps(b, vmb));
    const __m256 live = _mm256_cmp_ps(e, _mm256_setzero_ps(), _CMP_NEQ_UQ); // zero weight: d = 0
    b = _mm256_and_ps(b, live), q = _mm256_and_ps(q, live);
    const __m128 b0 = _mm256_castps256_ps128(b), b1 = _mm256_extractf128_ps(b, 1);
    const __m128 q0 = _mm256_castps256_ps128(q), q1 = _mm256_extractf128_ps(q, 1);
    const __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(b0), _mm256_cvtps_pd(q0));
    const __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(b1), _mm256_cvtps_pd(q1));
    a[0] = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(e)), d0, a[0]);
    a[1] = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)), d1, a[1]);
    return e;
}

// The sum of the weights is formed exactly as qb_sum_exp_avx2 forms it (the
// same blocks, folds and tail), so it equals qb_sum_exp(xb, n, mb, NULL) to
// the bit: the KL of a model against itself comes out exactly 0.
double qb_sum_exp_diff_avx2(const float *xb, const float *x, int n, float mb, double *sum_exp) {
    const __m256 vmb = _mm256_set1_ps(mb);
    __m256d s[2] = {_mm256_setzero_pd(), _mm256_setzero_pd()}, a[2] = {s[0], s[1]};
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m256 e0 = diff8(xb + i, x + i, vmb, a), e1 = diff8(xb + i + 8, x + i + 8, vmb, a);
        const __m256 e2 = diff8(xb + i + 16, x + i + 16, vmb, a), e3 = diff8(xb + i + 24, x + i + 24, vmb, a);
        fold8(s, e0), fold8(s, e1), fold8(s, e2), fold8(s, e3);
    }
    for (; i + 8 <= n; i += 8) fold8(s, diff8(xb + i, x + i, vmb, a));
    double ts, ta = qb_sum_exp_diff_scalar(xb + i, x + i, n - i, mb, &ts);
    *sum_exp = hsum4d(_mm256_add_pd(s[0], s[1])) + ts;
    return hsum4d(_mm256_add_pd(a[0], a[1])) + ta;
}
