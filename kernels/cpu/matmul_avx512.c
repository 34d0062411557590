// matmul_avx512.c: y = x W^T + b for float weights (F32, F16, BF16) in either
// layout with AVX-512 F/BW/VL. The same plan as matmul_avx2.c (read it
// first) with 16-float vectors: masked loads handle the tails, and the
// prefill tile is 8 tokens x 32 outputs (16 zmm accumulators).
// Compiled with the AVX-512 flags; called only when qb_cpu_isa() allows.
#include <immintrin.h>

#include "cpu.h"

#define INLINE static inline __attribute__((always_inline))

enum { MR = 8, NR = 32, KC = 128 };
enum { PF_ROWS = 16 }; // decode's software prefetch distance, in rows

// ---- loading weights as float32 (m: which of the 16 lanes to load) ---------

INLINE __m512 load16(qb_type type, const void *base, size_t idx) {
    switch (type) {
    case QB_TYPE_F16: return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)base + idx)));
    case QB_TYPE_BF16: {
        __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)base + idx));
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    default: return _mm512_loadu_ps((const float *)base + idx);
    }
}

INLINE __m512 load16_mask(qb_type type, const void *base, size_t idx, __mmask16 m) {
    switch (type) {
    case QB_TYPE_F16: return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)base + idx));
    case QB_TYPE_BF16: {
        __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)base + idx);
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    default: return _mm512_maskz_loadu_ps(m, (const float *)base + idx);
    }
}

INLINE __mmask16 tail_mask(size_t n) { return (__mmask16)((1u << n) - 1); } // n < 16

// ---- T == 1, [out][in]: dot products, four rows at a time -----------------

INLINE void gemv_out_in(const qb_mm_args *a, int o0, int o1, qb_type type) {
    const size_t n = (size_t)a->w->n_in, es = type == QB_TYPE_F32 ? 4 : 2;
    const void *W = a->w->data;
    const float *x = a->x;
    const size_t n32 = n / 32 * 32, n16 = n / 16 * 16;
    const __mmask16 mt = tail_mask(n - n16);
    int o = o0;
    for (; o + 4 <= o1; o += 4) {
        const size_t r0 = o * n, r1 = r0 + n, r2 = r1 + n, r3 = r2 + n;
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, u0 = s0, u1 = s0, u2 = s0, u3 = s0;
        // 16-bit weights only (see avx2), our rows only: sweep the rows
        // PF_ROWS ahead into L2 at the pace of these four. On the Xeon (SPR)
        // prefetching into L1 at 4 rows ahead left 16-bit decode at 0.65 of
        // F32's GB/s; into L2 at 16 rows ahead, 0.90 (qmatmul --types f16).
        const char *pf = (const char *)W + (r0 + PF_ROWS * n) * es;
        const int pf_on = es == 2 && o + 4 + PF_ROWS <= o1;
        size_t i = 0;
        for (; i < n32; i += 32, pf += 128 * es) {
            if (pf_on)
                for (size_t l = 0; l < 128 * es; l += 64) _mm_prefetch(pf + l, _MM_HINT_T1);
            __m512 xa = _mm512_loadu_ps(x + i), xb = _mm512_loadu_ps(x + i + 16);
            s0 = _mm512_fmadd_ps(load16(type, W, r0 + i), xa, s0);
            s1 = _mm512_fmadd_ps(load16(type, W, r1 + i), xa, s1);
            s2 = _mm512_fmadd_ps(load16(type, W, r2 + i), xa, s2);
            s3 = _mm512_fmadd_ps(load16(type, W, r3 + i), xa, s3);
            u0 = _mm512_fmadd_ps(load16(type, W, r0 + i + 16), xb, u0);
            u1 = _mm512_fmadd_ps(load16(type, W, r1 + i + 16), xb, u1);
            u2 = _mm512_fmadd_ps(load16(type, W, r2 + i + 16), xb, u2);
            u3 = _mm512_fmadd_ps(load16(type, W, r3 + i + 16), xb, u3);
        }
        if (i < n16) {
            __m512 xa = _mm512_loadu_ps(x + i);
            s0 = _mm512_fmadd_ps(load16(type, W, r0 + i), xa, s0);
            s1 = _mm512_fmadd_ps(load16(type, W, r1 + i), xa, s1);
            s2 = _mm512_fmadd_ps(load16(type, W, r2 + i), xa, s2);
            s3 = _mm512_fmadd_ps(load16(type, W, r3 + i), xa, s3);
            i += 16;
        }
        if (i < n) {
            __m512 xa = _mm512_maskz_loadu_ps(mt, x + i);
            u0 = _mm512_fmadd_ps(load16_mask(type, W, r0 + i, mt), xa, u0);
            u1 = _mm512_fmadd_ps(load16_mask(type, W, r1 + i, mt), xa, u1);
            u2 = _mm512_fmadd_ps(load16_mask(type, W, r2 + i, mt), xa, u2);
            u3 = _mm512_fmadd_ps(load16_mask(type, W, r3 + i, mt), xa, u3);
        }
        float b[4] = {0, 0, 0, 0};
        if (a->bias) b[0] = a->bias[o], b[1] = a->bias[o + 1], b[2] = a->bias[o + 2], b[3] = a->bias[o + 3];
        a->y[o] = _mm512_reduce_add_ps(_mm512_add_ps(s0, u0)) + b[0];
        a->y[o + 1] = _mm512_reduce_add_ps(_mm512_add_ps(s1, u1)) + b[1];
        a->y[o + 2] = _mm512_reduce_add_ps(_mm512_add_ps(s2, u2)) + b[2];
        a->y[o + 3] = _mm512_reduce_add_ps(_mm512_add_ps(s3, u3)) + b[3];
    }
    for (; o < o1; o++) {
        const size_t r0 = o * n;
        __m512 s0 = _mm512_setzero_ps();
        size_t i = 0;
        for (; i < n16; i += 16) s0 = _mm512_fmadd_ps(load16(type, W, r0 + i), _mm512_loadu_ps(x + i), s0);
        if (i < n) s0 = _mm512_fmadd_ps(load16_mask(type, W, r0 + i, mt), _mm512_maskz_loadu_ps(mt, x + i), s0);
        a->y[o] = _mm512_reduce_add_ps(s0) + (a->bias ? a->bias[o] : 0.0f);
    }
}

