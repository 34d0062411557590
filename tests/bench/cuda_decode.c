// cuda_decode: decode and prefill speed of the CUDA forward pass on synthetic
// GPT-2 shapes (random weights of the exact shapes, built in memory, every
// matrix in the weight type asked for; norms 1, biases small).
//
//   cuda_decode [-m gpt2,gpt2-medium,gpt2-large,gpt2-xl] [-w f32,f16,...]
//               [-p PROMPT_TOKENS] [-n NEW_TOKENS] [-P PREFILL_TOKENS] [-r REPEATS]
//
// Per (model, type): load_s (random weights uploaded), ttft_s (PROMPT tokens
// prefill + first token, default 16), decode_tok_s (NEW tokens greedy, default
// 256, (n-1)/(t_last - t_first), CUDA graph), decode_nograph_tok_s (the same
// steps launched kernel by kernel), decode_persistent_tok_s (the same steps as
// one persistent kernel each, repeats interleaved with the graph's; empty
// where the model exceeds its limits), prefill_tok_s (PREFILL tokens, default
// 512, one forward pass), peak VRAM, the bytes a decode step reads (weights in
// their file layout + float16 K/V at the mean position) and frac_floor: the
// time that many bytes take at the measured copy bandwidth (bytes read plus
// written, 1 GiB device-to-device) over the measured step time (graph; and
// frac_floor_persistent for the persistent kernel). Decode and
// prefill are medians of REPEATS (default 3) after one warm-up. Types whose
// block does not divide a matrix's rows fall back to q8_0 for that matrix
// (q4_k, q6_k at gpt2-xl's 1600): the fallback column says so.
// One process runs every row (weights re-uploaded per row).
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
#include "cuda/cuda_backend.h"
#include "forward_cuda.h"
#include "model.h"

static unsigned long long rs = 0x9E3779B97F4A7C15ull;
static unsigned rnd(void) {
    rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
    return (unsigned)(rs >> 11);
}
static float gauss(void) { // sum of uniforms: cheap, roughly normal, unit variance
    float s = 0;
    for (int i = 0; i < 4; i++) s += (rnd() & 0xffff) / 65536.0f;
    return (s - 2.0f) * 1.732f;
}

typedef struct {
    const char *name;
    int n_layer, n_embd, n_head;
} shape;
static const shape SHAPES[] = {
    {"gpt2", 12, 768, 12}, {"gpt2-medium", 24, 1024, 16}, {"gpt2-large", 36, 1280, 20}, {"gpt2-xl", 48, 1600, 25}};

typedef struct {
    const char *name;
    qb_type t;
    int block, bytes, scale_at, scales;
    float scale;
} tinfo;
static const tinfo TYPES[] = {
    {"f32", QB_TYPE_F32, 1, 4, 0, 0, 0},           {"f16", QB_TYPE_F16, 1, 2, 0, 0, 0},
    {"bf16", QB_TYPE_BF16, 1, 2, 0, 0, 0},         {"q8_0", QB_TYPE_Q8_0, 32, 34, 0, 1, 0.02f / 64},
    {"q4_0", QB_TYPE_Q4_0, 32, 18, 0, 1, 0.005f},  {"q4_1", QB_TYPE_Q4_1, 32, 20, 0, 2, 0.005f},
    {"iq4_nl", QB_TYPE_IQ4_NL, 32, 18, 0, 1, 0.0003f}, {"q4_k", QB_TYPE_Q4_K, 256, 144, 0, 2, 0.0003f},
    {"q6_k", QB_TYPE_Q6_K, 256, 210, 208, 1, 0.0006f},
};
static const tinfo *find_type(const char *n) {
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
        if (!strcmp(TYPES[i].name, n)) return &TYPES[i];
    qb_die(QB_EXIT_USAGE, "unknown type %s", n);
}

// One random buffer per type, large enough for the largest matrix; every
// matrix of the model points into it (the GPU copies are distinct anyway).
static uint8_t *rand_buffer(const tinfo *ti, size_t n_values) {
    const size_t nb = n_values / ti->block, bytes = nb * ti->bytes;
    uint8_t *d = qb_malloc(bytes);
    for (size_t i = 0; i < nb; i++) {
        uint8_t *b = d + i * ti->bytes;
        if (ti->t == QB_TYPE_F32) {
            float v = 0.02f * gauss();
            memcpy(b, &v, 4);
        } else if (ti->t == QB_TYPE_F16 || ti->t == QB_TYPE_BF16) {
            float v = 0.02f * gauss();
            uint16_t h = ti->t == QB_TYPE_F16 ? qb_f32_to_f16(v) : qb_f32_to_bf16(v);
            memcpy(b, &h, 2);
        } else {
            for (int k = 0; k < ti->bytes; k++) b[k] = (uint8_t)rnd();
            for (int k = 0; k < ti->scales; k++) {
                uint16_t h = qb_f32_to_f16(ti->scale * (k ? 0.1f : 1.0f) * (0.5f + (rnd() & 0xff) / 256.0f));
                memcpy(b + ti->scale_at + 2 * k, &h, 2);
            }
        }
    }
    return d;
}

