// model-logits MODEL TEXT N [f32|q8]: runs MODEL (HF directory or GGUF) on
// TEXT with the engine and prints, for comparison with another runtime:
//   ids: the prompt's token ids
//   greedy: N greedily decoded ids
//   then the prompt's last-position logits, one per line.
// The activation mode of quantized matrices is the file's unless given.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward.h"
#include "model.h"
#include "util.h"

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

int main(int argc, char **argv) {
    if (argc != 4 && argc != 5) qb_die(QB_EXIT_USAGE, "usage: model-logits MODEL TEXT N [f32|q8]");
    qb_model *m = qb_model_load(argv[1]);
    const int N = (int)qb_parse_long("N", argv[3], 0, 1 << 16);
    qb_pool *pool = qb_pool_new(2);
    qb_pool_set_act(pool, argc == 5 ? (strcmp(argv[4], "q8") ? QB_ACT_F32 : QB_ACT_Q8) : (qb_act_mode)m->act_mode);
    int *ids = NULL;
    const int P = (int)qb_tokenize(m->tok, argv[2], strlen(argv[2]), &ids);
    const int V = m->cfg.n_vocab;
    if (P < 1 || P + N > m->cfg.n_ctx) qb_die(QB_EXIT_USAGE, "prompt of %d tokens + %d does not fit", P, N);
    qb_state *s = qb_state_new(m, P + N, P, 2);
    float *prompt_logits = qb_malloc(sizeof(float) * V), *logits = qb_malloc(sizeof(float) * V);
    qb_forward(m, s, pool, ids, P, 0, prompt_logits, P - 1);
    printf("ids:");
    for (int i = 0; i < P; i++) printf(" %d", ids[i]);
    printf("\ngreedy:");
    memcpy(logits, prompt_logits, sizeof(float) * V);
    for (int k = 0; k < N; k++) {
        int tok = argmax(logits, V);
        printf(" %d", tok);
        if (k + 1 < N) qb_forward(m, s, pool, &tok, 1, P + k, logits, 0);
    }
    printf("\n");
    for (int i = 0; i < V; i++) printf("%.9g\n", prompt_logits[i]);
    qb_state_free(s);
    qb_pool_free(pool);
    qb_model_free(m);
    free(ids), free(logits), free(prompt_logits);
    return 0;
}
