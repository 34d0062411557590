// randn.c: see randn.h.
//
// Bit-exactness needs every floating-point operation rounded exactly once, as
// written: no fused multiply-add (GCC does not contract in ISO C mode, which
// -std=c11 selects; clang needs the pragma below) and no reassociation (no
// -ffast-math). Vectorised code gives the same bits as scalar code.
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif
#include "randn.h"

#include <math.h>
#include <string.h>

static const uint64_t GAMMA = 0x9E3779B97F4A7C15ull; // SplitMix64's increment

static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double qb_randn_log(double x) {
    // x = m * 2^e with m in [sqrt(1/2), sqrt(2)), read from the bits (x is a
    // normal double here: the uniforms are at least 2^-53).
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int e = (int)((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull; // m in [1, 2)
    double m;
    memcpy(&m, &bits, sizeof m);
    if (m > 1.4142135623730951) {
        m = m * 0.5;
        e += 1;
    }
    // ln m = 2 atanh(s), s = (m-1)/(m+1), |s| <= 0.1716: the series to s^19
    // leaves an error below 1e-15.
    double s = (m - 1.0) / (m + 1.0);
    double s2 = s * s;
    double p = 1.0 / 19;
    p = p * s2 + 1.0 / 17;
    p = p * s2 + 1.0 / 15;
    p = p * s2 + 1.0 / 13;
    p = p * s2 + 1.0 / 11;
    p = p * s2 + 1.0 / 9;
    p = p * s2 + 1.0 / 7;
    p = p * s2 + 1.0 / 5;
    p = p * s2 + 1.0 / 3;
    p = p * s2 + 1.0;
    return (double)e * 0.6931471805599453 + 2.0 * s * p;
}

void qb_randn_sincos_turns(double v, double *sn, double *cs) {
    // Nearest quarter turn k, remainder f in [-1/2, 1/2] quarter turns.
    double x = 4.0 * v;
    int k = (int)(x + 0.5);
    double f = x - (double)k;
    double t = f * 1.5707963267948966; // |t| <= pi/4
    double t2 = t * t;
    // Taylor series to t^15 (sin) and t^16 (cos): error below 1e-16 on [-pi/4, pi/4].
    double ps = -1.0 / 1307674368000.0;
    ps = ps * t2 + 1.0 / 6227020800.0;
    ps = ps * t2 - 1.0 / 39916800.0;
    ps = ps * t2 + 1.0 / 362880.0;
    ps = ps * t2 - 1.0 / 5040.0;
    ps = ps * t2 + 1.0 / 120.0;
    ps = ps * t2 - 1.0 / 6.0;
    double s = t + t * t2 * ps;
    double pc = 1.0 / 20922789888000.0;
    pc = pc * t2 - 1.0 / 87178291200.0;
    pc = pc * t2 + 1.0 / 479001600.0;
    pc = pc * t2 - 1.0 / 3628800.0;
    pc = pc * t2 + 1.0 / 40320.0;
    pc = pc * t2 - 1.0 / 720.0;
    pc = pc * t2 + 1.0 / 24.0;
    pc = pc * t2 - 0.5;
    double c = 1.0 + t2 * pc;
    switch (k & 3) { // rotate by k quarter turns
    case 0: *sn = s, *cs = c; break;
    case 1: *sn = c, *cs = -s; break;
    case 2: *sn = -s, *cs = -c; break;
    default: *sn = -c, *cs = s; break;
    }
}

// The normal pair number p of a stream with key: (r cos, r sin).
static inline void pair(uint64_t key, uint64_t p, double *z0, double *z1) {
    uint64_t h1 = mix64(key + (2 * p + 1) * GAMMA);
    uint64_t h2 = mix64(key + (2 * p + 2) * GAMMA);
    double u1 = (double)((h1 >> 11) + 1) * 0x1.0p-53; // (0, 1]
    double u2 = (double)(h2 >> 11) * 0x1.0p-53;       // [0, 1)
    double r = sqrt(-2.0 * qb_randn_log(u1));
    double sn, cs;
    qb_randn_sincos_turns(u2, &sn, &cs);
    *z0 = r * cs;
    *z1 = r * sn;
}

void qb_randn_fill(uint64_t seed, uint64_t stream, uint64_t first, size_t n, double scale, float *out) {
    uint64_t key = mix64(mix64(seed) ^ (stream * GAMMA + 0x632BE59BD9B4E019ull));
    size_t j = 0;
    uint64_t i = first;
    double z0, z1;
    if (n && (i & 1)) { // start in the middle of a pair
        pair(key, i >> 1, &z0, &z1);
        out[j++] = (float)(z1 * scale);
        i++;
    }
    for (; j + 1 < n; j += 2, i += 2) {
        pair(key, i >> 1, &z0, &z1);
        out[j] = (float)(z0 * scale);
        out[j + 1] = (float)(z1 * scale);
    }
    if (j < n) {
        pair(key, i >> 1, &z0, &z1);
        out[j] = (float)(z0 * scale);
    }
}