// ---- T == 1, [in][out]: y slice += x[i] * W[i][slice], four inputs at a time

INLINE void gemv_in_out(const qb_mm_args *a, int o0, int o1, qb_type type) {
    const int n_in = a->w->n_in;
    const size_t n_out = (size_t)a->w->n_out;
    const void *W = a->w->data;
    const float *x = a->x;
    float *y = a->y;
    const int vec_end = o0 + (o1 - o0) / 16 * 16;
    const __mmask16 mt = tail_mask((size_t)(o1 - vec_end));
    for (int o = o0; o < o1; o++) y[o] = a->bias ? a->bias[o] : 0.0f;
    int i = 0;
    for (; i + 4 <= n_in; i += 4) {
        const size_t r0 = i * n_out, r1 = r0 + n_out, r2 = r1 + n_out, r3 = r2 + n_out;
        const __m512 x0 = _mm512_set1_ps(x[i]), x1 = _mm512_set1_ps(x[i + 1]);
        const __m512 x2 = _mm512_set1_ps(x[i + 2]), x3 = _mm512_set1_ps(x[i + 3]);
        for (int o = o0; o < vec_end; o += 16) {
            __m512 acc = _mm512_loadu_ps(y + o);
            acc = _mm512_fmadd_ps(load16(type, W, r0 + o), x0, acc);
            acc = _mm512_fmadd_ps(load16(type, W, r1 + o), x1, acc);
            acc = _mm512_fmadd_ps(load16(type, W, r2 + o), x2, acc);
            acc = _mm512_fmadd_ps(load16(type, W, r3 + o), x3, acc);
            _mm512_storeu_ps(y + o, acc);
        }
        if (vec_end < o1) {
            const int o = vec_end;
            __m512 acc = _mm512_maskz_loadu_ps(mt, y + o);
            acc = _mm512_fmadd_ps(load16_mask(type, W, r0 + o, mt), x0, acc);
            acc = _mm512_fmadd_ps(load16_mask(type, W, r1 + o, mt), x1, acc);
            acc = _mm512_fmadd_ps(load16_mask(type, W, r2 + o, mt), x2, acc);
            acc = _mm512_fmadd_ps(load16_mask(type, W, r3 + o, mt), x3, acc);
            _mm512_mask_storeu_ps(y + o, mt, acc);
        }
    }
    for (; i < n_in; i++) {
        const size_t r0 = i * n_out;
        const __m512 x0 = _mm512_set1_ps(x[i]);
        for (int o = o0; o < vec_end; o += 16)
            _mm512_storeu_ps(y + o, _mm512_fmadd_ps(load16(type, W, r0 + o), x0, _mm512_loadu_ps(y + o)));
        if (vec_end < o1) {
            const int o = vec_end;
            __m512 acc = _mm512_fmadd_ps(load16_mask(type, W, r0 + o, mt), x0, _mm512_maskz_loadu_ps(mt, y + o));
            _mm512_mask_storeu_ps(y + o, mt, acc);
        }
    }
}

