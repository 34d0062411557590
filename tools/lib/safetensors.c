// safetensors.c: see safetensors.h. The parser works on a byte buffer and
// reports errors through err, so it can be tested in-process on every
// truncation and corruption of a file; the open functions map files and die.
#include "safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// A header larger than this is not a checkpoint header (the reference
// implementation's limit is 100 MB as well).
#define QB_ST_MAX_HEADER ((uint64_t)100 << 20)

const char *qb_st_dtype_name(qb_type type) {
    switch (type) {
    case QB_TYPE_F32: return "F32";
    case QB_TYPE_F16: return "F16";
    case QB_TYPE_BF16: return "BF16";
    default: return "?";
    }
}

// The dtypes the format defines that we do not run on: named in the error.
static const char *const unsupported_dtypes[] = {"BOOL",    "U8",      "I8",      "I16",     "U16",  "I32",
                                                 "U32",     "I64",     "U64",     "F64",     "C64",  "F8_E5M2",
                                                 "F8_E4M3", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4"};

static int parse_dtype(const char *s, qb_type *type, size_t *elsize) {
    if (strcmp(s, "F32") == 0) return *type = QB_TYPE_F32, *elsize = 4, 0;
    if (strcmp(s, "F16") == 0) return *type = QB_TYPE_F16, *elsize = 2, 0;
    if (strcmp(s, "BF16") == 0) return *type = QB_TYPE_BF16, *elsize = 2, 0;
    for (size_t i = 0; i < sizeof unsupported_dtypes / sizeof *unsupported_dtypes; i++)
        if (strcmp(s, unsupported_dtypes[i]) == 0) return 1;
    return 2;
}

typedef struct {
    qb_st_tensor t;
    uint64_t begin, end; // relative to the data section
} entry;

static int by_begin(const void *a, const void *b) {
    const entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const qb_st_tensor *)a)->name, ((const qb_st_tensor *)b)->name);
}

// Reads a JSON integer in [0, max]; returns -1 when it is not one.
static int get_uint(const json_t *v, uint64_t max, uint64_t *out) {
    if (!json_is_integer(v)) return -1;
    json_int_t i = json_integer_value(v);
    if (i < 0 || (uint64_t)i > max) return -1;
    *out = (uint64_t)i;
    return 0;
}

#define FAIL(...)                                                                                                      \
    do {                                                                                                               \
        snprintf(err, errlen, __VA_ARGS__);                                                                            \
        qb_one_line(err); /* jansson's error text quotes the file */                                                   \
        goto fail;                                                                                                     \
    } while (0)

// Parses one tensor's description into e; the name is not yet owned.
static int parse_entry(const char *path, const char *name, const json_t *v, entry *e, char *err, size_t errlen) {
    memset(e, 0, sizeof *e);
    if (!json_is_object(v)) FAIL("%s: tensor '%s': description is not a JSON object", path, name);
    const json_t *dt = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
                 *offs = json_object_get(v, "data_offsets");
    if (!json_is_string(dt)) FAIL("%s: tensor '%s': missing or non-string \"dtype\"", path, name);
    if (!json_is_array(shape)) FAIL("%s: tensor '%s': missing or non-array \"shape\"", path, name);
    if (!json_is_array(offs) || json_array_size(offs) != 2)
        FAIL("%s: tensor '%s': \"data_offsets\" is not an array of two integers", path, name);
    size_t elsize = 0;
    int r = parse_dtype(json_string_value(dt), &e->t.type, &elsize);
    if (r == 1) FAIL("%s: tensor '%s': dtype %s not supported (F32, F16, BF16 only)", path, name, json_string_value(dt));
    if (r == 2) FAIL("%s: tensor '%s': unknown dtype '%.40s'", path, name, json_string_value(dt));
    size_t nd = json_array_size(shape);
    if (nd > QB_ST_MAX_DIMS) FAIL("%s: tensor '%s': %zu dimensions (at most %d)", path, name, nd, QB_ST_MAX_DIMS);
    e->t.n_dims = (int)nd;
    uint64_t n = 1;
    for (size_t i = 0; i < nd; i++) {
        uint64_t d;
        if (get_uint(json_array_get(shape, i), (uint64_t)1 << 40, &d) != 0)
            FAIL("%s: tensor '%s': shape[%zu] is not a non-negative integer", path, name, i);
        e->t.shape[i] = (int64_t)d;
        if (__builtin_mul_overflow(n, d, &n) || n > ((uint64_t)1 << 48))
            FAIL("%s: tensor '%s': shape has an absurd number of elements", path, name);
    }
    if (get_uint(json_array_get(offs, 0), UINT64_MAX >> 1, &e->begin) != 0 ||
        get_uint(json_array_get(offs, 1), UINT64_MAX >> 1, &e->end) != 0)
        FAIL("%s: tensor '%s': \"data_offsets\" are not non-negative integers", path, name);
    if (e->end < e->begin)
        FAIL("%s: tensor '%s': data_offsets [%llu, %llu] end before they begin", path, name,
             (unsigned long long)e->begin, (unsigned long long)e->end);
    e->t.n_elems = (size_t)n;
    e->t.nbytes = (size_t)(n * elsize);
    if (e->end - e->begin != n * elsize)
        FAIL("%s: tensor '%s': shape x %s is %llu bytes but data_offsets [%llu, %llu] span %llu", path, name,
             json_string_value(dt), (unsigned long long)(n * elsize), (unsigned long long)e->begin,
             (unsigned long long)e->end, (unsigned long long)(e->end - e->begin));
    return 0;
fail:
    return -1;
}

