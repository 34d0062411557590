// percentile.c: see percentile.h.
#include "percentile.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double qb_percentile_nearest_rank(const double *x, size_t n, double p) {
    double *v = qb_malloc((n ? n : 1) * sizeof *v);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(x[i])) v[m++] = x[i];
    double r = NAN;
    if (m > 0) {
        qsort(v, m, sizeof *v, cmp_double);
        // ceil(p/100 * m), computed so that e.g. p = 90, m = 10 gives exactly 9
        // despite 0.9 * 10 not being exactly 9 in binary floating point.
        double want = p / 100.0 * (double)m;
        size_t k = (size_t)ceil(want - 1e-9 * (double)m);
        if (k < 1) k = 1;
        if (k > m) k = m;
        r = v[k - 1];
    }
    free(v);
    return r;
}

double qb_max(const double *x, size_t n) {
    double r = NAN;
    for (size_t i = 0; i < n; i++)
        if (!isnan(x[i]) && (isnan(r) || x[i] > r)) r = x[i];
    return r;
}

double qb_mean(const double *x, size_t n) {
    double s = 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(x[i])) s += x[i], m++;
    return m ? s / (double)m : NAN;
}
