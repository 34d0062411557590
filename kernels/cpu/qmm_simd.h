// qmm_simd.h: the body of the SIMD quantized matmul, included by
// qmm_avx2.c and qmm_avx512.c (each compiled for its ISA; the AVX-512 one
// does the int8 dot products with AVX512-VNNI's vpdpbusd where the CPU has it).
//
// Per unit of 32 weights (qmm.h) the codes are unpacked into one 256-bit
// vector of int8 and multiplied with the activations:
//   W8A8: with int8 activations, maddubs + madd (or vpdpbusd) give 8 int32
//   partial sums, lanes 0-3 over weights 0-15 and 4-7 over 16-31, scaled by
//   s0 * dx and s1 * dx; the min term is m * dx * sum(xq).
//   Weight-only: the codes become 4 x 8 floats, FMA'd with x, scaled per half;
//   the min term is m * sum(x) (sums precomputed per unit).
// T == 1 (decode) unpacks the codes straight from the weights: every type
// in both modes but Q8_0 weight-only on eight rows transposed in registers,
// so a unit ends in one vector of eight row sums (decode8_range; the
// K-quants in their own loops over super-blocks); Q8_0 weight-only on four
// rows side by side, each activation load serving four rows, with
// horizontal sums at the end (gemv4_f32). T > 1
// (prefill), weight-only: chunks of 64 rows are dequantized to float32 and
// multiplied by the float kernels' blocked GEMM (FLOAT_RANGE, set by the
// including file); W8A8: a tile of eight rows is unpacked once, transposed,
// into an L1 scratch of int8 codes and scales and every token swept over it,
// two at a time. On AVX-512 (QMM_AVX512, set by qmm_avx512.c: not
// __AVX512F__, which -march=native defines in the AVX2 file too) Q4_0,
// Q4_1 and IQ4_NL decode on sixteen rows in 512-bit vectors (decode16_range;
// Q8_0, Q4_K and Q6_K too in W8A8 with VNNI),
// and with VNNI the weight-only decode of every type takes x as three int8
// limbs (qb_block_x3, qmm.h): integer dots like W8A8's, to about float
// precision (gemv16_x3, dot8_x3), on sixteen rows for every type
// (gemv16_q4k, gemv16_q6k; Q8_0 in gemv16_x3) but where fewer than
// sixteen rows are left.
#include <immintrin.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "qmm.h"
#include "simd_avx2.h"
#include "util.h"

#define INLINE static inline __attribute__((always_inline))
// Fully unroll a loop over the rows or vectors of a tile: at -O2 GCC keeps
// such loops and spills their arrays of vectors to the stack.
#define UNROLL _Pragma("GCC unroll 8")

enum { RT = 4 }; // rows per tile

INLINE float h2f(uint16_t h) { return _cvtsh_ss(h); }

// Whether a type's codes are unsigned (0..15): they go straight into maddubs.
// Q4_0 is taken as unsigned nibbles q with min -8 d (sum (q-8) x = sum q x -
// 8 sum x), which saves the subtraction and maddubs' sign juggling.
INLINE int codes_unsigned(qb_type t) { return t == QB_TYPE_Q4_0 || t == QB_TYPE_Q4_1 || t == QB_TYPE_Q4_K; }

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
    case QB_TYPE_Q4_0: return nibbles(((const qb_block_q4_0 *)row)[u].qs);
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
    case QB_TYPE_Q4_0:
        *s0 = *s1 = h2f(((const qb_block_q4_0 *)row)[u].d);
        *m = -8 * *s0;
        break;
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

INLINE int has_min(qb_type t) { return t == QB_TYPE_Q4_0 || t == QB_TYPE_Q4_1 || t == QB_TYPE_Q4_K; }
INLINE int two_scales(qb_type t) { return t == QB_TYPE_Q6_K; }
INLINE float bias_at(const qb_qmm_args *a, int o) { return a->bias ? a->bias[o] : 0.0f; }

// ---- decode (T == 1): codes unpacked straight from the weights -----------------

// A tile of four rows of a 768-wide Q8_0 matrix is only 3.2 KB, and its
// rows are walked side by side: too short and too interleaved for the
// hardware prefetchers, so from DRAM the kernel ran at a third of its
// in-cache speed. Each tile therefore prefetches the tile PF_TILES ahead,
// a few cache lines per unit, spread over the tile's loop.
// Into L2 on AVX-512 (tuned on Sapphire Rapids: prefetcht1 against t0, from
// DRAM, 1.13-1.39x for the W8A8 kernels, 1.02-1.18x weight-only; in cache
// equal), into L1 on AVX2 (tuned on AMD Zen, not measured since).
#ifndef QMM_PF_TILES
#define QMM_PF_TILES 2
#endif
#ifndef QMM_PF_HINT
#ifdef QMM_AVX512
#define QMM_PF_HINT _MM_HINT_T1
#else
#define QMM_PF_HINT _MM_HINT_T0
#endif
#endif
typedef struct {
    const uint8_t *base; // first byte of the tile to prefetch (NULL: none)
    int lines_per_unit;  // cache lines issued per unit of the loop
} prefetch_plan;

INLINE prefetch_plan plan_prefetch(const uint8_t *W, size_t rb, int rt, int o, int o1, int nu) {
    prefetch_plan p = {NULL, 0};
    const int ahead = o + rt * QMM_PF_TILES;
    if (ahead + rt > o1) return p; // past this thread's rows: nothing worth fetching
    p.base = W + (size_t)ahead * rb;
    p.lines_per_unit = (int)((rt * rb + 64 * (size_t)nu - 1) / (64 * (size_t)nu));
    return p;
}

INLINE void prefetch_step(const prefetch_plan *p, int u) {
    if (!p->base) return;
    for (int i = 0; i < p->lines_per_unit; i++)
        _mm_prefetch((const char *)p->base + ((size_t)u * p->lines_per_unit + i) * 64, QMM_PF_HINT);
}

// The 32 codes of a unit as 4 x 8 floats.
INLINE void codes_f32(__m256i q, __m256 *c0, __m256 *c1, __m256 *c2, __m256 *c3) {
    __m128i qa = _mm256_castsi256_si128(q), qb = _mm256_extracti128_si256(q, 1);
    *c0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(qa));
    *c1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(qa, 8)));
    *c2 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(qb));
    *c3 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(qb, 8)));
}

