// fetch: get models and datasets (mirror-aware, checksummed, resumable), or
// write synthetic GPT-2 checkpoints of the real shapes (see tools/man/fetch.1).
// The work is in tools/lib: sources (the catalogue), mirror, download,
// extract, install (sources in order, locking, SHA256SUMS) and synthetic.
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "download.h"
#include "install.h"
#include "mirror.h"
#include "sha256sums.h"
#include "sources.h"
#include "synthetic.h"
#include "util.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: fetch [options] NAME...          install catalogue artifacts\n"
            "       fetch --list                     print the catalogue (TSV)\n"
            "       fetch --verify NAME|DIR...       re-hash what is installed\n"
            "       fetch --synthetic SHAPE [--dtype f32|f16] [--seed S] [-o DIR]\n"
            "Installs DATA/models/NAME/ or DATA/datasets/NAME/ from pipeline/sources.tsv; prints one TSV row\n"
            "per file: name file bytes sha256 pinned status source.\n"
            "  --data DIR         install root (default: data)\n"
            "  --sources FILE     catalogue (default: pipeline/sources.tsv of this checkout)\n"
            "  --mirror BASE      a mirror (directory, file:// or http(s):// URL laid out as\n"
            "                     models/NAME/FILE, datasets/NAME/FILE), tried before the canonical URL;\n"
            "                     repeatable; then the bases in QB_MIRROR (colon-separated)\n"
            "  --mirror-only      never use the canonical URLs\n"
            "  --strict           refuse rows without a pinned sha256 (exit 4)\n"
            "  --timeout S        connect timeout, and abort a transfer stalled for S seconds (default 30)\n"
            "  --retries N        retries after a transient failure (default 4)\n"
            "  --retry-delay S    first backoff, doubled each retry (default 1)\n"
            "  --max-bytes N      limit for archive members without a pinned size (default 16 GiB)\n"
            "  -q, --quiet        no progress, summaries or warnings on stderr\n"
            "  -h, --help         this help\n"
            "Synthetic checkpoints (seeded random weights; NOT trained models):\n"
            "  --synthetic SHAPE  one of: ");
    qb_gpt2_shape_names(f);
    fprintf(f,
            "\n"
            "  --dtype f32|f16    tensor type (default f32)\n"
            "  --seed S           generator seed (default 1); same seed, same bytes\n"
            "  -o, --output DIR   where to write (default DATA/models/synth-SHAPE[-f16])\n"
            "  --n-layer N, --n-embd N, --n-head N, --n-ctx N   override the shape (tests, experiments)\n"
            "  --no-tokenizer     do not copy vocab.json and merges.txt\n"
            "  --threads N        generator threads (default: all cores)\n"
            "Exit status: 0 ok, 1 usage, 2 data (local files, catalogue, archives), 3 network, 4 checksum.\n");
}

enum {
    OPT_LIST = 256, OPT_VERIFY, OPT_SYNTH, OPT_DTYPE, OPT_SEED, OPT_DATA, OPT_SOURCES, OPT_MIRROR, OPT_MIRROR_ONLY,
    OPT_STRICT, OPT_TIMEOUT, OPT_RETRIES, OPT_RETRY_DELAY, OPT_MAX_BYTES, OPT_NLAYER, OPT_NEMBD, OPT_NHEAD, OPT_NCTX,
    OPT_NO_TOK, OPT_THREADS,
};

// pipeline/sources.tsv of the checkout this binary was built in (bin/..).
static char *default_sources(void) {
    const char *root = getenv("QB_ROOT");
    if (root && *root) return qb_path_join(root, "pipeline/sources.tsv");
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            char *p = qb_path_join(exe, "../pipeline/sources.tsv");
            if (qb_file_exists(p)) return p;
            free(p);
        }
    }
    return qb_strdup("pipeline/sources.tsv");
}

static void list_catalogue(const qb_fetch_ctx *c, FILE *out) {
    fprintf(out, "name\tkind\tfile\tbytes\tpinned\tinstalled\turl\tmember\tnote\n");
    for (size_t i = 0; i < c->src->n; i++) {
        const qb_source *r = &c->src->rows[i];
        char *dir = qb_install_dir(c, r->name);
        char *path = r->file ? qb_path_join(dir, r->file) : NULL;
        const qb_source *arch = r->member ? qb_sources_archive(c->src, r->url) : NULL;
        const char *pinned = r->sha256 ? "yes" : arch && arch->sha256 ? "archive" : "no";
        char bytes[32] = "-";
        if (r->bytes >= 0) snprintf(bytes, sizeof bytes, "%lld", (long long)r->bytes);
        fprintf(out, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r->name, r->kind, r->file ? r->file : "(archive)", bytes, pinned,
                !path ? "-" : qb_file_exists(path) ? "yes" : "no", r->url ? r->url : "(mirror only)",
                r->member ? r->member : "-", r->note[0] ? r->note : "-");
        free(path);
        free(dir);
    }
}