int qb_st_parse(qb_safetensors *st, const char *path, const uint8_t *data, size_t size, char *err, size_t errlen) {
    json_t *root = NULL;
    entry *es = NULL;
    size_t ne = 0;
    if (size < 8) FAIL("%s: %zu bytes: too short for the 8-byte header length", path, size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | data[i];
    if (hlen > size - 8)
        FAIL("%s: header length %llu exceeds the file's %zu bytes after the length field (truncated?)", path,
             (unsigned long long)hlen, size - 8);
    if (hlen > QB_ST_MAX_HEADER) FAIL("%s: header length %llu is absurd (limit 100 MiB)", path, (unsigned long long)hlen);
    if (hlen < 2 || data[8] != '{') FAIL("%s: byte 8: header is not a JSON object", path);
    json_error_t je;
    root = json_loadb((const char *)data + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    if (!root) FAIL("%s: byte %lld: bad JSON header: %s", path, 8 + (long long)je.position, je.text);
    if (!json_is_object(root)) FAIL("%s: byte 8: header is not a JSON object", path);
    const size_t data_start = 8 + (size_t)hlen, data_size = size - data_start;

    es = qb_calloc(json_object_size(root) + 1, sizeof *es);
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(val)) FAIL("%s: \"__metadata__\" is not a JSON object", path);
            continue;
        }
        if (parse_entry(path, key, val, &es[ne], err, errlen) != 0) goto fail;
        if (es[ne].end > data_size)
            FAIL("%s: tensor '%s': data_offsets [%llu, %llu] run past the data section's %zu bytes (truncated?)", path,
                 key, (unsigned long long)es[ne].begin, (unsigned long long)es[ne].end, data_size);
        es[ne].t.name = (char *)key; // borrowed from root until copied below
        ne++;
    }
    // Ranges must tile the data section exactly: no overlap, no hole.
    qsort(es, ne, sizeof *es, by_begin);
    uint64_t at = 0;
    for (size_t i = 0; i < ne; i++) {
        if (es[i].begin < at)
            FAIL("%s: tensor '%s': bytes [%llu, %llu) overlap tensor '%s'", path, es[i].t.name,
                 (unsigned long long)es[i].begin, (unsigned long long)es[i].end, es[i - 1].t.name);
        if (es[i].begin > at)
            FAIL("%s: tensor '%s': %llu bytes of the data section before it belong to no tensor", path, es[i].t.name,
                 (unsigned long long)(es[i].begin - at));
        at = es[i].end;
    }
    if (at != data_size)
        FAIL("%s: %llu bytes at the end of the data section belong to no tensor", path,
             (unsigned long long)(data_size - at));

    // Commit: copy names, point into the buffer, append to st.
    char *file = qb_strdup(path);
    st->paths = qb_realloc(st->paths, (size_t)(st->n_files + 1) * sizeof *st->paths);
    st->paths[st->n_files++] = file;
    st->t = qb_realloc(st->t, (st->n + ne + 1) * sizeof *st->t);
    for (size_t i = 0; i < ne; i++) {
        qb_st_tensor t = es[i].t;
        t.name = qb_strdup(t.name);
        t.offset = data_start + (size_t)es[i].begin;
        t.data = data + t.offset;
        t.file = file;
        st->t[st->n++] = t;
    }
    qsort(st->t, (size_t)st->n, sizeof *st->t, by_name);
    free(es);
    json_decref(root);
    return 0;
