// decode_step.cuh: the whole greedy decode step as ONE persistent kernel.
//
// Why: a step launched as kernels is 5 dependent kernels a layer (~240 on
// gpt2-xl), and each costs microseconds of ramp-up and tail that the
// bandwidth floor does not count (H100, session 5: xl f16 2.2 ms a step where
// the floor is 1.04; q4_0 1.9 ms where it is 0.29). Here every block stays
// resident for the step and walks the same list of ops (embed, then per layer
// QKV, attention, proj, fc, mlp-proj, then lm_head and argmax), a grid-wide
// barrier between consecutive ops. Weights depend on nothing computed, so
// while op i runs each block sends its share of op i+1's weights towards L2
// (one bulk prefetch, no registers held): DRAM keeps streaming through the
// barriers and the ops' own loads mostly hit L2.
//
// A GEMV op deals its R-row groups to the grid's warps (QB_CUDA_STEP_GEMV=warp,
// the default): each warp streams its groups' loads back to back, so a block
// holding a few groups of an op does not wait out a round trip per group.
//
// The QKV projection and its attention meet through per-head row counts
// instead of a barrier when the GEMV's groups go to warps
// (qb_step_link_heads): an attention chunk starts once its own head's q, k
// and v rows are stored, so a layer has four barriers, not five.
//
// The op list is built once by the host (qb_step_op_* below, filled in
// decode_step.cu) and lives in device memory; only the position changes
// from step to step (a kernel argument). The token slot is read by the embed
// op and receives the argmax.
//
// Shared by the CUDA build and the CPU emulator (tests/sim): the test runs
// this very code over a small model and compares it with the CPU forward pass.
#pragma once
#include "attention.cuh"
#include "dequant.cuh"
#include "gemv.cuh"
#include "gemv_q8a.cuh"

enum { QB_OP_EMBED = 1, QB_OP_GEMV = 2, QB_OP_ATTN = 3, QB_OP_ARGMAX = 4 };

// Threads per block of the step kernel: the GEMV's KS warps and the
// attention's ATT_THREADS are both 128.
#define QB_STEP_THREADS 128

struct alignas(16) qb_step_op { // whole 16-byte pieces: copied to shared memory by cp.async
    int kind;
    // GEMV: y = (layernorm(x) when g.ln_g) W^T + b, epilogue g.epi, K/V store
    // when g.k_cache; R rows a group (1, 2, 4; 8 in block mode), groups dealt round robin to
    // blocks (each group's steps split over the block's warps) or, with warp
    // set, to warps (each walks its groups as one stream of loads).
    qb_type type;
    int R, warp;
    int act8; // warp mode, Q8_0 and Q4_0: W8A8 (x quantized per block of 32, dp4a)
    gemv_args g;
    // EMBED: x[0..n) = wte[token] + wpe[pos] (any types).
    const uint8_t *wte, *wpe;
    qb_planes pe, pp;
    qb_type wte_type, wpe_type;
    int n_vocab, n_pos;
    // ATTN: out = attention of the new token's q against the cache of one layer.
    float *out;
    const float *q;
    const __half *kc, *vc;
    int q_stride, n_head, D;
    float *part;        // partials: n_head x ceil(n_ctx / CH) x (D + 2)
    unsigned *counters; // n_head, zero between steps
    // ARGMAX (and EMBED's width): over x[0..n) / logits[0..n).
    float *x;
    int n;
    // Sent towards L2 while this op runs: the next op's weights.
    const uint8_t *pf;
    size_t pf_bytes;
    // The QKV projection and the attention after it may skip the grid barrier
    // between them (qb_step_link_heads): the GEMV counts each head's finished
    // rows in heads[] (monotonic: 3 D more a layer a step), and an attention
    // chunk of head h waits for its own head's count only.
    int sync;           // 1: a grid barrier after this op
    unsigned *heads;    // the heads' row counts (QKV: to add to; ATTN: to wait on)
    int head_dim;       // QKV: rows a head has in each third (D)
    int layer, n_layer; // ATTN: which QKV count to wait for
    // The GEMV whose outputs are the logits may take the argmax op's place
    // (qb_step_link_argmax): each warp keeps the best key of the rows it
    // stored, each block adds one atomicMax.
    int argmax;
    // The first QKV GEMV may take the embed op's place (qb_step_link_embed):
    // every block with rows looks up x itself (the embed fields above), block 0
    // also stores it for the residual, and no barrier separates the two.
    int embed;
};

