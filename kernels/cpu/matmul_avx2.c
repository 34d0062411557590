// matmul_avx2.c: y = x W^T + b for float weights (F32, F16, BF16) in either
// layout with AVX2 + FMA + F16C. Compiled with -mavx2 -mfma -mf16c; called
// only when qb_cpu_isa() says the CPU has them. Accumulation is float32.
//
// T == 1 (decode) is memory-bound: each weight byte is read once, in long
// sequential streams (four rows or four input rows at a time), with the
// products kept in registers or in an L1-resident slice of y.
// T > 1 (prefill) is compute-bound: a block of KC inputs x 16 outputs of W is
// converted once into a float32 panel that stays in L1 while a 6x16 register
// tile sweeps all T tokens over it, so W is read from memory once whatever T
// is; x comes from L2 (or L3 for long prompts).
#include <immintrin.h>
#include <string.h>

#include "cpu.h"

#define INLINE static inline __attribute__((always_inline))

enum { MR = 6, NR = 16, KC = 128 };

// ---- loading weights as float32 --------------------------------------------

INLINE __m256 load8(qb_type type, const void *base, size_t idx) {
    switch (type) {
    case QB_TYPE_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)base + idx)));
    case QB_TYPE_BF16: {
        __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)base + idx));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    default: return _mm256_loadu_ps((const float *)base + idx);
    }
}

INLINE float load1(qb_type type, const void *base, size_t idx) {
    switch (type) {
    case QB_TYPE_F16: return _cvtsh_ss(((const uint16_t *)base)[idx]);
    case QB_TYPE_BF16: return qb_bf16_to_f32(((const uint16_t *)base)[idx]);
    default: return ((const float *)base)[idx];
    }
}

// ---- T == 1, [out][in]: dot products, four rows at a time -----------------

