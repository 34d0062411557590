// test_argmax.cpp: the decode step's argmax (kernels/cuda/argmax.cuh:
// qb_argmax_block, as k_argmax runs it: AM_BLOCKS blocks of 256 threads) on
// the CPU emulator, against the CPU's qb_argmax on fresh random logits of odd
// sizes (one value, fewer than the grid's threads, a vocabulary's), with
// ties (the lowest index wins), and with NaN (never the token; all NaN gives
// 0). Then the run-ahead ring of the queued greedy decode (qb_cuda_ahead_*),
// which only the GPU machine's runs exercised before: with the run flag set,
// each launch writes its token to ring[pos % 64] and advances the position
// slot, across the ring's wrap; with it clear, or without the slots (an
// argmax that is not the step's), neither moves. Every launch must leave its
// block counter at 0 for the next.
#include "sim_util.h" // first: the C headers with C linkage

#include "cuda/argmax.cuh"

struct am_case {
    int *out;
    const float *x;
    int n;
    float *pv;
    int *pi;
    unsigned *ctr;
    int *slots, *ring;
};

static void body(void *p) {
    const am_case *c = (const am_case *)p;
    qb_argmax_block(c->out, c->x, c->n, c->pv, c->pi, c->ctr, c->slots, c->ring);
}

// The argmax of x[0..n) by the emulated launch; the counter must end at 0.
static int gpu_argmax(const float *x, int n, int *slots, int *ring, bool *ctr_clear) {
    am_case c = {(int *)alloc(4), x, n, (float *)alloc(AM_BLOCKS * 4), (int *)alloc(AM_BLOCKS * 4),
                 (unsigned *)alloc(4), slots, ring};
    *c.out = -7; // not an index
    qb_simt_launch({AM_BLOCKS, 1, 1}, {256, 1, 1}, body, &c);
    *ctr_clear = *c.ctr == 0;
    return *c.out;
}

// Random logits; ties: the maximum copied to that many random places.
static void check_random(int n, int ties) {
    float *x = rand_vec(n, 0.0f, 3.0f);
    const int am = qb_argmax(x, n);
    for (int k = 0; k < ties; k++) x[(int)(tap_uniform(&rng) * n) % n] = x[am];
    const int want = qb_argmax(x, n);
    bool clear;
    const int got = gpu_argmax(x, n, NULL, NULL, &clear);
    tap_ok(got == want && clear, "n %d, %d ties of the max: index %d (CPU %d)%s", n, ties, got, want,
           clear ? "" : ", block counter left set");
    free_all();
}

// NaN at every stride-th place, index 0 among them: never the token.
static void check_nan(int n, int stride) {
    float *x = rand_vec(n, 0.0f, 3.0f);
    std::vector<float> finite;
    std::vector<int> where;
    for (int i = 0; i < n; i++)
        if (i % stride == 0) x[i] = NAN;
        else finite.push_back(x[i]), where.push_back(i);
    // (x[0] is NaN in every case: the CPU's strict > scan would keep it.)
    const int want = finite.empty() ? 0 : where[qb_argmax(finite.data(), (int)finite.size())];
    bool clear;
    const int got = gpu_argmax(x, n, NULL, NULL, &clear);
    tap_ok(got == want && clear, "n %d, NaN every %d: index %d (want %d)%s", n, stride, got, want,
           clear ? "" : ", block counter left set");
    free_all();
}

// Launches from position pos0 with the slots (position, token, run flag) and
// the ring, as qb_gpu_decode_greedy_run queues them: each launch's logits
// have their max at a random place; the ring's slot for its position must
// hold it, and no other slot change.
static void check_ring(int pos0, int launches, int run) {
    const int n = 1000;
    int *slots = (int *)alloc(3 * 4), *ring = (int *)alloc(QB_CUDA_AHEAD_RING * 4);
    for (int i = 0; i < QB_CUDA_AHEAD_RING; i++) ring[i] = -1 - i;
    slots[0] = pos0, slots[1] = 5, slots[2] = run;
    std::vector<int> want_ring(ring, ring + QB_CUDA_AHEAD_RING);
    bool ok = true, clear = true;
    int pos = pos0;
    for (int l = 0; l < launches; l++) {
        float *x = rand_vec(n, 0.0f, 1.0f);
        const int tok = (int)(tap_uniform(&rng) * n) % n;
        x[tok] = 10.0f;
        bool c;
        const int got = gpu_argmax(x, n, slots, ring, &c);
        clear &= c;
        ok &= got == tok;
        if (run) want_ring[pos & (QB_CUDA_AHEAD_RING - 1)] = tok, pos++;
    }
    bool ring_ok = true;
    for (int i = 0; i < QB_CUDA_AHEAD_RING; i++) ring_ok &= ring[i] == want_ring[i];
    const bool pos_ok = slots[0] == pos && slots[1] == 5 && slots[2] == run;
    tap_ok(ok && ring_ok && pos_ok && clear, "%d launches from position %d, run flag %d: tokens %s, ring %s, "
           "position slot %d (want %d)%s", launches, pos0, run, ok ? "right" : "WRONG", ring_ok ? "right" : "WRONG",
           slots[0], pos, clear ? "" : ", block counter left set");
    free_all();
}

int main(void) {
    rng = tap_rng_new();
    const int sizes[] = {1, 7, 255, 1000, 16385, 50257};
    for (int n : sizes) check_random(n, 0);
    check_random(1000, 3);
    check_random(50257, 5);
    check_random(50257, 200);
    // All equal: the lowest index; all -inf likewise.
    {
        float *x = (float *)alloc(4096 * 4);
        for (int i = 0; i < 4096; i++) x[i] = -INFINITY;
        bool clear;
        const int got = gpu_argmax(x, 4096, NULL, NULL, &clear);
        tap_ok(got == 0 && clear, "4096 values of -inf: index %d (want 0)", got);
        free_all();
    }
    check_nan(1000, 7);
    check_nan(50257, 2);
    check_nan(300, 1); // every value NaN: 0
    check_ring(0, 3, 1);
    check_ring(61, 6, 1); // across the ring's wrap: positions 61..66 in slots 61, 62, 63, 0, 1, 2
    check_ring(200, 2, 1);
    check_ring(61, 4, 0); // run flag clear: the ring and position stay
    // Without the slots (an argmax that is not the step's token): no ring to touch.
    {
        float *x = rand_vec(777, 0.0f, 1.0f);
        bool clear;
        const int got = gpu_argmax(x, 777, NULL, NULL, &clear);
        tap_ok(got == qb_argmax(x, 777) && clear, "no slots: index %d", got);
        free_all();
    }
    return tap_done();
}
