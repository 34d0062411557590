// common.cuh: what the CUDA backend's .cu files share: the context, the
// checked-call macros, cuBLAS reached through dlopen, the weight planes'
// geometry and the block types' device decoding.
#pragma once
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

// util.h is C11; its _Noreturn is C++'s [[noreturn]].
#define _Noreturn [[noreturn]]
extern "C" {
#include "util.h"
}
#undef _Noreturn
#include "cuda_backend.h"

// ---- checked calls -------------------------------------------------------------------
#define CK(call)                                                                                    \
    do {                                                                                            \
        cudaError_t e_ = (call);                                                                    \
        if (e_ != cudaSuccess)                                                                      \
            qb_die(QB_EXIT_DATA, "cuda: %s failed at %s:%d: %s", #call, __FILE__, __LINE__,         \
                   cudaGetErrorString(e_));                                                         \
    } while (0)
// After every launch: a bad configuration shows here, a fault at the next sync.
#define CK_LAUNCH() CK(cudaGetLastError())
#define CKB(c, call)                                                                                \
    do {                                                                                            \
        cublasStatus_t s_ = (call);                                                                 \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                            \
            qb_die(QB_EXIT_DATA, "cuda: cuBLAS %s failed at %s:%d: status %d on %s", #call,          \
                   __FILE__, __LINE__, (int)s_, (c)->prop.name);                                    \
    } while (0)

// ---- cuBLAS through dlopen: the tools link only the static CUDA runtime, so a
// CPU run neither loads nor pays for cuBLAS (150 MB of resident pages and 0.2 s
// at start when linked directly).
struct qb_blas {
    void *lib;
    cublasHandle_t h;
    decltype(&cublasCreate_v2) create;
    decltype(&cublasDestroy_v2) destroy;
    decltype(&cublasSetStream_v2) set_stream;
    decltype(&cublasSetWorkspace_v2) set_workspace;
    decltype(&cublasSetMathMode) set_math_mode;
    // The C entry points (the header also declares C++ overloads).
    cublasStatus_t (*gemm)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void *,
                           const void *, cudaDataType, int, const void *, cudaDataType, int, const void *, void *,
                           cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);
    cublasStatus_t (*gemm_batched)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void *,
                                   const void *, cudaDataType, int, long long, const void *, cudaDataType, int,
                                   long long, const void *, void *, cudaDataType, int, long long, int,
                                   cublasComputeType_t, cublasGemmAlgo_t);
};

#define QB_CUDA_TUNED 64
struct qb_cuda {
    int dev;
    cudaStream_t stream;
    cudaDeviceProp prop;
    char driver[64];
    qb_blas blas;        // lib == NULL until the first GEMM
    void *blas_ws;       // cuBLAS workspace (fixed, so graphs may hold GEMMs)
    int *d_pos;          // position slot (QB_CUDA_POS_DEVICE)
    int *d_token;        // token slot
    void *scratch;       // grows on demand outside graph capture
    size_t scratch_bytes;
    int capturing;
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    size_t peak_used;
    int pdl;             // launch with programmatic dependent launch
    unsigned *counters;  // zeroed; kernels that finish in their last block count here
    float *ln_buf;       // layernorm rows for the matmuls with a layernorm in front
    int ln_fuse;         // 1: the GEMV normalises x itself; 0: a layernorm kernel first
    int gemv_r_forced;   // QB_CUDA_GEMV_R, else 0 (tuned)
    struct {
        int type, n_in, n_out, R;
    } tuned[QB_CUDA_TUNED];
    int n_tuned;
    size_t ln_bytes;
};

qb_blas *qb_cuda_blas(qb_cuda *c); // loads cuBLAS on first use; dies if it cannot
void *qb_cuda_scratch(qb_cuda *c, size_t bytes);

static inline unsigned qb_blocks(size_t n, unsigned per) { return (unsigned)((n + per - 1) / per); }

