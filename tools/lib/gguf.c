// gguf.c: the GGUF reader (validating, in place) and writer; see gguf.h.
// The layout: "GGUF", u32 version, u64 n_tensors, u64 n_kv; n_kv key/values
// (string key, u32 type, value); n_tensors infos (string name, u32 n_dims,
// u64 ne[n_dims], u32 type, u64 offset); padding to the alignment; the data
// section, each tensor at its (aligned) offset. Strings are u64 length +
// bytes; arrays are u32 element type + u64 count + elements. Little-endian.
#include "gguf.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"

static const char *const type_names[QB_GGUF_N_TYPES] = {"u8",  "i8",  "u16",   "i16", "u32", "i32", "f32",
                                                       "bool", "str", "array", "u64", "i64", "f64"};
static const size_t type_sizes[QB_GGUF_N_TYPES] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

size_t qb_gguf_type_size(qb_gguf_type t) { return (unsigned)t < QB_GGUF_N_TYPES ? type_sizes[t] : 0; }
const char *qb_gguf_type_name(qb_gguf_type t) { return (unsigned)t < QB_GGUF_N_TYPES ? type_names[t] : "unknown"; }

// ---- reader ----------------------------------------------------------------------

typedef struct {
    const uint8_t *p;
    size_t size, pos;
    const char *name;
    char *err;
    size_t errlen;
} cursor;

