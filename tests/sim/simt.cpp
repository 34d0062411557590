// simt.cpp: the emulator of simt.h. A launch starts one OS thread per block;
// each runs its CUDA threads as fibers, round robin, switching with a small
// x86-64 routine (six callee-saved registers and the stack pointer: a
// switch costs nanoseconds, where swapcontext's signal-mask system call
// would make a decode step of the test model take minutes).
#include "simt.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#if !defined(__x86_64__)
#error "simt.cpp: the fiber switch is written for x86-64"
#endif

extern "C" double qb_now(void); // tools/lib/util.c (libqb.a), monotonic seconds

thread_local qb_simt_idx threadIdx, blockIdx, blockDim, gridDim;

// void qb_simt_switch(void **save_sp, void *load_sp): saves the callee-saved
// registers on the current stack and its pointer in *save_sp, then resumes
// the stack load_sp (saved the same way, or made by fiber_stack).
extern "C" void qb_simt_switch(void **save_sp, void *load_sp);
asm(R"(
    .text
    .globl qb_simt_switch
    .type qb_simt_switch, @function
qb_simt_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size qb_simt_switch, .-qb_simt_switch
)");

#define STACK_BYTES (256u << 10)
#define MAX_THREADS 1024

namespace {

struct fiber {
    void *sp;
    char *stack;
    unsigned tid;
    bool done;
};

// One block: its fibers, its barrier and its warps' exchange slots.
struct block_run {
    fiber f[MAX_THREADS];
    unsigned n, live, cur;
    void *sched_sp;
    void (*body)(void *);
    void *arg;
    // __syncthreads: arrivals and a generation that moves when all arrived.
    unsigned sync_count, sync_gen;
    // Warp shuffles: per warp, arrivals, generation, two slot sets (alternating, so
    // one exchange's readers never see the next one's writes).
    unsigned warp_count[MAX_THREADS / 32], warp_gen[MAX_THREADS / 32];
    uint32_t slot[2][MAX_THREADS];
    bool progress; // some fiber arrived, passed a barrier, paused or finished this round
    double started; // the launch's start (qb_now()): a spin's watchdog
};

thread_local block_run *self;

void die(const char *what) {
    fprintf(stderr, "simt: %s (block %u, thread %u)\n", what, blockIdx.x, threadIdx.x);
    exit(3);
}

// Back to the scheduler; returns when the scheduler resumes this fiber.
void yield() {
    block_run *b = self;
    qb_simt_switch(&b->f[b->cur].sp, b->sched_sp);
}

void fiber_main() {
    block_run *b = self;
    b->body(b->arg);
    b->f[b->cur].done = true;
    b->live--;
    b->progress = true;
    // A barrier may now be complete without this thread (threads that exit
    // no longer take part, as on the GPU).
    if (b->live && b->sync_count == b->live) b->sync_count = 0, b->sync_gen++;
    qb_simt_switch(&b->f[b->cur].sp, b->sched_sp);
    die("a finished fiber was resumed");
}

void *fiber_stack(char *stack) {
    uintptr_t top = ((uintptr_t)stack + STACK_BYTES) & ~(uintptr_t)15;
    void **sp = (void **)top;
    *--sp = NULL;                    // fiber_main's return address: never used
    *--sp = (void *)&fiber_main;     // where qb_simt_switch's ret goes
    for (int k = 0; k < 6; k++) *--sp = NULL; // rbp rbx r12-r15
    return sp;
}

void *run_block(void *p) {
    block_run *b = (block_run *)p;
    self = b;
    for (unsigned t = 0; t < b->n; t++) {
        b->f[t].stack = (char *)mmap(NULL, STACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (b->f[t].stack == MAP_FAILED) die("no memory for a fiber stack");
        b->f[t].sp = fiber_stack(b->f[t].stack);
        b->f[t].tid = t;
        b->f[t].done = false;
    }
    b->live = b->n;
    while (b->live) {
        b->progress = false;
        for (unsigned t = 0; t < b->n; t++) {
            if (b->f[t].done) continue;
            b->cur = t;
            threadIdx = {t % blockDim.x, (t / blockDim.x) % blockDim.y, t / (blockDim.x * blockDim.y)};
            qb_simt_switch(&b->sched_sp, b->f[t].sp);
        }
        // Every live fiber waited on its block or warp through a whole round
        // with nobody arriving: none can ever go on.
        if (b->live && !b->progress) die("deadlock: every thread of the block waits and none can proceed");
    }
    for (unsigned t = 0; t < b->n; t++) munmap(b->f[t].stack, STACK_BYTES);
    return NULL;
}

struct block_start {
    block_run *run;
    qb_simt_idx idx, grid, block;
};

void *start_block(void *p) {
    block_start *s = (block_start *)p;
    blockIdx = s->idx, gridDim = s->grid, blockDim = s->block;
    return run_block(s->run);
}

} // namespace

void qb_simt_launch(qb_simt_idx grid, qb_simt_idx block, void (*body)(void *), void *arg) {
    const unsigned nb = grid.x * grid.y * grid.z, nt = block.x * block.y * block.z;
    if (nt == 0 || nt > MAX_THREADS || nt % 32) die("launch: threads per block must be a multiple of 32 up to 1024");
    block_run *runs = (block_run *)calloc(nb, sizeof *runs);
    block_start *starts = (block_start *)calloc(nb, sizeof *starts);
    pthread_t *th = (pthread_t *)calloc(nb, sizeof *th);
    if (!runs || !starts || !th) die("launch: out of memory");
    const double started = qb_now();
    for (unsigned i = 0; i < nb; i++) {
        runs[i].n = nt, runs[i].body = body, runs[i].arg = arg;
        runs[i].started = started;
        starts[i] = {&runs[i], {i % grid.x, (i / grid.x) % grid.y, i / (grid.x * grid.y)}, grid, block};
        if (pthread_create(&th[i], NULL, start_block, &starts[i])) die("launch: cannot start a block's thread");
    }
    for (unsigned i = 0; i < nb; i++) pthread_join(th[i], NULL);
    free(runs), free(starts), free(th);
}

void __syncthreads() {
    block_run *b = self;
    const unsigned gen = b->sync_gen;
    b->progress = true;
    if (++b->sync_count == b->live) {
        b->sync_count = 0, b->sync_gen++;
        return;
    }
    while (b->sync_gen == gen) yield();
    b->progress = true;
}

// All 32 lanes of the caller's warp put v and meet; returns the warp's 32 values.
static const uint32_t *meet(uint32_t v) {
    block_run *b = self;
    const unsigned t = b->cur, w = t / 32;
    const unsigned gen = b->warp_gen[w], set = gen & 1;
    b->slot[set][t] = v;
    b->progress = true;
    if (++b->warp_count[w] == 32) {
        b->warp_count[w] = 0, b->warp_gen[w]++;
    } else {
        while (b->warp_gen[w] == gen) yield();
        b->progress = true;
    }
    return &b->slot[set][w * 32];
}

// Each lane reads lane ^ o's value.
static uint32_t shfl_xor(unsigned mask, uint32_t v, int o) {
    if (mask != 0xffffffffu) die("shuffle: only whole-warp masks are emulated");
    return meet(v)[(self->cur % 32) ^ (unsigned)o];
}

void __syncwarp(unsigned mask) { (void)shfl_xor(mask, 0u, 0); }

float __shfl_sync(unsigned mask, float v, int src) {
    if (mask != 0xffffffffu) die("shuffle: only whole-warp masks are emulated");
    return __uint_as_float(meet(__float_as_uint(v))[src & 31]);
}

// The FP16 half h (0: the word's lower) of w.
static float half_of(uint32_t w, int h) {
    __half2 v;
    memcpy((void *)&v, &w, 4);
    const float2 f = __half22float2(v);
    return h ? f.y : f.x;
}

void qb_simt_mma16816(float *d, const uint32_t *a, const uint32_t *b) {
    uint32_t A[4][32], B[2][32];
    for (int k = 0; k < 4; k++) memcpy(A[k], meet(a[k]), sizeof A[k]);
    for (int k = 0; k < 2; k++) memcpy(B[k], meet(b[k]), sizeof B[k]);
    const unsigned lane = self->cur % 32, g = lane / 4, t = lane % 4;
    for (int e = 0; e < 4; e++) { // d[e]: row g (+ 8 for e >= 2), column 2t + e % 2
        const unsigned m = g + 8 * (e / 2), n = 2 * t + e % 2;
        float s = 0;
        for (unsigned k = 0; k < 16; k++) {
            // A[m][k]: lane 4 (m % 8) + (k % 8) / 2, register (m >= 8) + 2 (k >= 8), half k % 2.
            const float av = half_of(A[(m >= 8) + 2 * (k >= 8)][4 * (m % 8) + (k % 8) / 2], k % 2);
            // B[k][n]: lane 4 n + (k % 8) / 2, register k >= 8, half k % 2.
            const float bv = half_of(B[k >= 8][4 * n + (k % 8) / 2], k % 2);
            s = fmaf(av, bv, s);
        }
        d[e] += s;
    }
}

float __shfl_xor_sync(unsigned mask, float v, int o) { return __uint_as_float(shfl_xor(mask, __float_as_uint(v), o)); }
int __shfl_xor_sync(unsigned mask, int v, int o) { return (int)shfl_xor(mask, (uint32_t)v, o); }
unsigned __shfl_xor_sync(unsigned mask, unsigned v, int o) { return shfl_xor(mask, v, o); }
double __shfl_xor_sync(unsigned mask, double v, int o) { // two 32-bit exchanges, as on the GPU
    uint64_t u;
    memcpy(&u, &v, 8);
    const uint64_t lo = shfl_xor(mask, (uint32_t)u, o), hi = shfl_xor(mask, (uint32_t)(u >> 32), o);
    u = lo | hi << 32;
    memcpy(&v, &u, 8);
    return v;
}

// A spin on other blocks that outlasts this is a hang (a lost arrival, a
// missed barrier): the test fails with a message instead of running forever.
// The step launches of the tests take milliseconds.
#define SPIN_LIMIT_S 60.0

void qb_simt_pause() {
    if (qb_now() - self->started > SPIN_LIMIT_S)
        die("a spin on other blocks has waited 60 s: a hang (a barrier arrival lost?)");
    self->progress = true; // what a spin waits for comes from other blocks
    sched_yield();         // so let their OS threads run first
    yield();
}
