// test_half: float16 and bfloat16 conversions, bit-exact against references
// written the slow obvious way (exact values in double, nearest by search).
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../tap.h"
#include "kernels.h"

static uint32_t bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

// The value of a half by its definition.
static double half_value(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

// Nearest half to v (not NaN) by binary search over the 0x7c00 non-negative
// finite halves, ties to the even bit pattern; 0x7c00 (inf) counts as the
// value 65536 for rounding, as IEEE overflow does.
static uint16_t ref_f32_to_f16(float f) {
    double v = fabs((double)f);
    uint16_t sign = signbit(f) ? 0x8000 : 0;
    if (isinf(v)) return sign | 0x7c00;
    int lo = 0, hi = 0x7c00; // value(lo) <= v < value(hi), with value(0x7c00) = 65536
    if (v >= 65536.0) return sign | 0x7c00;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (half_value((uint16_t)mid) <= v) lo = mid;
        else hi = mid;
    }
    double vlo = half_value((uint16_t)lo), vhi = hi == 0x7c00 ? 65536.0 : half_value((uint16_t)hi);
    int r = v - vlo < vhi - v ? lo : v - vlo > vhi - v ? hi : (lo & 1 ? hi : lo);
    return sign | (uint16_t)r;
}

// Nearest bfloat16 (the top 16 bits of a float32 pattern), ties to even;
// 0x7f80 (inf) counts as 2^128 for rounding.
static uint16_t ref_f32_to_bf16(float f) {
    uint32_t u = bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffff;
    if (a == 0x7f800000) return sign | 0x7f80;
    uint16_t lo = (uint16_t)(a >> 16), hi = lo + 1;
    double v = from_bits(a), vlo = from_bits((uint32_t)lo << 16);
    double vhi = hi == 0x7f80 ? ldexp(1, 128) : from_bits((uint32_t)hi << 16);
    uint16_t r = v - vlo < vhi - v ? lo : v - vlo > vhi - v ? hi : (lo & 1 ? hi : lo);
    return sign | r;
}

