// synthetic.c: see synthetic.h.
//
// Speed: gpt2-xl in F32 is 6.4 GB. Worker threads generate fixed-size chunks
// of the data section (each chunk's numbers depend only on the seed and the
// element positions it covers, so the bytes do not depend on the thread
// count), into a ring of buffers; the calling thread writes them in order and
// hashes them. Memory stays at ring size, whatever the model size.
#include "synthetic.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "randn.h"
#include "safetensors_write.h"
#include "sha256.h"
#include "util.h"

static const qb_gpt2_shape SHAPES[] = {
    {"gpt2", 12, 768, 12, 1024, 50257},        {"distilgpt2", 6, 768, 12, 1024, 50257},
    {"gpt2-medium", 24, 1024, 16, 1024, 50257}, {"gpt2-large", 36, 1280, 20, 1024, 50257},
    {"gpt2-xl", 48, 1600, 25, 1024, 50257},
};
enum { NSHAPES = sizeof SHAPES / sizeof SHAPES[0] };

int qb_gpt2_shape_lookup(const char *name, qb_gpt2_shape *out) {
    for (int i = 0; i < NSHAPES; i++)
        if (strcmp(SHAPES[i].name, name) == 0) {
            *out = SHAPES[i];
            return 0;
        }
    return -1;
}

void qb_gpt2_shape_names(FILE *f) {
    for (int i = 0; i < NSHAPES; i++) fprintf(f, "%s%s", i ? " " : "", SHAPES[i].name);
}

typedef enum { INIT_NORMAL, INIT_ONES, INIT_ZEROS } init_kind;

typedef struct {
    qb_st_tensor t;
    init_kind init;
    double std;
    uint64_t offset, bytes; // in the data section
} tensor_plan;

// The checkpoint's tensors in file order; returns how many.
static int plan(const qb_synth_opts *o, tensor_plan **out) {
    const qb_gpt2_shape *s = &o->shape;
    int64_t E = s->n_embd;
    int cap = 2 + 12 * s->n_layer + 2, n = 0;
    tensor_plan *p = qb_calloc((size_t)cap, sizeof *p);
    double std = 0.02, proj_std = 0.02 / sqrt(2.0 * s->n_layer);
    qb_st_dtype dt = o->f16 ? QB_ST_F16 : QB_ST_F32;
#define ADD(NAME, INIT, STD, ...)                                                              \
    do {                                                                                       \
        tensor_plan *q = &p[n++];                                                              \
        int64_t dims[] = {__VA_ARGS__};                                                        \
        snprintf(q->t.name, sizeof q->t.name, "%s", NAME);                                     \
        q->t.dtype = dt;                                                                       \
        q->t.ndim = (int)(sizeof dims / sizeof dims[0]);                                       \
        for (int d = 0; d < q->t.ndim; d++) q->t.shape[d] = dims[d];                           \
        q->init = INIT;                                                                        \
        q->std = STD;                                                                          \
    } while (0)
    ADD("wte.weight", INIT_NORMAL, std, s->n_vocab, E);
    ADD("wpe.weight", INIT_NORMAL, std, s->n_ctx, E);
    char name[128];
    for (int l = 0; l < s->n_layer; l++) {
#define LAYER(SUFFIX, INIT, STD, ...)                                  \
    do {                                                               \
        snprintf(name, sizeof name, "h.%d.%s", l, SUFFIX);             \
        ADD(name, INIT, STD, __VA_ARGS__);                             \
    } while (0)
        LAYER("ln_1.weight", INIT_ONES, 0, E);
        LAYER("ln_1.bias", INIT_ZEROS, 0, E);
        LAYER("attn.c_attn.weight", INIT_NORMAL, std, E, 3 * E);
        LAYER("attn.c_attn.bias", INIT_ZEROS, 0, 3 * E);
        LAYER("attn.c_proj.weight", INIT_NORMAL, proj_std, E, E);
        LAYER("attn.c_proj.bias", INIT_ZEROS, 0, E);
        LAYER("ln_2.weight", INIT_ONES, 0, E);
        LAYER("ln_2.bias", INIT_ZEROS, 0, E);
        LAYER("mlp.c_fc.weight", INIT_NORMAL, std, E, 4 * E);
        LAYER("mlp.c_fc.bias", INIT_ZEROS, 0, 4 * E);
        LAYER("mlp.c_proj.weight", INIT_NORMAL, proj_std, 4 * E, E);
        LAYER("mlp.c_proj.bias", INIT_ZEROS, 0, E);
#undef LAYER
    }
    ADD("ln_f.weight", INIT_ONES, 0, E);
    ADD("ln_f.bias", INIT_ZEROS, 0, E);
#undef ADD
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        p[i].offset = off;
        p[i].bytes = qb_st_tensor_bytes(&p[i].t);
        off += p[i].bytes;
    }
    *out = p;
    return n;
}

