// test_qmatmul: matmuls with block-quantized weights (Q8_0, Q4_0, Q4_1, Q4_K,
// Q6_K, IQ4_NL) on every ISA path x activation mode (weight-only, W8A8
// dynamic, W8A8 static) x tokens x threads, on fresh random data of odd
// sizes, against
//   - the scalar twin of the same mode (float rounding only): per element
//     |y - y_ref| <= 4 (n_in + 2) eps sum|x_i w_i|;
//   - an FP64 product with the dequantized weights. Weight-only: the same
//     rounding bound. W8A8: the activation quantization error is added,
//     bounded per element by sum over blocks of (d_b / 2) sum_b |w_i| (d_b
//     the block's activation scale), plus clipping for static scales.
// The AVX-512 three-limb activations of weight-only decode against their
// definition. NaN in an input row makes that row's outputs NaN (never silently finite),
// in a batch (prefill) and alone (decode). The shapes' odd row counts leave
// short last tiles (of the eight-row decode and prefill kernels) per thread.
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "cpu/cpu.h"
#include "cpu/qmm.h"
#include "kernels.h"
#include "quant.h"

typedef struct {
    int n_in, n_out;
} shape;

static const qb_type types[] = {QB_TYPE_Q8_0, QB_TYPE_Q4_0, QB_TYPE_Q4_1, QB_TYPE_Q4_K, QB_TYPE_Q6_K, QB_TYPE_IQ4_NL};
#define N_TYPES (sizeof types / sizeof types[0])

// Random weights quantized to type t; deq receives them dequantized.
static void *make_weight(tap_rng *rng, qb_type t, int n_in, int n_out, float *deq) {
    const size_t rb = qb_row_bytes(t, n_in);
    unsigned char *data = malloc(rb * n_out);
    float *row = malloc(sizeof(float) * n_in);
    for (int o = 0; o < n_out; o++) {
        double s = 0.02 * (1 + 3 * tap_uniform(rng)); // rows of different scales
        for (int i = 0; i < n_in; i++) row[i] = (float)(tap_normal(rng) * s + (t == QB_TYPE_Q4_1 ? 0.01 : 0));
        qb_quantize_row(t, row, data + o * rb, n_in);
        qb_dequantize_row(t, data + o * rb, deq + (size_t)o * n_in, n_in);
    }
    free(row);
    return data;
}

// The activations as the W8A8 kernels see them (block scale d, codes): the
// per-element error bound of that quantization is d/2 (or clipping).
static void act_err(const float *x, int n, float scale, double *err) {
    qb_block_q8a *b = malloc(sizeof *b * (n / 32));
    qb_quantize_act(x, b, n, scale);
    for (int i = 0; i < n; i++) err[i] = fabs((double)b[i / 32].d * b[i / 32].qs[i % 32] - x[i]);
    free(b);
}

typedef struct {
    const char *name;
    qb_act_mode act;
    int stat; // static scale
} mode;

