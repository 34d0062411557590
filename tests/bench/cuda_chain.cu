// cuda_chain: what handing work from one step of a chain to the next costs on
// this GPU, with no qbench code in it (the CUDA runtime only). The decode step
// is ~243 dependent launches (gpt2-xl: 5 a layer, the embedding, lm_head) and
// takes ~4 us a launch whether its weights come from DRAM or L2
// (data/results/h100/w16-run-847b4f9): this is the floor that chain stands on.
//
//   link     LINKS dependent kernels replayed as one CUDA graph, each block
//            waiting for the previous kernel and, with PDL, launched before it
//            ends (programmatic stream serialization, as the decode step is);
//            n floats handed on: each thread adds 1 to the elements it owns
//            after the wait (n 0: the hand-over alone)
//   flag     the same chain, PDL, but no kernel waits for the previous one to
//            end: each block polls a flag in L2 instead, either a count of
//            the previous link's blocks (all) or the one block of it that
//            wrote its elements (one: the finer dependency a fused chain
//            could use, a GEMV's row group waiting only for the rows it reads).
//            Safe from deadlock: a kernel launches only once every block of
//            the one before has started (PDL), so whatever a block waits for
//            is resident
//   all      the PDL chain where every block first reads all n floats the
//            link before wrote (from L2) and sums them, and its elements
//            depend on that sum: a GEMV's path after its wait (read x, reduce,
//            store) without the weights
//   all-stats  the same, each block also adding the sum of the elements it
//            wrote into one of 32 slots (float64 atomics, a slot a 128-byte
//            line) and reading the link before's slots after its wait: the
//            folded layernorm's statistics (qb_stats_add and its readers)
//   barrier  one cooperative kernel of LINKS rounds separated by a grid-wide
//            barrier (an atomic count in L2), the persistent step's hand-over
//
// Each checks its work (every element equal to the number of rounds) and exits
// non-zero if it is wrong. Prints one TSV row per setting: microseconds a link,
// median of REPS replays. Without a GPU: one "# skipped" line, exit 0.
#include <string.h>

#define BENCH_NAME "cuda_chain"
#include "cuda_bench.cuh"

enum { LINKS = 240, REPS = 15, THREADS = 128 };

// One link: let the next kernel launch, wait for the previous one's writes,
// then add 1 to this thread's elements of v.
__global__ void __launch_bounds__(THREADS) k_link(float *v, int n) {
    pdl_launch();
    pdl_wait();
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) v[i] += 1.0f;
}

// One link that waits on flags, not on the previous kernel's end: block b
// waits until flag[link - 1] counts every block (one 0) or flag[(link - 1) *
// blocks + b] is set (one 1), adds 1 to its elements (read from L2: the
// previous link wrote them on another SM, after this kernel began) and then
// raises its own.
__global__ void __launch_bounds__(THREADS) k_link_flag(float *v, int n, unsigned *flag, int link, int one) {
    pdl_launch();
    const unsigned b = blockIdx.x, blocks = gridDim.x;
    if (threadIdx.x == 0 && link > 0)
        wait_count(flag + (size_t)(link - 1) * blocks + (one ? b : 0), one ? 1u : blocks);
    __syncthreads();
    for (int i = b * blockDim.x + threadIdx.x; i < n; i += blocks * blockDim.x) v[i] = __ldcg(v + i) + 1.0f;
    __syncthreads();
    if (threadIdx.x == 0) count_in(flag + (size_t)link * blocks + (one ? b : 0));
}

