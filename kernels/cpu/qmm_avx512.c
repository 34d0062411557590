// qmm_avx512.c: quantized matmul compiled for AVX-512 (the code is
// qmm_simd.h): where the CPU has AVX512-VNNI the int8 dot products use
// vpdpbusd (one instruction instead of maddubs + madd), else the AVX2
// sequence. The vectors stay 256 bits wide (a unit is 32 int8 codes), but
// for the decode kernels that run sixteen rows in 512-bit vectors.
#define QMM_AVX512 1
#define FLOAT_RANGE qb_mm_range_float_avx512
#include "qmm_simd.h"

static QMM_DEFINE_RANGE(range_vnni, 1)
static QMM_DEFINE_RANGE(range_plain, 0)

void qb_qmm_range_avx512(const qb_qmm_args *a, int o0, int o1) {
    if (__builtin_cpu_supports("avx512vnni"))
        range_vnni(a, o0, o1);
    else
        range_plain(a, o0, o1);
}
