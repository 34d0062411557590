// qmm_simd.h: the body of the SIMD quantized matmul, included by
// qmm_avx2.c and qmm_avx512.c (each compiled for its ISA; the AVX-512 one
// does the int8 dot products with AVX512-VNNI's vpdpbusd where the CPU has it).
//
// Per unit of 32 weights (qmm.h) the codes are unpacked into one 256-bit
// vector of int8 and multiplied with the activations:
//   W8A8: with int8 activations, maddubs + madd (or vpdpbusd) give 8 int32
//   partial sums, lanes 0-3 over weights 0-15 and 4-7 over 16-31, scaled by
//   [s0 x4, s1 x4] * dx in one FMA; the min term is m * dx * sum(xq).
//   Weight-only: the codes become 4 x 8 floats, FMA'd with x, scaled per half;
//   the min term is m * sum(x) (sums precomputed per unit).
// Four rows are done together so each activation load serves four rows.
// T == 1 (decode) unpacks the codes straight from the weights; T > 1
// (prefill) unpacks a tile of four rows once into an L1 scratch and sweeps
// every token over it.
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "qmm.h"
#include "util.h"

#define INLINE static inline __attribute__((always_inline))

enum { RT = 4 }; // rows per tile

INLINE float h2f(uint16_t h) { return _cvtsh_ss(h); }

INLINE float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Whether a type's codes are unsigned (0..15): they go straight into maddubs.
INLINE int codes_unsigned(qb_type t) { return t == QB_TYPE_Q4_1 || t == QB_TYPE_Q4_K; }

// 16 bytes of packed nibbles -> 32 bytes: low nibbles (values 0-15), then high.
INLINE __m256i nibbles(const uint8_t *qs) {
    const __m128i m4 = _mm_set1_epi8(0x0F);
    __m128i b = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m4), _mm_and_si128(b, m4));
}

INLINE __m256i unit_codes(qb_type t, const uint8_t *row, int u) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    switch (t) {
    case QB_TYPE_Q8_0: return _mm256_loadu_si256((const __m256i *)((const qb_block_q8_0 *)row)[u].qs);
    case QB_TYPE_Q4_0: return _mm256_sub_epi8(nibbles(((const qb_block_q4_0 *)row)[u].qs), _mm256_set1_epi8(8));
    case QB_TYPE_Q4_1: return nibbles(((const qb_block_q4_1 *)row)[u].qs);
    case QB_TYPE_IQ4_NL: {
        const __m256i kv = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qb_kvalues_iq4nl));
        return _mm256_shuffle_epi8(kv, nibbles(((const qb_block_iq4_nl *)row)[u].qs));
    }
    case QB_TYPE_Q4_K: {
        const qb_block_q4_K *b = (const qb_block_q4_K *)row + u / 8;
        const int s = u % 8;
        __m256i v = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * (s / 2)));
        return s % 2 ? _mm256_and_si256(_mm256_srli_epi16(v, 4), m4) : _mm256_and_si256(v, m4);
    }
    case QB_TYPE_Q6_K: {
        const qb_block_q6_K *b = (const qb_block_q6_K *)row + u / 8;
        const int s = u % 8, h = s / 4, k = s % 4;
        __m256i ql = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32 * (k % 2)));
        __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
        __m256i lo = k < 2 ? _mm256_and_si256(ql, m4) : _mm256_and_si256(_mm256_srli_epi16(ql, 4), m4);
        __m256i hi = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * k)), _mm256_set1_epi8(3));
        return _mm256_sub_epi8(_mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)), _mm256_set1_epi8(32));
    }
    default: return _mm256_setzero_si256();
    }
}

INLINE void unit_scales(qb_type t, const uint8_t *row, int u, float *s0, float *s1, float *m) {
    *m = 0;
    switch (t) {
    case QB_TYPE_Q8_0: *s0 = *s1 = h2f(((const qb_block_q8_0 *)row)[u].d); break;
    case QB_TYPE_Q4_0: *s0 = *s1 = h2f(((const qb_block_q4_0 *)row)[u].d); break;
    case QB_TYPE_IQ4_NL: *s0 = *s1 = h2f(((const qb_block_iq4_nl *)row)[u].d); break;
    case QB_TYPE_Q4_1:
        *s0 = *s1 = h2f(((const qb_block_q4_1 *)row)[u].d);
        *m = h2f(((const qb_block_q4_1 *)row)[u].m);
        break;
    case QB_TYPE_Q4_K: {
        const qb_block_q4_K *b = (const qb_block_q4_K *)row + u / 8;
        uint8_t sc, mn;
        qb_q4_K_scale_min(u % 8, b->scales, &sc, &mn);
        *s0 = *s1 = h2f(b->d) * sc;
        *m = -(h2f(b->dmin) * mn);
        break;
    }
    case QB_TYPE_Q6_K: {
        const qb_block_q6_K *b = (const qb_block_q6_K *)row + u / 8;
        const float d = h2f(b->d);
        *s0 = d * b->scales[2 * (u % 8)];
        *s1 = d * b->scales[2 * (u % 8) + 1];
        break;
    }
    default: *s0 = *s1 = 0;
    }
}