// One link that reads all of in (n floats, written by every block of the link before) and sums it
// across the block, then writes its elements of out as in + 1, made to depend on that sum (which
// is never negative: every element counts links) as a GEMV's rows depend on its reduction. With
// slots (LINKS x 32 of them, SLOT doubles apart, zero at the start): the link before's 32 slots
// join the sum, and this block adds the sum of the elements it wrote into slot link x 32 + b % 32.
enum { SLOTS = 32, SLOT = 16 };
__global__ void __launch_bounds__(THREADS) k_link_all(const float *in, float *out, int n, double *slots, int link) {
    __shared__ float scratch[THREADS / 32];
    pdl_launch();
    pdl_wait();
    float sum = 0.0f;
    if (slots && link > 0 && threadIdx.x < SLOTS)
        sum = (float)__ldcg(slots + ((size_t)(link - 1) * SLOTS + threadIdx.x) * SLOT);
    for (int i = threadIdx.x; i < n; i += blockDim.x) sum += __ldcg(in + i);
    const float one = block_sum(sum, scratch) < 0.0f ? 2.0f : 1.0f;
    float mine = 0.0f;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        out[i] = __ldcg(in + i) + one;
        mine += out[i];
    }
    if (!slots) return;
    __syncthreads(); // (scratch read above by every thread)
    mine = block_sum(mine, scratch);
    if (threadIdx.x == 0) atomicAdd(slots + ((size_t)link * SLOTS + blockIdx.x % SLOTS) * SLOT, (double)mine);
}

// rounds rounds of the same work, each ended by a grid-wide barrier: every
// block counts itself in *count and waits until all have, round after round.
__global__ void __launch_bounds__(THREADS) k_barrier(float *v, int n, unsigned *count, int rounds) {
    for (int r = 0; r < rounds; r++) {
        for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) v[i] += 1.0f;
        __syncthreads();
        if (threadIdx.x == 0) {
            count_in(count);
            wait_count(count, (unsigned)(r + 1) * gridDim.x);
        }
        __syncthreads();
    }
}

// Every element of v (n of them, on the device) equal to want, else exit 1.
static void check(const float *v, int n, float want, const char *what, int blocks) {
    if (n == 0) return;
    float *h = to_host(v, (size_t)n);
    for (int i = 0; i < n; i++)
        if (h[i] != want) {
            fprintf(stderr, "cuda_chain: %s, %d blocks: element %d is %g, not %g\n", what, blocks, i, h[i], want);
            exit(1);
        }
    free(h);
}

// mode 0 or 1: k_link without or with PDL; 2 and 3: k_link_flag (PDL), waiting on every block
// of the link before (2) or on its own (3); flag: LINKS x blocks counters; 4 and 5: k_link_all
// (PDL), from v to v2 and back (LINKS is even), 5 with statistics in slots (LINKS x SLOTS x SLOT).
static void bench_link(cudaStream_t s, float *v, float *v2, int n, int blocks, int mode, unsigned *flag,
                       double *slots) {
    static const char *what[] = {"link", "link", "flag-all", "flag-one", "all", "all-stats"};
    CK(cudaMemset(v, 0, sizeof(float) * (n ? n : 1)));
    cudaLaunchAttribute attr = {};
    attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr.val.programmaticStreamSerializationAllowed = mode > 0;
    const size_t flag_bytes = sizeof(unsigned) * LINKS * (size_t)blocks;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(blocks), cfg.blockDim = dim3(THREADS), cfg.stream = s, cfg.attrs = &attr, cfg.numAttrs = 1;
    cudaGraph_t g;
    cudaGraphExec_t ge;
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    for (int k = 0; k < LINKS; k++) {
        if (mode < 2) CK(cudaLaunchKernelEx(&cfg, k_link, v, n));
        else if (mode < 4) CK(cudaLaunchKernelEx(&cfg, k_link_flag, v, n, flag, k, mode - 2));
        else
            CK(cudaLaunchKernelEx(&cfg, k_link_all, (const float *)(k % 2 ? v2 : v), k % 2 ? v : v2, n,
                                  mode == 5 ? slots : (double *)NULL, k));
    }
    CK(cudaStreamEndCapture(s, &g));
    CK(cudaGraphInstantiate(&ge, g, 0));
    // (one replay unmeasured, REPS measured: the check's LINKS * (REPS + 1))
    void *reset = mode == 2 || mode == 3 ? (void *)flag : mode == 5 ? (void *)slots : NULL;
    const size_t reset_bytes = mode == 5 ? sizeof(double) * LINKS * SLOTS * SLOT : flag_bytes;
    const double us = graph_median_ms(ge, s, REPS, reset, reset_bytes) * 1e3 / LINKS;
    CK(cudaStreamSynchronize(s));
    check(v, n, (float)(LINKS * (REPS + 1)), what[mode], blocks);
    printf("%s\t%d\t%d\t%d\t%d\t%.3f\n", what[mode], blocks, THREADS, n, mode > 0, us);
    CK(cudaGraphExecDestroy(ge));
    CK(cudaGraphDestroy(g));
}

