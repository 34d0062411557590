// decode_step.cu: the persistent decode step's host side (see
// decode_step.cuh): the op list built by the forward pass's calls, uploaded
// once, and one cooperative launch a step.
//
// Knobs, read at qb_cuda_step_ready (for the benchmark's sweeps):
//   QB_CUDA_STEP_BPS  blocks per SM (default: as many as fit, at most 4; more
//                     than fit is lowered to what fits, with a note)
//   QB_CUDA_STEP_R    rows per GEMV group, 1, 2 or 4, or 8 in block mode (default
//                     4 in block mode, 2 in warp mode)
//   QB_CUDA_STEP_GEMV block (default): a block's four warps split each group's
//                     steps, as k_gemv; warp: each warp streams its own row groups
//                     (the QKV->attention, embed and argmax links, early loads,
//                     staging and W8A8 need it). On the H100 (e1f8135) block mode
//                     with ops from shared memory and R 4 was the best setting
//                     measured: gpt2-xl f16 287.8 tok/s, warp mode R 2 233.8
//   QB_CUDA_STEP_PF   megabytes of the next op's weights prefetched to L2
//                     (default half the L2; 0 turns the prefetch off)
//   QB_CUDA_STEP_VERBOSE  set: one line on stderr with the grid, registers and knobs
//   (WORK, STAGE and EARLY take 0 or 1: anything else is a usage error)
//   QB_CUDA_STEP_WORK 0: the ops' work skipped, barriers and prefetches kept: the
//                     step's fixed cost (its tokens are meaningless)
//   QB_CUDA_STEP_SPIN_NS  nanoseconds a block sleeps between polls of a barrier
//                     (default 0: polls back to back)
//   QB_CUDA_STEP_BAR  fence (default): grid barriers fence around a relaxed arrival
//                     and poll; acqrel: a releasing arrival, acquiring polls
//   QB_CUDA_STEP_STAGE 1: a GEMV in warp mode prepares its input once its first
//                     weight loads are on their way: the layernorm, or x copied
//                     into shared memory (so no item of the stream waits for its x
//                     from L2). Default 0: on the H100 it gained nothing (xl f16
//                     4.46 ms a traced step against 4.26 without, e3bc358)
//   QB_CUDA_STEP_OPS  smem (default): each block reads the op it runs from shared
//                     memory, copied there asynchronously during the op before;
//                     global: from the op list in global memory (H100, block mode:
//                     smem 2-8 % faster, xl f16 265.6 vs 260.8 tok/s)
//   QB_CUDA_STEP_EARLY 1: a GEMV in warp mode issues its first weight loads before
//                     it waits at the barrier that precedes it (as PDL lets the
//                     graph's kernels do); default 0
//   QB_CUDA_STEP_TRACE  a file: each step's object appends, when freed, one row
//                     per op of its last step: when the blocks began and ended it
//                     (globaltimer, us from the step's first start) and its weight
//                     bytes (trace_write); the op's end waits for the
//                     block's warps, so a traced step runs a little slower
//   QB_CUDA_STEP_ACT  int8: Q8_0 and Q4_0 GEMVs run W8A8 (x quantized per block of
//                     32 as the CPU's --act int8 does, dp4a) in warp mode. A
//                     measurement knob: it changes the numerics, so the study's
//                     GPU rows (weight-only) never set it
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.cuh"
#include "decode_step.cuh"

struct qb_cuda_step {
    qb_cuda *c;
    qb_step_op *ops; // host copy while building
    int n_ops, cap;
    qb_step_op *d_ops;
    qb_step_ctl ctl;
    void *d_ctl_mem; // arrivals, (unused), epoch, amax
    float *part;
    unsigned *counters, *heads; // attention's merge counters; the heads' QKV row counts
    int max_heads, max_S, max_D;
    int R, warp, act8, blocks;
    const char *trace_path; // QB_CUDA_STEP_TRACE
};

