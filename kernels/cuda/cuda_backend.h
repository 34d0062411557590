// cuda_backend.h: the CUDA backend's C interface (implemented in
// kernels/cuda/*.cu, built into build/libqbcuda.a where nvcc exists; C code
// sees QB_HAVE_CUDA then). The forward pass calls these the way it calls the
// CPU kernels of kernels.h: same named steps, device pointers instead of host
// ones. Every CUDA and cuBLAS call is checked; a failure prints one line
// ("cuda: WHAT failed at FILE:LINE: REASON") and exits with QB_EXIT_DATA.
//
// Everything runs in order on the context's one stream, so consecutive calls
// need no synchronisation among themselves; qb_cuda_to_host waits for the
// stream. Activations are float32 on the device; weights keep their stored
// type; the KV cache is float16.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qb_cuda qb_cuda;

// ---- the device ----------------------------------------------------------------
// Opens device dev (cudaSetDevice, one stream, cuBLAS loaded on demand). On
// failure (no driver, no device, dev out of range) returns NULL and leaves a
// one-line reason in err: callers print it and exit non-zero.
qb_cuda *qb_cuda_open(int dev, char *err, size_t errlen);
void qb_cuda_close(qb_cuda *c);
// The QB_CUDA_* environment knobs (read by qb_cuda_open and the forward pass).
// A knob of named choices: 0 when the variable is unset or a (the default), 1
// when b, 2 when c (NULL: a two-way knob); anything else is a usage error
// (one line, exit status QB_EXIT_USAGE), so a misspelt value never measures the default.
int qb_env_pick(const char *name, const char *a, const char *b, const char *c);
// Environment knob name as a whole number in [lo, hi]; def when unset. Dies on anything else.
int qb_env_int(const char *name, int def, int lo, int hi);
// "NVIDIA H100 80GB HBM3", "580.159.04" (driver; "CUDA 13.0" when the
// driver's own version string cannot be had), compute capability, SM count.
const char *qb_cuda_device_name(const qb_cuda *c);
const char *qb_cuda_driver(const qb_cuda *c);
int qb_cuda_sm_count(const qb_cuda *c);
// Programmatic dependent launch on (default on Hopper and newer, unless
// QB_CUDA_PDL=0) or off, for kernels launched from now on.
void qb_cuda_set_pdl(qb_cuda *c, int on);
void qb_cuda_set_ln_fuse(qb_cuda *c, int on);
int qb_cuda_ln_fuse(const qb_cuda *c);
// Device memory in use on the whole device now (total - free, cudaMemGetInfo)
// and the largest value seen by qb_cuda_mem_sample since open.
size_t qb_cuda_mem_used(qb_cuda *c);
size_t qb_cuda_mem_sample(qb_cuda *c); // samples, returns the peak so far

// ---- memory ----------------------------------------------------------------------
void *qb_cuda_alloc(qb_cuda *c, size_t bytes); // cudaMalloc; dies when it fails
void qb_cuda_free(qb_cuda *c, void *p);
void qb_cuda_to_device(qb_cuda *c, void *dst, const void *src, size_t bytes); // on the stream
void qb_cuda_to_host(qb_cuda *c, void *dst, const void *src, size_t bytes);   // waits for the stream
void qb_cuda_memset(qb_cuda *c, void *dst, int byte, size_t bytes);
void qb_cuda_sync(qb_cuda *c);

// ---- weights -------------------------------------------------------------------------
// Bytes of one [n_out][n_in] matrix of type t (ggml block sizes); 0 when n_in
// is not a multiple of t's block.
size_t qb_cuda_weight_bytes(qb_type t, int n_in, int n_out);
// Whether the CUDA kernels take type t with rows of n_in values.
int qb_cuda_type_ok(qb_type t, int n_in);
// Uploads a host weight (mmap'ed file data, any layout) once. The device copy
// holds the same values in the same type, arranged for coalesced loads: float
// types as [n_out][n_in] (an IN_OUT matrix is transposed on the device), block
// types split into planes (all rows' quant bits, then all rows' scales), each
// row 16-byte aligned. Returns the device weight (layout OUT_IN, data on the
// device); free it with qb_cuda_weight_free.
qb_weight qb_cuda_weight_upload(qb_cuda *c, const qb_weight *host);
void qb_cuda_weight_free(qb_cuda *c, qb_weight *w);
// Rows r0..r0+n-1 of a device weight as float32 into out[n][n_in] (device):
// the embedding lookup's dequantisation, and the tests' window onto the planes.
void qb_cuda_weight_rows(qb_cuda *c, float *out, const qb_weight *w, int r0, int n);

