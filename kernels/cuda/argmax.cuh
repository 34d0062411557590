// argmax.cuh: the greedy decode step's last op, the argmax of the logits, as
// one launch of AM_BLOCKS blocks: each reduces a strided slice, and the last
// block to finish (a counter) reduces their partials. Shared by k_argmax
// (elementwise.cu) and the emulator's test (tests/sim/test_argmax.cpp), which
// also checks the run-ahead ring below, a path only the GPU machine's runs
// took before.
#pragma once
#include <math.h>

#include "cuda_backend.h"
#include "device.cuh"

#define AM_BLOCKS 64
static_assert(!(QB_CUDA_AHEAD_RING & (QB_CUDA_AHEAD_RING - 1)), "the ring's index is a mask");

// (v, i) becomes (v2, i2) where that is larger, or equal with a lower index
// (the CPU's qb_argmax picks the lowest index of the max too). NaN loses to
// any number, so a NaN logit is never the token.
__device__ __forceinline__ void am_merge(float &v, int &i, float v2, int i2) {
    if (v2 > v || (v2 == v && i2 < i) || (v != v && v2 == v2)) v = v2, i = i2;
}

// (v, i) merged with the other lanes' of the warp.
__device__ __forceinline__ void am_warp(float &v, int &i) {
    for (int o = 16; o > 0; o >>= 1) am_merge(v, i, __shfl_xor_sync(~0u, v, o), __shfl_xor_sync(~0u, i, o));
}

// The block's best (v, i), in thread 0.
__device__ inline void am_block(float &v, int &i, float *sv, int *si) {
    am_warp(v, i);
    __syncthreads(); // sv may still be read from a previous call
    if ((threadIdx.x & 31) == 0) sv[threadIdx.x >> 5] = v, si[threadIdx.x >> 5] = i;
    __syncthreads();
    if (threadIdx.x == 0)
        for (int w = 1; w < (int)(blockDim.x >> 5); w++) am_merge(v, i, sv[w], si[w]);
}

// *out = the lowest index of the largest of x[0..n) (0 if every value is
// NaN), by the grid (at most blockDim.x blocks): pv, pi hold a partial per
// block, *ctr counts the blocks done and is left 0 for the next launch.
// slots: the context's position slot, token slot and run flag
// (qb_cuda_ahead_begin) when out is the token slot, else NULL. While the run
// flag is set the last block also writes the token to ring[pos % 64] (pos:
// the position slot, the step's own position) and advances the position
// slot, so the next replay, queued already, decodes the following position
// with this token.
__device__ inline void qb_argmax_block(int *out, const float *x, int n, float *pv, int *pi, unsigned *ctr,
                                       int *slots, int *ring) {
    __shared__ float sv[32];
    __shared__ int si[32];
    __shared__ bool last;
    float v = -INFINITY;
    int idx = n; // beyond any index: loses ties
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) am_merge(v, idx, x[i], i);
    am_block(v, idx, sv, si);
    if (threadIdx.x == 0) {
        pv[blockIdx.x] = v, pi[blockIdx.x] = idx;
        __threadfence();
        last = atomicAdd(ctr, 1u) == gridDim.x - 1;
        if (last) *ctr = 0;
    }
    __syncthreads();
    if (!last) return;
    // The blocks' partials, one per thread, loaded at once (one thread
    // reading them in turn waited on 64 L2 round trips).
    __threadfence();
    v = -INFINITY, idx = n;
    if (threadIdx.x < gridDim.x) v = __ldcg(pv + threadIdx.x), idx = __ldcg(pi + threadIdx.x);
    am_block(v, idx, sv, si);
    if (threadIdx.x == 0) {
        const int tok = idx < n ? idx : 0;
        *out = tok;
        if (slots && slots[2]) { // running ahead: the token to the host, and the next step's position
            const int pos = slots[0];
            ring[pos & (QB_CUDA_AHEAD_RING - 1)] = tok;
            __threadfence_system();
            slots[0] = pos + 1;
        }
    }
}
