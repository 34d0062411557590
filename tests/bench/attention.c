// attention: speed of the CPU attention and GELU kernels, each fast path next
// to its scalar twin in the same process (ratio = scalar time / fast time).
//
//   attention [-t THREADS[,THREADS...]] [--min-time S]
//
// attention at qb-gpt2-10m's shape (5 heads x 32) and gpt2-124M's (12 x 64):
// prefill of 512 tokens and one decode step at position 511; GFLOP/s counts
// 4 * head_dim flops per (query, key) pair. gelu: 640 x 512 values, Gelem/s.
// TSV: kernel shape threads isa us gflops scalar_us ratio
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "kernels.h"
#include "util.h"

typedef struct {
    int which; // 0 prefill, 1 decode, 2 gelu
    qb_isa isa;
    qb_pool *pool;
    int H, D, N;
    float *q, *k, *v, *o, *s, *g, *g0;
    size_t ng;
} bench;

static void run_once(bench *b) {
    const int C = b->H * b->D;
    if (b->which == 0) qb_attention_isa(b->isa, b->pool, b->o, b->q, b->k, b->v, 0, b->N, b->H, b->D, b->s);
    else if (b->which == 1)
        qb_attention_isa(b->isa, b->pool, b->o, b->q + (size_t)(b->N - 1) * C, b->k, b->v, b->N - 1, 1, b->H, b->D,
                         b->s);
    else {
        memcpy(b->g, b->g0, sizeof(float) * b->ng); // fresh inputs (repeated GELU drifts to subnormals)
        if (b->isa >= QB_ISA_AVX2) qb_gelu_avx2(b->g, b->ng);
        else qb_gelu_scalar(b->g, b->ng);
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double time_us(bench *b, double min_time) {
    double t[256];
    int n = 0;
    run_once(b);
    double start = qb_now();
    while (n < 256 && (n < 3 || qb_now() - start < min_time)) {
        double t0 = qb_now();
        run_once(b);
        t[n++] = qb_now() - t0;
    }
    qsort(t, n, sizeof *t, cmp_double);
    return t[n / 2] * 1e6;
}

int main(int argc, char **argv) {
    const char *tlist = "1,2";
    double min_time = 0.3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: attention [-t THREADS[,THREADS...]] [--min-time S]\n");
            return 0;
        } else if (!strcmp(argv[i], "-t") && i + 1 < argc) tlist = argv[++i];
        else if (!strcmp(argv[i], "--min-time") && i + 1 < argc)
            min_time = qb_parse_double("--min-time", argv[++i], 0, 100);
        else {
            fprintf(stderr, "attention: bad argument %s (try --help)\n", argv[i]);
            return 1;
        }
    }
    const qb_isa best = qb_cpu_isa() >= QB_ISA_AVX2 ? QB_ISA_AVX2 : QB_ISA_SCALAR;
    const int shapes[][2] = {{5, 32}, {12, 64}};
    const int N = 512;
    printf("kernel\tshape\tthreads\tisa\tus\tgflops\tscalar_us\tratio\n");
    char *list = qb_strdup(tlist), *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        const int nt = (int)qb_parse_long("-t", tok, 1, 256);
        qb_pool *pool = qb_pool_new(nt);
        for (int si = 0; si < 3; si++) {
            bench b = {.pool = pool, .N = N};
            if (si < 2) {
                b.H = shapes[si][0], b.D = shapes[si][1];
                const size_t n = (size_t)N * b.H * b.D;
                b.q = qb_malloc(4 * n), b.k = qb_malloc(4 * n), b.v = qb_malloc(4 * n), b.o = qb_malloc(4 * n);
                b.s = qb_malloc(sizeof(float) * nt * N);
                for (size_t i = 0; i < n; i++) b.q[i] = sinf(i * 0.37f), b.k[i] = cosf(i * 0.11f), b.v[i] = sinf(i);
            } else {
                b.ng = 640 * 512;
                b.g = qb_malloc(4 * b.ng), b.g0 = qb_malloc(4 * b.ng);
                for (size_t i = 0; i < b.ng; i++) b.g0[i] = 3 * sinf(i * 0.37f);
            }
            for (int which = si < 2 ? 0 : 2; which <= (si < 2 ? 1 : 2); which++) {
                b.which = which;
                b.isa = best;
                double fast = time_us(&b, min_time);
                b.isa = QB_ISA_SCALAR;
                double slow = time_us(&b, min_time);
                double pairs = which == 0 ? (double)N * (N + 1) / 2 * b.H : which == 1 ? (double)N * b.H : 0;
                double gf = which == 2 ? b.ng / fast / 1e3 : 4.0 * b.D * pairs / fast / 1e3;
                char shape[64];
                if (which == 2) snprintf(shape, sizeof shape, "640x512");
                else snprintf(shape, sizeof shape, "H%d_D%d_N%d", b.H, b.D, N);
                printf("%s\t%s\t%d\t%s\t%.1f\t%.2f\t%.1f\t%.1f\n",
                       which == 0 ? "attn_prefill" : which == 1 ? "attn_decode" : "gelu", shape, nt,
                       qb_isa_name(best), fast, gf, slow, slow / fast);
                fflush(stdout);
            }
            free(b.q), free(b.k), free(b.v), free(b.o), free(b.s), free(b.g), free(b.g0);
        }
        qb_pool_free(pool);
    }
    free(list);
    return 0;
}
