// test_sample: next-token choice (greedy, temperature, top-k, top-p) and the
// top-k selection used by ppl --save-logits, against direct computations on
// fresh random inputs.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "sample.h"

static const float *cmp_x;
static int by_value_desc(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (cmp_x[i] != cmp_x[j]) return cmp_x[i] > cmp_x[j] ? -1 : 1;
    return i - j;
}

int main(void) {
    tap_rng rng = tap_rng_new();

    // ---- qb_top_k against a full sort, values with many ties ----
    int ok_topk = 1;
    for (int trial = 0; trial < 200; trial++) {
        int n = 1 + (int)(tap_uniform(&rng) * 3000);
        float *x = malloc((size_t)n * sizeof *x);
        int *order = malloc((size_t)n * sizeof *order), *ids = malloc((size_t)n * sizeof *ids);
        for (int i = 0; i < n; i++) x[i] = (float)floor(tap_normal(&rng) * 4), order[i] = i;
        cmp_x = x;
        qsort(order, (size_t)n, sizeof *order, by_value_desc);
        int ks[] = {1, 2, 7, 32, n};
        for (int q = 0; q < 5; q++) {
            int k = ks[q] < n ? ks[q] : n;
            qb_top_k(x, n, k, ids);
            if (memcmp(ids, order, (size_t)k * sizeof *ids) != 0) ok_topk = 0;
        }
        free(x), free(order), free(ids);
    }
    tap_ok(ok_topk, "top-k equals the first k of a full sort (ties: lower index first), 200 random vectors");

    // ---- greedy ----
    float l[6];
    for (int i = 0; i < 6; i++) l[i] = (float)(0.4 * tap_normal(&rng)); // flat enough for top-p to keep several
    qb_sampler s;
    qb_sampler_init(&s, 0, 0, 1, 1);
    int am = qb_argmax(l, 6);
    tap_ok(qb_sample(&s, l, 6) == am, "temperature 0 is argmax");
    float tie[4] = {1, 3, 3, 2};
    tap_ok(qb_argmax(tie, 4) == 1, "argmax takes the first of equal maxima");
    qb_sampler_free(&s);
    qb_sampler_init(&s, 1.5f, 1, 1, 7);
    int all_am = 1;
    for (int i = 0; i < 1000; i++) all_am &= qb_sample(&s, l, 6) == am;
    tap_ok(all_am, "top-k 1 is argmax at any temperature");
    qb_sampler_free(&s);

    // ---- frequencies against the renormalised softmax, for plain / top-k / top-p ----
    const float temp = 0.7f;
    double p[6], sum = 0;
    for (int i = 0; i < 6; i++) sum += p[i] = exp(l[i] / temp);
    for (int i = 0; i < 6; i++) p[i] /= sum;
    int order[6];
    for (int i = 0; i < 6; i++) order[i] = i;
    cmp_x = l;
    qsort(order, 6, sizeof *order, by_value_desc);
    // top-p 0.6: the smallest most-likely prefix with mass >= 0.6
    int np = 0;
    double mass = 0;
    while (mass < 0.6) mass += p[order[np++]];
    struct {
        const char *name;
        int top_k;
        float top_p;
        int kept;
    } modes[] = {{"temperature 0.7", 0, 1, 6}, {"top-k 3", 3, 1, 3}, {"top-p 0.6", 0, 0.6f, np}};
    const int N = 200000;
    for (int mi = 0; mi < 3; mi++) {
        qb_sampler_init(&s, temp, modes[mi].top_k, modes[mi].top_p, 12345 + mi);
        long count[6] = {0};
        for (int i = 0; i < N; i++) count[qb_sample(&s, l, 6)]++;
        double kept_mass = 0;
        for (int j = 0; j < modes[mi].kept; j++) kept_mass += p[order[j]];
        int good = 1;
        for (int j = 0; j < 6; j++) {
            int id = order[j];
            double want = j < modes[mi].kept ? p[id] / kept_mass : 0;
            double sd = sqrt(want * (1 - want) / N) + 1e-12;
            double got = (double)count[id] / N;
            if (fabs(got - want) > 5 * sd + (want == 0 ? 0 : 1e-4)) {
                good = 0;
                tap_diag("%s: token %d: %.5f vs %.5f", modes[mi].name, id, got, want);
            }
        }
        tap_ok(good, "%s: frequencies of %d draws match the renormalised softmax of the %d kept tokens",
               modes[mi].name, N, modes[mi].kept);
        qb_sampler_free(&s);
    }

    // ---- seeds ----
    int a[50], b[50], c[50];
    qb_sampler_init(&s, 1, 0, 1, 99);
    for (int i = 0; i < 50; i++) a[i] = qb_sample(&s, l, 6);
    qb_sampler_free(&s);
    qb_sampler_init(&s, 1, 0, 1, 99);
    for (int i = 0; i < 50; i++) b[i] = qb_sample(&s, l, 6);
    qb_sampler_free(&s);
    qb_sampler_init(&s, 1, 0, 1, 100);
    for (int i = 0; i < 50; i++) c[i] = qb_sample(&s, l, 6);
    qb_sampler_free(&s);
    tap_ok(memcmp(a, b, sizeof a) == 0, "the same seed gives the same draws");
    tap_ok(memcmp(a, c, sizeof a) != 0, "another seed gives other draws");
    return tap_done();
}
