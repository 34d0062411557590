// context.cu: the device, its stream, memory, cuBLAS (loaded on demand),
// the position/token slots, CUDA graphs and events.
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "common.cuh"

int qb_env_pick(const char *name, const char *a, const char *b, const char *c) {
    const char *v = getenv(name);
    if (!v || !strcmp(v, a)) return 0;
    if (!strcmp(v, b)) return 1;
    if (c && !strcmp(v, c)) return 2;
    if (!c) qb_die(QB_EXIT_USAGE, "%s=%s: %s (the default) or %s", name, v, a, b);
    qb_die(QB_EXIT_USAGE, "%s=%s: %s (the default), %s or %s", name, v, a, b, c);
}

int qb_env_int(const char *name, int def, int lo, int hi) {
    const char *v = getenv(name);
    return v ? (int)qb_parse_long(name, v, lo, hi) : def;
}

qb_cuda *qb_cuda_open(int dev, char *err, size_t errlen) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        snprintf(err, errlen, "no usable CUDA device: %s", cudaGetErrorString(e));
        cudaGetLastError();
        return NULL;
    }
    if (n == 0 || dev < 0 || dev >= n) {
        snprintf(err, errlen, "no CUDA device %d (%d found)", dev, n);
        return NULL;
    }
    qb_cuda *c = (qb_cuda *)qb_calloc(1, sizeof *c);
    c->dev = dev;
    CK(cudaSetDevice(dev));
    CK(cudaGetDeviceProperties(&c->prop, dev));
    if (c->prop.major < 7) {
        snprintf(err, errlen, "CUDA device %d (%s) has compute capability %d.%d; qbench needs 7.0 or newer", dev,
                 c->prop.name, c->prop.major, c->prop.minor);
        free(c);
        return NULL;
    }
    // Where the step's buffers lie may move decode by several per cent: two builds whose decode step was
    // the same, one with a larger prompt-pass scratch allocated before the first step's buffers, decoded
    // 2-11 % apart in one call (data/results/h100/prefill-onegemm-72c065e). These pads move them on
    // purpose, the same binary otherwise, to measure that apart from the code's layout.
    const size_t pad_open = (size_t)qb_env_int("QB_CUDA_PAD_OPEN", 0, 0, 1 << 30);
    c->pad_step_bytes = (size_t)qb_env_int("QB_CUDA_PAD_STEP", 0, 0, 1 << 30);
    if (pad_open) c->pad_open = qb_cuda_alloc(c, pad_open);
    if (pad_open || c->pad_step_bytes)
        fprintf(stderr, "cuda: QB_CUDA_PAD_OPEN=%zu, QB_CUDA_PAD_STEP=%zu: bytes held before the buffers "
                        "(an experiment: timing only)\n", pad_open, c->pad_step_bytes);
    int drv = 0;
    CK(cudaDriverGetVersion(&drv));
    snprintf(c->driver, sizeof c->driver, "CUDA %d.%d", drv / 1000, (drv % 1000) / 10);
    CK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    // Position, token and run-ahead flag side by side: the decode argmax takes them as one array.
    CK(cudaMalloc(&c->d_pos, 3 * sizeof(int)));
    c->d_token = c->d_pos + 1, c->d_run = c->d_pos + 2;
    CK(cudaMemset(c->d_pos, 0, 3 * sizeof(int)));
    CK(cudaHostAlloc((void **)&c->h_ahead, QB_CUDA_AHEAD_RING * sizeof(int), cudaHostAllocMapped));
    CK(cudaHostGetDevicePointer((void **)&c->d_ahead, c->h_ahead, 0));
    for (int i = 0; i < QB_CUDA_AHEAD_RING; i++) CK(cudaEventCreateWithFlags(&c->ahead_ev[i], cudaEventDisableTiming));
    CK(cudaMalloc(&c->counters, QB_CUDA_COUNTERS * sizeof(unsigned)));
    CK(cudaMemset(c->counters, 0, QB_CUDA_COUNTERS * sizeof(unsigned)));
    CK(cudaMalloc(&c->sk_part, QB_CUDA_SPLIT_SUMS * sizeof(float)));
    CK(cudaMalloc(&c->sk_ctr, QB_CUDA_SPLIT_GROUPS * sizeof(unsigned)));
    CK(cudaMemset(c->sk_ctr, 0, QB_CUDA_SPLIT_GROUPS * sizeof(unsigned)));
    // The knobs below take the values named (a misspelt one stops the tool with a usage error rather
    // than silently measuring the default); the first of qb_env_pick's is the default.
    static const int one_zero_two[] = {1, 0, 2}, threads_of[] = {512, 128, 256};
    c->pdl = qb_env_pick("QB_CUDA_PDL", "1", "0", NULL) == 0 && c->prop.major >= 9;
    c->gemv_r_forced = qb_env_int("QB_CUDA_GEMV_R", 0, INT_MIN, INT_MAX); // 0: the tuners choose
    if (c->gemv_r_forced && !qb_gemv_rows_ok(c->gemv_r_forced))
        qb_die(QB_EXIT_USAGE, "QB_CUDA_GEMV_R=%d: 0 (the default: tuned) or R %s", c->gemv_r_forced, QB_GEMV_R_CHOICES);
    // QB_CUDA_GEMV_RS=OUTxIN:R,...: rows per block for matrices of these shapes (an experiment).
    const char *rs = getenv("QB_CUDA_GEMV_RS");
    for (const char *p = rs; p && *p && c->n_r_shape < 8;) {
        int o = 0, i = 0, R = 0, used = 0;
        if (sscanf(p, "%dx%d:%d%n", &o, &i, &R, &used) != 3 || !qb_gemv_rows_ok(R))
            qb_die(QB_EXIT_USAGE,
                   "QB_CUDA_GEMV_RS=%s: expected OUTxIN:R items separated by commas (R %s)", rs, QB_GEMV_R_CHOICES);
        c->r_shape[c->n_r_shape].n_out = o, c->r_shape[c->n_r_shape].n_in = i, c->r_shape[c->n_r_shape++].R = R;
        p += used + (p[used] == ',');
    }
    // F16 and BF16 rows of at least 4 steps a warp (gpt2-medium..xl's mproj) load deeper ahead
    // (gemv.cuh, qb_gemv_unroll): xl f16 +2.9 %, bf16 +3.9 % (data/results/h100/ab-gemv-deep-72266a8);
    // 0 turns it off.
    c->gemv_deep = qb_env_int("QB_CUDA_GEMV_DEEP", 4, 0, INT_MAX);
    // On by default: the rows per block timed in the decode graph (qb_cuda_graph_tune), gpt2 +2.6 % (f16)
    // and +4.1 % (q4_0) over the standalone choices, xl unchanged (data/results/h100/ab-gemv-deep-72266a8,
    // call 7); QB_CUDA_GRAPH_TUNE=0 keeps the standalone ones, =2 also reports each shape's choice.
    c->graph_tune = one_zero_two[qb_env_pick("QB_CUDA_GRAPH_TUNE", "1", "0", "2")];
    // On by default: the tensor-core GEMV of Q4_0, Q4_1, Q8_0, IQ4_NL and Q4_K (gemv_mma.cuh) among
    // the tuners' choices: gpt2-xl q4_0 +17 %, iq4_nl +11 %, gpt2-large q4_k +37 %, q8_0 unchanged
    // (data/results/h100/first-run-bbb0b08); QB_CUDA_GEMV_MMA=0 leaves the CUDA cores' only.
    c->gemv_mma = qb_env_pick("QB_CUDA_GEMV_MMA", "1", "0", NULL) == 0;
    // Off by default: the tensor-core GEMV with each row split over 2, 4 or 8 blocks among the tuners'
    // choices where a matrix has too few rows to fill the GPU (gemv_mma.cuh). Alone it ran gpt2-xl's
    // 1600 x 6400 q4_0 1.9x faster on the tensor cores, yet still behind the CUDA cores, and decode
    // did not move: xl q4_0 -0.6 %, iq4_nl +0.7 %, q4_k -1.0 %, within the rounds' spread
    // (data/results/h100/split-run-d625b9d); QB_CUDA_GEMV_SPLIT=1 puts it in.
    c->gemv_split = qb_env_pick("QB_CUDA_GEMV_SPLIT", "0", "1", NULL);
    // On by default: the tensor-core GEMV with 8 warps a block among the tuners' choices where a matrix
    // makes under two blocks an SM (gemv_mma.cuh): gpt2-xl q4_k +9.1 %, gpt2-large q4_k +5.1 %,
    // gpt2-medium q4_k -2.2 %, the other types within 1.5 % (data/results/h100/wide-run-b3a8d43,
    // choice-db671d6); QB_CUDA_GEMV_WIDE=0 leaves it out. =2 offers it on every matrix: decode -0.5 to
    // +4.1 % against the default over 8 (model, type) pairs, within the rounds' spread (w16-run-847b4f9).
    c->gemv_wide = one_zero_two[qb_env_pick("QB_CUDA_GEMV_WIDE", "1", "0", "2")];
    c->prefetch_depth = qb_env_pick("QB_CUDA_PREFETCH", "0", "1", "2");
    c->ln_fuse = qb_env_pick("QB_CUDA_LN_FUSE", "0", "1", NULL);
    c->attn_whole = qb_env_pick("QB_CUDA_ATTN_WHOLE", "1", "0", NULL) == 0;
    // 512 measured best for short contexts' whole heads: xl f16 +4 % over 128 (gtrace-c3e66a1).
    c->att_threads = threads_of[qb_env_pick("QB_CUDA_ATT_THREADS", "512", "128", "256")];
    // On by default: the replayed attention launches only the position's chunks (attention.cu):
    // gpt2 f16 +0.9 %, gpt2-medium +1.7 % (three rounds each), gpt2-xl unchanged
    // (data/results/h100/first-run-bbb0b08); QB_CUDA_ATTN_GRID=0 launches the context's.
    c->attn_grid = qb_env_pick("QB_CUDA_ATTN_GRID", "1", "0", NULL) == 0;
    // Experiments, off by default: when a kernel lets the next one launch (programmatic dependent
    // launch). At start (default) the next kernel's blocks load their first weights while this one
    // runs. QB_CUDA_ATTN_TRIGGER=wait: the attention only once its input is ready, =end: when it ends;
    // QB_CUDA_GEMV_TRIGGER=wait: every GEMV after its wait, =proj: the one after the attention only.
    // On the H100 (prompt 16, 128 new; data/results/h100/trigger-b1421ed) none wins on gpt2-xl f16:
    // ATTN wait -0.7 % (gpt2 +2.5 %), end -7.1 %; GEMV proj -3.9 % (fc's early loads slow the
    // attention by ~0.3 us, but moved later they slow proj more), wait -1.0 %. ATTN wait again,
    // three weight types (ab-attn-pf-12d59e0): xl f16 -0.9 %, q8_0 +0.2 %, q4_0 -1.1 %; gpt2 +0-3 %.
    c->attn_trigger = qb_env_pick("QB_CUDA_ATTN_TRIGGER", "start", "wait", "end");
    c->gemv_trigger = qb_env_pick("QB_CUDA_GEMV_TRIGGER", "start", "wait", "proj");
    qb_cuda_trace_open(c);
    // Off by default: on the H100 it cost gpt2-xl f16 4 % (data/results/h100/ab-ln-stats-9ba6193).
    c->stats_on = qb_env_pick("QB_CUDA_LN_STATS", "0", "1", NULL);
    // On by default, under the fold below: xl f16 +2.7 %, q4_0 +3.6 %, gpt2 within the spread over the
    // kernel, side by side on the H100 (data/results/h100/ab-ln-last-06f7c04); QB_CUDA_LN_LAST=0 restores it.
    c->ln_last = qb_env_pick("QB_CUDA_LN_LAST", "1", "0", NULL) == 0;
    // On by default: the layernorm folded into the product that reads it (gemv.cuh, qb_fold_smem), xl +3.2 %
    // (f16) and +8.8 % (q4_0), gpt2 +8.7 % and +6.0 % over LN_LAST (data/results/h100/ab-ln-fold-c7bcb47);
    // QB_CUDA_LN_FOLD=0 goes back to the last block's layernorm (QB_CUDA_LN_LAST).
    c->ln_fold = qb_env_pick("QB_CUDA_LN_FOLD", "1", "0", NULL) == 0;
    qb_cuda_mem_sample(c);
    return c;
}

