// test_gemv.cpp: the batch-1 GEMV's device code (kernels/cuda/gemv.cuh: every
// weight type's lane code under qb_gemv_rows) on the CPU emulator, as the GEMV
// kernel runs it (each block its R rows, the layernorm fused when asked), for
// every rows-per-block the kernel is built for (1, 2, 4, 8), every epilogue,
// and as the persistent step's warps stream their own row groups
// (qb_gemv_warp_rows), every epilogue, with every path built in or only
// those of the product's role in the folded chain (QB_GEMV_CONSUMER, _PRODUCER),
// the fused layernorm and the K/V store, the layernorm statistics a GEMV
// leaves of the residual it writes and the layernorm made from them by the
// next, with the first steps' loads or (DEEP, at random, and on long FP16
// and BF16 rows as the decode chain's MLP output projection) up to 8 steps
// ahead, on odd shapes (rows not a multiple
// of R, float rows not a multiple of a step), against qb_matmul_ref on the
// same file-layout weights. Fresh random inputs; outputs poisoned with NaN.
// test_cuda checks the same code on a GPU; this runs it in CI, which has none.
#include "sim_util.h" // first: the C headers with C linkage

#include <type_traits>

#include "cuda/gemv.cuh"
#include "cuda/gemv_mma.cuh"
#include "cuda/gemv_q8a.cuh"

struct gemv_case {
    gemv_args a;
    qb_type t;
    int R, warp; // warp: qb_gemv_warp_rows (the persistent step's), else k_gemv's qb_gemv_rows (R < 0: qb_gemv_rows_mma, -R rows)
    int act8;    // W8A8 (warp only): x quantized per block of 32, the dp4a lane code
    int paths;   // k_gemv's qb_gemv_rows: QB_GEMV_ALL, or the role the chain's lean kernel builds in
    int deep;    // k_gemv's qb_gemv_rows loading more steps ahead (long rows; QB_CUDA_GEMV_DEEP)
    int wide;    // the tensor-core code with 8 warps a block, not KS (QB_CUDA_GEMV_WIDE; lean products)
};

// The persistent step's W8A8 GEMV: layernorm, x quantized by the block, warps stream.
template <class TA, int R>
static void rows_q8a(const gemv_args &a) {
    __shared__ float4 xs4[QB_LN_FUSE_MAX / 4];
    __shared__ qb_xq xq;
    const float *x = a.x;
    if (a.ln_g) ln_to_smem((float *)xs4, a), x = (const float *)xs4;
    qb_quantize_x(x, a.n_in, &xq);
    qb_gemv_warp_rows<TA, R>(a, [&] { return (const qb_xq *)&xq; }, blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32,
                             gridDim.x * (blockDim.x / 32), [](int) {});
}
template <class TA>
static void rows_q8a_r(const gemv_args &a, int R) {
    switch (R) {
    case 1: rows_q8a<TA, 1>(a); break;
    case 4: rows_q8a<TA, 4>(a); break;
    default: rows_q8a<TA, 2>(a); break;
    }
}

// The x a k_gemv block multiplies: a.x, or its layernorm in xs4 (fused, or from carried sums).
static const float *block_x(const gemv_args &a, float4 *xs4) {
    if (!a.ln_g) return a.x;
    if (a.st_in) ln_stats_to_smem((float *)xs4, a);
    else ln_to_smem((float *)xs4, a);
    return (const float *)xs4;
}

// k_gemv's tensor-core body (-R = MR rows a block, KW warps), blocks dealt round robin, with the paths P.
template <class MT, int MR, int P, int KW = KS>
static void rows_mma(const gemv_args &a) {
    __shared__ float4 xs4[3 * QB_LN_FUSE_MAX / 4];
    for (int g = blockIdx.x; g < (a.n_out + MR - 1) / MR; g += gridDim.x) {
        qb_gemv_rows_mma<MT, MR, P, KW>(a, g * MR, a.n_out, [&] { return block_x(a, xs4); });
        __syncthreads(); // the next group's rows reuse the partial sums
    }
    if (a.lo_out) qb_ln_by_last_block(a, (float *)xs4);
}
template <class MT, int P>
static void rows_mma_r(const gemv_case *c) {
    if (c->wide) {
        if constexpr (P != QB_GEMV_ALL) { // (lean products only)
            if (c->R == -16) rows_mma<MT, 16, P, 8>(c->a);
            else rows_mma<MT, 8, P, 8>(c->a);
        }
        return;
    }
    if (c->R == -16) rows_mma<MT, 16, P>(c->a);
    else rows_mma<MT, 8, P>(c->a);
}

