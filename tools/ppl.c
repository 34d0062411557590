// ppl: perplexity of a model on a text, by the Hugging Face fixed-length
// protocol, and (with --kl-base) KL-divergence and top-1 agreement against a
// baseline: its saved log-probabilities (top-k + rest, a lower bound of the KL)
// or the baseline model itself, run alongside (the exact KL over the whole
// vocabulary). See tools/man/ppl.1.
//
// The protocol: the whole file is tokenized as one sequence; windows of ctx
// tokens start every stride tokens; each window scores its last (end -
// previous end) tokens, never its own first token (it has no context); the
// last window ends at the end of the text. ppl = exp(mean NLL of the scored
// tokens).
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine_cli.h"
#include "forward.h"
#include "forward_cuda.h"
#include "logitsfile.h"
#include "model.h"
#include "sample.h"
#include "tsv.h"
#include "util.h"

static const char usage[] =
    "usage: ppl -m MODEL -f TEXT [--ctx N] [--stride S] [-t THREADS] [OPTIONS]\n"
    "Perplexity of MODEL on the UTF-8 file TEXT (Hugging Face fixed-length protocol);\n"
    "one TSV row (header + row) on standard output or to -o FILE.\n"
    "\n"
    "  -m, --model PATH       the model (a Hugging Face GPT-2 directory or a GGUF file)\n"
    "  -f, --file TEXT        the text\n"
    "      --ctx N            window length in tokens (default: the model's context)\n"
    "      --stride S         tokens between window starts, 1..ctx (default: ctx)\n"
    "      --stride-half      stride = ctx / 2\n"
    "  -t, --threads N        CPU threads (default: all online CPUs)\n"
    "      --save-logits FILE save the scored tokens' log-probabilities (top-k + rest)\n"
    "      --logits-top-k K   tokens kept per record by --save-logits (default 32)\n"
    "      --kl-base FILE     KL-divergence and top-1 agreement against FILE: a logits\n"
    "                         file written by --save-logits on the same text, ctx and\n"
    "                         stride (KL lower bound), or a baseline model run\n"
    "                         alongside (exact KL)\n"
    "  -o, --output FILE      write the row to FILE instead of standard output\n"
    "      --model-name NAME  the model column (default: the model path's base name)\n"
    "      --device DEV       cpu (default) or cuda (GPU 0; logits come back to the\n"
    "                         CPU for scoring)\n"
    "      --act MODE         quantized matrices on the CPU: f32 (weight-only) or int8 (int8\n"
    "                         activations, W8A8; q8 is the same); default: the GGUF file's\n"
    "  -q, --quiet            no progress bar or summary on standard error\n"
    "  -h, --help             this help\n"
    "Columns: model dtype device isa threads ctx stride tokens scored_tokens nll ppl\n"
    "kl top1 kl_k load_s seconds tok_s act gpu gpu_driver gpu_peak_mb (nll: mean nats\n"
    "per scored token; kl, top1, kl_k: empty without --kl-base; kl_k: the baseline\n"
    "file's top-k, or all; act: the activation mode of quantized matrices; gpu*: empty\n"
    "on the CPU).\n"
    "Exit status: 0 ok, 1 usage, 2 data (unreadable or malformed model, text or file).\n";

typedef struct {
    const char *model, *file, *save, *kl_base, *output, *model_name, *device, *act;
    int ctx, stride, stride_half, threads, top_k, quiet;
} options;