// ---- dense layers ---------------------------------------------------------------------
// What a matmul does with its result r = x W^T + bias.
typedef enum {
    QB_CUDA_STORE = 0, // y = r
    QB_CUDA_GELU = 1,  // y = gelu_new(r)
    QB_CUDA_ACCUM = 2, // y += r (the residual connection, fused)
} qb_cuda_epilogue;
// x: [T][n_in], y: [T][n_out], bias [n_out] or NULL, all float32 on the device;
// w from qb_cuda_weight_upload. T == 1 runs the batch-1 GEMV of w's type
// (weights read once, dequantised in registers); T > 1 runs cuBLAS (float32
// SGEMM for F32; F16/BF16 tensor-core GEMMs with the activations split into
// a high and a low half-precision part so they keep float32 accuracy; block
// types dequantised tile by tile to F16 first).
void qb_cuda_matmul(qb_cuda *c, float *y, const float *x, const qb_weight *w, const float *bias, int T,
                    qb_cuda_epilogue epi);
// The QKV projection (n_out = 3 n_embd) with the K and V thirds of the result
// also stored as float16 in one layer's caches at positions pos0.. (fused into
// the GEMV at T == 1; pos0 may be QB_CUDA_POS_DEVICE).
void qb_cuda_matmul_qkv(qb_cuda *c, float *qkv, const float *x, const qb_weight *w, const float *bias, int T,
                        uint16_t *k_cache, uint16_t *v_cache, int pos0);
// The same with y = layernorm(x) W^T + b (gain ln_g, bias ln_b, over n_in
// values). At T == 1 with ln_fuse on (qb_cuda_set_ln_fuse, QB_CUDA_LN_FUSE=1)
// and n_in <= QB_LN_FUSE_MAX (2048) every GEMV block normalises x itself (no
// separate kernel); otherwise a layernorm kernel runs first. Either way the
// result is the same function.
void qb_cuda_ln_matmul(qb_cuda *c, float *y, const float *x, const float *ln_g, const float *ln_b, float eps,
                       const qb_weight *w, const float *bias, int T, qb_cuda_epilogue epi);
void qb_cuda_ln_matmul_qkv(qb_cuda *c, float *qkv, const float *x, const float *ln_g, const float *ln_b, float eps,
                           const qb_weight *w, const float *bias, int T, uint16_t *k_cache, uint16_t *v_cache,
                           int pos0);