// What every step shares besides the ops.
struct qb_step_ctl {
    int *token;               // in: this step's token; out: the next (greedy)
    unsigned *arrivals;       // grid barriers: blocks arrived, ever (zero at first)
    unsigned *epoch;          // steps run so far (the heads' counts and arrivals are relative to it)
    int syncs;                // grid barriers a step (ops with sync set)
    unsigned long long *amax; // argmax key of the step (zero between steps)
    // Measurement knobs (QB_CUDA_STEP_WORK, QB_CUDA_STEP_SPIN_NS): work 0 runs
    // the barriers and prefetches alone, the step's fixed cost; spin_ns > 0
    // sleeps that long between polls of a barrier's count.
    int work;
    unsigned spin_ns;
    int acqrel; // QB_CUDA_STEP_BAR=acqrel: see qb_grid_sync
    int stage;  // QB_CUDA_STEP_STAGE (default 0): see qb_step_defer
    // QB_CUDA_STEP_OPS=smem: each block reads the op it runs from shared memory,
    // where an asynchronous copy put it during the op before (the op's fields,
    // then its GEMV arguments, are otherwise dependent loads from L2 before its
    // first weight load).
    int ops_smem;
    // QB_CUDA_STEP_EARLY: a GEMV in warp mode waits for the barrier before it
    // only once its first weight loads are on their way (they depend on no op).
    int early;
    // QB_CUDA_STEP_TRACE: when set, thread 0 of each block writes the times
    // (qb_global_ns) op i began and ended in trace[2 (i grid + block) + 0, 1],
    // each step over the last; the op's end waits for the block's warps.
    unsigned long long *trace;
};

// How a warp-mode GEMV's input gets ready once its first weight loads are on
// their way (qb_step_ready): a barrier it owes (ctl.early; arrivals NULL:
// none), then, with stage set (ctl.stage), its layernorm into xln or, without
// one, x copied there (shared memory: the stream's items then find their x
// there instead of each waiting for a global load). 32 bytes: the op
// functions take it in registers (larger, it went through local memory).
struct qb_step_defer {
    unsigned *arrivals;
    unsigned target, spin_ns;
    bool acqrel, stage;
    float *xln;
};

// The largest input a GEMV op stages in shared memory (32 KB), four
// times the widest residual stream the step takes (2048).
#define QB_XS_MAX 8192

// ---- the ops' makers (host) ------------------------------------------------------------

static inline qb_step_op qb_step_op_gemv(float *y, const float *x, const qb_weight *w, const float *bias, int epi,
                                         const float *ln_g, const float *ln_b, float eps, __half *k_cache,
                                         __half *v_cache, int R, int warp) {
    qb_step_op o = {};
    o.sync = 1;
    qb_planes p;
    qb_planes_of(w->type, w->n_in, w->n_out, &p);
    o.kind = QB_OP_GEMV;
    o.type = w->type;
    o.R = R == 1 || R == 4 || (R == 8 && !warp) ? R : 2; // the host has checked: 8 in block mode only
    o.warp = warp;
    o.g = {y, x, (const uint8_t *)w->data, p.qrow, p.srow, p.scales_off, w->n_in, w->n_out, bias, epi,
           k_cache, v_cache, 0, NULL, ln_g, ln_b, eps, NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0.0f, NULL, NULL, NULL, NULL, NULL, NULL, 0};
    return o;
}

