// cuda_ceilings: the GPU's two ceilings and the GEMV's share of the first.
//
//   cuda_ceilings [-q]      (-q: fewer repeats, for a quick look)
//
// copy:  device-to-device cudaMemcpy of 1 GiB, GB/s counting bytes read plus
//        written (the bandwidth ceiling every "fraction of the floor" uses).
// gemm:  cuBLAS F16 GEMM 8192^3 (float32 accumulation) on random data, TFLOP/s.
// gemv:  the batch-1 GEMV of each weight type at gpt2-xl's shapes
//        (1600->4800 qkv, 1600->6400 up, 6400->1600 down, 1600->50257 lm_head),
//        rows per warp 1/2/4, with and without programmatic dependent launch,
//        100 calls captured in a CUDA graph over enough weight copies (>= 512 MB)
//        that L2 (50 MB) holds none of them between uses. GB/s counts the
//        weight bytes in the file's layout (what a step must read) plus x;
//        frac = that over the copy ceiling (bytes read + written per second), the
//        denominator of every "fraction of the bandwidth floor" we report.
// Prints TSV: what, type, shape, rows_per_warp, pdl, us, gbps, frac.
// Timings are medians over repeats, with device events.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "util.h"

#ifndef QB_HAVE_CUDA
int main(void) {
    fprintf(stderr, "cuda_ceilings: built without CUDA\n");
    return 0;
}
#else
#include "cuda/cuda_backend.h"

static int cmp_f(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}
static float median(float *v, int n) {
    qsort(v, n, sizeof *v, cmp_f);
    return v[n / 2];
}

static unsigned long long rs = 88172645463325252ull;
static unsigned rnd(void) {
    rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
    return (unsigned)(rs >> 11);
}
static float frnd(void) { return (rnd() % 2000001) / 1000000.0f - 1.0f; }

typedef struct {
    qb_type t;
    const char *name;
    int block, bytes, scale_at, scales; // scale_at: first f16 field's offset; scales: how many
} tinfo;
static const tinfo TYPES[] = {
    {QB_TYPE_F32, "f32", 1, 4, 0, 0},        {QB_TYPE_F16, "f16", 1, 2, 0, 0},
    {QB_TYPE_BF16, "bf16", 1, 2, 0, 0},      {QB_TYPE_Q8_0, "q8_0", 32, 34, 0, 1},
    {QB_TYPE_Q4_0, "q4_0", 32, 18, 0, 1},    {QB_TYPE_Q4_1, "q4_1", 32, 20, 0, 2},
    {QB_TYPE_IQ4_NL, "iq4_nl", 32, 18, 0, 1}, {QB_TYPE_Q4_K, "q4_k", 256, 144, 0, 2},
    {QB_TYPE_Q6_K, "q6_k", 256, 210, 208, 1},
};

// Random bytes with valid (finite, small) float16 scales.
static void *rand_weight(const tinfo *ti, int n_in, int n_out, size_t *bytes) {
    size_t nb = (size_t)n_in / ti->block * n_out;
    *bytes = nb * ti->bytes;
    uint8_t *d = qb_malloc(*bytes);
    for (size_t i = 0; i < nb; i++) {
        uint8_t *b = d + i * ti->bytes;
        if (ti->t == QB_TYPE_F32) {
            float v = frnd();
            memcpy(b, &v, 4);
        } else if (ti->t == QB_TYPE_F16 || ti->t == QB_TYPE_BF16) {
            uint16_t v = ti->t == QB_TYPE_F16 ? qb_f32_to_f16(frnd()) : qb_f32_to_bf16(frnd());
            memcpy(b, &v, 2);
        } else {
            for (int k = 0; k < ti->bytes; k++) b[k] = (uint8_t)rnd();
            for (int k = 0; k < ti->scales; k++) {
                uint16_t v = qb_f32_to_f16(0.01f * frnd());
                memcpy(b + ti->scale_at + 2 * k, &v, 2);
            }
        }
    }
    return d;
}