INLINE void gemv_out_in(const qb_mm_args *a, int o0, int o1, qb_type type) {
    const size_t n = (size_t)a->w->n_in;
    const void *W = a->w->data;
    const float *x = a->x;
    const size_t es = type == QB_TYPE_F32 ? 4 : 2;
    int o = o0;
    for (; o + 4 <= o1; o += 4) {
        const size_t r0 = o * n, r1 = r0 + n, r2 = r1 + n, r3 = r2 + n;
        __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, u0 = s0, u1 = s0, u2 = s0, u3 = s0;
        size_t i = 0;
        // The four rows are contiguous; sweep the next four at the same pace
        // with prefetches (rows of a few KB are too short for the hardware
        // prefetcher to ramp up on each).
        const char *pf = (const char *)W + (r3 + n) * es;
        // Only for 16-bit weights: converting them slows the stream enough
        // that the hardware prefetcher falls behind (F16 lm_head on one core:
        // 13.5 -> 19.5 GB/s on the EPYC, ~8 -> ~13 on the Xeon), while for F32
        // it was as fast or faster without (c_proj 3072x768: 27 vs 20 GB/s).
        const int pf_on = es == 2 && o + 8 <= o1; // and when the next four rows are ours
        for (; i + 16 <= n; i += 16, pf += 64 * es) {
            if (pf_on)
                for (size_t l = 0; l < 64 * es; l += 64) _mm_prefetch(pf + l, _MM_HINT_T0);
            __m256 xa = _mm256_loadu_ps(x + i), xb = _mm256_loadu_ps(x + i + 8);
            s0 = _mm256_fmadd_ps(load8(type, W, r0 + i), xa, s0);
            s1 = _mm256_fmadd_ps(load8(type, W, r1 + i), xa, s1);
            s2 = _mm256_fmadd_ps(load8(type, W, r2 + i), xa, s2);
            s3 = _mm256_fmadd_ps(load8(type, W, r3 + i), xa, s3);
            u0 = _mm256_fmadd_ps(load8(type, W, r0 + i + 8), xb, u0);
            u1 = _mm256_fmadd_ps(load8(type, W, r1 + i + 8), xb, u1);
            u2 = _mm256_fmadd_ps(load8(type, W, r2 + i + 8), xb, u2);
            u3 = _mm256_fmadd_ps(load8(type, W, r3 + i + 8), xb, u3);
        }
        for (; i + 8 <= n; i += 8) {
            __m256 xa = _mm256_loadu_ps(x + i);
            s0 = _mm256_fmadd_ps(load8(type, W, r0 + i), xa, s0);
            s1 = _mm256_fmadd_ps(load8(type, W, r1 + i), xa, s1);
            s2 = _mm256_fmadd_ps(load8(type, W, r2 + i), xa, s2);
            s3 = _mm256_fmadd_ps(load8(type, W, r3 + i), xa, s3);
        }
        s0 = _mm256_add_ps(s0, u0), s1 = _mm256_add_ps(s1, u1);
        s2 = _mm256_add_ps(s2, u2), s3 = _mm256_add_ps(s3, u3);
        // Four horizontal sums at once: lanes of h are row 0..3's partial sums.
        __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(s0, s1), _mm256_hadd_ps(s2, s3));
        __m128 sum = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
        float tail[4] = {0, 0, 0, 0};
        for (; i < n; i++) {
            tail[0] += x[i] * load1(type, W, r0 + i);
            tail[1] += x[i] * load1(type, W, r1 + i);
            tail[2] += x[i] * load1(type, W, r2 + i);
            tail[3] += x[i] * load1(type, W, r3 + i);
        }
        sum = _mm_add_ps(sum, _mm_loadu_ps(tail));
        if (a->bias) sum = _mm_add_ps(sum, _mm_loadu_ps(a->bias + o));
        _mm_storeu_ps(a->y + o, sum);
    }
    for (; o < o1; o++) {
        const size_t r0 = o * n;
        __m256 s0 = _mm256_setzero_ps();
        size_t i = 0;
        for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(load8(type, W, r0 + i), _mm256_loadu_ps(x + i), s0);
        __m128 q = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
        q = _mm_hadd_ps(q, q);
        q = _mm_hadd_ps(q, q);
        float sum = _mm_cvtss_f32(q);
        for (; i < n; i++) sum += x[i] * load1(type, W, r0 + i);
        a->y[o] = sum + (a->bias ? a->bias[o] : 0.0f);
    }
}

// ---- T == 1, [in][out]: y slice += x[i] * W[i][slice], four inputs at a time

INLINE void gemv_in_out(const qb_mm_args *a, int o0, int o1, qb_type type) {
    const int n_in = a->w->n_in;
    const size_t n_out = (size_t)a->w->n_out;
    const void *W = a->w->data;
    const float *x = a->x;
    float *y = a->y;
    const int vec_end = o0 + (o1 - o0) / 8 * 8;
    for (int o = o0; o < o1; o++) y[o] = a->bias ? a->bias[o] : 0.0f;
    int i = 0;
    for (; i + 4 <= n_in; i += 4) {
        const size_t r0 = i * n_out, r1 = r0 + n_out, r2 = r1 + n_out, r3 = r2 + n_out;
        const __m256 x0 = _mm256_set1_ps(x[i]), x1 = _mm256_set1_ps(x[i + 1]);
        const __m256 x2 = _mm256_set1_ps(x[i + 2]), x3 = _mm256_set1_ps(x[i + 3]);
        for (int o = o0; o < vec_end; o += 8) {
            __m256 acc = _mm256_loadu_ps(y + o);
            acc = _mm256_fmadd_ps(load8(type, W, r0 + o), x0, acc);
            acc = _mm256_fmadd_ps(load8(type, W, r1 + o), x1, acc);
            acc = _mm256_fmadd_ps(load8(type, W, r2 + o), x2, acc);
            acc = _mm256_fmadd_ps(load8(type, W, r3 + o), x3, acc);
            _mm256_storeu_ps(y + o, acc);
        }
        for (int o = vec_end; o < o1; o++)
            y[o] += x[i] * load1(type, W, r0 + o) + x[i + 1] * load1(type, W, r1 + o) +
                    x[i + 2] * load1(type, W, r2 + o) + x[i + 3] * load1(type, W, r3 + o);
    }
    for (; i < n_in; i++) {
        const size_t r0 = i * n_out;
        const __m256 x0 = _mm256_set1_ps(x[i]);
        for (int o = o0; o < vec_end; o += 8)
            _mm256_storeu_ps(y + o, _mm256_fmadd_ps(load8(type, W, r0 + o), x0, _mm256_loadu_ps(y + o)));
        for (int o = vec_end; o < o1; o++) y[o] += x[i] * load1(type, W, r0 + o);
    }
}