static int fail(cursor *c, uint64_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(cursor *c, uint64_t at, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(c->err, c->errlen, "%s: byte %llu: %s", c->name, (unsigned long long)at, msg);
    qb_one_line(c->err); // key and tensor names come from the file
    return -1;
}

static size_t left(const cursor *c) { return c->size - c->pos; }

static int rd(cursor *c, void *out, size_t n, const char *what) {
    if (n > left(c)) {
        memset(out, 0, n); // defined even on failure (and the compiler can see it)
        fail(c, c->pos, "file truncated: %s needs %zu bytes, %zu left", what, n, left(c));
        return -1;
    }
    memcpy(out, c->p + c->pos, n);
    c->pos += n;
    return 0;
}
static int rd_u32(cursor *c, uint32_t *v, const char *what) { return rd(c, v, 4, what); }
static int rd_u64(cursor *c, uint64_t *v, const char *what) { return rd(c, v, 8, what); }

static int rd_str(cursor *c, qb_gguf_str *s, const char *what) {
    uint64_t at = c->pos, len;
    if (rd_u64(c, &len, what)) return -1;
    if (len > left(c))
        return fail(c, at, "%s: string length %llu runs past the end of the file (%zu bytes left)", what,
                    (unsigned long long)len, left(c));
    s->s = (const char *)c->p + c->pos;
    s->len = (size_t)len;
    c->pos += (size_t)len;
    return 0;
}

// A key or tensor name: non-empty, no NUL inside, copied with a terminator.
static int rd_name(cursor *c, char **out, size_t max, const char *what) {
    uint64_t at = c->pos;
    qb_gguf_str s;
    if (rd_str(c, &s, what)) return -1;
    if (s.len == 0) return fail(c, at, "empty %s", what);
    if (s.len > max) return fail(c, at, "%s of %zu bytes (at most %zu)", what, s.len, max);
    if (memchr(s.s, 0, s.len)) return fail(c, at, "%s contains a NUL byte", what);
    *out = qb_malloc(s.len + 1);
    memcpy(*out, s.s, s.len);
    (*out)[s.len] = 0;
    return 0;
}

static int rd_type(cursor *c, qb_gguf_type *t, const char *what) {
    uint64_t at = c->pos;
    uint32_t v;
    if (rd_u32(c, &v, what)) return -1;
    if (v >= QB_GGUF_N_TYPES) return fail(c, at, "unknown value type %u for %s", v, what);
    *t = (qb_gguf_type)v;
    return 0;
}

static int parse_kv(cursor *c, qb_gguf_kv *kv) {
    kv->at = c->pos;
    if (rd_name(c, &kv->key, 65535, "key")) return -1;
    if (rd_type(c, &kv->type, kv->key)) return -1;
    kv->n = 1;
    kv->arr_type = kv->type;
    if (kv->type == QB_GGUF_ARRAY) {
        uint64_t at = c->pos;
        if (rd_type(c, &kv->arr_type, kv->key)) return -1;
        if (kv->arr_type == QB_GGUF_ARRAY) return fail(c, at, "%s: nested arrays are not supported", kv->key);
        if (rd_u64(c, &kv->n, kv->key)) return -1;
    }
    uint64_t at = c->pos;
    if (kv->arr_type == QB_GGUF_STRING) {
        // Each string needs at least its 8-byte length: bounds n before allocating.
        if (kv->n > left(c) / 8)
            return fail(c, at, "%s: %llu strings cannot fit in the %zu bytes left", kv->key,
                        (unsigned long long)kv->n, left(c));
        kv->strs = qb_calloc(kv->n ? kv->n : 1, sizeof *kv->strs);
        for (uint64_t i = 0; i < kv->n; i++)
            if (rd_str(c, &kv->strs[i], kv->key)) return -1;
        return 0;
    }
    size_t es = type_sizes[kv->arr_type];
    if (kv->n > left(c) / es)
        return fail(c, at, "%s: %llu values of %zu bytes run past the end of the file (%zu bytes left)", kv->key,
                    (unsigned long long)kv->n, es, left(c));
    kv->raw = c->p + c->pos;
    c->pos += (size_t)(kv->n * es);
    return 0;
}

static int parse_tensor_info(cursor *c, qb_gguf_tensor *t, size_t alignment) {
    t->at = c->pos;
    if (rd_name(c, &t->name, QB_GGUF_MAX_NAME, "tensor name")) return -1;
    uint64_t at = c->pos;
    uint32_t n_dims;
    if (rd_u32(c, &n_dims, t->name)) return -1;
    if (n_dims < 1 || n_dims > QB_GGUF_MAX_DIMS)
        return fail(c, at, "tensor %s: %u dimensions (1 to %d allowed)", t->name, n_dims, QB_GGUF_MAX_DIMS);
    t->n_dims = (int)n_dims;
    int64_t n_el = 1;
    for (int d = 0; d < QB_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (int d = 0; d < t->n_dims; d++) {
        uint64_t v;
        at = c->pos;
        if (rd_u64(c, &v, t->name)) return -1;
        if (v == 0 || v > INT64_MAX) return fail(c, at, "tensor %s: dimension %d is %llu", t->name, d, (unsigned long long)v);
        t->ne[d] = (int64_t)v;
        if (__builtin_mul_overflow(n_el, t->ne[d], &n_el))
            return fail(c, at, "tensor %s: element count overflows 64 bits", t->name);
    }
    uint32_t type;
    at = c->pos;
    if (rd_u32(c, &type, t->name)) return -1;
    if (!qb_type_valid((int)type)) return fail(c, at, "tensor %s: unknown or unsupported tensor type %u", t->name, type);
    t->type = (int)type;
    int block = qb_type_block((qb_type)type);
    if (t->ne[0] % block)
        return fail(c, at, "tensor %s: row of %lld values is not a multiple of %s's block of %d", t->name,
                    (long long)t->ne[0], qb_type_name((qb_type)type), block);
    uint64_t rows = (uint64_t)(n_el / t->ne[0]), row_bytes = (uint64_t)(t->ne[0] / block) * qb_type_block_bytes(type);
    uint64_t nbytes;
    if (__builtin_mul_overflow(rows, row_bytes, &nbytes) || nbytes > SIZE_MAX)
        return fail(c, at, "tensor %s: byte size overflows", t->name);
    t->nbytes = (size_t)nbytes;
    at = c->pos;
    if (rd_u64(c, &t->offset, t->name)) return -1;
    if (t->offset % alignment)
        return fail(c, at, "tensor %s: data offset %llu is not a multiple of the alignment %zu", t->name,
                    (unsigned long long)t->offset, alignment);
    return 0;
}

static int cmp_str_ptr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int cmp_offset(const void *a, const void *b, void *tensors) {
    const qb_gguf_tensor *t = tensors;
    uint64_t x = t[*(const uint64_t *)a].offset, y = t[*(const uint64_t *)b].offset;
    return x < y ? -1 : x > y;
}

// Sorts the n names in place and returns one that occurs twice, or NULL.
static const char *find_duplicate(char **sorted, uint64_t n) {
    qsort(sorted, n, sizeof *sorted, cmp_str_ptr);
    for (uint64_t i = 1; i < n; i++)
        if (!strcmp(sorted[i - 1], sorted[i])) return sorted[i];
    return NULL;
}

static int validate_layout(cursor *c, qb_gguf *g) {
    // Duplicate keys and names.
    char **names = qb_malloc(sizeof(char *) * (size_t)(g->n_kv > g->n_tensors ? g->n_kv : g->n_tensors) + 1);
    for (uint64_t i = 0; i < g->n_kv; i++) names[i] = g->kv[i].key;
    const char *dup = find_duplicate(names, g->n_kv);
    if (dup) {
        free(names);
        return fail(c, qb_gguf_find(g, dup)->at, "duplicate key %s", dup);
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) names[i] = g->tensors[i].name;
    dup = find_duplicate(names, g->n_tensors);
    free(names);
    if (dup) {
        uint64_t at = 0;
        int seen = 0;
        for (uint64_t i = 0; i < g->n_tensors; i++)
            if (!strcmp(g->tensors[i].name, dup) && seen++) at = g->tensors[i].at;
        return fail(c, at, "duplicate tensor name %s", dup);
    }
    // Data inside the file, tensors not overlapping.
    if (g->n_tensors == 0) return 0;
    if (g->data_offset > g->size)
        return fail(c, g->size, "file truncated: the data section should start at byte %zu", g->data_offset);
    size_t data_size = g->size - g->data_offset;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        qb_gguf_tensor *t = &g->tensors[i];
        if (t->offset > data_size || t->nbytes > data_size - t->offset)
            return fail(c, t->at, "tensor %s: data [%llu, +%zu) runs past the end of the file (data section of %zu bytes)",
                        t->name, (unsigned long long)t->offset, t->nbytes, data_size);
        t->data = g->bytes + g->data_offset + t->offset;
    }
    uint64_t *order = qb_malloc(sizeof(uint64_t) * (size_t)g->n_tensors);
    for (uint64_t i = 0; i < g->n_tensors; i++) order[i] = i;
    qsort_r(order, g->n_tensors, sizeof *order, cmp_offset, g->tensors);
    for (uint64_t i = 1; i < g->n_tensors; i++) {
        const qb_gguf_tensor *a = &g->tensors[order[i - 1]], *b = &g->tensors[order[i]];
        if (a->offset + a->nbytes > b->offset) {
            free(order);
            return fail(c, b->at, "tensor %s overlaps tensor %s in the data section", b->name, a->name);
        }
    }
    free(order);
    return 0;
}

static int parse(cursor *c, qb_gguf *g) {
    char magic[4];
    if (rd(c, magic, 4, "magic")) return -1;
    if (memcmp(magic, "GGUF", 4)) return fail(c, 0, "not a GGUF file (bad magic)");
    if (rd_u32(c, &g->version, "version")) return -1;
    if (g->version != 2 && g->version != 3) return fail(c, 4, "GGUF version %u is not supported (2 or 3)", g->version);
    if (rd_u64(c, &g->n_tensors, "tensor count") || rd_u64(c, &g->n_kv, "key/value count")) return -1;
    // Each key/value takes at least 8 + 1 + 4 + 1 bytes, each tensor info 8 + 1 + 4 + 8 + 4 + 8.
    if (g->n_kv > left(c) / 14)
        return fail(c, 16, "%llu key/values cannot fit in a file of %zu bytes", (unsigned long long)g->n_kv, c->size);
    if (g->n_tensors > left(c) / 33)
        return fail(c, 8, "%llu tensors cannot fit in a file of %zu bytes", (unsigned long long)g->n_tensors, c->size);
    g->kv = qb_calloc(g->n_kv ? g->n_kv : 1, sizeof *g->kv);
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (parse_kv(c, &g->kv[i])) return -1;
    g->alignment = QB_GGUF_DEFAULT_ALIGNMENT;
    const qb_gguf_kv *al = qb_gguf_find(g, "general.alignment");
    if (al) {
        if (al->type != QB_GGUF_UINT32) return fail(c, al->at, "general.alignment must be a u32, not %s", type_names[al->type]);
        uint32_t a;
        memcpy(&a, al->raw, 4);
        if (a == 0 || (a & (a - 1)) || a > (1u << 20))
            return fail(c, al->at, "general.alignment %u is not a power of two up to 1 MiB", a);
        g->alignment = a;
    }
    g->tensors = qb_calloc(g->n_tensors ? g->n_tensors : 1, sizeof *g->tensors);
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (parse_tensor_info(c, &g->tensors[i], g->alignment)) return -1;
    g->data_offset = (c->pos + g->alignment - 1) / g->alignment * g->alignment;
    return validate_layout(c, g);
}

int qb_gguf_parse(qb_gguf *g, const void *bytes, size_t size, const char *name, char *err, size_t errlen) {
    memset(g, 0, sizeof *g);
    g->path = qb_strdup(name);
    g->bytes = bytes;
    g->size = size;
    cursor c = {bytes, size, 0, name, err, errlen};
    if (parse(&c, g)) {
        qb_gguf_close(g);
        return -1;
    }
    return 0;
}

int qb_gguf_open(qb_gguf *g, const char *path, char *err, size_t errlen) {
    qb_map m;
    memset(g, 0, sizeof *g);
    if (qb_map_file(&m, path, err, errlen)) return -1;
    if (qb_gguf_parse(g, m.data, m.size, path, err, errlen)) {
        qb_unmap(&m);
        return -1;
    }
    g->map = m;
    return 0;
}

void qb_gguf_close(qb_gguf *g) {
    if (g->kv)
        for (uint64_t i = 0; i < g->n_kv; i++) {
            free(g->kv[i].key);
            free(g->kv[i].strs);
        }
    if (g->tensors)
        for (uint64_t i = 0; i < g->n_tensors; i++) free(g->tensors[i].name);
    free(g->kv);
    free(g->tensors);
    free(g->path);
    qb_unmap(&g->map);
    memset(g, 0, sizeof *g);
}

const qb_gguf_kv *qb_gguf_find(const qb_gguf *g, const char *key) {
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (g->kv[i].key && !strcmp(g->kv[i].key, key)) return &g->kv[i];
    return NULL;
}

const qb_gguf_tensor *qb_gguf_tensor_find(const qb_gguf *g, const char *name) {
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].name && !strcmp(g->tensors[i].name, name)) return &g->tensors[i];
    return NULL;
}