// Weight-only, four rows against one float token: per unit the codes are
// FMA'd with x per half, then scaled; sum(x) per unit carries the min.
INLINE void gemv4_f32(qb_type t, const uint8_t *r0, const uint8_t *r1, const uint8_t *r2, const uint8_t *r3,
                      const float *x, const float *xsum, int nu, const prefetch_plan *pf, float *out) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    float m0 = 0, m1 = 0, m2 = 0, m3 = 0;
    for (int u = 0; u < nu; u++) {
        prefetch_step(pf, u);
        const float *xu = x + (size_t)u * QB_UNIT;
        const __m256 x0 = _mm256_loadu_ps(xu), x1 = _mm256_loadu_ps(xu + 8);
        const __m256 x2 = _mm256_loadu_ps(xu + 16), x3 = _mm256_loadu_ps(xu + 24);
#define QMM_ROW(k)                                                                                                     \
    {                                                                                                                  \
        float s0, s1, m;                                                                                               \
        unit_scales(t, r##k, u, &s0, &s1, &m);                                                                         \
        __m256 c0, c1, c2, c3;                                                                                         \
        codes_f32(unit_codes(t, r##k, u), &c0, &c1, &c2, &c3);                                                         \
        __m256 lo = _mm256_fmadd_ps(c1, x1, _mm256_mul_ps(c0, x0));                                                    \
        __m256 hi = _mm256_fmadd_ps(c3, x3, _mm256_mul_ps(c2, x2));                                                    \
        if (two_scales(t)) {                                                                                           \
            a##k = _mm256_fmadd_ps(lo, _mm256_set1_ps(s0), a##k);                                                      \
            a##k = _mm256_fmadd_ps(hi, _mm256_set1_ps(s1), a##k);                                                      \
        } else                                                                                                         \
            a##k = _mm256_fmadd_ps(_mm256_add_ps(lo, hi), _mm256_set1_ps(s0), a##k);                                   \
        if (has_min(t)) m##k += m * xsum[u];                                                                           \
    }
        QMM_ROW(0) QMM_ROW(1) QMM_ROW(2) QMM_ROW(3)
#undef QMM_ROW
    }
    out[0] = qb_hsum8(a0) + m0, out[1] = qb_hsum8(a1) + m1, out[2] = qb_hsum8(a2) + m2, out[3] = qb_hsum8(a3) + m3;
}

INLINE float gemv1_f32(qb_type t, const uint8_t *r0, const float *x, const float *xsum, int nu) {
    __m256 a0 = _mm256_setzero_ps();
    float m0 = 0;
    for (int u = 0; u < nu; u++) {
        const float *xu = x + (size_t)u * QB_UNIT;
        float s0, s1, m;
        unit_scales(t, r0, u, &s0, &s1, &m);
        __m256 c0, c1, c2, c3;
        codes_f32(unit_codes(t, r0, u), &c0, &c1, &c2, &c3);
        __m256 lo = _mm256_fmadd_ps(c1, _mm256_loadu_ps(xu + 8), _mm256_mul_ps(c0, _mm256_loadu_ps(xu)));
        __m256 hi = _mm256_fmadd_ps(c3, _mm256_loadu_ps(xu + 24), _mm256_mul_ps(c2, _mm256_loadu_ps(xu + 16)));
        a0 = _mm256_fmadd_ps(lo, _mm256_set1_ps(s0), a0);
        a0 = _mm256_fmadd_ps(hi, _mm256_set1_ps(s1), a0);
        if (has_min(t)) m0 += m * xsum[u];
    }
    return qb_hsum8(a0) + m0;
}

// ---- prefill (T > 1): a tile of rows unpacked once, every token swept ----------

// Weight-only: rows dequantized to a float32 panel (then the float GEMM).
INLINE void panel_f32(qb_type t, const uint8_t *row, int nu, float *p) {
    for (int u = 0; u < nu; u++, p += QB_UNIT) {
        float s0, s1, m;
        unit_scales(t, row, u, &s0, &s1, &m);
        __m256 c0, c1, c2, c3;
        codes_f32(unit_codes(t, row, u), &c0, &c1, &c2, &c3);
        const __m256 vs0 = _mm256_set1_ps(s0), vs1 = _mm256_set1_ps(s1), vm = _mm256_set1_ps(m);
        _mm256_storeu_ps(p, _mm256_fmadd_ps(c0, vs0, vm));
        _mm256_storeu_ps(p + 8, _mm256_fmadd_ps(c1, vs0, vm));
        _mm256_storeu_ps(p + 16, _mm256_fmadd_ps(c2, vs1, vm));
        _mm256_storeu_ps(p + 24, _mm256_fmadd_ps(c3, vs1, vm));
    }
}

// W8A8 on tiles of eight rows, transposed: vector k of unit u holds, in lane
// r, row r's codes 4k..4k+3. Against the token's activation bytes 4k..4k+3
// broadcast to every lane, maddubs + madd give the eight rows' partial dots
// in the eight lanes, so a unit ends in one vector of eight row sums: one
// convert and one FMA with the eight rows' scales, no horizontal sums, and
// the outputs are stored as one vector. About half the instructions of the
// four-row tile it replaced (with it the ppl pass of an int8 model ran W8A8
// slower than f32).
enum { RT8 = 8 };
typedef struct {
    __m256i *codes;     // [nu][8] transposed code vectors
    float *s0, *s1, *m; // [nu][8]: the eight rows' scales and mins per unit
} tile8;

// out[k] lane r = in[r] lane k (32-bit lanes).
INLINE void transpose8x8_epi32(__m256i v[8]) {
    __m256i t[8], u[8];
    UNROLL for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_epi32(v[2 * i], v[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_epi32(v[2 * i], v[2 * i + 1]);
    }
    UNROLL for (int i = 0; i < 2; i++) {
        u[4 * i + 0] = _mm256_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = _mm256_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = _mm256_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm256_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    UNROLL for (int k = 0; k < 4; k++) {
        v[k] = _mm256_permute2x128_si256(u[k], u[4 + k], 0x20);
        v[4 + k] = _mm256_permute2x128_si256(u[k], u[4 + k], 0x31);
    }
}

// Rows o.. of the tile; a short last tile (nr < 8 rows) repeats its last row,
// whose extra outputs are not stored.
INLINE void unpack_tile8(qb_type t, const uint8_t *W, size_t rb, int o, int nr, int nu, const tile8 *tl) {
    for (int u = 0; u < nu; u++) {
        __m256i v[RT8];
        for (int r = 0; r < RT8; r++) {
            const uint8_t *row = W + (size_t)(o + (r < nr ? r : nr - 1)) * rb;
            const int k = u * RT8 + r;
            v[r] = unit_codes(t, row, u);
            unit_scales(t, row, u, &tl->s0[k], &tl->s1[k], &tl->m[k]);
        }
        transpose8x8_epi32(v);
        for (int k = 0; k < 8; k++) tl->codes[u * 8 + k] = v[k];
    }
}

// One unit of one token against the tile: the eight rows' int32 dot products
// (lo: codes 0-15, hi: 16-31; for single-scale types only lo + hi is used).
// The unsigned codes are 4-bit (0..15): a maddubs pair is at most 2 * 15 *
// 127, so the unit's eight chunks add up in int16 and one madd widens them;
// other types widen each chunk. Signed codes of single-scale types with VNNI:
// vpdpbusd's first operand is unsigned, so the codes go in offset by 128 (one
// xor) and 128 sum(xq) comes off the total, instead of two vpsignb per vector
// (the sum is the unit's, so not for two-scale types, whose halves differ).
INLINE void unit_dots8(qb_type t, int vnni, const __m256i *q, const qb_block_q8a *xb, __m256i *lo, __m256i *hi) {
    const int32_t *xw = (const int32_t *)xb->qs;
    const __m256i ones = _mm256_set1_epi16(1);
    if (codes_unsigned(t) && !vnni) {
        __m256i p = _mm256_maddubs_epi16(q[0], _mm256_set1_epi32(xw[0]));
        UNROLL for (int k = 1; k < 8; k++) p = _mm256_add_epi16(p, _mm256_maddubs_epi16(q[k], _mm256_set1_epi32(xw[k])));
        *lo = _mm256_madd_epi16(p, ones);
        *hi = _mm256_setzero_si256();
        return;
    }
#ifdef __AVX512VNNI__
    if (vnni && !codes_unsigned(t) && !two_scales(t)) {
        const __m256i off = _mm256_set1_epi8((char)0x80);
        __m256i l = _mm256_set1_epi32(-128 * xb->sum), h = _mm256_setzero_si256();
        UNROLL for (int k = 0; k < 4; k++) {
            l = _mm256_dpbusd_epi32(l, _mm256_xor_si256(q[k], off), _mm256_set1_epi32(xw[k]));
            h = _mm256_dpbusd_epi32(h, _mm256_xor_si256(q[4 + k], off), _mm256_set1_epi32(xw[4 + k]));
        }
        *lo = l, *hi = h;
        return;
    }
#endif
    __m256i l = dot_i8(q[0], _mm256_set1_epi32(xw[0]), codes_unsigned(t), vnni);
    __m256i h = dot_i8(q[4], _mm256_set1_epi32(xw[4]), codes_unsigned(t), vnni);
    UNROLL for (int k = 1; k < 4; k++) {
        l = _mm256_add_epi32(l, dot_i8(q[k], _mm256_set1_epi32(xw[k]), codes_unsigned(t), vnni));
        h = _mm256_add_epi32(h, dot_i8(q[4 + k], _mm256_set1_epi32(xw[4 + k]), codes_unsigned(t), vnni));
    }
    *lo = l, *hi = h;
}

// acc += the unit's eight row sums times their scales (and the min term).
INLINE __m256 unit_acc8(qb_type t, const tile8 *tl, int u, __m256i lo, __m256i hi, const qb_block_q8a *xb, __m256 acc) {
    const __m256 dx = _mm256_set1_ps(xb->d);
    const __m256 s0 = _mm256_mul_ps(_mm256_loadu_ps(tl->s0 + u * RT8), dx);
    if (two_scales(t)) {
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lo), s0, acc);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hi), _mm256_mul_ps(_mm256_loadu_ps(tl->s1 + u * RT8), dx), acc);
    } else
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(lo, hi)), s0, acc);
    if (has_min(t)) acc = _mm256_fmadd_ps(_mm256_loadu_ps(tl->m + u * RT8), _mm256_set1_ps(xb->d * (float)xb->sum), acc);
    return acc;
}

// The tile's nr rows of output for one token: a whole vector, or its first nr lanes.
INLINE void store_rows8(float *y, int nr, __m256 v) {
    if (nr == RT8) {
        _mm256_storeu_ps(y, v);
        return;
    }
    float out[RT8];
    _mm256_storeu_ps(out, v);
    memcpy(y, out, sizeof(float) * nr);
}

INLINE void prefill8_q8(const qb_qmm_args *a, qb_type t, int vnni, int o, int nr, const tile8 *tl) {
    const int nu = a->w->n_in / QB_UNIT, n_out = a->w->n_out, T = a->T;
    __m256 bias = _mm256_setzero_ps();
    if (a->bias) {
        float b[RT8] = {0};
        memcpy(b, a->bias + o, sizeof(float) * nr);
        bias = _mm256_loadu_ps(b);
    }
    int tok = 0;
    for (; tok + 2 <= T; tok += 2) { // two tokens share each code vector's load
        const qb_block_q8a *xa = a->xq + (size_t)tok * nu, *xb = xa + nu;
        __m256 fa = _mm256_setzero_ps(), fb = fa;
        for (int u = 0; u < nu; u++) {
            __m256i la, ha, lb, hb;
            unit_dots8(t, vnni, tl->codes + u * 8, &xa[u], &la, &ha);
            unit_dots8(t, vnni, tl->codes + u * 8, &xb[u], &lb, &hb);
            fa = unit_acc8(t, tl, u, la, ha, &xa[u], fa);
            fb = unit_acc8(t, tl, u, lb, hb, &xb[u], fb);
        }
        store_rows8(a->y + (size_t)tok * n_out + o, nr, _mm256_add_ps(fa, bias));
        store_rows8(a->y + (size_t)(tok + 1) * n_out + o, nr, _mm256_add_ps(fb, bias));
    }
    for (; tok < T; tok++) {
        const qb_block_q8a *xa = a->xq + (size_t)tok * nu;
        __m256 fa = _mm256_setzero_ps();
        for (int u = 0; u < nu; u++) {
            __m256i la, ha;
            unit_dots8(t, vnni, tl->codes + u * 8, &xa[u], &la, &ha);
            fa = unit_acc8(t, tl, u, la, ha, &xa[u], fa);
        }
        store_rows8(a->y + (size_t)tok * n_out + o, nr, _mm256_add_ps(fa, bias));
    }
}

// ---- decode (T == 1), W8A8: eight rows transposed in registers ----------------

// The tile8 layout (vector k: lane r holds row r's codes 4k..4k+3) built per
// unit straight from the weights, so unit_dots8 gives the eight rows' dots in
// one vector and a unit costs one convert and one FMA for all eight rows, not
// a scale broadcast, a convert, an FMA and a scalar min term per row and
// horizontal sums at the end (the four-row gemv4_q8 it replaced for every
// type). For the 4-bit types the 16 packed bytes are transposed before the
// nibbles are split: 4 vectors to shuffle instead of 8. About a third of
// gemv4_q8's instructions per weight for Q4_0. Q4_K and Q6_K have their own
// loops over super-blocks (gemv8_q8_q4k, gemv8_q6k).