// L2 prefetch in the decode chain (an experiment, off unless QB_CUDA_PREFETCH
// is 1 or 2): the GEMV launched next (qb_cuda_matmul* at T == 1) also sends
// w's device bytes (at most half the L2) towards L2, spread over its blocks
// before they wait for the previous kernel. The forward pass names the weight
// of the GEMV qb_cuda_prefetch_depth() places ahead, so the weight stream runs
// on through kernel tails, launches and attention. Taken by the next GEMV;
// NULL clears. Results are unchanged.
void qb_cuda_prefetch_next(qb_cuda *c, const qb_weight *w);
// Layernorm statistics carried with the residual stream (an experiment, off
// unless QB_CUDA_LN_STATS=1: the layernorm kernel it saves cost less than
// what each block of a GEMV of many blocks then spends staging x, g and b,
// gpt2-xl f16 -4 % on the H100): called before each forward pass of T tokens, with the
// number of accumulating matmuls it makes. At T == 1 each qb_cuda_matmul
// with QB_CUDA_ACCUM then also sums its output's values and squares (float64,
// spread over a few slots), and a qb_cuda_ln_matmul* of that same vector
// normalises it inside the GEMV from those sums instead of launching a
// layernorm kernel first. Clears the sums (a memset, captured with the step).
// The same sums serve QB_CUDA_LN_FOLD and QB_CUDA_LN_LAST below (on by
// default), so they are made whenever any of the three is on.
void qb_cuda_ln_stats_begin(qb_cuda *c, int T, int n_sets);
// Unless QB_CUDA_LN_FOLD=0 (on by default: measured faster on gpt2 and
// gpt2-xl, data/results/h100/ab-ln-fold-c7bcb47): the next qb_cuda_matmul
// with QB_CUDA_ACCUM at T == 1 also writes its output times g into the
// context's layernorm buffer, and a qb_cuda_ln_matmul* of that vector with
// that gain then folds the layernorm into its product (gemv.cuh, qb_fold_smem)
// with W g and W b + bias, made for its matrix at first use outside capture.
// Else, unless QB_CUDA_LN_LAST=0 (measured faster on gpt2-xl): the next
// qb_cuda_matmul with QB_CUDA_ACCUM at T == 1 also makes layernorm(its
// output) with gain g and bias b in its last block to finish, from the same
// sums, and a qb_cuda_ln_matmul* of that vector with that gain then takes
// those rows instead of launching a layernorm kernel. A hint: ignored when off.
void qb_cuda_ln_after(qb_cuda *c, const float *g, const float *b, float eps);
// QB_CUDA_TRACE=FILE: the name the next GEMV or attention launch has in the
// graph trace (trace.cu); taken by that launch.
void qb_cuda_trace_name(qb_cuda *c, const char *name);
int qb_cuda_prefetch_depth(const qb_cuda *c);
// The GEMV alone, with rows per block in {1, 2, 4, 8}, or -8 and -16 for the
// tensor-core GEMV (qb_gemv_has_mma's types; 8 for others; 0 = tuned per shape
// at first use, or QB_CUDA_GEMV_R), for the benchmark; T == 1 only. The
// tensor-core GEMV may also split each row over S = 2, 4 or 8 blocks and
// run 8 warps a block instead of 4 (W 1): R = -(rows + 32 S + 512 W), e.g.
// -144 for 16 rows a block and 4 blocks a row, -520 for 8 rows and 8 warps.
void qb_cuda_gemv(qb_cuda *c, float *y, const float *x, const qb_weight *w, const float *bias,
                  qb_cuda_epilogue epi, int rows_per_warp);
// Such an R's rows a block (negative for the tensor cores), blocks a row and 8 warps or not.
static inline int qb_gemv_rows_of(int R) { return R < 0 ? -(-R % 32) : R; }
static inline int qb_gemv_split_of(int R) { return R < 0 && -R % 512 > 32 ? -R % 512 / 32 : 1; }
static inline int qb_gemv_wide_of(int R) { return R <= -512; }
static inline int qb_gemv_choice(int rows, int split, int wide) {
    return rows - (split > 1 ? 32 * split : 0) - (wide ? 512 : 0);
}
// Whether R is such a rows-per-block value (not 0); QB_GEMV_R_CHOICES lists them for messages.
#define QB_GEMV_R_CHOICES "1, 2, 4, 8, -8, -16, or -(8 or 16) - 32 S - 512 W, S 2, 4 or 8, W 0 or 1"
static inline int qb_gemv_rows_ok(int R) {
    const int r = qb_gemv_rows_of(R), s = qb_gemv_split_of(R);
    return r == 1 || r == 2 || r == 4 || r == 8 ||
           ((r == -8 || r == -16) && (s == 1 || s == 2 || s == 4 || s == 8) && -R < 1024 &&
            -R % 512 == -r + (s > 1 ? 32 * s : 0));
}
// Whether weight type t has the tensor-core GEMV (kernels/cuda/gemv_mma.cuh).
static inline int qb_gemv_has_mma(qb_type t) {
    return t == QB_TYPE_Q4_0 || t == QB_TYPE_Q4_1 || t == QB_TYPE_Q8_0 || t == QB_TYPE_IQ4_NL || t == QB_TYPE_Q4_K;
}
// Raw cuBLAS F16 GEMM, for the ceiling measurement: C[m][n] (row-major,
// float16) = A[m][k] B[n][k]^T, float32 accumulation.
void qb_cuda_gemm_f16(qb_cuda *c, uint16_t *C, const uint16_t *A, const uint16_t *B, int m, int n, int k);

