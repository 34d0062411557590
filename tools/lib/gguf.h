// gguf.h: GGUF (v2/v3) files, the model format of llama.cpp/ggml: a header,
// typed key/value metadata, tensor infos and an aligned data section.
//
// The reader maps the file read-only and validates all of it before anything
// is used: magic and version, counts against the file size, every string and
// array inside the file, known value and tensor types, at most 4 dimensions,
// no overflow in element and byte counts, tensor offsets aligned to
// general.alignment (default 32), data inside the file, no two tensors
// overlapping, no duplicate tensor names or keys. Tensor data is then used in
// place. Errors come back as one line "PATH: byte N: problem".
//
// The writer collects key/values (kept in insertion order; setting a key
// twice replaces the value) and tensor infos, then writes the file through
// qb_out (temp file + rename), streaming the tensor data in order.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util.h"

enum { QB_GGUF_DEFAULT_ALIGNMENT = 32, QB_GGUF_MAX_DIMS = 4, QB_GGUF_MAX_NAME = 63 };

// Value types of the metadata (the numbers are the file's).
typedef enum {
    QB_GGUF_UINT8 = 0,
    QB_GGUF_INT8 = 1,
    QB_GGUF_UINT16 = 2,
    QB_GGUF_INT16 = 3,
    QB_GGUF_UINT32 = 4,
    QB_GGUF_INT32 = 5,
    QB_GGUF_FLOAT32 = 6,
    QB_GGUF_BOOL = 7,
    QB_GGUF_STRING = 8,
    QB_GGUF_ARRAY = 9,
    QB_GGUF_UINT64 = 10,
    QB_GGUF_INT64 = 11,
    QB_GGUF_FLOAT64 = 12,
} qb_gguf_type;
#define QB_GGUF_N_TYPES 13

// A string inside the file (not NUL-terminated there) or owned by a writer.
typedef struct {
    const char *s;
    size_t len;
} qb_gguf_str;

typedef struct {
    char *key;          // NUL-terminated copy
    qb_gguf_type type;  // QB_GGUF_ARRAY for arrays
    qb_gguf_type arr_type; // element type of an array
    uint64_t n;         // elements of an array (1 for a scalar)
    const uint8_t *raw; // the value (scalars, numeric array elements), unaligned
    qb_gguf_str *strs;  // a string's bytes (n = 1) or an array of strings' elements
    uint64_t at;        // byte offset of the key/value in the file
} qb_gguf_kv;

typedef struct {
    char *name;       // NUL-terminated copy
    int n_dims;
    int64_t ne[QB_GGUF_MAX_DIMS]; // ne[0] is the contiguous dimension; unused ones are 1
    int type;         // a qb_type (ggml type id)
    uint64_t offset;  // in the data section
    size_t nbytes;
    const void *data; // in the mapped file
    uint64_t at;      // byte offset of the tensor info in the file
} qb_gguf_tensor;

typedef struct {
    char *path;
    qb_map map;
    const uint8_t *bytes; // the file (mapped, or the caller's buffer)
    size_t size;
    uint32_t version;
    uint64_t n_kv, n_tensors;
    qb_gguf_kv *kv;
    qb_gguf_tensor *tensors;
    size_t alignment;
    size_t data_offset; // start of the data section
} qb_gguf;

// Opens and validates a file. Returns 0, or -1 with one line in err (the
// struct is then empty and needs no close).
int qb_gguf_open(qb_gguf *g, const char *path, char *err, size_t errlen);
// The same over bytes already in memory (not copied; must outlive g); name is
// used in messages.
int qb_gguf_parse(qb_gguf *g, const void *bytes, size_t size, const char *name, char *err, size_t errlen);
void qb_gguf_close(qb_gguf *g);

const qb_gguf_kv *qb_gguf_find(const qb_gguf *g, const char *key);
const qb_gguf_tensor *qb_gguf_tensor_find(const qb_gguf *g, const char *name);

