// quantize: convert a GPT-2 checkpoint (Hugging Face directory or GGUF) into
// one self-contained GGUF file (arch gpt2, llama.cpp's names and keys, the
// tokenizer embedded) with each tensor in the type a policy gives it. One
// TSV row per tensor goes to --report FILE (default stderr), one summary
// row to stdout. See tools/man/quantize.1.
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "calib.h"
#include "gguf.h"
#include "model.h"
#include "quant.h"
#include "tokenizer.h"
#include "util.h"

static const char usage[] =
    "usage: quantize IN OUT.gguf (--type T | --preset P) [OPTIONS]\n"
    "Writes the GPT-2 model IN (a Hugging Face directory or a GGUF file) to OUT.gguf\n"
    "with its matrices in weight type T; norms and biases stay f32.\n"
    "\n"
    "  --type T          the four matrices of every block: f32 f16 bf16 q8_0 q4_0 q4_1\n"
    "                    q4_k q6_k iq4_nl\n"
    "  --embed T         token and position embeddings (default: f32, or T when T is\n"
    "                    a float type)\n"
    "  --output T        the output projection (default: as the token embedding, and\n"
    "                    then tied to it: stored once)\n"
    "  --fallback T      for a matrix whose rows are not whole blocks of its type\n"
    "                    (default: q4_k -> iq4_nl, q6_k -> q8_0, else f16); said on stderr\n"
    "  --preset P        a whole policy (options given explicitly still win):\n"
    "                      dynamic-int8  q8_0 matrices, f32 embeddings and output,\n"
    "                                    activations int8 at run time (W8A8)\n"
    "                      all-int8      q8_0 everywhere incl. embeddings and tied output\n"
    "                      static-int8   dynamic-int8 plus per-tensor activation scales\n"
    "                                    calibrated on --calib FILE (needed)\n"
    "                      q4_k_m        q4_k; q6_k for attn_qkv, for ffn_down in the\n"
    "                                    layers llama.cpp gives more bits, and the output\n"
    "  --act MODE        activation mode stored for the engine: f32 (weight-only) or q8\n"
    "  --calib FILE      calibration text for static activation scales\n"
    "  --calib-tokens N  tokens of it to run (default 8192)\n"
    "  --calib-pct P     clip at this percentile of |x| (default 99.99)\n"
    "  --report FILE     the per-tensor TSV (default: standard error)\n"
    "  --name NAME       general.name (default: the input's base name)\n"
    "  -t, --threads N   threads (default 2)\n"
    "  -q, --quiet       no progress bar\n"
    "  -h, --help        this help\n"
    "Report columns: name shape type bytes rmse rel_rmse.\n"
    "Summary columns: model policy type act file_bytes params bits_per_weight tensors seconds.\n"
    "Exit status: 0 ok, 1 usage, 2 data.\n";

typedef struct {
    const char *in, *out, *preset, *calib, *report, *name;
    int type, embed, output, fallback, act;
    long calib_tokens;
    double calib_pct;
    int threads, quiet;
} options;

static int parse_type(const char *opt, const char *s) {
    int t = qb_type_parse(s);
    if (t < 0) qb_die(QB_EXIT_USAGE, "%s: unknown type '%s' (f32 f16 bf16 q8_0 q4_0 q4_1 q4_k q6_k iq4_nl)", opt, s);
    return t;
}

static int is_float(int t) { return t == QB_TYPE_F32 || t == QB_TYPE_F16 || t == QB_TYPE_BF16; }

