// forward_cuda.c: see forward_cuda.h. One decoder block, as in forward.c:
//   x += proj(attention(qkv(ln_1(x))))   (ln_1 and the K/V store fused into the QKV matmul)
//   x += proj(gelu(fc(ln_2(x))))         (ln_2, GELU and the residual adds fused)
#include "forward_cuda.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#ifndef QB_HAVE_CUDA
static _Noreturn void no_cuda(void) { qb_die(QB_EXIT_USAGE, "--device cuda: this build has no CUDA backend (no nvcc)"); }
qb_gpu *qb_gpu_new(const qb_model *m, int n_cache, int max_T) { (void)m, (void)n_cache, (void)max_T; no_cuda(); }
void qb_gpu_free(qb_gpu *g) { (void)g; }
void qb_gpu_forward(qb_gpu *g, const int *tokens, int T, int pos0, float *logits, int first_logit) {
    (void)g, (void)tokens, (void)T, (void)pos0, (void)logits, (void)first_logit;
    no_cuda();
}
int qb_gpu_decode_greedy(qb_gpu *g, int tok, int pos) { (void)g, (void)tok, (void)pos; no_cuda(); }
int qb_gpu_decode_greedy_run(qb_gpu *g, int tok, int pos, int n, int (*on_token)(void *arg, int tok), void *arg) {
    (void)g, (void)tok, (void)pos, (void)n, (void)on_token, (void)arg;
    no_cuda();
}
void qb_gpu_prepare_decode(qb_gpu *g) { (void)g; }
void qb_gpu_set_graph(qb_gpu *g, int on) { (void)g, (void)on; }
int qb_gpu_set_persistent(qb_gpu *g, int on) { (void)g, (void)on; return 0; }
const char *qb_gpu_name(const qb_gpu *g) { (void)g; return ""; }
const char *qb_gpu_driver(const qb_gpu *g) { (void)g; return ""; }
double qb_gpu_peak_bytes(qb_gpu *g) { (void)g; return 0; }
double qb_gpu_step_bytes(const qb_gpu *g, int n_pos) { (void)g, (void)n_pos; return 0; }
double qb_gpu_weight_bytes(const qb_gpu *g) { (void)g; return 0; }
#else
#include "cuda/cuda_backend.h"
#include "nvml.h"

typedef struct {
    float *ln_1_g, *ln_1_b, *ln_2_g, *ln_2_b;
    qb_weight qkv, proj, fc, mproj;
    float *qkv_b, *proj_b, *fc_b, *mproj_b;
} gpu_layer;

struct qb_gpu {
    const qb_model *m;
    qb_cuda *cu;
    qb_nvml *nvml;
    char name[128], driver[96];
    double peak, weight_bytes;
    int n_cache, max_T, graph_on;
    int graph_tuned; // qb_cuda_graph_tune has run (once: a graph dropped for more scratch is recaptured as it was)
    // weights
    qb_weight wte, wpe, lm_head;
    int lm_head_shared; // lm_head is wte's device copy
    gpu_layer *layers;
    float *ln_f_g, *ln_f_b;
    // state
    float *x, *qkv, *att, *fc, *logits;
    int *tokens;
    uint16_t *k_cache, *v_cache; // [n_layer][n_cache][n_embd]
    // The decode step as one persistent kernel (built at first use), and whether it runs.
    qb_cuda_step *step;
    int persistent;
    // QB_GPU_PROFILE=1: device time per named step of the eager (graph-off)
    // decode steps, printed to stderr by qb_gpu_free.
    int profile;
    double prof_ms[8];
    long prof_n;
    qb_cuda_event *prof_last;
    // QB_CUDA_DROP: named steps the decode step leaves out (a bit per DROP_NAMES
    // entry), a timing what-if: what a step costs inside the replayed chain is
    // the step time it saves. The output is wrong while any is set.
    unsigned drop;
    // QB_CUDA_ONE_LAYER=1: every layer of the decode step multiplies by layer
    // 0's weights, a timing what-if: where a layer's weights fit in L2 they
    // stay there, so the step shows the chain's own latency without DRAM.
    int one_layer;
    // QB_CUDA_AHEAD: greedy steps qb_gpu_decode_greedy_run keeps in flight
    // (default 4; 1: one at a time, each token back on the host first).
    int ahead;
};