static int is_int_type(qb_gguf_type t) {
    return t == QB_GGUF_UINT8 || t == QB_GGUF_INT8 || t == QB_GGUF_UINT16 || t == QB_GGUF_INT16 || t == QB_GGUF_UINT32 ||
           t == QB_GGUF_INT32 || t == QB_GGUF_UINT64 || t == QB_GGUF_INT64 || t == QB_GGUF_BOOL;
}

int64_t qb_gguf_kv_int(const qb_gguf_kv *kv, uint64_t i) {
    const uint8_t *p = kv->raw + i * type_sizes[kv->arr_type];
    union {
        uint8_t u8;
        int8_t i8;
        uint16_t u16;
        int16_t i16;
        uint32_t u32;
        int32_t i32;
        uint64_t u64;
        int64_t i64;
        float f32;
        double f64;
    } v;
    memcpy(&v, p, type_sizes[kv->arr_type]);
    switch (kv->arr_type) {
    case QB_GGUF_UINT8: return v.u8;
    case QB_GGUF_BOOL: return v.u8 != 0;
    case QB_GGUF_INT8: return v.i8;
    case QB_GGUF_UINT16: return v.u16;
    case QB_GGUF_INT16: return v.i16;
    case QB_GGUF_UINT32: return v.u32;
    case QB_GGUF_INT32: return v.i32;
    case QB_GGUF_UINT64: return (int64_t)v.u64;
    case QB_GGUF_INT64: return v.i64;
    case QB_GGUF_FLOAT32: return (int64_t)v.f32;
    case QB_GGUF_FLOAT64: return (int64_t)v.f64;
    default: return 0;
    }
}