static double copy_gbps;

static void bench_copy(qb_cuda *c, int reps) {
    const size_t n = 1ull << 30;
    void *a = qb_cuda_alloc(c, n), *b = qb_cuda_alloc(c, n);
    qb_cuda_memset(c, a, 1, n);
    float ms[64];
    for (int r = -2; r < reps; r++) {
        qb_cuda_event *e0 = qb_cuda_event_record(c);
        qb_cuda_copy(c, b, a, n);
        qb_cuda_event *e1 = qb_cuda_event_record(c);
        float t = qb_cuda_event_ms(e0, e1);
        if (r >= 0) ms[r] = t;
        qb_cuda_event_free(e0), qb_cuda_event_free(e1);
    }
    float m = median(ms, reps);
    copy_gbps = 2.0 * n / (m * 1e-3) / 1e9;
    printf("copy\t-\t1GiB\t-\t-\t%.1f\t%.1f\t1.000\n", m * 1e3, copy_gbps);
    qb_cuda_free(c, a), qb_cuda_free(c, b);
}

static void bench_gemm(qb_cuda *c, int reps) {
    const int n = 8192;
    const size_t cnt = (size_t)n * n;
    uint16_t *h = qb_malloc(cnt * 2);
    for (size_t i = 0; i < cnt; i++) h[i] = qb_f32_to_f16(frnd());
    uint16_t *A = qb_cuda_alloc(c, cnt * 2), *B = qb_cuda_alloc(c, cnt * 2), *C = qb_cuda_alloc(c, cnt * 2);
    qb_cuda_to_device(c, A, h, cnt * 2);
    for (size_t i = 0; i < cnt; i++) h[i] = qb_f32_to_f16(frnd());
    qb_cuda_to_device(c, B, h, cnt * 2);
    free(h);
    float ms[64];
    for (int r = -3; r < reps; r++) {
        qb_cuda_event *e0 = qb_cuda_event_record(c);
        qb_cuda_gemm_f16(c, C, A, B, n, n, n);
        qb_cuda_event *e1 = qb_cuda_event_record(c);
        float t = qb_cuda_event_ms(e0, e1);
        if (r >= 0) ms[r] = t;
        qb_cuda_event_free(e0), qb_cuda_event_free(e1);
    }
    float m = median(ms, reps);
    printf("gemm_f16\t-\t8192^3\t-\t-\t%.1f\t%.1f TFLOP/s\t-\n", m * 1e3, 2.0 * n * n * (double)n / (m * 1e-3) / 1e12);
    qb_cuda_free(c, A), qb_cuda_free(c, B), qb_cuda_free(c, C);
}