void qb_cuda_close(qb_cuda *c) {
    if (!c) return;
    CK(cudaStreamSynchronize(c->stream));
    qb_cuda_trace_close(c);
    if (c->exec) CK(cudaGraphExecDestroy(c->exec));
    if (c->graph) CK(cudaGraphDestroy(c->graph));
    if (c->blas.lib) {
        CKB(c, c->blas.destroy(c->blas.h));
        CK(cudaFree(c->blas_ws));
        // The library stays loaded: cuBLAS registers exit handlers.
    }
    CK(cudaFree(c->ln_stats));
    CK(cudaFree(c->ln_ctrs));
    for (int i = 0; i < c->n_folds; i++) {
        CK(cudaFree(c->folds[i].wg));
        CK(cudaFree(c->folds[i].wb));
    }
    free(c->folds);
    CK(cudaFree(c->scratch));
    CK(cudaFree(c->ln_buf));
    CK(cudaFree(c->d_pos));
    CK(cudaFreeHost(c->h_ahead));
    for (int i = 0; i < QB_CUDA_AHEAD_RING; i++) CK(cudaEventDestroy(c->ahead_ev[i]));
    CK(cudaFree(c->counters));
    CK(cudaFree(c->sk_part));
    CK(cudaFree(c->sk_ctr));
    qb_cuda_free(c, c->pad_open);
    qb_cuda_free(c, c->pad_step);
    CK(cudaStreamDestroy(c->stream));
    free(c);
}

