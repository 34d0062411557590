// safetensors_write.h: writes a safetensors file tensor by tensor, streaming,
// so a checkpoint larger than memory can be written.
//
// Layout (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON ({"__metadata__": {str: str}, NAME: {"dtype",
// "shape", "data_offsets": [begin, end]}, ...}, padded with spaces to a
// multiple of 8), then the tensors' bytes back to back in the order given. The
// header is written first, from the declared shapes; the data then follows in
// that order through qb_st_write. The file goes to PATH.tmp (util.h's atomic
// outputs), is hashed as it is written, and is renamed into place by
// qb_st_commit only when every declared byte has been written.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef enum { QB_ST_F32, QB_ST_F16, QB_ST_BF16 } qb_st_dtype;

typedef struct {
    char name[128];
    qb_st_dtype dtype;
    int ndim;         // 0..4
    int64_t shape[4];
} qb_st_tensor;

typedef struct qb_st_writer qb_st_writer;

size_t qb_st_dtype_size(qb_st_dtype t);
uint64_t qb_st_tensor_bytes(const qb_st_tensor *t);

// Creates PATH.tmp and writes the header. meta is NULL or a NULL-terminated
// list of key, value strings for "__metadata__". Dies (exit 2) on I/O errors.
qb_st_writer *qb_st_create(const char *path, const qb_st_tensor *tensors, int n, const char *const *meta);
// Bytes of tensor data still expected.
uint64_t qb_st_remaining(const qb_st_writer *w);
// Appends tensor data (any split across calls); dies if more than declared.
void qb_st_write(qb_st_writer *w, const void *data, size_t n);
// Checks that all data was written, flushes, renames into place; the whole
// file's sha256 goes to hex. Dies on error.
void qb_st_commit(qb_st_writer *w, char hex[65]);