// Bytes of one unit's block and where its scale, min and codes lie in it.
typedef struct {
    size_t block, d, m, qs;
} block_fmt;

INLINE block_fmt fmt_of(qb_type t) {
    switch (t) {
    case QB_TYPE_Q8_0: return (block_fmt){sizeof(qb_block_q8_0), 0, 0, offsetof(qb_block_q8_0, qs)};
    case QB_TYPE_Q4_0: return (block_fmt){sizeof(qb_block_q4_0), 0, 0, offsetof(qb_block_q4_0, qs)};
    case QB_TYPE_Q4_1:
        return (block_fmt){sizeof(qb_block_q4_1), offsetof(qb_block_q4_1, d), offsetof(qb_block_q4_1, m),
                           offsetof(qb_block_q4_1, qs)};
    default: return (block_fmt){sizeof(qb_block_iq4_nl), 0, 0, offsetof(qb_block_iq4_nl, qs)};
    }
}

// 128 bits of rows r and r + 4 in the two halves of one vector.
INLINE __m256i load_pair(const uint8_t *lo, const uint8_t *hi) {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)lo)),
                                   _mm_loadu_si128((const __m128i *)hi), 1);
}

// The 16 bytes at rows[r] + off of eight rows, transposed: lane r of p[k]
// holds row r's bytes 4k..4k+3 (a 4x4 transpose of 32-bit lanes per half).
INLINE void transpose16x8(const uint8_t *const *rows, size_t off, __m256i p[4]) {
    __m256i v[4];
    UNROLL for (int r = 0; r < 4; r++) v[r] = load_pair(rows[r] + off, rows[r + 4] + off);
    const __m256i t0 = _mm256_unpacklo_epi32(v[0], v[1]), t1 = _mm256_unpackhi_epi32(v[0], v[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(v[2], v[3]), t3 = _mm256_unpackhi_epi32(v[2], v[3]);
    p[0] = _mm256_unpacklo_epi64(t0, t2), p[1] = _mm256_unpackhi_epi64(t0, t2);
    p[2] = _mm256_unpacklo_epi64(t1, t3), p[3] = _mm256_unpackhi_epi64(t1, t3);
}

// The eight rows' codes of unit u in the tile8 layout. Packed nibbles: byte
// j holds codes j and j + 16, so the low nibbles of p[k] are codes 4k..4k+3
// and the high ones 16+4k..16+4k+3.
INLINE void codes8(qb_type t, const uint8_t *const *rows, size_t off, __m256i q[8]) {
    if (t == QB_TYPE_Q8_0) {
        UNROLL for (int r = 0; r < RT8; r++) q[r] = _mm256_loadu_si256((const __m256i *)(rows[r] + off));
        transpose8x8_epi32(q);
        return;
    }
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256i p[4];
    transpose16x8(rows, off, p);
    UNROLL for (int k = 0; k < 4; k++) {
        q[k] = _mm256_and_si256(p[k], m4);
        q[4 + k] = _mm256_and_si256(_mm256_srli_epi16(p[k], 4), m4);
    }
    if (t == QB_TYPE_IQ4_NL) {
        const __m256i kv = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qb_kvalues_iq4nl));
        UNROLL for (int k = 0; k < 8; k++) q[k] = _mm256_shuffle_epi8(kv, q[k]);
    }
}

// The half-precision field at rows[r] + off of the eight rows, as floats.
// Gathered in two 64-bit integers: eight 16-bit stores read back as one
// vector would miss store-to-load forwarding.
INLINE __m256 halves8(const uint8_t *const *rows, size_t off) {
    uint64_t h[2] = {0, 0};
    UNROLL for (int r = 0; r < RT8; r++) {
        uint16_t v;
        memcpy(&v, rows[r] + off, sizeof v);
        h[r / 4] |= (uint64_t)v << (16 * (r % 4));
    }
    return _mm256_cvtph_ps(_mm_set_epi64x((long long)h[1], (long long)h[0]));
}

// The eight rows' dot products with one token's int8 activations. Q4_0's
// codes are taken unsigned (codes_unsigned); its -8 is subtracted from the
// integer dot as 8 sum(xq), exactly.
INLINE __m256 gemv8_q8(qb_type t, int vnni, const uint8_t *const *rows, const qb_block_q8a *xq, int nu,
                       const prefetch_plan *pf) {
    const block_fmt f = fmt_of(t);
    __m256 acc = _mm256_setzero_ps();
    for (int u = 0; u < nu; u++) {
        prefetch_step(pf, u);
        const size_t b = (size_t)u * f.block;
        __m256i q[8], lo, hi;
        codes8(t, rows, b + f.qs, q);
        unit_dots8(t, vnni, q, &xq[u], &lo, &hi);
        __m256i dot = _mm256_add_epi32(lo, hi);
        if (t == QB_TYPE_Q4_0) dot = _mm256_sub_epi32(dot, _mm256_set1_epi32(8 * xq[u].sum));
        const __m256 dx = _mm256_set1_ps(xq[u].d);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_mul_ps(halves8(rows, b + f.d), dx), acc);
        if (t == QB_TYPE_Q4_1)
            acc = _mm256_fmadd_ps(halves8(rows, b + f.m), _mm256_mul_ps(dx, _mm256_set1_ps((float)xq[u].sum)), acc);
    }
    return acc;
}

// ---- decode (T == 1), weight-only: the same transposed bytes, in float -------

// Byte j of lane r of p[k] (transpose16x8) holds row r's codes 4k+j (low
// nibble) and 16+4k+j (high nibble). One shuffle brings byte j down to the
// low byte of each 32-bit lane, an and and a shift split it, and each half is
// converted and FMA'd with its activation broadcast: eight rows times eight
// codes in ~3.5 instructions (gemv4_f32 needs ~6: unpack, widen, convert,
// FMA), and the unit's scales cost one FMA for all eight rows. IQ4_NL's
// codebook values are looked up on the packed bytes first (codes8) and
// sign-extended per byte instead.
INLINE int decode8_f32_type(qb_type t) {
    return t == QB_TYPE_Q4_0 || t == QB_TYPE_Q4_1 || t == QB_TYPE_IQ4_NL || t == QB_TYPE_Q4_K || t == QB_TYPE_Q6_K;
}

// The shuffle control that brings byte j of each 32-bit lane down to its low
// byte, zeros above (0x80).
INLINE __m256i byte_of_lanes(int j) {
    return _mm256_add_epi32(_mm256_setr_epi32(0, 4, 8, 12, 0, 4, 8, 12), _mm256_set1_epi32((int)0x80808000u + j));
}

// For the eight rows, sums over the 16 bytes of p[0..3] (transpose16x8) of
// low nibble of byte 4k+j times xlo[4k+j] (lo) and high nibble times
// xhi[4k+j] (hi). Eight partial sums, four FMAs deep: with fewer the FMA
// latency chains, not the instruction count, set the pace (four sums of
// eight: 1.1x slower).
INLINE void nibble_sums8(const __m256i p[4], const float *xlo, const float *xhi, __m256 *lo, __m256 *hi) {
    const __m256i m4 = _mm256_set1_epi32(0x0F);
    __m256 s[8];
    UNROLL for (int j = 0; j < 4; j++) {
        const __m256i sel = byte_of_lanes(j);
        s[j] = s[4 + j] = _mm256_setzero_ps();
        UNROLL for (int k = 0; k < 4; k++) {
            const __m256i b = _mm256_shuffle_epi8(p[k], sel);
            s[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_and_si256(b, m4)), _mm256_broadcast_ss(xlo + 4 * k + j), s[j]);
            s[4 + j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(b, 4)), _mm256_broadcast_ss(xhi + 4 * k + j), s[4 + j]);
        }
    }
    *lo = _mm256_add_ps(_mm256_add_ps(s[0], s[1]), _mm256_add_ps(s[2], s[3]));
    *hi = _mm256_add_ps(_mm256_add_ps(s[4], s[5]), _mm256_add_ps(s[6], s[7]));
}

// sum over the unit's 32 codes of code * x, for the eight rows (unsigned
// codes; byte j holds codes j and 16 + j).
INLINE __m256 unit_f32x8(const __m256i p[4], const float *x) {
    __m256 lo, hi;
    nibble_sums8(p, x, x + 16, &lo, &hi);
    return _mm256_add_ps(lo, hi);
}

// Signed byte j of each 32-bit lane of v, as floats: shifted to the top of
// the lane and arithmetically back down, which sign-extends it (byte 3 needs
// the right shift only).
INLINE __m256 sbyte_of_lanes_f32(__m256i v, int j) {
    return _mm256_cvtepi32_ps(_mm256_srai_epi32(j == 3 ? v : _mm256_slli_epi32(v, 24 - 8 * j), 24));
}

// The same sums for signed int8 codes in the tile8 layout (codes8: lane r of
// q[k] holds row r's codes 4k..4k+3), over codes 0-15 (lo) and 16-31 (hi).
INLINE void i8_sums8(const __m256i q[8], const float *x, __m256 *lo, __m256 *hi) {
    __m256 s[8];
    UNROLL for (int k = 0; k < 8; k++) s[k] = _mm256_setzero_ps();
    UNROLL for (int j = 0; j < 4; j++) {
        UNROLL for (int k = 0; k < 8; k++)
            s[k] = _mm256_fmadd_ps(sbyte_of_lanes_f32(q[k], j), _mm256_broadcast_ss(x + 4 * k + j), s[k]);
    }
    *lo = _mm256_add_ps(_mm256_add_ps(s[0], s[1]), _mm256_add_ps(s[2], s[3]));
    *hi = _mm256_add_ps(_mm256_add_ps(s[4], s[5]), _mm256_add_ps(s[6], s[7]));
}