// At least 3 blocks an SM: -maxrregcount caps the op functions but not a
// kernel with launch bounds, and the kernel body alone grew to 176 registers
// (2 blocks an SM; the H200 measured 3 blocks 10 % faster on gpt2-xl, 4 no
// faster than 3).
__global__ void __launch_bounds__(QB_STEP_THREADS, 3)
    k_decode_step(const qb_step_op *ops, int n_ops, qb_step_ctl ctl, int pos) {
    qb_decode_step(ops, n_ops, ctl, pos);
}

qb_cuda_step *qb_cuda_step_new(qb_cuda *c) {
    qb_cuda_step *s = (qb_cuda_step *)qb_calloc(1, sizeof *s);
    s->c = c;
    s->warp = qb_env_pick("QB_CUDA_STEP_GEMV", "block", "warp", NULL);
    s->R = qb_env_int("QB_CUDA_STEP_R", s->warp ? 2 : 4, 0, INT_MAX);
    if (s->R != 1 && s->R != 2 && s->R != 4 && (s->R != 8 || s->warp))
        qb_die(QB_EXIT_USAGE, "QB_CUDA_STEP_R: 1, 2 or 4 (8 with QB_CUDA_STEP_GEMV=block), not %d", s->R);
    s->act8 = qb_env_pick("QB_CUDA_STEP_ACT", "f32", "int8", NULL);
    if (s->act8 && !s->warp) qb_die(QB_EXIT_USAGE, "QB_CUDA_STEP_ACT=int8 runs in warp mode: set QB_CUDA_STEP_GEMV=warp");
    return s;
}

// W8A8 where asked for and there is a kernel for it: Q8_0 and Q4_0 in warp mode.
static qb_step_op with_act(const qb_cuda_step *s, qb_step_op o) {
    o.act8 = s->act8 && o.warp && (o.type == QB_TYPE_Q8_0 || o.type == QB_TYPE_Q4_0) && o.g.n_in <= QB_XQ_MAX;
    return o;
}

static void push(qb_cuda_step *s, const qb_step_op &o) {
    if (s->d_ops) qb_die(QB_EXIT_DATA, "cuda: decode step: op added after qb_cuda_step_ready");
    if (s->n_ops == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->ops = (qb_step_op *)qb_realloc(s->ops, (size_t)s->cap * sizeof *s->ops);
    }
    s->ops[s->n_ops++] = o;
}

void qb_cuda_step_embed(qb_cuda_step *s, float *x, const qb_weight *wte, const qb_weight *wpe) {
    if (wte->n_in != wpe->n_in) qb_die(QB_EXIT_DATA, "cuda: decode step: wte and wpe widths differ");
    push(s, qb_step_op_embed(x, wte, wpe));
}

static void check_gemv(const qb_weight *w, const float *x, const float *ln_g) {
    if (!qb_cuda_type_ok(w->type, w->n_in))
        qb_die(QB_EXIT_DATA, "cuda: decode step: weight type %d with %d inputs not supported", (int)w->type, w->n_in);
    if ((uintptr_t)x % 16) qb_die(QB_EXIT_DATA, "cuda: decode step: x must be 16-byte aligned");
    if (ln_g && w->n_in > QB_LN_FUSE_MAX)
        qb_die(QB_EXIT_DATA, "cuda: decode step: a layernorm over %d values exceeds %d", w->n_in, QB_LN_FUSE_MAX);
}

void qb_cuda_step_matmul(qb_cuda_step *s, float *y, const float *x, const qb_weight *w, const float *bias,
                         qb_cuda_epilogue epi) {
    check_gemv(w, x, NULL);
    push(s, with_act(s, qb_step_op_gemv(y, x, w, bias, (int)epi, NULL, NULL, 0.0f, NULL, NULL, s->R, s->warp)));
}

void qb_cuda_step_ln_matmul(qb_cuda_step *s, float *y, const float *x, const float *ln_g, const float *ln_b, float eps,
                            const qb_weight *w, const float *bias, qb_cuda_epilogue epi, uint16_t *k_cache,
                            uint16_t *v_cache) {
    check_gemv(w, x, ln_g);
    push(s, with_act(s, qb_step_op_gemv(y, x, w, bias, (int)epi, ln_g, ln_b, eps, (__half *)k_cache,
                                         (__half *)v_cache, s->R, s->warp)));
}

