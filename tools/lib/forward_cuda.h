// forward_cuda.h: the GPT-2 forward pass on an NVIDIA GPU, the same named
// steps as forward.c (embed, layernorm, matmul, attention, gelu, residual)
// through kernels/cuda. Weights are uploaded once in their stored type; the
// KV cache is float16 on the device; activations are float32. The greedy
// decode step (embed -> layers -> lm_head -> argmax) is captured once as a
// CUDA graph and replayed with the position read from device memory, or runs
// as one persistent kernel (qb_gpu_set_persistent).
//
// In a build without CUDA (no nvcc) every entry point dies with one line.
#pragma once
#include <stddef.h>

#include "model.h"

typedef struct qb_gpu qb_gpu;

// Opens CUDA device 0 and uploads m (which stays loaded: the caller frees it
// after qb_gpu_free). n_cache: positions the KV cache holds (<= n_ctx);
// max_T: most tokens one qb_gpu_forward call gets. Without a usable device:
// one line on stderr ("PROG: --device cuda: no usable CUDA device: ...") and
// exit 2.
qb_gpu *qb_gpu_new(const qb_model *m, int n_cache, int max_T);
void qb_gpu_free(qb_gpu *g);

// Same contract as qb_forward (forward.h): tokens[0..T) at positions
// pos0..pos0+T-1; logits of tokens first_logit..T-1 copied to host logits.
void qb_gpu_forward(qb_gpu *g, const int *tokens, int T, int pos0, float *logits, int first_logit);
// One greedy decode step: token tok at position pos; returns the argmax of
// its logits (computed on the device; only the id comes back). The first call
// captures the step as a CUDA graph, later calls replay it.
int qb_gpu_decode_greedy(qb_gpu *g, int tok, int pos);
// n greedy steps from token tok at position pos: on_token(arg, t) gets the
// argmax of each step in turn and returns nonzero to stop. The replays run
// ahead of the host (QB_CUDA_AHEAD steps in flight, default 4), so the GPU does
// not wait for each token's trip to the host; the steps launched past a stop
// still run (their cache positions are rewritten before they are read).
// Returns the tokens given to on_token.
int qb_gpu_decode_greedy_run(qb_gpu *g, int tok, int pos, int n, int (*on_token)(void *arg, int tok), void *arg);
// Captures the greedy step's graph ahead of the first qb_gpu_decode_greedy,
// and times its GEMVs' rows per block in it (qb_cuda_graph_tune;
// QB_CUDA_GRAPH_TUNE=0 turns that off): up to 16 captures and their replays
// (0.22 s for qb-gpt2-10m on an H100), kept out of the measured steps
// (generate calls it with the load).
// It runs the step at position 0 with token 0: call it before the prompt
// pass, which overwrites that state. Without it the first greedy step does
// the same.
void qb_gpu_prepare_decode(qb_gpu *g);
// Turns the graph off (each step launched kernel by kernel): for comparison.
void qb_gpu_set_graph(qb_gpu *g, int on);
// The greedy step as ONE persistent kernel instead (kernels/cuda/decode_step.cuh):
// on = 1 builds it at the first call and returns 1, or returns 0 (step
// unchanged) when this model exceeds its limits (n_embd over 2048, heads over
// 256 wide); on = 0 goes back to the graph. qb_gpu_new turns it on when the
// environment says QB_CUDA_STEP=persistent (and dies if it cannot); the
// default stays the graph until a device run shows the persistent step faster.
int qb_gpu_set_persistent(qb_gpu *g, int on);

// For metrics rows: "NVIDIA H100 80GB HBM3", "580.159.04" (NVML; the CUDA
// driver API version when NVML is missing), peak device memory used by this
// process in bytes (NVML per-process accounting when it answers, otherwise
// the device-wide cudaMemGetInfo peak since qb_gpu_new), and the bytes one
// decode step reads with n_pos positions cached (float16 K/V).
const char *qb_gpu_name(const qb_gpu *g);
const char *qb_gpu_driver(const qb_gpu *g);
double qb_gpu_peak_bytes(qb_gpu *g);
double qb_gpu_step_bytes(const qb_gpu *g, int n_pos);
// Device memory the weights took (their planes, padding included).
double qb_gpu_weight_bytes(const qb_gpu *g);
