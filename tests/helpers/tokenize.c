// tokenize: test and benchmark driver for tools/lib/tokenizer (not a product tool).
//   tokenize VOCAB MERGES FILE             ids of FILE, one per line
//   tokenize --decode VOCAB MERGES FILE    FILE holds ids (whitespace-separated); raw bytes to stdout
//   tokenize --bench [-r N] VOCAB MERGES FILE
//                                          encodes FILE N times (default 5), one thread, prints
//                                          a TSV header and one row: bytes tokens best_s tokens_per_s
//                                          mb_per_s first_s load_s
// FILE "-" is stdin. Errors: usage exit 1, bad vocab/merges/ids exit 2.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"
#include "util.h"

static void usage(FILE *f) {
    fprintf(f, "usage: tokenize [--decode | --bench [-r N]] VOCAB MERGES FILE\n");
}

static char *read_input(const char *path, size_t *len) {
    if (strcmp(path, "-") != 0) return qb_read_file(path, len);
    size_t cap = 1 << 16, n = 0;
    char *buf = qb_malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, stdin)) > 0)
        if ((n += got) + 1 >= cap) buf = qb_realloc(buf, cap *= 2);
    buf[n] = 0;
    *len = n;
    return buf;
}

int main(int argc, char **argv) {
    int decode = 0, bench = 0;
    long repeat = 5;
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--decode")) decode = 1;
        else if (!strcmp(argv[i], "--bench")) bench = 1;
        else if (!strcmp(argv[i], "-r") && i + 1 < argc) repeat = qb_parse_long("-r", argv[++i], 1, 1000);
        else {
            usage(stderr);
            qb_die(QB_EXIT_USAGE, "unknown option %s", argv[i]);
        }
    }
    if (argc - i != 3 || (decode && bench)) {
        usage(stderr);
        return QB_EXIT_USAGE;
    }
    double t_load = qb_now();
    qb_tokenizer *t = qb_tokenizer_load(argv[i], argv[i + 1]);
    t_load = qb_now() - t_load;
    size_t len;
    char *text = read_input(argv[i + 2], &len);

    if (decode) {
        size_t n = 0, cap = 1024;
        int *ids = qb_malloc(cap * sizeof *ids);
        char *p = text, *end;
        for (;;) {
            while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
            if (!*p) break;
            errno = 0;
            long v = strtol(p, &end, 10);
            if (end == p || errno || v < 0 || v >= qb_tokenizer_n_vocab(t))
                qb_die(QB_EXIT_DATA, "%s: byte %zu: not a token id of this vocabulary", argv[i + 2],
                       (size_t)(p - text));
            if (n == cap) ids = qb_realloc(ids, (cap *= 2) * sizeof *ids);
            ids[n++] = (int)v;
            p = end;
        }
        size_t out_len;
        char *out = qb_detokenize(t, ids, n, &out_len);
        fwrite(out, 1, out_len, stdout);
        free(out);
        free(ids);
    } else if (bench) {
        double best = 1e30, first = 0;
        size_t n = 0;
        for (long r = 0; r < repeat; r++) {
            int *ids;
            double t0 = qb_now();
            n = qb_tokenize(t, text, len, &ids);
            double dt = qb_now() - t0;
            if (dt < best) best = dt;
            if (r == 0) first = dt;
            free(ids);
        }
        printf("bytes\ttokens\tbest_s\ttokens_per_s\tmb_per_s\tfirst_s\tload_s\n");
        printf("%zu\t%zu\t%.6f\t%.0f\t%.2f\t%.6f\t%.6f\n", len, n, best, n / best, len / best / 1e6, first, t_load);
    } else {
        int *ids;
        size_t n = qb_tokenize(t, text, len, &ids);
        for (size_t k = 0; k < n; k++) printf("%d\n", ids[k]);
        free(ids);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) qb_die(QB_EXIT_DATA, "cannot write to stdout: %s", strerror(errno));
    free(text);
    qb_tokenizer_free(t);
    return 0;
}