// ---- T > 1: packed panels and a 6x16 register tile --------------------------

// Transposes the 8x8 block r[0..7] in place (r[c] becomes column c).
INLINE void transpose8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20), r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20), r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31), r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31), r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// panel[k][c] = W(input k0 + k, output j + c) as float32 for k < kc, c < 16;
// columns c >= nr are zero.
INLINE void pack_panel(const qb_weight *w, int k0, int kc, int j, int nr, float *panel, qb_type type) {
    const void *W = w->data;
    if (w->layout == QB_LAYOUT_IN_OUT) {
        const size_t n_out = (size_t)w->n_out;
        for (int k = 0; k < kc; k++) {
            const size_t row = (size_t)(k0 + k) * n_out + j;
            float *p = panel + k * NR;
            if (nr == NR) {
                _mm256_store_ps(p, load8(type, W, row));
                _mm256_store_ps(p + 8, load8(type, W, row + 8));
            } else {
                for (int c = 0; c < NR; c++) p[c] = c < nr ? load1(type, W, row + c) : 0.0f;
            }
        }
        return;
    }
    // [out][in]: rows of W become columns of the panel, 8x8 blocks at a time.
    const size_t n_in = (size_t)w->n_in;
    int k = 0;
    if (nr == NR) {
        for (; k + 8 <= kc; k += 8)
            for (int half = 0; half < 2; half++) {
                __m256 r[8];
                for (int c = 0; c < 8; c++) r[c] = load8(type, W, (size_t)(j + half * 8 + c) * n_in + k0 + k);
                transpose8(r);
                for (int kk = 0; kk < 8; kk++) _mm256_store_ps(panel + (k + kk) * NR + half * 8, r[kk]);
            }
    }
    for (; k < kc; k++)
        for (int c = 0; c < NR; c++)
            panel[k * NR + c] = c < nr ? load1(type, W, (size_t)(j + c) * n_in + k0 + k) : 0.0f;
}

