// qmatmul: speed of the quantized matmul kernels at GPT-2 124M shapes, next
// to F32 weights run the same way in the same process.
//
//   qmatmul [-t THREADS[,THREADS...]] [-T PREFILL_TOKENS] [-s N_IN,N_OUT] [--min-time S]
//           [--types T[,T...]] [--decode-only]
//
// -s replaces the three GPT-2 124M shapes by one (e.g. -s 160,50257: the
// tied output matrix of qb-gpt2-10m, which dominates ppl's time). --types
// limits the other types (F16, BF16 and the quantized ones; F32 always
// runs: the ratios need it) and
// --decode-only skips prefill, for quick old/new comparisons of one kernel.
//
// decode (T = 1): microseconds per call and GB/s of weight bytes streamed;
// the weights are rotated over enough copies (>= 256 MiB) that each call
// reads them from DRAM, as a decode step over a whole model does. ratio =
// F32 time / this time (the decode speed-up the weight type buys).
// --rotate MIB sets that rotation's size (0: one copy, read from cache
// where it fits: the kernel's compute speed, without DRAM); QB_BENCH_THP=1
// backs the rotation with huge pages (fewer TLB misses).
// prefill (T tokens): GFLOP/s = 2 T n_in n_out / time, ratio likewise.
// TSV: case type act n_in n_out T threads isa us value unit ratio_vs_f32
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cpu/cpu.h"
#include "kernels.h"
#include "quant.h"
#include "util.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double time_mm(qb_isa isa, qb_pool *pool, float *y, const float *x, qb_weight *w, void **copies, int n_copies,
                      int T, double min_time) {
    double times[256];
    int n = 0, c = 0;
    w->data = copies[c++ % n_copies];
    qb_matmul_isa(isa, pool, y, x, w, NULL, T); // warm-up
    double start = qb_now();
    while (n < 256 && (n < 5 || qb_now() - start < min_time)) {
        w->data = copies[c++ % n_copies];
        double t0 = qb_now();
        qb_matmul_isa(isa, pool, y, x, w, NULL, T);
        times[n++] = qb_now() - t0;
    }
    qsort(times, n, sizeof *times, cmp_double);
    return times[n / 2];
}