static inline qb_step_op qb_step_op_embed(float *x, const qb_weight *wte, const qb_weight *wpe) {
    qb_step_op o = {};
    o.sync = 1;
    o.kind = QB_OP_EMBED;
    o.wte_type = wte->type;
    o.wte = (const uint8_t *)wte->data, o.wpe = (const uint8_t *)wpe->data;
    qb_planes_of(wte->type, wte->n_in, wte->n_out, &o.pe);
    qb_planes_of(wpe->type, wpe->n_in, wpe->n_out, &o.pp);
    o.wpe_type = wpe->type;
    o.n_vocab = wte->n_out, o.n_pos = wpe->n_out;
    o.x = x, o.n = wte->n_in;
    return o;
}

static inline qb_step_op qb_step_op_attn(float *out, const float *q, int q_stride, const __half *kc,
                                         const __half *vc, int n_head, int D, float *part, unsigned *counters) {
    qb_step_op o = {};
    o.sync = 1;
    o.kind = QB_OP_ATTN;
    o.out = out, o.q = q, o.q_stride = q_stride, o.kc = kc, o.vc = vc;
    o.n_head = n_head, o.D = D, o.part = part, o.counters = counters;
    return o;
}

static inline qb_step_op qb_step_op_argmax(float *logits, int n) {
    qb_step_op o = {};
    o.sync = 1;
    o.kind = QB_OP_ARGMAX;
    o.x = logits, o.n = n;
    return o;
}

// A QKV projection followed by its attention need no grid barrier between
// them when the GEMV's groups go to warps and never straddle two heads (R
// divides D): the pair then meets through heads (n_head counters, zero at
// first), and layer numbers tell each attention which count to wait for.
static inline void qb_step_link_heads(qb_step_op *ops, int n_ops, unsigned *heads) {
    int n_layer = 0;
    for (int i = 0; i + 1 < n_ops; i++)
        n_layer += ops[i].kind == QB_OP_GEMV && ops[i].g.k_cache && ops[i + 1].kind == QB_OP_ATTN;
    for (int i = 0, l = 0; i + 1 < n_ops; i++) {
        qb_step_op &q = ops[i], &at = ops[i + 1];
        if (q.kind != QB_OP_GEMV || !q.g.k_cache || at.kind != QB_OP_ATTN) continue;
        if (q.warp && at.D % q.R == 0 && q.g.n_out == 3 * at.n_head * at.D) {
            q.sync = 0, q.heads = heads, q.head_dim = at.D;
            at.heads = heads, at.layer = l, at.n_layer = n_layer;
        }
        l++;
    }
}

// The embed op folded into the GEMV after it (the first layer's QKV, whose
// layernorm reads x), in warp mode like the other two links (block mode keeps
// one op per named step): one op and one grid barrier less a step. Returns
// the new op count (ops shift down by one).
static inline int qb_step_link_embed(qb_step_op *ops, int n_ops) {
    if (n_ops < 2) return n_ops;
    const qb_step_op &e = ops[0];
    qb_step_op &g = ops[1];
    if (e.kind != QB_OP_EMBED || g.kind != QB_OP_GEMV || !g.warp || !g.g.ln_g || g.g.x != e.x || g.g.n_in != e.n ||
        e.n > QB_LN_FUSE_MAX)
        return n_ops;
    g.embed = 1;
    g.wte = e.wte, g.wpe = e.wpe, g.pe = e.pe, g.pp = e.pp, g.wte_type = e.wte_type, g.wpe_type = e.wpe_type;
    g.n_vocab = e.n_vocab, g.n_pos = e.n_pos, g.x = e.x, g.n = e.n;
    for (int i = 0; i + 1 < n_ops; i++) ops[i] = ops[i + 1];
    return n_ops - 1;
}

// The final argmax folded into the GEMV that writes the logits, when that
// GEMV's groups go to warps: one op and one grid barrier less a step, and the
// logits are not read again. Returns the new op count.
static inline int qb_step_link_argmax(qb_step_op *ops, int n_ops) {
    if (n_ops < 2) return n_ops;
    qb_step_op &g = ops[n_ops - 2], &am = ops[n_ops - 1];
    if (am.kind != QB_OP_ARGMAX || g.kind != QB_OP_GEMV || !g.warp || g.g.y != am.x || g.g.n_out != am.n)
        return n_ops;
    g.argmax = 1;
    return n_ops - 1;
}

