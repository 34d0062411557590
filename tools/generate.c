// generate: run a GPT-2 model on a prompt, stream the continuation to stdout
// and time it. One TSV metrics row (header + row) goes to --metrics FILE or to
// stderr. Timings follow DESIGN.md's protocol: load_s apart; ttft_s from the
// start of the prompt pass to the first sampled token; decode_tok_s =
// (new tokens - 1) / (time of last token - time of first token). See
// tools/man/generate.1.
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_cli.h"
#include "forward.h"
#include "forward_cuda.h"
#include "model.h"
#include "sample.h"
#include "tsv.h"
#include "util.h"

static const char usage[] =
    "usage: generate -m MODEL [-p PROMPT] [-n N] [-t THREADS] [OPTIONS]\n"
    "Runs MODEL (a Hugging Face GPT-2 directory or a GGUF file) on PROMPT (or stdin),\n"
    "streams the continuation to standard output and writes one TSV metrics row.\n"
    "\n"
    "  -m, --model PATH      the model\n"
    "  -p, --prompt TEXT     the prompt (default: all of standard input)\n"
    "  -n, --n-predict N     new tokens to generate (default 64)\n"
    "  -t, --threads N       CPU threads (default: all online CPUs)\n"
    "      --temp T          sampling temperature; 0 = greedy (default 0)\n"
    "      --top-k K         sample among the K most likely tokens (default 0: all)\n"
    "      --top-p P         sample among the most likely tokens totalling P (default 1)\n"
    "      --seed S          sampling seed (default 1)\n"
    "      --ignore-eos      do not stop at <|endoftext|>\n"
    "      --metrics FILE    write the metrics row to FILE (default: standard error)\n"
    "      --model-name NAME the model column (default: the model path's base name)\n"
    "      --device DEV      cpu (default) or cuda (GPU 0: weights uploaded once,\n"
    "                        FP16 KV cache, greedy decode steps as one CUDA graph)\n"
    "      --act MODE        quantized matrices on the CPU: f32 (weight-only) or int8 (int8\n"
    "                        activations, W8A8; q8 is the same); default: the GGUF file's, else f32\n"
    "  -q, --quiet           no continuation on standard output (timing only)\n"
    "  -h, --help            this help\n"
    "Metrics columns: model dtype device isa threads prompt_tokens new_tokens stop\n"
    "load_s ttft_s prefill_tok_s decode_tok_s total_s step_bytes act gpu gpu_driver\n"
    "gpu_peak_mb (the gpu columns are empty on the CPU).\n"
    "The prompt plus N-1 tokens must fit in the model's context.\n"
    "Exit status: 0 ok, 1 usage, 2 data (unreadable or malformed model or prompt).\n";

typedef struct {
    const char *model, *prompt, *metrics, *model_name, *device, *act;
    int n_predict, threads, top_k, ignore_eos, quiet;
    float temp, top_p;
    unsigned long long seed;
} options;

static options parse_args(int argc, char **argv) {
    options o = {.n_predict = 64, .threads = qb_default_threads(), .top_p = 1.0f, .seed = 1, .device = "cpu"};
    enum { O_TEMP = 256, O_TOPK, O_TOPP, O_SEED, O_IGNORE_EOS, O_METRICS, O_NAME, O_DEVICE, O_ACT };
    static const struct option longs[] = {
        {"model", required_argument, 0, 'm'},     {"prompt", required_argument, 0, 'p'},
        {"n-predict", required_argument, 0, 'n'}, {"threads", required_argument, 0, 't'},
        {"temp", required_argument, 0, O_TEMP},   {"top-k", required_argument, 0, O_TOPK},
        {"top-p", required_argument, 0, O_TOPP},  {"seed", required_argument, 0, O_SEED},
        {"ignore-eos", no_argument, 0, O_IGNORE_EOS}, {"metrics", required_argument, 0, O_METRICS},
        {"model-name", required_argument, 0, O_NAME}, {"device", required_argument, 0, O_DEVICE}, {"act", required_argument, 0, O_ACT},
        {"quiet", no_argument, 0, 'q'},           {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":m:p:n:t:qh", longs, NULL)) != -1) {
        switch (c) {
        case 'm': o.model = optarg; break;
        case 'p': o.prompt = optarg; break;
        case 'n': o.n_predict = (int)qb_parse_long("-n", optarg, 1, 1 << 20); break;
        case 't': o.threads = (int)qb_parse_long("-t", optarg, 1, 1024); break;
        case 'q': o.quiet = 1; break;
        case O_TEMP: o.temp = (float)qb_parse_double("--temp", optarg, 0, 100); break;
        case O_TOPK: o.top_k = (int)qb_parse_long("--top-k", optarg, 0, 1 << 30); break;
        case O_TOPP: o.top_p = (float)qb_parse_double("--top-p", optarg, 1e-6, 1); break;
        case O_SEED: o.seed = (unsigned long long)qb_parse_long("--seed", optarg, 0, __LONG_MAX__); break;
        case O_IGNORE_EOS: o.ignore_eos = 1; break;
        case O_METRICS: o.metrics = optarg; break;
        case O_NAME: o.model_name = optarg; break;
        case O_DEVICE: o.device = optarg; break;
        case O_ACT:
            if (qb_act_parse(optarg) < 0) qb_die(QB_EXIT_USAGE, "--act: unknown mode '%s' (f32 or int8)", optarg);
            o.act = optarg;
            break;
        case 'h': fputs(usage, stdout); exit(0);
        case ':': qb_die(QB_EXIT_USAGE, "option %s needs a value (see --help)", argv[optind - 1]);
        default: qb_die(QB_EXIT_USAGE, "unknown option '%s' (see --help)", argv[optind - 1]);
        }
    }
    if (optind < argc) qb_die(QB_EXIT_USAGE, "unexpected argument '%s' (the prompt goes after -p)", argv[optind]);
    if (!o.model) qb_die(QB_EXIT_USAGE, "no model: -m MODEL is required (see --help)");
    if (o.prompt && !o.prompt[0]) qb_die(QB_EXIT_USAGE, "empty prompt");
    if (o.metrics && !o.metrics[0]) qb_die(QB_EXIT_USAGE, "--metrics: empty file name");
    qb_check_device(o.device, o.act);
    return o;
}