// ---- T > 1: packed panels and an 8x32 register tile --------------------------

// Transposes the 16x16 block r[0..15] in place (r[c] becomes column c).
INLINE void transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int q = 0; q < 16; q += 2) {
        t[q] = _mm512_unpacklo_ps(r[q], r[q + 1]);
        t[q + 1] = _mm512_unpackhi_ps(r[q], r[q + 1]);
    }
    // Per 128-bit lane L, u[4g + m] holds rows 4g..4g+3 of column 4L + m.
    for (int g = 0; g < 4; g++) {
        u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xee);
        u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xee);
    }
    // Gather lane L of u[m], u[4+m], u[8+m], u[12+m] into column 4L + m.
    for (int m = 0; m < 4; m++) {
        __m512 v0 = _mm512_shuffle_f32x4(u[m], u[4 + m], 0x44), v1 = _mm512_shuffle_f32x4(u[m], u[4 + m], 0xee);
        __m512 v2 = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0x44);
        __m512 v3 = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0xee);
        r[m] = _mm512_shuffle_f32x4(v0, v2, 0x88);
        r[4 + m] = _mm512_shuffle_f32x4(v0, v2, 0xdd);
        r[8 + m] = _mm512_shuffle_f32x4(v1, v3, 0x88);
        r[12 + m] = _mm512_shuffle_f32x4(v1, v3, 0xdd);
    }
}

// panel[k][c] = W(input k0 + k, output j + c) as float32 for k < kc, c < 32;
// columns c >= nr are zero.
INLINE void pack_panel(const qb_weight *w, int k0, int kc, int j, int nr, float *panel, qb_type type) {
    const void *W = w->data;
    if (w->layout == QB_LAYOUT_IN_OUT) {
        const size_t n_out = (size_t)w->n_out;
        const __mmask16 m0 = nr >= 16 ? 0xffff : tail_mask((size_t)nr);
        const __mmask16 m1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : tail_mask((size_t)(nr - 16));
        for (int k = 0; k < kc; k++) {
            const size_t row = (size_t)(k0 + k) * n_out + j;
            _mm512_store_ps(panel + k * NR, load16_mask(type, W, row, m0));
            _mm512_store_ps(panel + k * NR + 16, load16_mask(type, W, row + 16, m1));
        }
        return;
    }
    // [out][in]: rows of W become columns of the panel, 16x16 blocks at a
    // time. Masked loads give zeros for rows past nr and inputs past kc, so
    // partial blocks take the same path.
    const size_t n_in = (size_t)w->n_in;
    for (int k = 0; k < kc; k += 16) {
        const int m = kc - k < 16 ? kc - k : 16;
        const __mmask16 mk = m == 16 ? 0xffff : tail_mask((size_t)m);
        for (int half = 0; half < 2; half++) {
            __m512 r[16];
            for (int c = 0; c < 16; c++) {
                const int col = half * 16 + c;
                r[c] = col < nr ? load16_mask(type, W, (size_t)(j + col) * n_in + k0 + k, mk) : _mm512_setzero_ps();
            }
            transpose16(r);
            for (int q = 0; q < m; q++) _mm512_store_ps(panel + (k + q) * NR + half * 16, r[q]);
        }
    }
}