// ---- positions on the device -------------------------------------------------------------
// Kernels that take a position pos0 use it when pos0 >= 0 and read it from
// the context's device slot when pos0 == QB_CUDA_POS_DEVICE, so one captured
// decode graph serves every position: the host sets the slot before each replay.
#define QB_CUDA_POS_DEVICE (-1)
void qb_cuda_set_pos(qb_cuda *c, int pos);
int *qb_cuda_token_slot(qb_cuda *c); // one int on the device: next token (argmax output, embed input)

// ---- elementwise and normalisation --------------------------------------------------------
// x[t] = wte[tokens[t]] + wpe[pos0 + t] (tokens on the device; wte and wpe any type).
void qb_cuda_embed(qb_cuda *c, float *x, const int *tokens, const qb_weight *wte, const qb_weight *wpe, int pos0,
                   int T);
void qb_cuda_layernorm(qb_cuda *c, float *y, const float *x, const float *g, const float *b, int n, int T,
                       float eps);
void qb_cuda_gelu(qb_cuda *c, float *x, size_t n);
void qb_cuda_add(qb_cuda *c, float *y, const float *x, size_t n);
// out[0] = index of the largest of x[0..n) (first one on ties), on the device.
// Into the token slot, it also serves the run ahead (qb_cuda_ahead_begin).
void qb_cuda_argmax(qb_cuda *c, int *out, const float *x, int n);
// nll[t] = logsumexp(logits[t]) - logits[t][targets[t]] for t < T (device).
void qb_cuda_nll(qb_cuda *c, float *nll, const float *logits, const int *targets, int T, int n_vocab);

// ---- attention over the float16 KV cache ------------------------------------------------------
// k_cache, v_cache: one layer's [n_ctx][n_embd] float16. Stores the K and V
// parts of qkv ([T][3*n_embd], float32: q, k, v) at positions pos0..pos0+T-1.
void qb_cuda_kv_store(qb_cuda *c, uint16_t *k_cache, uint16_t *v_cache, const float *qkv, int pos0, int T,
                      int n_embd);
// Causal attention of T new tokens (positions pos0..pos0+T-1) against the
// cache, which must already hold them. q: [T] rows of q_stride floats (the
// qkv buffer: q_stride = 3*n_embd); out: [T][n_head*head_dim]. n_ctx bounds
// the positions (scratch sizes). Few tokens (and every decode step) run the
// split kernel: while a token's keys fit its block's registers (256 for heads
// of 64), one block the whole head; past that, chunks of as many keys and a
// merge (QB_CUDA_ATTN_WHOLE=0: always chunks of 64); many tokens run cuBLAS
// batched GEMMs with a masked softmax.
void qb_cuda_attention(qb_cuda *c, float *out, const float *q, int q_stride, const uint16_t *k_cache,
                       const uint16_t *v_cache, int pos0, int T, int n_head, int head_dim, int n_ctx);
// The same with the path forced: 0 = per-(head, token) kernel, 1 = cuBLAS.
void qb_cuda_attention_path(qb_cuda *c, float *out, const float *q, int q_stride, const uint16_t *k_cache,
                            const uint16_t *v_cache, int pos0, int T, int n_head, int head_dim, int n_ctx,
                            int path);

// ---- the decode step as one persistent kernel (decode_step.cu) ----------------------------
// The greedy decode step described once, op by op, in the order the forward
// pass calls them (embed; per layer ln+QKV with the K/V store, attention,
// proj+residual, ln+fc+GELU, mlp-proj+residual; ln_f+lm_head; argmax), then
// run as one kernel a step: every block resident, a grid barrier between
// ops, each op prefetching the next one's weights into L2. The token slot
// (qb_cuda_token_slot) holds the step's token before and the argmax after.
// Pointers are device pointers; the op list is fixed at qb_cuda_step_ready.
typedef struct qb_cuda_step qb_cuda_step;
qb_cuda_step *qb_cuda_step_new(qb_cuda *c);
void qb_cuda_step_embed(qb_cuda_step *s, float *x, const qb_weight *wte, const qb_weight *wpe);
void qb_cuda_step_matmul(qb_cuda_step *s, float *y, const float *x, const qb_weight *w, const float *bias,
                         qb_cuda_epilogue epi);
