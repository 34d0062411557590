// gemv.cu: the batch-1 decode matmul y = W x + b for every weight type,
// reading each weight byte once.
//
// A block owns R rows; its warps split the row into steps. In one step a warp's 32 lanes read one contiguous run of a
// row's quant plane (each lane a 16-, 8- or 4-byte word, so the warp's load
// is coalesced) and the lanes' x values are contiguous too; the loads of the
// next steps are issued before the arithmetic of the current one. Weights are
// read with L1::no_allocate so the streamed matrix does not evict x from L1,
// where every warp of the SM finds it. Quant bits become floats without the
// slow integer-to-float unit: a byte b placed in the mantissa of 2^23 is the
// float 2^23 + b, and one subtraction removes the offset and the zero point.
//
// Q4_0, Q4_1, Q8_0, IQ4_NL and Q4_K also have a tensor-core lane code (gemv_mma.cuh), taken
// where the tuner times it faster (R < 0: -R rows a block; QB_CUDA_GEMV_MMA=0 never).
#include "common.cuh"
#include "gemv.cuh"
#include "gemv_mma.cuh"

// LEAN: the decode chain's GEMV (no fused layernorm of x, no last-block
// layernorm of y, no L2 prefetch of later weights: the folded chain uses
// none of them), those paths compiled out, and of the rest only those of its
// role P (QB_GEMV_CONSUMER or _PRODUCER; QB_GEMV_ALL when not LEAN).
// DEEP (lean kernels only): more steps loaded ahead, for long rows (qb_gemv_unroll).
// MMA: TT is a tensor-core lane code (gemv_mma.cuh) and R its rows a block;
// W its warps a block (KS, or 8: qb_gemv_wide_of(R); lean kernels only).
template <class TT, int R, bool LEAN, int P, bool DEEP = false, bool MMA = false, int W = KS>
__global__ void __launch_bounds__(32 * W) k_gemv(gemv_args a) {
    extern __shared__ float4 xsm4[]; // layernorm(x), or the staging of the output's (launch_t sizes it)
    float *xs = (float *)xsm4;
    if (!a.trig_wait) qb_grid_launch_dependents();
    qb_trace_mark(a.tr, 0);
    // The layernorm the last block makes reads its gain and bias from DRAM otherwise (each layer's
    // own: the streamed weights evict them from L2 between steps), on the chain's critical path.
    if (!LEAN && a.lo_out && blockIdx.x == 0) qb_prefetch_rows<true>(a.lo_g, a.lo_b, a.n_out);
    auto ready = [&]() -> const float * {
        if (!LEAN) qb_prefetch_share_l2(a.pf, a.pf_bytes);
        qb_grid_wait();
        if (a.trig_wait) qb_grid_launch_dependents();
        qb_trace_mark(a.tr, 1);
        if (LEAN || !a.ln_g) return a.x;
        if (a.st_in) ln_stats_to_smem(xs, a);
        else ln_to_smem(xs, a);
        return xs;
    };
    if constexpr (MMA) qb_gemv_rows_mma<TT, R, P, W>(a, blockIdx.x * R, a.n_out, ready);
    else qb_gemv_rows<TT, R, P, DEEP>(a, blockIdx.x * R, a.n_out, ready);
    if (!LEAN && a.lo_out) qb_ln_by_last_block(a, xs);
    qb_trace_mark(a.tr, 2);
}

// split: blocks a row (the tensor-core code only; 1 where the output's
// layernorm by the last block is asked for or the workspace is too small).
// The paths a product's kernel builds in: a role's (lean: QB_GEMV_CONSUMER or
// _PRODUCER) unless it normalises x, makes the output's layernorm or
// prefetches, which only QB_GEMV_ALL's kernel does.
static int kernel_role(const gemv_args &a) {
    return !a.ln_g && !a.lo_out && !a.pf_bytes ? qb_gemv_role(a) : QB_GEMV_ALL;
}

