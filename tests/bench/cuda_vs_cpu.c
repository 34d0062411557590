// cuda_vs_cpu: the CUDA forward pass against the CPU one on a real model.
//
//   cuda_vs_cpu -m MODEL [-p PROMPT] [-n 40] [-t THREADS]
//
// Prints one TSV row: model, dtype, prompt_tokens, logits_rel_err (last
// position after the prompt, ||gpu - cpu|| / ||cpu||), argmax_same, the number
// of greedy tokens (of n) that agree before the first difference, and the
// step-by-step max logits relative error over those steps (CPU logits every
// step; GPU through the captured decode graph for tokens, eager for logits),
// the GPU's name, and ahead_same: how many of the n - 1 graph tokens, run
// ahead of the host as generate runs them, one-at-a-time replays repeat.
// Exit status 0 whatever the numbers: the caller judges them.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "util.h"

#ifndef QB_HAVE_CUDA
int main(void) {
    printf("# skipped: built without CUDA\n");
    return 0;
}
#else
#include "forward.h"
#include "forward_cuda.h"
#include "model.h"
#include "tokenizer.h"

static double rel_err(const float *a, const float *b, int n) {
    double num = 0, den = 0;
    for (int i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i])) return INFINITY;
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}
static int argmax(const float *x, int n) {
    int k = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[k]) k = i;
    return k;
}

typedef struct {
    int *tok, n;
} tokens;
static int collect(void *arg, int tok) {
    tokens *t = arg;
    t->tok[t->n++] = tok;
    return 0;
}

int main(int argc, char **argv) {
    const char *model = NULL, *prompt = "The history of the city begins in the early nineteenth century, when";
    int n = 40, threads = 4;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-m")) model = argv[i + 1];
        else if (!strcmp(argv[i], "-p")) prompt = argv[i + 1];
        else if (!strcmp(argv[i], "-n")) n = (int)qb_parse_long("-n", argv[i + 1], 1, 1000);
        else if (!strcmp(argv[i], "-t")) threads = (int)qb_parse_long("-t", argv[i + 1], 1, 1024);
        else qb_die(QB_EXIT_USAGE, "unknown option %s", argv[i]);
    }
    if (!model) qb_die(QB_EXIT_USAGE, "-m MODEL is required");
    qb_model *m = qb_model_load(model);
    const int V = m->cfg.n_vocab;
    int *ids = NULL;
    const int P = (int)qb_tokenize(m->tok, prompt, strlen(prompt), &ids);
    qb_pool *pool = qb_pool_new(threads);
    qb_state *s = qb_state_new(m, P + n, P, threads);
    qb_gpu *g = qb_gpu_new(m, P + n, P);
    qb_gpu *g2 = qb_gpu_new(m, P + n, P); // a second state: eager logits beside the graph's tokens
    float *lc = qb_malloc(sizeof(float) * V), *lg = qb_malloc(sizeof(float) * V);
    qb_forward(m, s, pool, ids, P, 0, lc, P - 1);
    qb_gpu_forward(g, ids, P, 0, lg, P - 1);
    qb_gpu_forward(g2, ids, P, 0, lg, P - 1);
    const double err0 = rel_err(lg, lc, V);
    const int same0 = argmax(lg, V) == argmax(lc, V);
    int tc = argmax(lc, V), tg = argmax(lg, V), agree = 0;
    double max_err = err0;
    // The graph's tokens run ahead, then the same steps one at a time (each
    // rewrites the cache position the other wrote).
    tokens ahead = {qb_malloc(sizeof(int) * n), 0};
    qb_gpu_decode_greedy_run(g, tg, P, n - 1, collect, &ahead);
    int ahead_same = 0;
    for (int i = 0, t = tg; i < ahead.n; i++) {
        t = qb_gpu_decode_greedy(g, t, P + i);
        ahead_same += t == ahead.tok[i];
    }
    for (int i = 0; i < n && tc == tg; i++) {
        agree++;
        if (i == n - 1) break;
        qb_forward(m, s, pool, &tc, 1, P + i, lc, 0);
        qb_gpu_forward(g2, &tg, 1, P + i, lg, 0);
        const double e = rel_err(lg, lc, V);
        if (e > max_err) max_err = e;
        tc = argmax(lc, V);
        tg = ahead.tok[i];
        if (tg != argmax(lg, V)) fprintf(stderr, "cuda_vs_cpu: step %d: graph token %d, eager argmax %d\n", i, tg, argmax(lg, V));
    }
    printf("model\tdtype\tprompt_tokens\tlogits_rel_err\targmax_same\tgreedy_agree\tgreedy_n\tmax_step_rel_err\tgpu\t"
           "ahead_same\n");
    printf("%s\t%s\t%d\t%.3e\t%d\t%d\t%d\t%.3e\t%s\t%d\n", m->name, m->dtype, P, err0, same0, agree, n, max_err,
           qb_gpu_name(g), ahead_same);
    free(lc), free(lg), free(ids), free(ahead.tok);
    qb_gpu_free(g2);
    qb_gpu_free(g);
    qb_state_free(s);
    qb_pool_free(pool);
    qb_model_free(m);
    return 0;
}
#endif
