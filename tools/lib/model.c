// model.c: the format-independent half of loading (ownership, float arrays,
// validation, sizes) and the dispatch on what a model path is. The Hugging
// Face loader is model_hf.c.
#include "model.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "quant.h"
#include "util.h"

qb_model *qb_model_load(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) qb_die(QB_EXIT_DATA, "%s: cannot open model: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return qb_model_load_hf(path);
    // A single file: recognised by its first bytes. New formats add a case here.
    FILE *f = fopen(path, "rb");
    if (!f) qb_die(QB_EXIT_DATA, "%s: cannot open model: %s", path, strerror(errno));
    unsigned char magic[4] = {0};
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    if (got == 4 && memcmp(magic, "GGUF", 4) == 0) return qb_model_load_gguf(path);
    qb_die(QB_EXIT_DATA, "%s: not a model (expected a Hugging Face model directory or a GGUF file)", path);
}

static char *base_name(const char *path) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/') b--;
    size_t len = n - b;
    if (len > 5 && memcmp(path + n - 5, ".gguf", 5) == 0) len -= 5;
    char *s = qb_malloc(len + 1);
    memcpy(s, path + b, len);
    s[len] = 0;
    return s;
}

qb_model *qb_model_new(const char *path, const char *format) {
    qb_model *m = qb_calloc(1, sizeof *m);
    m->path = qb_strdup(path);
    m->name = base_name(path);
    m->format = format;
    return m;
}

void *qb_model_own(qb_model *m, void *p) {
    m->owned = qb_realloc(m->owned, (size_t)(m->n_owned + 1) * sizeof *m->owned);
    m->owned[m->n_owned++] = p;
    return p;
}

const float *qb_model_f32(qb_model *m, qb_type type, const void *data, size_t n) {
    if (type == QB_TYPE_F32 && ((uintptr_t)data & 3) == 0) return data;
    float *out = qb_model_own(m, qb_aligned_alloc(n * sizeof(float)));
    const uint8_t *b = data;
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        switch (type) {
        case QB_TYPE_F32: memcpy(&out[i], b + 4 * i, 4); break;
        case QB_TYPE_F16: memcpy(&h, b + 2 * i, 2), out[i] = qb_f16_to_f32(h); break;
        case QB_TYPE_BF16: memcpy(&h, b + 2 * i, 2), out[i] = qb_bf16_to_f32(h); break;
        default: qb_die(QB_EXIT_DATA, "%s: a norm or bias of type %s (float types only)", m->path, qb_type_name(type));
        }
    }
    return out;
}

void qb_model_free(qb_model *m) {
    if (!m) return;
    if (m->ext_free) m->ext_free(m->ext);
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    if (m->tok) qb_tokenizer_free(m->tok);
    free(m->layers);
    free(m->path);
    free(m->name);
    free(m);
}

// ---- types and sizes ------------------------------------------------------------

size_t qb_type_bytes(qb_type type, size_t n) {
    size_t vals = (size_t)qb_type_block(type);
    if (vals == 0) return 0;
    return (n + vals - 1) / vals * qb_type_block_bytes(type);
}

size_t qb_weight_bytes(const qb_weight *w) {
    // Blocks run along the reduction (input) dimension of each row.
    if (w->layout == QB_LAYOUT_OUT_IN) return (size_t)w->n_out * qb_type_bytes(w->type, (size_t)w->n_in);
    return (size_t)w->n_in * qb_type_bytes(w->type, (size_t)w->n_out);
}

double qb_model_step_bytes(const qb_model *m, int n_pos) {
    const qb_config *c = &m->cfg;
    double b = 0;
    for (int l = 0; l < c->n_layer; l++) {
        const qb_layer *L = &m->layers[l];
        b += (double)qb_weight_bytes(&L->attn_qkv) + qb_weight_bytes(&L->attn_proj) + qb_weight_bytes(&L->mlp_fc) +
             qb_weight_bytes(&L->mlp_proj);
        b += 4.0 * (4 * c->n_embd + 3 * c->n_embd + c->n_embd + c->n_inner + c->n_embd); // norms, biases
        b += 2.0 * 4.0 * n_pos * c->n_embd;                                                  // K and V rows
    }
    b += (double)qb_weight_bytes(&m->lm_head) + 4.0 * 2 * c->n_embd;
    b += (double)qb_type_bytes(m->wte.type, (size_t)c->n_embd) + qb_type_bytes(m->wpe.type, (size_t)c->n_embd);
    return b;
}

const char *qb_model_act_label(const qb_model *m, qb_act_mode mode) {
    int stat = m->act_lm_head > 0;
    for (int l = 0; l < m->cfg.n_layer; l++) {
        const qb_layer *L = &m->layers[l];
        stat |= L->act_qkv > 0 || L->act_proj > 0 || L->act_fc > 0 || L->act_mlp_proj > 0;
    }
    return stat ? "q8-static" : qb_act_name(mode);
}

