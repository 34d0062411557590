// cuda_bench.cuh: what the standalone CUDA benchmarks (cuda_chain, cuda_mlp)
// share: checked runtime calls, GPU 0 or a skip line, the median time of a
// graph's replays, and the device side's hand-overs (PDL, counts in L2) and sums.
#pragma once
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef BENCH_NAME
#error "define BENCH_NAME (the program's name, for its error lines) before including cuda_bench.cuh"
#endif

#define CK(call)                                                                                   \
    do {                                                                                           \
        cudaError_t err_ = (call);                                                                 \
        if (err_ != cudaSuccess) {                                                                 \
            fprintf(stderr, BENCH_NAME ": %s: %s\n", #call, cudaGetErrorString(err_));             \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static int cmp_float(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

// Median milliseconds of reps replays of graph (at most 64), after one
// unmeasured; reset_bytes of reset zeroed before each replay (untimed).
static double graph_median_ms(cudaGraphExec_t graph, cudaStream_t s, int reps, void *reset, size_t reset_bytes) {
    enum { MAX_REPS = 64 };
    if (reps > MAX_REPS) reps = MAX_REPS;
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    float ms[MAX_REPS];
    for (int r = -1; r < reps; r++) {
        if (reset) CK(cudaMemsetAsync(reset, 0, reset_bytes, s));
        CK(cudaEventRecord(e0, s));
        CK(cudaGraphLaunch(graph, s));
        CK(cudaEventRecord(e1, s));
        CK(cudaEventSynchronize(e1));
        if (r >= 0) CK(cudaEventElapsedTime(&ms[r], e0, e1));
    }
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    qsort(ms, (size_t)reps, sizeof ms[0], cmp_float);
    return ms[reps / 2];
}

// bytes of host memory, or a line and exit 1.
static void *host_alloc(size_t bytes) {
    void *p = malloc(bytes);
    if (!p) {
        fprintf(stderr, BENCH_NAME ": out of host memory (%zu bytes)\n", bytes);
        exit(1);
    }
    return p;
}
// A copy on the host (host_alloc'ed) of the n floats at d on the device.
static float *to_host(const float *d, size_t n) {
    float *h = (float *)host_alloc(n * sizeof(float));
    CK(cudaMemcpy(h, d, n * sizeof(float), cudaMemcpyDeviceToHost));
    return h;
}

// GPU 0's properties into *prop; without a GPU, a "# skipped" line and false
// (the benchmark then exits 0: make bench runs on machines without one).
static bool bench_device(cudaDeviceProp *prop) {
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        printf("# skipped: no CUDA device\n");
        return false;
    }
    CK(cudaGetDeviceProperties(prop, 0));
    return true;
}

// ---- device side ----------------------------------------------------------------------------
// PDL: let the next kernel of the stream launch; wait until the previous one has ended.
__device__ __forceinline__ void pdl_launch() { asm volatile("griddepcontrol.launch_dependents;"); }
__device__ __forceinline__ void pdl_wait() { asm volatile("griddepcontrol.wait;" ::: "memory"); }

// A block counting itself in *ctr once its writes are done (one thread, after a __syncthreads).
__device__ __forceinline__ void count_in(unsigned *ctr) {
    __threadfence(); // the block's writes before its count
    atomicAdd(ctr, 1u);
}
// One thread waiting until *ctr reaches want; the writes counted before it are then visible.
__device__ __forceinline__ void wait_count(const unsigned *ctr, unsigned want) {
    while (*(const volatile unsigned *)ctr < want) {
    }
    __threadfence();
}

// v summed over the warp (every lane gets it).
__device__ __forceinline__ float warp_sum(float v) {
    for (int d = 16; d; d /= 2) v += __shfl_xor_sync(~0u, v, d);
    return v;
}
// v summed over the block (every thread gets it), through scratch (a float a warp, shared); a
// second call must be kept from the first's readers by a __syncthreads.
__device__ __forceinline__ float block_sum(float v, float *scratch) {
    v = warp_sum(v);
    if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = v;
    __syncthreads();
    float s = 0.0f;
    for (unsigned w = 0; w < blockDim.x / 32; w++) s += scratch[w];
    return s;
}
