// engine-probe: test driver for the engine (model loader + forward pass), not a
// product tool. Loads a model, encodes a prompt, and prints what the golden
// tests compare with Hugging Face transformers:
//   ids N...          the prompt's token ids
//   argmax N          of the last position's logits
//   lse X             logsumexp of the last position's logits
//   logits X...       the first --n-logits values of the last position's logits
//   greedy N...       --greedy N tokens by argmax, decoding one at a time
//   info KEY=VALUE... n_vocab, n_ctx, n_embd, n_head, n_layer, n_inner, dtype, params
// usage: engine-probe -m MODEL -p PROMPT [-t THREADS] [--n-logits N] [--greedy N]
//        [--prefill-chunk C]  (prompt fed C tokens per forward call; default all at once)
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forward.h"
#include "model.h"
#include "sample.h"
#include "util.h"

int main(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL;
    int threads = 1, n_logits = 64, greedy = 0, chunk = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) qb_die(QB_EXIT_USAGE, "%s needs a value", a);
        const char *v = argv[++i];
        if (!strcmp(a, "-m")) model = v;
        else if (!strcmp(a, "-p")) prompt = v;
        else if (!strcmp(a, "-t")) threads = (int)qb_parse_long(a, v, 1, 64);
        else if (!strcmp(a, "--n-logits")) n_logits = (int)qb_parse_long(a, v, 0, 1 << 20);
        else if (!strcmp(a, "--greedy")) greedy = (int)qb_parse_long(a, v, 0, 1 << 20);
        else if (!strcmp(a, "--prefill-chunk")) chunk = (int)qb_parse_long(a, v, 1, 1 << 20);
        else qb_die(QB_EXIT_USAGE, "unknown option %s", a);
    }
    if (!model || !prompt) qb_die(QB_EXIT_USAGE, "usage: engine-probe -m MODEL -p PROMPT [options]");
    qb_model *m = qb_model_load(model);
    const qb_config *c = &m->cfg;
    printf("info n_vocab=%d n_ctx=%d n_embd=%d n_head=%d n_layer=%d n_inner=%d dtype=%s params=%zu\n", c->n_vocab,
           c->n_ctx, c->n_embd, c->n_head, c->n_layer, c->n_inner, m->dtype, qb_model_params(m));
    int *ids = NULL;
    int P = (int)qb_tokenize(m->tok, prompt, strlen(prompt), &ids);
    if (P < 1 || P + greedy > c->n_ctx) qb_die(QB_EXIT_USAGE, "prompt of %d tokens (+%d) does not fit", P, greedy);
    printf("ids");
    for (int i = 0; i < P; i++) printf(" %d", ids[i]);
    printf("\n");

    qb_pool *pool = qb_pool_new(threads);
    qb_state *s = qb_state_new(m, P + greedy, P, threads);
    float *logits = qb_aligned_alloc((size_t)c->n_vocab * sizeof(float));
    if (!chunk) chunk = P;
    for (int p = 0; p < P; p += chunk) {
        int T = P - p < chunk ? P - p : chunk;
        qb_forward(m, s, pool, ids + p, T, p, logits, T - 1);
    }
    double mx = logits[qb_argmax(logits, c->n_vocab)], sum = 0;
    for (int i = 0; i < c->n_vocab; i++) sum += exp((double)logits[i] - mx);
    printf("argmax %d\nlse %.9g\nlogits", qb_argmax(logits, c->n_vocab), mx + log(sum));
    for (int i = 0; i < n_logits && i < c->n_vocab; i++) printf(" %.9g", logits[i]);
    printf("\ngreedy");
    int pos = P, tok = qb_argmax(logits, c->n_vocab);
    for (int g = 0; g < greedy; g++) {
        printf(" %d", tok);
        if (g + 1 < greedy) {
            qb_forward(m, s, pool, &tok, 1, pos++, logits, 0);
            tok = qb_argmax(logits, c->n_vocab);
        }
    }
    printf("\n");
    free(logits);
    free(ids);
    qb_state_free(s);
    qb_pool_free(pool);
    qb_model_free(m);
    return 0;
}