// A position argument: given, or read from the device slot.
__device__ __forceinline__ int qb_pos(int pos0, const int *d_pos) { return pos0 >= 0 ? pos0 : *d_pos; }

// ---- block types: geometry of the device planes --------------------------------------
// A block type's device copy is two planes: "quants" (every row's packed
// quant bits, qrow bytes per row) then "scales" (every row's per-block scale
// data, srow bytes per row), both 16-byte aligned per row. Values and bits are
// ggml's, only their order in memory differs: each 16-byte load of a warp
// lane then covers whole runs of weights, and lanes read consecutive bytes.
//   Q8_0   block 32:  quants 32 B (int8)            scales: d (f16)
//   Q4_0   block 32:  quants 16 B (nibbles)         scales: d (f16)
//   Q4_1   block 32:  quants 16 B                   scales: d, m (f16 x 2)
//   IQ4_NL block 32:  quants 16 B (codebook index)  scales: d (f16)
//   Q4_K   block 256: quants 128 B                  scales: d, dmin (f16), scales[12]  = 16 B
//   Q6_K   block 256: quants ql 128 B + qh 64 B     scales: scales[16] (int8), d (f16) = 18 B
struct qb_planes {
    int block;        // weights per block
    size_t qblk;      // quant bytes per block (device)
    size_t sblk;      // scale bytes per block (device)
    size_t ggml_blk;  // bytes per block in the ggml (file) layout
    size_t qrow, srow;   // bytes per row of each plane (16-byte aligned)
    size_t scales_off;   // where the scale plane starts
    size_t total;
};
int qb_planes_of(qb_type t, int n_in, int n_out, qb_planes *p); // 0 when t is no block type
static inline bool qb_is_block_type(qb_type t) {
    return t == QB_TYPE_Q8_0 || t == QB_TYPE_Q4_0 || t == QB_TYPE_Q4_1 || t == QB_TYPE_IQ4_NL ||
           t == QB_TYPE_Q4_K || t == QB_TYPE_Q6_K;
}

// IQ4_NL's codebook (ggml kvalues_iq4nl).
__device__ __constant__ static const int8_t qb_iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                                                    1,    13,   25,  38,  53,  69,  89,  113};

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

// y = layernorm(x) g + b over n <= MAXV * blockDim.x values, by one block
// (the same two passes as the CPU reference: mean, then the variance of the
// centred values, in float32). x is read once, all of a thread's loads in
// flight together, and kept in registers: on one decode vector this latency
// is the cost, and a loop of dependent rounds through L2 tripled it.
template <int MAXV>
__device__ __forceinline__ void qb_layernorm_regs(float *y, const float *x, const float *g, const float *b, int n,
                                                  float eps, float *red) {
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

// ---- launches ---------------------------------------------------------------------------
// Every kernel starts with qb_grid_wait() before it touches what an earlier
// kernel wrote, and may do independent work (loading weights) before it.
// Launched with programmatic dependent launch (the default; QB_CUDA_PDL=0 turns
// it off), a kernel's blocks start as soon as the previous kernel lets them
// (qb_grid_launch_dependents) and wait there, hiding launch gaps; launched
// without, the two instructions do nothing.
__device__ __forceinline__ void qb_grid_wait() { asm volatile("griddepcontrol.wait;" ::: "memory"); }
__device__ __forceinline__ void qb_grid_launch_dependents() { asm volatile("griddepcontrol.launch_dependents;"); }

int qb_cuda_pdl(qb_cuda *c);
#define QB_CUDA_COUNTERS 8192
// The longest vector a GEMV block normalises itself (16 values a thread).
#define QB_LN_FUSE_MAX 2048

template <typename... KArgs, typename... Args>
static void qb_launch(qb_cuda *c, void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, Args... args) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = c->stream;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = qb_cuda_pdl(c);
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    CK(cudaLaunchKernelEx(&cfg, kernel, ((KArgs)args)...));
}
