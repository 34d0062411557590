// qmm_avx2.c: quantized matmul with AVX2 + FMA + F16C (the code is
// qmm_simd.h); int8 dot products with maddubs + madd. Also the SIMD twin of
// qb_quantize_act (the W8A8 activation quantizer), used on AVX2 and AVX-512:
// scalar roundf was ~4 % of an int8-all decode step.
#define FLOAT_RANGE qb_mm_range_float_avx2
#include <math.h>

#include "qmm_simd.h"

QMM_DEFINE_RANGE(qb_qmm_range_avx2, 0)

// ---- activation quantization (W8A8): qb_quantize_act, bit for bit -------------

// roundf (half away from zero) of 8 floats exactly: truncate, then step one
// away from zero where the dropped fraction (exact in float) is >= 1/2.
static inline __m256 round_half_away(__m256 v) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));
    const __m256 step = _mm256_or_ps(_mm256_and_ps(v, sign), _mm256_set1_ps(1.0f));
    return _mm256_add_ps(t, _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ), step));
}

void qb_quantize_act_avx2(const float *x, qb_block_q8a *y, int n, float scale) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int b = 0; b < n / QB_UNIT; b++, x += QB_UNIT) {
        __m256 v[4], amax = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) {
            v[k] = _mm256_loadu_ps(x + 8 * k);
            amax = _mm256_max_ps(amax, _mm256_and_ps(v[k], abs_mask));
            // x - x is NaN exactly where x is Inf or NaN.
            bad = _mm256_or_ps(bad, _mm256_cmp_ps(_mm256_sub_ps(v[k], v[k]), v[k], _CMP_UNORD_Q));
        }
        qb_block_q8a *o = &y[b];
        if (_mm256_movemask_ps(bad)) {
            o->d = NAN; // as the scalar twin: NaN rather than silently wrong
            memset(o->qs, 0, sizeof o->qs);
            o->sum = 0;
            continue;
        }
        const float am = qb_hmax8(amax);
        float d, id;
        if (scale > 0)
            d = scale, id = 1.0f / scale;
        else
            d = am / 127, id = d > 0 ? 1.0f / d : 0.0f;
        o->d = d;
        __m256i q[4], sum = _mm256_setzero_si256();
        for (int k = 0; k < 4; k++) {
            __m256 r = round_half_away(_mm256_mul_ps(v[k], _mm256_set1_ps(id)));
            if (scale > 0) r = _mm256_min_ps(_mm256_max_ps(r, _mm256_set1_ps(-127)), _mm256_set1_ps(127));
            q[k] = _mm256_cvttps_epi32(r);
            sum = _mm256_add_epi32(sum, q[k]);
        }
        // int32 -> int8: the packs interleave 128-bit lanes; the permute undoes it.
        const __m256i q16 = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        _mm256_storeu_si256((__m256i *)o->qs, _mm256_permutevar8x32_epi32(q16, order));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
        o->sum = _mm_cvtsi128_si32(_mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1)));
    }
}
