// sim_util.h: what the emulator's tests share: the C headers included from
// C++, the test's allocations, random weights quantized in the file layout and
// their device copies laid out as qb_cuda_weight_upload lays them out.
#pragma once
#define _Noreturn [[noreturn]] // the C11 spellings in the C headers
#define _Static_assert static_assert
extern "C" {
#include "forward.h"
#include "kernels.h"
#include "model.h"
#include "quant.h"
#include "util.h"
}
#undef _Noreturn
#undef _Static_assert
#include <stdlib.h>
#include <vector>

#include "../tap.h"
#include "cuda/planes.cuh"

static tap_rng rng; // seeded by main (tap_rng_new)
static std::vector<void *> owned; // everything allocated for one case

static void *alloc(size_t n) {
    void *p = aligned_alloc(64, (n + 63) / 64 * 64);
    if (!p) qb_die(QB_EXIT_DATA, "test: out of memory");
    memset(p, 0, n);
    owned.push_back(p);
    return p;
}
static void free_all() {
    for (void *p : owned) free(p);
    owned.clear();
}

static inline float *rand_vec(int n, float mean, float sd) {
    float *v = (float *)alloc((size_t)n * sizeof(float));
    for (int i = 0; i < n; i++) v[i] = mean + sd * (float)tap_normal(&rng);
    return v;
}

// A random [n_out][n_in] matrix quantized to t, in the file (ggml) layout.
static inline qb_weight rand_weight(qb_type t, int n_in, int n_out, float sd) {
    const size_t row = qb_row_bytes(t, n_in);
    uint8_t *d = (uint8_t *)alloc(row * n_out);
    std::vector<float> x((size_t)n_in);
    for (int r = 0; r < n_out; r++) {
        for (int i = 0; i < n_in; i++) x[i] = sd * (float)tap_normal(&rng);
        qb_quantize_row(t, x.data(), d + row * r, n_in);
    }
    return qb_weight{t, QB_LAYOUT_OUT_IN, n_in, n_out, d};
}

// The device copy, as qb_cuda_weight_upload lays it out (the same per-piece
// functions its kernels run).
static inline qb_weight upload(const qb_weight *h) {
    qb_planes p;
    if (!qb_planes_of(h->type, h->n_in, h->n_out, &p)) qb_die(QB_EXIT_DATA, "test: no planes for type %d", h->type);
    uint8_t *dst = (uint8_t *)alloc(p.total);
    if (p.block == 1) {
        const size_t n = (size_t)h->n_in * h->n_out;
        for (size_t i = 0; i < n; i++) {
            if (h->type == QB_TYPE_F32) qb_float_element(dst, (const float *)h->data, h->n_in, h->n_out, p.qrow, 0, i);
            else qb_float_element(dst, (const uint16_t *)h->data, h->n_in, h->n_out, p.qrow, 0, i);
        }
    } else {
        blk_split s = {};
        split_of(h->type, &s);
        const int nb = h->n_in / p.block;
        for (size_t i = 0; i < (size_t)nb * h->n_out; i++)
            qb_repack_block(dst, (const uint8_t *)h->data, nb, p, s.s_first, i);
    }
    qb_weight d = *h;
    d.data = dst;
    return d;
}

static inline void poison(float *p, int n) {
    for (int i = 0; i < n; i++) p[i] = NAN;
}