static options parse_args(int argc, char **argv) {
    options o = {.threads = qb_default_threads(), .top_k = 32, .device = "cpu"};
    enum { O_CTX = 256, O_STRIDE, O_HALF, O_SAVE, O_TOPK, O_KL, O_NAME, O_DEVICE, O_ACT };
    static const struct option longs[] = {
        {"model", required_argument, 0, 'm'},       {"file", required_argument, 0, 'f'},
        {"ctx", required_argument, 0, O_CTX},       {"stride", required_argument, 0, O_STRIDE},
        {"stride-half", no_argument, 0, O_HALF},    {"threads", required_argument, 0, 't'},
        {"save-logits", required_argument, 0, O_SAVE}, {"logits-top-k", required_argument, 0, O_TOPK},
        {"kl-base", required_argument, 0, O_KL},    {"output", required_argument, 0, 'o'},
        {"model-name", required_argument, 0, O_NAME}, {"device", required_argument, 0, O_DEVICE}, {"act", required_argument, 0, O_ACT},
        {"quiet", no_argument, 0, 'q'},             {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":m:f:t:o:qh", longs, NULL)) != -1) {
        switch (c) {
        case 'm': o.model = optarg; break;
        case 'f': o.file = optarg; break;
        case 't': o.threads = (int)qb_parse_long("-t", optarg, 1, 1024); break;
        case 'o': o.output = optarg; break;
        case 'q': o.quiet = 1; break;
        case O_CTX: o.ctx = (int)qb_parse_long("--ctx", optarg, 2, 1 << 20); break;
        case O_STRIDE: o.stride = (int)qb_parse_long("--stride", optarg, 1, 1 << 20); break;
        case O_HALF: o.stride_half = 1; break;
        case O_SAVE: o.save = optarg; break;
        case O_TOPK: o.top_k = (int)qb_parse_long("--logits-top-k", optarg, 1, 4096); break;
        case O_KL: o.kl_base = optarg; break;
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
    if (optind < argc) qb_die(QB_EXIT_USAGE, "unexpected argument '%s' (the text goes after -f)", argv[optind]);
    if (!o.model) qb_die(QB_EXIT_USAGE, "no model: -m MODEL is required (see --help)");
    if (!o.file) qb_die(QB_EXIT_USAGE, "no text: -f TEXT is required (see --help)");
    if (o.stride && o.stride_half) qb_die(QB_EXIT_USAGE, "--stride and --stride-half exclude each other");
    if (o.save && o.kl_base && strcmp(o.save, o.kl_base) == 0)
        qb_die(QB_EXIT_USAGE, "--save-logits and --kl-base name the same file");
    qb_check_device(o.device, o.act);
    return o;
}

// ---- scoring one window's rows over the pool ---------------------------------

typedef struct {
    const float *logits; // [rows][V], row r predicts targets[r]
    const int *targets;
    int rows, V, k;
    double *nll;
    int *argmax;
    // --save-logits: the top-k of each row, and the rest's log mass
    int save;
    int *top_ids;
    float *top_lps, *lp_target, *lp_rest;
    // --kl-base FILE: the baseline's records of these rows
    const qb_logits_file *base;
    uint64_t base0;
    // --kl-base MODEL: the baseline model's logits of these rows
    const float *base_logits;
    double *kl;
    int *agree;
    uint8_t *flags; // [nth][V], zero between uses
} score_job;

static void score_rows(void *ctx, int ith, int nth) {
    score_job *j = ctx;
    const int V = j->V, k = j->k;
    uint8_t *flags = j->flags ? j->flags + (size_t)ith * V : NULL;
    int *bids = j->base ? qb_malloc((size_t)j->base->h.top_k * sizeof(int)) : NULL;
    float *blps = j->base ? qb_malloc((size_t)j->base->h.top_k * sizeof(float)) : NULL;
    for (int r = ith; r < j->rows; r += nth) {
        const float *x = j->logits + (size_t)r * V;
        // The passes over the vocabulary are the kernels' (kernels/cpu/softmax*.c).
        int am;
        float mx;
        double sum;
        qb_logsumexp_stats(x, V, &am, &mx, &sum);
        const double log_sum = log(sum), lse = mx + log_sum;
        j->nll[r] = lse - x[j->targets[r]];
        j->argmax[r] = am;
        if (j->save) {
            int *ids = j->top_ids + (size_t)r * k;
            float *lps = j->top_lps + (size_t)r * k;
            qb_top_k(x, V, k, ids);
            for (int i = 0; i < k; i++) lps[i] = (float)(x[ids[i]] - lse), flags[ids[i]] = 1;
            j->lp_target[r] = (float)(x[j->targets[r]] - lse);
            j->lp_rest[r] = (float)(log(qb_sum_exp(x, V, mx, flags)) - log_sum);
            for (int i = 0; i < k; i++) flags[ids[i]] = 0;
        }
        if (j->base) {
            // KL(base || this model) on the partition {base's top-k, rest}.
            int t;
            float lpt, lp_rest;
            const int bk = (int)j->base->h.top_k;
            qb_logits_record(j->base, j->base0 + (uint64_t)r, &t, &lpt, &lp_rest, bids, blps);
            double kl = 0;
            for (int i = 0; i < bk; i++) {
                const double p = exp((double)blps[i]), lq = x[bids[i]] - lse;
                if (p > 0) kl += p * (blps[i] - lq);
                flags[bids[i]] = 1;
            }
            const double p_rest = exp((double)lp_rest);
            if (p_rest > 0) {
                const double lq_rest = log(qb_sum_exp(x, V, mx, flags)) - log_sum;
                kl += p_rest * (lp_rest - lq_rest);
            }
            for (int i = 0; i < bk; i++) flags[bids[i]] = 0;
            j->kl[r] = kl;
            j->agree[r] = am == bids[0];
        }
        if (j->base_logits) {
            // Exact KL(base || this model) = sum_i p_i (xb_i - x_i) + lse - lse_b.
            const float *xb = j->base_logits + (size_t)r * V;
            const int bm = qb_argmax(xb, V);
            double sb;
            const double acc = qb_sum_exp_diff(xb, x, V, xb[bm], &sb);
            j->kl[r] = acc / sb + lse - (xb[bm] + log(sb));
            j->agree[r] = am == bm;
        }
    }
    free(bids);
    free(blps);
}

// ---- the protocol --------------------------------------------------------------

typedef struct {
    int begin, end, lo; // window [begin, end); scored tokens [lo, end)
} window;

// The Hugging Face loop: for begin in range(0, n, stride), stopping after the
// window that reaches the end of the text.
static window *plan_windows(int n, int ctx, int stride, int *n_windows, long *n_scored, long *n_eval) {
    window *w = qb_malloc(((size_t)n / stride + 2) * sizeof *w);
    int nw = 0, prev_end = 0;
    *n_scored = *n_eval = 0;
    for (int begin = 0; begin < n; begin += stride) {
        int end = begin + ctx < n ? begin + ctx : n;
        int trg = end - prev_end, lo = end - trg > begin + 1 ? end - trg : begin + 1;
        w[nw++] = (window){begin, end, lo};
        if (lo < end) *n_scored += end - lo, *n_eval += end - begin;
        prev_end = end;
        if (end == n) break;
    }
    *n_windows = nw;
    return w;
}

// Whether --kl-base names a model (a directory or a GGUF file) rather than a
// logits file.
static int is_model_path(const char *path) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return 1;
    FILE *f = fopen(path, "rb");
    char magic[4] = {0};
    int gguf = f && fread(magic, 1, 4, f) == 4 && memcmp(magic, "GGUF", 4) == 0;
    if (f) fclose(f);
    return gguf;
}