// k_gemv's body for block g of the grid, blocks dealt round robin, with the paths P.
template <class TT, int R, int P>
static void rows_t(const gemv_args &a, int warp, int deep) {
    __shared__ float4 xs4[3 * QB_LN_FUSE_MAX / 4]; // (x, g and b for a layernorm from carried sums)
    if (warp) { // every warp of the grid streams its own groups, after the block's layernorm
        const float *x = a.x;
        if (a.ln_g) ln_to_smem((float *)xs4, a), x = (const float *)xs4;
        qb_gemv_warp_rows<TT, R>(a, [&] { return x; }, blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, gridDim.x * (blockDim.x / 32),
                                 [](int) {});
        return;
    }
    const int groups = (a.n_out + R - 1) / R;
    auto ready = [&] { return block_x(a, xs4); };
    for (int g = blockIdx.x; g < groups; g += gridDim.x) {
        if (deep) qb_gemv_rows<TT, R, P, true>(a, g * R, a.n_out, ready);
        else qb_gemv_rows<TT, R, P>(a, g * R, a.n_out, ready);
        __syncthreads(); // the next group's rows reuse the partial sums
    }
    if (a.lo_out) qb_ln_by_last_block(a, (float *)xs4);
}

template <class TT, int P>
static void rows_r(const gemv_case *c) {
    if (c->R < 0) { // the tensor-core lane code
        if constexpr (std::is_same<TT, TQ4<QB_TYPE_Q4_0>>::value) return rows_mma_r<MQ4_0, P>(c);
        if constexpr (std::is_same<TT, TQ8_0>::value) return rows_mma_r<MQ8_0, P>(c);
        if constexpr (std::is_same<TT, TQ4<QB_TYPE_IQ4_NL>>::value) return rows_mma_r<MIQ4_NL, P>(c);
        if constexpr (std::is_same<TT, TQ4<QB_TYPE_Q4_1>>::value) return rows_mma_r<MQ4_1, P>(c);
        if constexpr (std::is_same<TT, TQ4_K>::value) return rows_mma_r<MQ4_K, P>(c);
    }
    switch (c->R) {
    case 1: rows_t<TT, 1, P>(c->a, c->warp, c->deep); break;
    case 2: rows_t<TT, 2, P>(c->a, c->warp, c->deep); break;
    case 4: rows_t<TT, 4, P>(c->a, c->warp, c->deep); break;
    default: rows_t<TT, 8, P>(c->a, c->warp, c->deep); break;
    }
}
template <class TT>
static void rows_p(const gemv_case *c) {
    switch (c->paths) {
    case QB_GEMV_CONSUMER: rows_r<TT, QB_GEMV_CONSUMER>(c); break;
    case QB_GEMV_PRODUCER: rows_r<TT, QB_GEMV_PRODUCER>(c); break;
    default: rows_r<TT, QB_GEMV_ALL>(c); break;
    }
}

static void body(void *p) {
    const gemv_case *c = (const gemv_case *)p;
    if (c->act8) {
        if (c->t == QB_TYPE_Q8_0) rows_q8a_r<TQ8_0A>(c->a, c->R);
        else rows_q8a_r<TQ4_0A>(c->a, c->R);
        return;
    }
    switch (c->t) {
    case QB_TYPE_F32: rows_p<TF32>(c); break;
    case QB_TYPE_F16: rows_p<THalf<false>>(c); break;
    case QB_TYPE_BF16: rows_p<THalf<true>>(c); break;
    case QB_TYPE_Q8_0: rows_p<TQ8_0>(c); break;
    case QB_TYPE_Q4_0: rows_p<TQ4<QB_TYPE_Q4_0>>(c); break;
    case QB_TYPE_Q4_1: rows_p<TQ4<QB_TYPE_Q4_1>>(c); break;
    case QB_TYPE_IQ4_NL: rows_p<TQ4<QB_TYPE_IQ4_NL>>(c); break;
    case QB_TYPE_Q4_K: rows_p<TQ4_K>(c); break;
    case QB_TYPE_Q6_K: rows_p<TQ6_K>(c); break;
    default: break;
    }
}

static double gelu_new(double x) { return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }

