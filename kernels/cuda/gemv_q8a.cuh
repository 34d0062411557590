// gemv_q8a.cuh: W8A8 lane code for the persistent step's warp GEMV (a
// measurement knob, QB_CUDA_STEP_ACT=int8): x quantized once per op and
// block to int8 per 32 values exactly as the CPU's qb_quantize_act does
// (d = amax/127, codes round(x/d) clipped to +-127, NaN scale for a block
// holding NaN or Inf), then each lane's eight weights meet their eight codes
// in two dp4a (one instruction per four products, where the float path
// spends about three a weight on turning codes into floats). For Q8_0 and
// Q4_0, the two types whose gpt2-xl decode the issue's 0.8-of-floor target
// names; same planes and lane layout as TQ8_0 and TQ4<Q4_0> (gemv.cuh).
#pragma once
#include <math.h>

#include "gemv.cuh"

// The quantized x of one op, in shared memory: n_in <= QB_XQ_MAX.
#define QB_XQ_MAX 8192
struct qb_xq {
    float d[QB_XQ_MAX / 32];
    int8_t qs[QB_XQ_MAX];
};

#ifdef QB_SIMT
__device__ __forceinline__ int qb_dp4a(int a, int b, int c) {
    for (int k = 0; k < 4; k++) c += (int)(int8_t)(a >> (8 * k)) * (int)(int8_t)(b >> (8 * k));
    return c;
}
#else
__device__ __forceinline__ int qb_dp4a(int a, int b, int c) { return __dp4a(a, b, c); }
#endif

// x[0..n) (n a multiple of 32) into xq by the whole block, one warp a block
// of 32 (lane = value): the CPU's rounding (roundf of x times 1/d) so the codes
// match bit for bit. Ends with __syncthreads.
__device__ __forceinline__ void qb_quantize_x(const float *x, int n, qb_xq *xq) {
    const int lane = threadIdx.x & 31, nwarp = blockDim.x >> 5;
    for (int b = threadIdx.x >> 5; b < n / 32; b += nwarp) {
        const float v = x[b * 32 + lane];
        const bool bad = !isfinite(v);
        const float amax = qb_warp_max(bad ? 0.0f : fabsf(v));
        const bool any_bad = qb_warp_sum(bad ? 1.0f : 0.0f) > 0.0f;
        const float d = amax / 127, id = d > 0 ? 1.0f / d : 0.0f;
        float q = roundf(v * id);
        q = q > 127 ? 127 : q < -127 ? -127 : q;
        xq->qs[b * 32 + lane] = any_bad ? 0 : (int8_t)q;
        if (lane == 0) xq->d[b] = any_bad ? NAN : d;
    }
    __syncthreads();
}

// A lane's eight codes and their block's scale.
struct qb_xv8 {
    int a, b; // four int8 codes each
    float d;
};

// The W8A8 types take their planes, steps and loads from the weight-only
// types (same lane layout) and replace only xs() and dot().

// Q8_0, W8A8: lane l of a step holds weights 8l..8l+7 (block l/4).
struct TQ8_0A : TQ8_0 {
    using XV = qb_xv8;
    static __device__ void xs(const qb_xq *x, int, int s, int lane, XV &xv) {
        const int i = s * 256 + lane * 8;
        xv.a = *(const int *)(x->qs + i), xv.b = *(const int *)(x->qs + i + 4);
        xv.d = x->d[i / 32];
    }
    static __device__ float dot(int, const uint32_t *w, const XV &xv) {
        const int id = qb_dp4a((int)w[0], xv.a, qb_dp4a((int)w[1], xv.b, 0));
        return h2f(w[2]) * xv.d * (float)id;
    }
};

// Q4_0, W8A8: lane l's four bytes are weights j..j+3 (low nibbles) and
// j+16..j+19 (high) of block l/4, j = 4 (l % 4); codes c stand for c - 8.
struct TQ4_0A : TQ4<QB_TYPE_Q4_0> {
    using XV = qb_xv8;
    static __device__ void xs(const qb_xq *x, int, int s, int lane, XV &xv) {
        const int i = s * 256 + (lane / 4) * 32 + (lane % 4) * 4;
        xv.a = *(const int *)(x->qs + i), xv.b = *(const int *)(x->qs + i + 16);
        xv.d = x->d[i / 32];
    }
    static __device__ float dot(int, const uint32_t *w, const XV &xv) {
        const int lo = (int)(w[0] & 0x0f0f0f0fu), hi = (int)((w[0] >> 4) & 0x0f0f0f0fu);
        const int id = qb_dp4a(lo, xv.a, qb_dp4a(hi, xv.b, 0));
        const int sx = qb_dp4a(0x01010101, xv.a, qb_dp4a(0x01010101, xv.b, 0)); // the codes' sum
        return h2f(w[1]) * xv.d * (float)(id - 8 * sx);
    }
};
