// norm_avx2.c: gelu_new with AVX2. 0.5 x (1 + tanh(u)) is rewritten as
// x / (1 + e^(-2u)), the same function, which needs one e^x per value and
// keeps full relative precision for x << 0, where 1 + tanh(u) cancels.
#include "cpu.h"
#include "simd_avx2.h"

void qb_gelu_avx2(float *x, size_t n) {
    const __m256 k2 = _mm256_set1_ps(-2 * 0.7978845608028654f), c = _mm256_set1_ps(0.044715f);
    const __m256 one = _mm256_set1_ps(1.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256 inner = _mm256_fmadd_ps(_mm256_mul_ps(c, v), _mm256_mul_ps(v, v), v); // v + c v^3
        const __m256 e = qb_exp8(_mm256_mul_ps(k2, inner));
        _mm256_storeu_ps(x + i, _mm256_div_ps(v, _mm256_add_ps(one, e)));
    }
    if (i < n) qb_gelu_scalar(x + i, n - i);
}