// C[r][0..32) (+)= sum_k x_r[k] * panel[k][0..32) for the mr <= 8 rows of x
// starting at x (row stride xs); C is y (row stride ys), only its first nr
// columns stored. first: start from the bias (or zero), not y's partial sums.
static void tile_8x32(const float *panel, int kc, const float *x, size_t xs, int mr, float *y, size_t ys, int nr,
                      int first, const float *bias) {
    const float *xr[MR];
    for (int r = 0; r < MR; r++) xr[r] = x + (size_t)(r < mr ? r : mr - 1) * xs; // past mr: repeat, drop later
    const float *x0 = xr[0], *x1 = xr[1], *x2 = xr[2], *x3 = xr[3], *x4 = xr[4], *x5 = xr[5], *x6 = xr[6],
                *x7 = xr[7];
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    for (int k = 0; k < kc; k++) {
        const __m512 b0 = _mm512_load_ps(panel + k * NR), b1 = _mm512_load_ps(panel + k * NR + 16);
        __m512 a;
        a = _mm512_set1_ps(x0[k]), c00 = _mm512_fmadd_ps(a, b0, c00), c01 = _mm512_fmadd_ps(a, b1, c01);
        a = _mm512_set1_ps(x1[k]), c10 = _mm512_fmadd_ps(a, b0, c10), c11 = _mm512_fmadd_ps(a, b1, c11);
        a = _mm512_set1_ps(x2[k]), c20 = _mm512_fmadd_ps(a, b0, c20), c21 = _mm512_fmadd_ps(a, b1, c21);
        a = _mm512_set1_ps(x3[k]), c30 = _mm512_fmadd_ps(a, b0, c30), c31 = _mm512_fmadd_ps(a, b1, c31);
        a = _mm512_set1_ps(x4[k]), c40 = _mm512_fmadd_ps(a, b0, c40), c41 = _mm512_fmadd_ps(a, b1, c41);
        a = _mm512_set1_ps(x5[k]), c50 = _mm512_fmadd_ps(a, b0, c50), c51 = _mm512_fmadd_ps(a, b1, c51);
        a = _mm512_set1_ps(x6[k]), c60 = _mm512_fmadd_ps(a, b0, c60), c61 = _mm512_fmadd_ps(a, b1, c61);
        a = _mm512_set1_ps(x7[k]), c70 = _mm512_fmadd_ps(a, b0, c70), c71 = _mm512_fmadd_ps(a, b1, c71);
    }
    const __m512 c[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31},
                             {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}};
    const __mmask16 m0 = nr >= 16 ? 0xffff : tail_mask((size_t)nr);
    const __mmask16 m1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : tail_mask((size_t)(nr - 16));
    for (int r = 0; r < mr; r++) {
        float *yr = y + r * ys;
        __m512 add0, add1;
        if (!first) add0 = _mm512_maskz_loadu_ps(m0, yr), add1 = _mm512_maskz_loadu_ps(m1, yr + 16);
        else if (bias) add0 = _mm512_maskz_loadu_ps(m0, bias), add1 = _mm512_maskz_loadu_ps(m1, bias + 16);
        else add0 = add1 = _mm512_setzero_ps();
        _mm512_mask_storeu_ps(yr, m0, _mm512_add_ps(c[r][0], add0));
        _mm512_mask_storeu_ps(yr + 16, m1, _mm512_add_ps(c[r][1], add1));
    }
}

INLINE void gemm(const qb_mm_args *a, int o0, int o1, qb_type type) {
    const int n_in = a->w->n_in, n_out = a->w->n_out, T = a->T;
    float panel[KC * NR] __attribute__((aligned(64)));
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
                tile_8x32(panel, kc, a->x + (size_t)t * n_in + k0, (size_t)n_in, T - t < MR ? T - t : MR,
                          a->y + (size_t)t * n_out + j, (size_t)n_out, nr, k0 == 0, a->bias ? a->bias + j : NULL);
        }
    }
}

INLINE void range(const qb_mm_args *a, int o0, int o1, qb_type type) {
    if (a->T > 1) gemm(a, o0, o1, type);
    else if (a->w->layout == QB_LAYOUT_OUT_IN) gemv_out_in(a, o0, o1, type);
    else gemv_in_out(a, o0, o1, type);
}

void qb_mm_range_float_avx512(const qb_mm_args *a, int o0, int o1) {
    switch (a->w->type) {
    case QB_TYPE_F32: range(a, o0, o1, QB_TYPE_F32); break;
    case QB_TYPE_F16: range(a, o0, o1, QB_TYPE_F16); break;
    case QB_TYPE_BF16: range(a, o0, o1, QB_TYPE_BF16); break;
    default: break; // the dispatcher sends only float types here
    }
}
