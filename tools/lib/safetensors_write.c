// safetensors_write.c: see safetensors_write.h.
#include "safetensors_write.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"
#include "util.h"

struct qb_st_writer {
    qb_out out;
    qb_sha256 *h;
    uint64_t total, written;
};

size_t qb_st_dtype_size(qb_st_dtype t) { return t == QB_ST_F32 ? 4 : 2; }

static const char *dtype_name(qb_st_dtype t) { return t == QB_ST_F32 ? "F32" : t == QB_ST_F16 ? "F16" : "BF16"; }

uint64_t qb_st_tensor_bytes(const qb_st_tensor *t) {
    uint64_t n = qb_st_dtype_size(t->dtype);
    for (int d = 0; d < t->ndim; d++) n *= (uint64_t)t->shape[d];
    return n;
}

static void put(qb_st_writer *w, const void *data, size_t n) {
    if (fwrite(data, 1, n, w->out.f) != n) qb_die(QB_EXIT_DATA, "%s: write error", w->out.tmp);
    qb_sha256_update(w->h, data, n);
}

qb_st_writer *qb_st_create(const char *path, const qb_st_tensor *tensors, int n, const char *const *meta) {
    json_t *root = json_object();
    if (meta) {
        json_t *m = json_object();
        for (int i = 0; meta[i]; i += 2) json_object_set_new(m, meta[i], json_string(meta[i + 1]));
        json_object_set_new(root, "__metadata__", m);
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const qb_st_tensor *t = &tensors[i];
        if (t->ndim < 0 || t->ndim > 4) qb_die(QB_EXIT_DATA, "safetensors: %s: %d dimensions", t->name, t->ndim);
        if (json_object_get(root, t->name)) qb_die(QB_EXIT_DATA, "safetensors: tensor %s declared twice", t->name);
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
        uint64_t bytes = qb_st_tensor_bytes(t);
        json_object_set_new(root, t->name,
                            json_pack("{s:s, s:o, s:[I,I]}", "dtype", dtype_name(t->dtype), "shape", shape, "data_offsets",
                                      (json_int_t)off, (json_int_t)(off + bytes)));
        off += bytes;
    }
    char *hdr = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(root);
    if (!hdr) qb_die(QB_EXIT_DATA, "safetensors: cannot encode the header");
    size_t len = strlen(hdr);
    size_t padded = (len + 7) / 8 * 8; // the data starts 8-byte aligned
    qb_st_writer *w = qb_calloc(1, sizeof *w);
    w->h = qb_sha256_new();
    w->total = off;
    qb_out_open(&w->out, path, "wb");
    setvbuf(w->out.f, NULL, _IOFBF, 1 << 20);
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    put(w, le, 8);
    put(w, hdr, len);
    for (size_t i = len; i < padded; i++) put(w, " ", 1);
    free(hdr);
    return w;
}

uint64_t qb_st_remaining(const qb_st_writer *w) { return w->total - w->written; }

void qb_st_write(qb_st_writer *w, const void *data, size_t n) {
    if (n > w->total - w->written)
        qb_die(QB_EXIT_DATA, "%s: %zu bytes written past the %llu declared", w->out.path, n,
               (unsigned long long)w->total);
    put(w, data, n);
    w->written += n;
}

void qb_st_commit(qb_st_writer *w, char hex[65]) {
    if (w->written != w->total)
        qb_die(QB_EXIT_DATA, "%s: %llu of %llu data bytes written", w->out.path, (unsigned long long)w->written,
               (unsigned long long)w->total);
    qb_sha256_final_hex(w->h, hex);
    qb_out_commit(&w->out);
    qb_sha256_free(w->h);
    free(w);
}