// The steps of blocks() in order: bit k of the mask leaves DROP_NAMES[k] out.
static const char *const DROP_NAMES[] = {"qkv", "attention", "proj", "fc", "mproj"};
enum { N_DROP = sizeof DROP_NAMES / sizeof *DROP_NAMES };

static unsigned parse_drop(const char *v) {
    unsigned mask = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int k = 0;
        while (k < N_DROP && strcmp(t, DROP_NAMES[k])) k++;
        if (k == N_DROP) qb_die(QB_EXIT_USAGE, "QB_CUDA_DROP=%s: '%s' is not one of qkv, attention, proj, fc, mproj", v, t);
        mask |= 1u << k;
    }
    return mask;
}

static const char *const PROF_NAMES[8] = {"embed", "ln1+qkv", "attention", "proj+res", "ln2+fc+gelu", "mproj+res", "ln_f+lm_head", "argmax"};
// Marks the end of step k (profiling only, eager only).
static void prof_mark(qb_gpu *g, int k) {
    if (!g->profile) return;
    qb_cuda_event *e = qb_cuda_event_record(g->cu);
    if (g->prof_last && k >= 0) g->prof_ms[k] += qb_cuda_event_ms(g->prof_last, e);
    qb_cuda_event_free(g->prof_last);
    g->prof_last = e;
}

static void decode_step(qb_gpu *g, int pos0);

static float *upload_floats(qb_gpu *g, const float *h, size_t n) {
    float *d = qb_cuda_alloc(g->cu, n * sizeof(float));
    qb_cuda_to_device(g->cu, d, h, n * sizeof(float));
    g->weight_bytes += n * sizeof(float);
    return d;
}

static qb_weight upload_weight(qb_gpu *g, const qb_weight *w, const char *what) {
    if (!qb_cuda_type_ok(w->type, w->n_in))
        qb_die(QB_EXIT_DATA, "%s: %s: type %s with rows of %d values is not supported on the GPU", g->m->path, what,
               qb_type_name(w->type), w->n_in);
    qb_weight d = qb_cuda_weight_upload(g->cu, w);
    g->weight_bytes += (double)qb_cuda_weight_bytes(w->type, w->n_in, w->n_out);
    return d;
}

static void sample_mem(qb_gpu *g) {
    double b = (double)qb_cuda_mem_sample(g->cu);
    if (g->nvml) {
        pid_t self = getpid();
        double p = qb_nvml_used_bytes(g->nvml, &self, 1);
        if (p >= 0) b = p; // per-process accounting, when the driver gives it
    }
    if (b > g->peak) g->peak = b;
}