template <class TT, int R, bool MMA = false, int W = KS>
static void launch_t(qb_cuda *c, const gemv_args &a0, int split = 1) {
    gemv_args a = a0;
    // x normalised in shared memory; from carried statistics g and b are staged there too, as for
    // the output's layernorm by the last block.
    const size_t smem = a.ln_g      ? ((size_t)(a.st_in ? 3 : 1) * a.n_in + 4) * sizeof(float)
                        : a.lo_out ? 3 * (size_t)a.n_out * sizeof(float)
                                   : 0;
    if (a.lo_out && a.n_out > QB_LN_FUSE_MAX)
        qb_die(QB_EXIT_DATA, "cuda: gemv: a layernorm of the output takes at most %d values, not %d", QB_LN_FUSE_MAX,
               a.n_out);
    if (a.ln_g && a.n_in > QB_LN_FUSE_MAX)
        qb_die(QB_EXIT_DATA, "cuda: gemv: a fused layernorm takes at most %d values, not %d", QB_LN_FUSE_MAX, a.n_in);
    const int groups = (a.n_out + R - 1) / R;
    if (split > 1 && (a.lo_out || groups > QB_CUDA_SPLIT_GROUPS || (size_t)groups * split * R > QB_CUDA_SPLIT_SUMS))
        split = 1;
    a.sk_part = c->sk_part, a.sk_ctr = c->sk_ctr;
    const dim3 grid((unsigned)groups, (unsigned)split);
    qb_cuda_trace_blocks(c, a.tr, (size_t)groups * split); // (split may have been left out above)
    const int role = kernel_role(a);
    static_assert(W == KS || MMA, "more warps a block: the tensor-core code only");
    if (W != KS && role == QB_GEMV_ALL) qb_die(QB_EXIT_DATA, "cuda: gemv: %d warps a block on a lean product only", W);
    void (*kernel)(gemv_args) = role == QB_GEMV_CONSUMER   ? k_gemv<TT, R, true, QB_GEMV_CONSUMER, false, MMA, W>
                                : role == QB_GEMV_PRODUCER ? k_gemv<TT, R, true, QB_GEMV_PRODUCER, false, MMA, W>
                                : W == KS                  ? k_gemv<TT, R, false, QB_GEMV_ALL, false, MMA>
                                                           : NULL;
    // Long rows (QB_CUDA_GEMV_DEEP steps a warp or more) of the types that gain by it load deeper ahead.
    if constexpr (!MMA)
        if constexpr (TT::DEEP)
            if (role != QB_GEMV_ALL && c->gemv_deep && TT::steps(a.n_in) >= KS * c->gemv_deep)
                kernel = role == QB_GEMV_CONSUMER ? k_gemv<TT, R, true, QB_GEMV_CONSUMER, true>
                                                  : k_gemv<TT, R, true, QB_GEMV_PRODUCER, true>;
    qb_launch(c, kernel, grid, dim3(32 * W), smem, a);
}

template <class TT>
static void launch_r(qb_cuda *c, const gemv_args &a, int R) {
    switch (R) {
    case 1: launch_t<TT, 1>(c, a); break;
    case 4: launch_t<TT, 4>(c, a); break;
    case 8: launch_t<TT, 8>(c, a); break;
    default: launch_t<TT, 2>(c, a); break;
    }
}

// The tensor-core lane code of 8 or 16 rows a block (R -8 or -16), each row
// over qb_gemv_split_of(R) blocks.
// qb_gemv_wide_of(R): 8 warps a block, not KS, where the product is lean (a
// matrix of few long rows: gpt2-xl's 1600 x 6400 makes 100 blocks of 16 rows,
// each of 4 warps with 12-13 steps in a row).
template <class MT>
static void launch_mma(qb_cuda *c, const gemv_args &a, int R) {
    const int rows = -qb_gemv_rows_of(R), S = qb_gemv_split_of(R);
    if (qb_gemv_wide_of(R) && kernel_role(a) != QB_GEMV_ALL) {
        if (rows == 16) launch_t<MT, 16, true, 8>(c, a, S);
        else launch_t<MT, 8, true, 8>(c, a, S);
    } else if (rows == 16)
        launch_t<MT, 16, true>(c, a, S);
    else
        launch_t<MT, 8, true>(c, a, S);
}

static void dispatch(qb_cuda *c, const gemv_args &a, qb_type t, int R);

