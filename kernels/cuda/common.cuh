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
extern "C" const char *qb_type_name(qb_type t); // kernels/quant.h, a C11 header
#include "device.cuh"

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
// A launch of the captured graph that stamps its blocks' times (trace.cu).
struct qb_trace_rec {
    char name[16];
    int type, n_in, n_out; // type -1: not a GEMV
    size_t bytes, blocks, off; // weight bytes; stamps [off, off + 3 blocks) of the buffer
};
// A captured decode attention launch (attention.cu): its node and what its
// grid's height, the chunks of keys it launches, depends on.
#define QB_CUDA_ATTN_NODES 256
// When a kernel lets the next one launch (qb_cuda.attn_trigger, gemv_trigger):
// at its start, once its own wait returns, or only as it ends.
#define QB_TRIG_START 0
#define QB_TRIG_WAIT 1
#define QB_TRIG_END 2
struct qb_attn_node {
    cudaGraphNode_t node;
    int T, D, NT;    // tokens, head size, threads a block
    int S_max, S_now; // the context's chunks; the height the executable graph has now
};
struct qb_cuda {
    int dev;
    cudaStream_t stream;
    cudaDeviceProp prop;
    char driver[64];
    qb_blas blas;        // lib == NULL until the first GEMM
    void *blas_ws;       // cuBLAS workspace (fixed, so graphs may hold GEMMs)
    int *d_pos;          // position slot (QB_CUDA_POS_DEVICE)
    int pos;             // what qb_cuda_set_pos put there last
    int *d_token;        // token slot
    int *d_run;          // 1 while the greedy decode runs ahead (qb_cuda_ahead_begin): the argmax advances d_pos
    int *h_ahead;        // those steps' tokens: a ring of QB_CUDA_AHEAD_RING ints in mapped pinned host memory
    int *d_ahead;        // the ring as the device addresses it
    cudaEvent_t ahead_ev[QB_CUDA_AHEAD_RING]; // each ring slot's step done (created with h_ahead)
    // Experiments (timing only): device memory held from the open (QB_CUDA_PAD_OPEN) or from the first
    // decode step's own buffers (QB_CUDA_PAD_STEP) to the close, so that what is allocated after it lies
    // elsewhere; 0 bytes: none.
    void *pad_open, *pad_step;
    size_t pad_step_bytes;
    void *scratch;       // grows on demand outside graph capture
    size_t scratch_bytes;
    int capturing;
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    size_t peak_used;
    int pdl;             // launch with programmatic dependent launch
    unsigned *counters;  // zeroed; kernels that finish in their last block count here
    float *sk_part;      // the split GEMV's sums (gemv_args.sk_part): QB_CUDA_SPLIT_SUMS floats
    unsigned *sk_ctr;    // and its counts, zeroed: QB_CUDA_SPLIT_GROUPS
    float *ln_buf;       // layernorm rows for the matmuls with a layernorm in front
    int ln_fuse;         // 1: the GEMV normalises x itself; 0: a layernorm kernel first
    int gemv_r_forced;   // QB_CUDA_GEMV_R, else 0 (tuned)
    int gemv_mma;        // QB_CUDA_GEMV_MMA (default 1): the tuners may take the tensor-core GEMV (R -8, -16) where the type has it
    int gemv_split;      // QB_CUDA_GEMV_SPLIT=1: and that one with a row split over blocks (R -(rows + 32 S))
    int gemv_wide;       // QB_CUDA_GEMV_WIDE (default 1; 2: every matrix): and that one with 8 warps a block (R -(rows + 512))
    int graph_tune;      // QB_CUDA_GRAPH_TUNE: qb_cuda_graph_tune times the rows per block in the graph (2: says so)
    int gemv_deep;       // QB_CUDA_GEMV_DEEP: steps a warp from which the chain's GEMV loads deeper (0: never)
    struct {
        int n_out, n_in, R;
    } r_shape[8];        // QB_CUDA_GEMV_RS: rows per block for these shapes (any type)
    int n_r_shape;
    int prefetch_depth;  // QB_CUDA_PREFETCH: GEMVs ahead whose weights go to L2 (0: none)
    const void *pf_ptr;  // qb_cuda_prefetch_next: what the next GEMV prefetches
    size_t pf_bytes;
    struct {
        int type, n_in, n_out, R;
    } tuned[QB_CUDA_TUNED];
    int n_tuned;
    size_t ln_bytes;
    int attn_whole;      // QB_CUDA_ATTN_WHOLE (default 1): short contexts' decode attention one block a head
    int att_threads;      // QB_CUDA_ATT_THREADS: the decode attention's block size (512; 128 or 256)
    int attn_grid;        // QB_CUDA_ATTN_GRID (default 1): replays trim the attention's grid to the position (qb_cuda_attn_grids)
    int attn_trigger;     // QB_CUDA_ATTN_TRIGGER: when the decode attention lets the next kernel launch (QB_TRIG_*)
    int gemv_trigger;     // QB_CUDA_GEMV_TRIGGER: 0 at start, 1 every GEMV after its wait, 2 proj's (the one after the attention) only
    int after_attn;       // an attention was launched last: the next GEMV reads its output
    qb_attn_node attn_nodes[QB_CUDA_ATTN_NODES]; // the graph captured last's attention launches
    int n_attn_nodes;
    // QB_CUDA_TRACE (trace.cu): the captured graph's GEMV and attention launches
    // stamp their blocks' times in `trace`; written to trace_path at close.
    const char *trace_path;
    unsigned long long *trace;
    size_t trace_cap, trace_used; // stamps
    qb_trace_rec *trace_rec;
    int trace_n, trace_rec_cap;
    const char *trace_name;      // qb_cuda_trace_name: the next traced launch's name
    // Layernorm statistics carried with the residual (qb_cuda_ln_stats_begin):
    // sets of QB_STATS_SLOTS float64 pairs; each decode GEMV that accumulates
    // into the residual fills the next set, and a layernorm of that same
    // vector reads it instead of running a kernel of its own.
    int stats_on;                // QB_CUDA_LN_STATS=1 (an experiment, off by default)
    int ln_last;                 // QB_CUDA_LN_LAST=1: the producer's last block makes the next layernorm
    double *ln_stats;
    unsigned *ln_ctrs;           // a last-block count per set
    int ln_stats_sets, ln_stats_used;
    const float *stats_x;        // the vector the last filled set describes (NULL: none)
    double *st_out_next;         // for the next GEMV launch (taken by it)
    const double *st_in_next;
    struct {
        const float *g, *b;
        float eps;
    } lo_hint;                   // qb_cuda_ln_after: the layernorm after the next accumulation
    struct {
        float *out;
        const float *g, *b;
        float eps;
        unsigned *ctr;
    } lo_next;                   // for the next GEMV launch (taken by it)
    const float *ln_done_x, *ln_done_g; // ln_buf holds layernorm(ln_done_x) with this gain
    // QB_CUDA_LN_FOLD=1: the layernorm after a residual add folded into the
    // product that reads it (qb_fold_smem in gemv.cuh): the producer writes its
    // rows times the gain into ln_buf (ln_done_fold: ln_buf holds that, not
    // the layernorm), the consumer reads them with the vectors W g and
    // W b + bias of its matrix, made once per (matrix, gain, bias) at first use.
    int ln_fold;
    int ln_done_fold;
    struct {
        float *out;
        const float *g;
    } yg_next;                   // for the next GEMV launch (taken by it)
    struct {
        const float *wg;
        const double *st;
    } fold_next;                 // for the next GEMV launch (taken by it)
    struct qb_fold_vecs {
        const void *w;
        const float *g, *b, *bias;
        float *wg, *wb; // W g; W b + bias
    } *folds;
    int n_folds, folds_cap;
};