int main(void) {
    tap_rng rng = tap_rng_new();

    // ---- float16 ----
    int bad_val = 0, bad_trip = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = qb_f16_to_f32((uint16_t)h);
        double want = half_value((uint16_t)h);
        if (isnan(want) ? !isnan(f) : ((double)f != want || !!signbit(f) != !!signbit(want))) bad_val++;
        if (qb_f32_to_f16(f) != h) bad_trip++; // NaN payloads survive too (numpy keeps them)
    }
    tap_ok(bad_val == 0, "f16 -> f32: all 65536 values exact (%d wrong)", bad_val);
    tap_ok(bad_trip == 0, "f16 -> f32 -> f16: all 65536 bit patterns round-trip (%d wrong)", bad_trip);

    // Edge values: every midpoint between neighbouring halves and its float32
    // neighbours, overflow and underflow thresholds, float32 subnormals.
    float edges[200000];
    int ne = 0;
    for (int h = 0; h < 0x7c00; h += 1) {
        double m = (half_value((uint16_t)h) + (h + 1 == 0x7c00 ? 65536.0 : half_value((uint16_t)(h + 1)))) / 2;
        float mf = (float)m; // exact: a midpoint needs 12 significant bits
        if (h % 7 == 0 || h < 1100 || h > 0x7b00) {
            edges[ne++] = mf;
            edges[ne++] = nextafterf(mf, 0);
            edges[ne++] = nextafterf(mf, INFINITY);
            edges[ne++] = -mf;
        }
    }
    const float specials[] = {0.0f,    -0.0f,         65504.0f,   65519.996f,  65520.0f,    65536.0f, 1e10f,
                              FLT_MAX, -FLT_MAX,      INFINITY,   -INFINITY,   0x1p-24f,    0x1p-25f, 0x1.000002p-25f,
                              0x1p-26f, 0x1.8p-24f,   0x1p-14f,   0x1.ffcp-15f, FLT_MIN,    1e-45f,   -1e-45f};
    for (size_t i = 0; i < sizeof specials / sizeof *specials; i++) edges[ne++] = specials[i];
    int bad_edge = 0;
    for (int i = 0; i < ne; i++) {
        uint16_t got = qb_f32_to_f16(edges[i]), want = ref_f32_to_f16(edges[i]);
        if (got != want) {
            if (bad_edge++ < 5) tap_diag("f32->f16(%a) = %04x, want %04x", edges[i], got, want);
        }
    }
    tap_ok(bad_edge == 0, "f32 -> f16: %d edge values (midpoints, thresholds, subnormals) round to nearest even",
           ne);

    int bad_rand = 0;
    for (int i = 0; i < 1000000; i++) {
        // Random bit patterns with exponents around the half range, and plain normals.
        uint32_t u = (uint32_t)(tap_uniform(&rng) * 4294967296.0);
        int e = 95 + (int)(tap_uniform(&rng) * 60); // 2^-32 .. 2^27
        u = (u & 0x807fffffu) | ((uint32_t)e << 23);
        float f = i % 2 ? from_bits(u) : (float)(tap_normal(&rng) * 100);
        if (qb_f32_to_f16(f) != ref_f32_to_f16(f)) {
            if (bad_rand++ < 5) tap_diag("f32->f16(%a) = %04x, want %04x", f, qb_f32_to_f16(f), ref_f32_to_f16(f));
        }
    }
    tap_ok(bad_rand == 0, "f32 -> f16: 1000000 random values round to nearest even");

    int bad_nan = 0;
    const uint32_t nans[] = {0x7fc00000, 0x7f800001, 0xff800001, 0x7fffffff, 0x7f802000, 0xffc00000, 0x7f801fff};
    for (size_t i = 0; i < sizeof nans / sizeof *nans; i++) {
        uint16_t h = qb_f32_to_f16(from_bits(nans[i]));
        if ((h & 0x7c00) != 0x7c00 || !(h & 0x3ff) || (h >> 15) != (nans[i] >> 31)) bad_nan++;
    }
    tap_ok(bad_nan == 0, "f32 -> f16: NaN stays NaN (also payloads whose top bits are zero), sign kept");

    // ---- bfloat16 ----
    int bad_bval = 0, bad_btrip = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = qb_bf16_to_f32((uint16_t)h);
        if (bits(f) != h << 16) bad_bval++;
        uint16_t back = qb_f32_to_bf16(f);
        int is_nan = (h & 0x7f80) == 0x7f80 && (h & 0x7f);
        if (is_nan ? !((back & 0x7f80) == 0x7f80 && (back & 0x7f) && (back & 0x8000) == (h & 0x8000)) : back != h)
            bad_btrip++;
    }
    tap_ok(bad_bval == 0, "bf16 -> f32: all 65536 values exact");
    tap_ok(bad_btrip == 0, "bf16 -> f32 -> bf16: all 65536 round-trip (NaN stays NaN) (%d wrong)", bad_btrip);

    int bad_b = 0, nb = 0;
    for (int i = 0; i < 2000000; i++) {
        float f;
        if (i < 65536 * 4) {
            // Every midpoint between neighbouring bf16 values, and its neighbours.
            uint32_t mid = ((uint32_t)(i / 4) << 16) | 0x8000;
            if ((mid & 0x7f800000) == 0x7f800000) continue;
            f = from_bits(i % 4 == 0 ? mid : i % 4 == 1 ? mid - 1 : i % 4 == 2 ? mid + 1 : mid ^ 0x80000000u);
        } else {
            uint32_t u = (uint32_t)(tap_uniform(&rng) * 4294967296.0);
            f = from_bits(u);
            if (isnan(f)) continue;
        }
        nb++;
        if (qb_f32_to_bf16(f) != ref_f32_to_bf16(f)) {
            if (bad_b++ < 5) tap_diag("f32->bf16(%a) = %04x, want %04x", f, qb_f32_to_bf16(f), ref_f32_to_bf16(f));
        }
    }
    const float bspecial[] = {FLT_MAX, -FLT_MAX, 0x1.fffep127f, INFINITY, -INFINITY, 0.0f, -0.0f, 1e-45f, FLT_MIN};
    for (size_t i = 0; i < sizeof bspecial / sizeof *bspecial; i++)
        bad_b += qb_f32_to_bf16(bspecial[i]) != ref_f32_to_bf16(bspecial[i]);
    tap_ok(bad_b == 0, "f32 -> bf16: %d midpoints, neighbours and random values round to nearest even", nb);
    tap_ok(qb_f32_to_bf16(FLT_MAX) == 0x7f80 && qb_f32_to_bf16(-INFINITY) == 0xff80,
           "f32 -> bf16: FLT_MAX overflows to inf, -inf stays -inf");

    int bad_bnan = 0;
    for (size_t i = 0; i < sizeof nans / sizeof *nans; i++) {
        uint16_t h = qb_f32_to_bf16(from_bits(nans[i]));
        if (!isnan(qb_bf16_to_f32(h)) || (h >> 15) != (nans[i] >> 31)) bad_bnan++;
    }
    tap_ok(bad_bnan == 0, "f32 -> bf16: NaN stays NaN (also payloads only in the low bits), sign kept");
    return tap_done();
}