static void bench_gemv(qb_cuda *c, const tinfo *ti, int n_in, int n_out, int reps) {
    if (!qb_cuda_type_ok(ti->t, n_in)) return;
    size_t bytes;
    void *h = rand_weight(ti, n_in, n_out, &bytes);
    qb_weight hw = {ti->t, QB_LAYOUT_OUT_IN, n_in, n_out, h};
    int copies = (int)((512u << 20) / bytes) + 2;
    if (copies > 100) copies = 100;
    qb_weight *w = qb_malloc(sizeof *w * copies);
    for (int i = 0; i < copies; i++) w[i] = qb_cuda_weight_upload(c, &hw);
    free(h);
    float *x = qb_malloc(sizeof(float) * n_in);
    for (int i = 0; i < n_in; i++) x[i] = frnd();
    float *dx = qb_cuda_alloc(c, sizeof(float) * n_in), *dy = qb_cuda_alloc(c, sizeof(float) * n_out);
    qb_cuda_to_device(c, dx, x, sizeof(float) * n_in);
    free(x);
    const int calls = 100;
    // -8, -16: the tensor-core GEMV (qb_gemv_has_mma), then with each row over 2, 4 or 8 blocks, then 8 warps a block
    const int Rs[] = {1, 2, 4, 8, -8, -16, qb_gemv_choice(-8, 2, 0), qb_gemv_choice(-8, 4, 0), qb_gemv_choice(-8, 8, 0),
                      qb_gemv_choice(-16, 2, 0), qb_gemv_choice(-16, 4, 0), qb_gemv_choice(-16, 8, 0),
                      qb_gemv_choice(-8, 1, 1), qb_gemv_choice(-16, 1, 1)};
    for (int pdl = 1; pdl < 2; pdl++)
        for (size_t ri = 0; ri < sizeof Rs / sizeof Rs[0]; ri++) {
            const int R = Rs[ri];
            if (R < 0 && !qb_gemv_has_mma(ti->t)) break;
            qb_cuda_set_pdl(c, pdl);
            qb_cuda_gemv(c, dy, dx, &w[0], NULL, QB_CUDA_STORE, R); // warm-up
            qb_cuda_graph_begin(c);
            for (int k = 0; k < calls; k++) qb_cuda_gemv(c, dy, dx, &w[k % copies], NULL, QB_CUDA_STORE, R);
            qb_cuda_graph_end(c);
            float ms[64];
            for (int r = -2; r < reps; r++) {
                qb_cuda_event *e0 = qb_cuda_event_record(c);
                qb_cuda_graph_launch(c);
                qb_cuda_event *e1 = qb_cuda_event_record(c);
                float t = qb_cuda_event_ms(e0, e1);
                if (r >= 0) ms[r] = t;
                qb_cuda_event_free(e0), qb_cuda_event_free(e1);
            }
            const double us = median(ms, reps) * 1e3 / calls;
            const double gbps = (bytes + 4.0 * n_in) / (us * 1e-6) / 1e9;
            printf("gemv\t%s\t%dx%d\t%d\t%d\t%.2f\t%.1f\t%.3f\n", ti->name, n_out, n_in, R, pdl, us, gbps,
                   gbps / copy_gbps);
            fflush(stdout);
        }
    qb_cuda_set_pdl(c, 1);
    for (int i = 0; i < copies; i++) qb_cuda_weight_free(c, &w[i]);
    free(w);
    qb_cuda_free(c, dx), qb_cuda_free(c, dy);
}

// cuda_ceilings [-q] [TYPE...]: -q fewer repeats; TYPEs (f16, q4_0, ...) limit the GEMV rows to them.
static int type_wanted(const char *name, int argc, char **argv, int first) {
    if (first >= argc) return 1;
    for (int i = first; i < argc; i++)
        if (!strcmp(argv[i], name)) return 1;
    return 0;
}

int main(int argc, char **argv) {
    int quick = argc > 1 && !strcmp(argv[1], "-q");
    char err[256];
    qb_cuda *c = qb_cuda_open(0, err, sizeof err);
    if (!c) {
        printf("# skipped: %s\n", err);
        return 0;
    }
    printf("# device: %s, %s, %d SMs\n", qb_cuda_device_name(c), qb_cuda_driver(c), qb_cuda_sm_count(c));
    printf("what\ttype\tshape\trows_per_warp\tpdl\tus\tgbps\tfrac\n");
    bench_copy(c, quick ? 5 : 20);
    bench_gemm(c, quick ? 3 : 10);
    const int shapes[][2] = {{1600, 4800}, {1600, 6400}, {6400, 1600}, {1600, 50257}};
    for (size_t t = 0; t < sizeof TYPES / sizeof TYPES[0]; t++)
        if (type_wanted(TYPES[t].name, argc, argv, 1 + quick))
            for (int s = 0; s < 4; s++) bench_gemv(c, &TYPES[t], shapes[s][0], shapes[s][1], quick ? 3 : 7);
    qb_cuda_close(c);
    return 0;
}
#endif
