// test_softmax: the softmax statistics (argmax, sum of exp(x - max), its
// masked and KL-weighted forms) of every path against FP64 references on
// fresh random rows: odd sizes (vector tails), logit spreads of 1, 30 and
// 1000, ties for the maximum, -inf entries, subnormal sums, NaN.
//
// Error bounds (relative to the FP64 sum of the same terms):
//   scalar: expf is within 1 ulp and the sum is in double:        2e-7
//   avx2:   exp within 2 ulp, the sum in double:                  3e-7
// The argument x - max is rounded to float in both (as the tool has always
// done, ~6e-8 |x - max| relative per term: 2e-6 for a term 30 nats down
// that dominates a masked sum); the references round it so too and hold
// the rest to FP64. The weighted sum of the KL has terms of both signs: its
// error is bounded relative to the sum of |terms|.
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "cpu/cpu.h"
#include "kernels.h"

typedef struct {
    const char *name;
    int (*argmax)(const float *, int);
    double (*sum_exp)(const float *, int, float, const uint8_t *);
    double (*diff)(const float *, const float *, int, float, double *);
    double bound;
} path;

// Relative error |got - want| / scale; NaN anywhere gives +inf.
static double rel(double got, double want, double scale) {
    if (isnan(got) || isnan(want) || !(scale > 0)) return INFINITY;
    return fabs(got - want) / scale;
}

// A row of n logits: offset + spread * uniform, some -inf, and ties planted
// for the maximum (lanes apart, and before and after it).
static void make_row(tap_rng *r, float *x, int n, double spread) {
    const double offset = 20 * tap_normal(r);
    for (int i = 0; i < n; i++) x[i] = (float)(offset + spread * (tap_uniform(r) - 0.5));
    if (n > 4)
        for (int i = 0; i < n / 20 + 1; i++) x[(int)(tap_uniform(r) * n)] = -INFINITY;
    int am = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[am]) am = i;
    if (x[am] == -INFINITY) x[am] = 0.5f; // at least one finite entry
    const int ties = n > 1 ? 1 + (int)(tap_uniform(r) * 4) : 0;
    for (int t = 0; t < ties; t++) x[(int)(tap_uniform(r) * n)] = x[am];
}