qb_gpu *qb_gpu_new(const qb_model *m, int n_cache, int max_T) {
    const qb_config *c = &m->cfg;
    if (n_cache < 1 || n_cache > c->n_ctx || max_T < 1 || max_T > n_cache)
        qb_die(QB_EXIT_USAGE, "gpu state: bad sizes n_cache=%d max_T=%d (context %d)", n_cache, max_T, c->n_ctx);
    char err[256];
    qb_cuda *cu = qb_cuda_open(0, err, sizeof err);
    if (!cu) qb_die(QB_EXIT_DATA, "--device cuda: %s", err);
    qb_gpu *g = qb_calloc(1, sizeof *g);
    g->m = m, g->cu = cu, g->n_cache = n_cache, g->max_T = max_T, g->graph_on = 1;
    snprintf(g->name, sizeof g->name, "%s", qb_cuda_device_name(cu));
    snprintf(g->driver, sizeof g->driver, "%s", qb_cuda_driver(cu));
    g->nvml = qb_nvml_open();
    if (g->nvml) {
        char d[256];
        qb_nvml_describe(g->nvml, d, sizeof d);
        const char *v = strstr(d, ", driver ");
        if (v && strcmp(v + 9, "unknown")) snprintf(g->driver, sizeof g->driver, "%s", v + 9);
    }
    const size_t E = (size_t)c->n_embd, I = (size_t)c->n_inner;
    g->wte = upload_weight(g, &m->wte, "token_embd");
    g->wpe = upload_weight(g, &m->wpe, "position_embd");
    g->lm_head_shared = m->lm_head.data == m->wte.data && m->lm_head.type == m->wte.type &&
                        m->lm_head.layout == m->wte.layout;
    g->lm_head = g->lm_head_shared ? g->wte : upload_weight(g, &m->lm_head, "output");
    g->layers = qb_calloc((size_t)c->n_layer, sizeof *g->layers);
    for (int l = 0; l < c->n_layer; l++) {
        const qb_layer *L = &m->layers[l];
        gpu_layer *G = &g->layers[l];
        char what[64];
        snprintf(what, sizeof what, "blk.%d", l);
        G->ln_1_g = upload_floats(g, L->ln_1_g, E), G->ln_1_b = upload_floats(g, L->ln_1_b, E);
        G->ln_2_g = upload_floats(g, L->ln_2_g, E), G->ln_2_b = upload_floats(g, L->ln_2_b, E);
        G->qkv = upload_weight(g, &L->attn_qkv, what), G->qkv_b = upload_floats(g, L->attn_qkv_b, 3 * E);
        G->proj = upload_weight(g, &L->attn_proj, what), G->proj_b = upload_floats(g, L->attn_proj_b, E);
        G->fc = upload_weight(g, &L->mlp_fc, what), G->fc_b = upload_floats(g, L->mlp_fc_b, I);
        G->mproj = upload_weight(g, &L->mlp_proj, what), G->mproj_b = upload_floats(g, L->mlp_proj_b, E);
    }
    g->ln_f_g = upload_floats(g, m->ln_f_g, E), g->ln_f_b = upload_floats(g, m->ln_f_b, E);
    const size_t T = (size_t)max_T;
    g->x = qb_cuda_alloc(cu, T * E * 4);
    g->qkv = qb_cuda_alloc(cu, T * 3 * E * 4);
    g->att = qb_cuda_alloc(cu, T * E * 4);
    g->fc = qb_cuda_alloc(cu, T * I * 4);
    g->logits = qb_cuda_alloc(cu, T * (size_t)c->n_vocab * 4);
    g->tokens = qb_cuda_alloc(cu, T * sizeof(int));
    const size_t cache = (size_t)c->n_layer * (size_t)n_cache * E;
    g->k_cache = qb_cuda_alloc(cu, cache * 2);
    g->v_cache = qb_cuda_alloc(cu, cache * 2);
    // Warm-up, part of the load: cuBLAS loaded, every kernel's module loaded,
    // scratch grown; a prompt pass then times the work alone. (The positions it
    // writes in the cache are overwritten by the first real pass.)
    const int wT = max_T < 16 ? max_T : 16;
    int *warm = qb_calloc((size_t)wT, sizeof(int));
    float *lg = qb_malloc((size_t)c->n_vocab * sizeof(float));
    qb_gpu_forward(g, warm, wT, 0, lg, wT - 1);
    qb_gpu_forward(g, warm, 1, 0, lg, 0); // also tunes each GEMV shape's rows per block
    // The layernorm is a kernel of its own unless QB_CUDA_LN_FUSE=1 (each
    // GEMV block normalises x itself): in the replayed graph fusing it lost
    // 10-17 %, every block of every wave redoing it after the wait
    // (data/results/h100/gtrace-c3e66a1). (Until c3e66a1 the choice was made
    // here by timing eager steps, which picked either at random.)
    free(warm), free(lg);
    const char *drop = getenv("QB_CUDA_DROP");
    if (drop && *drop) {
        g->drop = parse_drop(drop);
        fprintf(stderr, "cuda: QB_CUDA_DROP=%s: the decode step leaves these out (timing only: its output is wrong)\n",
                drop);
    }
    if (qb_env_pick("QB_CUDA_ONE_LAYER", "0", "1", NULL)) {
        g->one_layer = 1;
        fprintf(stderr, "cuda: QB_CUDA_ONE_LAYER=1: every layer decodes with layer 0's weights (timing only: its "
                        "output is wrong)\n");
    }
    if (qb_env_pick("QB_CUDA_STEP", "graph", "persistent", NULL) && !qb_gpu_set_persistent(g, 1))
        qb_die(QB_EXIT_DATA, "%s: QB_CUDA_STEP=persistent: the persistent step takes n_embd <= 2048 and heads of at most 256 (this model: %d, %d)",
               m->path, c->n_embd, c->n_embd / c->n_head);
    g->ahead = qb_env_int("QB_CUDA_AHEAD", 4, 1, QB_CUDA_AHEAD_RING / 2);
    qb_cuda_sync(cu);
    sample_mem(g);
    return g;
}

