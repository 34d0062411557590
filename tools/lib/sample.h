// sample.h: picking the next token from logits: greedy (temperature 0), or
// sampling with temperature, then top-k, then top-p (nucleus), in that order,
// as Hugging Face transformers' generate applies them.
#pragma once
#include <stdint.h>

typedef struct {
    float temp;   // 0: greedy (argmax, the lowest id on ties)
    int top_k;    // keep the k most likely tokens; 0: all
    float top_p;  // keep the smallest most-likely set with probability >= top_p; 1: all
    uint64_t rng; // generator state (splitmix64), from the seed
    // scratch, sized on first use
    int n;
    float *prob;
    int *heap;
} qb_sampler;

void qb_sampler_init(qb_sampler *s, float temp, int top_k, float top_p, uint64_t seed);
void qb_sampler_free(qb_sampler *s);
// The next token id in [0, n_vocab).
int qb_sample(qb_sampler *s, const float *logits, int n_vocab);
// Index of the largest value (the first on ties); kernels/cpu/softmax.c,
// vectorized, declared in kernels.h too.
int qb_argmax(const float *x, int n);
// A uniform double in [0, 1) from the sampler's generator.
double qb_sampler_uniform(qb_sampler *s);
// The indices of the k largest of x[0..n) into ids[0..k), largest first (the
// lower index first among equal values); 1 <= k <= n.
void qb_top_k(const float *x, int n, int k, int *ids);
