// test_attn.cpp: the decode attention's device code (kernels/cuda/attention.cuh:
// qb_attn_block, as the split kernel runs it) on the CPU emulator, against the
// CPU's qb_attention on the same float16 K/V: chunks of 64 keys and their
// merge, and one block taking a head whole, its warps the keys in turn, while
// its keys fit the lanes' registers, past that chunks of as many keys by the
// same code and their merge, on both sides of one and two blocks' keys (one
// launch with three tokens can straddle them), for heads of 16, 32, 64, 128 and 256
// (and 96, which always splits), each with blocks of 128 threads (the
// persistent step's), 256 and 512 (the graph kernel's choices). A launch
// whose tokens all take the whole path must leave the split's partials as
// they were, so each case knows which path ran. Each case launches the
// context's chunks (a captured graph's grid) and only the position's (the
// eager launch's, and the graph's with QB_CUDA_ATTN_GRID=1). Fresh random
// inputs; the output poisoned with NaN.
#include "sim_util.h" // first: the C headers with C linkage

#include "cuda/attention.cuh"

struct attn_case {
    float *out;
    const float *q;
    const __half *kc, *vc;
    int q_stride, pos0, H, D, S, whole, nt; // S: the launch's chunks (the kernel reads gridDim.y)
    float *part;
    unsigned *counters;
};

template <int NT>
static void body(void *p) {
    const attn_case *c = (const attn_case *)p;
    __shared__ float wpart[qb_attn_whole_smem(256, NT) / 4]; // the largest head's
    qb_attn_block<NT>(c->out, c->q, c->q_stride, c->kc, c->vc, c->pos0, NULL, c->H, c->D, (int)gridDim.y, c->part,
                      c->counters, c->whole, wpart, blockIdx.y, blockIdx.x, blockIdx.z, [] {});
}

static qb_pool *pool; // the CPU reference's

// trim: a grid of the chunks the keys need (1 where the last token's fit
// whole), else of the context's, a chunk more. A chunk is 64 keys, or, where
// the whole path runs, as many as a block takes whole.
static void check1(int H, int D, int pos0, int T, int whole, int nt, int trim) {
    const int E = H * D, n_keys = pos0 + T, n_ctx = (n_keys + 63) / 64 * 64 + 64, nk = qb_attn_whole_keys(D, nt);
    const int ck = whole && nk ? nk : 64, S = ((trim ? n_keys : n_ctx) + ck - 1) / ck;
    std::vector<float> kf((size_t)n_keys * E), vf((size_t)n_keys * E), qf((size_t)T * E);
    uint16_t *kc = (uint16_t *)alloc((size_t)n_ctx * E * 2), *vc = (uint16_t *)alloc((size_t)n_ctx * E * 2);
    for (size_t i = 0; i < kf.size(); i++) {
        kc[i] = qb_f32_to_f16((float)tap_normal(&rng)), vc[i] = qb_f32_to_f16((float)tap_normal(&rng));
        kf[i] = qb_f16_to_f32(kc[i]), vf[i] = qb_f16_to_f32(vc[i]);
    }
    // q inside a qkv-like buffer (rows of 3E), as the decode step passes it.
    float *q = rand_vec(T * 3 * E, 0.0f, 1.0f);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < E; i++) qf[(size_t)t * E + i] = q[(size_t)t * 3 * E + i];
    float *out = (float *)alloc((size_t)T * E * 4);
    poison(out, T * E);
    // The split's partials, marked: a launch whose tokens all fit whole must leave them so.
    const size_t n_part = (size_t)T * H * S * (D + 2);
    float *part = (float *)alloc(n_part * 4);
    for (size_t i = 0; i < n_part; i++) part[i] = 12345.0f;
    attn_case c = {out, q, (const __half *)kc, (const __half *)vc, 3 * E, pos0, H, D, S, whole, nt, part,
                   (unsigned *)alloc((size_t)T * H * 4)};
    qb_simt_launch({(unsigned)H, (unsigned)S, (unsigned)T}, {(unsigned)nt, 1, 1},
                   nt == 512 ? body<512> : nt == 256 ? body<256> : body<128>, &c);
    std::vector<float> ref((size_t)T * E), scratch((size_t)n_keys);
    qb_attention(pool, ref.data(), qf.data(), kf.data(), vf.data(), pos0, T, H, D, scratch.data());
    std::vector<double> want(ref.begin(), ref.end());
    bool counters_clear = true;
    for (int i = 0; i < T * H; i++) counters_clear &= c.counters[i] == 0;
    const double err = tap_rel_err(out, want.data(), (size_t)T * E); // NaN (an unwritten value) fails it
    size_t part_written = 0;
    for (size_t i = 0; i < n_part; i++) part_written += part[i] != 12345.0f;
    const bool path_right = whole && n_keys <= nk ? part_written == 0 : part_written > 0;
    tap_ok(err <= 1e-5 && counters_clear && path_right,
           "%d heads of %d, keys %d..%d (%s, whole up to %d), %d threads, %d chunks launched: rel err %.1e%s%s", H, D,
           pos0 + 1, n_keys, whole ? "whole where they fit" : "split", nk, nt, S, err,
           counters_clear ? "" : ", merge counters left set",
           path_right ? "" : part_written ? ", split partials written" : ", no split partials written");
    free_all();
}

static void check(int H, int D, int pos0, int T, int whole) {
    for (int nt = 128; nt <= 512; nt *= 2)
        for (int trim = 0; trim < 2; trim++) check1(H, D, pos0, T, whole, nt, trim);
}

// Both sides of each thread count's limit on the keys a block takes whole,
// and of twice that (chunks of that many keys; one launch of three tokens
// straddling each).
static void edges(int H, int D) {
    for (int nt = 128; nt <= 512; nt *= 2) {
        const int nk = qb_attn_whole_keys(D, nt);
        for (int trim = 0; trim < 2; trim++) {
            check1(H, D, nk - 1, 1, 1, nt, trim); // nk keys: the last that fit
            check1(H, D, nk, 1, 1, nt, trim);     // nk + 1: split
            check1(H, D, nk - 2, 3, 1, nt, trim);
            check1(H, D, 2 * nk - 1, 1, 1, nt, trim); // two chunks of nk, full
            check1(H, D, 2 * nk, 1, 1, nt, trim);     // three, the last of one key
            check1(H, D, 2 * nk - 2, 3, 1, nt, trim);
        }
    }
}

int main(void) {
    rng = tap_rng_new();
    pool = qb_pool_new(1);
    check(3, 64, 0, 1, 1);
    check(3, 64, 36, 1, 1); // keys not a multiple of the warps
    check(3, 64, 100, 1, 1);
    check(3, 64, 100, 1, 0);
    edges(2, 64);
    edges(3, 32);
    check(5, 128, 5, 2, 1);
    edges(2, 128);
    edges(1, 256);
    check(3, 96, 20, 2, 1); // a row of 12 pieces: split
    edges(2, 16);
    check(3, 16, 700, 1, 1);
    check(3, 16, 700, 1, 0);
    qb_pool_free(pool);
    return tap_done();
}
