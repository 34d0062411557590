// test_pool: every worker index runs exactly once per job, with the job's
// writes visible to the caller afterwards, whether the workers were spinning
// or asleep when the job arrived.
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "../tap.h"
#include "kernels.h"

typedef struct {
    _Atomic int calls[16];
    _Atomic int bad_nth;
    int expect_nth;
    long plain[16]; // written without atomics: the pool's join must publish them
} job;

static void count(void *ctx, int ith, int nth) {
    job *j = ctx;
    if (nth != j->expect_nth || ith < 0 || ith >= nth) atomic_fetch_add(&j->bad_nth, 1);
    else {
        atomic_fetch_add(&j->calls[ith], 1);
        j->plain[ith]++;
    }
}

int main(void) {
    const int sizes[] = {1, 2, 3, 5};
    for (int si = 0; si < 4; si++) {
        int n = sizes[si];
        qb_pool *pool = qb_pool_new(n);
        tap_ok(qb_pool_size(pool) == n, "pool of %d reports size %d", n, qb_pool_size(pool));
        job j;
        memset(&j, 0, sizeof j);
        j.expect_nth = n;
        int runs = 20000, bad_runs = 0;
        for (int r = 0; r < runs; r++) {
            qb_pool_run(pool, count, &j);
            for (int i = 0; i < n; i++)
                if (atomic_load(&j.calls[i]) != r + 1 || j.plain[i] != r + 1) bad_runs++;
            if (r % 5000 == 4999) {
                // Let the workers fall asleep on the futex before the next job.
                struct timespec ts = {0, 30 * 1000 * 1000};
                nanosleep(&ts, NULL);
            }
        }
        tap_ok(bad_runs == 0 && j.bad_nth == 0, "pool of %d: %d runs, every ith called exactly once per run", n,
               runs);
        qb_pool_free(pool);
    }
    // Pools come and go (the tools make one per run; tests make many).
    int ok = 1;
    for (int k = 0; k < 50; k++) {
        qb_pool *pool = qb_pool_new(1 + k % 4);
        job j;
        memset(&j, 0, sizeof j);
        j.expect_nth = 1 + k % 4;
        qb_pool_run(pool, count, &j);
        for (int i = 0; i < j.expect_nth; i++) ok &= j.calls[i] == 1;
        qb_pool_free(pool);
    }
    tap_ok(ok, "50 pools created, used once and freed");
    return tap_done();
}