static void bench_barrier(cudaStream_t s, float *v, int n, unsigned *count, int blocks) {
    float ms[REPS];
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    CK(cudaMemset(v, 0, sizeof(float) * (n ? n : 1)));
    int rounds = LINKS;
    void *args[] = {&v, &n, &count, &rounds};
    for (int r = -1; r < REPS; r++) { // (r -1: a warm-up)
        CK(cudaMemsetAsync(count, 0, sizeof *count, s));
        CK(cudaEventRecord(e0, s));
        CK(cudaLaunchCooperativeKernel((void *)k_barrier, dim3(blocks), dim3(THREADS), args, 0, s));
        CK(cudaEventRecord(e1, s));
        CK(cudaEventSynchronize(e1));
        if (r >= 0) CK(cudaEventElapsedTime(&ms[r], e0, e1));
    }
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    qsort(ms, REPS, sizeof ms[0], cmp_float);
    check(v, n, (float)(LINKS * (REPS + 1)), "barrier", blocks);
    printf("barrier\t%d\t%d\t%d\t-\t%.3f\n", blocks, THREADS, n, ms[REPS / 2] * 1e3 / LINKS);
}

int main(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("usage: cuda_chain\n  what one link of a chain of %d dependent kernels (PDL or not; or waiting on flags\n"
               "  instead of the previous kernel's end), or one round of a cooperative kernel's grid\n"
               "  barrier, costs on GPU 0; TSV on standard output\n",
               LINKS);
        return 0;
    }
    cudaDeviceProp prop;
    if (!bench_device(&prop)) return 0;
    int per_sm = 0;
    CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, k_barrier, THREADS, 0));
    printf("# device: %s, %d SMs; %d links a chain, median of %d replays\n", prop.name, prop.multiProcessorCount, LINKS,
           REPS);
    printf("what\tblocks\tthreads\tfloats\tpdl\tus_per_link\n");
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    const int n_max = 6400;
    float *v, *v2;
    double *slots;
    unsigned *count, *flag;
    const int sms = prop.multiProcessorCount;
    const int grids[] = {1, sms, 2 * sms, 4 * sms};
    CK(cudaMalloc(&v, sizeof(float) * n_max));
    CK(cudaMalloc(&v2, sizeof(float) * n_max));
    CK(cudaMalloc(&slots, sizeof(double) * LINKS * SLOTS * SLOT));
    CK(cudaMalloc(&count, sizeof *count));
    CK(cudaMalloc(&flag, sizeof(unsigned) * LINKS * (size_t)grids[3]));
    const int sizes[] = {0, 1600, 6400}; // (nothing, gpt2-xl's x, its MLP activation)
    for (int mode = 0; mode <= 5; mode++)
        for (int gi = 0; gi < 4; gi++)
            for (int si = mode >= 4; si < 3; si++) bench_link(s, v, v2, sizes[si], grids[gi], mode, flag, slots);
    for (int gi = 0; gi < 3; gi++)
        if (grids[gi] <= per_sm * sms)
            for (int si = 0; si < 3; si++) bench_barrier(s, v, sizes[si], count, grids[gi]);
    CK(cudaFree(v));
    CK(cudaFree(v2));
    CK(cudaFree(slots));
    CK(cudaFree(count));
    CK(cudaFree(flag));
    CK(cudaStreamDestroy(s));
    return 0;
}