uint64_t qb_synth_params(const qb_gpt2_shape *s) {
    uint64_t E = (uint64_t)s->n_embd;
    return (uint64_t)s->n_vocab * E + (uint64_t)s->n_ctx * E + (uint64_t)s->n_layer * (12 * E * E + 13 * E) + 2 * E;
}

// ---- parallel generation into an ordered ring of chunk buffers -------------
enum { CHUNK = 4 << 20 }; // bytes; a multiple of every element size

typedef struct {
    const qb_synth_opts *o;
    const tensor_plan *plan;
    int ntensors;
    uint64_t total, nchunks;
    int nslots;
    unsigned char **slot_buf;
    uint64_t *slot_chunk; // the chunk a slot holds or will hold next
    int *slot_full;
    uint64_t next_chunk; // next chunk a worker takes
    pthread_mutex_t mu;
    pthread_cond_t cv;
} ring;

// Element values of tensor p, elements [first, first + n), into out (floats).
static void values(const ring *r, const tensor_plan *p, int index, uint64_t first, size_t n, float *out) {
    if (p->init == INIT_NORMAL) {
        qb_randn_fill(r->o->seed, (uint64_t)index, first, n, p->std, out);
    } else {
        float v = p->init == INIT_ONES ? 1.0f : 0.0f;
        for (size_t i = 0; i < n; i++) out[i] = v;
    }
}

// Fills buf with data-section bytes [begin, end).
static void fill_chunk(const ring *r, uint64_t begin, uint64_t end, unsigned char *buf, float *scratch) {
    size_t es = qb_st_dtype_size(r->plan[0].t.dtype);
    for (int i = 0; i < r->ntensors; i++) {
        const tensor_plan *p = &r->plan[i];
        uint64_t a = p->offset > begin ? p->offset : begin;
        uint64_t b = p->offset + p->bytes < end ? p->offset + p->bytes : end;
        if (a >= b) continue;
        uint64_t first = (a - p->offset) / es;
        size_t n = (size_t)((b - a) / es);
        unsigned char *dst = buf + (a - begin);
        if (es == 4) {
            // chunk buffers are 64-byte aligned and tensor offsets multiples of 4
            values(r, p, i, first, n, (float *)(void *)dst);
        } else {
            for (size_t done = 0; done < n;) {
                size_t k = n - done < CHUNK / 4 ? n - done : CHUNK / 4;
                values(r, p, i, first + done, k, scratch);
                uint16_t *h = (uint16_t *)(void *)dst + done;
                for (size_t j = 0; j < k; j++) h[j] = qb_f32_to_f16(scratch[j]);
                done += k;
            }
        }
    }
}

static void *worker(void *arg) {
    ring *r = arg;
    float *scratch = qb_aligned_alloc(CHUNK);
    for (;;) {
        pthread_mutex_lock(&r->mu);
        uint64_t c = r->next_chunk++;
        if (c >= r->nchunks) {
            pthread_mutex_unlock(&r->mu);
            break;
        }
        int s = (int)(c % (uint64_t)r->nslots);
        while (r->slot_chunk[s] != c || r->slot_full[s]) pthread_cond_wait(&r->cv, &r->mu);
        pthread_mutex_unlock(&r->mu);
        uint64_t begin = c * CHUNK, end = begin + CHUNK < r->total ? begin + CHUNK : r->total;
        fill_chunk(r, begin, end, r->slot_buf[s], scratch);
        pthread_mutex_lock(&r->mu);
        r->slot_full[s] = 1;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
    }
    free(scratch);
    return NULL;
}