static char *read_stdin(size_t *len) {
    size_t cap = 4096, n = 0;
    char *buf = qb_malloc(cap);
    for (;;) {
        if (n + 1 >= cap) buf = qb_realloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n - 1, stdin);
        n += got;
        if (got == 0) break;
    }
    if (ferror(stdin)) qb_die(QB_EXIT_DATA, "<stdin>: read error");
    buf[n] = 0;
    *len = n;
    return buf;
}

static void emit(const qb_model *m, int id, int quiet) {
    if (quiet) return;
    size_t len;
    const char *b = qb_token_bytes(m->tok, id, &len);
    if (b && len) fwrite(b, 1, len, stdout);
    fflush(stdout);
}

// The new tokens as they come: generation ends at the end-of-text token
// (eot; -1 when ignored) or at the n_predict-th token.
typedef struct {
    const qb_model *m;
    int quiet, eot, n_predict, n_new;
    double t_last; // when the last token came
    const char *stop;
} gen_out;

// Takes one new token; returns 1 when generation ends with it.
static int take(void *arg, int tok) {
    gen_out *o = arg;
    o->t_last = qb_now();
    o->n_new++;
    if (tok == o->eot) {
        o->stop = "eot";
        return 1;
    }
    emit(o->m, tok, o->quiet);
    return o->n_new == o->n_predict;
}

static void fmt(char *buf, size_t n, double v) {
    if (isfinite(v)) snprintf(buf, n, "%.6g", v);
    else buf[0] = 0; // undefined (e.g. decode speed of a single token): empty cell
}