const char *qb_cuda_device_name(const qb_cuda *c) { return c->prop.name; }
const char *qb_cuda_driver(const qb_cuda *c) { return c->driver; }
int qb_cuda_sm_count(const qb_cuda *c) { return c->prop.multiProcessorCount; }
int qb_cuda_pdl(qb_cuda *c) { return c->pdl; }
int qb_cuda_prefetch_depth(const qb_cuda *c) { return c->prefetch_depth; }

// The first bytes of w's device planes a prefetch may send, at most cap, a
// multiple of 16 (the bulk prefetch's rule); 0 for no weight or a type without planes.
static size_t prefetch_bytes(const qb_weight *w, size_t cap) {
    qb_planes p;
    if (!w || !qb_planes_of(w->type, w->n_in, w->n_out, &p)) return 0;
    return (p.total < cap ? p.total : cap) & ~(size_t)15;
}
void qb_cuda_prefetch_next(qb_cuda *c, const qb_weight *w) {
    // At most half the L2: the matrix being read streams through the other half.
    c->pf_bytes = c->prefetch_depth ? prefetch_bytes(w, (size_t)c->prop.l2CacheSize / 2) : 0;
    c->pf_ptr = c->pf_bytes ? w->data : NULL;
}
void qb_cuda_set_pdl(qb_cuda *c, int on) { c->pdl = on && c->prop.major >= 9; }
void qb_cuda_set_ln_fuse(qb_cuda *c, int on) { c->ln_fuse = on; }
int qb_cuda_ln_fuse(const qb_cuda *c) { return c->ln_fuse; }