// One product: n_in x n_out of type t, R rows a block, epilogue epi, with a
// fused layernorm (ln) and, when kv, n_out = 3 n_in with the K and V thirds
// stored at position pos of float16 caches. stats 1: the GEMV also sums its
// outputs and their squares into slots (checked against its own outputs);
// stats 2: the layernorm is made from x's sums, spread over the slots;
// stats 3: as 1, and the last block to finish writes layernorm(y) from them;
// stats 4: as 1, and each row of y times a gain goes to a second output (the
// folded layernorm's producer); stats 5: the layernorm folded into the
// product (x times g in, x's sums spread over the slots, W g and W b + bias
// made by the CPU's qb_matmul_ref).
static qb_pool *pool_q8; // the CPU's W8A8 reference (qb_matmul with int8 activations)

// W8A8 behind a layernorm: the device's layernorm and the CPU's differ in the
// last bits (in ~60 % of the values, by up to 5e-5 of an int8 code step, over
// 240,000 values), so a value next to a rounding tie gets one code here and
// the next there (one value of those 240,000), and one code off can exceed
// the bound (test_gemv failed so once in a few hundred runs). So inputs are drawn
// again while any value of layernorm(x), in its block's code units, lies within
// 1e-3 of a tie.
static bool near_tie(const float *x, const float *g, const float *b, int n) {
    std::vector<float> h((size_t)n);
    qb_layernorm(h.data(), x, g, b, n, 1, 1e-5f);
    for (int k = 0; k + 32 <= n; k += 32) {
        float amax = 0;
        for (int i = k; i < k + 32; i++) amax = fmaxf(amax, fabsf(h[i]));
        const float d = amax / 127, id = d > 0 ? 1.0f / d : 0.0f;
        for (int i = k; i < k + 32; i++) {
            const float v = fabsf(h[i] * id);
            if (fabsf(v - floorf(v) - 0.5f) < 1e-3f) return true;
        }
    }
    return false;
}