static options parse_args(int argc, char **argv) {
    options o = {.type = -1, .embed = -1, .output = -1, .fallback = -1, .act = -1, .calib_tokens = 8192,
                 .calib_pct = 99.99, .threads = 2};
    enum { O_TYPE = 256, O_EMBED, O_OUTPUT, O_FALLBACK, O_PRESET, O_ACT, O_CALIB, O_CALIB_TOKENS, O_CALIB_PCT,
           O_REPORT, O_NAME };
    static const struct option longs[] = {
        {"type", required_argument, 0, O_TYPE},       {"embed", required_argument, 0, O_EMBED},
        {"output", required_argument, 0, O_OUTPUT},   {"fallback", required_argument, 0, O_FALLBACK},
        {"preset", required_argument, 0, O_PRESET},   {"act", required_argument, 0, O_ACT},
        {"calib", required_argument, 0, O_CALIB},     {"calib-tokens", required_argument, 0, O_CALIB_TOKENS},
        {"calib-pct", required_argument, 0, O_CALIB_PCT}, {"report", required_argument, 0, O_REPORT},
        {"name", required_argument, 0, O_NAME},       {"threads", required_argument, 0, 't'},
        {"quiet", no_argument, 0, 'q'},               {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":t:qh", longs, NULL)) != -1) {
        switch (c) {
        case O_TYPE: o.type = parse_type("--type", optarg); break;
        case O_EMBED: o.embed = parse_type("--embed", optarg); break;
        case O_OUTPUT: o.output = parse_type("--output", optarg); break;
        case O_FALLBACK: o.fallback = parse_type("--fallback", optarg); break;
        case O_PRESET: o.preset = optarg; break;
        case O_ACT:
            if (!strcmp(optarg, "f32")) o.act = QB_ACT_F32;
            else if (!strcmp(optarg, "q8")) o.act = QB_ACT_Q8;
            else qb_die(QB_EXIT_USAGE, "--act: unknown mode '%s' (f32 or q8)", optarg);
            break;
        case O_CALIB: o.calib = optarg; break;
        case O_CALIB_TOKENS: o.calib_tokens = qb_parse_long("--calib-tokens", optarg, 1, 1l << 30); break;
        case O_CALIB_PCT: o.calib_pct = qb_parse_double("--calib-pct", optarg, 50, 100); break;
        case O_REPORT: o.report = optarg; break;
        case O_NAME: o.name = optarg; break;
        case 't': o.threads = (int)qb_parse_long("-t", optarg, 1, 1024); break;
        case 'q': o.quiet = 1; break;
        case 'h': fputs(usage, stdout); exit(0);
        case ':': qb_die(QB_EXIT_USAGE, "option %s needs a value (try --help)", argv[optind - 1]);
        default: qb_die(QB_EXIT_USAGE, "unknown option %s (try --help)", argv[optind - 1]);
        }
    }
    if (argc - optind != 2) qb_die(QB_EXIT_USAGE, "expected IN and OUT.gguf (try --help)");
    o.in = argv[optind], o.out = argv[optind + 1];
    if (o.preset) {
        int t = QB_TYPE_Q8_0, e = QB_TYPE_F32, act = QB_ACT_Q8;
        if (!strcmp(o.preset, "dynamic-int8")) {
        } else if (!strcmp(o.preset, "all-int8")) {
            e = QB_TYPE_Q8_0;
        } else if (!strcmp(o.preset, "static-int8")) {
            if (!o.calib) qb_die(QB_EXIT_USAGE, "--preset static-int8 needs --calib FILE");
        } else if (!strcmp(o.preset, "q4_k_m")) {
            t = QB_TYPE_Q4_K, e = QB_TYPE_Q4_K, act = QB_ACT_F32;
            if (o.output < 0) o.output = QB_TYPE_Q6_K;
        } else
            qb_die(QB_EXIT_USAGE, "--preset: unknown policy '%s' (dynamic-int8 all-int8 static-int8 q4_k_m)", o.preset);
        if (o.type < 0) o.type = t;
        if (o.embed < 0) o.embed = e;
        if (o.act < 0) o.act = act;
    }
    if (o.type < 0) qb_die(QB_EXIT_USAGE, "give --type T or --preset P (try --help)");
    if (o.embed < 0) o.embed = is_float(o.type) ? o.type : QB_TYPE_F32;
    if (o.output < 0) o.output = o.embed;
    if (o.act < 0) o.act = QB_ACT_F32;
    if (o.calib && !(o.preset && !strcmp(o.preset, "static-int8")) && is_float(o.type))
        qb_die(QB_EXIT_USAGE, "--calib: static activation scales need quantized matrices, not %s", qb_type_name(o.type));
    return o;
}

// ---- what gets written -------------------------------------------------------

typedef enum { K_EMBD, K_POS, K_QKV, K_PROJ, K_UP, K_DOWN, K_OUTPUT, K_VEC } kind;

typedef struct {
    char name[64];
    kind k;
    int layer;
    const qb_weight *w; // matrices
    const float *v;     // vectors
    int n_in, n_out;    // ggml dims [n_in, n_out] (vectors: n_in values, n_out 1)
    int type;
    int calib;          // index into the calibration scales, or -1
    size_t bytes;
} entry;

// llama.cpp's choice of layers that get more bits in its _M mixes.
static int more_bits(int l, int n) { return l < n / 8 || l >= 7 * n / 8 || (l - n / 8) % 3 == 2; }