// The rows per block the tuners try for type t at n_out x n_in: 1, 2, 4 and
// 8 rows of the CUDA-core lane code, then (unless QB_CUDA_GEMV_MMA=0) -8 and
// -16, the tensor-core one, where t has it; where the matrix makes fewer
// than two blocks an SM (QB_CUDA_GEMV_WIDE=2: on every matrix), that one with
// 8 warps a block (unless QB_CUDA_GEMV_WIDE=0) and (QB_CUDA_GEMV_SPLIT=1)
// with each row split over S = 2, 4 or 8 blocks where each of a row's S
// blocks still gives every warp a step (a step: 4 units of 32 weights, Q4_K's
// of 64). Returns how many (at most QB_GEMV_CHOICES).
#define QB_GEMV_CHOICES 16
static int row_choices(const qb_cuda *c, qb_type t, int n_out, int n_in, int *R) {
    int n = 0;
    for (int r = 1; r <= 8; r *= 2) R[n++] = r;
    if (!c->gemv_mma || !qb_gemv_has_mma(t)) return n;
    const int step = 4 * 32 * (t == QB_TYPE_Q4_K ? 2 : 1), steps = (n_in + step - 1) / step; // weights a step
    for (int rows = 8; rows <= 16; rows *= 2) {
        R[n++] = -rows;
        const int groups = (n_out + rows - 1) / rows;
        // Under two blocks an SM the GPU is short of warps: more of them a block, or a row over
        // several blocks, can put the idle SMs to work.
        const int few = groups < 2 * c->prop.multiProcessorCount;
        if (c->gemv_wide == 2 || (c->gemv_wide && few)) R[n++] = qb_gemv_choice(-rows, 1, 1);
        for (int S = 2; S <= 8; S *= 2)
            if (c->gemv_split && few && steps >= S * KS && groups <= QB_CUDA_SPLIT_GROUPS &&
                (size_t)groups * S * rows <= QB_CUDA_SPLIT_SUMS)
                R[n++] = qb_gemv_choice(-rows, S, 0);
    }
    return n;
}

// The rows per block forced for this shape (QB_CUDA_GEMV_R, QB_CUDA_GEMV_RS), else 0.
static int forced_rows(const qb_cuda *c, int n_out, int n_in) {
    if (c->gemv_r_forced) return c->gemv_r_forced;
    for (int i = 0; i < c->n_r_shape; i++)
        if (c->r_shape[i].n_out == n_out && c->r_shape[i].n_in == n_in) return c->r_shape[i].R;
    return 0;
}

// Milliseconds that n calls of run() take on the stream.
template <class F>
static float batch_ms(qb_cuda *c, cudaEvent_t e0, cudaEvent_t e1, int n, F run) {
    CK(cudaEventRecord(e0, c->stream));
    for (int k = 0; k < n; k++) run();
    CK(cudaEventRecord(e1, c->stream));
    CK(cudaEventSynchronize(e1));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    return ms;
}

// Rows per block, tuned once per matrix shape and type on this device: the
// best of row_choices (event-timed, the matrix itself, a scratch output) at the
// shape's first use outside graph capture; 2 until then. QB_CUDA_GEMV_R forces one.
static int tuned_rows(qb_cuda *c, const gemv_args &a0, qb_type t) {
    if (const int R = forced_rows(c, a0.n_out, a0.n_in)) return R;
    for (int i = 0; i < c->n_tuned; i++)
        if (c->tuned[i].type == (int)t && c->tuned[i].n_in == a0.n_in && c->tuned[i].n_out == a0.n_out)
            return c->tuned[i].R;
    if (c->capturing || c->n_tuned == QB_CUDA_TUNED) return 2;
    gemv_args a = a0;
    a.bias = NULL, a.epi = QB_CUDA_STORE, a.k_cache = a.v_cache = NULL, a.ln_g = a.ln_b = NULL, a.pf_bytes = 0;
    a.tr = NULL, a.st_out = NULL, a.st_in = NULL, a.lo_out = NULL, a.yg_out = NULL, a.fold_wg = NULL;
    a.y = (float *)qb_cuda_alloc(c, (size_t)a.n_out * sizeof(float));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    int best = 2;
    float best_ms = 1e30f;
    int choice[QB_GEMV_CHOICES];
    const int n_choice = row_choices(c, t, a0.n_out, a0.n_in, choice);
    for (int ci = 0; ci < n_choice; ci++) {
        const int R = choice[ci];
        for (int k = 0; k < 3; k++) dispatch(c, a, t, R);
        float ms[5];
        for (int k = 0; k < 5; k++) ms[k] = batch_ms(c, e0, e1, 4, [&] { dispatch(c, a, t, R); });
        float m = ms[0];
        for (int k = 1; k < 5; k++) m = fminf(m, ms[k]);
        if (m < best_ms * 0.98f) best_ms = m, best = R; // ties go to the earlier choice (fewer rows, CUDA cores, no split)
    }
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    qb_cuda_free(c, a.y);
    c->tuned[c->n_tuned++] = {(int)t, a0.n_in, a0.n_out, best};
    return best;
}