INLINE __m256 unit_f32x8_i8(const __m256i q[8], const float *x) {
    __m256 lo, hi;
    i8_sums8(q, x, &lo, &hi);
    return _mm256_add_ps(lo, hi);
}

// The eight rows' dot products with one float token; as in gemv4_f32 Q4_0's
// and Q4_1's codes are unsigned and the -8 (the min) goes through sum(x) per
// unit; IQ4_NL's are the signed codebook values, with no min.
INLINE __m256 gemv8_f32(qb_type t, const uint8_t *const *rows, const float *x, const float *xsum, int nu,
                        const prefetch_plan *pf) {
    const block_fmt f = fmt_of(t);
    __m256 acc = _mm256_setzero_ps();
    for (int u = 0; u < nu; u++) {
        prefetch_step(pf, u);
        const size_t b = (size_t)u * f.block;
        __m256 sum;
        if (t == QB_TYPE_IQ4_NL) {
            __m256i q[8];
            codes8(t, rows, b + f.qs, q);
            sum = unit_f32x8_i8(q, x + (size_t)u * QB_UNIT);
        } else {
            __m256i p[4];
            transpose16x8(rows, b + f.qs, p);
            sum = unit_f32x8(p, x + (size_t)u * QB_UNIT);
        }
        if (t == QB_TYPE_Q4_0) sum = _mm256_sub_ps(sum, _mm256_set1_ps(8 * xsum[u]));
        acc = _mm256_fmadd_ps(sum, halves8(rows, b + f.d), acc);
        if (t == QB_TYPE_Q4_1) acc = _mm256_fmadd_ps(halves8(rows, b + f.m), _mm256_set1_ps(xsum[u]), acc);
    }
    return acc;
}

// ---- decode (T == 1), Q4_K: a super-block's two units per chunk ------------

// Unit u of a row is sub-block u % 8 of super-block u / 8: the low (even u)
// or high (odd u) nibbles of the 32-byte chunk (u % 8) / 2, so the two units
// of a chunk share one transpose (two of transpose16x8: lane r of p[k] holds
// row r's bytes 4k..4k+3, k < 8). Each row has its own 6-bit scale and min
// per sub-block: the 12 packed bytes of the eight rows are transposed once
// per super-block as 32-bit words w0..w2 (like the codes), so the bit fields
// of qb_q4_K_scale_min unpack for all eight rows and four sub-blocks at
// once, and a unit's scales and mins are one byte shuffle and convert each.
typedef struct {
    __m256 d, dmin;
    __m256i sc[2], mn[2]; // byte j of lane r: row r's scale (min) of sub-block 4i + j
} q4k_scales8;

INLINE q4k_scales8 q4k_scales(const uint8_t *const *rows, size_t b) {
    const __m256i m6 = _mm256_set1_epi8(0x3F), m4 = _mm256_set1_epi8(0x0F), top2 = _mm256_set1_epi8(0x30);
    __m256i w[4]; // w[3]: the first codes, unused
    transpose16x8(rows, b + offsetof(qb_block_q4_K, scales), w);
    q4k_scales8 s;
    s.d = halves8(rows, b + offsetof(qb_block_q4_K, d));
    s.dmin = halves8(rows, b + offsetof(qb_block_q4_K, dmin));
    s.sc[0] = _mm256_and_si256(w[0], m6);
    s.mn[0] = _mm256_and_si256(w[1], m6);
    // Sub-blocks 4-7: low (high) nibble of w2 and, as bits 4-5, the top two bits of w0 (w1).
    s.sc[1] = _mm256_or_si256(_mm256_and_si256(w[2], m4), _mm256_and_si256(_mm256_srli_epi32(w[0], 2), top2));
    s.mn[1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(w[2], 4), m4),
                              _mm256_and_si256(_mm256_srli_epi32(w[1], 2), top2));
    return s;
}

// The eight rows' scale d * sc and min dmin * mn (to be subtracted) of sub-block j.
INLINE void q4k_unit_scales(const q4k_scales8 *s, int j, __m256 *scale, __m256 *min) {
    const __m256i sel = byte_of_lanes(j % 4);
    *scale = _mm256_mul_ps(s->d, _mm256_cvtepi32_ps(_mm256_shuffle_epi8(s->sc[j / 4], sel)));
    *min = _mm256_mul_ps(s->dmin, _mm256_cvtepi32_ps(_mm256_shuffle_epi8(s->mn[j / 4], sel)));
}

// The 32 bytes of chunk c of the super-block at b, transposed.
INLINE void q4k_chunk(const uint8_t *const *rows, size_t b, int c, __m256i p[8]) {
    const size_t off = b + offsetof(qb_block_q4_K, qs) + 32 * (size_t)c;
    transpose16x8(rows, off, p);
    transpose16x8(rows, off + 16, p + 4);
}

// W8A8: the codes are unsigned 4-bit, so unit_dots8 adds them up in int16.
INLINE __m256 gemv8_q8_q4k(int vnni, const uint8_t *const *rows, const qb_block_q8a *xq, int nu,
                           const prefetch_plan *pf) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    for (int sb = 0; sb < nu / 8; sb++) {
        const size_t b = (size_t)sb * sizeof(qb_block_q4_K);
        const q4k_scales8 s = q4k_scales(rows, b);
        for (int c = 0; c < 4; c++) {
            __m256i p[8];
            q4k_chunk(rows, b, c, p);
            UNROLL for (int h = 0; h < 2; h++) {
                const int u = 8 * sb + 2 * c + h;
                prefetch_step(pf, u);
                __m256i q[8], lo, hi;
                UNROLL for (int k = 0; k < 8; k++) q[k] = _mm256_and_si256(h ? _mm256_srli_epi16(p[k], 4) : p[k], m4);
                unit_dots8(QB_TYPE_Q4_K, vnni, q, &xq[u], &lo, &hi);
                __m256 scale, min;
                q4k_unit_scales(&s, 2 * c + h, &scale, &min);
                const __m256 dx = _mm256_set1_ps(xq[u].d);
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(lo, hi)), _mm256_mul_ps(scale, dx), acc);
                acc = _mm256_fnmadd_ps(min, _mm256_set1_ps(xq[u].d * (float)xq[u].sum), acc);
            }
        }
    }
    return acc;
}

// Weight-only: the chunk's low nibbles against unit 2c's x, the high ones
// against unit 2c + 1's, in two halves of 16 bytes.
#ifdef QMM_AVX512
// Vectors k0..k0+nk-1 of q against the limbs, plus init, times d/16384.
INLINE __m256 x3_chains8(const __m256i *q, const qb_block_x3 *xb, int k0, int nk, int init) {
    __m256i l[3];
    UNROLL for (int i = 0; i < 3; i++) {
        const int32_t *xw = (const int32_t *)xb->qs[i];
        l[i] = i == 2 ? _mm256_set1_epi32(init) : _mm256_setzero_si256();
        UNROLL for (int k = k0; k < k0 + nk; k++) l[i] = _mm256_dpbusd_epi32(l[i], q[k], _mm256_set1_epi32(xw[k]));
    }
    const __m256i dot = _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(l[0], 14), _mm256_slli_epi32(l[1], 7)), l[2]);
    return _mm256_mul_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(xb->d * (1.0f / 16384)));
}

// The dot of unsigned codes in the tile8 layout (eight rows) with x in three
// limbs (qb_block_x3), less off times sum(x), as gemv16_x3 does on sixteen
// rows: int32 (wrapping: the result fits, whatever the partial sums do),
// times d/16384. halves (a constant): over codes 0-15 (lo) and 16-31 (hi)
// apart, else all in lo.
INLINE void dot8_x3(const __m256i q[8], const qb_block_x3 *xb, int off, int halves, __m256 *lo, __m256 *hi) {
    if (halves) {
        *lo = x3_chains8(q, xb, 0, 4, -off * xb->sum_lo);
        *hi = x3_chains8(q, xb, 4, 4, -off * (xb->sum - xb->sum_lo));
    } else
        *lo = x3_chains8(q, xb, 0, 8, -off * xb->sum);
}
#endif

// x3: x in three limbs where qb_qmm_x3_avx512 says so (else NULL): the
// chunk's two units are dot8_x3 on its low and high nibbles.
INLINE __m256 gemv8_f32_q4k(const uint8_t *const *rows, const float *x, const float *xsum, const qb_block_x3 *x3,
                            int nu, const prefetch_plan *pf) {
#ifndef QMM_AVX512
    (void)x3; // always NULL here
#endif
    __m256 acc = _mm256_setzero_ps();
    for (int sb = 0; sb < nu / 8; sb++) {
        const size_t b = (size_t)sb * sizeof(qb_block_q4_K);
        const q4k_scales8 s = q4k_scales(rows, b);
        for (int c = 0; c < 4; c++) {
            const int u = 8 * sb + 2 * c;
            prefetch_step(pf, u);
            prefetch_step(pf, u + 1);
            __m256i p[8];
            q4k_chunk(rows, b, c, p);
            const float *xa = x + (size_t)u * QB_UNIT, *xb = xa + QB_UNIT;
            __m256 sum[2], lo, hi, scale, min;
#ifdef QMM_AVX512
            if (x3) {
                const __m256i m4 = _mm256_set1_epi8(0x0F);
                UNROLL for (int h = 0; h < 2; h++) {
                    __m256i q[8];
                    UNROLL for (int k = 0; k < 8; k++) q[k] = _mm256_and_si256(h ? _mm256_srli_epi16(p[k], 4) : p[k], m4);
                    dot8_x3(q, &x3[u + h], 0, 0, &sum[h], &hi);
                }
            } else
#endif
            {
                nibble_sums8(p, xa, xb, &sum[0], &sum[1]);
                nibble_sums8(p + 4, xa + 16, xb + 16, &lo, &hi);
                sum[0] = _mm256_add_ps(sum[0], lo), sum[1] = _mm256_add_ps(sum[1], hi);
            }
            UNROLL for (int h = 0; h < 2; h++) {
                q4k_unit_scales(&s, 2 * c + h, &scale, &min);
                acc = _mm256_fmadd_ps(sum[h], scale, acc);
                acc = _mm256_fnmadd_ps(min, _mm256_set1_ps(xsum[u + h]), acc);
            }
        }
    }
    return acc;
}