// 8 int32 sums of q[i] * x[i] over pairs of 4 bytes: lanes 0-3 cover bytes
// 0-15, lanes 4-7 bytes 16-31.
// vnni (a constant at each call site): use AVX512-VNNI's vpdpbusd.
INLINE __m256i dot_i8(__m256i q, __m256i x, int is_unsigned, int vnni) {
#ifdef __AVX512VNNI__
    if (vnni) {
        if (is_unsigned) return _mm256_dpbusd_epi32(_mm256_setzero_si256(), q, x);
        return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(q, q), _mm256_sign_epi8(x, q));
    }
#else
    (void)vnni;
#endif
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i p = is_unsigned ? _mm256_maddubs_epi16(q, x) : _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(x, q));
    return _mm256_madd_epi16(p, ones);
}

// Codes and scales of one tile of rows, either read from the weights or
// from a scratch they were unpacked into.
typedef struct {
    const uint8_t *row[RT]; // the rows (decode mode)
    const int8_t *codes;    // scratch: RT rows of n codes (prefill mode)
    const float *s0, *s1, *m; // scratch: RT rows of nu scales
    int nu;
} tile;

INLINE __m256i get_codes(qb_type t, const tile *tl, int r, int u, int pre) {
    if (pre) return _mm256_loadu_si256((const __m256i *)(tl->codes + ((size_t)r * tl->nu + u) * QB_UNIT));
    return unit_codes(t, tl->row[r], u);
}
INLINE void get_scales(qb_type t, const tile *tl, int r, int u, int pre, float *s0, float *s1, float *m) {
    if (pre) {
        size_t k = (size_t)r * tl->nu + u;
        *s0 = tl->s0[k], *s1 = tl->s1[k], *m = tl->m[k];
    } else
        unit_scales(t, tl->row[r], u, s0, s1, m);
}

// nr (1..RT, a constant at each call site) dot products of one token.
INLINE void dots_q8(qb_type t, const tile *tl, int nr, int pre, int vnni, const qb_block_q8a *xq, float *out) {
    __m256 acc[RT];
    float accm[RT];
    for (int r = 0; r < nr; r++) acc[r] = _mm256_setzero_ps(), accm[r] = 0;
    for (int u = 0; u < tl->nu; u++) {
        const __m256i xv = _mm256_loadu_si256((const __m256i *)xq[u].qs);
        const float dx = xq[u].d, xs = dx * (float)xq[u].sum;
        for (int r = 0; r < nr; r++) {
            float s0, s1, m;
            get_scales(t, tl, r, u, pre, &s0, &s1, &m);
            __m256i d = dot_i8(get_codes(t, tl, r, u, pre), xv, codes_unsigned(t), vnni);
            __m256 sv = _mm256_set_m128(_mm_set1_ps(s1 * dx), _mm_set1_ps(s0 * dx));
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), sv, acc[r]);
            accm[r] += m * xs;
        }
    }
    for (int r = 0; r < nr; r++) out[r] = hsum8(acc[r]) + accm[r];
}

INLINE void dots_f32(qb_type t, const tile *tl, int nr, int pre, const float *x, const float *xsum, float *out) {
    __m256 acc[RT];
    float accm[RT];
    for (int r = 0; r < nr; r++) acc[r] = _mm256_setzero_ps(), accm[r] = 0;
    for (int u = 0; u < tl->nu; u++) {
        const float *xu = x + (size_t)u * QB_UNIT;
        const __m256 x0 = _mm256_loadu_ps(xu), x1 = _mm256_loadu_ps(xu + 8);
        const __m256 x2 = _mm256_loadu_ps(xu + 16), x3 = _mm256_loadu_ps(xu + 24);
        for (int r = 0; r < nr; r++) {
            float s0, s1, m;
            get_scales(t, tl, r, u, pre, &s0, &s1, &m);
            __m256i q = get_codes(t, tl, r, u, pre);
            __m128i qa = _mm256_castsi256_si128(q), qb = _mm256_extracti128_si256(q, 1);
            __m256 c0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(qa));
            __m256 c1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(qa, 8)));
            __m256 c2 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(qb));
            __m256 c3 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(qb, 8)));
            __m256 lo = _mm256_fmadd_ps(c1, x1, _mm256_mul_ps(c0, x0));
            __m256 hi = _mm256_fmadd_ps(c3, x3, _mm256_mul_ps(c2, x2));
            acc[r] = _mm256_fmadd_ps(lo, _mm256_set1_ps(s0), acc[r]);
            acc[r] = _mm256_fmadd_ps(hi, _mm256_set1_ps(s1), acc[r]);
            accm[r] += m * xsum[u];
        }
    }
    for (int r = 0; r < nr; r++) out[r] = hsum8(acc[r]) + accm[r];
}