static int base_type(const options *o, kind k, int layer, int n_layer) {
    switch (k) {
    case K_EMBD:
    case K_POS: return o->embed;
    case K_OUTPUT: return o->output;
    case K_VEC: return QB_TYPE_F32;
    default: break;
    }
    if (o->preset && !strcmp(o->preset, "q4_k_m") && o->type == QB_TYPE_Q4_K)
        if (k == K_QKV || (k == K_DOWN && more_bits(layer, n_layer))) return QB_TYPE_Q6_K;
    return o->type;
}

// A type whose block divides rows of n, starting from t (*fell set when not t).
static int fit_type(const options *o, int t, int n, int *fell) {
    *fell = 0;
    if (n % qb_type_block((qb_type)t) == 0) return t;
    int f = o->fallback >= 0 ? o->fallback : t == QB_TYPE_Q4_K ? QB_TYPE_IQ4_NL : t == QB_TYPE_Q6_K ? QB_TYPE_Q8_0 : QB_TYPE_F16;
    if (n % qb_type_block((qb_type)f)) f = QB_TYPE_F16;
    *fell = 1;
    return f;
}

// The matrix as float rows [n_out][n_in], whatever its stored layout and type.
static float *matrix_f32(const qb_weight *w) {
    float *out = qb_malloc(sizeof(float) * (size_t)w->n_in * w->n_out);
    if (w->layout == QB_LAYOUT_OUT_IN) {
        for (int o = 0; o < w->n_out; o++) qb_weight_row(w, o, out + (size_t)o * w->n_in);
        return out;
    }
    // Conv1D [n_in][n_out]: transpose, a row of the input at a time.
    float *row = qb_malloc(sizeof(float) * w->n_out);
    for (int i = 0; i < w->n_in; i++) {
        qb_dequantize_row(w->type, (const uint8_t *)w->data + qb_row_bytes(w->type, w->n_out) * i, row, w->n_out);
        for (int o = 0; o < w->n_out; o++) out[(size_t)o * w->n_in + i] = row[o];
    }
    free(row);
    return out;
}

typedef struct {
    const float *src;
    uint8_t *dst;
    float *deq;
    int type, n_in, n_rows;
    double *sq_err, *sq_src; // per thread
} quant_job;

static void quant_worker(void *ctx, int ith, int nth) {
    quant_job *j = ctx;
    const size_t rb = qb_row_bytes((qb_type)j->type, j->n_in);
    int r0 = (int)((long)j->n_rows * ith / nth), r1 = (int)((long)j->n_rows * (ith + 1) / nth);
    double e = 0, s = 0;
    for (int r = r0; r < r1; r++) {
        const float *x = j->src + (size_t)r * j->n_in;
        qb_quantize_row((qb_type)j->type, x, j->dst + rb * r, j->n_in);
        qb_dequantize_row((qb_type)j->type, j->dst + rb * r, j->deq + (size_t)r * j->n_in, j->n_in);
        for (int i = 0; i < j->n_in; i++) {
            double d = (double)j->deq[(size_t)r * j->n_in + i] - x[i];
            e += d * d;
            s += (double)x[i] * x[i];
        }
    }
    j->sq_err[ith] = e, j->sq_src[ith] = s;
}

static int check_finite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

// ---- metadata ----------------------------------------------------------------

// llama.cpp's general.file_type for the matrices' type (its llama_ftype).
static uint32_t file_type(const options *o) {
    if (o->preset && !strcmp(o->preset, "q4_k_m")) return 15;
    switch (o->type) {
    case QB_TYPE_F32: return 0;
    case QB_TYPE_F16: return 1;
    case QB_TYPE_Q4_0: return 2;
    case QB_TYPE_Q4_1: return 3;
    case QB_TYPE_Q8_0: return 7;
    case QB_TYPE_Q4_K: return 14;
    case QB_TYPE_Q6_K: return 18;
    case QB_TYPE_IQ4_NL: return 25;
    case QB_TYPE_BF16: return 32;
    }
    return 0;
}