// ---- decode (T == 1), Q6_K: units in pairs that share their bytes ---------

// Unit s = 4h + k of a super-block: the low (k < 2) or high nibbles of ql's
// 32 bytes at 64h + 32(k % 2), bits 2k..2k+1 of qh's 32 bytes at 32h as bits
// 4-5, less 32; two scales (int8, times d) for its codes 0-15 and 16-31.
// Units k and k + 2 share their ql and qh bytes: one transpose of each for
// both. The sixteen int8 scales of the eight rows are transposed once per
// super-block (lane r of w[i] holds row r's scales 4i..4i+3).

// The codes of units 4h + k and 4h + k + 2 (k = 0, 1) in the tile8 layout;
// unsigned (0..63, without the less 32) where sub is 0.
INLINE void q6k_codes(const uint8_t *const *rows, size_t b, int h, int k, int sub, __m256i qa[8], __m256i qc[8]) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m45 = _mm256_set1_epi8(0x30), bias = _mm256_set1_epi8(32);
    UNROLL for (int i = 0; i < 2; i++) {
        __m256i pl[4], ph[4];
        transpose16x8(rows, b + offsetof(qb_block_q6_K, ql) + 64 * (size_t)h + 32 * (size_t)k + 16 * (size_t)i, pl);
        transpose16x8(rows, b + offsetof(qb_block_q6_K, qh) + 32 * (size_t)h + 16 * (size_t)i, ph);
        UNROLL for (int v = 0; v < 4; v++) {
            // Bits 2k..2k+1 (2k+4..2k+5) of qh to bits 4-5; shifts in 16-bit lanes, masked per byte.
            const __m256i ha = _mm256_and_si256(_mm256_slli_epi16(ph[v], 4 - 2 * k), m45);
            const __m256i hc = _mm256_and_si256(_mm256_srli_epi16(ph[v], 2 * k), m45);
            qa[4 * i + v] = _mm256_or_si256(_mm256_and_si256(pl[v], m4), ha);
            qc[4 * i + v] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(pl[v], 4), m4), hc);
            if (sub) {
                qa[4 * i + v] = _mm256_sub_epi8(qa[4 * i + v], bias);
                qc[4 * i + v] = _mm256_sub_epi8(qc[4 * i + v], bias);
            }
        }
    }
}

typedef struct {
    __m256 d;
    __m256i w[4];
} q6k_scales8;

INLINE q6k_scales8 q6k_scales(const uint8_t *const *rows, size_t b) {
    q6k_scales8 s;
    s.d = halves8(rows, b + offsetof(qb_block_q6_K, d));
    transpose16x8(rows, b + offsetof(qb_block_q6_K, scales), s.w);
    return s;
}

// The eight rows' scale i (0..15: sub-block of 16) of the super-block.
INLINE __m256 q6k_scale(const q6k_scales8 *s, int i) { return _mm256_mul_ps(s->d, sbyte_of_lanes_f32(s->w[i / 4], i % 4)); }

// acc plus one unit's sums over codes 0-15 and 16-31 times the eight rows'
// scales s0 and s1. act is a constant at each call site: W8A8 takes the
// signed codes' integer dots (unit_dots8), weight-only their float sums.
// Only the activations of the mode are read (the other pointer may be NULL).
// Weight-only with x3 (three limbs, where qb_qmm_x3_avx512 says so; else
// NULL): the unsigned codes' dots per half (dot8_x3), less 32 sum(x).
INLINE __m256 q6k_unit(qb_act_mode act, int vnni, const __m256i q[8], const qb_block_q8a *xq, const float *x,
                       const qb_block_x3 *x3, int u, __m256 s0, __m256 s1, __m256 acc) {
    if (act == QB_ACT_Q8) {
        __m256i lo, hi;
        unit_dots8(QB_TYPE_Q6_K, vnni, q, &xq[u], &lo, &hi);
        const __m256 dx = _mm256_set1_ps(xq[u].d);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lo), _mm256_mul_ps(s0, dx), acc);
        return _mm256_fmadd_ps(_mm256_cvtepi32_ps(hi), _mm256_mul_ps(s1, dx), acc);
    }
    __m256 lo, hi;
#ifdef QMM_AVX512
    if (x3)
        dot8_x3(q, &x3[u], 32, 1, &lo, &hi);
    else
#else
    (void)x3; // always NULL here
#endif
        i8_sums8(q, x + (size_t)u * QB_UNIT, &lo, &hi);
    return _mm256_fmadd_ps(hi, s1, _mm256_fmadd_ps(lo, s0, acc));
}

INLINE __m256 gemv8_q6k(qb_act_mode act, int vnni, const uint8_t *const *rows, const qb_block_q8a *xq, const float *x,
                        const qb_block_x3 *x3, int nu, const prefetch_plan *pf) {
    __m256 acc = _mm256_setzero_ps();
    for (int sb = 0; sb < nu / 8; sb++) {
        const size_t b = (size_t)sb * sizeof(qb_block_q6_K);
        const q6k_scales8 s = q6k_scales(rows, b);
        for (int h = 0; h < 2; h++)
            for (int k = 0; k < 2; k++) {
                __m256i q[2][8];
                q6k_codes(rows, b, h, k, !x3, q[0], q[1]);
                UNROLL for (int e = 0; e < 2; e++) {
                    const int su = 4 * h + k + 2 * e, u = 8 * sb + su;
                    prefetch_step(pf, u);
                    acc = q6k_unit(act, vnni, q[e], xq, x, x3, u, q6k_scale(&s, 2 * su), q6k_scale(&s, 2 * su + 1),
                                   acc);
                }
            }
    }
    return acc;
}

#ifdef QMM_AVX512
// ---- decode (T == 1) on AVX-512: sixteen rows per 512-bit vector ------------

// The eight-row layout on sixteen rows: the same 4x4 transposes of 32-bit
// lanes, one per 128-bit lane, fill lane r of a 512-bit vector with row r,
// so each vector instruction does the work of two 256-bit ones for about the
// same number of shuffles per row. Q4_0, Q4_1 and IQ4_NL, weight-only and
// (with VNNI) W8A8.
enum { RT16 = 16 };

// The 16 bytes at rows[r] + off of sixteen rows, transposed: lane r of p[k]
// holds row r's bytes 4k..4k+3 (v[i]'s 128-bit lane L holds row i + 4L).
INLINE void transpose16x16(const uint8_t *const *rows, size_t off, __m512i p[4]) {
    __m512i v[4];
    UNROLL for (int r = 0; r < 4; r++) {
        __m512i a = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(rows[r] + off)));
        a = _mm512_inserti32x4(a, _mm_loadu_si128((const __m128i *)(rows[r + 4] + off)), 1);
        a = _mm512_inserti32x4(a, _mm_loadu_si128((const __m128i *)(rows[r + 8] + off)), 2);
        v[r] = _mm512_inserti32x4(a, _mm_loadu_si128((const __m128i *)(rows[r + 12] + off)), 3);
    }
    const __m512i t0 = _mm512_unpacklo_epi32(v[0], v[1]), t1 = _mm512_unpackhi_epi32(v[0], v[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(v[2], v[3]), t3 = _mm512_unpackhi_epi32(v[2], v[3]);
    p[0] = _mm512_unpacklo_epi64(t0, t2), p[1] = _mm512_unpackhi_epi64(t0, t2);
    p[2] = _mm512_unpacklo_epi64(t1, t3), p[3] = _mm512_unpackhi_epi64(t1, t3);
}

// The sixteen rows' float16 at rows[r] + off, by one gather of the 32-bit
// words holding them: at off, or at off - 2 where the value may end its block
// (every word read stays inside the block). halves8's scalar loads merged in
// general registers, twice, cost the sixteen-row kernels 5-15 % (qmatmul
// --rotate 64, 1 thread: Q4_0/Q4_1/IQ4_NL W8A8 1.10-1.20x, weight-only
// 1.03-1.08x); for the eight-row kernels an eight-lane gather measured no
// better (0.95-1.05x), so they keep halves8.
#define ROW_OFF(r) (int)(rows[r] - rows[0])
INLINE __m512i row_offsets16(const uint8_t *const *rows) {
    return _mm512_setr_epi32(0, ROW_OFF(1), ROW_OFF(2), ROW_OFF(3), ROW_OFF(4), ROW_OFF(5), ROW_OFF(6), ROW_OFF(7),
                             ROW_OFF(8), ROW_OFF(9), ROW_OFF(10), ROW_OFF(11), ROW_OFF(12), ROW_OFF(13), ROW_OFF(14),
                             ROW_OFF(15));
}
#undef ROW_OFF
INLINE __m512 halves16(const uint8_t *const *rows, size_t off) {
    const int32_t *at = (const int32_t *)(rows[0] + (off >= 2 ? off - 2 : off));
    const __m512i w = _mm512_i32gather_epi32(row_offsets16(rows), at, 1);
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(off >= 2 ? _mm512_srli_epi32(w, 16) : w));
}

// Nibble n (0..7) of each 32-bit lane as the float tab[nibble]: vpermps
// reads only the low four bits of each index, so a shift (none for nibble 0)
// and the lookup do what vpshufb, and and vcvtdq2ps did in the eight-row
// kernel, and the table holds the code's value itself (Q4_0: c - 8, IQ4_NL:
// the codebook), exactly. (A shift and a vpternlogd making 1 + c/16 from the
// mantissa bits, no port 5 uop: 0.89x of this.)
INLINE __m512 nibble_f32(__m512i v, int n, __m512 tab) {
    return _mm512_permutexvar_ps(n ? _mm512_srli_epi32(v, (unsigned)(4 * n)) : v, tab);
}