// Each op prefetches the weights of the first GEMV after it that no earlier
// op prefetches (so the QKV projection already sends the attention output
// projection's, and the attention op sends none), the first pf_max bytes of
// them: two matrices must fit in L2 together, or the prefetch evicts what the
// running op is about to read.
static inline void qb_step_link_prefetch(qb_step_op *ops, int n_ops, size_t pf_max) {
    int taken = -1;
    for (int i = 0; i + 1 < n_ops; i++) {
        ops[i].pf = NULL, ops[i].pf_bytes = 0;
        int j = i + 1;
        while (j < n_ops && ops[j].kind != QB_OP_GEMV) j++;
        if (j == n_ops || j == taken) continue;
        qb_planes p;
        qb_planes_of(ops[j].type, ops[j].g.n_in, ops[j].g.n_out, &p);
        ops[i].pf = ops[j].g.w;
        ops[i].pf_bytes = (p.total < pf_max ? p.total : pf_max) & ~(size_t)15;
        taken = j;
    }
}

// ---- the device side -----------------------------------------------------------------------

__device__ __forceinline__ unsigned qb_ld_relaxed(const unsigned *p) {
#ifdef QB_SIMT
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
#else
    return *(const volatile unsigned *)p;
#endif
}

__device__ __forceinline__ void qb_spin_pause(unsigned ns = 0) {
#ifdef QB_SIMT
    (void)ns;
    qb_simt_pause();
#else
    if (ns) __nanosleep(ns);
#endif
}

// The arrival and the poll with release and acquire semantics instead of
// fences around relaxed operations (CUTLASS's grid barrier does so): after
// __syncthreads the release is cumulative over the block's writes.
__device__ __forceinline__ void qb_arrive_release(unsigned *p) {
#ifdef QB_SIMT
    __atomic_fetch_add(p, 1u, __ATOMIC_RELEASE);
#else
    asm volatile("red.release.gpu.global.add.u32 [%0], 1;" ::"l"(p) : "memory");
#endif
}
__device__ __forceinline__ unsigned qb_ld_acquire(const unsigned *p) {
#ifdef QB_SIMT
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
#else
    unsigned v;
    asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
    return v;
#endif
}

// Every block of the grid arrives before any leaves; what a block wrote before
// is visible to every block after (the fences, as in cooperative groups' grid
// sync; or, with acqrel, a releasing arrival and acquiring polls). The arrival
// count only grows: barrier k of the grid's life is passed when it reaches
// (k + 1) x gridDim.x, which the caller counts (no reset, no second flag: one
// atomic on the critical path). Compared modulo 2^32.
__device__ __forceinline__ void qb_grid_sync(unsigned *arrivals, unsigned target, unsigned spin_ns, int acqrel) {
    __syncthreads();
    if (threadIdx.x == 0) {
        if (acqrel) {
            qb_arrive_release(arrivals);
            while ((int)(qb_ld_acquire(arrivals) - target) < 0) qb_spin_pause(spin_ns);
        } else {
            __threadfence();
            atomicAdd(arrivals, 1u);
            while ((int)(qb_ld_relaxed(arrivals) - target) < 0) qb_spin_pause(spin_ns);
            __threadfence();
        }
    }
    __syncthreads();
}

// The GEMV op functions take the op (global memory) and copy its arguments
// themselves: a copy made by the caller would sit on its stack, and every
// field the loop reads would be a local-memory load.
template <class TT, int R>
__device__ __noinline__ void qb_step_gemv_rows(const qb_step_op &op, const float *x, int pos) {
    gemv_args a = op.g;
    a.pos0 = pos;
    const int groups = (a.n_out + R - 1) / R;
    for (int grp = blockIdx.x; grp < groups; grp += gridDim.x) {
        qb_gemv_rows<TT, R>(a, grp * R, a.n_out, [&] { return x; });
        __syncthreads(); // the group's partial sums are read before the next group writes them
    }
}

