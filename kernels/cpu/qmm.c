// qmm.c: matmuls with block-quantized weights: activation quantization, the
// scalar reference of both modes, and the driver that splits rows over the
// pool and picks the ISA (see qmm.h for the unit view of the weight types).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qmm.h"
#include "util.h"

int qb_qmm_type(qb_type t) {
    return t == QB_TYPE_Q8_0 || t == QB_TYPE_Q4_0 || t == QB_TYPE_Q4_1 || t == QB_TYPE_Q4_K || t == QB_TYPE_Q6_K ||
           t == QB_TYPE_IQ4_NL;
}

const char *qb_act_name(qb_act_mode mode) { return mode == QB_ACT_Q8 ? "int8" : "f32"; }
int qb_act_parse(const char *name) {
    if (!strcmp(name, "f32")) return QB_ACT_F32;
    if (!strcmp(name, "int8") || !strcmp(name, "q8")) return QB_ACT_Q8;
    return -1;
}

void qb_quantize_act(const float *x, qb_block_q8a *y, int n, float scale) {
    for (int b = 0; b < n / QB_UNIT; b++, x += QB_UNIT) {
        float amax = 0;
        int finite = 1;
        for (int i = 0; i < QB_UNIT; i++) {
            finite &= isfinite(x[i]);
            amax = fmaxf(amax, fabsf(x[i]));
        }
        qb_block_q8a *o = &y[b];
        int32_t sum = 0;
        if (!finite) {
            // Make the result NaN rather than silently wrong.
            o->d = NAN;
            memset(o->qs, 0, sizeof o->qs);
        } else if (scale > 0) {
            const float id = 1.0f / scale;
            o->d = scale;
            for (int i = 0; i < QB_UNIT; i++) {
                float v = roundf(x[i] * id);
                v = v > 127 ? 127 : v < -127 ? -127 : v;
                o->qs[i] = (int8_t)v;
                sum += o->qs[i];
            }
        } else {
            const float d = amax / 127, id = d > 0 ? 1.0f / d : 0.0f;
            o->d = d;
            for (int i = 0; i < QB_UNIT; i++) {
                o->qs[i] = (int8_t)roundf(x[i] * id);
                sum += o->qs[i];
            }
        }
        o->sum = sum;
    }
}

// ---- the scalar reference ----------------------------------------------------

// Weight-only: the row dequantized exactly as ggml does it, then a float
// dot product in index order. W8A8: per unit, exact integer sums of the codes
// times the activation codes, scaled in float.
void qb_qmm_range_scalar(const qb_qmm_args *a, int o0, int o1) {
    const qb_weight *w = a->w;
    const int n = w->n_in, nu = n / QB_UNIT;
    const size_t row_bytes = qb_row_bytes(w->type, n);
    float *deq = a->act == QB_ACT_F32 ? qb_malloc(sizeof(float) * (size_t)n) : NULL;
    for (int o = o0; o < o1; o++) {
        const void *row = (const uint8_t *)w->data + (size_t)o * row_bytes;
        if (deq) qb_dequantize_row(w->type, row, deq, n);
        for (int t = 0; t < a->T; t++) {
            float acc = 0;
            if (deq) {
                const float *x = a->x + (size_t)t * n;
                for (int i = 0; i < n; i++) acc += x[i] * deq[i];
            } else {
                const qb_block_q8a *xq = a->xq + (size_t)t * nu;
                for (int u = 0; u < nu; u++) {
                    int8_t q[QB_UNIT];
                    float s0, s1, m;
                    qb_unit_codes(w->type, row, u, q);
                    qb_unit_scales(w->type, row, u, &s0, &s1, &m);
                    int32_t i0 = 0, i1 = 0;
                    for (int i = 0; i < 16; i++) i0 += q[i] * xq[u].qs[i];
                    for (int i = 16; i < 32; i++) i1 += q[i] * xq[u].qs[i];
                    acc += xq[u].d * (s0 * (float)i0 + s1 * (float)i1 + m * (float)xq[u].sum);
                }
            }
            a->y[(size_t)t * w->n_out + o] = acc + (a->bias ? a->bias[o] : 0.0f);
        }
    }
    free(deq);
}

// ---- the driver ------------------------------------------------------------------

static void check(const qb_weight *w, int T) {
    if (w->layout != QB_LAYOUT_OUT_IN)
        qb_die(QB_EXIT_DATA, "matmul: quantized weights (%s) must be in [out][in] layout", qb_type_name(w->type));
    if (w->n_in <= 0 || w->n_out <= 0 || T < 0 || w->n_in % qb_type_block(w->type))
        qb_die(QB_EXIT_DATA, "matmul: bad shape n_in=%d n_out=%d T=%d for %s", w->n_in, w->n_out, T,
               qb_type_name(w->type));
}

