// device.cuh: the device helpers every kernel file shares: warp and block
// reductions, layernorm, GELU, the block types' scale decoding, positions and
// the programmatic-dependent-launch instructions. Device code only, so the
// host compiler can build it too for the CPU emulator (tests/sim/simt.h, which
// defines QB_SIMT; the few inline-PTX helpers have a host branch there).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>
#include <string.h>
#ifdef QB_SIMT
#include <stdio.h>
#include <stdlib.h>
#endif

#include "planes.cuh"

// The longest vector a GEMV block normalises itself (16 values a thread).
#define QB_LN_FUSE_MAX 2048

// A position argument: given, or read from the device slot.
__device__ __forceinline__ int qb_pos(int pos0, const int *d_pos) { return pos0 >= 0 ? pos0 : *d_pos; }

// IQ4_NL's codebook (ggml kvalues_iq4nl: -127, -104, -83, -65, -49, -35, -22,
// -10, 1, 13, 25, 38, 53, 69, 89, 113), looked up in registers: a table in
// constant memory serialises a warp's different indices. Four indices (one
// per byte, 0..15) to their int8 values biased by 128 (one per byte). The 16
// entries sit in four words; a byte permute picks among 8 bytes, so entries
// 0-7 and 8-15 are looked up apart and merged by the indices' bit 3.
__device__ __forceinline__ uint32_t iq4nl_lookup(uint32_t n) {
    const uint32_t y = n | (n >> 4);
    const uint32_t sel = ((y & 0xffu) | ((y >> 8) & 0xff00u)) & 0x7777u;
    const uint32_t lo = __byte_perm(0x3f2d1801u, 0x766a5d4fu, sel); // entries 0..7  (+128)
    const uint32_t hi = __byte_perm(0xa6998d81u, 0xf1d9c5b5u, sel); // entries 8..15 (+128)
    const uint32_t m = ((n >> 3) & 0x01010101u) * 0xffu;
    return (hi & m) | (lo & ~m);
}

