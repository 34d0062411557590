// qmm_avx512.c: quantized matmul compiled for AVX-512 (the code is
// qmm_simd.h): where the CPU has AVX512-VNNI the int8 dot products use
// vpdpbusd (one instruction instead of maddubs + madd), else the AVX2
// sequence. The vectors stay 256 bits wide (a unit is 32 int8 codes), but
// for the decode kernels that run sixteen rows in 512-bit vectors.
#define QMM_AVX512 1
#define FLOAT_RANGE qb_mm_range_float_avx512
#include <math.h>

#include "qmm_simd.h"

static QMM_DEFINE_RANGE(range_vnni, 1)
static QMM_DEFINE_RANGE(range_plain, 0)

void qb_qmm_range_avx512(const qb_qmm_args *a, int o0, int o1) {
    if (__builtin_cpu_supports("avx512vnni"))
        range_vnni(a, o0, o1);
    else
        range_plain(a, o0, o1);
}

int qb_qmm_x3_avx512(qb_type t) {
    return (t == QB_TYPE_Q4_0 || t == QB_TYPE_Q4_1 || t == QB_TYPE_Q4_K || t == QB_TYPE_Q6_K ||
            t == QB_TYPE_IQ4_NL || t == QB_TYPE_Q8_0) &&
           __builtin_cpu_supports("avx512vnni");
}

// Limb k + 1 is the rounding remainder of limb k times 128 (|remainder| <=
// 1/2, so limbs 1 and 2 lie in [-64, 64]); a - r and the products by 128 are
// exact in float. Round to nearest even (no scalar twin to match bit for bit:
// the tests bound the matmul's error against the scalar weight-only one).
void qb_quantize_x3_avx512(const float *x, qb_block_x3 *y, int n) {
    for (int b = 0; b < n / QB_UNIT; b++, x += QB_UNIT) {
        const __m512 v[2] = {_mm512_loadu_ps(x), _mm512_loadu_ps(x + 16)};
        // x - x is NaN exactly where x is Inf or NaN.
        const __mmask16 bad = _mm512_cmp_ps_mask(_mm512_sub_ps(v[0], v[0]), v[0], _CMP_UNORD_Q) |
                              _mm512_cmp_ps_mask(_mm512_sub_ps(v[1], v[1]), v[1], _CMP_UNORD_Q);
        qb_block_x3 *o = &y[b];
        if (bad) {
            o->d = NAN;
            memset(o->qs, 0, sizeof o->qs);
            o->sum = o->sum0 = o->sum_lo = 0;
            continue;
        }
        const float am = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v[0]), _mm512_abs_ps(v[1])));
        const float d = am / 127, id = d > 0 ? 1.0f / d : 0.0f;
        o->d = d;
        __m512i sum = _mm512_setzero_si512(), sum0 = sum;
        for (int h = 0; h < 2; h++) {
            __m512 a = _mm512_mul_ps(v[h], _mm512_set1_ps(id));
            for (int k = 0; k < 3; k++) {
                const __m512i r = _mm512_cvtps_epi32(a);
                _mm_storeu_si128((__m128i *)(o->qs[k] + 16 * h), _mm512_cvtepi32_epi8(r));
                sum = _mm512_add_epi32(sum, _mm512_slli_epi32(r, (unsigned)(14 - 7 * k)));
                if (k == 0) sum0 = _mm512_add_epi32(sum0, r);
                a = _mm512_mul_ps(_mm512_sub_ps(a, _mm512_cvtepi32_ps(r)), _mm512_set1_ps(128.0f));
            }
            if (h == 0) o->sum_lo = _mm512_reduce_add_epi32(sum);
        }
        o->sum = _mm512_reduce_add_epi32(sum);
        o->sum0 = _mm512_reduce_add_epi32(sum0);
    }
}