size_t qb_model_params(const qb_model *m) {
    const qb_config *c = &m->cfg;
    size_t E = (size_t)c->n_embd, I = (size_t)c->n_inner;
    size_t per_layer = 2 * E + (E * 3 * E + 3 * E) + (E * E + E) + 2 * E + (E * I + I) + (I * E + E);
    size_t p = (size_t)c->n_vocab * E + (size_t)c->n_ctx * E + (size_t)c->n_layer * per_layer + 2 * E;
    if (m->lm_head.data != m->wte.data) p += (size_t)c->n_vocab * E;
    return p;
}

// ---- validation -----------------------------------------------------------------

static void check_weight(const qb_model *m, const char *what, const qb_weight *w, int n_in, int n_out) {
    if (!w->data) qb_die(QB_EXIT_DATA, "%s: %s is missing", m->path, what);
    size_t vals = (size_t)qb_type_block(w->type);
    if (vals == 0)
        qb_die(QB_EXIT_DATA, "%s: %s has unknown weight type %d", m->path, what, (int)w->type);
    if (w->n_in != n_in || w->n_out != n_out)
        qb_die(QB_EXIT_DATA, "%s: %s maps %d -> %d values, the config implies %d -> %d", m->path, what, w->n_in,
               w->n_out, n_in, n_out);
    if (w->layout == QB_LAYOUT_IN_OUT) {
        if (vals != 1) qb_die(QB_EXIT_DATA, "%s: %s: a block-quantized matrix must be [out][in]", m->path, what);
    } else if (w->layout != QB_LAYOUT_OUT_IN) {
        qb_die(QB_EXIT_DATA, "%s: %s has unknown layout %d", m->path, what, (int)w->layout);
    }
    if (w->layout == QB_LAYOUT_OUT_IN && n_in % (int)vals != 0)
        qb_die(QB_EXIT_DATA, "%s: %s: rows of %d values are not whole blocks of %s", m->path, what, n_in,
               qb_type_name(w->type));
}

static void check_vec(const qb_model *m, const char *what, const float *v) {
    if (!v) qb_die(QB_EXIT_DATA, "%s: %s is missing", m->path, what);
}

void qb_model_check(qb_model *m) {
    const qb_config *c = &m->cfg;
    const int E = c->n_embd;
    char what[96];
    if (!m->tok) qb_die(QB_EXIT_DATA, "%s: no tokenizer", m->path);
    int nv = qb_tokenizer_n_vocab(m->tok);
    if (nv > c->n_vocab)
        qb_die(QB_EXIT_DATA, "%s: the tokenizer has %d tokens but the model's vocabulary only %d", m->path, nv,
               c->n_vocab);
    check_weight(m, "token embedding (wte)", &m->wte, E, c->n_vocab);
    check_weight(m, "position embedding (wpe)", &m->wpe, E, c->n_ctx);
    if (m->wte.layout != QB_LAYOUT_OUT_IN || m->wpe.layout != QB_LAYOUT_OUT_IN)
        qb_die(QB_EXIT_DATA, "%s: embeddings must be stored one row per token/position", m->path);
    check_weight(m, "output (lm_head)", &m->lm_head, E, c->n_vocab);
    if (!m->layers) qb_die(QB_EXIT_DATA, "%s: no layers", m->path);
    for (int l = 0; l < c->n_layer; l++) {
        const qb_layer *L = &m->layers[l];
#define W(field, in, out) (snprintf(what, sizeof what, "layer %d " #field, l), check_weight(m, what, &L->field, in, out))
#define V(field) (snprintf(what, sizeof what, "layer %d " #field, l), check_vec(m, what, L->field))
        W(attn_qkv, E, 3 * E);
        W(attn_proj, E, E);
        W(mlp_fc, E, c->n_inner);
        W(mlp_proj, c->n_inner, E);
        V(ln_1_g), V(ln_1_b), V(ln_2_g), V(ln_2_b);
        V(attn_qkv_b), V(attn_proj_b), V(mlp_fc_b), V(mlp_proj_b);
#undef W
#undef V
    }
    check_vec(m, "final norm (ln_f) weight", m->ln_f_g);
    check_vec(m, "final norm (ln_f) bias", m->ln_f_b);

    // The summary type: that of every matrix, or "mixed".
    qb_type t = m->layers[0].attn_qkv.type;
    int mixed = m->wte.type != t || m->wpe.type != t || m->lm_head.type != t;
    for (int l = 0; l < c->n_layer; l++) {
        const qb_layer *L = &m->layers[l];
        mixed |= L->attn_qkv.type != t || L->attn_proj.type != t || L->mlp_fc.type != t || L->mlp_proj.type != t;
    }
    snprintf(m->dtype, sizeof m->dtype, "%s", mixed ? "mixed" : qb_type_name(t));
}
