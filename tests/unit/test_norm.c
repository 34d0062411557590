// test_norm: layernorm, gelu_new and the residual add against FP64 formulas
// on fresh random data.
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "../tap.h"
#include "cpu/cpu.h"
#include "kernels.h"

int main(void) {
    tap_rng rng = tap_rng_new();

    // Layernorm: rows with a large common offset (cancellation in a naive
    // one-pass variance), odd width, several rows.
    const int shapes[][2] = {{161, 3}, {768, 2}, {7, 5}, {1, 1}};
    for (int s = 0; s < 4; s++) {
        const int n = shapes[s][0], T = shapes[s][1];
        float *x = malloc(sizeof(float) * n * T), *y = malloc(sizeof(float) * n * T);
        float *g = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n);
        double *ref = malloc(sizeof(double) * n * T);
        for (int t = 0; t < T; t++) {
            double offset = t == 0 ? 0 : 300 * tap_normal(&rng), scale = t == 1 ? 1e-2 : 3;
            for (int i = 0; i < n; i++) x[t * n + i] = (float)(offset + scale * tap_normal(&rng));
        }
        for (int i = 0; i < n; i++) {
            g[i] = (float)(1 + 0.3 * tap_normal(&rng));
            b[i] = (float)(0.3 * tap_normal(&rng));
        }
        const float eps = 1e-5f;
        for (int t = 0; t < T; t++) {
            double mean = 0, var = 0;
            for (int i = 0; i < n; i++) mean += x[t * n + i];
            mean /= n;
            for (int i = 0; i < n; i++) var += (x[t * n + i] - mean) * (x[t * n + i] - mean);
            var /= n;
            for (int i = 0; i < n; i++) ref[t * n + i] = (x[t * n + i] - mean) / sqrt(var + eps) * g[i] + b[i];
        }
        for (int k = 0; k < n * T; k++) y[k] = NAN;
        qb_layernorm(y, x, g, b, n, T, eps);
        // Per row: relative to the row's norm, so each row is held to account.
        double worst = 0;
        for (int t = 0; t < T; t++) {
            double e = tap_rel_err(y + t * n, ref + t * n, n);
            if (!(e <= worst)) worst = e;
        }
        tap_ok(worst <= 2e-6, "layernorm n=%d T=%d (offset rows): worst row rel err %.2e <= 2e-6", n, T, worst);
        free(x), free(y), free(g), free(b), free(ref);
    }

    // In place, as the forward pass may use it.
    {
        float x[5] = {1, 2, 3, 4, 5}, g[5] = {1, 1, 1, 1, 1}, b[5] = {0};
        qb_layernorm(x, x, g, b, 5, 1, 0);
        tap_ok(fabsf(x[0] + sqrtf(2.0f)) < 1e-6f && fabsf(x[2]) < 1e-6f && fabsf(x[4] - sqrtf(2.0f)) < 1e-6f,
               "layernorm in place: [1..5] -> [-sqrt2, .., sqrt2]");
    }

    // gelu_new over a wide range, odd length (vector tails), every path.
    unsetenv("QB_ISA");
    const qb_isa hw = qb_cpu_isa();
    for (int path = 0; path < 3; path++) {
        const char *pname = path == 0 ? "scalar" : path == 1 ? "avx2" : "qb_gelu";
        if (path == 1 && hw < QB_ISA_AVX2) {
            printf("ok %d # SKIP no avx2 on this CPU\n", ++tap_.run);
            continue;
        }
        const size_t n = 100003;
        float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
        for (size_t i = 0; i < n; i++) y[i] = x[i] = (float)(i < 2000 ? -12.0 + 24.0 * i / 2000 : 4 * tap_normal(&rng));
        x[0] = y[0] = -100, x[1] = y[1] = 100, x[2] = y[2] = 0, x[3] = y[3] = -0.0f; // the ends of the range
        if (path == 0) qb_gelu_scalar(y, n);
        else if (path == 1) qb_gelu_avx2(y, n);
        else qb_gelu(y, n);
        double worst = 0;
        const double k = sqrt(2 / M_PI);
        for (size_t i = 0; i < n; i++) {
            double v = x[i], want = 0.5 * v * (1 + tanh(k * (v + 0.044715 * v * v * v)));
            // The float formula loses ~ulp(1) in 1 + tanh(u) when tanh(u) is
            // near -1 (x << 0), like PyTorch's: allow that absolute error.
            double err = v == 0 ? (y[i] == 0 ? 0 : INFINITY)
                                : fabs(y[i] - want) / (1e-5 * fabs(want) + 2 * FLT_EPSILON * fabs(v));
            if (!(err <= worst)) worst = err;
        }
        tap_ok(worst <= 1, "%s gelu_new on %zu values in [-12, 12]: |err| <= 1e-5 |y| + 2 eps |x| (worst %.2f of bound)",
               pname, n, worst);
        free(x), free(y);
    }

    // Residual add.
    {
        const size_t n = 1001;
        float y[1001], x[1001];
        double want[1001];
        for (size_t i = 0; i < n; i++) {
            y[i] = (float)tap_normal(&rng);
            x[i] = (float)tap_normal(&rng);
            want[i] = (double)(y[i] + x[i]);
        }
        qb_add(y, x, n);
        int ok = 1;
        for (size_t i = 0; i < n; i++) ok &= y[i] == want[i];
        tap_ok(ok, "add: y += x exactly (float32 rounding) on %zu values", n);
    }
    return tap_done();
}
