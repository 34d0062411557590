// matmul.c: y = x W^T + b on the CPU: the dispatcher (weight type, layout,
// ISA), the thread split by output columns, and the scalar reference.
//
// Adding a weight type: add a case to the switch in qb_matmul_isa naming its
// range kernels (one file per type and ISA, e.g. matmul_q8_0_avx2.c), and one
// to qb_weight_row. Nothing else here changes.
#include <stdlib.h>

#include "cpu.h"
#include "qmm.h"
#include "util.h"

// ---- the scalar reference ----------------------------------------------------

// Element idx of a float-typed weight as float32.
static inline float float_weight(qb_type type, const void *data, size_t idx) {
    switch (type) {
    case QB_TYPE_F16: return qb_f16_to_f32(((const uint16_t *)data)[idx]);
    case QB_TYPE_BF16: return qb_bf16_to_f32(((const uint16_t *)data)[idx]);
    default: return ((const float *)data)[idx];
    }
}

// Straight loops, float32 accumulation in index order: the twin every fast
// kernel is compared against.
static inline __attribute__((always_inline)) void range_scalar(const qb_mm_args *a, int o0, int o1, qb_type type) {
    const qb_weight *w = a->w;
    const size_t n_in = (size_t)w->n_in, n_out = (size_t)w->n_out;
    for (int t = 0; t < a->T; t++) {
        const float *x = a->x + t * n_in;
        float *y = a->y + t * n_out;
        if (w->layout == QB_LAYOUT_OUT_IN) {
            for (int o = o0; o < o1; o++) {
                float acc = 0;
                for (size_t i = 0; i < n_in; i++) acc += x[i] * float_weight(type, w->data, o * n_in + i);
                y[o] = acc + (a->bias ? a->bias[o] : 0.0f);
            }
        } else {
            for (int o = o0; o < o1; o++) y[o] = 0;
            for (size_t i = 0; i < n_in; i++)
                for (int o = o0; o < o1; o++) y[o] += x[i] * float_weight(type, w->data, i * n_out + o);
            if (a->bias)
                for (int o = o0; o < o1; o++) y[o] += a->bias[o];
        }
    }
}

void qb_mm_range_scalar(const qb_mm_args *a, int o0, int o1) {
    switch (a->w->type) {
    case QB_TYPE_F32: range_scalar(a, o0, o1, QB_TYPE_F32); break;
    case QB_TYPE_F16: range_scalar(a, o0, o1, QB_TYPE_F16); break;
    case QB_TYPE_BF16: range_scalar(a, o0, o1, QB_TYPE_BF16); break;
    default: qb_die(QB_EXIT_DATA, "matmul: weight type %d not supported on CPU", a->w->type);
    }
}

// ---- the dispatcher ----------------------------------------------------------

typedef struct {
    qb_mm_args a;
    qb_mm_range_fn fn;
    int grain; // split granularity in output columns (the kernel's tile width)
} mm_job;

static void mm_worker(void *ctx, int ith, int nth) {
    const mm_job *job = ctx;
    int lo, hi;
    qb_split(job->a.w->n_out, job->grain, ith, nth, &lo, &hi);
    if (lo < hi) job->fn(&job->a, lo, hi);
}

// Decode with [in][out] weights on several threads: split the reduction
// (input rows) instead of the outputs. Each thread then streams one
// contiguous block of whole rows into its own partial y, where a split of
// the outputs would give every thread a short piece of every row (768 bytes
// of a BF16 c_proj row on 2 threads, 96 on 16): too short for the hardware
// prefetcher. A second pass sums the partials in thread order.
typedef struct {
    mm_job job;
    float *partial; // [nth][n_out]
} splitk_job;

static void splitk_worker(void *ctx, int ith, int nth) {
    const splitk_job *sj = ctx;
    const qb_weight *w = sj->job.a.w;
    const size_t es = w->type == QB_TYPE_F32 ? 4 : 2;
    int lo, hi;
    qb_split(w->n_in, 4, ith, nth, &lo, &hi);
    float *part = sj->partial + (size_t)ith * w->n_out;
    if (lo >= hi) {
        for (int o = 0; o < w->n_out; o++) part[o] = 0;
        return;
    }
    qb_weight sub = *w;
    sub.n_in = hi - lo;
    sub.data = (const char *)w->data + (size_t)lo * w->n_out * es;
    qb_mm_args a = {part, sj->job.a.x + lo, &sub, ith == 0 ? sj->job.a.bias : NULL, 1};
    sj->job.fn(&a, 0, w->n_out);
}

static void splitk_sum(void *ctx, int ith, int nth) {
    const splitk_job *sj = ctx;
    const int n_out = sj->job.a.w->n_out;
    int lo, hi;
    qb_split(n_out, 16, ith, nth, &lo, &hi);
    float *y = sj->job.a.y;
    for (int o = lo; o < hi; o++) y[o] = sj->partial[o];
    for (int t = 1; t < nth; t++) {
        const float *part = sj->partial + (size_t)t * n_out;
        for (int o = lo; o < hi; o++) y[o] += part[o];
    }
}