static void set_metadata(qb_gguf_writer *w, const qb_model *m, const options *o, const char *name) {
    const qb_config *c = &m->cfg;
    qb_gguf_set_str(w, "general.architecture", "gpt2");
    qb_gguf_set_str(w, "general.name", name);
    qb_gguf_set_u32(w, "general.file_type", file_type(o));
    if (!is_float(o->type) || !is_float(o->embed) || !is_float(o->output))
        qb_gguf_set_u32(w, "general.quantization_version", 2);
    qb_gguf_set_u32(w, "gpt2.context_length", (uint32_t)c->n_ctx);
    qb_gguf_set_u32(w, "gpt2.embedding_length", (uint32_t)c->n_embd);
    qb_gguf_set_u32(w, "gpt2.feed_forward_length", (uint32_t)c->n_inner);
    qb_gguf_set_u32(w, "gpt2.block_count", (uint32_t)c->n_layer);
    qb_gguf_set_u32(w, "gpt2.attention.head_count", (uint32_t)c->n_head);
    qb_gguf_set_f32(w, "gpt2.attention.layer_norm_epsilon", c->ln_eps);
    // The tokenizer: byte-level BPE tokens and merges as llama.cpp's gpt2 vocab reads them.
    qb_gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    qb_gguf_set_str(w, "tokenizer.ggml.pre", "gpt-2");
    const int nv = qb_tokenizer_n_vocab(m->tok), nm = qb_tokenizer_n_merges(m->tok), eot = qb_tokenizer_eot(m->tok);
    qb_gguf_str *toks = qb_malloc(sizeof *toks * (size_t)nv);
    int32_t *types = qb_malloc(sizeof *types * (size_t)nv);
    for (int i = 0; i < nv; i++) {
        const char *s = qb_token_string(m->tok, i);
        if (!s) qb_die(QB_EXIT_DATA, "%s: token id %d has no string (ids must be dense)", m->path, i);
        toks[i] = (qb_gguf_str){s, strlen(s)};
        types[i] = i == eot ? 3 : 1; // control token, normal token
    }
    qb_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, (size_t)nv);
    qb_gguf_set_arr(w, "tokenizer.ggml.token_type", QB_GGUF_INT32, types, (size_t)nv);
    qb_gguf_str *mer = qb_malloc(sizeof *mer * (size_t)(nm ? nm : 1));
    for (int i = 0; i < nm; i++) {
        const char *s = qb_tokenizer_merge(m->tok, i);
        mer[i] = (qb_gguf_str){s, strlen(s)};
    }
    qb_gguf_set_arr_str(w, "tokenizer.ggml.merges", mer, (size_t)nm);
    if (eot >= 0) {
        qb_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)eot);
        qb_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eot);
    }
    free(toks), free(types), free(mer);
    qb_gguf_set_str(w, "qbench.policy", o->preset ? o->preset : "custom");
    qb_gguf_set_str(w, "qbench.act_mode", qb_act_name((qb_act_mode)o->act));
}

// ---- main ------------------------------------------------------------------------

static int *calib_tokens(const qb_model *m, const char *path, size_t *n) {
    size_t len;
    char *text = qb_read_file(path, &len);
    int *ids = NULL;
    *n = qb_tokenize(m->tok, text, len, &ids);
    free(text);
    if (*n < 2) qb_die(QB_EXIT_DATA, "%s: calibration text has %zu tokens (need at least 2)", path, *n);
    return ids;
}

