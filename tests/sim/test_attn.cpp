// test_attn.cpp: the decode attention's device code on the CPU emulator,
// against the CPU's qb_attention on the same float16 K/V:
// - qb_attn_block (attention.cuh), as the split kernel runs it: chunks of 64
//   keys and their merge, and one block taking a head whole while its keys fit
//   shared memory, on both sides of that limit (one launch with two tokens can
//   straddle it), for heads of 16, 64 and 128;
// - qb_qkv_attn_block (qkv_attn.cuh): one token's QKV projection (layernorm
//   fused, K/V store) and its attention as one kernel, chunk blocks waiting
//   for their head's rows; against the CPU's layernorm, qb_matmul_ref and
//   qb_attention, every counter back at zero after it.
// Fresh random inputs; outputs poisoned with NaN.
#include "sim_util.h" // first: the C headers with C linkage

#include "cuda/qkv_attn.cuh"

struct attn_case {
    float *out;
    const float *q;
    const __half *kc, *vc;
    int q_stride, pos0, H, D, S, whole;
    float *part;
    unsigned *counters;
};

static void body(void *p) {
    const attn_case *c = (const attn_case *)p;
    __shared__ uint4 kv[qb_attn_whole_smem(16) / 16]; // the largest (the smallest heads take the most keys)
    qb_attn_block(c->out, c->q, c->q_stride, c->kc, c->vc, c->pos0, NULL, c->H, c->D, c->S, c->part, c->counters,
                  c->whole, (__half *)kv, blockIdx.x, blockIdx.y, blockIdx.z, [] {});
}

static qb_pool *pool; // the CPU reference's

static void check(int H, int D, int pos0, int T, int whole) {
    const int E = H * D, n_keys = pos0 + T, n_ctx = (n_keys + 63) / 64 * 64 + 64, S = n_ctx / 64;
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
    attn_case c = {out, q, (const __half *)kc, (const __half *)vc, 3 * E, pos0, H, D, S, whole,
                   (float *)alloc((size_t)T * H * S * (D + 2) * 4), (unsigned *)alloc((size_t)T * H * 4)};
    qb_simt_launch({(unsigned)S, (unsigned)H, (unsigned)T}, {ATT_THREADS, 1, 1}, body, &c);
    std::vector<float> ref((size_t)T * E), scratch((size_t)n_keys);
    qb_attention(pool, ref.data(), qf.data(), kf.data(), vf.data(), pos0, T, H, D, scratch.data());
    std::vector<double> want(ref.begin(), ref.end());
    bool counters_clear = true;
    for (int i = 0; i < T * H; i++) counters_clear &= c.counters[i] == 0;
    const double err = tap_rel_err(out, want.data(), (size_t)T * E); // NaN (an unwritten value) fails it
    const int nk = qb_attn_whole_keys(D);
    tap_ok(err <= 1e-5 && counters_clear, "%d heads of %d, keys %d..%d (%s, whole up to %d): rel err %.1e%s", H, D,
           pos0 + 1, n_keys, whole ? "whole where they fit" : "split", nk, err,
           counters_clear ? "" : ", merge counters left set");
    free_all();
}

struct qkv_case {
    gemv_args a;
    qkv_attn_args t;
    qb_type type;
    int R;
};

template <class TT, int R>
static void qkv_body_t(const qkv_case *c) {
    __shared__ float4 xs4[QB_LN_FUSE_MAX / 4];
    qb_qkv_attn_block<TT, R>(
        c->a, c->t, blockIdx.x,
        [&]() -> const float * {
            ln_to_smem((float *)xs4, c->a);
            return (const float *)xs4;
        },
        [] {});
}
static void qkv_body(void *p) {
    const qkv_case *c = (const qkv_case *)p;
    if (c->type == QB_TYPE_F16) c->R == 8 ? qkv_body_t<THalf<false>, 8>(c) : qkv_body_t<THalf<false>, 2>(c);
    else c->R == 8 ? qkv_body_t<TQ4<QB_TYPE_Q4_0>, 8>(c) : qkv_body_t<TQ4<QB_TYPE_Q4_0>, 2>(c);
}