// The largest value's key: its bits made order-preserving as unsigned, then
// the complement of its index, so that atomicMax keeps the first of equals.
__device__ __forceinline__ unsigned long long qb_argmax_key(float v, int i) {
    uint32_t u = __float_as_uint(v);
    u = (u & 0x80000000u) ? ~u : u | 0x80000000u;
    return ((unsigned long long)u << 32) | (0xffffffffu - (uint32_t)i);
}

// The block's largest key into *amax, one atomic: k is each warp's own in its
// lane 0 (the other lanes' do not count).
__device__ __forceinline__ void qb_block_key_max(unsigned long long k, unsigned long long *amax) {
    __shared__ unsigned long long wbest[QB_STEP_THREADS / 32];
    if ((threadIdx.x & 31) == 0) wbest[threadIdx.x >> 5] = k;
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < (int)(blockDim.x >> 5); w++) k = wbest[w] > k ? wbest[w] : k;
        if (k) atomicMax(amax, k);
    }
}

// x[0, n) into shared memory, by the whole block.
__device__ __forceinline__ void qb_stage_x(float *xs, const float *x, int n) {
#pragma unroll 4
    for (int i = 4 * threadIdx.x; i < n; i += 4 * blockDim.x)
        if (i + 4 <= n) *(float4 *)(xs + i) = ldx4(x, i);
        else
            for (int k = i; k < n; k++) xs[k] = x[k];
    __syncthreads();
}

// The owed barrier, then the layernorm of x or its copy in shared memory, as
// d says (qb_step_defer): the input the GEMV reads. Called by every thread.
__device__ __forceinline__ const float *qb_step_ready(const qb_step_defer &d, const gemv_args &a, const float *x) {
    if (d.arrivals) qb_grid_sync(d.arrivals, d.target, d.spin_ns, d.acqrel);
    else if (!d.stage) return x; // ready before the call
    if (a.ln_g) {
        ln_to_smem(d.xln, a);
        return d.xln;
    }
    if (!d.stage) return x;
    qb_stage_x(d.xln, x, a.n_in);
    return d.xln;
}
// W8A8 GEMVs are never deferred (their x is quantized before the call).
__device__ __forceinline__ const qb_xq *qb_step_ready(const qb_step_defer &, const gemv_args &, const qb_xq *x) {
    return x;
}

template <class TT, int R, class X>
__device__ __noinline__ void qb_step_gemv_warp(const qb_step_op &op, X x, int pos, unsigned long long *amax,
                                               qb_step_defer d) {
    gemv_args a = op.g;
    a.pos0 = pos;
    const int per = blockDim.x >> 5;
    unsigned long long best = 0; // lane 0's: the best key of the rows this warp stored
    auto ready = [&] { return qb_step_ready(d, a, x); };
    qb_gemv_warp_rows<TT, R>(a, ready, blockIdx.x * per + (threadIdx.x >> 5), gridDim.x * per, [&](int row0) {
        const int n = a.n_out - row0 < R ? a.n_out - row0 : R;
        if (op.heads) {
            // The group's rows (stored above by this lane) are one head's: publish them.
            const int E = a.n_out / 3;
            __threadfence();
            atomicAdd(op.heads + (row0 % E) / op.head_dim, (unsigned)n);
        }
        if (op.argmax)
            for (int r = 0; r < n; r++) {
                const unsigned long long k = qb_argmax_key(a.y[row0 + r], row0 + r);
                best = k > best ? k : best;
            }
    });
    if (op.argmax) qb_block_key_max(best, amax);
}

