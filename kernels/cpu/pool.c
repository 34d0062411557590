// pool.c: a fixed set of worker threads that each run one share of a job.
//
// A decode step of a 6-layer model calls qb_pool_run about a hundred times,
// each job lasting microseconds, so dispatch must cost far less than thread
// creation: workers stay alive and wait on a generation counter. They spin
// briefly (the next job usually follows within microseconds) and then sleep
// on a futex, so an idle pool costs no CPU. The caller is worker 0: it runs
// its own share and then waits for the others the same way.
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cpu.h"
#include "util.h"

// How long a waiter spins before sleeping on the futex. Jobs of a forward
// pass follow each other within microseconds, so spinning that long saves a
// wake-up (several microseconds) per job. With more threads than CPUs a
// spinning thread would keep the one doing the work off its CPU, so such a
// pool does not spin at all.
#define QB_POOL_SPIN_S 50e-6

struct qb_pool {
    int n;
    int spin; // whether waiters spin before sleeping
    qb_isa isa;
    qb_act_mode act; // how quantized matmuls treat activations (calloc: QB_ACT_F32)
    pthread_t *threads;
    void (*fn)(void *ctx, int ith, int nth);
    void *ctx;
    _Atomic uint32_t gen;      // bumped once per job (and once to stop)
    _Atomic uint32_t pending;  // workers (other than the caller) not done yet
    _Atomic int sleepers;      // workers asleep (or about to be) on gen
    _Atomic int caller_asleep; // the caller sleeps on pending
    _Atomic int stop;
};

typedef struct {
    qb_pool *pool;
    int ith;
} worker_arg;

static void futex_wait(_Atomic uint32_t *addr, uint32_t val) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}
static void futex_wake(_Atomic uint32_t *addr, int n) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}
static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

// Spins up to QB_POOL_SPIN_S while *addr == val; returns the last value read.
static uint32_t spin_while(const qb_pool *p, _Atomic uint32_t *addr, uint32_t val) {
    uint32_t v = atomic_load_explicit(addr, memory_order_acquire);
    if (v != val || !p->spin) return v;
    double t0 = qb_now();
    for (;;) {
        for (int i = 0; i < 64; i++) {
            if ((v = atomic_load_explicit(addr, memory_order_acquire)) != val) return v;
            cpu_relax();
        }
        if (qb_now() - t0 > QB_POOL_SPIN_S) return v;
    }
}

// Spins up to QB_POOL_SPIN_S until *addr is zero.
static void spin_until_zero(const qb_pool *p, _Atomic uint32_t *addr) {
    if (!p->spin) return;
    double t0 = qb_now();
    for (;;) {
        for (int i = 0; i < 64; i++) {
            if (!atomic_load_explicit(addr, memory_order_acquire)) return;
            cpu_relax();
        }
        if (qb_now() - t0 > QB_POOL_SPIN_S) return;
    }
}

// Waits until gen differs from seen; returns the new value.
static uint32_t wait_job(qb_pool *p, uint32_t seen) {
    uint32_t g0 = spin_while(p, &p->gen, seen);
    if (g0 != seen) return g0;
    for (;;) {
        // Announce the sleep before the last check: the caller bumps gen and
        // then reads sleepers (both seq_cst), so either it sees us and wakes
        // us, or we see its new gen here (and futex_wait returns at once).
        atomic_fetch_add(&p->sleepers, 1);
        uint32_t g = atomic_load(&p->gen);
        if (g == seen) futex_wait(&p->gen, seen);
        atomic_fetch_sub(&p->sleepers, 1);
        g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g != seen) return g;
    }
}

static void *worker_main(void *argp) {
    worker_arg a = *(worker_arg *)argp;
    free(argp);
    qb_pool *p = a.pool;
    uint32_t seen = 0;
    for (;;) {
        seen = wait_job(p, seen);
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) return NULL;
        p->fn(p->ctx, a.ith, p->n);
        if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->caller_asleep))
            futex_wake(&p->pending, 1);
    }
}

qb_pool *qb_pool_new(int n_threads) {
    if (n_threads < 1) qb_die(QB_EXIT_USAGE, "thread pool: %d threads requested (need at least 1)", n_threads);
    qb_pool *p = qb_calloc(1, sizeof *p);
    p->n = n_threads;
    p->isa = qb_cpu_isa();
    cpu_set_t cpus;
    int n_cpus = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
    p->spin = n_threads <= n_cpus;
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->caller_asleep, 0);
    atomic_init(&p->stop, 0);
    p->threads = qb_calloc((size_t)n_threads, sizeof *p->threads);
    for (int i = 1; i < n_threads; i++) {
        worker_arg *a = qb_malloc(sizeof *a);
        *a = (worker_arg){p, i};
        int rc = pthread_create(&p->threads[i], NULL, worker_main, a);
        if (rc) qb_die(QB_EXIT_DATA, "thread pool: cannot start thread %d of %d (error %d)", i, n_threads, rc);
    }
    return p;
}

void qb_pool_free(qb_pool *p) {
    if (!p) return;
    atomic_store(&p->stop, 1);
    atomic_fetch_add(&p->gen, 1);
    futex_wake(&p->gen, INT_MAX);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    free(p->threads);
    free(p);
}

int qb_pool_size(const qb_pool *p) { return p->n; }
qb_isa qb_pool_isa(const qb_pool *p) { return p->isa; }
void qb_pool_set_act(qb_pool *p, qb_act_mode mode) { p->act = mode; }
qb_act_mode qb_pool_act(const qb_pool *p) { return p->act; }

void qb_pool_run(qb_pool *p, void (*fn)(void *ctx, int ith, int nth), void *ctx) {
    if (p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->pending, (uint32_t)(p->n - 1), memory_order_relaxed);
    atomic_fetch_add(&p->gen, 1); // seq_cst: publishes fn, ctx and pending
    if (atomic_load(&p->sleepers) > 0) futex_wake(&p->gen, INT_MAX);

    fn(ctx, 0, p->n);

    spin_until_zero(p, &p->pending);
    uint32_t left;
    while ((left = atomic_load(&p->pending)) != 0) {
        atomic_store(&p->caller_asleep, 1);
        if ((left = atomic_load(&p->pending)) != 0) futex_wait(&p->pending, left);
        atomic_store(&p->caller_asleep, 0);
    }
    atomic_thread_fence(memory_order_acquire);
}
