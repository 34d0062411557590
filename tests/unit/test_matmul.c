// test_matmul: every matmul path (scalar reference, AVX2, AVX-512) x weight
// type (F32, F16, BF16) x layout x tokens x threads against an FP64 product
// of the same (dequantized) weights, on fresh random data of odd sizes.
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../tap.h"
#include "cpu/cpu.h"
#include "kernels.h"

typedef struct {
    int n_in, n_out;
} shape;

// The stored weight of the given type and layout, and its exact float value
// as a [n_out][n_in] double matrix for the reference.
static void *make_weight(tap_rng *rng, qb_type type, qb_layout layout, int n_in, int n_out, double *exact) {
    size_t n = (size_t)n_in * n_out, es = type == QB_TYPE_F32 ? 4 : 2;
    unsigned char *data = malloc(n * es);
    for (int o = 0; o < n_out; o++)
        for (int i = 0; i < n_in; i++) {
            float v = (float)(tap_normal(rng) * 0.5);
            size_t at = layout == QB_LAYOUT_OUT_IN ? (size_t)o * n_in + i : (size_t)i * n_out + o;
            if (type == QB_TYPE_F32) ((float *)data)[at] = v;
            else if (type == QB_TYPE_F16) {
                ((uint16_t *)data)[at] = qb_f32_to_f16(v);
                v = qb_f16_to_f32(((uint16_t *)data)[at]);
            } else {
                ((uint16_t *)data)[at] = qb_f32_to_bf16(v);
                v = qb_bf16_to_f32(((uint16_t *)data)[at]);
            }
            exact[(size_t)o * n_in + i] = v;
        }
    return data;
}

// Checks y against the FP64 product: the norm-wise relative error must be
// below rel_bound, and every element within the worst-case float32 rounding
// bound n*eps*sum|x_i w_i| of its own dot product, so one wrong element
// fails even when the norm hides it. NaN fails both.
static int check(const float *y, const double *ref, const double *absdot, size_t n, int n_in, double rel_bound,
                 double *rel_out) {
    double rel = tap_rel_err(y, ref, n);
    *rel_out = rel;
    if (!(rel <= rel_bound)) return 0;
    double gamma = 2.0 * (n_in + 2) * FLT_EPSILON;
    for (size_t k = 0; k < n; k++)
        if (!(fabs(y[k] - ref[k]) <= gamma * absdot[k])) return 0;
    return 1;
}

static void matmul_unsupported_type(const char *unused) {
    (void)unused;
    float x[32] = {1}, y[4];
    unsigned char blocks[4 * 34] = {0};
    qb_weight w = {(qb_type)6, QB_LAYOUT_OUT_IN, 32, 4, blocks}; // 6: no such type (ggml's removed Q4_2)
    qb_pool *pool = qb_pool_new(1);
    qb_matmul(pool, y, x, &w, NULL, 1);
}
static int dies_on_unsupported_type(void) {
    char msg[512];
    const int code = tap_child_exit(matmul_unsupported_type, NULL, msg, sizeof msg);
    tap_diag("child said: %s", msg);
    return code == 2 && strstr(msg, "weight type 6 not supported on CPU");
}

