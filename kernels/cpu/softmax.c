// softmax.c: the statistics of a softmax over a long row (the 50k-entry
// vocabulary of a language model), as a scorer needs them: the argmax, the
// sum of exp(x - max), the same sum over unflagged entries, and the weighted
// sum of an exact KL-divergence. These are the scalar references; the fast
// twins are in softmax_avx2.c.
#include <math.h>

#include "cpu.h"

// The lowest index of the largest value (a strict > keeps the first of ties).
int qb_argmax_scalar(const float *x, int n) {
    int am = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[am]) am = i;
    return am;
}

// Each term in float (expf), summed in double: 50k terms in a float sum would
// lose ~1e-5 of the total.
double qb_sum_exp_scalar(const float *x, int n, float mx, const uint8_t *skip) {
    double s = 0;
    if (skip) {
        for (int i = 0; i < n; i++)
            if (!skip[i]) s += expf(x[i] - mx);
    } else {
        for (int i = 0; i < n; i++) s += expf(x[i] - mx);
    }
    return s;
}

// The difference xb - x is taken in double: KL is a small number left after
// cancelling large ones, so every digit of the terms counts. A term of zero
// weight adds nothing (0 log 0 = 0), even where xb is -inf. The sum is
// qb_sum_exp_scalar's, term for term (a model against itself: KL exactly 0).
double qb_sum_exp_diff_scalar(const float *xb, const float *x, int n, float mb, double *sum_exp) {
    double s = 0, acc = 0;
    for (int i = 0; i < n; i++) {
        const double e = expf(xb[i] - mb);
        s += e;
        if (e != 0) acc += e * ((double)xb[i] - x[i]);
    }
    *sum_exp = s;
    return acc;
}

int qb_argmax(const float *x, int n) {
    if (qb_cpu_isa_cached() >= QB_ISA_AVX2) return qb_argmax_avx2(x, n);
    return qb_argmax_scalar(x, n);
}

double qb_sum_exp(const float *x, int n, float mx, const uint8_t *skip) {
    if (qb_cpu_isa_cached() >= QB_ISA_AVX2) return qb_sum_exp_avx2(x, n, mx, skip);
    return qb_sum_exp_scalar(x, n, mx, skip);
}

double qb_sum_exp_diff(const float *xb, const float *x, int n, float mb, double *sum_exp) {
    if (qb_cpu_isa_cached() >= QB_ISA_AVX2) return qb_sum_exp_diff_avx2(xb, x, n, mb, sum_exp);
    return qb_sum_exp_diff_scalar(xb, x, n, mb, sum_exp);
}

void qb_logsumexp_stats(const float *x, int n, int *argmax, float *max, double *sum_exp) {
    *argmax = qb_argmax(x, n);
    *max = x[*argmax];
    *sum_exp = qb_sum_exp(x, n, *max, NULL);
}