double qb_gguf_kv_float(const qb_gguf_kv *kv, uint64_t i) {
    const uint8_t *p = kv->raw + i * type_sizes[kv->arr_type];
    if (kv->arr_type == QB_GGUF_FLOAT32) {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    if (kv->arr_type == QB_GGUF_FLOAT64) {
        double f;
        memcpy(&f, p, 8);
        return f;
    }
    if (kv->arr_type == QB_GGUF_UINT64) {
        uint64_t u;
        memcpy(&u, p, 8);
        return (double)u;
    }
    return (double)qb_gguf_kv_int(kv, i);
}

int qb_gguf_get_int(const qb_gguf *g, const char *key, int64_t *out) {
    const qb_gguf_kv *kv = qb_gguf_find(g, key);
    if (!kv || kv->type == QB_GGUF_ARRAY || !is_int_type(kv->type)) return -1;
    if (kv->type == QB_GGUF_UINT64) {
        uint64_t u;
        memcpy(&u, kv->raw, 8);
        if (u > INT64_MAX) return -1;
    }
    *out = qb_gguf_kv_int(kv, 0);
    return 0;
}

int qb_gguf_get_float(const qb_gguf *g, const char *key, double *out) {
    const qb_gguf_kv *kv = qb_gguf_find(g, key);
    if (!kv || (kv->type != QB_GGUF_FLOAT32 && kv->type != QB_GGUF_FLOAT64)) return -1;
    *out = qb_gguf_kv_float(kv, 0);
    return 0;
}

int qb_gguf_get_str(const qb_gguf *g, const char *key, char **out) {
    const qb_gguf_kv *kv = qb_gguf_find(g, key);
    if (!kv || kv->type != QB_GGUF_STRING) return -1;
    *out = qb_malloc(kv->strs[0].len + 1);
    memcpy(*out, kv->strs[0].s, kv->strs[0].len);
    (*out)[kv->strs[0].len] = 0;
    return 0;
}

// ---- writer ----------------------------------------------------------------------

typedef struct {
    char *key;
    qb_gguf_type type, arr_type;
    uint64_t n;
    uint8_t *raw;       // fixed-size values, n * size bytes
    qb_gguf_str *strs;  // owned copies of string values
} wkv;

typedef struct {
    char *name;
    int type, n_dims;
    int64_t ne[QB_GGUF_MAX_DIMS];
    size_t nbytes;
    uint64_t offset;
    const void *data;
} wtensor;

struct qb_gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
    size_t alignment;
    int frozen;       // offsets computed: no more keys or tensors
    size_t next;      // the next tensor to stream
    uint64_t written; // bytes written so far
};