void qb_cuda_step_attention(qb_cuda_step *s, float *out, const float *q, int q_stride, const uint16_t *k_cache,
                            const uint16_t *v_cache, int n_head, int head_dim, int n_ctx) {
    const int S = (n_ctx + CH - 1) / CH;
    if (S > 256) qb_die(QB_EXIT_DATA, "cuda: decode step: context of %d positions exceeds 16384", n_ctx);
    if (head_dim > 256 || head_dim % 2) qb_die(QB_EXIT_DATA, "cuda: decode step: head size %d", head_dim);
    s->max_heads = n_head > s->max_heads ? n_head : s->max_heads;
    s->max_S = S > s->max_S ? S : s->max_S;
    s->max_D = head_dim > s->max_D ? head_dim : s->max_D;
    // part and counters are set at qb_cuda_step_ready, when their sizes are known.
    push(s, qb_step_op_attn(out, q, q_stride, (const __half *)k_cache, (const __half *)v_cache, n_head, head_dim,
                            NULL, NULL));
}

void qb_cuda_step_argmax(qb_cuda_step *s, float *logits, int n) {
    if (n <= 0) qb_die(QB_EXIT_DATA, "cuda: decode step: argmax of nothing");
    push(s, qb_step_op_argmax(logits, n));
}

void qb_cuda_step_ready(qb_cuda_step *s) {
    qb_cuda *c = s->c;
    if (!s->n_ops || s->ops[s->n_ops - 1].kind != QB_OP_ARGMAX)
        qb_die(QB_EXIT_DATA, "cuda: decode step: the op list must end with the argmax");
    if (s->max_heads) {
        s->part = (float *)qb_cuda_alloc(c, (size_t)s->max_heads * s->max_S * (s->max_D + 2) * sizeof(float));
        s->counters = (unsigned *)qb_cuda_alloc(c, 2 * (size_t)s->max_heads * sizeof(unsigned));
        qb_cuda_memset(c, s->counters, 0, 2 * (size_t)s->max_heads * sizeof(unsigned));
        s->heads = s->counters + s->max_heads;
    }
    for (int i = 0; i < s->n_ops; i++)
        if (s->ops[i].kind == QB_OP_ATTN) s->ops[i].part = s->part, s->ops[i].counters = s->counters;
    qb_step_link_heads(s->ops, s->n_ops, s->heads);
    s->n_ops = qb_step_link_argmax(s->ops, s->n_ops);
    s->n_ops = qb_step_link_embed(s->ops, s->n_ops);
    const int pf_mb = qb_env_int("QB_CUDA_STEP_PF", c->prop.l2CacheSize / 2 >> 20, 0, INT_MAX);
    qb_step_link_prefetch(s->ops, s->n_ops, (size_t)pf_mb << 20);
    s->d_ops = (qb_step_op *)qb_cuda_alloc(c, (size_t)s->n_ops * sizeof *s->d_ops);
    qb_cuda_to_device(c, s->d_ops, s->ops, (size_t)s->n_ops * sizeof *s->d_ops);
    s->d_ctl_mem = qb_cuda_alloc(c, 32);
    qb_cuda_memset(c, s->d_ctl_mem, 0, 32);
    s->ctl.arrivals = (unsigned *)s->d_ctl_mem;
    s->ctl.epoch = (unsigned *)s->d_ctl_mem + 2;
    s->ctl.syncs = 0;
    for (int i = 0; i < s->n_ops; i++) s->ctl.syncs += s->ops[i].sync;
    s->ctl.amax = (unsigned long long *)((char *)s->d_ctl_mem + 16);
    s->ctl.token = qb_cuda_token_slot(c);
    s->ctl.work = qb_env_pick("QB_CUDA_STEP_WORK", "1", "0", NULL) == 0;
    s->ctl.spin_ns = (unsigned)qb_env_int("QB_CUDA_STEP_SPIN_NS", 0, 0, INT_MAX);
    s->ctl.early = qb_env_pick("QB_CUDA_STEP_EARLY", "0", "1", NULL);
    s->ctl.stage = qb_env_pick("QB_CUDA_STEP_STAGE", "0", "1", NULL);
    s->ctl.ops_smem = !qb_env_pick("QB_CUDA_STEP_OPS", "smem", "global", NULL);
    s->ctl.acqrel = qb_env_pick("QB_CUDA_STEP_BAR", "fence", "acqrel", NULL);
    // Every block must be resident at once (the barriers wait for all of them):
    // the cooperative launch refuses a grid that is not.
    int fit = 0;
    CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&fit, k_decode_step, QB_STEP_THREADS, 0));
    if (fit < 1) qb_die(QB_EXIT_DATA, "cuda: decode step: the kernel fits no SM of %s", c->prop.name);
    int bps = qb_env_int("QB_CUDA_STEP_BPS", fit < 4 ? fit : 4, 0, INT_MAX);
    if (bps < 1) qb_die(QB_EXIT_USAGE, "QB_CUDA_STEP_BPS=%d: at least 1 block per SM", bps);
    if (bps > fit) {
        fprintf(stderr, "cuda: decode step: QB_CUDA_STEP_BPS=%d, but %d blocks per SM fit on %s: using %d\n", bps, fit,
                c->prop.name, fit);
        bps = fit;
    }
    s->blocks = bps * c->prop.multiProcessorCount;
    s->trace_path = getenv("QB_CUDA_STEP_TRACE");
    if (s->trace_path && *s->trace_path) {
        const size_t n = 2 * (size_t)s->n_ops * s->blocks * sizeof *s->ctl.trace;
        s->ctl.trace = (unsigned long long *)qb_cuda_alloc(c, n);
        qb_cuda_memset(c, s->ctl.trace, 0, n);
    }
    if (getenv("QB_CUDA_STEP_VERBOSE")) {
        cudaFuncAttributes fa;
        CK(cudaFuncGetAttributes(&fa, k_decode_step));
        fprintf(stderr,
                "cuda: decode step: %d ops, %d blocks (%d per SM, %d fit), %d registers, %zu B local, %zu B shared, "
                "R %d, groups to %s, L2 prefetch %d MB, activations %s\n",
                s->n_ops, s->blocks, bps, fit, fa.numRegs, fa.localSizeBytes, fa.sharedSizeBytes, s->R,
                s->warp ? "warps" : "blocks", pf_mb, s->act8 ? "int8 (Q8_0/Q4_0)" : "f32");
    }
    qb_cuda_sync(c);
}