void qb_gpu_free(qb_gpu *g) {
    if (!g) return;
    if (g->prof_n) {
        fprintf(stderr, "profile %s %s: %ld eager decode steps, us per step:", g->m->name, g->m->dtype, g->prof_n);
        for (int k = 0; k < 8; k++) fprintf(stderr, " %s %.1f", PROF_NAMES[k], 1e3 * g->prof_ms[k] / g->prof_n);
        fprintf(stderr, "\n");
    }
    qb_cuda_event_free(g->prof_last);
    qb_cuda_step_free(g->step);
    qb_cuda *cu = g->cu;
    const int n_layer = g->m->cfg.n_layer;
    for (int l = 0; l < n_layer; l++) {
        gpu_layer *G = &g->layers[l];
        qb_cuda_free(cu, G->ln_1_g), qb_cuda_free(cu, G->ln_1_b), qb_cuda_free(cu, G->ln_2_g), qb_cuda_free(cu, G->ln_2_b);
        qb_cuda_weight_free(cu, &G->qkv), qb_cuda_weight_free(cu, &G->proj);
        qb_cuda_weight_free(cu, &G->fc), qb_cuda_weight_free(cu, &G->mproj);
        qb_cuda_free(cu, G->qkv_b), qb_cuda_free(cu, G->proj_b), qb_cuda_free(cu, G->fc_b), qb_cuda_free(cu, G->mproj_b);
    }
    free(g->layers);
    qb_cuda_weight_free(cu, &g->wte), qb_cuda_weight_free(cu, &g->wpe);
    if (!g->lm_head_shared) qb_cuda_weight_free(cu, &g->lm_head);
    qb_cuda_free(cu, g->ln_f_g), qb_cuda_free(cu, g->ln_f_b);
    qb_cuda_free(cu, g->x), qb_cuda_free(cu, g->qkv), qb_cuda_free(cu, g->att);
    qb_cuda_free(cu, g->fc), qb_cuda_free(cu, g->logits), qb_cuda_free(cu, g->tokens);
    qb_cuda_free(cu, g->k_cache), qb_cuda_free(cu, g->v_cache);
    if (g->nvml) qb_nvml_close(g->nvml);
    qb_cuda_close(cu);
    free(g);
}

// The weight of the GEMV d places after matmul k (0 qkv, 1 proj, 2 fc,
// 3 mproj) of layer l in a decode step (the lm_head after the last layer),
// or NULL past the end.
static const qb_weight *gemv_ahead(const qb_gpu *g, int l, int k, int d) {
    const int i = 4 * l + k + d, n = 4 * g->m->cfg.n_layer;
    if (i > n) return NULL;
    if (i == n) return &g->lm_head;
    const gpu_layer *L = &g->layers[i / 4];
    const qb_weight *w[4] = {&L->qkv, &L->proj, &L->fc, &L->mproj};
    return w[i % 4];
}

// At T == 1 the GEMV about to run prefetches into L2 the weights of the one
// qb_cuda_prefetch_depth places ahead (QB_CUDA_PREFETCH; cuda_backend.h).
static void prefetch_ahead(qb_gpu *g, int T, int l, int k) {
    const int d = qb_cuda_prefetch_depth(g->cu);
    qb_cuda_prefetch_next(g->cu, T == 1 && d ? gemv_ahead(g, l, k, d) : NULL);
}

// Layer l's weights for T tokens: layer 0's for every l at T == 1 under QB_CUDA_ONE_LAYER.
static const gpu_layer *layer_for(const qb_gpu *g, int T, int l) {
    return &g->layers[T == 1 && g->one_layer ? 0 : l];
}

