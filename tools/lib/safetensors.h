// safetensors.h: read-only, mmap'ed reader of Hugging Face safetensors
// checkpoints, single file or sharded (model.safetensors.index.json).
//
// The format: an 8-byte little-endian header length N, N bytes of JSON
// ({"NAME": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
// "__metadata__": {..}}), then the data section; offsets are relative to its
// start. Everything is validated before a tensor is handed out: header length
// against the file size, JSON well-formed (duplicate keys rejected), dtype
// known (F32, F16, BF16 accepted; the other safetensors dtypes rejected by
// name), shape x dtype size == byte range, ranges inside the data section,
// not overlapping and covering it without holes (the format's own rule).
// Tensors point into the map: nothing is copied.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "kernels.h"
#include "util.h"

enum { QB_ST_MAX_DIMS = 8 };

typedef struct {
    char *name;
    qb_type type; // QB_TYPE_F32, QB_TYPE_F16 or QB_TYPE_BF16
    int n_dims;
    int64_t shape[QB_ST_MAX_DIMS];
    size_t n_elems;
    const void *data; // inside the file's map
    size_t nbytes;
    size_t offset;    // of data from the start of its file (for messages)
    const char *file; // the path it came from (owned by the qb_safetensors)
} qb_st_tensor;

typedef struct {
    int n;              // tensors, sorted by name
    qb_st_tensor *t;
    int n_files;
    int n_maps;
    qb_map *maps;       // the files qb_st_open_* mapped
    char **paths;
} qb_safetensors;

// Parses one safetensors file held in memory (data, size) named path, adding
// its tensors to st. On error returns -1 and leaves one line naming the file,
// the tensor where there is one, and the problem in err; st is then as it was.
int qb_st_parse(qb_safetensors *st, const char *path, const uint8_t *data, size_t size, char *err, size_t errlen);

// Opens one file, or a model directory (model.safetensors, else the shards
// listed by model.safetensors.index.json). Dies (exit 2) with one line on any
// problem. st must be zeroed first.
void qb_st_open_file(qb_safetensors *st, const char *path);
void qb_st_open_dir(qb_safetensors *st, const char *dir);
// The tensor called name, or NULL.
const qb_st_tensor *qb_st_find(const qb_safetensors *st, const char *name);
void qb_st_close(qb_safetensors *st);

// "F32", "F16", "BF16" for the accepted types.
const char *qb_st_dtype_name(qb_type type);