size_t qb_cuda_mem_used(qb_cuda *c) {
    (void)c;
    size_t free_b = 0, total = 0;
    CK(cudaMemGetInfo(&free_b, &total));
    return total - free_b;
}

size_t qb_cuda_mem_sample(qb_cuda *c) {
    size_t u = qb_cuda_mem_used(c);
    if (u > c->peak_used) c->peak_used = u;
    return c->peak_used;
}

// ---- memory ----------------------------------------------------------------------------

void *qb_cuda_alloc(qb_cuda *c, size_t bytes) {
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess)
        qb_die(QB_EXIT_DATA, "cuda: cannot allocate %.1f MiB on %s: %s", bytes / 1048576.0, c->prop.name,
               cudaGetErrorString(e));
    return p;
}

void qb_cuda_free(qb_cuda *c, void *p) {
    (void)c;
    if (p) CK(cudaFree(p));
}

void qb_cuda_to_device(qb_cuda *c, void *dst, const void *src, size_t bytes) {
    if (bytes) CK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream));
}

void qb_cuda_to_host(qb_cuda *c, void *dst, const void *src, size_t bytes) {
    if (bytes) CK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream));
    CK(cudaStreamSynchronize(c->stream));
}

void qb_cuda_memset(qb_cuda *c, void *dst, int byte, size_t bytes) {
    if (bytes) CK(cudaMemsetAsync(dst, byte, bytes, c->stream));
}