// Typed getters: 0 on success, -1 when the key is absent or has another kind
// of type. Any integer type (and bool) reads as int64 if it fits; FLOAT32 and
// FLOAT64 read as double; a string as a NUL-terminated malloc'ed copy.
int qb_gguf_get_int(const qb_gguf *g, const char *key, int64_t *out);
int qb_gguf_get_float(const qb_gguf *g, const char *key, double *out);
int qb_gguf_get_str(const qb_gguf *g, const char *key, char **out);
// Element i of an array (or the scalar value, i = 0), numeric types only.
int64_t qb_gguf_kv_int(const qb_gguf_kv *kv, uint64_t i);
double qb_gguf_kv_float(const qb_gguf_kv *kv, uint64_t i);
// Bytes per element of a fixed-size type, 0 for STRING/ARRAY/unknown.
size_t qb_gguf_type_size(qb_gguf_type t);
const char *qb_gguf_type_name(qb_gguf_type t);

// ---- writer --------------------------------------------------------------------
typedef struct qb_gguf_writer qb_gguf_writer;

qb_gguf_writer *qb_gguf_writer_new(void);
void qb_gguf_writer_free(qb_gguf_writer *w);

void qb_gguf_set_u8(qb_gguf_writer *w, const char *key, uint8_t v);
void qb_gguf_set_i8(qb_gguf_writer *w, const char *key, int8_t v);
void qb_gguf_set_u16(qb_gguf_writer *w, const char *key, uint16_t v);
void qb_gguf_set_i16(qb_gguf_writer *w, const char *key, int16_t v);
void qb_gguf_set_u32(qb_gguf_writer *w, const char *key, uint32_t v);
void qb_gguf_set_i32(qb_gguf_writer *w, const char *key, int32_t v);
void qb_gguf_set_u64(qb_gguf_writer *w, const char *key, uint64_t v);
void qb_gguf_set_i64(qb_gguf_writer *w, const char *key, int64_t v);
void qb_gguf_set_f32(qb_gguf_writer *w, const char *key, float v);
void qb_gguf_set_f64(qb_gguf_writer *w, const char *key, double v);
void qb_gguf_set_bool(qb_gguf_writer *w, const char *key, int v);
void qb_gguf_set_str(qb_gguf_writer *w, const char *key, const char *v);
// An array of n fixed-size elements of type t, read from data (host order,
// which is the file's little-endian order on the machines we run on).
void qb_gguf_set_arr(qb_gguf_writer *w, const char *key, qb_gguf_type t, const void *data, size_t n);
// An array of n strings (with their lengths, so they may hold any bytes).
void qb_gguf_set_arr_str(qb_gguf_writer *w, const char *key, const qb_gguf_str *v, size_t n);
// Copies a key/value read from another file, whatever its type.
void qb_gguf_set_kv(qb_gguf_writer *w, const qb_gguf_kv *kv);

// Declares a tensor (in data-section order). data may be NULL when the bytes
// are streamed later with qb_gguf_write_data. Dies on a bad name, shape or
// type, or a duplicate name.
void qb_gguf_add_tensor(qb_gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne,
                        const void *data);
size_t qb_gguf_writer_n_tensors(const qb_gguf_writer *w);
// Total file size the writer will produce (after all tensors are declared).
uint64_t qb_gguf_writer_size(qb_gguf_writer *w);

// Writes everything to path (temp + rename); every tensor needs its data.
void qb_gguf_write_file(qb_gguf_writer *w, const char *path);
// Streaming: begin writes header, metadata and tensor infos to o (opened on
// path); then write_data for each tensor in declaration order (nbytes must
// match); end pads and commits. Keys and tensors are frozen at begin.
void qb_gguf_write_begin(qb_gguf_writer *w, qb_out *o, const char *path);
void qb_gguf_write_data(qb_gguf_writer *w, qb_out *o, size_t index, const void *data, size_t nbytes);
void qb_gguf_write_end(qb_gguf_writer *w, qb_out *o);
