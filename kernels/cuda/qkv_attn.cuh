// qkv_attn.cuh: one token's QKV projection and its attention as one kernel
// (k_gemv_qkv_attn in gemv.cu; the emulator runs this block code too).
//
// The decode step measured with the attention left out ran 8.5 us a layer
// faster on gpt2-xl (QB_CUDA_DROP, H100), whether its heads were split or
// whole: the boundary between the two kernels (the wait for the whole QKV
// grid, the attention's own start) cost more than its work. Here the GEMV's
// row groups are dealt head-major, each head's q, k and v groups (3 D / R
// blocks) followed by its attention chunks' blocks (S of them, qb_attn_chunk),
// which wait for their head's 3 D rows to be counted instead of for the whole
// projection. A chunk block waits only for blocks of lower index, and the
// host launches this only while the chunk blocks are at most half the blocks
// the device holds at once, so every block makes progress whatever order the
// blocks start in.
#pragma once
#include "attention.cuh"
#include "gemv.cuh"

struct qkv_attn_args {
    float *out; // [n_head * D]
    int n_head, D, S;
    float *part;
    unsigned *counters, *heads; // the merge counters; each head's rows stored so far (reset by its last chunk)
};

// Block b of the kernel: R rows of the projection (y = a.y, with the K/V
// store) or a chunk of a head's attention. ready() waits for the kernel before
// and returns x (the GEMV's, as k_gemv's); wait() waits for the kernel before.
template <class TT, int R, class Ready, class Wait>
__device__ __forceinline__ void qb_qkv_attn_block(const gemv_args &a, const qkv_attn_args &t, int b, Ready ready,
                                                  Wait wait) {
    const int E = t.n_head * t.D, per = 3 * t.D / R, h = b / (per + t.S), k = b % (per + t.S);
    if (k < per) {
        const int row0 = k / (t.D / R) * E + h * t.D + k % (t.D / R) * R; // third k / (D / R) of head h's rows
        qb_gemv_rows<TT, R>(a, row0, a.n_out, ready);
        if (threadIdx.x < R) __threadfence(); // this block's rows (and K/V cache entries) before the count
        __syncthreads();
        if (threadIdx.x == 0) atomicAdd(t.heads + h, (unsigned)R);
        return;
    }
    const int s = k - per, n_keys = qb_pos(a.pos0, a.d_pos) + 1;
    qb_attn_chunk(
        t.out, a.y, a.n_out, a.k_cache, a.v_cache, a.pos0, a.d_pos, t.n_head, t.D, t.S, t.part, t.counters, s, h, 0,
        [&] {
            wait();
            if (s * CH >= n_keys) return; // a chunk past the position reads nothing
            if (threadIdx.x == 0) {
                while (qb_ld_relaxed(t.heads + h) < 3u * (unsigned)t.D) qb_spin_pause(64);
                __threadfence();
            }
            __syncthreads();
        },
        t.heads + h);
}