// split (the tensor-core code): each row over that many blocks (the grid's height), their sums
// added up by the last of them, through a workspace poisoned with NaN; its counts must end at zero.
static void check(qb_type t, int n_in, int n_out, int R, int warp, int epi, bool ln, bool kv, int act8 = 0,
                  int stats = 0, int deep = -1, int split = 1, int wide = 0) {
    const int pos = 5, E = n_in;
    const qb_weight wf = rand_weight(t, n_in, n_out, 0.1f), wd = upload(&wf);
    float *x = rand_vec(n_in, 0.3f, 1.0f), *bias = rand_vec(n_out, 0.0f, 0.1f);
    float *g = rand_vec(n_in, 1.0f, 0.2f), *b = rand_vec(n_in, 0.0f, 0.2f);
    for (int k = 0; act8 && ln && k < 1000 && near_tie(x, g, b, n_in); k++) x = rand_vec(n_in, 0.3f, 1.0f);
    float *y = (float *)alloc((size_t)n_out * 4);
    std::vector<float> y0((size_t)n_out);
    if (epi == QB_CUDA_ACCUM)
        for (int i = 0; i < n_out; i++) y[i] = y0[i] = (float)tap_normal(&rng);
    else
        poison(y, n_out);
    uint16_t *kc = kv ? (uint16_t *)alloc((size_t)(pos + 1) * E * 2) : NULL;
    uint16_t *vc = kv ? (uint16_t *)alloc((size_t)(pos + 1) * E * 2) : NULL;
    qb_planes p;
    qb_planes_of(t, n_in, n_out, &p);
    gemv_case c = {{y, x, (const uint8_t *)wd.data, p.qrow, p.srow, p.scales_off, n_in, n_out, bias, epi,
                    (__half *)kc, (__half *)vc, pos, NULL, ln ? g : NULL, ln ? b : NULL, 1e-5f, NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0.0f, NULL, NULL, NULL, NULL, NULL, NULL, 0},
                   t, R, warp, act8, QB_GEMV_ALL, 0, wide};
    double *slots = (double *)alloc(QB_STATS_SET * sizeof(double));
    memset(slots, 0, QB_STATS_SET * sizeof(double));
    float *lo = (float *)alloc((size_t)n_out * 4);
    unsigned *ctr = (unsigned *)alloc(sizeof(unsigned));
    float *go = rand_vec(n_out, 1.0f, 0.2f), *bo = rand_vec(n_out, 0.0f, 0.2f);
    *ctr = 0;
    poison(lo, n_out);
    if (stats == 1 || stats == 3) c.a.st_out = slots;
    if (stats == 3) c.a.lo_out = lo, c.a.lo_g = go, c.a.lo_b = bo, c.a.lo_eps = 1e-5f, c.a.lo_ctr = ctr;
    if (stats == 4) c.a.st_out = slots, c.a.yg_out = lo, c.a.yg_g = go;
    if (stats == 2 || stats == 5) {
        for (int i = 0; i < n_in; i++) slots[QB_STATS_STRIDE * (i % QB_STATS_SLOTS)] += x[i], slots[QB_STATS_STRIDE * (i % QB_STATS_SLOTS) + 1] += (double)x[i] * x[i];
        c.a.st_in = slots;
    }
    std::vector<float> xg((size_t)n_in), wg((size_t)n_out), wb((size_t)n_out);
    if (stats == 5) { // (the layernorm's gain and bias are g and b, as a fused one's)
        for (int i = 0; i < n_in; i++) xg[i] = x[i] * g[i];
        qb_matmul_ref(wg.data(), g, &wf, NULL, 1);
        qb_matmul_ref(wb.data(), b, &wf, bias, 1);
        c.a.x = xg.data(), c.a.ln_g = c.a.ln_b = NULL, c.a.bias = wb.data(), c.a.fold_wg = wg.data();
    }
    // Half the products (at random) run with only their role's paths, as the decode chain's lean
    // k_gemv builds them, the others with every path (lm_head's, the unfolded chain's).
    c.paths = tap_normal(&rng) > 0 && !wide ? QB_GEMV_ALL : qb_gemv_role(c.a);
    // Half k_gemv's products (at random) load deeper ahead, as for long rows.
    c.deep = deep >= 0 ? deep : !warp && R > 0 && tap_normal(&rng) > 0;
    const int groups = (n_out + abs(R) - 1) / abs(R);
    c.a.sk_part = (float *)alloc((size_t)groups * split * abs(R) * 4);
    c.a.sk_ctr = (unsigned *)alloc((size_t)groups * sizeof(unsigned));
    poison(c.a.sk_part, groups * split * abs(R));
    memset(c.a.sk_ctr, 0, (size_t)groups * sizeof(unsigned));
    qb_simt_launch({3, (unsigned)split, 1}, {32u * (wide ? 8 : KS), 1, 1}, body, &c);
    bool counts_back = true;
    for (int i = 0; i < groups; i++) counts_back = counts_back && c.a.sk_ctr[i] == 0;
    double st_err = 0; // stats 1, 3: the slots' sums against the outputs' own; 3: the layernorm of y too
    if (stats == 3) {
        std::vector<float> ln((size_t)n_out);
        qb_layernorm(ln.data(), y, go, bo, n_out, 1, 1e-5f);
        std::vector<double> lw(ln.begin(), ln.end());
        st_err = tap_rel_err(lo, lw.data(), n_out) > 1e-5 || *ctr != 0 ? 1.0 : 0.0; // (NaN: unwritten)
    }
    if (stats == 4) { // y * go, as the device rounds it
        std::vector<double> yg((size_t)n_out);
        for (int i = 0; i < n_out; i++) yg[i] = y[i] * go[i];
        st_err = tap_rel_err(lo, yg.data(), n_out) > 1e-6 ? 1.0 : 0.0;
    }
    if (stats == 1 || stats == 3 || stats == 4) {
        double s = 0, q = 0, gs = 0, gq = 0;
        for (int i = 0; i < n_out; i++) s += y[i], q += (double)y[i] * y[i];
        for (int k = 0; k < QB_STATS_SLOTS; k++) gs += slots[QB_STATS_STRIDE * k], gq += slots[QB_STATS_STRIDE * k + 1];
        st_err = fmax(st_err, fmax(fabs(gs - s) / (fabs(s) + 1e-30), fabs(gq - q) / q));
        if (!(st_err <= 1e-12)) st_err = st_err == st_err ? st_err : 1.0; // (NaN fails)
    }
    // The reference: the CPU's layernorm and float64 epilogues around qb_matmul_ref.
    std::vector<float> xin(x, x + n_in), r((size_t)n_out);
    if (ln) qb_layernorm(xin.data(), x, g, b, n_in, 1, 1e-5f);
    if (act8) qb_matmul(pool_q8, r.data(), xin.data(), &wf, bias, 1);
    else qb_matmul_ref(r.data(), xin.data(), &wf, bias, 1);
    std::vector<double> want((size_t)n_out);
    for (int i = 0; i < n_out; i++)
        want[i] = epi == QB_CUDA_GELU ? gelu_new(r[i]) : epi == QB_CUDA_ACCUM ? (double)y0[i] + r[i] : r[i];
    const double err = tap_rel_err(y, want.data(), n_out);
    double kv_err = 0;
    if (kv) {
        std::vector<float> got(2 * (size_t)E);
        for (int i = 0; i < E; i++)
            got[i] = qb_f16_to_f32(kc[(size_t)pos * E + i]), got[E + i] = qb_f16_to_f32(vc[(size_t)pos * E + i]);
        kv_err = tap_rel_err(got.data(), want.data() + E, 2 * (size_t)E);
    }
    static const char *EPI[] = {"store", "gelu", "accum"};
    char split_by[64] = "";
    if (split > 1) snprintf(split_by, sizeof split_by, " split over %d blocks", split);
    if (wide) snprintf(split_by + strlen(split_by), sizeof split_by - strlen(split_by), " 8 warps");
    tap_ok(err <= 1e-4 && kv_err <= 1e-3 && st_err <= 1e-12 && counts_back, "%s %dx%d R %d%s%s%s%s%s %s%s%s%s: rel err %.1e%s%s",
           qb_type_name(t), n_in, n_out, R, R < 0 ? " tensor cores" : "", split_by, warp ? " by warps" : "", c.deep ? " deep" : "", act8 ? " W8A8" : "", EPI[epi],
           ln ? (stats == 2 ? " +layernorm from sums" : stats == 5 ? " +layernorm folded" : " +layernorm") : "",
           kv ? " +K/V store" : "",
           stats == 1   ? " +sums"
           : stats == 3 ? " +sums +its layernorm by the last block"
           : stats == 4 ? " +sums +rows times a gain"
                        : "",
           err,
           st_err > 1e-12 ? ", sums or layernorm wrong" : "", counts_back ? "" : ", split counts not back to zero");
    if (kv) tap_diag("K/V rows rel err %.1e (float16)", kv_err);
    free_all();
}