template <class TT>
__device__ __forceinline__ void qb_step_gemv_t(const qb_step_op &op, int pos, const float *x,
                                               unsigned long long *amax, const qb_step_defer &d) {
    const int R = op.R;
    if (op.warp) switch (R) {
        case 1: qb_step_gemv_warp<TT, 1>(op, x, pos, amax, d); break;
        case 4: qb_step_gemv_warp<TT, 4>(op, x, pos, amax, d); break;
        default: qb_step_gemv_warp<TT, 2>(op, x, pos, amax, d); break;
        }
    else switch (R) {
        case 1: qb_step_gemv_rows<TT, 1>(op, x, pos); break;
        case 4: qb_step_gemv_rows<TT, 4>(op, x, pos); break;
        case 8: qb_step_gemv_rows<TT, 8>(op, x, pos); break;
        default: qb_step_gemv_rows<TT, 2>(op, x, pos); break;
        }
}

// x[g*32 .. g*32+32) of the embedding (groups g = first, first + stride, ...).
__device__ __noinline__ void qb_embed_groups(const qb_step_op &op, int token, int pos, float *x, int first,
                                               int stride) {
    const int groups = (op.n + 31) / 32;
    const int id = token < 0 ? 0 : token >= op.n_vocab ? op.n_vocab - 1 : token; // the host validates
    const int p = pos >= op.n_pos ? op.n_pos - 1 : pos;
    for (int g = first; g < groups; g += stride) {
        float a[32], b[32];
        qb_deq32_any(op.wte_type, op.wte, op.pe, id, g, op.n, a);
        qb_deq32_any(op.wpe_type, op.wpe, op.pp, p, g, op.n, b);
        for (int k = 0; k < 32 && g * 32 + k < op.n; k++) x[g * 32 + k] = a[k] + b[k];
    }
}

__device__ __noinline__ void qb_step_embed(const qb_step_op &op, int token, int pos) {
    qb_embed_groups(op, token, pos, op.x, blockIdx.x * blockDim.x + threadIdx.x, gridDim.x * blockDim.x);
}

// W8A8 (op.act8): x quantized into xq by this block, then the dp4a lane code.
template <class TA>
__device__ __forceinline__ void qb_step_gemv_q8a(const qb_step_op &op, int pos, const float *x, qb_xq *xq,
                                                 unsigned long long *amax) {
    qb_quantize_x(x, op.g.n_in, xq);
    switch (op.R) {
    case 1: qb_step_gemv_warp<TA, 1>(op, (const qb_xq *)xq, pos, amax, qb_step_defer{}); break;
    case 4: qb_step_gemv_warp<TA, 4>(op, (const qb_xq *)xq, pos, amax, qb_step_defer{}); break;
    default: qb_step_gemv_warp<TA, 2>(op, (const qb_xq *)xq, pos, amax, qb_step_defer{}); break;
    }
}

__device__ __forceinline__ void qb_step_gemv(const qb_step_op &op, int token, int pos, float *xln, float *xemb,
                                             qb_xq *xq, unsigned long long *amax, const qb_step_defer &d) {
    gemv_args a = op.g; // (the op functions below copy it again with pos0 set)
    if (op.embed) { // x looked up here (block 0 also stores it: the residual stream starts there)
        qb_embed_groups(op, token, pos, xemb, threadIdx.x, blockDim.x);
        __syncthreads();
        if (blockIdx.x == 0)
            for (int i = threadIdx.x; i < op.n; i += blockDim.x) op.x[i] = xemb[i];
        a.x = xemb;
    }
    // No rows here: blocks (or, warp by warp, all four warps) past the groups.
    if ((int)blockIdx.x * op.R * (op.warp ? QB_STEP_THREADS / 32 : 1) >= a.n_out) {
        if (d.arrivals) qb_grid_sync(d.arrivals, d.target, d.spin_ns, d.acqrel);
        return;
    }
    const float *x = a.x;
    if (a.ln_g && !d.arrivals && !d.stage) { // (else in qb_step_ready, after the first loads)
        ln_to_smem(xln, a);
        x = xln;
    }
    if (op.act8) {
        if (op.type == QB_TYPE_Q8_0) qb_step_gemv_q8a<TQ8_0A>(op, pos, x, xq, amax);
        else if (op.type == QB_TYPE_Q4_0) qb_step_gemv_q8a<TQ4_0A>(op, pos, x, xq, amax);
        return; // the host sets act8 only for these two
    }
    switch (op.type) {
    case QB_TYPE_F32: qb_step_gemv_t<TF32>(op, pos, x, amax, d); break;
    case QB_TYPE_F16: qb_step_gemv_t<THalf<false>>(op, pos, x, amax, d); break;
    case QB_TYPE_BF16: qb_step_gemv_t<THalf<true>>(op, pos, x, amax, d); break;
    case QB_TYPE_Q8_0: qb_step_gemv_t<TQ8_0>(op, pos, x, amax, d); break;
    case QB_TYPE_Q4_0: qb_step_gemv_t<TQ4<QB_TYPE_Q4_0>>(op, pos, x, amax, d); break;
    case QB_TYPE_Q4_1: qb_step_gemv_t<TQ4<QB_TYPE_Q4_1>>(op, pos, x, amax, d); break;
    case QB_TYPE_IQ4_NL: qb_step_gemv_t<TQ4<QB_TYPE_IQ4_NL>>(op, pos, x, amax, d); break;
    case QB_TYPE_Q4_K: qb_step_gemv_t<TQ4_K>(op, pos, x, amax, d); break;
    case QB_TYPE_Q6_K: qb_step_gemv_t<TQ6_K>(op, pos, x, amax, d); break;
    default: break; // the host builds GEMV ops only for these
    }
}