void qb_cuda_step_run(qb_cuda_step *s, int pos) {
    if (!s->d_ops) qb_die(QB_EXIT_DATA, "cuda: decode step run before qb_cuda_step_ready");
    const qb_step_op *ops = s->d_ops;
    int n = s->n_ops;
    qb_step_ctl ctl = s->ctl;
    void *args[] = {(void *)&ops, (void *)&n, (void *)&ctl, (void *)&pos};
    CK(cudaLaunchCooperativeKernel((const void *)k_decode_step, dim3(s->blocks), dim3(QB_STEP_THREADS), args, 0,
                                   s->c->stream));
}

int qb_cuda_step_blocks(const qb_cuda_step *s) { return s->blocks; }

// What an op of GPT-2's step is, from its place and shape (for the trace).
static const char *op_name(const qb_step_op *ops, int i) {
    const qb_step_op &o = ops[i];
    switch (o.kind) {
    case QB_OP_EMBED: return "embed";
    case QB_OP_ATTN: return "attn";
    case QB_OP_ARGMAX: return "argmax";
    default: break;
    }
    if (o.argmax) return "lm_head";
    if (o.g.k_cache) return o.embed ? "embed+qkv" : "qkv";
    if (o.g.epi == QB_CUDA_GELU) return "fc";
    if (o.g.ln_g) return "lm_head";
    return i > 0 && ops[i - 1].kind == QB_OP_ATTN ? "proj" : "mproj";
}