// Whether name is one of the comma-separated list (a NULL list holds every name).
static int in_list(const char *list, const char *name) {
    if (!list) return 1;
    const size_t n = strlen(name);
    for (const char *p = list; p; p = strchr(p, ',')) {
        if (*p == ',') p++;
        if (!strncmp(p, name, n) && (p[n] == ',' || !p[n])) return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *tlist = "1,2";
    int Tp = 128;
    double min_time = 0.3;
    int one_shape[2] = {0, 0};
    const char *only_types = NULL;
    int decode_only = 0;
    long rotate_mib = 256;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: qmatmul [-t THREADS[,THREADS...]] [-T PREFILL_TOKENS] [-s N_IN,N_OUT] [--min-time S]\n"
                   "               [--types T[,T...]] [--decode-only] [--rotate MIB]\n");
            return 0;
        } else if (!strcmp(argv[i], "-t") && i + 1 < argc)
            tlist = argv[++i];
        else if (!strcmp(argv[i], "-T") && i + 1 < argc)
            Tp = (int)qb_parse_long("-T", argv[++i], 2, 4096);
        else if (!strcmp(argv[i], "-s") && i + 1 < argc) {
            char *comma = strchr(argv[++i], ',');
            if (!comma) qb_die(QB_EXIT_USAGE, "-s wants N_IN,N_OUT, got %s", argv[i]);
            *comma = 0;
            one_shape[0] = (int)qb_parse_long("-s N_IN", argv[i], 32, 1 << 20);
            one_shape[1] = (int)qb_parse_long("-s N_OUT", comma + 1, 1, 1 << 24);
            if (one_shape[0] % 32) qb_die(QB_EXIT_USAGE, "-s: N_IN %d is not a multiple of 32", one_shape[0]);
        } else if (!strcmp(argv[i], "--min-time") && i + 1 < argc)
            min_time = qb_parse_double("--min-time", argv[++i], 0, 100);
        else if (!strcmp(argv[i], "--types") && i + 1 < argc)
            only_types = argv[++i];
        else if (!strcmp(argv[i], "--rotate") && i + 1 < argc)
            rotate_mib = qb_parse_long("--rotate", argv[++i], 0, 4096);
        else if (!strcmp(argv[i], "--decode-only"))
            decode_only = 1;
        else
            qb_die(QB_EXIT_USAGE, "bad argument %s (try --help)", argv[i]);
    }
    int shapes[][2] = {{768, 2304}, {768, 3072}, {3072, 768}};
    size_t n_shapes = sizeof shapes / sizeof *shapes;
    if (one_shape[0]) shapes[0][0] = one_shape[0], shapes[0][1] = one_shape[1], n_shapes = 1;
    const qb_type types[] = {QB_TYPE_F32, QB_TYPE_F16, QB_TYPE_BF16, QB_TYPE_Q8_0, QB_TYPE_Q6_K, QB_TYPE_Q4_K, QB_TYPE_Q4_1, QB_TYPE_Q4_0, QB_TYPE_IQ4_NL};
    const qb_isa isa = qb_cpu_isa();
    printf("case\ttype\tact\tn_in\tn_out\tT\tthreads\tisa\tus\tvalue\tunit\tratio_vs_f32\n");
    char tl[64];
    snprintf(tl, sizeof tl, "%s", tlist);
    for (char *tok = strtok(tl, ","); tok; tok = strtok(NULL, ",")) {
        int nth = (int)qb_parse_long("-t", tok, 1, 256);
        qb_pool *pool = qb_pool_new(nth);
        for (size_t s = 0; s < n_shapes; s++) {
            const int n_in = shapes[s][0], n_out = shapes[s][1];
            float *x = qb_aligned_alloc(sizeof(float) * (size_t)Tp * n_in);
            float *y = qb_aligned_alloc(sizeof(float) * (size_t)Tp * n_out);
            float *wf = qb_malloc(sizeof(float) * (size_t)n_in * n_out);
            for (size_t k = 0; k < (size_t)Tp * n_in; k++) x[k] = (float)((k * 2654435761u % 2001) / 1000.0 - 1);
            for (size_t k = 0; k < (size_t)n_in * n_out; k++) wf[k] = (float)((k * 40503u % 4001) / 100000.0 - 0.02);
            double f32_us[2] = {0, 0};
            for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
                const qb_type t = types[ti];
                if (n_in % qb_type_block(t)) continue; // e.g. the K-quants on a 160-wide matrix
                if (t != QB_TYPE_F32 && !in_list(only_types, qb_type_name(t))) continue;
                const size_t bytes = qb_row_bytes(t, n_in) * n_out;
                int n_copies = (int)(((size_t)rotate_mib << 20) / bytes) + 1;
                void **copies = qb_malloc(sizeof(void *) * n_copies);
                // The copies side by side in one fresh mapping, so every type's rotation
                // sits in memory the same way (separate mallocs went wherever the heap's
                // history put them). QB_BENCH_THP=1 asks for huge pages there: weights in
                // L3 stream TLB-bound on 4 KiB pages (this VM, 768x2304, 1 thread, rotate
                // 64: q4_0 11-13.5 -> 17-18 GB/s, iq4_nl 8.5-9 -> 12.5-13).
                const size_t stride = (bytes + 4095) & ~(size_t)4095;
                char *region = mmap(NULL, stride * n_copies, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (region == MAP_FAILED) qb_die(QB_EXIT_DATA, "qmatmul: no memory for %d weight copies", n_copies);
                if (getenv("QB_BENCH_THP")) madvise(region, stride * n_copies, MADV_HUGEPAGE);
                for (int c = 0; c < n_copies; c++) copies[c] = region + (size_t)c * stride;
                for (int o = 0; o < n_out; o++)
                    qb_quantize_row(t, wf + (size_t)o * n_in, (char *)copies[0] + o * qb_row_bytes(t, n_in), n_in);
                for (int c = 1; c < n_copies; c++) memcpy(copies[c], copies[0], bytes);
                qb_weight w = {t, QB_LAYOUT_OUT_IN, n_in, n_out, copies[0]};
                const int float_type = t == QB_TYPE_F32 || t == QB_TYPE_F16 || t == QB_TYPE_BF16;
                for (int act = 0; act < (float_type ? 1 : 2); act++) {
                    qb_pool_set_act(pool, (qb_act_mode)act);
                    for (int c = 0; c < (decode_only ? 1 : 2); c++) {
                        int T = c == 0 ? 1 : Tp;
                        double sec = time_mm(isa, pool, y, x, &w, copies, c == 0 ? n_copies : 1, T, min_time);
                        if (t == QB_TYPE_F32) f32_us[c] = sec * 1e6;
                        double value = c == 0 ? bytes / sec / 1e9 : 2.0 * T * n_in * n_out / sec / 1e9;
                        printf("%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%.1f\t%.2f\t%s\t%.2f\n", c == 0 ? "decode" : "prefill",
                               qb_type_name(t), qb_act_name((qb_act_mode)act), n_in, n_out, T, nth, qb_isa_name(isa),
                               sec * 1e6, value, c == 0 ? "GB/s" : "GFLOP/s", f32_us[c] / (sec * 1e6));
                        fflush(stdout);
                    }
                }
                munmap(region, stride * n_copies);
                free(copies);
            }
            free(x), free(y), free(wf);
        }
        qb_pool_free(pool);
    }
    return 0;
}