// y = W x + bias with none of the context's hints for the next launch (they
// stay for it): the folded layernorm's vectors, made between a producer and
// its consumer.
void qb_cuda_gemv_bare(qb_cuda *c, float *y, const float *x, const qb_weight *w, const float *bias);

// The stamps of a launch of `blocks` blocks under capture, recorded as the
// next trace row (name from qb_cuda_trace_name, else `kind`); NULL when not
// tracing, not capturing or out of room.
unsigned long long *qb_cuda_trace_slot(qb_cuda *c, const char *kind, int type, int n_in, int n_out, size_t bytes,
                                       size_t blocks);
// The launch of slot tr has `blocks` blocks (at most those asked for), not
// those of its slot: where its product stamps begin (device.cuh).
void qb_cuda_trace_blocks(qb_cuda *c, const unsigned long long *tr, size_t blocks);
void qb_cuda_trace_open(qb_cuda *c);
void qb_cuda_trace_reset(qb_cuda *c);  // before each graph launch: clears the stamps
void qb_cuda_trace_close(qb_cuda *c);  // writes the last replay's rows and frees
// A trace file (this one's or the persistent step's) opened to append rows,
// its header written first when it is empty; what names the trace in errors.
FILE *qb_trace_append(const char *path, const char *header, const char *what);
int qb_cmp_u64(const void *a, const void *b); // qsort order of stamps

qb_blas *qb_cuda_blas(qb_cuda *c); // loads cuBLAS on first use; dies if it cannot
// Sets the captured attention launches' grids (attn_nodes) in the executable
// graph to the chunks of keys position pos needs.
void qb_cuda_attn_grids(qb_cuda *c, int pos);
void *qb_cuda_scratch(qb_cuda *c, size_t bytes);

static inline unsigned qb_blocks(size_t n, unsigned per) { return (unsigned)((n + per - 1) / per); }

// ---- launches ---------------------------------------------------------------------------
// Every kernel starts with qb_grid_wait() before it touches what an earlier
// kernel wrote, and may do independent work (loading weights) before it.
// Launched with programmatic dependent launch (the default; QB_CUDA_PDL=0 turns
// it off), a kernel's blocks start as soon as the previous kernel lets them
// (qb_grid_launch_dependents) and wait there, hiding launch gaps; launched
// without, the two instructions do nothing.
// (qb_grid_wait and qb_grid_launch_dependents: device.cuh.)

int qb_cuda_pdl(qb_cuda *c);
#define QB_CUDA_COUNTERS 8192
// The split tensor-core GEMV's workspace (gemv.cu): row groups of a matrix,
// and sums (row groups x blocks a row x rows a group) it may take.
#define QB_CUDA_SPLIT_GROUPS 4096
#define QB_CUDA_SPLIT_SUMS (1 << 18)

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
