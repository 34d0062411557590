// cpu.h: what the CPU kernel files share among themselves (not part of the
// public kernels.h): the pool's chosen ISA, per-ISA matmul entry points (the
// tests call them directly to exercise every path), and helpers to split work.
#pragma once
#include "kernels.h"

// The ISA the pool's matmuls use: qb_cpu_isa() at qb_pool_new time, so a test
// can set QB_ISA and make a new pool to force a path.
qb_isa qb_pool_isa(const qb_pool *pool);

// qb_matmul on an explicitly chosen ISA (which must be <= qb_cpu_isa()).
void qb_matmul_isa(qb_isa isa, qb_pool *pool, float *y, const float *x, const qb_weight *w, const float *bias,
                   int T);

// Everything a thread needs to compute its share of one matmul. A range
// kernel computes y[t][o] for all t < T and o0 <= o < o1.
typedef struct {
    float *y;
    const float *x;
    const qb_weight *w;
    const float *bias;
    int T;
} qb_mm_args;
typedef void (*qb_mm_range_fn)(const qb_mm_args *a, int o0, int o1);

// The range kernels of each ISA for the float weight types (F32, F16, BF16),
// both layouts, any T.
void qb_mm_range_scalar(const qb_mm_args *a, int o0, int o1);
void qb_mm_range_float_avx2(const qb_mm_args *a, int o0, int o1);
void qb_mm_range_float_avx512(const qb_mm_args *a, int o0, int o1);

// Splits [0, n) into nth contiguous ranges whose boundaries are multiples of
// grain (except n itself); range ith is [*lo, *hi), possibly empty.
static inline void qb_split(int n, int grain, int ith, int nth, int *lo, int *hi) {
    long chunks = (n + grain - 1) / grain;
    long a = chunks * ith / nth * grain, b = chunks * (ith + 1) / nth * grain;
    *lo = a < n ? (int)a : n;
    *hi = b < n ? (int)b : n;
}