int main(int argc, char **argv) {
    options o = parse_args(argc, argv);
    double t0 = qb_now();
    qb_model *m = qb_model_load(o.in);
    const qb_config *c = &m->cfg;
    const int E = c->n_embd, I = c->n_inner, NL = c->n_layer;

    // The tensors in llama.cpp's order.
    const int tied = m->lm_head.data == m->wte.data && o.output == o.embed;
    int n_ent = 2 + NL * 12 + 2 + (tied ? 0 : 1);
    entry *ent = qb_calloc((size_t)n_ent, sizeof *ent);
    int k = 0;
#define MAT(nm, kk, l, wp, ci)                                                                                         \
    (snprintf(ent[k].name, sizeof ent[k].name, "%s", nm), ent[k].k = kk, ent[k].layer = l, ent[k].w = wp,            \
     ent[k].n_in = (wp)->n_in, ent[k].n_out = (wp)->n_out, ent[k].calib = ci, k++)
#define VEC(nm, vp, n)                                                                                                 \
    (snprintf(ent[k].name, sizeof ent[k].name, "%s", nm), ent[k].k = K_VEC, ent[k].v = vp, ent[k].n_in = n,           \
     ent[k].n_out = 1, ent[k].calib = -1, k++)
    char nm[64];
    MAT("token_embd.weight", K_EMBD, -1, &m->wte, tied ? 4 * NL : -1);
    MAT("position_embd.weight", K_POS, -1, &m->wpe, -1);
    for (int l = 0; l < NL; l++) {
        const qb_layer *L = &m->layers[l];
#define N(s) (snprintf(nm, sizeof nm, "blk.%d.%s", l, s), nm)
        VEC(N("attn_norm.weight"), L->ln_1_g, E);
        VEC(N("attn_norm.bias"), L->ln_1_b, E);
        MAT(N("attn_qkv.weight"), K_QKV, l, &L->attn_qkv, 4 * l);
        VEC(N("attn_qkv.bias"), L->attn_qkv_b, 3 * E);
        MAT(N("attn_output.weight"), K_PROJ, l, &L->attn_proj, 4 * l + 1);
        VEC(N("attn_output.bias"), L->attn_proj_b, E);
        VEC(N("ffn_norm.weight"), L->ln_2_g, E);
        VEC(N("ffn_norm.bias"), L->ln_2_b, E);
        MAT(N("ffn_up.weight"), K_UP, l, &L->mlp_fc, 4 * l + 2);
        VEC(N("ffn_up.bias"), L->mlp_fc_b, I);
        MAT(N("ffn_down.weight"), K_DOWN, l, &L->mlp_proj, 4 * l + 3);
        VEC(N("ffn_down.bias"), L->mlp_proj_b, E);
#undef N
    }
    VEC("output_norm.weight", m->ln_f_g, E);
    VEC("output_norm.bias", m->ln_f_b, E);
    if (!tied) MAT("output.weight", K_OUTPUT, -1, &m->lm_head, 4 * NL);
    // Types, with one line on stderr per fallback taken (type -> fallback).
    int fell_from[64] = {0}, fell_to[64], fell_first[64];
    for (int i = 0; i < n_ent; i++) {
        entry *e = &ent[i];
        int want = base_type(&o, e->k, e->layer, NL), fell;
        e->type = fit_type(&o, want, e->n_in, &fell);
        if (fell) {
            if (!fell_from[want]) fell_first[want] = i;
            fell_from[want]++, fell_to[want] = e->type;
        }
        e->bytes = qb_row_bytes((qb_type)e->type, e->n_in) * (size_t)e->n_out;
    }
    for (int t = 0; t < 64; t++)
        if (fell_from[t])
            qb_warn("%d tensors (first %s, rows of %d) are not whole %s blocks of %d: written as %s", fell_from[t],
                    ent[fell_first[t]].name, ent[fell_first[t]].n_in, qb_type_name((qb_type)t), qb_type_block((qb_type)t),
                    qb_type_name((qb_type)fell_to[t]));

    // Static INT8: per-tensor activation scales from the calibration text.
    float *scales = NULL;
    if (o.calib) {
        size_t n_tok;
        int *ids = calib_tokens(m, o.calib, &n_tok);
        scales = qb_malloc(sizeof(float) * (size_t)qb_calib_n(m));
        float *amax = qb_malloc(sizeof(float) * (size_t)qb_calib_n(m));
        double tc = qb_now();
        qb_calibrate(m, ids, n_tok, (size_t)o.calib_tokens, o.threads, o.calib_pct, scales, amax);
        if (!o.quiet)
            fprintf(stderr, "quantize: calibrated %d activation scales on %zu tokens of %s in %.1f s\n", qb_calib_n(m),
                    n_tok < (size_t)o.calib_tokens ? n_tok : (size_t)o.calib_tokens, o.calib, qb_now() - tc);
        free(ids), free(amax);
    }

    char *name = o.name ? qb_strdup(o.name) : qb_strdup(m->name);
    qb_gguf_writer *w = qb_gguf_writer_new();
    set_metadata(w, m, &o, name);
    if (scales)
        for (int i = 0; i < n_ent; i++)
            if (ent[i].calib >= 0 && !is_float(ent[i].type)) {
                char key[128];
                snprintf(key, sizeof key, "qbench.act_scale.%s", ent[i].name);
                qb_gguf_set_f32(w, key, scales[ent[i].calib]);
            }
    for (int i = 0; i < n_ent; i++) {
        int64_t ne[2] = {ent[i].n_in, ent[i].n_out};
        qb_gguf_add_tensor(w, ent[i].name, ent[i].type, ent[i].k == K_VEC ? 1 : 2, ne, NULL);
    }

    // Report and data, tensor by tensor.
    qb_out out, rep = {0};
    qb_gguf_write_begin(w, &out, o.out);
    FILE *rf = o.report ? qb_out_open(&rep, o.report, "w") : stderr;
    if (o.report || !o.quiet) fprintf(rf, "name\tshape\ttype\tbytes\trmse\trel_rmse\n");
    qb_pool *pool = qb_pool_new(o.threads);
    double *sq_err = qb_calloc((size_t)o.threads, sizeof(double)), *sq_src = qb_calloc((size_t)o.threads, sizeof(double));
    size_t total_el = 0, total_bytes = 0, by_type[64] = {0};
    double total_el_d = 0;
    qb_progress bar;
    double work = 0;
    for (int i = 0; i < n_ent; i++) work += (double)ent[i].n_in * ent[i].n_out;
    qb_progress_begin(&bar, "quantized", work, "weights", o.quiet);
    double done = 0;
    for (int i = 0; i < n_ent; i++) {
        entry *e = &ent[i];
        const size_t n_el = (size_t)e->n_in * e->n_out;
        float *src = e->w ? matrix_f32(e->w) : NULL;
        const float *x = src ? src : e->v;
        if (!check_finite(x, n_el)) qb_die(QB_EXIT_DATA, "%s: tensor %s holds NaN or Inf", o.in, e->name);
        uint8_t *dst = qb_aligned_alloc(e->bytes);
        float *deq = qb_malloc(sizeof(float) * n_el);
        quant_job job = {x, dst, deq, e->type, e->n_in, e->n_out, sq_err, sq_src};
        for (int t = 0; t < o.threads; t++) sq_err[t] = sq_src[t] = 0;
        qb_pool_run(pool, quant_worker, &job);
        double se = 0, ss = 0;
        for (int t = 0; t < o.threads; t++) se += sq_err[t], ss += sq_src[t];
        qb_gguf_write_data(w, &out, (size_t)i, dst, e->bytes);
        if (o.report || !o.quiet) {
            if (e->k == K_VEC)
                fprintf(rf, "%s\t%d\t%s\t%zu\t%.6g\t%.6g\n", e->name, e->n_in, qb_type_name((qb_type)e->type), e->bytes,
                        sqrt(se / n_el), ss > 0 ? sqrt(se / ss) : 0.0);
            else
                fprintf(rf, "%s\t%dx%d\t%s\t%zu\t%.6g\t%.6g\n", e->name, e->n_out, e->n_in, qb_type_name((qb_type)e->type),
                        e->bytes, sqrt(se / n_el), ss > 0 ? sqrt(se / ss) : 0.0);
        }
        total_el += n_el, total_el_d += (double)n_el, total_bytes += e->bytes;
        by_type[e->type]++;
        free(src), free(dst), free(deq);
        done += (double)n_el;
        qb_progress_update(&bar, done);
    }
    qb_progress_end(&bar);
    qb_gguf_write_end(w, &out);
    if (o.report) qb_out_commit(&rep);

    // Summary row.
    uint64_t file_bytes = qb_gguf_writer_size(w);
    char tensors[256] = "";
    static const int order[] = {QB_TYPE_F32, QB_TYPE_F16, QB_TYPE_BF16, QB_TYPE_Q8_0, QB_TYPE_Q6_K,
                                QB_TYPE_Q4_K, QB_TYPE_Q4_1, QB_TYPE_Q4_0, QB_TYPE_IQ4_NL};
    for (size_t i = 0; i < sizeof order / sizeof *order; i++)
        if (by_type[order[i]])
            snprintf(tensors + strlen(tensors), sizeof tensors - strlen(tensors), "%s%s:%zu", *tensors ? "," : "",
                     qb_type_name((qb_type)order[i]), by_type[order[i]]);
    printf("model\tpolicy\ttype\tact\tfile_bytes\tparams\tbits_per_weight\ttensors\tseconds\n");
    printf("%s\t%s\t%s\t%s\t%llu\t%zu\t%.4f\t%s\t%.2f\n", name, o.preset ? o.preset : "custom",
           qb_type_name((qb_type)o.type), qb_act_name((qb_act_mode)o.act), (unsigned long long)file_bytes, total_el,
           8.0 * total_bytes / total_el_d, tensors, qb_now() - t0);
    qb_pool_free(pool);
    qb_gguf_writer_free(w);
    free(sq_err), free(sq_src), free(ent), free(scales), free(name);
    qb_model_free(m);
    return 0;
}