typedef struct {
    qb_model m;
    uint8_t *buf[2]; // the type's buffer and the q8_0 fallback's
    float *ones, *small;
    int fallback;
} synth;

static void synth_build(synth *s, const shape *sh, const tinfo *ti) {
    memset(s, 0, sizeof *s);
    qb_model *m = &s->m;
    const int E = sh->n_embd, I = 4 * E, V = 50257;
    m->cfg = (qb_config){V, 1024, E, sh->n_head, sh->n_layer, I, 1e-5f};
    const size_t biggest = (size_t)V * E;
    s->buf[0] = rand_buffer(ti, biggest);
    const tinfo *q8 = find_type("q8_0");
    s->buf[1] = rand_buffer(q8, biggest);
    s->ones = qb_malloc(sizeof(float) * I);
    s->small = qb_malloc(sizeof(float) * I);
    for (int i = 0; i < I; i++) s->ones[i] = 1.0f, s->small[i] = 0.01f * gauss();
#define W(n_in, n_out)                                                                                    \
    (qb_cuda_type_ok(ti->t, n_in) ? (qb_weight){ti->t, QB_LAYOUT_OUT_IN, n_in, n_out, s->buf[0]}         \
                                  : (s->fallback = 1, (qb_weight){QB_TYPE_Q8_0, QB_LAYOUT_OUT_IN, n_in, n_out, s->buf[1]}))
    m->wte = W(E, V);
    m->wpe = (qb_weight){QB_TYPE_F32, QB_LAYOUT_OUT_IN, E, 1024, NULL};
    m->wpe.data = qb_malloc(sizeof(float) * E * 1024);
    for (size_t i = 0; i < (size_t)E * 1024; i++) ((float *)m->wpe.data)[i] = 0.01f * gauss();
    m->lm_head = m->wte;
    m->layers = qb_calloc((size_t)sh->n_layer, sizeof *m->layers);
    for (int l = 0; l < sh->n_layer; l++) {
        qb_layer *L = &m->layers[l];
        L->ln_1_g = L->ln_2_g = s->ones;
        L->ln_1_b = L->ln_2_b = s->small;
        L->attn_qkv = W(E, 3 * E), L->attn_qkv_b = s->small;
        L->attn_proj = W(E, E), L->attn_proj_b = s->small;
        L->mlp_fc = W(E, I), L->mlp_fc_b = s->small;
        L->mlp_proj = W(I, E), L->mlp_proj_b = s->small;
    }
#undef W
    m->ln_f_g = s->ones, m->ln_f_b = s->small;
    m->path = (char *)sh->name;
    m->name = (char *)sh->name;
    snprintf(m->dtype, sizeof m->dtype, "%s", ti->name);
}

static void synth_free(synth *s) {
    free(s->buf[0]), free(s->buf[1]), free(s->ones), free(s->small);
    free((void *)s->m.wpe.data);
    free(s->m.layers);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *v, int n) {
    qsort(v, n, sizeof *v, cmp_d);
    return v[n / 2];
}

static double copy_gbps(void) {
    char err[256];
    qb_cuda *c = qb_cuda_open(0, err, sizeof err);
    if (!c) qb_die(QB_EXIT_DATA, "%s", err);
    const size_t n = 1ull << 30;
    void *a = qb_cuda_alloc(c, n), *b = qb_cuda_alloc(c, n);
    qb_cuda_memset(c, a, 1, n);
    double ms[9];
    for (int r = -2; r < 9; r++) {
        qb_cuda_event *e0 = qb_cuda_event_record(c);
        qb_cuda_copy(c, b, a, n);
        qb_cuda_event *e1 = qb_cuda_event_record(c);
        double t = qb_cuda_event_ms(e0, e1);
        if (r >= 0) ms[r] = t;
        qb_cuda_event_free(e0), qb_cuda_event_free(e1);
    }
    qb_cuda_free(c, a), qb_cuda_free(c, b);
    qb_cuda_close(c);
    return 2.0 * n / (median(ms, 9) * 1e-3) / 1e9;
}

static int keep_going(void *arg, int tok) { return (void)arg, (void)tok, 0; }

// Greedy decode of n tokens after a prompt, as generate does it (the steps
// queued ahead, QB_CUDA_AHEAD); returns tokens/s over steps 2..n.
static double decode_run(qb_gpu *g, const int *prompt, int P, int n, float *logits, int V, double *ttft) {
    const double t0 = qb_now();
    qb_gpu_forward(g, prompt, P, 0, logits, P - 1);
    int tok = 0;
    for (int i = 1; i < V; i++)
        if (logits[i] > logits[tok]) tok = i;
    const double t1 = qb_now();
    if (ttft) *ttft = t1 - t0;
    qb_gpu_decode_greedy_run(g, tok, P, n - 1, keep_going, NULL);
    return (n - 1) / (qb_now() - t1);
}

