// matmul: speed of the CPU matmul kernels at GPT-2 124M shapes, each fast
// path next to the scalar reference run the same way in the same process.
//
//   matmul [-t THREADS[,THREADS...]] [-T PREFILL_TOKENS] [--min-time S] [--quick]
//
// decode (T = 1): GB/s of weight bytes streamed. The weights are rotated over
// enough copies (>= 256 MiB and >= 3x the L3) that every call reads them from
// DRAM, as a decode step over a whole model does, not from the L3 cache.
// prefill (T tokens): GFLOP/s = 2 T n_in n_out / time.
// Each figure is the median over repeats lasting at least --min-time seconds.
// TSV: case type layout n_in n_out T threads isa value unit scalar_value ratio
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "kernels.h"
#include "util.h"

// The largest CPU cache (the L3) in bytes, from sysfs; 0 if unknown.
static size_t largest_cache_bytes(void) {
    size_t best = 0;
    for (int i = 0; i < 8; i++) {
        char path[96];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        unsigned long v = 0;
        char unit = 0;
        if (fscanf(f, "%lu%c", &v, &unit) >= 1) {
            size_t b = v * (unit == 'K' ? 1024ul : unit == 'M' ? 1048576ul : 1ul);
            if (b > best) best = b;
        }
        fclose(f);
    }
    return best;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

// Median seconds per call of y = x W^T + b over the weight copies in turn.
static double time_matmul(qb_isa isa, qb_pool *pool, float *y, const float *x, qb_weight *w, void **copies,
                          int n_copies, const float *bias, int T, double min_time) {
    double times[64];
    int n = 0, c = 0;
    double start = qb_now();
    w->data = copies[c++ % n_copies];
    qb_matmul_isa(isa, pool, y, x, w, bias, T); // warm-up
    while (n < 64 && (n < 3 || qb_now() - start < min_time)) {
        w->data = copies[c++ % n_copies];
        double t0 = qb_now();
        qb_matmul_isa(isa, pool, y, x, w, bias, T);
        times[n++] = qb_now() - t0;
    }
    qsort(times, n, sizeof *times, cmp_double);
    return times[n / 2];
}

int main(int argc, char **argv) {
    const char *tlist = "1,2";
    int Tp = 128, quick = 0;
    double min_time = 0.5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: matmul [-t THREADS[,THREADS...]] [-T PREFILL_TOKENS] [--min-time S] [--quick]\n");
            return 0;
        } else if (!strcmp(argv[i], "-t") && i + 1 < argc) tlist = argv[++i];
        else if (!strcmp(argv[i], "-T") && i + 1 < argc) Tp = (int)qb_parse_long("-T", argv[++i], 2, 4096);
        else if (!strcmp(argv[i], "--min-time") && i + 1 < argc)
            min_time = qb_parse_double("--min-time", argv[++i], 0, 100);
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else {
            fprintf(stderr, "matmul: bad argument %s (try --help)\n", argv[i]);
            return 1;
        }
    }
    const qb_isa best = qb_cpu_isa();
    size_t rotate_bytes = 3 * largest_cache_bytes();
    if (rotate_bytes < (256u << 20)) rotate_bytes = 256u << 20;
    // gpt2-124M: attn c_attn, mlp c_fc, mlp c_proj (Conv1D [in][out] in the HF
    // checkpoint, [out][in] in GGUF), and the tied lm_head ([out][in], wte).
    const struct {
        int n_in, n_out;
        const char *name;
    } shapes[] = {{768, 2304, "c_attn"}, {768, 3072, "c_fc"}, {3072, 768, "c_proj"}, {768, 50257, "lm_head"}};
    const qb_type types[] = {QB_TYPE_F32, QB_TYPE_F16, QB_TYPE_BF16};
    const char *tnames[] = {"F32", "F16", "BF16"};

    printf("# isa %s; decode weights rotated over >= %zu MiB of copies; median of repeats >= %.2fs\n",
           qb_isa_name(best), rotate_bytes >> 20, min_time);
    printf("case\tshape\ttype\tlayout\tn_in\tn_out\tT\tthreads\tisa\tvalue\tunit\tscalar\tratio\n");
    char *list = qb_strdup(tlist), *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int nt = (int)qb_parse_long("-t", tok, 1, 256);
        qb_pool *pool = qb_pool_new(nt);
        for (int si = 0; si < 4; si++)
            for (int ti = 0; ti < 3; ti++)
                for (int layout = 0; layout < 2; layout++) {
                    if (si == 3 && layout == QB_LAYOUT_IN_OUT) continue; // lm_head is wte, [out][in]
                    if (quick && ti > 0 && si != 3) continue;
                    const int n_in = shapes[si].n_in, n_out = shapes[si].n_out;
                    const size_t n = (size_t)n_in * n_out, bytes = n * (types[ti] == QB_TYPE_F32 ? 4 : 2);
                    int n_copies = (int)(rotate_bytes / bytes + 1);
                    void **copies = qb_malloc(sizeof(void *) * n_copies);
                    for (int c = 0; c < n_copies; c++) {
                        copies[c] = qb_aligned_alloc(bytes);
                        uint16_t *h = copies[c];
                        float *f = copies[c];
                        for (size_t k = 0; k < n; k++) {
                            float v = (float)((k * 2654435761u % 2001) / 1000.0 - 1.0) * 0.05f;
                            if (types[ti] == QB_TYPE_F32) f[k] = v;
                            else h[k] = types[ti] == QB_TYPE_F16 ? qb_f32_to_f16(v) : qb_f32_to_bf16(v);
                        }
                    }
                    float *x = qb_aligned_alloc(sizeof(float) * Tp * n_in);
                    float *y = qb_aligned_alloc(sizeof(float) * Tp * n_out);
                    float *bias = qb_aligned_alloc(sizeof(float) * n_out);
                    for (int k = 0; k < Tp * n_in; k++) x[k] = (float)sin(k * 0.1);
                    for (int k = 0; k < n_out; k++) bias[k] = 0.01f * (float)k;
                    qb_weight w = {types[ti], (qb_layout)layout, n_in, n_out, copies[0]};
                    const char *lname = layout ? "in_out" : "out_in";

                    double fast = time_matmul(best, pool, y, x, &w, copies, n_copies, bias, 1, min_time);
                    double slow = time_matmul(QB_ISA_SCALAR, pool, y, x, &w, copies, n_copies, bias, 1,
                                              quick ? 0 : min_time);
                    printf("decode\t%s\t%s\t%s\t%d\t%d\t1\t%d\t%s\t%.2f\tGB/s\t%.2f\t%.1f\n", shapes[si].name,
                           tnames[ti], lname, n_in, n_out, nt, qb_isa_name(best), bytes / fast / 1e9,
                           bytes / slow / 1e9, slow / fast);
                    fflush(stdout);

                    // Prefill: the weights stay put (one copy), the tokens are many.
                    const double flop = 2.0 * Tp * n_in * n_out;
                    fast = time_matmul(best, pool, y, x, &w, copies, 1, bias, Tp, min_time);
                    slow = si == 3 || quick ? NAN
                                            : time_matmul(QB_ISA_SCALAR, pool, y, x, &w, copies, 1, bias, Tp, 0);
                    printf("prefill\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%.2f\tGFLOP/s\t%.2f\t%.1f\n", shapes[si].name,
                           tnames[ti], lname, n_in, n_out, Tp, nt, qb_isa_name(best), flop / fast / 1e9,
                           flop / slow / 1e9, slow / fast);
                    fflush(stdout);
                    for (int c = 0; c < n_copies; c++) free(copies[c]);
                    free(copies), free(x), free(y), free(bias);
                }
        qb_pool_free(pool);
    }
    free(list);
    return 0;
}