void qb_cuda_copy(qb_cuda *c, void *dst, const void *src, size_t bytes) {
    if (bytes) CK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, c->stream));
}

void qb_cuda_sync(qb_cuda *c) { CK(cudaStreamSynchronize(c->stream)); }

// Scratch for GEMM tiles and attention scores: grown (never during capture,
// where a graph could hold the old buffer) and reused.
void *qb_cuda_scratch(qb_cuda *c, size_t bytes) {
    if (bytes <= c->scratch_bytes) return c->scratch;
    if (c->capturing) qb_die(QB_EXIT_DATA, "cuda: scratch must grow while a graph is captured (internal error)");
    CK(cudaStreamSynchronize(c->stream));
    // A captured graph may hold the old buffer: drop it (the caller captures again).
    if (c->exec) CK(cudaGraphExecDestroy(c->exec));
    if (c->graph) CK(cudaGraphDestroy(c->graph));
    c->exec = NULL, c->graph = NULL;
    CK(cudaFree(c->scratch));
    c->scratch = qb_cuda_alloc(c, bytes);
    c->scratch_bytes = bytes;
    qb_cuda_mem_sample(c);
    return c->scratch;
}

// ---- positions and tokens on the device ---------------------------------------------------

void qb_cuda_set_pos(qb_cuda *c, int pos) {
    // From pageable memory: the value is staged before the call returns.
    CK(cudaMemcpyAsync(c->d_pos, &pos, sizeof pos, cudaMemcpyHostToDevice, c->stream));
    c->pos = pos;
}

int *qb_cuda_token_slot(qb_cuda *c) { return c->d_token; }

// ---- cuBLAS ----------------------------------------------------------------------------------

#define STR_(x) #x
#define STR(x) STR_(x)

qb_blas *qb_cuda_blas(qb_cuda *c) {
    qb_blas *b = &c->blas;
    if (b->lib) return b;
    if (c->capturing) qb_die(QB_EXIT_DATA, "cuda: cuBLAS first used inside graph capture (internal error)");
    const char *names[] = {"libcublas.so." STR(CUBLAS_VER_MAJOR), "libcublas.so"};
    void *lib = NULL;
    for (size_t i = 0; i < 2 && !lib; i++) lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib) qb_die(QB_EXIT_DATA, "cuda: cannot load cuBLAS (%s): %s", names[0], dlerror());
#define SYM(field, name)                                                                         \
    do {                                                                                         \
        *(void **)&b->field = dlsym(lib, name);                                                  \
        if (!b->field) qb_die(QB_EXIT_DATA, "cuda: cuBLAS lacks %s (%s)", name, names[0]);       \
    } while (0)
    SYM(create, "cublasCreate_v2");
    SYM(destroy, "cublasDestroy_v2");
    SYM(set_stream, "cublasSetStream_v2");
    SYM(set_workspace, "cublasSetWorkspace_v2");
    SYM(set_math_mode, "cublasSetMathMode");
    SYM(gemm, "cublasGemmEx");
    SYM(gemm_batched, "cublasGemmStridedBatchedEx");