int main(void) {
    rng = tap_rng_new();
    const qb_type T[] = {QB_TYPE_F32, QB_TYPE_F16, QB_TYPE_BF16, QB_TYPE_Q8_0, QB_TYPE_Q4_0,
                         QB_TYPE_Q4_1, QB_TYPE_IQ4_NL, QB_TYPE_Q4_K, QB_TYPE_Q6_K};
    for (qb_type t : T) {
        // Rows of a type's blocks: K-quants 256 a block; floats an odd width.
        const int blk = qb_type_block(t);
        const int n_small = blk == 256 ? 256 : blk == 32 ? 160 : 100, n_big = blk == 256 ? 768 : blk == 32 ? 800 : 1000;
        const int Rs[] = {1, 2, 4, 8};
        for (int k = 0; k < 4; k++) {
            const int R = Rs[k];
            for (int warp = 0; warp < 2; warp++) {
                check(t, n_small, 37, R, warp, QB_CUDA_STORE, false, false);
                switch ((k + warp) % 4) { // the other configurations, one per R and way
                case 0: check(t, n_big, 130, R, warp, QB_CUDA_GELU, true, false); break;
                case 1: check(t, n_small, 3 * n_small, R, warp, QB_CUDA_STORE, true, true); break;
                case 2: check(t, n_big, 45, R, warp, QB_CUDA_ACCUM, false, false); break;
                default: check(t, n_small, 3 * n_small, R, warp, QB_CUDA_STORE, false, true); break;
                }
            }
            // The layernorm statistics carried with the residual (k_gemv only).
            check(t, n_big, 45, R, 0, QB_CUDA_ACCUM, false, false, 0, 1);
            check(t, n_small, 100, R, 0, QB_CUDA_ACCUM, false, false, 0, 3);
            check(t, n_big, 3 * 37, R, 0, k % 2 ? QB_CUDA_GELU : QB_CUDA_STORE, true, false, 0, 2);
            check(t, n_small, 100, R, 0, QB_CUDA_ACCUM, false, false, 0, 4);
            check(t, k % 2 ? n_small : n_big, k % 2 ? 3 * n_small : 3 * 37, R, 0, k % 2 ? QB_CUDA_STORE : QB_CUDA_GELU,
                  true, k % 2, 0, 5);
            // A long row loaded deep, as gpt2-xl's MLP output projection (25 steps, several rounds a warp).
            if (t == QB_TYPE_F16 || t == QB_TYPE_BF16) check(t, 6400 - 8, 45, R, 0, QB_CUDA_ACCUM, false, false, 0, 4, 1);
        }
    }
    // The tensor-core lane code (gemv_mma.cuh), 8 and 16 rows a block, every path: rows of 5 and
    // 25 blocks (a last step of one block), of 199 (gpt2-xl's MLP output projection less a
    // block), 37, 45 and 111 rows (a short last group); Q4_K's rows of 1, 3 and 24 super-blocks.
    for (qb_type t : {QB_TYPE_Q8_0, QB_TYPE_Q4_0, QB_TYPE_Q4_1, QB_TYPE_IQ4_NL, QB_TYPE_Q4_K})
        for (int R : {-8, -16}) {
            const bool k = t == QB_TYPE_Q4_K;
            const int n_small = k ? 256 : 160, n_big = k ? 768 : 800, n_long = k ? 6400 - 256 : 6400 - 32;
            check(t, n_small, 37, R, 0, QB_CUDA_STORE, false, false);
            check(t, n_big, 130, R, 0, QB_CUDA_GELU, true, false);
            check(t, n_small, 3 * n_small, R, 0, QB_CUDA_STORE, true, true);
            check(t, n_big, 45, R, 0, QB_CUDA_ACCUM, false, false);
            check(t, n_big, 45, R, 0, QB_CUDA_ACCUM, false, false, 0, 1);
            check(t, n_small, 100, R, 0, QB_CUDA_ACCUM, false, false, 0, 3);
            check(t, n_big, 111, R, 0, QB_CUDA_GELU, true, false, 0, 2);
            check(t, n_small, 100, R, 0, QB_CUDA_ACCUM, false, false, 0, 4);
            check(t, n_big, 111, R, 0, QB_CUDA_GELU, true, false, 0, 5);
            check(t, n_small, 3 * n_small, R, 0, QB_CUDA_STORE, true, true, 0, 5);
            check(t, n_long, 45, R, 0, QB_CUDA_ACCUM, false, false, 0, 4);
            // Each row split over 2, 3 (runs of unequal steps) and 8 blocks (some with no step on
            // the short rows), as the tuners may take it for few long rows: every path but the
            // output's layernorm by the last block (the host never splits with it).
            check(t, n_long, 45, R, 0, QB_CUDA_ACCUM, false, false, 0, 4, -1, 2);
            check(t, n_long, 37, R, 0, QB_CUDA_ACCUM, false, false, 0, 1, -1, 3);
            check(t, n_big, 111, R, 0, QB_CUDA_GELU, true, false, 0, 5, -1, 8);
            check(t, n_small, 3 * n_small, R, 0, QB_CUDA_STORE, true, true, 0, 0, -1, 3);
            check(t, n_big, 111, R, 0, QB_CUDA_GELU, true, false, 0, 2, -1, 4);
            // 8 warps a block (lean products: no layernorm of x in the block), alone and split.
            check(t, n_long, 45, R, 0, QB_CUDA_ACCUM, false, false, 0, 4, -1, 1, 1);
            check(t, n_long, 37, R, 0, QB_CUDA_ACCUM, false, false, 0, 1, -1, 1, 1);
            check(t, n_big, 111, R, 0, QB_CUDA_GELU, true, false, 0, 5, -1, 1, 1); // (folded: no layernorm in the block)
            check(t, n_small, 3 * n_small, R, 0, QB_CUDA_STORE, false, true, 0, 0, -1, 1, 1);
            check(t, n_long, 45, R, 0, QB_CUDA_ACCUM, false, false, 0, 4, -1, 3, 1);
        }
    // W8A8 (the persistent step's measurement knob) against the CPU's --act int8 matmul.
    pool_q8 = qb_pool_new(1);
    qb_pool_set_act(pool_q8, QB_ACT_Q8);
    for (qb_type t : {QB_TYPE_Q8_0, QB_TYPE_Q4_0})
        for (int R : {1, 2, 4}) {
            check(t, 160, 37, R, 1, QB_CUDA_STORE, false, false, 1);
            check(t, 800, 130, R, 1, R == 2 ? QB_CUDA_GELU : QB_CUDA_ACCUM, R != 4, false, 1);
            check(t, 160, 480, R, 1, QB_CUDA_STORE, true, true, 1);
        }
    qb_pool_free(pool_q8);
    return tap_done();
}