// C[r][0..16) (+)= sum_k x_r[k] * panel[k][0..16) for the mr <= 6 rows of x
// starting at x (row stride xs); C is y at (row stride ys), only its first nr
// columns are stored. first: the tile starts from the bias (or zero) instead
// of y's partial sums.
static void tile_6x16(const float *panel, int kc, const float *x, size_t xs, int mr, float *y, size_t ys, int nr,
                      int first, const float *bias) {
    // Rows past mr repeat the last real row (never read out of bounds); their
    // results are dropped.
    const float *x0 = x, *x1 = x + (mr > 1 ? 1 : 0) * xs, *x2 = x + (mr > 2 ? 2 : mr - 1) * xs;
    const float *x3 = x + (mr > 3 ? 3 : mr - 1) * xs, *x4 = x + (mr > 4 ? 4 : mr - 1) * xs;
    const float *x5 = x + (mr > 5 ? 5 : mr - 1) * xs;
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int k = 0; k < kc; k++) {
        const __m256 b0 = _mm256_load_ps(panel + k * NR), b1 = _mm256_load_ps(panel + k * NR + 8);
        __m256 a;
        a = _mm256_broadcast_ss(x0 + k), c00 = _mm256_fmadd_ps(a, b0, c00), c01 = _mm256_fmadd_ps(a, b1, c01);
        a = _mm256_broadcast_ss(x1 + k), c10 = _mm256_fmadd_ps(a, b0, c10), c11 = _mm256_fmadd_ps(a, b1, c11);
        a = _mm256_broadcast_ss(x2 + k), c20 = _mm256_fmadd_ps(a, b0, c20), c21 = _mm256_fmadd_ps(a, b1, c21);
        a = _mm256_broadcast_ss(x3 + k), c30 = _mm256_fmadd_ps(a, b0, c30), c31 = _mm256_fmadd_ps(a, b1, c31);
        a = _mm256_broadcast_ss(x4 + k), c40 = _mm256_fmadd_ps(a, b0, c40), c41 = _mm256_fmadd_ps(a, b1, c41);
        a = _mm256_broadcast_ss(x5 + k), c50 = _mm256_fmadd_ps(a, b0, c50), c51 = _mm256_fmadd_ps(a, b1, c51);
    }
    __m256 c[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    for (int r = 0; r < mr; r++) {
        float *yr = y + r * ys;
        if (nr == NR) {
            __m256 add0, add1;
            if (!first) add0 = _mm256_loadu_ps(yr), add1 = _mm256_loadu_ps(yr + 8);
            else if (bias) add0 = _mm256_loadu_ps(bias), add1 = _mm256_loadu_ps(bias + 8);
            else add0 = add1 = _mm256_setzero_ps();
            _mm256_storeu_ps(yr, _mm256_add_ps(c[r][0], add0));
            _mm256_storeu_ps(yr + 8, _mm256_add_ps(c[r][1], add1));
        } else {
            float tmp[NR];
            _mm256_storeu_ps(tmp, c[r][0]);
            _mm256_storeu_ps(tmp + 8, c[r][1]);
            for (int q = 0; q < nr; q++) yr[q] = tmp[q] + (!first ? yr[q] : bias ? bias[q] : 0.0f);
        }
    }
}

INLINE void gemm(const qb_mm_args *a, int o0, int o1, qb_type type) {
    const int n_in = a->w->n_in, n_out = a->w->n_out, T = a->T;
    float panel[KC * NR] __attribute__((aligned(32)));
    // Panel by panel of outputs; within a panel the reduction is blocked by
    // KC, and the T x NR slice of y it accumulates into stays in L1/L2. (The
    // other order, KC blocks outermost, re-reads all of y per block: 25% slower
    // for the 50257 outputs of an lm_head.)
    for (int j = o0; j < o1; j += NR) {
        const int nr = o1 - j < NR ? o1 - j : NR;
        for (int k0 = 0; k0 < n_in; k0 += KC) {
            const int kc = n_in - k0 < KC ? n_in - k0 : KC;
            pack_panel(a->w, k0, kc, j, nr, panel, type);
            for (int t = 0; t < T; t += MR)
                tile_6x16(panel, kc, a->x + (size_t)t * n_in + k0, (size_t)n_in, T - t < MR ? T - t : MR,
                          a->y + (size_t)t * n_out + j, (size_t)n_out, nr, k0 == 0, a->bias ? a->bias + j : NULL);
        }
    }
}

INLINE void range(const qb_mm_args *a, int o0, int o1, qb_type type) {
    if (a->T > 1) gemm(a, o0, o1, type);
    else if (a->w->layout == QB_LAYOUT_OUT_IN) gemv_out_in(a, o0, o1, type);
    else gemv_in_out(a, o0, o1, type);
}

void qb_mm_range_float_avx2(const qb_mm_args *a, int o0, int o1) {
    switch (a->w->type) {
    case QB_TYPE_F32: range(a, o0, o1, QB_TYPE_F32); break;
    case QB_TYPE_F16: range(a, o0, o1, QB_TYPE_F16); break;
    case QB_TYPE_BF16: range(a, o0, o1, QB_TYPE_BF16); break;
    default: break; // the dispatcher sends only float types here
    }
}
