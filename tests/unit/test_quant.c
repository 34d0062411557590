// test_quant: ggml block types: sizes and names, and the round-trip error of
// every reference quantizer on fresh random rows, against bounds stated per
// type (bit-exactness with ggml is tests/tools/quant-gguf.t and
// check-interop). Also the degenerate rows: all zero, all equal.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "quant.h"

typedef struct {
    qb_type t;
    int block;
    size_t bytes;
    double rmse_bound; // relative RMS error bound on Gaussian rows
} type_case;

// Relative RMS errors measured on N(0, s^2) rows are about: f16 2e-4,
// bf16 1.6e-3, q8_0 5e-3, q6_k 1.9e-2, q4_k 6e-2, iq4_nl 8e-2, q4_1 9e-2,
// q4_0 1.1e-1; the bounds leave room for the random draw.
static const type_case cases[] = {
    {QB_TYPE_F32, 1, 4, 0},         {QB_TYPE_F16, 1, 2, 4e-4},       {QB_TYPE_BF16, 1, 2, 3e-3},
    {QB_TYPE_Q8_0, 32, 34, 8e-3},   {QB_TYPE_Q6_K, 256, 210, 3e-2}, {QB_TYPE_Q4_K, 256, 144, 9e-2},
    {QB_TYPE_IQ4_NL, 32, 18, 1.1e-1}, {QB_TYPE_Q4_1, 32, 20, 1.2e-1}, {QB_TYPE_Q4_0, 32, 18, 1.4e-1},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static double rel_rmse(const float *x, const float *y, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(y[i])) return INFINITY;
        num += ((double)y[i] - x[i]) * ((double)y[i] - x[i]);
        den += (double)x[i] * x[i];
    }
    return sqrt(num / den);
}

int main(void) {
    tap_rng rng = tap_rng_new();

    // ---- traits
    for (size_t c = 0; c < N_CASES; c++) {
        const type_case *tc = &cases[c];
        const char *name = qb_type_name(tc->t);
        tap_ok(name && qb_type_valid(tc->t) && qb_type_block(tc->t) == tc->block &&
                   qb_type_block_bytes(tc->t) == tc->bytes && qb_type_parse(name) == (int)tc->t &&
                   qb_type_parse(qb_type_ggml_name(tc->t)) == (int)tc->t,
               "%s: block %d, %zu bytes, names parse back", name ? name : "?", tc->block, tc->bytes);
    }
    tap_ok(qb_row_bytes(QB_TYPE_Q4_K, 768) == 3 * 144 && qb_row_bytes(QB_TYPE_Q8_0, 768) == 24 * 34,
           "row bytes of 768 values: q4_k 432, q8_0 816");
    tap_ok(!qb_type_valid(6) && !qb_type_valid(-1) && !qb_type_valid(39) && qb_type_parse("q5_0") == -1 &&
               qb_type_parse("") == -1 && qb_type_block((qb_type)7) == 0,
           "unknown type ids and names are refused");

    // ---- round trip on Gaussian rows of several scales (n: 3 super-blocks)
    const int n = 768, rows = 12;
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
    unsigned char *q = malloc(qb_row_bytes(QB_TYPE_F32, n));
    for (size_t c = 0; c < N_CASES; c++) {
        const type_case *tc = &cases[c];
        double worst = 0;
        for (int r = 0; r < rows; r++) {
            double s = pow(10, -3 + r % 5);
            for (int i = 0; i < n; i++) x[i] = (float)(tap_normal(&rng) * s);
            qb_quantize_row(tc->t, x, q, n);
            qb_dequantize_row(tc->t, q, y, n);
            double e = rel_rmse(x, y, n);
            if (!(e <= worst)) worst = e;
        }
        tap_ok(worst <= tc->rmse_bound, "%s: round-trip relative RMS error %.3g <= %.3g on %d Gaussian rows",
               qb_type_name(tc->t), worst, tc->rmse_bound, rows);
    }

    // ---- a heavy outlier survives: every type maps a block's largest
    // magnitude (nearly) exactly onto its grid.
    for (size_t c = 1; c < N_CASES; c++) {
        const type_case *tc = &cases[c];
        for (int i = 0; i < n; i++) x[i] = (float)(tap_normal(&rng) * 0.02);
        int at = (int)(tap_uniform(&rng) * n);
        x[at] = (float)(tap_uniform(&rng) < 0.5 ? -3.0 : 3.0);
        qb_quantize_row(tc->t, x, q, n);
        qb_dequantize_row(tc->t, q, y, n);
        double e_out = fabs((double)y[at] - x[at]) / 3.0;
        tap_ok(e_out <= 0.02, "%s: an outlier 150 sigma out is kept to %.2g relative", qb_type_name(tc->t), e_out);
    }

    // ---- degenerate rows
    for (size_t c = 0; c < N_CASES; c++) {
        const type_case *tc = &cases[c];
        memset(x, 0, sizeof(float) * n);
        qb_quantize_row(tc->t, x, q, n);
        qb_dequantize_row(tc->t, q, y, n);
        int zero = 1;
        for (int i = 0; i < n; i++) zero &= y[i] == 0;
        float v = (float)(0.25 + tap_uniform(&rng));
        for (int i = 0; i < n; i++) x[i] = v;
        qb_quantize_row(tc->t, x, q, n);
        qb_dequantize_row(tc->t, q, y, n);
        double e = rel_rmse(x, y, n);
        tap_ok(zero && e <= 1e-2, "%s: a zero row decodes to zeros; a constant row %.4f to within %.2g",
               qb_type_name(tc->t), v, e);
    }
    free(x);
    free(y);
    free(q);
    return tap_done();
}