typedef struct {
    qb_qmm_args a;
    qb_qmm_range_fn fn;
    void (*quantize_act)(const float *x, qb_block_q8a *y, int n, float scale);
    int grain;
    float act_scale;
    qb_block_q8a *xq;
    float *xsum;
} qmm_job;

// Activations, split over tokens: int8 blocks (W8A8) or per-unit sums (weight-only).
static void prep_worker(void *ctx, int ith, int nth) {
    qmm_job *job = ctx;
    const int n = job->a.w->n_in, nu = n / QB_UNIT;
    int t0, t1;
    qb_split(job->a.T, 1, ith, nth, &t0, &t1);
    for (int t = t0; t < t1; t++) {
        const float *x = job->a.x + (size_t)t * n;
        if (job->xq)
            job->quantize_act(x, job->xq + (size_t)t * nu, n, job->act_scale);
        else
            for (int u = 0; u < nu; u++) {
                float s = 0;
                for (int i = 0; i < QB_UNIT; i++) s += x[u * QB_UNIT + i];
                job->xsum[(size_t)t * nu + u] = s;
            }
    }
}

static void mm_worker(void *ctx, int ith, int nth) {
    const qmm_job *job = ctx;
    int lo, hi;
    qb_split(job->a.w->n_out, job->grain, ith, nth, &lo, &hi);
    if (lo < hi) job->fn(&job->a, lo, hi);
}

void qb_qmm(qb_isa isa, qb_act_mode act, float act_scale, qb_pool *pool, float *y, const float *x, const qb_weight *w,
            const float *bias, int T) {
    check(w, T);
    if (T == 0) return;
    if (act_scale > 0) act = QB_ACT_Q8;
    const size_t nu = (size_t)w->n_in / QB_UNIT;
    qmm_job job = {.a = {y, x, w, bias, T, act, NULL, NULL},
                   .act_scale = act_scale,
                   .quantize_act = isa >= QB_ISA_AVX2 ? qb_quantize_act_avx2 : qb_quantize_act};
    if (act == QB_ACT_Q8)
        job.xq = qb_malloc(sizeof(qb_block_q8a) * nu * (size_t)T);
    else
        job.xsum = qb_malloc(sizeof(float) * nu * (size_t)T);
    if (T > 1)
        qb_pool_run(pool, prep_worker, &job);
    else
        prep_worker(&job, 0, 1);
    job.a.xq = job.xq;
    job.a.xsum = job.xsum;
    qb_block_x3 *x3 = NULL;
    if (isa >= QB_ISA_AVX512 && act == QB_ACT_F32 && T == 1 && qb_qmm_x3_avx512(w->type)) {
        x3 = qb_malloc(sizeof(qb_block_x3) * nu);
        qb_quantize_x3_avx512(x, x3, w->n_in);
        job.a.x3 = x3;
    }
    // The SIMD kernels walk tiles of eight rows: whole tiles per thread.
    if (isa >= QB_ISA_AVX512) {
        job.fn = qb_qmm_range_avx512;
        job.grain = 8;
    } else if (isa >= QB_ISA_AVX2) {
        job.fn = qb_qmm_range_avx2;
        job.grain = 8;
    } else {
        job.fn = qb_qmm_range_scalar;
        job.grain = 4;
    }
    qb_pool_run(pool, mm_worker, &job);
    free(job.xq);
    free(job.xsum);
    free(x3);
}

void qb_qmm_ref(qb_act_mode act, float act_scale, float *y, const float *x, const qb_weight *w, const float *bias,
                int T) {
    check(w, T);
    if (T == 0) return;
    if (act_scale > 0) act = QB_ACT_Q8;
    const size_t nu = (size_t)w->n_in / QB_UNIT;
    qmm_job job = {.a = {y, x, w, bias, T, act, NULL, NULL}, .act_scale = act_scale, .quantize_act = qb_quantize_act};
    if (act == QB_ACT_Q8)
        job.xq = qb_malloc(sizeof(qb_block_q8a) * nu * (size_t)T);
    else
        job.xsum = qb_malloc(sizeof(float) * nu * (size_t)T);
    prep_worker(&job, 0, 1);
    job.a.xq = job.xq;
    job.a.xsum = job.xsum;
    qb_qmm_range_scalar(&job.a, 0, w->n_out);
    free(job.xq);
    free(job.xsum);
}

void qb_matmul_static(qb_pool *pool, float *y, const float *x, const qb_weight *w, const float *bias, int T,
                      float act_scale) {
    if (act_scale > 0 && qb_qmm_type(w->type))
        qb_qmm(qb_pool_isa(pool), QB_ACT_Q8, act_scale, pool, y, x, w, bias, T);
    else
        qb_matmul(pool, y, x, w, bias, T);
}
