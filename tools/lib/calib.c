// calib.c: see calib.h. The forward pass is forward.c's sequence of kernel
// calls, written out here so the input of each matrix can be observed.
#include "calib.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "util.h"

// |x| histogram on a log2 scale: BPO bins per octave from 2^LO to 2^HI.
enum { BPO = 32, LO = -24, HI = 16, NBINS = (HI - LO) * BPO + 2 };

typedef struct {
    double count[NBINS];
    double total;
    float max;
} hist;

static void observe(hist *h, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (!(a == a)) continue;
        if (a > h->max) h->max = a;
        int b;
        if (a < 0x1p-24f)
            b = 0;
        else {
            b = 1 + (int)floor((log2(a) - LO) * BPO);
            if (b >= NBINS) b = NBINS - 1;
        }
        h->count[b] += 1;
        h->total += 1;
    }
}

// The upper edge of the bin where the cumulative count reaches pct percent
// (never above the largest value seen).
static float percentile(const hist *h, double pct) {
    if (h->total == 0) return 0;
    double want = h->total * pct / 100, c = 0;
    for (int b = 0; b < NBINS; b++) {
        c += h->count[b];
        if (c >= want) {
            float edge = b == 0 ? 0x1p-24f : (float)exp2((double)b / BPO + LO);
            return edge < h->max ? edge : h->max;
        }
    }
    return h->max;
}

void qb_calibrate(const qb_model *m, const int *tokens, size_t n, size_t max_tokens, int n_threads, double pct,
                  float *scales, float *absmax) {
    const qb_config *c = &m->cfg;
    const int E = c->n_embd, I = c->n_inner, H = c->n_head, W = c->n_ctx;
    const int nh = qb_calib_n(m);
    hist *hs = qb_calloc((size_t)nh, sizeof *hs);
    qb_pool *pool = qb_pool_new(n_threads);
    float *x = qb_malloc(sizeof(float) * W * E), *h = qb_malloc(sizeof(float) * W * E);
    float *qkv = qb_malloc(sizeof(float) * W * 3 * E), *q = qb_malloc(sizeof(float) * W * E);
    float *kc = qb_malloc(sizeof(float) * W * E), *vc = qb_malloc(sizeof(float) * W * E);
    float *att = qb_malloc(sizeof(float) * W * E), *proj = qb_malloc(sizeof(float) * W * E);
    float *fc = qb_malloc(sizeof(float) * W * I), *row = qb_malloc(sizeof(float) * E);
    float *scratch = qb_malloc(sizeof(float) * (size_t)n_threads * W);
    if (n > max_tokens) n = max_tokens;
    for (size_t w0 = 0; w0 < n; w0 += (size_t)W) {
        const int T = n - w0 < (size_t)W ? (int)(n - w0) : W;
        for (int t = 0; t < T; t++) {
            int id = tokens[w0 + t];
            if (id < 0 || id >= c->n_vocab) qb_die(QB_EXIT_DATA, "calibration: token id %d outside the vocabulary", id);
            qb_weight_row(&m->wte, id, x + (size_t)t * E);
            qb_weight_row(&m->wpe, t, row);
            qb_add(x + (size_t)t * E, row, (size_t)E);
        }
        for (int l = 0; l < c->n_layer; l++) {
            const qb_layer *L = &m->layers[l];
            qb_layernorm(h, x, L->ln_1_g, L->ln_1_b, E, T, c->ln_eps);
            observe(&hs[4 * l], h, (size_t)T * E);
            qb_matmul(pool, qkv, h, &L->attn_qkv, L->attn_qkv_b, T);
            for (int t = 0; t < T; t++) {
                memcpy(q + (size_t)t * E, qkv + (size_t)t * 3 * E, sizeof(float) * E);
                memcpy(kc + (size_t)t * E, qkv + (size_t)t * 3 * E + E, sizeof(float) * E);
                memcpy(vc + (size_t)t * E, qkv + (size_t)t * 3 * E + 2 * E, sizeof(float) * E);
            }
            qb_attention(pool, att, q, kc, vc, 0, T, H, E / H, scratch);
            observe(&hs[4 * l + 1], att, (size_t)T * E);
            qb_matmul(pool, proj, att, &L->attn_proj, L->attn_proj_b, T);
            qb_add(x, proj, (size_t)T * E);
            qb_layernorm(h, x, L->ln_2_g, L->ln_2_b, E, T, c->ln_eps);
            observe(&hs[4 * l + 2], h, (size_t)T * E);
            qb_matmul(pool, fc, h, &L->mlp_fc, L->mlp_fc_b, T);
            qb_gelu(fc, (size_t)T * I);
            observe(&hs[4 * l + 3], fc, (size_t)T * I);
            qb_matmul(pool, proj, fc, &L->mlp_proj, L->mlp_proj_b, T);
            qb_add(x, proj, (size_t)T * E);
        }
        qb_layernorm(h, x, m->ln_f_g, m->ln_f_b, E, T, c->ln_eps);
        observe(&hs[4 * c->n_layer], h, (size_t)T * E);
    }
    for (int i = 0; i < nh; i++) {
        scales[i] = percentile(&hs[i], pct) / 127;
        if (absmax) absmax[i] = hs[i].max;
    }
    qb_pool_free(pool);
    free(x), free(h), free(qkv), free(q), free(kc), free(vc), free(att), free(proj), free(fc), free(row);
    free(scratch), free(hs);
}