#undef SYM
    CKB(c, b->create(&b->h));
    CKB(c, b->set_stream(b->h, c->stream));
    // A fixed workspace (cuBLAS would otherwise allocate during graph capture).
    const size_t ws = 32u << 20;
    c->blas_ws = qb_cuda_alloc(c, ws);
    CKB(c, b->set_workspace(b->h, c->blas_ws, ws));
    // Plain float32 for SGEMM (no TF32): the F32 weight type is the accuracy reference.
    CKB(c, b->set_math_mode(b->h, CUBLAS_DEFAULT_MATH));
    b->lib = lib;
    qb_cuda_mem_sample(c);
    return b;
}

// ---- graphs --------------------------------------------------------------------------------------

void qb_cuda_graph_begin(qb_cuda *c) {
    if (c->capturing) qb_die(QB_EXIT_DATA, "cuda: graph capture already under way");
    CK(cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal));
    c->capturing = 1;
    c->trace_n = 0, c->trace_used = 0; // the trace follows the graph captured last
    c->n_attn_nodes = 0;
}

void qb_cuda_graph_end(qb_cuda *c) {
    cudaGraph_t g;
    CK(cudaStreamEndCapture(c->stream, &g));
    c->capturing = 0;
    if (c->exec) CK(cudaGraphExecDestroy(c->exec));
    if (c->graph) CK(cudaGraphDestroy(c->graph));
    c->graph = g;
    CK(cudaGraphInstantiate(&c->exec, g, 0));
    CK(cudaGraphUpload(c->exec, c->stream));
}

void qb_cuda_graph_launch(qb_cuda *c) {
    if (!c->exec) qb_die(QB_EXIT_DATA, "cuda: no graph captured");
    qb_cuda_trace_reset(c);
    qb_cuda_attn_grids(c, c->pos);
    CK(cudaGraphLaunch(c->exec, c->stream));
}

int qb_cuda_graph_ready(const qb_cuda *c) { return c->exec != NULL; }

// ---- the greedy decode run ahead of the host -----------------------------------------------------
// Stepping one token at a time, the GPU idles while each token goes to the
// host and the next replay comes back: the copy out, the host's turn and the
// launch (10-15 us a step against gpt2's ~190 us). Here the replays queue back
// to back and the host reads each token from pinned memory when its event has
// fired. The position and the attention grids for each replay are known ahead
// (an update of the executable graph affects only later launches).

void qb_cuda_ahead_begin(qb_cuda *c, int pos) {
    const int on = 1;
    qb_cuda_set_pos(c, pos);
    CK(cudaMemcpyAsync(c->d_run, &on, sizeof on, cudaMemcpyHostToDevice, c->stream)); // (staged before the return)
}

void qb_cuda_ahead_launch(qb_cuda *c) {
    qb_cuda_graph_launch(c);
    CK(cudaEventRecord(c->ahead_ev[c->pos & (QB_CUDA_AHEAD_RING - 1)], c->stream));
    c->pos++; // (the argmax advances the device's slot alike)
}

int qb_cuda_ahead_token(qb_cuda *c, int pos) {
    const int i = pos & (QB_CUDA_AHEAD_RING - 1);
    CK(cudaEventSynchronize(c->ahead_ev[i]));
    return ((volatile int *)c->h_ahead)[i];
}

void qb_cuda_ahead_end(qb_cuda *c) {
    const int off = 0;
    CK(cudaMemcpyAsync(c->d_run, &off, sizeof off, cudaMemcpyHostToDevice, c->stream));
    CK(cudaStreamSynchronize(c->stream));
}

// ---- events --------------------------------------------------------------------------------------

struct qb_cuda_event {
    cudaEvent_t e;
};

qb_cuda_event *qb_cuda_event_record(qb_cuda *c) {
    qb_cuda_event *ev = (qb_cuda_event *)qb_malloc(sizeof *ev);
    CK(cudaEventCreate(&ev->e));
    CK(cudaEventRecord(ev->e, c->stream));
    return ev;
}

float qb_cuda_event_ms(qb_cuda_event *a, qb_cuda_event *b) {
    float ms = 0;
    CK(cudaEventSynchronize(b->e));
    CK(cudaEventElapsedTime(&ms, a->e, b->e));
    return ms;
}

void qb_cuda_event_free(qb_cuda_event *e) {
    if (!e) return;
    CK(cudaEventDestroy(e->e));
    free(e);
}