int main(int argc, char **argv) {
    options o = parse_args(argc, argv);

    // The prompt first: a bad prompt fails before the model is loaded.
    size_t plen = 0;
    char *prompt = o.prompt ? qb_strdup(o.prompt) : read_stdin(&plen);
    if (o.prompt) plen = strlen(prompt);
    const char *pname = o.prompt ? "prompt" : "<stdin>";
    if (plen == 0) qb_die(QB_EXIT_USAGE, "empty prompt");
    long bad = qb_utf8_invalid_at(prompt, plen);
    if (bad >= 0) qb_die(QB_EXIT_DATA, "%s: byte %ld: not valid UTF-8", pname, bad);

    // Load: model and thread pool.
    double t0 = qb_now();
    qb_model *m = qb_model_load(o.model);
    qb_pool *pool = qb_pool_new(o.threads);
    const qb_act_mode act = o.act ? (qb_act_mode)qb_act_parse(o.act) : (qb_act_mode)m->act_mode;
    qb_pool_set_act(pool, act);
    const int cuda = strcmp(o.device, "cuda") == 0;
    const char *act_label = qb_run_act_label(m, act, cuda, "generate");

    int *ids = NULL;
    const int P = (int)qb_tokenize(m->tok, prompt, plen, &ids);
    const qb_config *c = &m->cfg;
    if (P == 0) qb_die(QB_EXIT_USAGE, "empty prompt");
    if (P > c->n_ctx)
        qb_die(QB_EXIT_DATA, "%s: %d tokens, longer than the model's context of %d", pname, P, c->n_ctx);
    if ((long)P + o.n_predict - 1 > c->n_ctx)
        qb_die(QB_EXIT_USAGE, "-n %d: the prompt's %d tokens + %d new need %d positions, the context is %d",
               o.n_predict, P, o.n_predict, P + o.n_predict - 1, c->n_ctx);

    // The GPU's load time includes the weights' upload, and for greedy decoding the capture of its
    // step's graph, with the matmuls' rows per block timed in it (qb_gpu_prepare_decode).
    qb_gpu *g = cuda ? qb_gpu_new(m, P + o.n_predict - 1, P) : NULL;
    if (g && o.temp == 0 && o.n_predict > 1) qb_gpu_prepare_decode(g);
    const double load_s = qb_now() - t0;
    qb_state *s = cuda ? NULL : qb_state_new(m, P + o.n_predict - 1, P, o.threads);
    float *logits = qb_aligned_alloc((size_t)c->n_vocab * sizeof(float));
    qb_sampler smp;
    qb_sampler_init(&smp, o.temp, o.top_k, o.top_p, o.seed);
    const int eot = qb_tokenizer_eot(m->tok);

    // Prompt pass and the first token: TTFT.
    const double t_start = qb_now();
    if (g) qb_gpu_forward(g, ids, P, 0, logits, P - 1);
    else qb_forward(m, s, pool, ids, P, 0, logits, P - 1);
    int tok = qb_sample(&smp, logits, c->n_vocab);
    const double t_first = qb_now();
    gen_out news = {m, o.quiet, o.ignore_eos ? -1 : eot, o.n_predict, 0, t_first, "n"};
    int done = take(&news, tok);
    news.t_last = t_first;
    // Decode: one token per step against the KV cache.
    if (g && o.temp == 0) { // argmax on the device, the steps queued ahead of the host
        if (!done) qb_gpu_decode_greedy_run(g, tok, P, o.n_predict - 1, take, &news);
    } else
        for (int pos = P; !done; pos++) {
            if (g) qb_gpu_forward(g, &tok, 1, pos, logits, 0);
            else qb_forward(m, s, pool, &tok, 1, pos, logits, 0);
            tok = qb_sample(&smp, logits, c->n_vocab);
            done = take(&news, tok);
        }
    const double t_last = news.t_last;
    const int n_new = news.n_new;
    const char *stop = news.stop;
    if (!o.quiet && isatty(STDOUT_FILENO)) putchar('\n');
    if (fflush(stdout) != 0 || ferror(stdout)) qb_die(QB_EXIT_DATA, "<stdout>: write error");

    // The metrics row.
    const double ttft = t_first - t_start, decode_s = t_last - t_first;
    const double decode_tok_s = n_new > 1 && decode_s > 0 ? (n_new - 1) / decode_s : NAN;
    // Mean bytes a decode step reads: step i sees P + i positions.
    const double step_bytes = g ? qb_gpu_step_bytes(g, P + n_new / 2) : qb_model_step_bytes(m, P + n_new / 2);
    char v[18][128];
    snprintf(v[0], 128, "%s", o.model_name ? o.model_name : m->name);
    snprintf(v[1], 128, "%s", m->dtype);
    snprintf(v[2], 128, "%s", o.device);
    snprintf(v[3], 128, "%s", qb_isa_name(qb_cpu_isa()));
    snprintf(v[4], 128, "%d", o.threads);
    snprintf(v[5], 128, "%d", P);
    snprintf(v[6], 128, "%d", n_new);
    snprintf(v[7], 128, "%s", stop);
    fmt(v[8], 128, load_s);
    fmt(v[9], 128, ttft);
    fmt(v[10], 128, ttft > 0 ? P / ttft : NAN);
    fmt(v[11], 128, decode_tok_s);
    fmt(v[12], 128, ttft + decode_s);
    snprintf(v[13], 128, "%.0f", step_bytes);
    snprintf(v[14], 128, "%s", act_label);
    snprintf(v[15], 128, "%s", g ? qb_gpu_name(g) : "");
    snprintf(v[16], 128, "%s", g ? qb_gpu_driver(g) : "");
    if (g) snprintf(v[17], 128, "%.1f", qb_gpu_peak_bytes(g) / 1048576.0);
    else v[17][0] = 0;
    static const char *const cols[] = {"model",  "dtype",  "device",        "isa",          "threads",
                                       "prompt_tokens", "new_tokens", "stop", "load_s", "ttft_s",
                                       "prefill_tok_s", "decode_tok_s", "total_s", "step_bytes",
                                       "act", "gpu", "gpu_driver", "gpu_peak_mb"};
    const char *vals[18];
    for (int i = 0; i < 18; i++) vals[i] = v[i];
    qb_out out;
    FILE *f = o.metrics ? qb_out_open(&out, o.metrics, "w") : stderr;
    qb_tsv_write_row(f, cols, 18);
    qb_tsv_write_row(f, vals, 18);
    if (o.metrics) qb_out_commit(&out);

    free(logits);
    free(ids);
    free(prompt);
    qb_sampler_free(&smp);
    if (s) qb_state_free(s);
    qb_gpu_free(g);
    qb_pool_free(pool);
    qb_model_free(m);
    return 0;
}