int main(void) {
    tap_rng rng = tap_rng_new();
    unsetenv("QB_ISA");
    const qb_isa hw = qb_cpu_isa();
    const path paths[] = {
        {"scalar", qb_argmax_scalar, qb_sum_exp_scalar, qb_sum_exp_diff_scalar, 2e-7},
        {"avx2", qb_argmax_avx2, qb_sum_exp_avx2, qb_sum_exp_diff_avx2, 3e-7},
        {"dispatched", qb_argmax, qb_sum_exp, qb_sum_exp_diff, hw >= QB_ISA_AVX2 ? 3e-7 : 2e-7},
    };
    const int sizes[] = {1, 7, 8, 15, 16, 17, 31, 33, 100, 1001, 50257};
    const double spreads[] = {1, 30, 1000};
    const int NS = sizeof sizes / sizeof *sizes, NMAX = 50257;
    float *x = malloc(sizeof(float) * NMAX), *xb = malloc(sizeof(float) * NMAX);
    uint8_t *skip = malloc(NMAX);

    for (int p = 0; p < 3; p++) {
        const path *P = &paths[p];
        if (p == 1 && hw < QB_ISA_AVX2) {
            for (int k = 0; k < 6; k++) printf("ok %d # SKIP no avx2 on this CPU\n", ++tap_.run);
            continue;
        }
        int argmax_bad = 0, cases = 0;
        double w_sum = 0, w_mask = 0, w_dsum = 0, w_diff = 0, w_lse = 0;
        for (int s = 0; s < NS; s++)
            for (int sp = 0; sp < 3; sp++)
                for (int rep = 0; rep < (sizes[s] < 1000 ? 4 : 1); rep++, cases++) {
                    const int n = sizes[s];
                    make_row(&rng, x, n, spreads[sp]);
                    // FP64 references: first index of the maximum, then the sums.
                    int want = 0;
                    for (int i = 1; i < n; i++)
                        if ((double)x[i] > (double)x[want]) want = i;
                    const int got = P->argmax(x, n);
                    if (got != want) {
                        if (!argmax_bad) tap_diag("%s argmax n=%d spread %g: %d, want %d", P->name, n, spreads[sp], got, want);
                        argmax_bad++;
                    }
                    const float mx = x[want];
                    double ref = 0, ref_mask = 0;
                    for (int i = 0; i < n; i++) {
                        skip[i] = tap_uniform(&rng) < 0.3;
                        ref += exp((double)(x[i] - mx));
                    }
                    skip[want] = 1; // the masked sum misses its largest term, as in the tool
                    for (int i = 0; i < n; i++)
                        if (!skip[i]) ref_mask += exp((double)(x[i] - mx));
                    const double e1 = rel(P->sum_exp(x, n, mx, NULL), ref, ref);
                    if (!(e1 <= w_sum)) w_sum = e1;
                    // A term below float's range is lost (as expf loses it): an
                    // absolute allowance of FLT_MIN per term.
                    const double e2 = rel(P->sum_exp(x, n, mx, skip), ref_mask, ref_mask + n * FLT_MIN);
                    if (!(e2 <= w_mask)) w_mask = e2;
                    // log-sum-exp as the tool forms it: absolute error in nats.
                    const double e5 = rel(mx + log(P->sum_exp(x, n, mx, NULL)), mx + log(ref), 1);
                    if (!(e5 <= w_lse)) w_lse = e5;

                    // The KL pair: base xb, model x = xb + noise.
                    // (where the base has -inf the model has a finite logit: the term is 0)
                    for (int i = 0; i < n; i++) xb[i] = x[i], x[i] = (isinf(x[i]) ? mx : x[i]) + (float)(0.3 * tap_normal(&rng));
                    double rs = 0, racc = 0, rabs = 0, gs;
                    for (int i = 0; i < n; i++) {
                        const double e = exp((double)(xb[i] - mx)), d = isinf(xb[i]) ? 0 : (double)xb[i] - x[i];
                        rs += e, racc += e * d, rabs += fabs(e * d);
                    }
                    const double gacc = P->diff(xb, x, n, mx, &gs);
                    const double e3 = rel(gs, rs, rs), e4 = rel(gacc, racc, rabs + n * FLT_MIN);
                    if (!(e3 <= w_dsum)) w_dsum = e3;
                    if (!(e4 <= w_diff)) w_diff = e4;
                }
        tap_ok(argmax_bad == 0, "%s argmax: first index of the maximum in %d rows (ties, -inf; n 1..50257)", P->name,
               cases);
        tap_ok(w_sum <= P->bound, "%s sum exp(x - max): worst rel err %.2e <= %.0e", P->name, w_sum, P->bound);
        tap_ok(w_mask <= P->bound, "%s masked sum (30%% + max skipped): worst rel err %.2e <= %.0e", P->name, w_mask,
               P->bound);
        tap_ok(w_lse <= 1e-6, "%s log-sum-exp: worst abs err %.2e nats <= 1e-6", P->name, w_lse);
        tap_ok(w_dsum <= P->bound, "%s KL sum exp(xb - mb): worst rel err %.2e <= %.0e", P->name, w_dsum, P->bound);
        tap_ok(w_diff <= P->bound, "%s KL sum e (xb - x): worst err %.2e of sum |terms| <= %.0e", P->name, w_diff,
               P->bound);
    }

    // Edge cases, every path.
    for (int p = 0; p < 3; p++) {
        const path *P = &paths[p];
        if (p == 1 && hw < QB_ISA_AVX2) {
            for (int k = 0; k < 5; k++) printf("ok %d # SKIP no avx2 on this CPU\n", ++tap_.run);
            continue;
        }
        const int n = 1003;
        // Everything but the skipped maximum is -inf: exactly 0 (log gives -inf).
        for (int i = 0; i < n; i++) x[i] = -INFINITY, skip[i] = 0;
        x[500] = (float)tap_normal(&rng), skip[500] = 1;
        tap_ok(P->sum_exp(x, n, x[500], skip) == 0 && P->sum_exp(x, n, x[500], NULL) == 1,
               "%s: -inf entries add exactly 0", P->name);
        // A subnormal rest mass: entries ~95 nats below the maximum.
        double ref = 0;
        for (int i = 0; i < n; i++) x[i] = (float)(-95 + tap_uniform(&rng)), skip[i] = 0;
        x[7] = 1, skip[7] = 1;
        for (int i = 0; i < n; i++)
            if (!skip[i]) ref += exp((double)(x[i] - 1));
        const double got = P->sum_exp(x, n, 1, skip);
        tap_ok(rel(got, ref, ref) <= 1e-3, "%s: subnormal terms summed as expf gives them (%.3e vs %.3e)", P->name, got,
               ref);
        // NaN is never hidden: a NaN entry makes the sum NaN.
        for (int i = 0; i < n; i++) x[i] = (float)tap_normal(&rng);
        x[n - 2] = NAN;
        tap_ok(isnan(P->sum_exp(x, n, 3, NULL)), "%s: a NaN logit gives a NaN sum", P->name);
        // The KL's sum is the plain sum to the bit, and xb against itself
        // weighs nothing: the KL of a model against itself is exactly 0.
        for (int i = 0; i < n; i++) x[i] = (float)(5 * tap_normal(&rng));
        double sd;
        const float mb = x[P->argmax(x, n)];
        const double acc = P->diff(x, x, n, mb, &sd);
        tap_ok(acc == 0 && sd == P->sum_exp(x, n, mb, NULL), "%s: KL sum equals sum_exp bit for bit; x vs x gives 0",
               P->name);
        // All ties: index 0.
        for (int i = 0; i < n; i++) x[i] = 2.5f;
        x[n - 1] = -0.0f;
        tap_ok(P->argmax(x, n) == 0, "%s: a row of equal values gives index 0", P->name);
    }

    // The one-call form the scorer uses.
    {
        const int n = 50257;
        make_row(&rng, x, n, 30);
        int am;
        float mx;
        double s;
        qb_logsumexp_stats(x, n, &am, &mx, &s);
        const int want = qb_argmax_scalar(x, n);
        const double ref = qb_sum_exp_scalar(x, n, x[want], NULL);
        tap_ok(am == want && mx == x[want] && rel(s, ref, ref) <= 3e-7,
               "qb_logsumexp_stats: argmax %d (want %d), sum rel err %.2e vs scalar", am, want, rel(s, ref, ref));
    }
    free(x), free(xb), free(skip);
    return tap_done();
}