// Q4_K's 6-bit scale and min of sub-block j (ggml get_scale_min_k4).
__device__ __forceinline__ void qb_q4k_scale_min(int j, const uint8_t *q, float *sc, float *m) {
    if (j < 4) {
        *sc = (float)(q[j] & 63);
        *m = (float)(q[j + 4] & 63);
    } else {
        *sc = (float)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (float)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

__device__ __forceinline__ float qb_gelu_new(float x) {
    const float k = 0.7978845608028654f; // sqrt(2/pi)
    return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
}

// Warp-wide sum.
__device__ __forceinline__ float qb_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ double qb_warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float qb_warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread
// gets it. red: 32 floats of shared memory.
__device__ __forceinline__ float qb_block_sum(float v, float *red) {
    v = qb_warp_sum(v);
    __syncthreads(); // red may still be read from a previous call
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    float s = 0;
    for (int i = 0; i < (int)(blockDim.x >> 5); i++) s += red[i];
    return s;
}

// 16 bytes through L2 only (ld.global.cg, as __ldcg): what the kernel waited
// for wrote them, which this SM's L1 could hold stale.
__device__ __forceinline__ uint4 qb_ldcg16(const void *p) {
#ifdef QB_SIMT
    if ((uintptr_t)p % 16) { // (on the GPU: a misaligned-address fault)
        fprintf(stderr, "qb_ldcg16: %p is not 16-byte aligned\n", p);
        abort();
    }
    uint4 r;
    memcpy(&r, p, 16);
    return r;
#else
    return __ldcg((const uint4 *)p);
#endif
}

// 16 bytes from global to shared memory, the thread going on at once
// (cp.async); qb_async_wait() waits for the thread's copies. L2_ONLY: through
// L2 only (cp.async.cg), for data other blocks of this very kernel may just
// have written, which this SM's L1 could hold stale.
template <bool L2_ONLY = false>
__device__ __forceinline__ void qb_async_copy16(void *smem, const void *gmem) {
#ifdef QB_SIMT
    memcpy(smem, gmem, 16);
#else
    const unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    if (L2_ONLY) asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(s), "l"(gmem) : "memory");
    else asm volatile("cp.async.ca.shared.global [%0], [%1], 16;" ::"r"(s), "l"(gmem) : "memory");
#endif
}
// 4 bytes the same way (cp.async.ca: it has no L2-only form this small).
__device__ __forceinline__ void qb_async_copy4(void *smem, const void *gmem) {
#ifdef QB_SIMT
    memcpy(smem, gmem, 4);
#else
    const unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"(s), "l"(gmem) : "memory");
#endif
}
__device__ __forceinline__ void qb_async_wait() {
#ifndef QB_SIMT
    asm volatile("cp.async.wait_all;" ::: "memory");
#endif
}

// Sends the 128-byte line at p towards L1 (no register waits for it).
__device__ __forceinline__ void qb_prefetch_l1(const void *p) {
#ifdef QB_SIMT
    (void)p;
#else
    asm volatile("prefetch.global.L1 [%0];" ::"l"(p));
#endif
}

// Sends the 128-byte line at p towards L2 (no register waits for it).
__device__ __forceinline__ void qb_prefetch_l2(const void *p) {
#ifdef QB_SIMT
    (void)p;
#else
    asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
#endif
}

// The 128-byte lines of two float rows a[0..n) and b[0..n) (a layernorm's
// gain and bias) by this block's threads: towards L1, or with TO_L2 towards
// L2 only (for another block to read).
template <bool TO_L2 = false>
__device__ __forceinline__ void qb_prefetch_rows(const float *a, const float *b, int n) {
    for (int i = 32 * threadIdx.x; i < n; i += 32 * blockDim.x) {
        if (TO_L2) qb_prefetch_l2(a + i), qb_prefetch_l2(b + i);
        else qb_prefetch_l1(a + i), qb_prefetch_l1(b + i);
    }
}

// y = layernorm(x) g + b over n <= MAXV * blockDim.x values, by one block
// (the same two passes as the CPU reference: mean, then the variance of the
// centred values, in float32). x is read once, all of a thread's loads in
// flight together, and kept in registers: on one decode vector this latency
// is the cost, and a loop of dependent rounds through L2 tripled it. g and b
// are sent towards L1 with x's loads, so their reads after the two sums do
// not make a second round trip.
template <int MAXV>
__device__ __forceinline__ void qb_layernorm_regs(float *y, const float *x, const float *g, const float *b, int n,
                                                  float eps, float *red) {
    qb_prefetch_rows(g, b, n);
    float v[MAXV];
    float s = 0;
#pragma unroll
    for (int k = 0; k < MAXV; k++) {
        const int i = threadIdx.x + k * blockDim.x;
        v[k] = i < n ? x[i] : 0.0f;
        s += v[k];
    }
    const float mean = qb_block_sum(s, red) / n;
    float q = 0;
#pragma unroll
    for (int k = 0; k < MAXV; k++) {
        const float d = threadIdx.x + k * blockDim.x < n ? v[k] - mean : 0.0f;
        q += d * d;
    }
    const float rstd = rsqrtf(qb_block_sum(q, red) / n + eps);
#pragma unroll
    for (int k = 0; k < MAXV; k++) {
        const int i = threadIdx.x + k * blockDim.x;
        if (i < n) y[i] = (v[k] - mean) * rstd * g[i] + b[i];
    }
}

// This block's share of [p, p + bytes) towards L2 (bulk prefetches: no
// registers held, nothing waits): an even split over the grid, in pieces of
// at most 16 KiB issued by the lanes of warp 0. p 16-byte aligned, bytes a
// multiple of 16 (the bulk copy's rules).
__device__ __forceinline__ void qb_prefetch_share_l2(const uint8_t *p, size_t bytes) {
    if (!bytes || threadIdx.x >= 32) return;
    const size_t share = ((bytes / gridDim.x) + 15) & ~(size_t)15;
    const size_t b0 = share * blockIdx.x, b1 = b0 + share < bytes ? b0 + share : bytes;
    const size_t piece = 16384;
    for (size_t o = b0 + threadIdx.x * piece; o < b1; o += 32 * piece) {
        const unsigned n = (unsigned)(b1 - o < piece ? b1 - o : piece);
#ifdef QB_SIMT
        (void)n;
#else
        asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(p + o), "r"(n) : "memory");
#endif
    }
}

// A clock common to every SM, in nanoseconds (the persistent step's trace).
#ifdef QB_SIMT
#include <time.h>
__device__ __forceinline__ unsigned long long qb_global_ns() {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (unsigned long long)t.tv_sec * 1000000000ull + (unsigned long long)t.tv_nsec;
}
#else
__device__ __forceinline__ unsigned long long qb_global_ns() {
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}
#endif