INLINE void tile_dots(const qb_qmm_args *a, qb_type t, const tile *tl, int nr, int pre, int vnni, int tok,
                       float *out) {
    const int nu = tl->nu;
    if (a->act == QB_ACT_Q8)
        dots_q8(t, tl, nr, pre, vnni, a->xq + (size_t)tok * nu, out);
    else
        dots_f32(t, tl, nr, pre, a->x + (size_t)tok * a->w->n_in, a->xsum + (size_t)tok * nu, out);
}

INLINE void store(const qb_qmm_args *a, int tok, int o, int nr, const float *v) {
    float *y = a->y + (size_t)tok * a->w->n_out + o;
    for (int r = 0; r < nr; r++) y[r] = v[r] + (a->bias ? a->bias[o + r] : 0.0f);
}

INLINE void qmm_range(const qb_qmm_args *a, int o0, int o1, qb_type t, int vnni) {
    const int n = a->w->n_in, nu = n / QB_UNIT;
    const size_t rb = qb_row_bytes(t, n);
    const uint8_t *W = a->w->data;
    tile tl = {.nu = nu};
    float out[RT];
    if (a->T == 1) {
        int o = o0;
        for (; o + RT <= o1; o += RT) {
            for (int r = 0; r < RT; r++) tl.row[r] = W + (size_t)(o + r) * rb;
            tile_dots(a, t, &tl, RT, 0, vnni, 0, out);
            store(a, 0, o, RT, out);
        }
        for (; o < o1; o++) {
            tl.row[0] = W + (size_t)o * rb;
            tile_dots(a, t, &tl, 1, 0, vnni, 0, out);
            store(a, 0, o, 1, out);
        }
        return;
    }
    // Prefill: unpack RT rows once, sweep every token over them.
    int8_t *codes = qb_aligned_alloc((size_t)RT * n);
    float *sc = qb_malloc(sizeof(float) * 3 * RT * (size_t)nu);
    tl.codes = codes, tl.s0 = sc, tl.s1 = sc + RT * nu, tl.m = sc + 2 * RT * nu;
    for (int o = o0; o < o1; o += RT) {
        const int nr = o1 - o < RT ? o1 - o : RT;
        for (int r = 0; r < nr; r++) {
            const uint8_t *row = W + (size_t)(o + r) * rb;
            for (int u = 0; u < nu; u++) {
                size_t k = (size_t)r * nu + u;
                _mm256_storeu_si256((__m256i *)(codes + k * QB_UNIT), unit_codes(t, row, u));
                unit_scales(t, row, u, &sc[k], &sc[RT * nu + k], &sc[2 * RT * nu + k]);
            }
        }
        for (int tok = 0; tok < a->T; tok++) {
            if (nr == RT)
                tile_dots(a, t, &tl, RT, 1, vnni, tok, out);
            else
                tile_dots(a, t, &tl, nr, 1, vnni, tok, out);
            store(a, tok, o, nr, out);
        }
    }
    free(codes);
    free(sc);
}

// The entry point of an ISA file: one specialization per weight type.
#define QMM_DEFINE_RANGE(fname, vnni)                                                                                   \
    void fname(const qb_qmm_args *a, int o0, int o1) {                                                                 \
        switch (a->w->type) {                                                                                          \
        case QB_TYPE_Q8_0: qmm_range(a, o0, o1, QB_TYPE_Q8_0, vnni); break;                                            \
        case QB_TYPE_Q4_0: qmm_range(a, o0, o1, QB_TYPE_Q4_0, vnni); break;                                            \
        case QB_TYPE_Q4_1: qmm_range(a, o0, o1, QB_TYPE_Q4_1, vnni); break;                                            \
        case QB_TYPE_Q4_K: qmm_range(a, o0, o1, QB_TYPE_Q4_K, vnni); break;                                            \
        case QB_TYPE_Q6_K: qmm_range(a, o0, o1, QB_TYPE_Q6_K, vnni); break;                                            \
        case QB_TYPE_IQ4_NL: qmm_range(a, o0, o1, QB_TYPE_IQ4_NL, vnni); break;                                        \
        default: qb_die(QB_EXIT_DATA, "matmul: weight type %d is not a quantized type", (int)a->w->type);              \
        }                                                                                                              \
    }
