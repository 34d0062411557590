// membw: this machine's memory bandwidth, the denominator of every
// "fraction of the memory-bandwidth floor" qbench reports.
//
//   membw [-s MIB] [-r REPEATS] [-t THREADS[,THREADS...]]
//
// Buffers of MIB MiB (default 1024, or 4x the L3 if that is more) are first
// touched, then timed REPEATS times (default 7) per thread count: "read"
// streams the buffer through the cores (a vector XOR reduction over four
// sequential streams per thread, nothing written; the denominator of the
// floor), "read_1stream" the same with one stream per thread, "copy" is
// memcpy of one buffer into another and counts bytes read plus written.
// Each thread works on its own contiguous slice.
// Prints TSV: metric, threads, gbps (median of the repeats, 1 GB = 1e9 B),
// plus the min and max.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "util.h"

typedef unsigned long long v4u64 __attribute__((vector_size(32)));

typedef struct {
    const unsigned char *src;
    unsigned char *dst;
    size_t bytes;
    v4u64 sink[64]; // one per thread, so the reads cannot be optimised away
} job;

static void slice(const job *j, int ith, int nth, size_t *lo, size_t *hi) {
    size_t blocks = j->bytes / 128;
    *lo = blocks * ith / nth * 128;
    *hi = blocks * (ith + 1) / nth * 128;
}

// One sequential stream per thread.
static void read1_fn(void *ctx, int ith, int nth) {
    job *j = ctx;
    size_t lo, hi;
    slice(j, ith, nth, &lo, &hi);
    const v4u64 *p = (const v4u64 *)(j->src + lo);
    v4u64 a = {0}, b = {0}, c = {0}, d = {0};
    for (size_t i = 0; i < (hi - lo) / 32; i += 4) {
        a ^= p[i];
        b ^= p[i + 1];
        c ^= p[i + 2];
        d ^= p[i + 3];
    }
    j->sink[ith] = a ^ b ^ c ^ d;
}

// Each thread reads its slice as four sequential streams at once (its four
// quarters): more requests in flight than one stream gets from the hardware
// prefetcher, about what a kernel reading four weight rows at a time sees.
static void read_fn(void *ctx, int ith, int nth) {
    job *j = ctx;
    size_t lo, hi;
    slice(j, ith, nth, &lo, &hi);
    const size_t q = (hi - lo) / 4 / 128 * 128 / 32; // vectors per quarter
    const v4u64 *p0 = (const v4u64 *)(j->src + lo), *p1 = p0 + q, *p2 = p1 + q, *p3 = p2 + q;
    v4u64 a = {0}, b = {0}, c = {0}, d = {0};
    for (size_t i = 0; i < q; i += 4) {
        a ^= p0[i] ^ p0[i + 1] ^ p0[i + 2] ^ p0[i + 3];
        b ^= p1[i] ^ p1[i + 1] ^ p1[i + 2] ^ p1[i + 3];
        c ^= p2[i] ^ p2[i + 1] ^ p2[i + 2] ^ p2[i + 3];
        d ^= p3[i] ^ p3[i + 1] ^ p3[i + 2] ^ p3[i + 3];
    }
    j->sink[ith] = a ^ b ^ c ^ d;
}

static void copy_fn(void *ctx, int ith, int nth) {
    job *j = ctx;
    size_t lo, hi;
    slice(j, ith, nth, &lo, &hi);
    memcpy(j->dst + lo, j->src + lo, hi - lo);
}

static void touch_fn(void *ctx, int ith, int nth) {
    job *j = ctx;
    size_t lo, hi;
    slice(j, ith, nth, &lo, &hi);
    memset((unsigned char *)j->src + lo, 1 + ith, hi - lo); // first touch by the thread that reads it
    memset(j->dst + lo, 0, hi - lo);
}

// Bytes read_fn reads over nth threads (each quarter rounded down to 128 B).
static size_t read_bytes(const job *j, int nth) {
    size_t total = 0;
    for (int t = 0; t < nth; t++) {
        size_t lo, hi;
        slice(j, t, nth, &lo, &hi);
        total += (hi - lo) / 4 / 128 * 128 * 4;
    }
    return total;
}

// The largest CPU cache (the L3) in bytes, from sysfs; 0 if unknown.
static size_t largest_cache_bytes(void) {
    size_t best = 0;
    for (int i = 0; i < 8; i++) {
        char path[96];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        unsigned long v = 0;
        char unit = 0;
        if (fscanf(f, "%lu%c", &v, &unit) >= 1) {
            size_t b = v * (unit == 'K' ? 1024ul : unit == 'M' ? 1048576ul : 1ul);
            if (b > best) best = b;
        }
        fclose(f);
    }
    return best;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void usage(FILE *f) {
    fprintf(f, "usage: membw [-s MIB] [-r REPEATS] [-t THREADS[,THREADS...]]\n"
               "Memory bandwidth: read-only and copy GB/s (TSV: metric threads gbps min_gbps max_gbps).\n");
}

int main(int argc, char **argv) {
    long mib = (long)(4 * largest_cache_bytes() >> 20), repeats = 7;
    if (mib < 1024) mib = 1024;
    const char *tlist = "1,2";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "-s") && i + 1 < argc) mib = qb_parse_long("-s", argv[++i], 1, 1 << 20);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc) repeats = qb_parse_long("-r", argv[++i], 1, 1000);
        else if (!strcmp(argv[i], "-t") && i + 1 < argc) tlist = argv[++i];
        else {
            usage(stderr);
            return 1;
        }
    }
    job j = {.bytes = (size_t)mib << 20};
    j.src = qb_aligned_alloc(j.bytes);
    j.dst = qb_aligned_alloc(j.bytes);
    printf("metric\tthreads\tgbps\tmin_gbps\tmax_gbps\n");
    char *list = qb_strdup(tlist), *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int nt = (int)qb_parse_long("-t", tok, 1, 64);
        qb_pool *pool = qb_pool_new(nt);
        qb_pool_run(pool, touch_fn, &j);
        const struct {
            const char *name;
            void (*fn)(void *, int, int);
            double bytes;
        } metrics[] = {{"read", read_fn, (double)read_bytes(&j, nt)},
                       {"read_1stream", read1_fn, (double)(j.bytes / 128 * 128)},
                       {"copy", copy_fn, 2.0 * j.bytes}};
        for (int m = 0; m < 3; m++) {
            double *gbps = qb_malloc(sizeof(double) * repeats);
            qb_pool_run(pool, metrics[m].fn, &j); // warm-up
            for (long r = 0; r < repeats; r++) {
                double t0 = qb_now();
                qb_pool_run(pool, metrics[m].fn, &j);
                gbps[r] = metrics[m].bytes / (qb_now() - t0) / 1e9;
            }
            qsort(gbps, repeats, sizeof *gbps, cmp_double);
            printf("%s\t%d\t%.2f\t%.2f\t%.2f\n", metrics[m].name, nt, gbps[repeats / 2], gbps[0],
                   gbps[repeats - 1]);
            fflush(stdout);
            free(gbps);
        }
        qb_pool_free(pool);
    }
    free(list);
    return 0;
}