// Slots a vector's layernorm statistics are spread over (gemv.cuh: block b
// adds to slot b mod this, a power of two up to 32): few enough for one warp
// to read them all, enough that the blocks' float64 atomic adds do not queue
// on one address.
#define QB_STATS_SLOTS 32
// Doubles from one slot's (sum, sum of squares) to the next: 16, a 128-byte
// line a slot. Every block of the product that folds the next layernorm
// reads all the slots just after its wait, up to a thousand blocks at once;
// packed four slots to a line, they queued on four L2 lines. A line each:
// gpt2-xl +4.4 % (f16) and +3.8 % (q4_0), gpt2 +15.9 % and +5.4 % on the
// H100 (data/results/h100/ab-ln-slots-05d5196), +7.5 % and +4.8 %, +7.2 %
// and +3.6 % on the H200 (data/results/h200/ab-ln-slots-e5da436); 16 or 8
// slots were no faster there. A set is QB_STATS_SET doubles.
#define QB_STATS_STRIDE 16
#define QB_STATS_SET (QB_STATS_SLOTS * QB_STATS_STRIDE)
// Slot k's (sum, sum of squares) in a set.
template <class T> __device__ __forceinline__ T *qb_stats_slot(T *set, int k) { return set + QB_STATS_STRIDE * k; }

// The graph trace (QB_CUDA_TRACE; trace.cu): thread 0 of each block stamps
// when it began (k 0), left its wait for the previous kernel (1) and ended
// (2), in tr[3 * block + k]; tr is NULL when not tracing. A launch of B
// blocks (as captured) has QB_TRACE_MARKS B words: after those 3 B, each
// block's product stamp (qb_trace_mark_product).
#define QB_TRACE_MARKS 4
__device__ __forceinline__ size_t qb_trace_block() {
    return blockIdx.x + (size_t)gridDim.x * (blockIdx.y + (size_t)gridDim.y * blockIdx.z);
}
__device__ __forceinline__ void qb_trace_mark(unsigned long long *tr, int k) {
    if (!tr || threadIdx.x != 0) return;
    const size_t b = qb_trace_block();
    tr[3 * b + k] = qb_global_ns();
}
// The product stamps of a launch whose grid is the one captured (the
// attention's is trimmed before replays: its launch passes them apart).
__device__ __forceinline__ unsigned long long *qb_trace_products(unsigned long long *tr) {
    return tr ? tr + 3 * (size_t)gridDim.x * gridDim.y * gridDim.z : nullptr;
}
// The block's product stamp in trp (the GEMV's sums before their reduction,
// the attention's before its warps' merge), taken once v, a value thread 0
// computed from it, is there: a warp issues in order, and the branch on v
// cannot resolve, nor the clock be read behind it, before the loads v came
// from have arrived. (Without it the clock read has no operand to wait on
// and the compiler may issue it early.)
// Built in only with QB_TRACE_PRODUCT=1 (make NVCC_EXTRA=-DQB_TRACE_PRODUCT=1;
// tests/cuda/stage.sh's TRACE_PRODUCT=1 stages such a build as
// cuda_decode_prod): the code, even untaken, moved the
// registers of 20 of gemv.cu's 174 kernels (f16's lean consumer at 1 row
// 36 -> 40), and the kernels timed must be the ones shipped.
#ifndef QB_TRACE_PRODUCT
#define QB_TRACE_PRODUCT 0
#endif
__device__ __forceinline__ void qb_trace_mark_product(unsigned long long *trp, float v) {
    if (!QB_TRACE_PRODUCT || !trp || threadIdx.x != 0) return;
    if (__float_as_uint(v) == 0x7fbadbadu) return; // (a NaN no arithmetic makes: never taken)
    trp[qb_trace_block()] = qb_global_ns();
}

// Programmatic dependent launch: see qb_launch (common.cuh). Every kernel
// starts with qb_grid_wait() before it touches what an earlier kernel wrote,
// and may do independent work (loading weights) before it.
#ifdef QB_SIMT
__device__ __forceinline__ void qb_grid_wait() {}
__device__ __forceinline__ void qb_grid_launch_dependents() {}
#else
__device__ __forceinline__ void qb_grid_wait() { asm volatile("griddepcontrol.wait;" ::: "memory"); }
__device__ __forceinline__ void qb_grid_launch_dependents() { asm volatile("griddepcontrol.launch_dependents;"); }
#endif