// The mean time of one replay of the graph record(arg) captures: the fastest
// of three batches of replays, each about 5 ms, after two.
static float graph_ms(qb_cuda *c, void (*record)(void *), void *arg, cudaEvent_t e0, cudaEvent_t e1) {
    qb_cuda_graph_begin(c);
    record(arg);
    qb_cuda_graph_end(c);
    for (int k = 0; k < 2; k++) qb_cuda_graph_launch(c);
    float best = 1e30f;
    int n = 4;
    for (int b = 0; b < 3; b++) {
        const float ms = batch_ms(c, e0, e1, n, [&] { qb_cuda_graph_launch(c); }) / (float)n;
        best = fminf(best, ms);
        n = (int)(5.0f / ms);
        n = n < 4 ? 4 : n > 64 ? 64 : n;
    }
    return best;
}

void qb_cuda_graph_tune(qb_cuda *c, void (*record)(void *), void *arg) {
    if (!c->graph_tune || c->gemv_r_forced) return;
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    float best = graph_ms(c, record, arg, e0, e1);
    for (int i = 0; i < c->n_tuned; i++) {
        if (forced_rows(c, c->tuned[i].n_out, c->tuned[i].n_in)) continue;
        const int was = c->tuned[i].R;
        int keep = was;
        int choice[QB_GEMV_CHOICES];
        const int n_choice = row_choices(c, (qb_type)c->tuned[i].type, c->tuned[i].n_out, c->tuned[i].n_in, choice);
        for (int ci = 0; ci < n_choice; ci++) {
            const int R = choice[ci];
            if (R == was) continue;
            c->tuned[i].R = R;
            const float ms = graph_ms(c, record, arg, e0, e1);
            if (ms < best * 0.99f) best = ms, keep = R;
        }
        c->tuned[i].R = keep;
        if (c->graph_tune == 2)
            fprintf(stderr, "cuda: graph tune: %dx%d type %d: R %d -> %d (step %.1f us)\n", c->tuned[i].n_out,
                    c->tuned[i].n_in, c->tuned[i].type, was, keep, 1000.0f * best);
    }
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    qb_cuda_graph_begin(c);
    record(arg);
    qb_cuda_graph_end(c);
}

// y = W x + bias with epilogue epi and nothing else (no layernorm, K/V store,
// prefetch, statistics or trace); w's planes in p. Dies on a type the GEMV lacks.
static gemv_args plain_args(const qb_weight *w, float *y, const float *x, const float *bias, int epi, qb_planes *p) {
    if (!qb_planes_of(w->type, w->n_in, w->n_out, p))
        qb_die(QB_EXIT_DATA, "cuda: gemv: weight type %d with %d inputs not supported", (int)w->type, w->n_in);
    return {y, x, (const uint8_t *)w->data, p->qrow, p->srow, p->scales_off, w->n_in, w->n_out, bias, epi,
            NULL, NULL, 0, NULL, NULL, NULL, 0.0f, NULL, 0, NULL, NULL, NULL,
            NULL, NULL, NULL, 0.0f, NULL, NULL, NULL, NULL, NULL, NULL, 0};
}

