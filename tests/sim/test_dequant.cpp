// test_dequant.cpp: the bulk dequantisation of the prompt pass's GEMM tiles
// (kernels/cuda/dequant.cuh: qb_dequant_staged, each block's groups staged in
// shared memory and written as 16-byte words) on the CPU emulator, against
// its one-thread-a-group twin (qb_dequant_group: the same values, bit for
// bit) and against the CPU's qb_dequantize_row on the file-layout rows, for
// every weight type, as FP16 (GEMM tiles) and FP32 (qb_cuda_weight_rows), on
// odd shapes: a tile starting at a random row, groups not a multiple of the
// block's threads. Fresh random weights; the output poisoned with NaN before
// each run, and a guard past its end that must stay untouched.
#include "sim_util.h" // first: the C headers with C linkage

#include "cuda/dequant.cuh"

constexpr int NT = 128; // the kernel's block (weights.cu's DEQ_NT)

template <typename OutT>
struct deq_case {
    OutT *out;
    const uint8_t *w;
    qb_planes p;
    int n_in, r0, n;
};

template <qb_type T, typename OutT>
static void staged_body(void *arg) {
    const deq_case<OutT> *c = (const deq_case<OutT> *)arg;
    qb_dequant_staged<T, OutT, NT>(c->out, c->w, c->p, c->n_in, c->r0, (size_t)(c->n_in / 32) * c->n, blockIdx.x);
}
template <qb_type T, typename OutT>
static void group_body(void *arg) {
    const deq_case<OutT> *c = (const deq_case<OutT> *)arg;
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < (size_t)(c->n_in / 32) * c->n) qb_dequant_group<T, OutT>(c->out, (size_t)c->n_in, c->w, c->p, c->n_in, c->r0, i);
}

static float as_float(float v) { return v; }
static float as_float(__half v) { return __half2float(v); }

template <qb_type T, typename OutT>
static void check(int n_in, int n_out, int r0, int n) {
    const qb_weight h = rand_weight(T, n_in, n_out, 0.05f);
    const qb_weight d = upload(&h);
    qb_planes p;
    qb_planes_of(T, n_in, n_out, &p);
    const size_t len = (size_t)n * n_in, guard = 64;
    OutT *outs[2];
    for (int k = 0; k < 2; k++) {
        outs[k] = (OutT *)alloc((len + guard) * sizeof(OutT));
        memset((void *)outs[k], 0xff, (len + guard) * sizeof(OutT)); // NaN in either type
    }
    const size_t n_groups = (size_t)(n_in / 32) * n;
    const unsigned blocks = (unsigned)((n_groups + NT - 1) / NT);
    deq_case<OutT> cs = {outs[0], (const uint8_t *)d.data, p, n_in, r0, n}, cg = cs;
    cg.out = outs[1];
    qb_simt_launch({blocks, 1, 1}, {NT, 1, 1}, staged_body<T, OutT>, &cs);
    qb_simt_launch({blocks, 1, 1}, {NT, 1, 1}, group_body<T, OutT>, &cg);
    // Against the CPU's dequantisation of the same file rows, rounded to OutT as the kernels round.
    std::vector<float> ref((size_t)n_in);
    const size_t row_bytes = qb_row_bytes(T, n_in);
    size_t differ = 0, off = 0, bad = 0;
    for (int r = 0; r < n; r++) {
        qb_dequantize_row(T, (const uint8_t *)h.data + (size_t)(r0 + r) * row_bytes, ref.data(), n_in);
        for (int i = 0; i < n_in; i++) {
            const size_t k = (size_t)r * n_in + i;
            const float a = as_float(outs[0][k]), b = as_float(outs[1][k]);
            const float want = as_float(qb_cvt<OutT>(ref[i]));
            bad += a != a;
            differ += memcmp(&outs[0][k], &outs[1][k], sizeof(OutT)) != 0;
            off += !(a == want || fabsf(a - want) <= 1e-6f * fabsf(want)) || b != b;
        }
    }
    size_t guard_hit = 0;
    for (size_t k = len; k < len + guard; k++) {
        uint8_t all[sizeof(OutT)];
        memset(all, 0xff, sizeof all);
        guard_hit += memcmp(&outs[0][k], all, sizeof(OutT)) != 0;
    }
    tap_ok(!bad && !differ && !off && !guard_hit,
           "%s as %s, rows %d..%d of %dx%d (%zu groups, %u blocks): %zu NaN, %zu differ from the one-thread path, "
           "%zu off the CPU's, %zu past the end written",
           qb_type_name(T), sizeof(OutT) == 2 ? "FP16" : "FP32", r0, r0 + n - 1, n_out, n_in, n_groups, blocks, bad,
           differ, off, guard_hit);
    free_all();
}

template <qb_type T>
static void check_type(int block) {
    for (int rep = 0; rep < 2; rep++) {
        const int n_in = block * (1 + (int)(tap_uniform(&rng) * (block == 32 ? 60 : 8)));
        const int n_out = 3 + (int)(tap_uniform(&rng) * 40);
        const int r0 = (int)(tap_uniform(&rng) * (n_out - 1)), n = 1 + (int)(tap_uniform(&rng) * (n_out - r0 - 1));
        check<T, __half>(n_in, n_out, r0, n);
        check<T, float>(n_in, n_out, r0, n);
    }
    check<T, __half>(block * (block == 32 ? 8 : 1), 32, 0, 32); // groups a whole number of blocks
}

int main(void) {
    rng = tap_rng_new();
    check_type<QB_TYPE_F32>(32);
    check_type<QB_TYPE_F16>(32);
    check_type<QB_TYPE_BF16>(32);
    check_type<QB_TYPE_Q8_0>(32);
    check_type<QB_TYPE_Q4_0>(32);
    check_type<QB_TYPE_Q4_1>(32);
    check_type<QB_TYPE_IQ4_NL>(32);
    check_type<QB_TYPE_Q4_K>(256);
    check_type<QB_TYPE_Q6_K>(256);
    return tap_done();
}