// One token at position pos: heads H of D, weights of type t, R rows a block.
static void check_qkv(qb_type type, int H, int D, int R, int pos) {
    const int E = H * D, n_ctx = 128, S = n_ctx / CH;
    const qb_weight wf = rand_weight(type, E, 3 * E, 0.2f), wd = upload(&wf);
    float *x = rand_vec(E, 0.2f, 1.0f), *g = rand_vec(E, 1.0f, 0.2f), *b = rand_vec(E, 0.0f, 0.2f);
    float *bias = rand_vec(3 * E, 0.0f, 0.1f), *qkv = (float *)alloc((size_t)3 * E * 4), *out = (float *)alloc((size_t)E * 4);
    poison(qkv, 3 * E), poison(out, E);
    uint16_t *kc = (uint16_t *)alloc((size_t)n_ctx * E * 2), *vc = (uint16_t *)alloc((size_t)n_ctx * E * 2);
    std::vector<float> kf((size_t)(pos + 1) * E), vf((size_t)(pos + 1) * E);
    for (size_t i = 0; i < (size_t)pos * E; i++) {
        kc[i] = qb_f32_to_f16((float)tap_normal(&rng)), vc[i] = qb_f32_to_f16((float)tap_normal(&rng));
        kf[i] = qb_f16_to_f32(kc[i]), vf[i] = qb_f16_to_f32(vc[i]);
    }
    unsigned *ctr = (unsigned *)alloc((size_t)2 * H * 4);
    qb_planes p;
    qb_planes_of(type, E, 3 * E, &p);
    qkv_case c = {{qkv, x, (const uint8_t *)wd.data, p.qrow, p.srow, p.scales_off, E, 3 * E, bias, QB_CUDA_STORE,
                   (__half *)kc, (__half *)vc, pos, NULL, g, b, 1e-5f, NULL, 0},
                  {out, H, D, S, (float *)alloc((size_t)H * S * (D + 2) * 4), ctr, ctr + H},
                  type,
                  R};
    qb_simt_launch({(unsigned)(H * (3 * D / R + S)), 1, 1}, {32 * KS, 1, 1}, qkv_body, &c);
    // The reference: layernorm, the matmul, the new K/V rows rounded to float16 as stored, attention.
    std::vector<float> xn(x, x + E), r((size_t)3 * E), want_att((size_t)E), scratch((size_t)pos + 1);
    qb_layernorm(xn.data(), x, g, b, E, 1, 1e-5f);
    qb_matmul_ref(r.data(), xn.data(), &wf, bias, 1);
    for (int i = 0; i < E; i++)
        kf[(size_t)pos * E + i] = qb_f16_to_f32(qb_f32_to_f16(r[E + i])),
                           vf[(size_t)pos * E + i] = qb_f16_to_f32(qb_f32_to_f16(r[2 * E + i]));
    qb_attention(pool, want_att.data(), r.data(), kf.data(), vf.data(), pos, 1, H, D, scratch.data());
    std::vector<double> want_qkv(r.begin(), r.end()), want_out(want_att.begin(), want_att.end());
    const double err_qkv = tap_rel_err(qkv, want_qkv.data(), (size_t)3 * E);
    const double err_att = tap_rel_err(out, want_out.data(), (size_t)E);
    bool clear = true;
    for (int i = 0; i < 2 * H; i++) clear &= ctr[i] == 0;
    tap_ok(err_qkv <= 1e-4 && err_att <= 2e-3 && clear,
           "QKV + attention one kernel, %s, %d heads of %d, R %d, pos %d: qkv rel err %.1e, attention %.1e%s",
           qb_type_name(type), H, D, R, pos, err_qkv, err_att, clear ? "" : ", counters left set");
    free_all();
}

int main(void) {
    rng = tap_rng_new();
    pool = qb_pool_new(1);
    check(3, 64, 0, 1, 1);
    check(3, 64, 100, 1, 1);
    check(3, 64, 100, 1, 0);
    check(2, 64, 255, 1, 1);  // 256 keys: the last that fit
    check(2, 64, 256, 1, 1);  // 257: split
    check(2, 64, 254, 3, 1);  // tokens on both sides of the limit in one launch
    check(5, 128, 5, 2, 1);
    check(2, 128, 127, 2, 1); // 128 | 129
    check(3, 16, 700, 1, 1);
    check(3, 16, 700, 1, 0);
    check_qkv(QB_TYPE_F16, 2, 32, 8, 0);
    check_qkv(QB_TYPE_F16, 2, 32, 2, 100);
    check_qkv(QB_TYPE_Q4_0, 3, 32, 8, 70);
    check_qkv(QB_TYPE_Q4_0, 2, 64, 8, 127);
    qb_pool_free(pool);
    return tap_done();
}