// The sixteen values of a type's 4-bit codes, as floats.
INLINE __m512 code_table16(qb_type t) {
    if (t == QB_TYPE_IQ4_NL) return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)qb_kvalues_iq4nl)));
    const __m512 c = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    return t == QB_TYPE_Q4_0 ? _mm512_sub_ps(c, _mm512_set1_ps(8)) : c;
}

// For the sixteen rows, sum over the unit's 32 codes of value * x (byte j of
// lane r of p[k] holds codes 4k+j, low nibble, and 16+4k+j, high). Eight
// partial sums, four FMAs deep.
INLINE __m512 unit_f32x16(const __m512i p[4], const float *x, __m512 tab) {
    __m512 s[8];
    UNROLL for (int j = 0; j < 4; j++) {
        s[j] = s[4 + j] = _mm512_setzero_ps();
        UNROLL for (int k = 0; k < 4; k++) {
            s[j] = _mm512_fmadd_ps(nibble_f32(p[k], 2 * j, tab), _mm512_set1_ps(x[4 * k + j]), s[j]);
            s[4 + j] = _mm512_fmadd_ps(nibble_f32(p[k], 2 * j + 1, tab), _mm512_set1_ps(x[16 + 4 * k + j]), s[4 + j]);
        }
    }
    return _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(s[0], s[1]), _mm512_add_ps(s[2], s[3])),
                         _mm512_add_ps(_mm512_add_ps(s[4], s[5]), _mm512_add_ps(s[6], s[7])));
}

// Weight-only Q4_0, Q4_1 (min through sum(x)) and IQ4_NL.
INLINE __m512 gemv16_f32(qb_type t, const uint8_t *const *rows, const float *x, const float *xsum, int nu,
                         const prefetch_plan *pf) {
    const block_fmt f = fmt_of(t);
    const __m512 tab = code_table16(t);
    __m512 acc = _mm512_setzero_ps();
    for (int u = 0; u < nu; u++) {
        prefetch_step(pf, u);
        const size_t b = (size_t)u * f.block;
        __m512i p[4];
        transpose16x16(rows, b + f.qs, p);
        acc = _mm512_fmadd_ps(unit_f32x16(p, x + (size_t)u * QB_UNIT, tab), halves16(rows, b + f.d), acc);
        if (t == QB_TYPE_Q4_1) acc = _mm512_fmadd_ps(halves16(rows, b + f.m), _mm512_set1_ps(xsum[u]), acc);
    }
    return acc;
}

// The sixteen rows' 4-bit codes of a unit as bytes in the tile layout: lane
// r of q[k] holds row r's codes 4k..4k+3 (low nibbles), of q[4 + k] codes
// 16+4k..16+4k+3 (high).
INLINE void nibbles16(const uint8_t *const *rows, size_t off, __m512i q[8]) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    transpose16x16(rows, off, q);
    UNROLL for (int k = 0; k < 4; k++) {
        q[4 + k] = _mm512_and_si512(_mm512_srli_epi16(q[k], 4), m4);
        q[k] = _mm512_and_si512(q[k], m4);
    }
}

// The 4-bit codes of sixteen rows as unsigned bytes for vpdpbusd, each
// ucode_offset(t) above the code's value: Q4_0's c is c - 8 (offset 8),
// Q4_1's c is itself, IQ4_NL's codebook is looked up in kv
// (iq4nl_table16_plus128: the values plus 128, offset 128).
INLINE int ucode_offset(qb_type t) { return t == QB_TYPE_Q4_0 ? 8 : t == QB_TYPE_IQ4_NL || t == QB_TYPE_Q8_0 ? 128 : 0; }
INLINE __m512i iq4nl_table16_plus128(void) {
    return _mm512_xor_si512(_mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)qb_kvalues_iq4nl)),
                            _mm512_set1_epi8((char)0x80));
}
INLINE void ucodes16(qb_type t, const uint8_t *const *rows, size_t off, __m512i kv, __m512i q[8]) {
    if (t == QB_TYPE_Q8_0) { // 32 int8 codes: two transposes, then the 128 offset (one xor)
        transpose16x16(rows, off, q);
        transpose16x16(rows, off + 16, q + 4);
        UNROLL for (int k = 0; k < 8; k++) q[k] = _mm512_xor_si512(q[k], _mm512_set1_epi8((char)0x80));
        return;
    }
    nibbles16(rows, off, q);
    if (t == QB_TYPE_IQ4_NL) UNROLL for (int k = 0; k < 8; k++) q[k] = _mm512_shuffle_epi8(kv, q[k]);
}

// W8A8 with VNNI: the eight-row gemv8_q8 on sixteen rows, for Q4_0, Q4_1,
// IQ4_NL and Q8_0. The codes go into vpdpbusd unsigned and off * sum(xq)
// comes off the dot: Q4_0's codes c are taken as c - 8 (off 8), IQ4_NL's
// table holds its values plus 128, Q8_0's codes are flipped by 128 (off 128).
// Q8_0's 32 bytes a row take twice the transposes, and the 512-bit shuffles
// run on port 5 alone (the 256-bit ones on ports 1 and 5): sixteen rows
// measured 0.94-0.99x of eight until halves16 gathered the scales, 1.03-1.07x
// since.
INLINE __m512 gemv16_q8(qb_type t, const uint8_t *const *rows, const qb_block_q8a *xq, int nu,
                        const prefetch_plan *pf) {
    const block_fmt f = fmt_of(t);
    const __m512i kv = iq4nl_table16_plus128();
    const int off = ucode_offset(t);
    __m512 acc = _mm512_setzero_ps();
    for (int u = 0; u < nu; u++) {
        prefetch_step(pf, u);
        const size_t b = (size_t)u * f.block;
        const int32_t *xw = (const int32_t *)xq[u].qs;
        __m512i q[8];
        ucodes16(t, rows, b + f.qs, kv, q);
        __m512i l = _mm512_set1_epi32(-off * xq[u].sum), h = _mm512_setzero_si512();
        UNROLL for (int k = 0; k < 4; k++) {
            l = _mm512_dpbusd_epi32(l, q[k], _mm512_set1_epi32(xw[k]));
            h = _mm512_dpbusd_epi32(h, q[4 + k], _mm512_set1_epi32(xw[4 + k]));
        }
        const __m512 dx = _mm512_set1_ps(xq[u].d);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(l, h)), _mm512_mul_ps(halves16(rows, b + f.d), dx), acc);
        if (t == QB_TYPE_Q4_1)
            acc = _mm512_fmadd_ps(halves16(rows, b + f.m), _mm512_mul_ps(dx, _mm512_set1_ps((float)xq[u].sum)), acc);
    }
    return acc;
}

// Weight-only Q4_0, Q4_1, IQ4_NL and Q8_0 with x in three limbs
// (qb_block_x3, where qb_qmm_x3_avx512 says so): gemv16_q8's integer dots
// three times, one per limb, then one convert and one FMA. Q4_0 and Q4_1
// combine the limbs exactly in int32 (limb 0's dot is at most 32 * 15 * 127,
// so times 16384 it stays under 2^30). IQ4_NL's and Q8_0's codes go in as
// value + 128 (up to 241 and 255, too big for that): limb 0 (less 128 sum0)
// and limbs 1-2 (less 128 times theirs) are converted apart, both exact in
// int32 (the second rounds to float's 24 bits where Q8_0's passes 2^24: 2^-24
// of a term 128 times smaller than limb 0's). Per unit 24 vpdpbusd replace 28
// shifts, 32 vpermps and 32 FMAs of gemv16_f32 (Q8_0: the 32 converts and
// FMAs per row of gemv4_f32, four rows side by side).
INLINE __m512 gemv16_x3(qb_type t, const uint8_t *const *rows, const qb_block_x3 *x3, const float *xsum, int nu,
                        const prefetch_plan *pf) {
    const block_fmt f = fmt_of(t);
    const int off = ucode_offset(t);
    const __m512i kv = iq4nl_table16_plus128();
    const int wide = t == QB_TYPE_IQ4_NL || t == QB_TYPE_Q8_0; // limb 0 converted apart
    __m512 acc = _mm512_setzero_ps();
    for (int u = 0; u < nu; u++) {
        prefetch_step(pf, u);
        const size_t b = (size_t)u * f.block;
        __m512i q[8];
        ucodes16(t, rows, b + f.qs, kv, q);
        const int32_t s0 = x3[u].sum0, s12 = x3[u].sum - 16384 * s0;
        __m512i l[3];
        UNROLL for (int i = 0; i < 3; i++) {
            const int32_t *xw = (const int32_t *)x3[u].qs[i];
            l[i] = _mm512_setzero_si512();
            if (wide && i == 0) l[0] = _mm512_set1_epi32(-off * s0);
            if (i == 2) l[2] = _mm512_set1_epi32(wide ? -off * s12 : -off * x3[u].sum);
            UNROLL for (int k = 0; k < 8; k++) l[i] = _mm512_dpbusd_epi32(l[i], q[k], _mm512_set1_epi32(xw[k]));
        }
        const __m512i l12 = _mm512_add_epi32(_mm512_slli_epi32(l[1], 7), l[2]);
        const __m512 dot = wide
                               ? _mm512_fmadd_ps(_mm512_cvtepi32_ps(l[0]), _mm512_set1_ps(16384.0f), _mm512_cvtepi32_ps(l12))
                               : _mm512_cvtepi32_ps(_mm512_add_epi32(_mm512_slli_epi32(l[0], 14), l12));
        const __m512 dx = _mm512_set1_ps(x3[u].d * (1.0f / 16384));
        acc = _mm512_fmadd_ps(dot, _mm512_mul_ps(halves16(rows, b + f.d), dx), acc);
        if (t == QB_TYPE_Q4_1) acc = _mm512_fmadd_ps(halves16(rows, b + f.m), _mm512_set1_ps(xsum[u]), acc);
    }
    return acc;
}