// The decoder stack for T tokens already embedded in x, at pos0 (or the
// device position). Each layernorm is fused into the matmul that reads it
// (inside the GEMV at T == 1).
static void blocks(qb_gpu *g, int T, int pos0) {
    const qb_config *c = &g->m->cfg;
    const int E = c->n_embd, H = c->n_head;
    const float eps = c->ln_eps;
    qb_cuda *cu = g->cu;
    const size_t cache_layer = (size_t)g->n_cache * E;
    for (int l = 0; l < c->n_layer; l++) {
        const gpu_layer *L = layer_for(g, T, l);
        uint16_t *kc = g->k_cache + l * cache_layer, *vc = g->v_cache + l * cache_layer;
        // attention sublayer: x += proj(attention(qkv(ln_1(x))))
        const unsigned drop = T == 1 ? g->drop : 0;
        prefetch_ahead(g, T, l, 0);
        qb_cuda_trace_name(cu, "qkv");
        if (!(drop & 1))
            qb_cuda_ln_matmul_qkv(cu, g->qkv, g->x, L->ln_1_g, L->ln_1_b, eps, &L->qkv, L->qkv_b, T, kc, vc, pos0);
        prof_mark(g, 1);
        qb_cuda_trace_name(cu, "attn");
        if (!(drop & 2)) qb_cuda_attention(cu, g->att, g->qkv, 3 * E, kc, vc, pos0, T, H, E / H, g->n_cache);
        prof_mark(g, 2);
        prefetch_ahead(g, T, l, 1);
        qb_cuda_trace_name(cu, "proj");
        qb_cuda_ln_after(cu, L->ln_2_g, L->ln_2_b, eps); // (QB_CUDA_LN_LAST: the residual add makes fc's layernorm)
        if (!(drop & 4)) qb_cuda_matmul(cu, g->x, g->att, &L->proj, L->proj_b, T, QB_CUDA_ACCUM);
        prof_mark(g, 3);
        // MLP sublayer: x += proj(gelu(fc(ln_2(x))))
        prefetch_ahead(g, T, l, 2);
        qb_cuda_trace_name(cu, "fc");
        if (!(drop & 8))
            qb_cuda_ln_matmul(cu, g->fc, g->x, L->ln_2_g, L->ln_2_b, eps, &L->fc, L->fc_b, T, QB_CUDA_GELU);
        prof_mark(g, 4);
        prefetch_ahead(g, T, l, 3);
        qb_cuda_trace_name(cu, "mproj");
        // (QB_CUDA_LN_LAST: the residual add makes the next layer's ln_1, or ln_f after the last layer)
        const gpu_layer *N = l + 1 < c->n_layer ? layer_for(g, T, l + 1) : NULL;
        qb_cuda_ln_after(cu, N ? N->ln_1_g : g->ln_f_g, N ? N->ln_1_b : g->ln_f_b, eps);
        if (!(drop & 16)) qb_cuda_matmul(cu, g->x, g->fc, &L->mproj, L->mproj_b, T, QB_CUDA_ACCUM);
        prof_mark(g, 5);
    }
    qb_cuda_prefetch_next(cu, NULL); // the lm_head's GEMV, if it is one, prefetches nothing
}

// Final layernorm and the output projection of rows first..T-1 into logits.
static void head(qb_gpu *g, int T, int first) {
    const qb_config *c = &g->m->cfg;
    qb_cuda_trace_name(g->cu, "lm_head");
    qb_cuda_ln_matmul(g->cu, g->logits, g->x + (size_t)first * c->n_embd, g->ln_f_g, g->ln_f_b, c->ln_eps,
                      &g->lm_head, NULL, T - first, QB_CUDA_STORE);
}

static void check_token(const qb_gpu *g, int tok) {
    const int V = g->m->cfg.n_vocab;
    if (tok < 0 || tok >= V) qb_die(QB_EXIT_DATA, "token id %d outside the vocabulary [0, %d)", tok, V);
}

void qb_gpu_forward(qb_gpu *g, const int *tokens, int T, int pos0, float *logits, int first_logit) {
    const qb_config *c = &g->m->cfg;
    if (T < 1 || T > g->max_T || pos0 < 0 || pos0 + T > g->n_cache || first_logit < 0 || first_logit >= T)
        qb_die(QB_EXIT_DATA, "forward: %d tokens at position %d (logits from %d) do not fit (batch %d, context %d)", T,
               pos0, first_logit, g->max_T, g->n_cache);
    for (int t = 0; t < T; t++) check_token(g, tokens[t]);
    qb_cuda_to_device(g->cu, g->tokens, tokens, (size_t)T * sizeof(int));
    qb_cuda_ln_stats_begin(g->cu, T, 2 * c->n_layer); // (each layer's two residual adds)
    qb_cuda_embed(g->cu, g->x, g->tokens, &g->wte, &g->wpe, pos0, T);
    blocks(g, T, pos0);
    head(g, T, first_logit);
    const int n = T - first_logit;
    qb_cuda_to_host(g->cu, logits, g->logits, (size_t)n * c->n_vocab * sizeof(float));
    sample_mem(g);
}

