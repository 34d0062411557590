// norm.c: layer normalisation, the GELU activation and the residual add.
#include <math.h>

#include "cpu.h"

// Two passes per row (mean, then variance of the deviations) with double
// accumulators: the biased variance PyTorch's LayerNorm uses, without the
// cancellation of the one-pass E[x^2] - E[x]^2 form. The deviation x - mean
// is also taken in double, so a row riding on a large offset keeps its
// digits (the mean rounded to float would cost them).
void qb_layernorm(float *y, const float *x, const float *g, const float *b, int n, int T, float eps) {
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * n;
        float *yr = y + (size_t)t * n;
        double sum = 0;
        for (int i = 0; i < n; i++) sum += xr[i];
        const double mean = sum / n;
        double ss = 0;
        for (int i = 0; i < n; i++) {
            double d = xr[i] - mean;
            ss += d * d;
        }
        const double rstd = 1.0 / sqrt(ss / n + eps);
        for (int i = 0; i < n; i++) yr[i] = (float)((xr[i] - mean) * rstd) * g[i] + b[i];
    }
}

// Hugging Face "gelu_new": 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))),
// written as PyTorch computes it (the reference; norm_avx2.c has the fast one).
void qb_gelu_scalar(float *x, size_t n) {
    const float k = 0.7978845608028654f; // sqrt(2/pi)
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
    }
}

void qb_gelu(float *x, size_t n) {
    if (qb_cpu_isa_cached() >= QB_ISA_AVX2) qb_gelu_avx2(x, n);
    else qb_gelu_scalar(x, n);
}

void qb_add(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}