qb_gguf_writer *qb_gguf_writer_new(void) {
    qb_gguf_writer *w = qb_calloc(1, sizeof *w);
    w->alignment = QB_GGUF_DEFAULT_ALIGNMENT;
    return w;
}

static void free_kv(wkv *kv) {
    free(kv->key);
    free(kv->raw);
    if (kv->strs)
        for (uint64_t i = 0; i < kv->n; i++) free((char *)kv->strs[i].s);
    free(kv->strs);
}

void qb_gguf_writer_free(qb_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) free_kv(&w->kv[i]);
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

// The slot for key: the existing one (its old value freed) or a new one at the end.
static wkv *slot(qb_gguf_writer *w, const char *key) {
    if (w->frozen) qb_die(QB_EXIT_DATA, "gguf writer: key %s set after writing began", key);
    if (!*key) qb_die(QB_EXIT_DATA, "gguf writer: empty key");
    for (size_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kv[i].key, key)) {
            free_kv(&w->kv[i]);
            memset(&w->kv[i], 0, sizeof w->kv[i]);
            w->kv[i].key = qb_strdup(key);
            return &w->kv[i];
        }
    if (w->n_kv == w->cap_kv) {
        w->cap_kv = w->cap_kv ? 2 * w->cap_kv : 32;
        w->kv = qb_realloc(w->kv, w->cap_kv * sizeof *w->kv);
    }
    wkv *kv = &w->kv[w->n_kv++];
    memset(kv, 0, sizeof *kv);
    kv->key = qb_strdup(key);
    return kv;
}