void qb_synth_write_weights(const char *path, const qb_synth_opts *o, char hex[65]) {
    tensor_plan *p;
    int n = plan(o, &p);
    qb_st_tensor *ts = qb_malloc((size_t)n * sizeof *ts);
    for (int i = 0; i < n; i++) ts[i] = p[i].t;
    char seed[32], of[80];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    snprintf(of, sizeof of, "%s", o->shape.name);
    const char *meta[] = {"format", "pt", "qbench_synthetic", "true", "qbench_shape_of", of, "qbench_seed", seed,
                          "qbench_note", "SYNTHETIC random weights (GPT-2 initialisation), not a trained model", NULL};
    qb_st_writer *w = qb_st_create(path, ts, n, meta);

    ring r = {.o = o, .plan = p, .ntensors = n, .total = qb_st_remaining(w)};
    r.nchunks = (r.total + CHUNK - 1) / CHUNK;
    int nthreads = o->threads < 1 ? 1 : o->threads;
    r.nslots = 2 * nthreads;
    r.slot_buf = qb_malloc((size_t)r.nslots * sizeof *r.slot_buf);
    r.slot_chunk = qb_malloc((size_t)r.nslots * sizeof *r.slot_chunk);
    r.slot_full = qb_calloc((size_t)r.nslots, sizeof *r.slot_full);
    for (int s = 0; s < r.nslots; s++) {
        r.slot_buf[s] = qb_aligned_alloc(CHUNK);
        r.slot_chunk[s] = (uint64_t)s;
    }
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    pthread_t *tid = qb_malloc((size_t)nthreads * sizeof *tid);
    for (int t = 0; t < nthreads; t++)
        if (pthread_create(&tid[t], NULL, worker, &r) != 0) qb_die(QB_EXIT_DATA, "cannot start a generator thread");

    qb_progress prog;
    char label[128];
    snprintf(label, sizeof label, "synthetic %s", o->shape.name);
    qb_progress_begin(&prog, label, (double)r.total, "B", o->quiet);
    for (uint64_t c = 0; c < r.nchunks; c++) {
        int s = (int)(c % (uint64_t)r.nslots);
        pthread_mutex_lock(&r.mu);
        while (!(r.slot_chunk[s] == c && r.slot_full[s])) pthread_cond_wait(&r.cv, &r.mu);
        pthread_mutex_unlock(&r.mu);
        uint64_t begin = c * CHUNK, end = begin + CHUNK < r.total ? begin + CHUNK : r.total;
        qb_st_write(w, r.slot_buf[s], (size_t)(end - begin));
        qb_progress_update(&prog, (double)end);
        pthread_mutex_lock(&r.mu);
        r.slot_full[s] = 0;
        r.slot_chunk[s] = c + (uint64_t)r.nslots;
        pthread_cond_broadcast(&r.cv);
        pthread_mutex_unlock(&r.mu);
    }
    for (int t = 0; t < nthreads; t++) pthread_join(tid[t], NULL);
    qb_st_commit(w, hex);
    prog.done = (double)r.total;
    qb_progress_end(&prog);

    pthread_mutex_destroy(&r.mu);
    pthread_cond_destroy(&r.cv);
    for (int s = 0; s < r.nslots; s++) free(r.slot_buf[s]);
    free(r.slot_buf);
    free(r.slot_chunk);
    free(r.slot_full);
    free(tid);
    free(ts);
    free(p);
}

void qb_synth_write_config(const char *path, const qb_synth_opts *o, char hex[65]) {
    const qb_gpt2_shape *s = &o->shape;
    char note[512];
    snprintf(note, sizeof note,
             "SYNTHETIC WEIGHTS: seeded random numbers drawn like GPT-2's initialisation, with the exact shapes of %s. "
             "Not a trained model: use it for speed and memory only, never for quality. Written by qbench fetch --synthetic.",
             s->name);
    json_t *c = json_object();
    json_object_set_new(c, "qbench_synthetic", json_true());
    json_object_set_new(c, "qbench_note", json_string(note));
    json_object_set_new(c, "qbench_shape_of", json_string(s->name));
    json_object_set_new(c, "qbench_seed", json_integer((json_int_t)o->seed));
    json_object_set_new(c, "activation_function", json_string("gelu_new"));
    json_t *arch = json_array();
    json_array_append_new(arch, json_string("GPT2LMHeadModel"));
    json_object_set_new(c, "architectures", arch);
    json_object_set_new(c, "attn_pdrop", json_real(0.1));
    json_object_set_new(c, "bos_token_id", json_integer(50256));
    json_object_set_new(c, "embd_pdrop", json_real(0.1));
    json_object_set_new(c, "eos_token_id", json_integer(50256));
    json_object_set_new(c, "initializer_range", json_real(0.02));
    json_object_set_new(c, "layer_norm_epsilon", json_real(1e-5));
    json_object_set_new(c, "model_type", json_string("gpt2"));
    json_object_set_new(c, "n_ctx", json_integer(s->n_ctx));
    json_object_set_new(c, "n_embd", json_integer(s->n_embd));
    json_object_set_new(c, "n_head", json_integer(s->n_head));
    json_object_set_new(c, "n_inner", json_null());
    json_object_set_new(c, "n_layer", json_integer(s->n_layer));
    json_object_set_new(c, "n_positions", json_integer(s->n_ctx));
    json_object_set_new(c, "resid_pdrop", json_real(0.1));
    json_object_set_new(c, "tie_word_embeddings", json_true());
    json_object_set_new(c, "torch_dtype", json_string(o->f16 ? "float16" : "float32"));
    json_object_set_new(c, "vocab_size", json_integer(s->n_vocab));
    char *text = json_dumps(c, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    json_decref(c);
    if (!text) qb_die(QB_EXIT_DATA, "cannot encode config.json");
    size_t len = strlen(text);
    qb_out out;
    FILE *f = qb_out_open(&out, path, "wb");
    if (fwrite(text, 1, len, f) != len || fputc('\n', f) == EOF) qb_die(QB_EXIT_DATA, "%s: write error", out.tmp);
    qb_out_commit(&out);
    qb_sha256 *h = qb_sha256_new();
    qb_sha256_update(h, text, len);
    qb_sha256_update(h, "\n", 1);
    qb_sha256_final_hex(h, hex);
    qb_sha256_free(h);
    free(text);
}
