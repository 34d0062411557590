// qmm_avx2.c: quantized matmul with AVX2 + FMA + F16C (the code is
// qmm_simd.h); int8 dot products with maddubs + madd.
#define FLOAT_RANGE qb_mm_range_float_avx2
#include "qmm_simd.h"

QMM_DEFINE_RANGE(qb_qmm_range_avx2, 0)