fail:
    free(es);
    json_decref(root);
    return -1;
}

// Duplicates across files (within one file the JSON parser rejects them).
static void check_duplicates(const qb_safetensors *st) {
    for (int i = 1; i < st->n; i++)
        if (strcmp(st->t[i - 1].name, st->t[i].name) == 0)
            qb_die(QB_EXIT_DATA, "%s: tensor '%s' is also in %s", st->t[i].file, st->t[i].name, st->t[i - 1].file);
}

void qb_st_open_file(qb_safetensors *st, const char *path) {
    qb_map m;
    char err[1024];
    if (qb_map_file(&m, path, err, sizeof err) != 0) qb_die(QB_EXIT_DATA, "%s", err);
    if (qb_st_parse(st, path, m.data, m.size, err, sizeof err) != 0) qb_die(QB_EXIT_DATA, "%s", err);
    st->maps = qb_realloc(st->maps, (size_t)(st->n_maps + 1) * sizeof *st->maps);
    st->maps[st->n_maps++] = m;
    check_duplicates(st);
}

// A shard name from the index must name a file beside it, nothing else.
static int safe_shard_name(const char *s) {
    return s[0] && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static void open_index(qb_safetensors *st, const char *dir, const char *index) {
    json_error_t je;
    json_t *root = json_load_file(index, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        if (je.line < 0) qb_die(QB_EXIT_DATA, "%s: %s", index, je.text);
        qb_die(QB_EXIT_DATA, "%s: byte %d: bad JSON: %s", index, je.position, je.text);
    }
    json_t *wm = json_object_get(root, "weight_map");
    if (!json_is_object(wm)) qb_die(QB_EXIT_DATA, "%s: missing \"weight_map\" object", index);
    if (json_object_size(wm) == 0) qb_die(QB_EXIT_DATA, "%s: \"weight_map\" is empty", index);
    // Open each distinct shard once, in order of first mention.
    const char *name;
    json_t *v;
    json_t *opened = json_object();
    json_object_foreach(wm, name, v) {
        if (!json_is_string(v)) qb_die(QB_EXIT_DATA, "%s: tensor '%s': shard name is not a string", index, name);
        const char *shard = json_string_value(v);
        if (!safe_shard_name(shard))
            qb_die(QB_EXIT_DATA, "%s: tensor '%s': shard '%s' is not a file name in the model directory", index, name,
                   shard);
        if (json_object_get(opened, shard)) continue;
        json_object_set_new(opened, shard, json_true());
        char *p = qb_path_join(dir, shard);
        qb_st_open_file(st, p);
        free(p);
    }
    // Every tensor the index lists is in the shard it names.
    json_object_foreach(wm, name, v) {
        const qb_st_tensor *t = qb_st_find(st, name);
        char *p = qb_path_join(dir, json_string_value(v));
        if (!t) qb_die(QB_EXIT_DATA, "%s: tensor '%s' listed by %s is missing", p, name, index);
        if (strcmp(t->file, p) != 0)
            qb_die(QB_EXIT_DATA, "%s: tensor '%s' is in %s, not in %s as the index says", index, name, t->file, p);
        free(p);
    }
    json_decref(opened);
    json_decref(root);
}

void qb_st_open_dir(qb_safetensors *st, const char *dir) {
    char *single = qb_path_join(dir, "model.safetensors");
    char *index = qb_path_join(dir, "model.safetensors.index.json");
    if (qb_file_exists(single)) qb_st_open_file(st, single);
    else if (qb_file_exists(index)) open_index(st, dir, index);
    else qb_die(QB_EXIT_DATA, "%s: no model.safetensors or model.safetensors.index.json", dir);
    free(single);
    free(index);
}

const qb_st_tensor *qb_st_find(const qb_safetensors *st, const char *name) {
    qb_st_tensor key = {.name = (char *)name};
    return st->n ? bsearch(&key, st->t, (size_t)st->n, sizeof *st->t, by_name) : NULL;
}

void qb_st_close(qb_safetensors *st) {
    for (int i = 0; i < st->n; i++) free(st->t[i].name);
    for (int i = 0; i < st->n_maps; i++) qb_unmap(&st->maps[i]);
    for (int i = 0; i < st->n_files; i++) free(st->paths[i]);
    free(st->t);
    free(st->maps);
    free(st->paths);
    memset(st, 0, sizeof *st);
}