// The last step's trace, one row per op, appended to QB_CUDA_STEP_TRACE (a
// header when the file is empty). Times in us from the earliest start of the
// step; end_med is the median block's end. A block that ran no op's work still
// records it (its times show the barrier's).
static void trace_write(qb_cuda_step *s) {
    const size_t nb = (size_t)s->blocks, n = 2 * (size_t)s->n_ops * nb;
    unsigned long long *t = (unsigned long long *)qb_malloc(n * sizeof *t);
    unsigned long long *col = (unsigned long long *)qb_malloc(nb * sizeof *col);
    qb_cuda_to_host(s->c, t, s->ctl.trace, n * sizeof *t);
    FILE *f = qb_trace_append(s->trace_path,
                              "n_layer\tn_embd\tblocks\tR\tgemv\top\tname\ttype\tn_in\tn_out\tbytes\tsync\tstart_min_us"
                              "\tstart_max_us\tend_min_us\tend_med_us\tend_max_us\n",
                              "the decode step's trace");
    unsigned long long t0 = ~0ull;
    for (size_t k = 0; k < n; k += 2) t0 = t[k] && t[k] < t0 ? t[k] : t0;
    int n_layer = 0, n_embd = 0;
    for (int i = 0; i < s->n_ops; i++) {
        n_layer += s->ops[i].kind == QB_OP_ATTN;
        if (s->ops[i].kind == QB_OP_GEMV && s->ops[i].g.k_cache) n_embd = s->ops[i].g.n_in;
    }
    for (int i = 0; i < s->n_ops; i++) {
        const qb_step_op &o = s->ops[i];
        double st[2] = {0, 0}, en[3] = {0, 0, 0};
        for (int e = 0; e < 2; e++) {
            for (size_t b = 0; b < nb; b++) col[b] = t[2 * (i * nb + b) + e] - t0;
            qsort(col, nb, sizeof *col, qb_cmp_u64);
            if (e == 0) st[0] = col[0] / 1e3, st[1] = col[nb - 1] / 1e3;
            else en[0] = col[0] / 1e3, en[1] = col[nb / 2] / 1e3, en[2] = col[nb - 1] / 1e3;
        }
        size_t bytes = 0;
        if (o.kind == QB_OP_GEMV) {
            qb_planes p;
            qb_planes_of(o.type, o.g.n_in, o.g.n_out, &p);
            bytes = p.total;
        }
        fprintf(f, "%d\t%d\t%d\t%d\t%s\t%d\t%s\t%s\t%d\t%d\t%zu\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\n", n_layer, n_embd,
                s->blocks, s->R, s->warp ? "warp" : "block", i, op_name(s->ops, i),
                o.kind == QB_OP_GEMV ? qb_type_name(o.type) : "-", o.kind == QB_OP_GEMV ? o.g.n_in : 0,
                o.kind == QB_OP_GEMV ? o.g.n_out : 0, bytes, o.sync, st[0], st[1], en[0], en[1], en[2]);
    }
    if (fclose(f) != 0) qb_die(QB_EXIT_DATA, "%s: write failed", s->trace_path);
    free(col);
    free(t);
}

void qb_cuda_step_free(qb_cuda_step *s) {
    if (!s) return;
    qb_cuda *c = s->c;
    qb_cuda_sync(c);
    if (s->ctl.trace) {
        trace_write(s);
        qb_cuda_free(c, s->ctl.trace);
    }
    if (s->d_ops) qb_cuda_free(c, s->d_ops);
    if (s->d_ctl_mem) qb_cuda_free(c, s->d_ctl_mem);
    if (s->part) qb_cuda_free(c, s->part);
    if (s->counters) qb_cuda_free(c, s->counters);
    free(s->ops);
    free(s);
}