// The greedy step on the device: token slot in, argmax into the token slot.
static void decode_step(qb_gpu *g, int pos0) {
    int *slot = qb_cuda_token_slot(g->cu);
    prof_mark(g, -1);
    qb_cuda_ln_stats_begin(g->cu, 1, 2 * g->m->cfg.n_layer);
    qb_cuda_embed(g->cu, g->x, slot, &g->wte, &g->wpe, pos0, 1);
    prof_mark(g, 0);
    blocks(g, 1, pos0);
    head(g, 1, 0);
    prof_mark(g, 6);
    qb_cuda_argmax(g->cu, slot, g->logits, g->m->cfg.n_vocab);
    prof_mark(g, 7);
    if (g->profile) g->prof_n++;
}

// The greedy step as the graph records it (qb_cuda_graph_tune's callback).
static void record_step(void *g) { decode_step((qb_gpu *)g, QB_CUDA_POS_DEVICE); }

// Captures the greedy step as a graph (position and token from the device
// slots, the token tok): first run once eagerly, as scratch the step uses
// grows only outside capture (at the slots' position, so the state is what
// the graph leaves). The first capture also times the GEMVs' rows per block
// in the graph (qb_cuda_graph_tune); its replays overwrite the token slot,
// which is restored.
static void capture_step(qb_gpu *g, int tok) {
    int *slot = qb_cuda_token_slot(g->cu);
    decode_step(g, QB_CUDA_POS_DEVICE);
    qb_cuda_to_device(g->cu, slot, &tok, sizeof tok);
    qb_cuda_graph_begin(g->cu);
    decode_step(g, QB_CUDA_POS_DEVICE);
    qb_cuda_graph_end(g->cu);
    if (!g->graph_tuned) {
        g->graph_tuned = 1;
        qb_cuda_graph_tune(g->cu, record_step, g);
        qb_cuda_to_device(g->cu, slot, &tok, sizeof tok);
    }
}

void qb_gpu_prepare_decode(qb_gpu *g) {
    if (g->persistent || !g->graph_on || g->graph_tuned) return;
    const int tok = 0;
    qb_cuda_to_device(g->cu, qb_cuda_token_slot(g->cu), &tok, sizeof tok);
    qb_cuda_set_pos(g->cu, 0);
    capture_step(g, tok);
    qb_cuda_sync(g->cu);
}

int qb_gpu_decode_greedy(qb_gpu *g, int tok, int pos) {
    if (pos < 0 || pos >= g->n_cache) qb_die(QB_EXIT_DATA, "decode: position %d outside the cache of %d", pos, g->n_cache);
    check_token(g, tok);
    int *slot = qb_cuda_token_slot(g->cu);
    qb_cuda_to_device(g->cu, slot, &tok, sizeof tok);
    if (g->persistent)
        qb_cuda_step_run(g->step, pos);
    else if (!g->graph_on) {
        g->profile = getenv("QB_GPU_PROFILE") != NULL;
        decode_step(g, pos);
        g->profile = 0;
    }
    else {
        qb_cuda_set_pos(g->cu, pos);
        if (!qb_cuda_graph_ready(g->cu)) capture_step(g, tok);
        qb_cuda_graph_launch(g->cu);
    }
    int next = 0;
    qb_cuda_to_host(g->cu, &next, slot, sizeof next);
    if (pos == g->n_cache - 1 || pos % 64 == 0) sample_mem(g);
    return next;
}