static void set_fixed(qb_gguf_writer *w, const char *key, qb_gguf_type type, qb_gguf_type arr_type, const void *data,
                      size_t n) {
    wkv *kv = slot(w, key);
    kv->type = type;
    kv->arr_type = arr_type;
    kv->n = n;
    size_t bytes = n * type_sizes[arr_type];
    kv->raw = qb_malloc(bytes);
    if (bytes) memcpy(kv->raw, data, bytes);
}

void qb_gguf_set_u8(qb_gguf_writer *w, const char *key, uint8_t v) { set_fixed(w, key, QB_GGUF_UINT8, QB_GGUF_UINT8, &v, 1); }
void qb_gguf_set_i8(qb_gguf_writer *w, const char *key, int8_t v) { set_fixed(w, key, QB_GGUF_INT8, QB_GGUF_INT8, &v, 1); }
void qb_gguf_set_u16(qb_gguf_writer *w, const char *key, uint16_t v) {
    set_fixed(w, key, QB_GGUF_UINT16, QB_GGUF_UINT16, &v, 1);
}
void qb_gguf_set_i16(qb_gguf_writer *w, const char *key, int16_t v) { set_fixed(w, key, QB_GGUF_INT16, QB_GGUF_INT16, &v, 1); }
void qb_gguf_set_u32(qb_gguf_writer *w, const char *key, uint32_t v) {
    set_fixed(w, key, QB_GGUF_UINT32, QB_GGUF_UINT32, &v, 1);
}
void qb_gguf_set_i32(qb_gguf_writer *w, const char *key, int32_t v) { set_fixed(w, key, QB_GGUF_INT32, QB_GGUF_INT32, &v, 1); }
void qb_gguf_set_u64(qb_gguf_writer *w, const char *key, uint64_t v) {
    set_fixed(w, key, QB_GGUF_UINT64, QB_GGUF_UINT64, &v, 1);
}
void qb_gguf_set_i64(qb_gguf_writer *w, const char *key, int64_t v) { set_fixed(w, key, QB_GGUF_INT64, QB_GGUF_INT64, &v, 1); }
void qb_gguf_set_f32(qb_gguf_writer *w, const char *key, float v) {
    set_fixed(w, key, QB_GGUF_FLOAT32, QB_GGUF_FLOAT32, &v, 1);
}
void qb_gguf_set_f64(qb_gguf_writer *w, const char *key, double v) {
    set_fixed(w, key, QB_GGUF_FLOAT64, QB_GGUF_FLOAT64, &v, 1);
}
void qb_gguf_set_bool(qb_gguf_writer *w, const char *key, int v) {
    uint8_t b = v != 0;
    set_fixed(w, key, QB_GGUF_BOOL, QB_GGUF_BOOL, &b, 1);
}

void qb_gguf_set_arr(qb_gguf_writer *w, const char *key, qb_gguf_type t, const void *data, size_t n) {
    if (!type_sizes[t]) qb_die(QB_EXIT_DATA, "gguf writer: %s: arrays of %s need their own setter", key, qb_gguf_type_name(t));
    set_fixed(w, key, QB_GGUF_ARRAY, t, data, n);
}

static void set_strs(qb_gguf_writer *w, const char *key, qb_gguf_type type, const qb_gguf_str *v, size_t n) {
    wkv *kv = slot(w, key);
    kv->type = type;
    kv->arr_type = QB_GGUF_STRING;
    kv->n = n;
    kv->strs = qb_calloc(n ? n : 1, sizeof *kv->strs);
    for (size_t i = 0; i < n; i++) {
        char *s = qb_malloc(v[i].len + 1);
        if (v[i].len) memcpy(s, v[i].s, v[i].len);
        s[v[i].len] = 0;
        kv->strs[i] = (qb_gguf_str){s, v[i].len};
    }
}

void qb_gguf_set_str(qb_gguf_writer *w, const char *key, const char *v) {
    qb_gguf_str s = {v, strlen(v)};
    set_strs(w, key, QB_GGUF_STRING, &s, 1);
}
void qb_gguf_set_arr_str(qb_gguf_writer *w, const char *key, const qb_gguf_str *v, size_t n) {
    set_strs(w, key, QB_GGUF_ARRAY, v, n);
}

