// percentile.h: order statistics of a sample series.
#pragma once
#include <stddef.h>

// The p-th percentile (0 < p <= 100) of x[0..n) by the nearest-rank method:
// the smallest value such that at least p % of the values are <= it, i.e.
// the k-th smallest with k = ceil(p/100 * n). Always one of the values (no
// interpolation), so a 90th percentile of RSS is a level the process really
// held. NaN entries are ignored; returns NaN when no value is left.
double qb_percentile_nearest_rank(const double *x, size_t n, double p);
double qb_max(const double *x, size_t n);  // NaN-ignoring; NaN when empty
double qb_mean(const double *x, size_t n); // NaN-ignoring; NaN when empty
