// cuda_bench.cuh: what the standalone CUDA benchmarks (cuda_chain, cuda_mlp)
// share: checked runtime calls, GPU 0 or a skip line, and the median time of a
// graph's replays.
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