void qb_gguf_set_kv(qb_gguf_writer *w, const qb_gguf_kv *kv) {
    if (kv->arr_type == QB_GGUF_STRING)
        set_strs(w, kv->key, kv->type, kv->strs, (size_t)kv->n);
    else
        set_fixed(w, kv->key, kv->type, kv->arr_type, kv->raw, (size_t)kv->n);
}

void qb_gguf_add_tensor(qb_gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne, const void *data) {
    if (w->frozen) qb_die(QB_EXIT_DATA, "gguf writer: tensor %s added after writing began", name);
    size_t len = strlen(name);
    if (len == 0 || len > QB_GGUF_MAX_NAME) qb_die(QB_EXIT_DATA, "gguf writer: bad tensor name '%s'", name);
    if (!qb_type_valid(type)) qb_die(QB_EXIT_DATA, "gguf writer: tensor %s: unknown type %d", name, type);
    if (n_dims < 1 || n_dims > QB_GGUF_MAX_DIMS) qb_die(QB_EXIT_DATA, "gguf writer: tensor %s: %d dimensions", name, n_dims);
    for (size_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name)) qb_die(QB_EXIT_DATA, "gguf writer: duplicate tensor %s", name);
    if (w->n_t == w->cap_t) {
        w->cap_t = w->cap_t ? 2 * w->cap_t : 64;
        w->t = qb_realloc(w->t, w->cap_t * sizeof *w->t);
    }
    wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    t->name = qb_strdup(name);
    t->type = type;
    t->n_dims = n_dims;
    int64_t rows = 1;
    for (int d = 0; d < QB_GGUF_MAX_DIMS; d++) {
        t->ne[d] = d < n_dims ? ne[d] : 1;
        if (t->ne[d] < 1) qb_die(QB_EXIT_DATA, "gguf writer: tensor %s: dimension %d is %lld", name, d, (long long)t->ne[d]);
        if (d > 0 && __builtin_mul_overflow(rows, t->ne[d], &rows)) qb_die(QB_EXIT_DATA, "gguf writer: tensor %s too large", name);
    }
    if (t->ne[0] % qb_type_block((qb_type)type))
        qb_die(QB_EXIT_DATA, "gguf writer: tensor %s: row of %lld is not a multiple of %s's block", name,
               (long long)t->ne[0], qb_type_name((qb_type)type));
    t->nbytes = (size_t)rows * qb_row_bytes((qb_type)type, t->ne[0]);
    t->data = data;
    w->n_t++;
}

size_t qb_gguf_writer_n_tensors(const qb_gguf_writer *w) { return w->n_t; }

static uint64_t pad_to(uint64_t x, size_t a) { return (x + a - 1) / a * a; }

static uint64_t header_bytes(const qb_gguf_writer *w) {
    uint64_t n = 4 + 4 + 8 + 8;
    for (size_t i = 0; i < w->n_kv; i++) {
        const wkv *kv = &w->kv[i];
        n += 8 + strlen(kv->key) + 4 + (kv->type == QB_GGUF_ARRAY ? 4 + 8 : 0);
        if (kv->arr_type == QB_GGUF_STRING)
            for (uint64_t j = 0; j < kv->n; j++) n += 8 + kv->strs[j].len;
        else
            n += kv->n * type_sizes[kv->arr_type];
    }
    for (size_t i = 0; i < w->n_t; i++) n += 8 + strlen(w->t[i].name) + 4 + 8 * (uint64_t)w->t[i].n_dims + 4 + 8;
    return n;
}

// Fixes the alignment (from general.alignment) and every tensor's offset.
static void freeze(qb_gguf_writer *w) {
    if (w->frozen) return;
    for (size_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kv[i].key, "general.alignment")) {
            uint32_t a = 0;
            if (w->kv[i].type == QB_GGUF_UINT32) memcpy(&a, w->kv[i].raw, 4);
            if (a == 0 || (a & (a - 1))) qb_die(QB_EXIT_DATA, "gguf writer: general.alignment must be a u32 power of two");
            w->alignment = a;
        }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        w->t[i].offset = off;
        off = pad_to(off + w->t[i].nbytes, w->alignment);
    }
    w->frozen = 1;
}

