// sample.c: see sample.h. Top-k and top-p need the tokens in order of
// probability, but only the first few: a binary max-heap over all ids is built
// in O(n) and popped until the kept set is complete, so a step costs
// O(n + kept log n) rather than a full sort of the vocabulary.
#include "sample.h"

#include <math.h>
#include <stdlib.h>

#include "util.h"

void qb_sampler_init(qb_sampler *s, float temp, int top_k, float top_p, uint64_t seed) {
    *s = (qb_sampler){.temp = temp, .top_k = top_k, .top_p = top_p, .rng = seed};
}

void qb_sampler_free(qb_sampler *s) {
    free(s->prob);
    free(s->heap);
    s->prob = NULL;
    s->heap = NULL;
}

double qb_sampler_uniform(qb_sampler *s) {
    uint64_t z = (s->rng += 0x9E3779B97F4A7C15ull); // splitmix64
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53;
}

// Max-heap of ids keyed by prob; ties broken towards the lower id so the
// order (and so the sample for a given seed) is fully determined.
static inline int above(const float *p, int a, int b) { return p[a] > p[b] || (p[a] == p[b] && a < b); }

static void sift_down(int *h, int n, int i, const float *p) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && above(p, h[l], h[m])) m = l;
        if (r < n && above(p, h[r], h[m])) m = r;
        if (m == i) return;
        int t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

int qb_sample(qb_sampler *s, const float *logits, int n) {
    if (s->temp <= 0) return qb_argmax(logits, n);
    if (s->n != n) {
        s->prob = qb_realloc(s->prob, (size_t)n * sizeof *s->prob);
        s->heap = qb_realloc(s->heap, (size_t)n * sizeof *s->heap);
        s->n = n;
    }
    // Softmax of logits / temp (in double for the normaliser).
    const float mx = logits[qb_argmax(logits, n)];
    double sum = 0;
    for (int i = 0; i < n; i++) sum += s->prob[i] = expf((logits[i] - mx) / s->temp);
    for (int i = 0; i < n; i++) s->prob[i] = (float)(s->prob[i] / sum);

    // Pop tokens in order of probability into the front of heap[] (the
    // popped ones collect at the end and are moved) until top-k and top-p
    // are satisfied.
    int *h = s->heap, size = n;
    for (int i = 0; i < n; i++) h[i] = i;
    for (int i = n / 2 - 1; i >= 0; i--) sift_down(h, n, i, s->prob);
    const int k_max = s->top_k > 0 && s->top_k < n ? s->top_k : n;
    int kept = 0;
    double mass = 0;
    while (kept < k_max && size > 0) {
        int top = h[0];
        h[0] = h[--size];
        sift_down(h, size, 0, s->prob);
        h[n - 1 - kept] = top; // the slot freed at the heap's end
        kept++;
        mass += s->prob[top];
        if (s->top_p < 1 && mass >= s->top_p) break;
    }
    // Draw from the kept tokens (most likely first), renormalised.
    double u = qb_sampler_uniform(s) * mass, acc = 0;
    for (int j = 0; j < kept; j++) {
        int id = h[n - 1 - j];
        acc += s->prob[id];
        if (u < acc) return id;
    }
    return h[n - kept]; // rounding: the least likely kept token
}

// See sample.h. A min-heap of the best k seen so far (ids[0] the worst of
// them) costs O(V) when most values lose against it, then a heap sort.
static int better(const float *x, int a, int b) { return x[a] > x[b] || (x[a] == x[b] && a < b); }
void qb_top_k(const float *x, int V, int k, int *ids) {
    // Min-heap of the best k seen so far: ids[0] is the worst of them.
    int n = 0;
    for (int i = 0; i < V; i++) {
        if (n == k && !better(x, i, ids[0])) continue;
        int j;
        if (n < k) { // sift up
            j = n++;
            while (j > 0 && better(x, ids[(j - 1) / 2], i)) ids[j] = ids[(j - 1) / 2], j = (j - 1) / 2;
        } else { // replace the root, sift down
            j = 0;
            for (;;) {
                int l = 2 * j + 1, r = l + 1, m = l;
                if (l >= n) break;
                if (r < n && better(x, ids[l], ids[r])) m = r;
                if (!better(x, i, ids[m])) break;
                ids[j] = ids[m], j = m;
            }
        }
        ids[j] = i;
    }
    // Heap sort into descending order.
    for (int end = n - 1; end > 0; end--) {
        int last = ids[end];
        ids[end] = ids[0];
        int j = 0;
        for (;;) {
            int l = 2 * j + 1, r = l + 1, m = l;
            if (l >= end) break;
            if (r < end && better(x, ids[l], ids[r])) m = r;
            if (!better(x, last, ids[m])) break;
            ids[j] = ids[m], j = m;
        }
        ids[j] = last;
    }
}

