// test_attention: causal attention against an FP64 reference; chunked
// prefill equals one-shot prefill; a decode step equals the last row of the
// prefill; every thread count gives the same answer.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "cpu/cpu.h"
#include "kernels.h"

// FP64 causal attention of rows t0..t1-1 (position = row index) over the cache.
static void ref_attention(double *out, const float *q, const float *k, const float *v, int t0, int t1, int H,
                          int D) {
    const int C = H * D;
    double *s = malloc(sizeof(double) * t1);
    for (int t = t0; t < t1; t++)
        for (int h = 0; h < H; h++) {
            double mx = -INFINITY, sum = 0;
            for (int p = 0; p <= t; p++) {
                double dot = 0;
                for (int d = 0; d < D; d++) dot += (double)q[(t - t0) * C + h * D + d] * k[p * C + h * D + d];
                s[p] = dot / sqrt(D);
                mx = fmax(mx, s[p]);
            }
            for (int p = 0; p <= t; p++) sum += s[p] = exp(s[p] - mx);
            for (int d = 0; d < D; d++) {
                double o = 0;
                for (int p = 0; p <= t; p++) o += s[p] / sum * v[p * C + h * D + d];
                out[(t - t0) * C + h * D + d] = o;
            }
        }
    free(s);
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d; // NaN propagates
    }
    return m;
}

int main(void) {
    tap_rng rng = tap_rng_new();
    unsetenv("QB_ISA");
    const qb_isa hw = qb_cpu_isa();
    // heads, head_dim, tokens: odd head_dim (vector tails), one below a
    // vector, 32 and 64 (GPT-2's), 128 (two register blocks of values), 24
    // (a pass of one vector). Token counts not multiples of the query block.
    const int cfg[][3] = {{3, 17, 41}, {5, 32, 100}, {1, 5, 9}, {4, 64, 300}, {2, 128, 70}, {3, 24, 37}};
    for (int isa = QB_ISA_SCALAR; isa <= QB_ISA_AVX2; isa++) {
    if (isa > (int)hw) {
        printf("ok %d # SKIP no %s on this CPU\n", ++tap_.run, qb_isa_name((qb_isa)isa));
        continue;
    }
    const char *iname = qb_isa_name((qb_isa)isa);
    for (int c = 0; c < 6; c++) {
        const int H = cfg[c][0], D = cfg[c][1], N = cfg[c][2], C = H * D;
        float *q = malloc(sizeof(float) * N * C), *k = malloc(sizeof(float) * N * C);
        float *v = malloc(sizeof(float) * N * C);
        float *out = malloc(sizeof(float) * N * C), *out2 = malloc(sizeof(float) * N * C);
        double *ref = malloc(sizeof(double) * N * C);
        float *scratch = malloc(sizeof(float) * 3 * N);
        // Scores of a few units, like a trained model's, with some sharp rows.
        for (int i = 0; i < N * C; i++) {
            q[i] = (float)(tap_normal(&rng) * (i % 7 == 0 ? 3 : 1));
            k[i] = (float)tap_normal(&rng);
            v[i] = (float)tap_normal(&rng);
        }
        ref_attention(ref, q, k, v, 0, N, H, D);
        for (int th = 1; th <= 3; th++) {
            qb_pool *pool = qb_pool_new(th);
            for (int i = 0; i < N * C; i++) out[i] = NAN;
            qb_attention_isa((qb_isa)isa, pool, out, q, k, v, 0, N, H, D, scratch);
            double rel = tap_rel_err(out, ref, (size_t)N * C);
            tap_ok(rel <= 1e-5, "%s H=%d D=%d prefill of %d tokens, %d threads: rel err %.2e vs FP64", iname, H, D, N,
                   th, rel);

            // The same prompt in three chunks (pos0 > 0 for the later ones). A
            // one-token chunk takes the decode kernel, the others the prefill
            // one: equal up to float rounding (values are O(1); a wrong
            // position or mask would be off by O(0.1)).
            for (int i = 0; i < N * C; i++) out2[i] = NAN;
            int cuts[] = {0, N / 3, N / 3 + 1, N};
            for (int ci = 0; ci < 3; ci++) {
                int t0 = cuts[ci], T = cuts[ci + 1] - t0;
                qb_attention_isa((qb_isa)isa, pool, out2 + t0 * C, q + t0 * C, k, v, t0, T, H, D, scratch);
            }
            double d = max_abs_diff(out2, out, (size_t)N * C);
            tap_ok(d <= 1e-5, "prefill in chunks [0,%d) [%d,%d) [%d,%d) equals one-shot: max diff %.2e", cuts[1],
                   cuts[1], cuts[2], cuts[2], N, d);

            // Decode of the last token: T = 1 at pos0 = N-1.
            float *o1 = malloc(sizeof(float) * C);
            for (int i = 0; i < C; i++) o1[i] = NAN;
            qb_attention_isa((qb_isa)isa, pool, o1, q + (N - 1) * C, k, v, N - 1, 1, H, D, scratch);
            d = max_abs_diff(o1, out + (N - 1) * C, (size_t)C);
            tap_ok(d <= 1e-5, "decode step at pos %d equals the last prefill row: max diff %.2e", N - 1, d);
            free(o1);
            qb_pool_free(pool);
        }
        free(q), free(k), free(v), free(out), free(out2), free(ref), free(scratch);
    }
    }
    // The public entry point takes the pool's ISA.
    {
        const int H = 2, D = 8, N = 5, C = H * D;
        float q[5 * 16], k[5 * 16], v[5 * 16], out[5 * 16], scratch[5];
        double ref[5 * 16];
        for (int i = 0; i < N * C; i++) q[i] = (float)tap_normal(&rng), k[i] = (float)tap_normal(&rng), v[i] = (float)tap_normal(&rng);
        ref_attention(ref, q, k, v, 0, N, H, D);
        qb_pool *pool = qb_pool_new(1);
        for (int i = 0; i < N * C; i++) out[i] = NAN;
        qb_attention(pool, out, q, k, v, 0, N, H, D, scratch);
        tap_ok(tap_rel_err(out, ref, (size_t)N * C) <= 1e-5, "qb_attention (pool's ISA %s) matches FP64",
               qb_isa_name(qb_pool_isa(pool)));
        qb_pool_free(pool);
    }
    return tap_done();
}