uint64_t qb_gguf_writer_size(qb_gguf_writer *w) {
    freeze(w);
    uint64_t n = pad_to(header_bytes(w), w->alignment);
    if (w->n_t) n += w->t[w->n_t - 1].offset + pad_to(w->t[w->n_t - 1].nbytes, w->alignment);
    return n;
}

static void put(qb_gguf_writer *w, FILE *f, const void *p, size_t n) {
    if (n && fwrite(p, 1, n, f) != n) qb_die(QB_EXIT_DATA, "gguf writer: write failed");
    w->written += n;
}
static void put_u32(qb_gguf_writer *w, FILE *f, uint32_t v) { put(w, f, &v, 4); }
static void put_u64(qb_gguf_writer *w, FILE *f, uint64_t v) { put(w, f, &v, 8); }
static void put_str(qb_gguf_writer *w, FILE *f, const char *s, size_t len) {
    put_u64(w, f, len);
    put(w, f, s, len);
}
static void put_pad(qb_gguf_writer *w, FILE *f) {
    static const uint8_t zeros[64];
    uint64_t to = pad_to(w->written, w->alignment);
    while (w->written < to) put(w, f, zeros, (size_t)(to - w->written < 64 ? to - w->written : 64));
}

void qb_gguf_write_begin(qb_gguf_writer *w, qb_out *o, const char *path) {
    freeze(w);
    FILE *f = qb_out_open(o, path, "wb");
    w->written = 0;
    w->next = 0;
    put(w, f, "GGUF", 4);
    put_u32(w, f, 3);
    put_u64(w, f, w->n_t);
    put_u64(w, f, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        const wkv *kv = &w->kv[i];
        put_str(w, f, kv->key, strlen(kv->key));
        put_u32(w, f, kv->type);
        if (kv->type == QB_GGUF_ARRAY) {
            put_u32(w, f, kv->arr_type);
            put_u64(w, f, kv->n);
        }
        if (kv->arr_type == QB_GGUF_STRING)
            for (uint64_t j = 0; j < kv->n; j++) put_str(w, f, kv->strs[j].s, kv->strs[j].len);
        else
            put(w, f, kv->raw, (size_t)kv->n * type_sizes[kv->arr_type]);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        put_str(w, f, t->name, strlen(t->name));
        put_u32(w, f, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims; d++) put_u64(w, f, (uint64_t)t->ne[d]);
        put_u32(w, f, (uint32_t)t->type);
        put_u64(w, f, t->offset);
    }
    put_pad(w, f);
}

void qb_gguf_write_data(qb_gguf_writer *w, qb_out *o, size_t index, const void *data, size_t nbytes) {
    if (index != w->next || index >= w->n_t)
        qb_die(QB_EXIT_DATA, "gguf writer: tensor %zu written out of order (expected %zu)", index, w->next);
    if (nbytes != w->t[index].nbytes)
        qb_die(QB_EXIT_DATA, "gguf writer: tensor %s has %zu bytes, not %zu", w->t[index].name, nbytes, w->t[index].nbytes);
    put(w, o->f, data, nbytes);
    put_pad(w, o->f);
    w->next++;
}

void qb_gguf_write_end(qb_gguf_writer *w, qb_out *o) {
    if (w->next != w->n_t) qb_die(QB_EXIT_DATA, "gguf writer: %zu of %zu tensors written", w->next, w->n_t);
    qb_out_commit(o);
}

void qb_gguf_write_file(qb_gguf_writer *w, const char *path) {
    for (size_t i = 0; i < w->n_t; i++)
        if (!w->t[i].data) qb_die(QB_EXIT_DATA, "gguf writer: tensor %s has no data", w->t[i].name);
    qb_out o;
    qb_gguf_write_begin(w, &o, path);
    for (size_t i = 0; i < w->n_t; i++) qb_gguf_write_data(w, &o, i, w->t[i].data, w->t[i].nbytes);
    qb_gguf_write_end(w, &o);
}
