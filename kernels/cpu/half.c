// half.c: IEEE binary16 and bfloat16 <-> float32, bit-exact.
// float32 -> half rounds to nearest, ties to even, exactly like numpy's
// npy_floatbits_to_halfbits (overflow to infinity, gradual underflow to
// subnormals, NaN kept NaN with its payload's top bits); float32 -> bfloat16
// is ggml's GGML_FP32_TO_BF16 (round to nearest even, NaN made quiet).
#include <string.h>

#include "kernels.h"

static inline uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float qb_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (man << 13)); // inf, NaN (payload kept)
    if (exp == 0) {
        // Zero or subnormal: man * 2^-24, exact in float32.
        float v = (float)man * 0x1p-24f;
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t qb_f32_to_f16(float f) {
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffffu;
    if (a >= 0x7f800000u) {
        if (a == 0x7f800000u) return sign | 0x7c00;
        uint16_t r = (uint16_t)(0x7c00 + ((a & 0x7fffff) >> 13));
        if (r == 0x7c00) r++; // the payload's top bits were zero: keep it a NaN
        return sign | r;
    }
    if (a >= 0x47800000u) return sign | 0x7c00; // >= 65536: overflow
    uint32_t e = a >> 23;
    if (e <= 112) {
        // |f| < 2^-14: the result is subnormal or zero.
        if (e < 102) return sign; // |f| < 2^-25 rounds to zero
        uint32_t m = 0x800000u | (a & 0x7fffff); // implicit bit
        // Value = m * 2^(e-150); in units of 2^-24 that is m >> (126 - e).
        uint32_t shift = 126 - e;
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return sign | (uint16_t)q;
    }
    // Normal: rebias the exponent, round the 13 dropped bits to nearest even.
    // A carry out of the mantissa correctly bumps the exponent (up to inf).
    uint32_t h = ((a >> 13) - (112u << 10));
    uint32_t rem = a & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return sign | (uint16_t)h;
}

float qb_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t qb_f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 64); // NaN: force quiet
    return (uint16_t)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
}