static void check_shape(const qb_weight *w, int T) {
    if (w->n_in <= 0 || w->n_out <= 0 || T < 0)
        qb_die(QB_EXIT_DATA, "matmul: bad shape n_in=%d n_out=%d T=%d", w->n_in, w->n_out, T);
    if (w->layout != QB_LAYOUT_OUT_IN && w->layout != QB_LAYOUT_IN_OUT)
        qb_die(QB_EXIT_DATA, "matmul: bad weight layout %d", (int)w->layout);
    // [in][out] is the Hugging Face checkpoint used in place: float types only
    // (block-quantized types are blocked along the input dimension of a row).
    if (w->layout == QB_LAYOUT_IN_OUT && w->type != QB_TYPE_F32 && w->type != QB_TYPE_F16 && w->type != QB_TYPE_BF16)
        qb_die(QB_EXIT_DATA, "matmul: weight type %d in [in][out] layout not supported (F32, F16, BF16 only)",
               (int)w->type);
}

void qb_matmul_isa(qb_isa isa, qb_pool *pool, float *y, const float *x, const qb_weight *w, const float *bias,
                   int T) {
    check_shape(w, T);
    if (T == 0) return;
    mm_job job = {.a = {y, x, w, bias, T}};
    switch (w->type) {
    case QB_TYPE_F32:
    case QB_TYPE_F16:
    case QB_TYPE_BF16:
        if (isa >= QB_ISA_AVX512) {
            job.fn = qb_mm_range_float_avx512;
            job.grain = 32;
        } else if (isa >= QB_ISA_AVX2) {
            job.fn = qb_mm_range_float_avx2;
            job.grain = 16;
        } else {
            job.fn = qb_mm_range_scalar;
            job.grain = 8;
        }
        break;
    default:
        // Block-quantized weights: kernels/cpu/qmm*.c, in the pool's activation mode.
        if (qb_qmm_type(w->type)) {
            qb_qmm(isa, qb_pool_act(pool), 0, pool, y, x, w, bias, T);
            return;
        }
        qb_die(QB_EXIT_DATA, "matmul: weight type %d not supported on CPU", (int)w->type);
    }
    const int nth = qb_pool_size(pool);
    if (T == 1 && nth > 1 && w->layout == QB_LAYOUT_IN_OUT && w->n_in >= 4 * nth) {
        splitk_job sj = {job, qb_malloc(sizeof(float) * (size_t)nth * w->n_out)};
        qb_pool_run(pool, splitk_worker, &sj);
        qb_pool_run(pool, splitk_sum, &sj);
        free(sj.partial);
        return;
    }
    qb_pool_run(pool, mm_worker, &job);
}

void qb_matmul(qb_pool *pool, float *y, const float *x, const qb_weight *w, const float *bias, int T) {
    qb_matmul_isa(qb_pool_isa(pool), pool, y, x, w, bias, T);
}

void qb_matmul_ref(float *y, const float *x, const qb_weight *w, const float *bias, int T) {
    if (qb_qmm_type(w->type)) {
        qb_qmm_ref(QB_ACT_F32, 0, y, x, w, bias, T);
        return;
    }
    check_shape(w, T);
    qb_mm_args a = {y, x, w, bias, T};
    if (T > 0) qb_mm_range_scalar(&a, 0, w->n_out);
}

// ---- one row as float32 (the embedding lookup) -------------------------------

void qb_weight_row(const qb_weight *w, int r, float *out) {
    if (w->layout != QB_LAYOUT_OUT_IN) qb_die(QB_EXIT_DATA, "weight_row: weight is not in [out][in] layout");
    if (r < 0 || r >= w->n_out) qb_die(QB_EXIT_DATA, "weight_row: row %d outside [0, %d)", r, w->n_out);
    const size_t n = (size_t)w->n_in, base = (size_t)r * n;
    switch (w->type) {
    case QB_TYPE_F32:
        for (size_t i = 0; i < n; i++) out[i] = ((const float *)w->data)[base + i];
        break;
    case QB_TYPE_F16:
        for (size_t i = 0; i < n; i++) out[i] = qb_f16_to_f32(((const uint16_t *)w->data)[base + i]);
        break;
    case QB_TYPE_BF16:
        for (size_t i = 0; i < n; i++) out[i] = qb_bf16_to_f32(((const uint16_t *)w->data)[base + i]);
        break;
    default:
        if (!qb_qmm_type(w->type)) qb_die(QB_EXIT_DATA, "weight_row: weight type %d not supported on CPU", (int)w->type);
        const size_t rb = qb_row_bytes(w->type, w->n_in);
        qb_dequantize_row(w->type, (const uint8_t *)w->data + (size_t)r * rb, out, w->n_in);
    }
}