__device__ __noinline__ void qb_step_attn(const qb_step_op &op, int pos, unsigned epoch) {
    const int S = (pos + 1 + CH - 1) / CH; // chunks of keys 0..pos
    const int items = op.n_head * S;
    for (int it = blockIdx.x; it < items; it += gridDim.x) {
        if (op.heads) { // no barrier after the QKV op: wait for this head's q, k and v rows
            if (threadIdx.x == 0) {
                const unsigned want = (epoch * (unsigned)op.n_layer + (unsigned)op.layer + 1) * 3u * (unsigned)op.D;
                while ((int)(qb_ld_relaxed(op.heads + it / S) - want) < 0) qb_spin_pause();
                __threadfence();
            }
            __syncthreads();
        }
        qb_attn_chunk<ATT_THREADS>(op.out, op.q, op.q_stride, op.kc, op.vc, pos, (const int *)NULL, op.n_head, op.D, S, op.part,
                      op.counters, it % S, it / S, 0, [] {});
        __syncthreads(); // the chunk's shared arrays are done with before the next chunk
    }
}

__device__ __noinline__ void qb_step_argmax(const qb_step_op &op, unsigned long long *amax) {
    unsigned long long k = 0;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < op.n; i += gridDim.x * blockDim.x) {
        const unsigned long long ki = qb_argmax_key(op.x[i], i);
        k = ki > k ? ki : k;
    }
    for (int o = 16; o > 0; o >>= 1) {
        const unsigned hi = __shfl_xor_sync(0xffffffffu, (unsigned)(k >> 32), o);
        const unsigned lo = __shfl_xor_sync(0xffffffffu, (unsigned)k, o);
        const unsigned long long ko = ((unsigned long long)hi << 32) | lo;
        k = ko > k ? ko : k;
    }
    qb_block_key_max(k, amax);
}


// ops[i] towards the shared slot `to` (ctl.ops_smem), by the block's first threads.
static_assert(sizeof(qb_step_op) % 16 == 0, "an op is whole 16-byte pieces (cp.async; the op array is 16-aligned)");
__device__ __forceinline__ void qb_step_op_fetch(uint4 *to, const qb_step_op *ops, int i) {
    if (threadIdx.x < sizeof(qb_step_op) / 16) qb_async_copy16(to + threadIdx.x, (const uint4 *)(ops + i) + threadIdx.x);
}

