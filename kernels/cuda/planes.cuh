// planes.cuh: the device copy's layout of a weight (host and device code;
// also compiled by the host compiler for the CPU emulator's tests).
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "kernels.h"

// ---- block types: geometry of the device planes --------------------------------------
// A block type's device copy is two planes: "quants" (every row's packed
// quant bits, qrow bytes per row) then "scales" (every row's per-block scale
// data, srow bytes per row), both 16-byte aligned per row. Values and bits are
// ggml's, only their order in memory differs: each 16-byte load of a warp
// lane then covers whole runs of weights, and lanes read consecutive bytes.
//   Q8_0   block 32:  quants 32 B (int8)            scales: d (f16)
//   Q4_0   block 32:  quants 16 B (nibbles)         scales: d (f16)
//   Q4_1   block 32:  quants 16 B                   scales: d, m (f16 x 2)
//   IQ4_NL block 32:  quants 16 B (codebook index)  scales: d (f16)
//   Q4_K   block 256: quants 128 B                  scales: d, dmin (f16), scales[12]  = 16 B
//   Q6_K   block 256: quants ql 128 B + qh 64 B     scales: scales[16] (int8), d (f16) = 18 B
struct qb_planes {
    int block;        // weights per block
    size_t qblk;      // quant bytes per block (device)
    size_t sblk;      // scale bytes per block (device)
    size_t ggml_blk;  // bytes per block in the ggml (file) layout
    size_t qrow, srow;   // bytes per row of each plane (16-byte aligned)
    size_t scales_off;   // where the scale plane starts
    size_t total;
};
static inline bool qb_is_block_type(qb_type t) {
    return t == QB_TYPE_Q8_0 || t == QB_TYPE_Q4_0 || t == QB_TYPE_Q4_1 || t == QB_TYPE_IQ4_NL ||
           t == QB_TYPE_Q4_K || t == QB_TYPE_Q6_K;
}


// Where each ggml block keeps its scale bytes and its quant bytes.
struct blk_split {
    int block;
    int ggml_blk;  // bytes per block in the file
    int s_first;   // 1: [scales][quants]; 0: [quants][scales]
    int sblk;      // scale bytes
};

static inline int split_of(qb_type t, blk_split *s) {
    switch (t) {
    case QB_TYPE_Q8_0: *s = {32, 34, 1, 2}; return 1;
    case QB_TYPE_Q4_0: *s = {32, 18, 1, 2}; return 1;
    case QB_TYPE_Q4_1: *s = {32, 20, 1, 4}; return 1;
    case QB_TYPE_IQ4_NL: *s = {32, 18, 1, 2}; return 1;
    case QB_TYPE_Q4_K: *s = {256, 144, 1, 16}; return 1;
    case QB_TYPE_Q6_K: *s = {256, 210, 0, 18}; return 1;
    default: return 0;
    }
}

static inline size_t align16(size_t n) { return (n + 15) & ~(size_t)15; }

static inline int float_size(qb_type t) {
    switch (t) {
    case QB_TYPE_F32: return 4;
    case QB_TYPE_F16:
    case QB_TYPE_BF16: return 2;
    default: return 0;
    }
}

// Fills p for a [n_out][n_in] matrix of type t; 0 when t or n_in does not fit.
static inline int qb_planes_of(qb_type t, int n_in, int n_out, qb_planes *p) {
    *p = {};
    if (n_in <= 0 || n_out <= 0) return 0;
    int fs = float_size(t);
    if (fs) {
        p->block = 1;
        p->ggml_blk = (size_t)fs;
        p->qblk = (size_t)fs;
        p->qrow = align16((size_t)n_in * fs); // rows padded with zeros to 16 bytes
        p->total = p->qrow * (size_t)n_out;
        p->scales_off = p->total;
        return 1;
    }
    blk_split s;
    if (!split_of(t, &s) || n_in % s.block) return 0;
    size_t nb = (size_t)(n_in / s.block);
    p->block = s.block;
    p->ggml_blk = (size_t)s.ggml_blk;
    p->sblk = (size_t)s.sblk;
    p->qblk = (size_t)(s.ggml_blk - s.sblk);
    p->qrow = align16(nb * p->qblk);
    p->srow = align16(nb * p->sblk);
    p->scales_off = p->qrow * (size_t)n_out;
    p->total = p->scales_off + p->srow * (size_t)n_out;
    return 1;
}

// Repacking one piece of a file-layout weight (the upload's kernels, one
// thread each): block i = (row, b) of a block type, its scale and quant bytes
// to their planes (two bytes at a time: every part is of even size and offset)...
__host__ __device__ inline void qb_repack_block(uint8_t *dst, const uint8_t *src, int nb, const qb_planes &p,
                                                int s_first, size_t i) {
    const size_t row = i / nb, b = i % nb;
    const uint16_t *s = (const uint16_t *)(src + i * p.ggml_blk);
    const uint16_t *sc = s_first ? s : s + p.qblk / 2;
    const uint16_t *qs = s_first ? s + p.sblk / 2 : s;
    uint16_t *dq = (uint16_t *)(dst + row * p.qrow + b * p.qblk);
    uint16_t *ds = (uint16_t *)(dst + p.scales_off + row * p.srow + b * p.sblk);
    for (size_t k = 0; k < p.qblk / 2; k++) dq[k] = qs[k];
    for (size_t k = 0; k < p.sblk / 2; k++) ds[k] = sc[k];
}
// ... and element i of a float matrix to its padded [n_out][n_in] row (src
// [n_in][n_out] when transposed: i walks it in order, coalesced reads).
template <typename E>
__host__ __device__ inline void qb_float_element(uint8_t *dst, const E *src, int n_in, int n_out, size_t qrow,
                                                 int transposed, size_t i) {
    size_t o, k;
    if (transposed) {
        k = i / n_out;
        o = i % n_out;
    } else {
        o = i / n_in;
        k = i % n_in;
    }
    ((E *)(dst + o * qrow))[k] = src[i];
}