int qb_gpu_decode_greedy_run(qb_gpu *g, int tok, int pos, int n, int (*on_token)(void *arg, int tok), void *arg) {
    if (n <= 0) return 0;
    if (pos < 0 || pos + n > g->n_cache)
        qb_die(QB_EXIT_DATA, "decode: %d steps from position %d do not fit the cache of %d", n, pos, g->n_cache);
    check_token(g, tok);
    int got = 0;
    if (g->persistent || !g->graph_on || g->ahead < 2) { // one step at a time
        while (got < n) {
            tok = qb_gpu_decode_greedy(g, tok, pos + got++);
            if (on_token(arg, tok)) break;
        }
        return got;
    }
    qb_cuda_to_device(g->cu, qb_cuda_token_slot(g->cu), &tok, sizeof tok);
    if (!qb_cuda_graph_ready(g->cu)) {
        qb_cuda_set_pos(g->cu, pos);
        capture_step(g, tok);
    }
    // Launch up to `ahead` replays, then one more as each token comes back.
    qb_cuda_ahead_begin(g->cu, pos);
    int sent = 0;
    while (got < n) {
        while (sent < n && sent - got < g->ahead) qb_cuda_ahead_launch(g->cu), sent++;
        const int t = qb_cuda_ahead_token(g->cu, pos + got++);
        if ((pos + got) % 64 == 0) sample_mem(g);
        if (on_token(arg, t)) break;
    }
    qb_cuda_ahead_end(g->cu); // (steps launched past a stop run out; the cache past the last token is rewritten before it is read)
    sample_mem(g);
    return got;
}

void qb_gpu_set_graph(qb_gpu *g, int on) { g->graph_on = on; }

// The persistent step's op list: the same named steps as decode_step, in order.
static qb_cuda_step *build_step(qb_gpu *g) {
    const qb_config *c = &g->m->cfg;
    const int E = c->n_embd, H = c->n_head;
    const float eps = c->ln_eps;
    const size_t cache_layer = (size_t)g->n_cache * E;
    qb_cuda_step *s = qb_cuda_step_new(g->cu);
    qb_cuda_step_embed(s, g->x, &g->wte, &g->wpe);
    for (int l = 0; l < c->n_layer; l++) {
        const gpu_layer *L = &g->layers[l];
        uint16_t *kc = g->k_cache + l * cache_layer, *vc = g->v_cache + l * cache_layer;
        // attention sublayer: x += proj(attention(qkv(ln_1(x))))
        qb_cuda_step_ln_matmul(s, g->qkv, g->x, L->ln_1_g, L->ln_1_b, eps, &L->qkv, L->qkv_b, QB_CUDA_STORE, kc, vc);
        qb_cuda_step_attention(s, g->att, g->qkv, 3 * E, kc, vc, H, E / H, g->n_cache);
        qb_cuda_step_matmul(s, g->x, g->att, &L->proj, L->proj_b, QB_CUDA_ACCUM);
        // MLP sublayer: x += proj(gelu(fc(ln_2(x))))
        qb_cuda_step_ln_matmul(s, g->fc, g->x, L->ln_2_g, L->ln_2_b, eps, &L->fc, L->fc_b, QB_CUDA_GELU, NULL, NULL);
        qb_cuda_step_matmul(s, g->x, g->fc, &L->mproj, L->mproj_b, QB_CUDA_ACCUM);
    }
    qb_cuda_step_ln_matmul(s, g->logits, g->x, g->ln_f_g, g->ln_f_b, eps, &g->lm_head, NULL, QB_CUDA_STORE, NULL,
                           NULL);
    qb_cuda_step_argmax(s, g->logits, c->n_vocab);
    qb_cuda_step_ready(s);
    return s;
}

int qb_gpu_set_persistent(qb_gpu *g, int on) {
    const qb_config *c = &g->m->cfg;
    if (on && (c->n_embd > 2048 || c->n_embd / c->n_head > 256)) return 0;
    if (on && !g->step) g->step = build_step(g);
    g->persistent = on;
    return 1;
}
const char *qb_gpu_name(const qb_gpu *g) { return g->name; }
const char *qb_gpu_driver(const qb_gpu *g) { return g->driver; }
double qb_gpu_peak_bytes(qb_gpu *g) {
    sample_mem(g);
    return g->peak;
}
double qb_gpu_weight_bytes(const qb_gpu *g) { return g->weight_bytes; }

double qb_gpu_step_bytes(const qb_gpu *g, int n_pos) {
    const qb_config *c = &g->m->cfg;
    // qb_model_step_bytes counts float32 K and V rows; ours are float16.
    return qb_model_step_bytes(g->m, n_pos) - 4.0 * n_pos * c->n_embd * c->n_layer;
}
#endif