int main(void) {
    tap_rng rng = tap_rng_new();
    unsetenv("QB_ISA");
    const qb_isa hw = qb_cpu_isa();
    tap_diag("this CPU runs %s", qb_isa_name(hw));

    // n_in 700 crosses the kernels' reduction blocking; 64x256 is all whole tiles.
    const shape shapes[] = {{161, 97}, {64, 256}, {700, 45}, {5, 3}};
    const qb_type types[] = {QB_TYPE_F32, QB_TYPE_F16, QB_TYPE_BF16};
    const char *type_names[] = {"F32", "F16", "BF16"};
    const int Ts[] = {1, 3, 17};
    const int threads[] = {1, 2, 3};
    qb_pool *pools[3];
    for (int k = 0; k < 3; k++) pools[k] = qb_pool_new(threads[k]);

    for (int isa = QB_ISA_SCALAR; isa <= QB_ISA_AVX512; isa++) {
        if (isa > (int)hw) {
            printf("ok %d # SKIP no %s on this CPU\n", ++tap_.run, qb_isa_name((qb_isa)isa));
            continue;
        }
        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
            const int n_in = shapes[si].n_in, n_out = shapes[si].n_out, Tmax = 17;
            float *x = malloc(sizeof(float) * Tmax * n_in), *bias = malloc(sizeof(float) * n_out);
            float *y = malloc(sizeof(float) * Tmax * n_out);
            double *exact = malloc(sizeof(double) * n_in * n_out);
            double *ref = malloc(sizeof(double) * Tmax * n_out), *absdot = malloc(sizeof(double) * Tmax * n_out);
            for (int k = 0; k < Tmax * n_in; k++) x[k] = (float)tap_normal(&rng);
            for (int o = 0; o < n_out; o++) bias[o] = (float)tap_normal(&rng);
            for (int ti = 0; ti < 3; ti++)
                for (int layout = 0; layout < 2; layout++) {
                    void *data = make_weight(&rng, types[ti], (qb_layout)layout, n_in, n_out, exact);
                    qb_weight w = {types[ti], (qb_layout)layout, n_in, n_out, data};
                    for (int Ti = 0; Ti < 3; Ti++) {
                        const int T = Ts[Ti];
                        const float *b = (Ti + layout) % 2 ? bias : NULL;
                        for (int t = 0; t < T; t++)
                            for (int o = 0; o < n_out; o++) {
                                double s = b ? b[o] : 0, a = b ? fabs(b[o]) : 0;
                                for (int i = 0; i < n_in; i++) {
                                    double p = (double)x[t * n_in + i] * exact[(size_t)o * n_in + i];
                                    s += p;
                                    a += fabs(p);
                                }
                                ref[t * n_out + o] = s;
                                absdot[t * n_out + o] = a;
                            }
                        for (int th = 0; th < 3; th++) {
                            for (int k = 0; k < T * n_out; k++) y[k] = NAN; // unwritten outputs fail
                            qb_matmul_isa((qb_isa)isa, pools[th], y, x, &w, b, T);
                            double rel;
                            int pass = check(y, ref, absdot, (size_t)T * n_out, n_in, 1e-5, &rel);
                            tap_ok(pass, "%s %s %s %dx%d T=%d threads=%d%s: rel err %.2e <= 1e-5",
                                   qb_isa_name((qb_isa)isa), type_names[ti], layout ? "in_out" : "out_in", n_out,
                                   n_in, T, threads[th], b ? " +bias" : "", rel);
                        }
                    }
                    free(data);
                }
            free(x), free(bias), free(y), free(exact), free(ref), free(absdot);
        }
    }

    // The reference entry point and the public dispatcher (pool's ISA, QB_ISA).
    {
        const int n_in = 33, n_out = 19, T = 2;
        float x[2 * 33], y1[2 * 19], y2[2 * 19];
        double exact[33 * 19];
        for (int k = 0; k < T * n_in; k++) x[k] = (float)tap_normal(&rng);
        void *data = make_weight(&rng, QB_TYPE_F32, QB_LAYOUT_OUT_IN, n_in, n_out, exact);
        qb_weight w = {QB_TYPE_F32, QB_LAYOUT_OUT_IN, n_in, n_out, data};
        qb_matmul_ref(y1, x, &w, NULL, T);
        setenv("QB_ISA", "scalar", 1);
        qb_pool *p = qb_pool_new(2);
        tap_ok(qb_cpu_isa() == QB_ISA_SCALAR, "QB_ISA=scalar lowers the ISA");
        qb_matmul(p, y2, x, &w, NULL, T);
        tap_ok(memcmp(y1, y2, sizeof y1) == 0, "qb_matmul on a QB_ISA=scalar pool equals qb_matmul_ref bit for bit");
        qb_pool_free(p);
        setenv("QB_ISA", "avx512", 1);
        tap_ok(qb_cpu_isa() == hw, "QB_ISA=avx512 never raises the ISA above the CPU's (%s)", qb_isa_name(hw));
        unsetenv("QB_ISA");
        free(data);
    }
    tap_ok(dies_on_unsupported_type(), "unsupported weight type: exit 2 with a clear message");

    // The embedding lookup.
    {
        const int n_in = 37, n_out = 11;
        double exact[37 * 11];
        int ok = 1;
        for (int ti = 0; ti < 3; ti++) {
            void *data = make_weight(&rng, types[ti], QB_LAYOUT_OUT_IN, n_in, n_out, exact);
            qb_weight w = {types[ti], QB_LAYOUT_OUT_IN, n_in, n_out, data};
            float row[37];
            for (int r = 0; r < n_out; r++) {
                qb_weight_row(&w, r, row);
                for (int i = 0; i < n_in; i++) ok &= row[i] == exact[r * n_in + i];
            }
            free(data);
        }
        tap_ok(ok, "weight_row: every row of F32, F16, BF16 weights exact");
    }
    for (int k = 0; k < 3; k++) qb_pool_free(pools[k]);
    return tap_done();
}
