// simt.h: a CPU emulator of as much of the CUDA execution model as the
// backend's device code uses, so that code runs in `make check` on machines
// without a GPU (CI has the CUDA toolkit but no device). Compiled with the
// host C++ compiler, force-included (-include) ahead of the device headers.
//
// Model: every block of a launch is an OS thread, so blocks really run at once
// and a grid-wide barrier or a spin on a counter another block sets works as
// on a GPU whose blocks are all resident. Within a block every CUDA thread is
// a fiber of that OS thread, switched only at __syncthreads, at a warp
// shuffle (lanes meet, exchange, go on) and at qb_simt_pause (a spin-wait's
// yield). So `__shared__` is thread_local storage (one copy per block), and
// threadIdx is set by the block's scheduler each time it resumes a fiber.
//
// What it cannot show: timing, the GPU's weaker memory ordering (x86 is
// TSO, so a missing __threadfence goes unnoticed), divergent-warp shuffles
// (it requires whole warps), inline PTX (device code offers a host branch
// under QB_SIMT where it uses asm).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define QB_SIMT 1
#undef __shared__
#define __shared__ static thread_local
#undef __launch_bounds__
#define __launch_bounds__(...)
#undef __noinline__
#define __noinline__ __attribute__((noinline))

struct qb_simt_idx {
    unsigned x, y, z;
};
extern thread_local qb_simt_idx threadIdx, blockIdx, blockDim, gridDim;

// ---- launching -------------------------------------------------------------------------
// Runs body(arg) as grid x block threads and returns when all have finished.
// Dies with a message on a deadlock (every fiber of a block waiting on its
// block or warp while none can go on).
void qb_simt_launch(qb_simt_idx grid, qb_simt_idx block, void (*body)(void *), void *arg);

// ---- synchronisation -----------------------------------------------------------------
void __syncthreads();
float __shfl_xor_sync(unsigned mask, float v, int lane_xor);
int __shfl_xor_sync(unsigned mask, int v, int lane_xor);
unsigned __shfl_xor_sync(unsigned mask, unsigned v, int lane_xor);
double __shfl_xor_sync(unsigned mask, double v, int lane_xor);
float __shfl_sync(unsigned mask, float v, int src_lane); // each lane reads lane src_lane's v
// __syncwarp: the warp's 32 lanes meet (whole warps only).
void __syncwarp(unsigned mask = 0xffffffffu);
// mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 with D = C = d: the warp's
// lanes meet and exchange their fragments (gemv_mma.cuh's qb_mma16816 for the
// layout); the products summed in float, in k order.
void qb_simt_mma16816(float *d, const uint32_t *a, const uint32_t *b);
// A spin-wait's pause: lets the block's other fibers and other blocks run.
void qb_simt_pause();

static inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline void __threadfence_system() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline unsigned atomicAdd(unsigned *p, unsigned v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
static inline double atomicAdd(double *p, double v) {
    uint64_t old = __atomic_load_n((uint64_t *)p, __ATOMIC_SEQ_CST), want;
    double d;
    do {
        memcpy(&d, &old, 8);
        d += v;
        memcpy(&want, &d, 8);
    } while (!__atomic_compare_exchange_n((uint64_t *)p, &old, want, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
    memcpy(&d, &old, 8);
    return d;
}
static inline unsigned atomicExch(unsigned *p, unsigned v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
static inline unsigned long long atomicMax(unsigned long long *p, unsigned long long v) {
    unsigned long long old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
    while (old < v && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
    return old;
}
// Loads that bypass L1 on the GPU: here, loads another block may have just written.
static inline float __ldcg(const float *p) {
    uint32_t u = __atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline int __ldcg(const int *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline double __ldcg(const double *p) {
    uint64_t u = __atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

// ---- arithmetic intrinsics ---------------------------------------------------------------
inline float __expf(float x) { return expf(x); }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline float __uint_as_float(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline uint32_t __float_as_uint(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float __int_as_float(int i) { return __uint_as_float((uint32_t)i); }
// FP16 fused multiply-add, emulated in float and rounded once to FP16 (as
// the GPU's where a*b+c is exact in float, as in the device code's uses).
static inline __half2 __hfma2(__half2 a, __half2 b, __half2 c) {
    const float2 x = __half22float2(a), y = __half22float2(b), z = __half22float2(c);
    return __floats2half2_rn(fmaf(x.x, y.x, z.x), fmaf(x.y, y.y, z.y));
}
// Byte k of the result is byte (s >> 4k) & 7 of the eight bytes y:x (no sign mode).
static inline uint32_t __byte_perm(uint32_t x, uint32_t y, uint32_t s) {
    const uint64_t v = ((uint64_t)y << 32) | x;
    uint32_t r = 0;
    for (int k = 0; k < 4; k++) r |= (uint32_t)((v >> (8 * ((s >> (4 * k)) & 7))) & 0xff) << (8 * k);
    return r;
}
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