void qb_cuda_gemv_full(qb_cuda *c, float *y, const float *x, const qb_weight *w, const float *bias,
                       qb_cuda_epilogue epi, int rows_per_warp, uint16_t *k_cache, uint16_t *v_cache, int pos0,
                       const float *ln_g, const float *ln_b, float ln_eps) {
    qb_planes p;
    gemv_args a = plain_args(w, y, x, bias, (int)epi, &p);
    if ((uintptr_t)x % 16) qb_die(QB_EXIT_DATA, "cuda: gemv: x must be 16-byte aligned");
    a.k_cache = (__half *)k_cache, a.v_cache = (__half *)v_cache, a.pos0 = pos0, a.d_pos = c->d_pos;
    a.ln_g = ln_g, a.ln_b = ln_b, a.ln_eps = ln_eps;
    a.pf = (const uint8_t *)c->pf_ptr, a.pf_bytes = c->pf_bytes;
    a.st_out = c->st_out_next, a.st_in = ln_g ? c->st_in_next : NULL;
    if (c->st_out_next && c->lo_next.out) {
        a.lo_out = c->lo_next.out, a.lo_g = c->lo_next.g, a.lo_b = c->lo_next.b, a.lo_eps = c->lo_next.eps;
        a.lo_ctr = c->lo_next.ctr;
    }
    if (c->fold_next.wg) a.fold_wg = c->fold_next.wg, a.st_in = c->fold_next.st;
    else if (c->st_out_next && c->yg_next.out) a.yg_out = c->yg_next.out, a.yg_g = c->yg_next.g; // (one or the other)
    a.trig_wait = c->gemv_trigger == 1 || (c->gemv_trigger == 2 && c->after_attn);
    c->after_attn = 0;
    c->pf_ptr = NULL, c->pf_bytes = 0; // hints for this GEMV alone
    c->st_out_next = NULL, c->st_in_next = NULL, c->lo_next.out = NULL, c->yg_next.out = NULL, c->fold_next.wg = NULL;
    const int R = rows_per_warp ? rows_per_warp : tuned_rows(c, a, w->type);
    const int rows = abs(qb_gemv_rows_of(R));
    a.tr = qb_cuda_trace_slot(c, "gemv", (int)w->type, w->n_in, w->n_out, p.total,
                              (size_t)(w->n_out + rows - 1) / rows * qb_gemv_split_of(R));
    dispatch(c, a, w->type, R);
}

void qb_cuda_gemv_bare(qb_cuda *c, float *y, const float *x, const qb_weight *w, const float *bias) {
    qb_planes p;
    const gemv_args a = plain_args(w, y, x, bias, QB_CUDA_STORE, &p);
    dispatch(c, a, w->type, tuned_rows(c, a, w->type));
}

// R < 0: the tensor-core lane code where t has one, else 8 rows of the CUDA-core one.
static void dispatch(qb_cuda *c, const gemv_args &a, qb_type t, int R) {
    if (R < 0) {
        if (t == QB_TYPE_Q4_0) return launch_mma<MQ4_0>(c, a, R);
        if (t == QB_TYPE_Q8_0) return launch_mma<MQ8_0>(c, a, R);
        if (t == QB_TYPE_IQ4_NL) return launch_mma<MIQ4_NL>(c, a, R);
        if (t == QB_TYPE_Q4_1) return launch_mma<MQ4_1>(c, a, R);
        if (t == QB_TYPE_Q4_K) return launch_mma<MQ4_K>(c, a, R);
        R = 8;
    }
    switch (t) {
    case QB_TYPE_F32: launch_r<TF32>(c, a, R); break;
    case QB_TYPE_F16: launch_r<THalf<false>>(c, a, R); break;
    case QB_TYPE_BF16: launch_r<THalf<true>>(c, a, R); break;
    case QB_TYPE_Q8_0: launch_r<TQ8_0>(c, a, R); break;
    case QB_TYPE_Q4_0: launch_r<TQ4<QB_TYPE_Q4_0>>(c, a, R); break;
    case QB_TYPE_Q4_1: launch_r<TQ4<QB_TYPE_Q4_1>>(c, a, R); break;
    case QB_TYPE_IQ4_NL: launch_r<TQ4<QB_TYPE_IQ4_NL>>(c, a, R); break;
    case QB_TYPE_Q4_K: launch_r<TQ4_K>(c, a, R); break;
    case QB_TYPE_Q6_K: launch_r<TQ6_K>(c, a, R); break;
    default: qb_die(QB_EXIT_DATA, "cuda: gemv: weight type %d not supported", (int)t);
    }
}

void qb_cuda_gemv(qb_cuda *c, float *y, const float *x, const qb_weight *w, const float *bias,
                  qb_cuda_epilogue epi, int rows_per_warp) {
    qb_cuda_gemv_full(c, y, x, w, bias, epi, rows_per_warp, NULL, NULL, 0, NULL, NULL, 0);
}