typedef struct {
    const char *shape, *dtype, *out;
    uint64_t seed;
    int n_layer, n_embd, n_head, n_ctx, no_tokenizer, threads;
} synth_args;

static void run_synthetic(const qb_fetch_ctx *c, const synth_args *a) {
    qb_synth_opts o = {.seed = a->seed, .quiet = c->quiet};
    if (qb_gpt2_shape_lookup(a->shape, &o.shape) != 0) {
        fprintf(stderr, "%s: --synthetic: unknown shape '%s' (known: ", program_invocation_short_name, a->shape);
        qb_gpt2_shape_names(stderr);
        fprintf(stderr, ")\n");
        exit(QB_EXIT_USAGE);
    }
    if (strcmp(a->dtype, "f32") == 0) o.f16 = 0;
    else if (strcmp(a->dtype, "f16") == 0) o.f16 = 1;
    else qb_die(QB_EXIT_USAGE, "--dtype: '%s' is not f32 or f16", a->dtype);
    int custom = a->n_layer || a->n_embd || a->n_head || a->n_ctx;
    if (a->n_layer) o.shape.n_layer = a->n_layer;
    if (a->n_embd) o.shape.n_embd = a->n_embd;
    if (a->n_head) o.shape.n_head = a->n_head;
    if (a->n_ctx) o.shape.n_ctx = a->n_ctx;
    if (o.shape.n_embd % o.shape.n_head != 0)
        qb_die(QB_EXIT_USAGE, "--n-embd %d is not a multiple of --n-head %d", o.shape.n_embd, o.shape.n_head);
    if (custom) {
        char nm[64];
        snprintf(nm, sizeof nm, "%s-custom", a->shape);
        snprintf(o.shape.name, sizeof o.shape.name, "%s", nm);
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    o.threads = a->threads ? a->threads : (int)(ncpu < 1 ? 1 : ncpu > 32 ? 32 : ncpu);

    char *dir;
    if (a->out) {
        dir = qb_strdup(a->out);
    } else {
        char nm[128];
        snprintf(nm, sizeof nm, "models/synth-%s%s", a->shape, o.f16 ? "-f16" : "");
        dir = qb_path_join(c->data_dir, nm);
    }
    qb_mkdirs(dir);
    int lock = qb_lock_dir(dir, dir, c->quiet);
    uint64_t params = qb_synth_params(&o.shape);
    if (!c->quiet)
        fprintf(stderr,
                "%s: WARNING: writing SYNTHETIC random weights (not a trained model) with the shapes of %s: %d layers, "
                "width %d, %d heads, context %d, %.1f M parameters, %s, seed %llu, into %s\n",
                program_invocation_short_name, o.shape.name, o.shape.n_layer, o.shape.n_embd, o.shape.n_head,
                o.shape.n_ctx, (double)params / 1e6, o.f16 ? "F16" : "F32", (unsigned long long)o.seed, dir);
    char *sums_path = qb_path_join(dir, "SHA256SUMS");
    char *config = qb_path_join(dir, "config.json"); // last: Make's target
    // An earlier checkpoint here loses its config.json (the mark of a complete
    // checkpoint) before anything is replaced, so a failure below never
    // leaves an old config.json beside new weights.
    if ((unlink(config) != 0 && errno != ENOENT) || (unlink(sums_path) != 0 && errno != ENOENT))
        qb_die(QB_EXIT_DATA, "%s: cannot replace the checkpoint there: %s", dir, strerror(errno));
    qb_sums sums = {0};
    char hex[65];
    char *model = qb_path_join(dir, "model.safetensors");
    double t0 = qb_now();
    qb_synth_write_weights(model, &o, hex);
    double dt = qb_now() - t0;
    qb_sums_set(&sums, "model.safetensors", hex);
    uint64_t bytes = 0;
    {
        char err[512];
        qb_map m;
        if (qb_map_file(&m, model, err, sizeof err) != 0) qb_die(QB_EXIT_DATA, "%s", err);
        bytes = m.size;
        qb_unmap(&m);
    }
    if (!c->quiet)
        fprintf(stderr, "%s: %s: %.1f MB in %.2f s (%.0f MB/s)\n", program_invocation_short_name, model, (double)bytes / 1e6,
                dt, dt > 0 ? (double)bytes / 1e6 / dt : 0.0);
    if (c->report) {
        qb_fetch_report_header(c->report);
        fprintf(c->report, "%s\tmodel.safetensors\t%llu\t%s\tno\tsynthetic\tseed=%llu\n", o.shape.name,
                (unsigned long long)bytes, hex, (unsigned long long)o.seed);
    }
    if (!a->no_tokenizer) {
        const char *files[] = {"vocab.json", "merges.txt"};
        const char *extra[] = {"tokenizers/gpt2", NULL};
        qb_fetch_files_into(c, "gpt2", files, 2, dir, extra, &sums);
    }
    qb_synth_write_config(config, &o, hex);
    qb_sums_set(&sums, "config.json", hex);
    if (c->report) {
        struct stat sb;
        long long size = stat(config, &sb) == 0 ? (long long)sb.st_size : -1;
        fprintf(c->report, "%s\tconfig.json\t%lld\t%s\tno\tsynthetic\tseed=%llu\n", o.shape.name, size, hex,
                (unsigned long long)o.seed);
    }
    qb_sums_write(&sums, sums_path);
    qb_sums_free(&sums);
    close(lock);
    free(config);
    free(model);
    free(sums_path);
    free(dir);
}

int main(int argc, char **argv) {
    static const struct option longopts[] = {
        {"help", no_argument, 0, 'h'},
        {"quiet", no_argument, 0, 'q'},
        {"output", required_argument, 0, 'o'},
        {"list", no_argument, 0, OPT_LIST},
        {"verify", no_argument, 0, OPT_VERIFY},
        {"synthetic", required_argument, 0, OPT_SYNTH},
        {"dtype", required_argument, 0, OPT_DTYPE},
        {"seed", required_argument, 0, OPT_SEED},
        {"data", required_argument, 0, OPT_DATA},
        {"sources", required_argument, 0, OPT_SOURCES},
        {"mirror", required_argument, 0, OPT_MIRROR},
        {"mirror-only", no_argument, 0, OPT_MIRROR_ONLY},
        {"strict", no_argument, 0, OPT_STRICT},
        {"timeout", required_argument, 0, OPT_TIMEOUT},
        {"retries", required_argument, 0, OPT_RETRIES},
        {"retry-delay", required_argument, 0, OPT_RETRY_DELAY},
        {"max-bytes", required_argument, 0, OPT_MAX_BYTES},
        {"n-layer", required_argument, 0, OPT_NLAYER},
        {"n-embd", required_argument, 0, OPT_NEMBD},
        {"n-head", required_argument, 0, OPT_NHEAD},
        {"n-ctx", required_argument, 0, OPT_NCTX},
        {"no-tokenizer", no_argument, 0, OPT_NO_TOK},
        {"threads", required_argument, 0, OPT_THREADS},
        {0, 0, 0, 0},
    };
    qb_fetch_ctx c = {.data_dir = "data", .max_member_bytes = 16LL << 30, .report = stdout};
    qb_dl_defaults(&c.dl);
    qb_mirrors mirrors = {0};
    const char *sources_path = NULL;
    int list = 0, verify = 0;
    synth_args sa = {.dtype = "f32", .seed = 1};
    char err[1024];
    int opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":hqo:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'h': usage(stdout); return 0;
        case 'q': c.quiet = 1; break;
        case 'o': sa.out = optarg; break;
        case OPT_LIST: list = 1; break;
        case OPT_VERIFY: verify = 1; break;
        case OPT_SYNTH: sa.shape = optarg; break;
        case OPT_DTYPE: sa.dtype = optarg; break;
        case OPT_SEED: sa.seed = (uint64_t)qb_parse_long("--seed", optarg, 0, LONG_MAX); break;
        case OPT_DATA: c.data_dir = optarg; break;
        case OPT_SOURCES: sources_path = optarg; break;
        case OPT_MIRROR:
            if (qb_mirrors_add(&mirrors, optarg, err, sizeof err) != 0) qb_die(QB_EXIT_USAGE, "--mirror: %s", err);
            break;
        case OPT_MIRROR_ONLY: c.mirror_only = 1; break;
        case OPT_STRICT: c.strict = 1; break;
        case OPT_TIMEOUT: {
            double t = qb_parse_double("--timeout", optarg, 1, 86400);
            c.dl.connect_timeout_s = c.dl.stall_s = (long)t;
            break;
        }
        case OPT_RETRIES: c.dl.retries = (int)qb_parse_long("--retries", optarg, 0, 100); break;
        case OPT_RETRY_DELAY: c.dl.retry_delay_s = qb_parse_double("--retry-delay", optarg, 0, 3600); break;
        case OPT_MAX_BYTES: c.max_member_bytes = qb_parse_long("--max-bytes", optarg, 0, LONG_MAX); break;
        case OPT_NLAYER: sa.n_layer = (int)qb_parse_long("--n-layer", optarg, 1, 1024); break;
        case OPT_NEMBD: sa.n_embd = (int)qb_parse_long("--n-embd", optarg, 1, 65536); break;
        case OPT_NHEAD: sa.n_head = (int)qb_parse_long("--n-head", optarg, 1, 1024); break;
        case OPT_NCTX: sa.n_ctx = (int)qb_parse_long("--n-ctx", optarg, 1, 1 << 20); break;
        case OPT_NO_TOK: sa.no_tokenizer = 1; break;
        case OPT_THREADS: sa.threads = (int)qb_parse_long("--threads", optarg, 1, 1024); break;
        case ':': qb_die(QB_EXIT_USAGE, "%s needs a value (fetch --help)", argv[optind - 1]);
        default: qb_die(QB_EXIT_USAGE, "unknown option '%s' (fetch --help)", argv[optind - 1]);
        }
    }
    c.dl.quiet = c.quiet;
    const char *env = getenv("QB_MIRROR");
    if (env && qb_mirrors_add_list(&mirrors, env, err, sizeof err) != 0) qb_die(QB_EXIT_USAGE, "QB_MIRROR: %s", err);
    c.mirrors = &mirrors;

    int modes = list + verify + (sa.shape != NULL);
    if (modes > 1) qb_die(QB_EXIT_USAGE, "--list, --verify and --synthetic do not go together");
    if (sa.shape && optind < argc) qb_die(QB_EXIT_USAGE, "--synthetic takes no NAME arguments");
    if (!sa.shape && (sa.out || sa.n_layer || sa.n_embd || sa.n_head || sa.n_ctx || sa.no_tokenizer || sa.threads))
        qb_die(QB_EXIT_USAGE, "-o, --n-*, --no-tokenizer and --threads go with --synthetic");
    if (!modes && optind >= argc) qb_die(QB_EXIT_USAGE, "no NAME given (fetch --list shows the catalogue, fetch --help the usage)");
    if (list && optind < argc) qb_die(QB_EXIT_USAGE, "--list takes no NAME arguments");
    if (verify && optind >= argc) qb_die(QB_EXIT_USAGE, "--verify needs a NAME or a folder");

    // The catalogue, unless nothing needs it (synthetic weights without the
    // tokenizer, verifying folders).
    int need_sources = !(sa.shape && sa.no_tokenizer);
    if (verify) {
        need_sources = 0;
        for (int i = optind; i < argc; i++) need_sources |= !strchr(argv[i], '/');
    }
    char *spath = sources_path ? qb_strdup(sources_path) : default_sources();
    qb_sources src = {0};
    if (need_sources && qb_sources_read(&src, spath, err, sizeof err) != 0) qb_die(QB_EXIT_DATA, "%s", err);
    c.src = &src;
    qb_dl_global_init();

    int rc = 0;
    if (list) {
        list_catalogue(&c, stdout);
    } else if (sa.shape) {
        run_synthetic(&c, &sa);
    } else if (verify) {
        fprintf(stdout, "name\tfile\tbytes\tsha256\texpected\tstatus\n");
        for (int i = optind; i < argc; i++) {
            int r = strchr(argv[i], '/') ? qb_verify_dir(argv[i], stdout) : qb_verify_artifact(&c, argv[i], stdout);
            if (r == QB_EXIT_INTEGRITY || (r && !rc)) rc = r;
        }
    } else {
        for (int i = optind; i < argc; i++)
            if (!qb_sources_has(&src, argv[i])) qb_die(QB_EXIT_USAGE, "unknown name '%s' (fetch --list shows the catalogue)", argv[i]);
        qb_fetch_report_header(stdout);
        for (int i = optind; i < argc; i++) qb_fetch_artifact(&c, argv[i]);
    }
    fflush(stdout);
    qb_sources_free(&src);
    qb_mirrors_free(&mirrors);
    free(spath);
    return rc;
}