// Vectors k0..k0+nk-1 of q against the limbs, plus init, times d/16384
// (x3_chains8 on sixteen rows).
INLINE __m512 x3_chains16(const __m512i *q, const qb_block_x3 *xb, int k0, int nk, int init) {
    __m512i l[3];
    UNROLL for (int i = 0; i < 3; i++) {
        const int32_t *xw = (const int32_t *)xb->qs[i];
        l[i] = i == 2 ? _mm512_set1_epi32(init) : _mm512_setzero_si512();
        UNROLL for (int k = k0; k < k0 + nk; k++) l[i] = _mm512_dpbusd_epi32(l[i], q[k], _mm512_set1_epi32(xw[k]));
    }
    const __m512i dot = _mm512_add_epi32(_mm512_add_epi32(_mm512_slli_epi32(l[0], 14), _mm512_slli_epi32(l[1], 7)), l[2]);
    return _mm512_mul_ps(_mm512_cvtepi32_ps(dot), _mm512_set1_ps(xb->d * (1.0f / 16384)));
}

// Weight-only Q4_K with x in three limbs on sixteen rows: gemv8_f32_q4k's
// plan (a chunk's 32 bytes transposed once for its two units, the rows'
// packed 6-bit scales and mins transposed once per super-block) with
// gemv16_x3's integer dots. Codes 0..15, so the limbs combine exactly in
// int32 as for Q4_0.
typedef struct {
    __m512 d, dmin;
    __m512i sc[2], mn[2]; // byte j of lane r: row r's scale (min) of sub-block 4i + j
} q4k_scales16;

INLINE q4k_scales16 q4k_scales_x16(const uint8_t *const *rows, size_t b) {
    const __m512i m6 = _mm512_set1_epi8(0x3F), m4 = _mm512_set1_epi8(0x0F), top2 = _mm512_set1_epi8(0x30);
    __m512i w[4]; // w[3]: the first codes, unused
    transpose16x16(rows, b + offsetof(qb_block_q4_K, scales), w);
    q4k_scales16 s;
    s.d = halves16(rows, b + offsetof(qb_block_q4_K, d));
    s.dmin = halves16(rows, b + offsetof(qb_block_q4_K, dmin));
    s.sc[0] = _mm512_and_si512(w[0], m6);
    s.mn[0] = _mm512_and_si512(w[1], m6);
    s.sc[1] = _mm512_or_si512(_mm512_and_si512(w[2], m4), _mm512_and_si512(_mm512_srli_epi32(w[0], 2), top2));
    s.mn[1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(w[2], 4), m4),
                              _mm512_and_si512(_mm512_srli_epi32(w[1], 2), top2));
    return s;
}

// Byte j of each 32-bit lane of v (unsigned), as floats.
INLINE __m512 ubyte_of_lanes_f32x16(__m512i v, int j) {
    return _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(v, (unsigned)(8 * j)), _mm512_set1_epi32(0xFF)));
}

// The sixteen rows' scale d * sc and min dmin * mn (to be subtracted) of sub-block j.
INLINE void q4k_unit_scales16(const q4k_scales16 *s, int j, __m512 *scale, __m512 *min) {
    *scale = _mm512_mul_ps(s->d, ubyte_of_lanes_f32x16(s->sc[j / 4], j % 4));
    *min = _mm512_mul_ps(s->dmin, ubyte_of_lanes_f32x16(s->mn[j / 4], j % 4));
}

// A super-block's chunk c (32 bytes: units 2c and 2c + 1 in its low and high
// nibbles) of the sixteen rows, transposed.
INLINE void q4k_chunk16(const uint8_t *const *rows, size_t b, int c, __m512i p[8]) {
    const size_t off = b + offsetof(qb_block_q4_K, qs) + 32 * (size_t)c;
    transpose16x16(rows, off, p);
    transpose16x16(rows, off + 16, p + 4);
}

// With xq (W8A8, gemv8_q8_q4k's plan at 512 bits): the unsigned 4-bit codes'
// dot with the int8 activations, two chains; else weight-only with the limbs.
// Both walk the super-blocks alike: scales once, each chunk transposed once
// for its two units.
INLINE __m512 gemv16_q4k(const uint8_t *const *rows, const qb_block_x3 *x3, const float *xsum,
                         const qb_block_q8a *xq, int nu, const prefetch_plan *pf) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    __m512 acc = _mm512_setzero_ps();
    for (int sb = 0; sb < nu / 8; sb++) {
        const size_t b = (size_t)sb * sizeof(qb_block_q4_K);
        const q4k_scales16 s = q4k_scales_x16(rows, b);
        for (int c = 0; c < 4; c++) {
            const int u0 = 8 * sb + 2 * c;
            prefetch_step(pf, u0);
            prefetch_step(pf, u0 + 1);
            __m512i p[8];
            q4k_chunk16(rows, b, c, p);
            UNROLL for (int h = 0; h < 2; h++) {
                const int u = u0 + h, j = 2 * c + h;
                __m512i q[8];
                UNROLL for (int k = 0; k < 8; k++) q[k] = _mm512_and_si512(h ? _mm512_srli_epi16(p[k], 4) : p[k], m4);
                __m512 scale, min;
                q4k_unit_scales16(&s, j, &scale, &min);
                if (xq) {
                    const int32_t *xw = (const int32_t *)xq[u].qs;
                    __m512i l = _mm512_setzero_si512(), e = l;
                    UNROLL for (int k = 0; k < 8; k += 2) {
                        l = _mm512_dpbusd_epi32(l, q[k], _mm512_set1_epi32(xw[k]));
                        e = _mm512_dpbusd_epi32(e, q[k + 1], _mm512_set1_epi32(xw[k + 1]));
                    }
                    const __m512 dx = _mm512_set1_ps(xq[u].d);
                    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(l, e)), _mm512_mul_ps(scale, dx), acc);
                    acc = _mm512_fnmadd_ps(min, _mm512_set1_ps(xq[u].d * (float)xq[u].sum), acc);
                } else {
                    const __m512 sum = x3_chains16(q, &x3[u], 0, 8, 0);
                    acc = _mm512_fmadd_ps(sum, scale, acc);
                    acc = _mm512_fnmadd_ps(min, _mm512_set1_ps(xsum[u]), acc);
                }
            }
        }
    }
    return acc;
}

// Q6_K on sixteen rows: gemv8_q6k's plan (units k and k + 2 share one
// transpose of their ql and qh bytes; the rows' sixteen int8 scales
// transposed once per super-block). Weight-only with the limbs: dot8_x3's
// two halves; with xq (W8A8, VNNI): the unsigned codes' dots with the int8
// activations, four dpbusd a half. Either way each half is less 32 times its
// part of sum(x).

// q6k_codes on sixteen rows, unsigned (0..63).
INLINE void q6k_codes16(const uint8_t *const *rows, size_t b, int h, int k, __m512i qa[8], __m512i qc[8]) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), m45 = _mm512_set1_epi8(0x30);
    UNROLL for (int i = 0; i < 2; i++) {
        __m512i pl[4], ph[4];
        transpose16x16(rows, b + offsetof(qb_block_q6_K, ql) + 64 * (size_t)h + 32 * (size_t)k + 16 * (size_t)i, pl);
        transpose16x16(rows, b + offsetof(qb_block_q6_K, qh) + 32 * (size_t)h + 16 * (size_t)i, ph);
        UNROLL for (int v = 0; v < 4; v++) {
            const __m512i ha = _mm512_and_si512(_mm512_slli_epi16(ph[v], 4 - 2 * k), m45);
            const __m512i hc = _mm512_and_si512(_mm512_srli_epi16(ph[v], 2 * k), m45);
            qa[4 * i + v] = _mm512_or_si512(_mm512_and_si512(pl[v], m4), ha);
            qc[4 * i + v] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(pl[v], 4), m4), hc);
        }
    }
}

// Signed byte j of each 32-bit lane of v, as floats.
INLINE __m512 sbyte_of_lanes_f32x16(__m512i v, int j) {
    return _mm512_cvtepi32_ps(_mm512_srai_epi32(j == 3 ? v : _mm512_slli_epi32(v, (unsigned)(24 - 8 * j)), 24));
}

// Sum of the first sixteen int8 activations of a block (the W8A8 Q6_K's low half).
INLINE int32_t q8a_sum_lo(const qb_block_q8a *b) {
    int32_t s = 0;
    for (int i = 0; i < QB_UNIT / 2; i++) s += b->qs[i];
    return s;
}

// One unit's halves for W8A8 on sixteen rows: sum over codes 0-15 and 16-31
// of (code - 32) * xq, as floats.
INLINE void q6k_w8a8_halves16(const __m512i q[8], const qb_block_q8a *xb, __m512 *lo, __m512 *hi) {
    const int32_t *xw = (const int32_t *)xb->qs, sum_lo = q8a_sum_lo(xb);
    __m512i l = _mm512_setzero_si512(), h = l;
    UNROLL for (int k = 0; k < 4; k++) {
        l = _mm512_dpbusd_epi32(l, q[k], _mm512_set1_epi32(xw[k]));
        h = _mm512_dpbusd_epi32(h, q[k + 4], _mm512_set1_epi32(xw[k + 4]));
    }
    *lo = _mm512_cvtepi32_ps(_mm512_sub_epi32(l, _mm512_set1_epi32(32 * sum_lo)));
    *hi = _mm512_cvtepi32_ps(_mm512_sub_epi32(h, _mm512_set1_epi32(32 * (xb->sum - sum_lo))));
}