static void fmt(char *buf, size_t n, double v) {
    if (isfinite(v)) snprintf(buf, n, "%.9g", v);
    else buf[0] = 0;
}

int main(int argc, char **argv) {
    options o = parse_args(argc, argv);

    // The text first: unreadable or non-UTF-8 text fails before the model loads.
    size_t len;
    char *text = qb_read_file(o.file, &len);
    if (len == 0) qb_die(QB_EXIT_DATA, "%s: empty file", o.file);
    long bad = qb_utf8_invalid_at(text, len);
    if (bad >= 0) qb_die(QB_EXIT_DATA, "%s: byte %ld: not valid UTF-8", o.file, bad);

    double t0 = qb_now();
    qb_model *m = qb_model_load(o.model);
    qb_pool *pool = qb_pool_new(o.threads);
    const qb_act_mode act = o.act ? (qb_act_mode)qb_act_parse(o.act) : (qb_act_mode)m->act_mode;
    qb_pool_set_act(pool, act);
    const double load_s = qb_now() - t0;
    const qb_config *c = &m->cfg;
    const int V = c->n_vocab;
    const int ctx = o.ctx ? o.ctx : c->n_ctx;
    if (ctx > c->n_ctx) qb_die(QB_EXIT_USAGE, "--ctx %d exceeds the model's context of %d", ctx, c->n_ctx);
    const int stride = o.stride_half ? (ctx / 2 > 0 ? ctx / 2 : 1) : o.stride ? o.stride : ctx;
    if (stride > ctx) qb_die(QB_EXIT_USAGE, "--stride %d exceeds the window of %d tokens", stride, ctx);
    if (o.top_k > V) qb_die(QB_EXIT_USAGE, "--logits-top-k %d exceeds the vocabulary of %d", o.top_k, V);

    int *ids = NULL;
    const size_t n_tok = qb_tokenize(m->tok, text, len, &ids);
    if (n_tok < 2) qb_die(QB_EXIT_DATA, "%s: %zu token(s): nothing to score", o.file, n_tok);
    if (n_tok > (size_t)1 << 30) qb_die(QB_EXIT_DATA, "%s: %zu tokens: too long", o.file, n_tok);
    const int n = (int)n_tok;
    int n_windows;
    long n_scored, n_eval;
    window *wins = plan_windows(n, ctx, stride, &n_windows, &n_scored, &n_eval);
    qb_logits_header hdr = {(uint32_t)V, (uint32_t)o.top_k, (uint32_t)ctx, (uint32_t)stride, (uint64_t)n,
                            (uint64_t)n_scored, qb_tokens_hash(ids, (size_t)n)};

    qb_logits_file base;
    qb_model *bm = NULL; // --kl-base MODEL
    qb_state *bs = NULL;
    float *blogits = NULL;
    if (o.kl_base && is_model_path(o.kl_base)) {
        bm = qb_model_load(o.kl_base);
        if (bm->cfg.n_vocab != V)
            qb_die(QB_EXIT_DATA, "%s: vocabulary of %d tokens, the model's is %d", o.kl_base, bm->cfg.n_vocab, V);
        if (bm->cfg.n_ctx < ctx)
            qb_die(QB_EXIT_DATA, "%s: context of %d tokens, shorter than the window of %d", o.kl_base, bm->cfg.n_ctx, ctx);
        int *bids = NULL;
        size_t bn = qb_tokenize(bm->tok, text, len, &bids);
        if (bn != n_tok || memcmp(bids, ids, n_tok * sizeof *ids) != 0)
            qb_die(QB_EXIT_DATA, "%s: its tokenizer encodes %s differently", o.kl_base, o.file);
        free(bids);
        bs = qb_state_new(bm, ctx, ctx, o.threads);
        blogits = qb_aligned_alloc((size_t)ctx * V * sizeof(float));
    } else if (o.kl_base) {
        qb_logits_open(&base, o.kl_base, &hdr); // its own top_k is whatever it was saved with
        // Same targets, record by record (a cheap check before any work).
        for (uint64_t i = 0, w = 0; w < (uint64_t)n_windows; w++)
            for (int t = wins[w].lo; t < wins[w].end; t++, i++) {
                uint32_t target;
                memcpy(&target, base.map.data + QB_LOGITS_HEADER + i * qb_logits_record_bytes(base.h.top_k), 4);
                if ((int)target != ids[t])
                    qb_die(QB_EXIT_DATA, "%s: record %llu is token %u, the text has %d there", o.kl_base,
                           (unsigned long long)i, target, ids[t]);
            }
    }
    qb_out save_out;
    FILE *save = NULL;
    if (o.save) {
        save = qb_out_open(&save_out, o.save, "wb");
        qb_logits_write_header(save, &hdr);
    }

    const int cuda = strcmp(o.device, "cuda") == 0;
    const char *act_label = qb_run_act_label(m, act, cuda, "ppl");
    double load_gpu_s = 0;
    if (cuda) load_gpu_s = -qb_now();
    qb_gpu *g = cuda ? qb_gpu_new(m, ctx, ctx) : NULL; // uploads the weights: part of the load time
    if (cuda) load_gpu_s += qb_now();
    qb_state *s = cuda ? NULL : qb_state_new(m, ctx, ctx, o.threads);
    float *logits = qb_aligned_alloc((size_t)ctx * V * sizeof(float));
    score_job job = {.V = V, .k = o.top_k, .save = o.save != NULL, .base = o.kl_base && !bm ? &base : NULL,
                     .base_logits = blogits};
    const int kl_on = o.kl_base != NULL;
    job.nll = qb_malloc((size_t)ctx * sizeof(double));
    job.argmax = qb_malloc((size_t)ctx * sizeof(int));
    if (job.save) {
        job.top_ids = qb_malloc((size_t)ctx * o.top_k * sizeof(int));
        job.top_lps = qb_malloc((size_t)ctx * o.top_k * sizeof(float));
        job.lp_target = qb_malloc((size_t)ctx * sizeof(float));
        job.lp_rest = qb_malloc((size_t)ctx * sizeof(float));
    }
    if (kl_on) job.kl = qb_malloc((size_t)ctx * sizeof(double)), job.agree = qb_malloc((size_t)ctx * sizeof(int));
    if (job.save || job.base) job.flags = qb_calloc((size_t)o.threads * V, 1);

    double nll = 0, kl = 0;
    long agree = 0, done = 0;
    uint64_t scored = 0;
    qb_progress bar;
    qb_progress_begin(&bar, "ppl", (double)n_eval, "tok", o.quiet);
    const double t_start = qb_now();
    for (int w = 0; w < n_windows; w++) {
        const window *win = &wins[w];
        if (win->lo >= win->end) continue; // nothing to score (a one-token last window)
        const int T = win->end - win->begin;
        // Logits only of the rows that predict scored tokens: lo-1 .. end-2.
        if (g) qb_gpu_forward(g, ids + win->begin, T - 1, 0, logits, win->lo - 1 - win->begin);
        else qb_forward(m, s, pool, ids + win->begin, T - 1, 0, logits, win->lo - 1 - win->begin);
        if (bm) qb_forward(bm, bs, pool, ids + win->begin, T - 1, 0, blogits, win->lo - 1 - win->begin);
        job.logits = logits;
        job.targets = ids + win->lo;
        job.rows = win->end - win->lo;
        job.base0 = scored;
        qb_pool_run(pool, score_rows, &job);
        for (int r = 0; r < job.rows; r++) { // in order: the sums do not depend on threads
            nll += job.nll[r];
            if (kl_on) kl += job.kl[r], agree += job.agree[r];
            if (save)
                qb_logits_write_record(save, (uint32_t)o.top_k, job.targets[r], job.lp_target[r], job.lp_rest[r],
                                       job.top_ids + (size_t)r * o.top_k, job.top_lps + (size_t)r * o.top_k);
        }
        scored += (uint64_t)job.rows;
        done += T;
        qb_progress_update(&bar, (double)done);
    }
    const double seconds = qb_now() - t_start;
    qb_progress_end(&bar);
    if (save) qb_out_commit(&save_out);

    char v[21][128];
    snprintf(v[0], 128, "%s", o.model_name ? o.model_name : m->name);
    snprintf(v[1], 128, "%s", m->dtype);
    snprintf(v[2], 128, "%s", o.device);
    snprintf(v[3], 128, "%s", qb_isa_name(qb_cpu_isa()));
    snprintf(v[4], 128, "%d", o.threads);
    snprintf(v[5], 128, "%d", ctx);
    snprintf(v[6], 128, "%d", stride);
    snprintf(v[7], 128, "%d", n);
    snprintf(v[8], 128, "%llu", (unsigned long long)scored);
    fmt(v[9], 128, nll / (double)scored);
    fmt(v[10], 128, exp(nll / (double)scored));
    fmt(v[11], 128, kl_on ? kl / (double)scored : NAN);
    fmt(v[12], 128, kl_on ? (double)agree / (double)scored : NAN);
    if (bm) snprintf(v[13], 128, "all");
    else if (kl_on) snprintf(v[13], 128, "%u", base.h.top_k);
    else v[13][0] = 0;
    fmt(v[14], 128, load_s + load_gpu_s);
    fmt(v[15], 128, seconds);
    fmt(v[16], 128, seconds > 0 ? (double)n_eval / seconds : NAN);
    snprintf(v[17], 128, "%s", act_label);
    snprintf(v[18], 128, "%s", g ? qb_gpu_name(g) : "");
    snprintf(v[19], 128, "%s", g ? qb_gpu_driver(g) : "");
    if (g) snprintf(v[20], 128, "%.1f", qb_gpu_peak_bytes(g) / 1048576.0);
    else v[20][0] = 0;
    static const char *const cols[] = {"model",  "dtype",  "device",        "isa", "threads", "ctx",
                                       "stride", "tokens", "scored_tokens", "nll", "ppl",     "kl",
                                       "top1",   "kl_k",   "load_s",        "seconds", "tok_s", "act",
                                       "gpu",    "gpu_driver", "gpu_peak_mb"};
    const char *vals[21];
    for (int i = 0; i < 21; i++) vals[i] = v[i];
    qb_out out;
    FILE *f = o.output && strcmp(o.output, "-") != 0 ? qb_out_open(&out, o.output, "w") : stdout;
    qb_tsv_write_row(f, cols, 21);
    qb_tsv_write_row(f, vals, 21);
    if (f != stdout) qb_out_commit(&out);
    else if (fflush(stdout) != 0 || ferror(stdout)) qb_die(QB_EXIT_DATA, "<stdout>: write error");

    if (job.base) qb_logits_close(&base);
    free(blogits);
    qb_state_free(bs);
    qb_model_free(bm);
    free(job.nll), free(job.argmax), free(job.top_ids), free(job.top_lps), free(job.lp_target), free(job.lp_rest);
    free(job.kl), free(job.agree), free(job.flags);
    free(logits), free(wins), free(ids), free(text);
    if (s) qb_state_free(s);
    qb_gpu_free(g);
    qb_pool_free(pool);
    qb_model_free(m);
    return 0;
}