// The AVX2 activation quantizer against its scalar twin, bit for bit, on
// fresh random blocks of every kind: dynamic scales over several magnitudes,
// static scales with clipping, exact ties (k + 1/2 must round away from
// zero) and the float just below 1/2 (where floor(v + 0.5) goes wrong),
// and blocks holding NaN or Inf (d must become NaN).
static void check_quantize_act(tap_rng *rng) {
    enum { NB = 64, N = NB * 32 };
    float *x = malloc(sizeof(float) * N);
    qb_block_q8a *ref = malloc(sizeof *ref * NB), *simd = malloc(sizeof *simd * NB);
    const float scales[] = {0, 0.5f, 1.0f, 0.0123f};
    int ok = 1, ties = 0;
    for (size_t si = 0; si < sizeof scales / sizeof *scales; si++) {
        for (int i = 0; i < N; i++) {
            const int b = i / 32;
            double v = tap_normal(rng) * pow(10, (b % 7) - 3);
            if (scales[si] >= 0.5f && b % 3 == 0) { // ties and near-ties in units of the scale
                v = scales[si] * ((int)(tap_uniform(rng) * 400) - 200 + 0.5);
                ties++;
            }
            if (b % 5 == 1 && i % 32 == 7) v = scales[si] > 0 ? scales[si] * nextafterf(0.5f, 0) : v;
            x[i] = (float)v;
        }
        x[32 * 9 + 3] = NAN, x[32 * 10 + 31] = INFINITY, x[32 * 11] = -INFINITY;
        for (int i = 32 * 12; i < 32 * 13; i++) x[i] = 0; // an all-zero block: d = 0
        memset(ref, 0x5A, sizeof *ref * NB), memset(simd, 0xA5, sizeof *simd * NB);
        qb_quantize_act(x, ref, N, scales[si]);
        qb_quantize_act_avx2(x, simd, N, scales[si]);
        for (int b = 0; b < NB; b++) {
            int same = (isnan(ref[b].d) ? isnan(simd[b].d) : ref[b].d == simd[b].d) && ref[b].sum == simd[b].sum &&
                       !memcmp(ref[b].qs, simd[b].qs, sizeof ref[b].qs);
            if (!same && ok) tap_diag("block %d, scale %g: d %g/%g sum %d/%d", b, scales[si], ref[b].d, simd[b].d,
                                      ref[b].sum, simd[b].sum);
            ok &= same;
        }
        ok &= isnan(ref[9].d) && isnan(ref[10].d) && isnan(ref[11].d) && !isnan(ref[8].d);
    }
    tap_ok(ok && ties > 0, "quantize_act: AVX2 equals the scalar twin bit for bit (%d ties, clipping, NaN/Inf blocks)",
           ties);
    free(x), free(ref), free(simd);
}

// The AVX-512 three-limb activations (weight-only decode, qmm.h): on blocks
// of magnitudes 1e-3..1e3 and an all-zero block, every value is rebuilt
// within amax * 2^-21, limbs 1 and 2 lie in [-64, 64], sum is theirs; a block
// holding NaN or Inf gets d = NaN.
static void check_quantize_x3(tap_rng *rng) {
    enum { NB = 64, N = NB * 32 };
    float *x = malloc(sizeof(float) * N);
    qb_block_x3 *y = malloc(sizeof *y * NB);
    for (int i = 0; i < N; i++) x[i] = (float)(tap_normal(rng) * pow(10, (i / 32) % 7 - 3) * (1 + 9 * (i % 11 == 0)));
    x[32 * 9 + 3] = NAN, x[32 * 10 + 31] = INFINITY, x[32 * 11] = -INFINITY;
    for (int i = 32 * 12; i < 32 * 13; i++) x[i] = 0;
    qb_quantize_x3_avx512(x, y, N);
    int ok = isnan(y[9].d) && isnan(y[10].d) && isnan(y[11].d) && y[12].d == 0;
    double worst = 0;
    for (int b = 0; b < NB; b++) {
        if (b >= 9 && b <= 11) continue;
        double amax = 0;
        int32_t sum = 0, sum0 = 0, sum_lo = 0;
        for (int i = 0; i < 32; i++) amax = fmax(amax, fabs(x[32 * b + i]));
        for (int i = 0; i < 32; i++) {
            const int8_t *q0 = y[b].qs[0], *q1 = y[b].qs[1], *q2 = y[b].qs[2];
            double v = (double)y[b].d * (q0[i] + q1[i] / 128.0 + q2[i] / 16384.0), e = fabs(v - x[32 * b + i]);
            ok &= e <= amax * ldexp(1, -21) && abs(q1[i]) <= 64 && abs(q2[i]) <= 64;
            if (amax > 0 && e / amax > worst) worst = e / amax;
            sum += q0[i] * 16384 + q1[i] * 128 + q2[i], sum0 += q0[i];
            if (i == 15) sum_lo = sum;
        }
        ok &= sum == y[b].sum && sum0 == y[b].sum0 && sum_lo == y[b].sum_lo;
    }
    tap_ok(ok, "quantize_x3 (AVX-512): values within amax * 2^-21 (worst %.2g * amax), limbs in range, sums, NaN/Inf blocks",
           worst);
    free(x), free(y);
}