INLINE __m512 gemv16_q6k(const uint8_t *const *rows, const qb_block_x3 *x3, const qb_block_q8a *xq, int nu,
                         const prefetch_plan *pf) {
    __m512 acc = _mm512_setzero_ps();
    for (int sb = 0; sb < nu / 8; sb++) {
        const size_t b = (size_t)sb * sizeof(qb_block_q6_K);
        const __m512 d = halves16(rows, b + offsetof(qb_block_q6_K, d));
        __m512i w[4]; // lane r of w[i]: row r's scales 4i..4i+3
        transpose16x16(rows, b + offsetof(qb_block_q6_K, scales), w);
        for (int h = 0; h < 2; h++)
            for (int k = 0; k < 2; k++) {
                __m512i q[2][8];
                q6k_codes16(rows, b, h, k, q[0], q[1]);
                UNROLL for (int e = 0; e < 2; e++) {
                    const int su = 4 * h + k + 2 * e, u = 8 * sb + su;
                    prefetch_step(pf, u);
                    __m512 lo, hi, s0 = _mm512_mul_ps(d, sbyte_of_lanes_f32x16(w[su / 2], (2 * su) % 4)),
                                   s1 = _mm512_mul_ps(d, sbyte_of_lanes_f32x16(w[su / 2], (2 * su + 1) % 4));
                    if (xq) {
                        q6k_w8a8_halves16(q[e], &xq[u], &lo, &hi);
                        const __m512 dx = _mm512_set1_ps(xq[u].d);
                        s0 = _mm512_mul_ps(s0, dx), s1 = _mm512_mul_ps(s1, dx);
                    } else {
                        const qb_block_x3 *xb = &x3[u];
                        lo = x3_chains16(q[e], xb, 0, 4, -32 * xb->sum_lo);
                        hi = x3_chains16(q[e], xb, 4, 4, -32 * (xb->sum - xb->sum_lo));
                    }
                    acc = _mm512_fmadd_ps(hi, s1, _mm512_fmadd_ps(lo, s0, acc));
                }
            }
    }
    return acc;
}

// Q4_K, Q6_K and Q8_0 on sixteen rows weight-only with the limbs (x3) or
// W8A8 (with VNNI).
INLINE int decode16(const qb_qmm_args *a, qb_type t, int vnni) {
    if ((t == QB_TYPE_Q8_0 || t == QB_TYPE_Q4_K || t == QB_TYPE_Q6_K) && a->act == QB_ACT_Q8) return vnni;
    if (t == QB_TYPE_Q4_K || t == QB_TYPE_Q6_K || t == QB_TYPE_Q8_0) return a->act == QB_ACT_F32 && a->x3;
    return (a->act == QB_ACT_F32 || vnni) && (t == QB_TYPE_Q4_0 || t == QB_TYPE_Q4_1 || t == QB_TYPE_IQ4_NL);
}

// Rows o.. in whole tiles of sixteen while they last; returns the first row left.
INLINE int decode16_range(const qb_qmm_args *a, int o, int o1, qb_type t, int vnni) {
    if (!decode16(a, t, vnni)) return o;
    const int nu = a->w->n_in / QB_UNIT;
    const size_t rb = qb_row_bytes(t, a->w->n_in);
    const uint8_t *W = a->w->data;
    for (; o + RT16 <= o1; o += RT16) {
        const uint8_t *rows[RT16];
        for (int r = 0; r < RT16; r++) rows[r] = W + (size_t)(o + r) * rb;
        const prefetch_plan pf = plan_prefetch(W, rb, RT16, o, o1, nu);
        __m512 y = t == QB_TYPE_Q4_K      ? gemv16_q4k(rows, a->x3, a->xsum, a->act == QB_ACT_Q8 ? a->xq : NULL, nu, &pf)
                   : t == QB_TYPE_Q6_K   ? gemv16_q6k(rows, a->x3, a->act == QB_ACT_Q8 ? a->xq : NULL, nu, &pf)
                   : a->act == QB_ACT_Q8 ? gemv16_q8(t, rows, a->xq, nu, &pf)
                   : a->x3               ? gemv16_x3(t, rows, a->x3, a->xsum, nu, &pf)
                                         : gemv16_f32(t, rows, a->x, a->xsum, nu, &pf);
        if (a->bias) y = _mm512_add_ps(y, _mm512_loadu_ps(a->bias + o));
        _mm512_storeu_ps(a->y + o, y);
    }
    return o;
}
#endif

// Whether the decode of type t in activation mode act runs on eight rows
// (W8A8: every type).
INLINE int decode8(qb_type t, qb_act_mode act) { return act == QB_ACT_Q8 || decode8_f32_type(t); }

// The eight rows' dot products with the token, in the type's kernel.
INLINE __m256 gemv8(const qb_qmm_args *a, qb_type t, int vnni, const uint8_t *const *rows, int nu,
                    const prefetch_plan *pf) {
    if (a->act == QB_ACT_Q8) {
        if (t == QB_TYPE_Q4_K) return gemv8_q8_q4k(vnni, rows, a->xq, nu, pf);
        if (t == QB_TYPE_Q6_K) return gemv8_q6k(QB_ACT_Q8, vnni, rows, a->xq, NULL, NULL, nu, pf);
        return gemv8_q8(t, vnni, rows, a->xq, nu, pf);
    }
    if (t == QB_TYPE_Q4_K) return gemv8_f32_q4k(rows, a->x, a->xsum, a->x3, nu, pf);
    if (t == QB_TYPE_Q6_K) return gemv8_q6k(QB_ACT_F32, vnni, rows, NULL, a->x, a->x3, nu, pf);
    return gemv8_f32(t, rows, a->x, a->xsum, nu, pf);
}

// Rows o0..o1 of a decode matmul in tiles of eight; a short last tile
// repeats its last row, whose extra outputs are not stored.
INLINE void decode8_range(const qb_qmm_args *a, int o0, int o1, qb_type t, int vnni) {
    const int nu = a->w->n_in / QB_UNIT;
    const size_t rb = qb_row_bytes(t, a->w->n_in);
    const uint8_t *W = a->w->data;
#ifdef QMM_AVX512
    o0 = decode16_range(a, o0, o1, t, vnni); // the rest (under sixteen rows) on eight
#endif
    for (int o = o0; o < o1; o += RT8) {
        const int nr = o1 - o < RT8 ? o1 - o : RT8;
        const uint8_t *rows[RT8];
        for (int r = 0; r < RT8; r++) rows[r] = W + (size_t)(o + (r < nr ? r : nr - 1)) * rb;
        const prefetch_plan pf = plan_prefetch(W, rb, RT8, o, o1, nu);
        const __m256 y = gemv8(a, t, vnni, rows, nu, &pf);
        float b[RT8] = {0};
        if (a->bias) memcpy(b, a->bias + o, sizeof(float) * nr);
        store_rows8(a->y + o, nr, _mm256_add_ps(y, _mm256_loadu_ps(b)));
    }
}

INLINE void qmm_range(const qb_qmm_args *a, int o0, int o1, qb_type t, int vnni) {
    const int n = a->w->n_in, nu = n / QB_UNIT, n_out = a->w->n_out;
    const size_t rb = qb_row_bytes(t, n);
    const uint8_t *W = a->w->data;
    if (a->T == 1 && decode8(t, a->act)) {
        decode8_range(a, o0, o1, t, vnni);
        return;
    }
    if (a->T == 1) { // weight-only Q8_0: sixteen rows with the limbs, else four rows side by side
        int o = o0;
#ifdef QMM_AVX512
        o = decode16_range(a, o, o1, t, vnni);
#endif
        float out[RT];
        for (; o + RT <= o1; o += RT) {
            const uint8_t *r0 = W + (size_t)o * rb, *r1 = r0 + rb, *r2 = r1 + rb, *r3 = r2 + rb;
            const prefetch_plan pf = plan_prefetch(W, rb, RT, o, o1, nu);
            gemv4_f32(t, r0, r1, r2, r3, a->x, a->xsum, nu, &pf, out);
            for (int r = 0; r < RT; r++) a->y[o + r] = out[r] + bias_at(a, o + r);
        }
        for (; o < o1; o++) a->y[o] = gemv1_f32(t, W + (size_t)o * rb, a->x, a->xsum, nu) + bias_at(a, o);
        (void)n_out;
        return;
    }
    if (a->act == QB_ACT_F32) {
        // Chunks of rows dequantized to float32, multiplied by the float
        // kernels' blocked GEMM (packed panels, register tiles) into a
        // [T][chunk] buffer, then scattered into y with the bias.
        enum { CH = 64 };
        float *panel = qb_aligned_alloc(sizeof(float) * CH * (size_t)n);
        float *yt = qb_aligned_alloc(sizeof(float) * CH * (size_t)a->T);
        for (int o = o0; o < o1; o += CH) {
            const int nr = o1 - o < CH ? o1 - o : CH;
            for (int r = 0; r < nr; r++) panel_f32(t, W + (size_t)(o + r) * rb, nu, panel + (size_t)r * n);
            const qb_weight pw = {QB_TYPE_F32, QB_LAYOUT_OUT_IN, n, nr, panel};
            const qb_mm_args fa = {yt, a->x, &pw, NULL, a->T};
            FLOAT_RANGE(&fa, 0, nr);
            for (int tok = 0; tok < a->T; tok++)
                for (int r = 0; r < nr; r++)
                    a->y[(size_t)tok * n_out + o + r] = yt[(size_t)tok * nr + r] + bias_at(a, o + r);
        }
        free(panel);
        free(yt);
        return;
    }
    // W8A8: tiles of eight rows (the last one may be short).
    __m256i *codes = qb_aligned_alloc(sizeof(__m256i) * 8 * (size_t)nu);
    float *sc = qb_malloc(sizeof(float) * 3 * RT8 * (size_t)nu);
    const tile8 tl = {codes, sc, sc + RT8 * nu, sc + 2 * RT8 * nu};
    for (int o = o0; o < o1; o += RT8) {
        const int nr = o1 - o < RT8 ? o1 - o : RT8;
        unpack_tile8(t, W, rb, o, nr, nu, &tl);
        prefill8_q8(a, t, vnni, o, nr, &tl);
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