// y = layernorm(x) W^T + b (n_in <= QB_LN_FUSE_MAX); K/V thirds of the result
// also to the caches at the step's position when k_cache is set.
void qb_cuda_step_ln_matmul(qb_cuda_step *s, float *y, const float *x, const float *ln_g, const float *ln_b, float eps,
                            const qb_weight *w, const float *bias, qb_cuda_epilogue epi, uint16_t *k_cache,
                            uint16_t *v_cache);
void qb_cuda_step_attention(qb_cuda_step *s, float *out, const float *q, int q_stride, const uint16_t *k_cache,
                            const uint16_t *v_cache, int n_head, int head_dim, int n_ctx);
void qb_cuda_step_argmax(qb_cuda_step *s, float *logits, int n);
void qb_cuda_step_ready(qb_cuda_step *s);        // uploads the ops, sizes the grid
void qb_cuda_step_run(qb_cuda_step *s, int pos); // one step at position pos, on the stream
int qb_cuda_step_blocks(const qb_cuda_step *s);  // the grid it runs
void qb_cuda_step_free(qb_cuda_step *s);

// ---- CUDA graphs: capture a sequence of calls once, replay it ------------------------------
void qb_cuda_graph_begin(qb_cuda *c); // starts capturing the stream
void qb_cuda_graph_end(qb_cuda *c);   // ends capture, instantiates (replaces any previous graph)
void qb_cuda_graph_launch(qb_cuda *c);
int qb_cuda_graph_ready(const qb_cuda *c); // 0 also after the scratch grew (the graph was dropped)
// The greedy decode graph replayed ahead of the host: between begin and end
// the step's argmax (qb_cuda_argmax with the slots) also advances the position
// slot and leaves its token in a ring of QB_CUDA_AHEAD_RING ints in pinned host
// memory, so replays queue back to back. The caller keeps fewer than
// QB_CUDA_AHEAD_RING steps in flight and reads them in order.
#define QB_CUDA_AHEAD_RING 64
void qb_cuda_ahead_begin(qb_cuda *c, int pos); // the next replay runs at position pos
void qb_cuda_ahead_launch(qb_cuda *c);         // replays the step at the next position
int qb_cuda_ahead_token(qb_cuda *c, int pos);  // waits for the replay at pos; its argmax
void qb_cuda_ahead_end(qb_cuda *c);            // waits for the replays in flight; the argmax stops advancing
// The rows per block of each GEMV shape used so far timed in the graph itself
// (unless QB_CUDA_GRAPH_TUNE=0): record(arg) records the step under capture;
// each shape's other row counts are captured and replayed in turn, and one
// kept where the step is 1 % faster. The standalone timing (gemv.cu) picks
// what is fastest alone; in the chain a kernel's blocks share the SMs with
// the next one's early blocks. Leaves that graph captured. The replays run
// the step: the caller restores the state it reads (the token slot).
void qb_cuda_graph_tune(qb_cuda *c, void (*record)(void *), void *arg);

// ---- timing (benchmarks) ----------------------------------------------------------------
// Records an event on the stream; qb_cuda_event_ms gives the milliseconds between two.
typedef struct qb_cuda_event qb_cuda_event;
qb_cuda_event *qb_cuda_event_record(qb_cuda *c);
float qb_cuda_event_ms(qb_cuda_event *a, qb_cuda_event *b); // waits for b; frees neither
void qb_cuda_event_free(qb_cuda_event *e);
// Device-to-device copy of bytes (the bandwidth ceiling's kernel: cudaMemcpyAsync).
void qb_cuda_copy(qb_cuda *c, void *dst, const void *src, size_t bytes);

#ifdef __cplusplus
}
#endif