int main(void) {
    tap_rng rng = tap_rng_new();
    unsetenv("QB_ISA");
    const qb_isa hw = qb_cpu_isa();
    tap_diag("this CPU runs %s", qb_isa_name(hw));
    if (hw >= QB_ISA_AVX2)
        check_quantize_act(&rng);
    else
        tap_ok(1, "# SKIP quantize_act AVX2 twin: this CPU has no AVX2");
    if (hw >= QB_ISA_AVX512)
        check_quantize_x3(&rng);
    else
        tap_ok(1, "# SKIP quantize_x3: this CPU has no AVX-512");
    const shape shapes[] = {{800, 37}, {256, 9}, {768, 130}, {96, 1}};
    const int Ts[] = {1, 3, 17};
    const mode modes[] = {{"weight-only", QB_ACT_F32, 0}, {"w8a8", QB_ACT_Q8, 0}, {"w8a8-static", QB_ACT_Q8, 1}};
    qb_pool *pools[2] = {qb_pool_new(1), qb_pool_new(2)};
    const double gamma_mul = 4.0 * FLT_EPSILON;

    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const qb_type t = types[ti];
        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
            const int n_in = shapes[si].n_in, n_out = shapes[si].n_out, Tmax = 17;
            if (n_in % qb_type_block(t)) continue;
            float *deq = malloc(sizeof(float) * n_in * n_out);
            void *data = make_weight(&rng, t, n_in, n_out, deq);
            qb_weight w = {t, QB_LAYOUT_OUT_IN, n_in, n_out, data};
            float *x = malloc(sizeof(float) * Tmax * n_in), *bias = malloc(sizeof(float) * n_out);
            float *y = malloc(sizeof(float) * Tmax * n_out), *yref = malloc(sizeof(float) * Tmax * n_out);
            double *ref = malloc(sizeof(double) * Tmax * n_out), *absdot = malloc(sizeof(double) * Tmax * n_out);
            double *qerr = malloc(sizeof(double) * Tmax * n_out), *ae = malloc(sizeof(double) * n_in);
            for (int k = 0; k < Tmax * n_in; k++) x[k] = (float)(tap_normal(&rng) * (1 + 4 * (k % 7 == 0)));
            for (int o = 0; o < n_out; o++) bias[o] = (float)tap_normal(&rng);
            float xmax = 0;
            for (int k = 0; k < Tmax * n_in; k++) xmax = fmaxf(xmax, fabsf(x[k]));
            for (size_t mi = 0; mi < 3; mi++) {
                const mode *m = &modes[mi];
                // Static: a calibrated scale that clips the largest 1 % or so.
                const float scale = m->stat ? xmax * 0.6f / 127 : 0;
                for (int Ti = 0; Ti < 3; Ti++) {
                    const int T = Ts[Ti];
                    const float *b = Ti % 2 ? bias : NULL;
                    for (int tok = 0; tok < T; tok++) {
                        if (m->act == QB_ACT_Q8) act_err(x + tok * n_in, n_in, scale, ae);
                        for (int o = 0; o < n_out; o++) {
                            double s = b ? b[o] : 0, a = b ? fabs(b[o]) : 0, e = 0;
                            for (int i = 0; i < n_in; i++) {
                                double wv = deq[(size_t)o * n_in + i], p = (double)x[tok * n_in + i] * wv;
                                s += p;
                                a += fabs(p);
                                if (m->act == QB_ACT_Q8) e += ae[i] * fabs(wv);
                            }
                            ref[tok * n_out + o] = s, absdot[tok * n_out + o] = a, qerr[tok * n_out + o] = e;
                        }
                    }
                    const double gamma = gamma_mul * (n_in + 2);
                    qb_qmm_ref(m->act, scale, yref, x, &w, b, T);
                    // The scalar reference against FP64.
                    int pass = 1;
                    double worst = 0;
                    for (int k = 0; k < T * n_out; k++) {
                        double bound = gamma * (absdot[k] + qerr[k]) + qerr[k] * 1.0001;
                        double err = fabs(yref[k] - ref[k]);
                        if (!(err <= bound)) pass = 0;
                        if (absdot[k] > 0 && err / absdot[k] > worst) worst = err / absdot[k];
                    }
                    tap_ok(pass, "ref %s %s %dx%d T=%d%s vs FP64: within bound (worst err/sum|xw| %.2g)", qb_type_name(t),
                           m->name, n_out, n_in, T, b ? " +bias" : "", worst);
                    for (int isa = QB_ISA_AVX2; isa <= QB_ISA_AVX512; isa++) {
                        if (isa > (int)hw) continue;
                        for (int th = 0; th < 2; th++) {
                            for (int k = 0; k < T * n_out; k++) y[k] = NAN;
                            qb_pool_set_act(pools[th], m->act);
                            if (m->stat) {
                                qb_qmm((qb_isa)isa, QB_ACT_F32, scale, pools[th], y, x, &w, b, T);
                            } else
                                qb_matmul_isa((qb_isa)isa, pools[th], y, x, &w, b, T);
                            pass = 1;
                            double rel = 0;
                            for (int k = 0; k < T * n_out; k++) {
                                double err = fabs((double)y[k] - yref[k]);
                                if (!(err <= gamma * (absdot[k] + qerr[k]))) pass = 0;
                                if (absdot[k] > 0 && err / absdot[k] > rel) rel = err / absdot[k];
                            }
                            tap_ok(pass, "%s %s %s %dx%d T=%d threads=%d vs scalar twin: worst err/sum|xw| %.2g",
                                   qb_isa_name((qb_isa)isa), qb_type_name(t), m->name, n_out, n_in, T, th + 1, rel);
                        }
                    }
                }
            }
            // NaN in one token's input: that token's outputs are all NaN, the others finite.
            x[1 * n_in + n_in / 2] = NAN;
            for (size_t mi = 0; mi < 2; mi++)
                for (int isa = QB_ISA_SCALAR; isa <= (int)hw; isa++) {
                    qb_pool_set_act(pools[1], modes[mi].act);
                    qb_matmul_isa((qb_isa)isa, pools[1], y, x, &w, bias, 3);
                    int nan_ok = 1;
                    for (int tok = 0; tok < 3; tok++)
                        for (int o = 0; o < n_out; o++) nan_ok &= (tok == 1) == !!isnan(y[tok * n_out + o]);
                    // The NaN token alone: the decode (T = 1) kernels.
                    qb_matmul_isa((qb_isa)isa, pools[1], y, x + n_in, &w, bias, 1);
                    for (int o = 0; o < n_out; o++) nan_ok &= !!isnan(y[o]);
                    if (!nan_ok || si == 0)
                        tap_ok(nan_ok, "%s %s %s %dx%d: a NaN input makes exactly its row's outputs NaN",
                               qb_isa_name((qb_isa)isa), qb_type_name(t), modes[mi].name, n_out, n_in);
                }
            // The embedding lookup: dequantized rows, exactly.
            if (si == 0) {
                float *row = malloc(sizeof(float) * n_in);
                int ok = 1;
                for (int o = 0; o < n_out; o++) {
                    qb_weight_row(&w, o, row);
                    ok &= memcmp(row, deq + (size_t)o * n_in, sizeof(float) * n_in) == 0;
                }
                tap_ok(ok, "weight_row of %s: every row equals the dequantized row", qb_type_name(t));
                free(row);
            }
            free(deq), free(data), free(x), free(bias), free(y), free(yref), free(ref), free(absdot), free(qerr);
            free(ae);
        }
    }
    qb_pool *p = qb_pool_new(1);
    tap_ok(qb_pool_act(p) == QB_ACT_F32 && !strcmp(qb_act_name(QB_ACT_Q8), "int8") && qb_act_parse("q8") == QB_ACT_Q8 && qb_act_parse("int8") == QB_ACT_Q8 && qb_act_parse("x") == -1 && !strcmp(qb_act_name(QB_ACT_F32), "f32"),
           "a new pool is weight-only (f32); mode names f32 and int8 (q8 accepted)");
    qb_pool_free(p);
    qb_pool_free(pools[0]);
    qb_pool_free(pools[1]);
    return tap_done();
}