// The step: every block runs every op's share, a grid barrier after each.
__device__ __forceinline__ void qb_decode_step(const qb_step_op *ops, int n_ops, qb_step_ctl ctl, int pos) {
    // A GEMV's input in shared memory, one buffer for what no op uses together:
    // x staged whole (up to QB_XS_MAX values, from xln on), or its layernorm (xln), the
    // embedding the first GEMV looks up (xemb) and a W8A8 GEMV's quantized x (xq).
    __shared__ float4 xbuf4[QB_XS_MAX / 4];
    float *xln = (float *)xbuf4, *xemb = xln + QB_LN_FUSE_MAX; // (xs is xln)
    qb_xq &xq = *(qb_xq *)(xln + 2 * QB_LN_FUSE_MAX);
    static_assert(sizeof(qb_xq) <= (QB_XS_MAX - 2 * QB_LN_FUSE_MAX) * sizeof(float), "xq fits after xln and xemb");
    __shared__ uint4 op_buf[2][sizeof(qb_step_op) / 16]; // ctl.ops_smem: op i in slot i % 2
    if (ctl.ops_smem) {
        qb_step_op_fetch(op_buf[0], ops, 0);
        qb_async_wait();
        __syncthreads();
    }
    const int token = *ctl.token;
    const unsigned epoch = *ctl.epoch;
    unsigned passed = epoch * (unsigned)ctl.syncs * gridDim.x; // arrivals before this step
    bool owed = false; // ctl.early: the barrier after the last op, not yet waited for
    for (int i = 0; i < n_ops; i++) {
        const qb_step_op &op = ctl.ops_smem ? *(const qb_step_op *)op_buf[i % 2] : ops[i];
        const int sync = op.sync; // (read now: after the op's __syncthreads its slot may be refilled)
        // The next op on its way to the other slot: every warp left the op that used it
        // (the __syncthreads after each op, below).
        if (ctl.ops_smem && i + 1 < n_ops) qb_step_op_fetch(op_buf[(i + 1) % 2], ops, i + 1);
        // A warp-mode, weight-only GEMV that reads x itself: it may wait for its
        // barrier and prepare its input after its first loads (qb_step_ready).
        const bool streams = op.kind == QB_OP_GEMV && op.warp && !op.act8 && !op.embed;
        const bool defer = owed && ctl.work && streams;
        if (owed && !defer) qb_grid_sync(ctl.arrivals, passed, ctl.spin_ns, ctl.acqrel);
        const bool stage = ctl.stage && streams && op.g.n_in <= QB_XS_MAX;
        const qb_step_defer d = {defer ? ctl.arrivals : (unsigned *)NULL, passed, ctl.spin_ns, ctl.acqrel != 0, stage,
                                 xln};
        owed = false;
        unsigned long long *tr = ctl.trace ? ctl.trace + 2 * ((size_t)i * gridDim.x + blockIdx.x) : NULL;
        if (tr && threadIdx.x == 0) tr[0] = qb_global_ns();
        qb_prefetch_share_l2(op.pf, op.pf_bytes);
        if (ctl.work) switch (op.kind) {
        case QB_OP_EMBED: qb_step_embed(op, token, pos); break;
        case QB_OP_GEMV: qb_step_gemv(op, token, pos, xln, xemb, &xq, ctl.amax, d); break;
        case QB_OP_ATTN: qb_step_attn(op, pos, epoch); break;
        case QB_OP_ARGMAX: qb_step_argmax(op, ctl.amax); break;
        default: break;
        }
        if (ctl.ops_smem) qb_async_wait();
        if (tr || ctl.ops_smem) __syncthreads();
        if (tr && threadIdx.x == 0) tr[1] = qb_global_ns();
        if (sync) {
            passed += gridDim.x;
            if (ctl.early) owed = true;
            else qb_grid_sync(ctl.arrivals, passed, ctl.spin_ns, ctl.acqrel);
        }
    }
    if (owed) qb_grid_sync(ctl.arrivals, passed, ctl.spin_ns, ctl.acqrel);
    // Every block's key is in: the winner to the token slot, the key reset for the next step.
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        const unsigned long long k = *(volatile unsigned long long *)ctl.amax;
        *ctl.token = k ? (int)(0xffffffffu - (uint32_t)k) : 0; // no key: ops skipped (ctl.work 0)
        *ctl.amax = 0;
        *ctl.epoch = epoch + 1;
    }
}