int main(int argc, char **argv) {
    const char *models = "gpt2,gpt2-medium,gpt2-large,gpt2-xl", *types = "f32,f16,bf16,q8_0,q4_0,q4_k,iq4_nl";
    int P = 16, N = 256, PF = 512, reps = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-m")) models = argv[i + 1];
        else if (!strcmp(argv[i], "-w")) types = argv[i + 1];
        else if (!strcmp(argv[i], "-p")) P = (int)qb_parse_long("-p", argv[i + 1], 1, 512);
        else if (!strcmp(argv[i], "-n")) N = (int)qb_parse_long("-n", argv[i + 1], 2, 1000);
        else if (!strcmp(argv[i], "-P")) PF = (int)qb_parse_long("-P", argv[i + 1], 2, 1024);
        else if (!strcmp(argv[i], "-r")) reps = (int)qb_parse_long("-r", argv[i + 1], 1, 50);
        else qb_die(QB_EXIT_USAGE, "unknown option %s", argv[i]);
    }
    const double bw = copy_gbps();
    printf("# copy bandwidth %.1f GB/s (1 GiB device-to-device, read + written)\n", bw);
    printf("model\ttype\tfallback\tparams_m\tload_s\tttft_s\tdecode_tok_s\tdecode_nograph_tok_s\tprefill_tok_s\t"
           "peak_vram_mb\tweights_mb\tstep_bytes\tfloor_tok_s\tfrac_floor\tgpu\tdecode_persistent_tok_s\t"
           "frac_floor_persistent\n");
    fflush(stdout);
    char *ml = qb_strdup(models), *save1 = NULL;
    for (char *mn = strtok_r(ml, ",", &save1); mn; mn = strtok_r(NULL, ",", &save1)) {
        const shape *sh = NULL;
        for (size_t i = 0; i < 4; i++)
            if (!strcmp(SHAPES[i].name, mn)) sh = &SHAPES[i];
        if (!sh) qb_die(QB_EXIT_USAGE, "unknown model %s", mn);
        char *tl = qb_strdup(types), *save2 = NULL;
        for (char *tn = strtok_r(tl, ",", &save2); tn; tn = strtok_r(NULL, ",", &save2)) {
            const tinfo *ti = find_type(tn);
            synth s;
            synth_build(&s, sh, ti);
            const int V = s.m.cfg.n_vocab;
            const double t0 = qb_now();
            qb_gpu *g = qb_gpu_new(&s.m, 1024, PF > P ? PF : P);
            const double load_s = qb_now() - t0;
            float *logits = qb_malloc(sizeof(float) * V);
            const int np = PF > P ? PF : P;
            int *prompt = qb_malloc(sizeof(int) * np);
            for (int i = 0; i < np; i++) prompt[i] = (int)(rnd() % V);
            double ttft[16], dec[16], dec_ng[16], dec_p[16], pf[16];
            decode_run(g, prompt, P, 8, logits, V, NULL); // warm-up (cuBLAS load, graph capture)
            const int pers = qb_gpu_set_persistent(g, 1);
            if (pers) decode_run(g, prompt, P, 8, logits, V, NULL); // its warm-up
            for (int r = 0; r < reps; r++) {
                qb_gpu_set_persistent(g, 0);
                dec[r] = decode_run(g, prompt, P, N, logits, V, &ttft[r]);
                if (pers) {
                    qb_gpu_set_persistent(g, 1);
                    dec_p[r] = decode_run(g, prompt, P, N, logits, V, NULL);
                }
            }
            qb_gpu_set_persistent(g, 0);
            qb_gpu_set_graph(g, 0);
            for (int r = 0; r < reps; r++) dec_ng[r] = decode_run(g, prompt, P, N, logits, V, NULL);
            qb_gpu_set_graph(g, 1);
            qb_gpu_forward(g, prompt, PF, 0, logits, PF - 1); // warm-up at this size
            for (int r = 0; r < reps; r++) {
                const double t = qb_now();
                qb_gpu_forward(g, prompt, PF, 0, logits, PF - 1);
                pf[r] = PF / (qb_now() - t);
            }
            const double d = median(dec, reps), step = qb_gpu_step_bytes(g, P + N / 2);
            const double floor_tok_s = bw * 1e9 / step;
            char pcol[64] = "\t";
            if (pers) {
                const double dp = median(dec_p, reps);
                snprintf(pcol, sizeof pcol, "%.1f\t%.3f", dp, dp / floor_tok_s);
            }
            printf("%s\t%s\t%s\t%.1f\t%.3f\t%.5f\t%.1f\t%.1f\t%.1f\t%.0f\t%.0f\t%.0f\t%.1f\t%.3f\t%s\t%s\n", sh->name,
                   ti->name, s.fallback ? "q8_0" : "", qb_model_params(&s.m) / 1e6, load_s, median(ttft, reps), d,
                   median(dec_ng, reps), median(pf, reps), qb_gpu_peak_bytes(g) / 1048576.0,
                   qb_gpu_weight_bytes(g) / 1048576.0, step, floor_tok_s, d / floor_tok_s, qb_gpu_name(g), pcol);
            fflush(stdout);
            free(logits), free(prompt);
            qb_gpu_free(g);
            synth_free(&s);
        }
        free(tl);
    }
    free(ml);
    return 0;
}
#endif
