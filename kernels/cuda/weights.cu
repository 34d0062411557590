// weights.cu: weights uploaded once, in their stored type, arranged for the
// GEMV's 16-byte loads (see qb_planes in common.cuh), and dequantised rows
// (embedding lookup, GEMM tiles).
#include "common.cuh"
#include "dequant.cuh"

size_t qb_cuda_weight_bytes(qb_type t, int n_in, int n_out) {
    qb_planes p;
    if (!qb_planes_of(t, n_in, n_out, &p)) return 0;
    return p.ggml_blk * (size_t)(n_in / p.block) * (size_t)n_out;
}

int qb_cuda_type_ok(qb_type t, int n_in) {
    qb_planes p;
    return qb_planes_of(t, n_in, 1, &p);
}

// ---- repacking on the device ------------------------------------------------------------

// One thread per (row, block), or per float element (qb_repack_block, qb_float_element).
__global__ void k_repack(uint8_t *dst, const uint8_t *src, int nb, int n_out, qb_planes p, int s_first) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < (size_t)nb * n_out) qb_repack_block(dst, src, nb, p, s_first, i);
}

template <typename E>
__global__ void k_float_rows(uint8_t *dst, const E *src, int n_in, int n_out, size_t qrow, int transposed) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < (size_t)n_in * n_out) qb_float_element(dst, src, n_in, n_out, qrow, transposed, i);
}

qb_weight qb_cuda_weight_upload(qb_cuda *c, const qb_weight *h) {
    qb_planes p;
    if (!qb_planes_of(h->type, h->n_in, h->n_out, &p))
        qb_die(QB_EXIT_DATA, "cuda: weight type %d with %d inputs is not supported on the GPU", (int)h->type,
               h->n_in);
    int fs = float_size(h->type);
    if (!fs && h->layout != QB_LAYOUT_OUT_IN)
        qb_die(QB_EXIT_DATA, "cuda: block-type weights must be stored [out][in]");
    const size_t file_bytes = qb_cuda_weight_bytes(h->type, h->n_in, h->n_out);
    uint8_t *dst = (uint8_t *)qb_cuda_alloc(c, p.total);
    qb_cuda_memset(c, dst, 0, p.total); // the row padding
    uint8_t *tmp = (uint8_t *)qb_cuda_alloc(c, file_bytes);
    qb_cuda_to_device(c, tmp, h->data, file_bytes);
    const size_t n = fs ? (size_t)h->n_in * h->n_out : (size_t)(h->n_in / p.block) * h->n_out;
    const unsigned th = 256;
    const int tr = h->layout == QB_LAYOUT_IN_OUT;
    if (fs == 4)
        k_float_rows<float><<<qb_blocks(n, th), th, 0, c->stream>>>(dst, (const float *)tmp, h->n_in, h->n_out,
                                                                     p.qrow, tr);
    else if (fs == 2)
        k_float_rows<uint16_t><<<qb_blocks(n, th), th, 0, c->stream>>>(dst, (const uint16_t *)tmp, h->n_in,
                                                                        h->n_out, p.qrow, tr);
    else {
        blk_split s = {};
        split_of(h->type, &s);
        k_repack<<<qb_blocks(n, th), th, 0, c->stream>>>(dst, tmp, h->n_in / p.block, h->n_out, p, s.s_first);
    }
    CK_LAUNCH();
    CK(cudaStreamSynchronize(c->stream)); // tmp is freed next, and the host data may be unmapped
    qb_cuda_free(c, tmp);
    qb_cuda_mem_sample(c);
    qb_weight d = *h;
    d.layout = QB_LAYOUT_OUT_IN;
    d.data = dst;
    return d;
}

void qb_cuda_weight_free(qb_cuda *c, qb_weight *w) {
    qb_cuda_free(c, (void *)w->data);
    w->data = NULL;
}

// ---- dequantised rows ------------------------------------------------------------------------

// Rows r0.. of w as OutT: one thread a group of 32 values (the general path).
template <qb_type T, typename OutT>
__global__ void k_dequant_rows(OutT *out, size_t ld_out, const uint8_t *w, qb_planes p, int n_in, int r0, int n) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < (size_t)((n_in + 31) / 32) * n) qb_dequant_group<T, OutT>(out, ld_out, w, p, n_in, r0, i);
}

// The same where rows are whole groups and out holds them back to back: stores coalesced.
constexpr int DEQ_NT = 128;
template <qb_type T, typename OutT>
__global__ void __launch_bounds__(DEQ_NT) k_dequant_staged(OutT *out, const uint8_t *w, qb_planes p, int n_in, int r0,
                                                          size_t n_groups) {
    qb_dequant_staged<T, OutT, DEQ_NT>(out, w, p, n_in, r0, n_groups, blockIdx.x);
}

template <typename OutT>
static void dequant_rows(qb_cuda *c, OutT *out, size_t ld_out, const qb_weight *w, int r0, int n) {
    qb_planes p;
    qb_planes_of(w->type, w->n_in, w->n_out, &p);
    const size_t work = (size_t)((w->n_in + 31) / 32) * n;
    const bool staged = w->n_in % 32 == 0 && ld_out == (size_t)w->n_in && (uintptr_t)out % 16 == 0;
    const unsigned th = DEQ_NT, bl = qb_blocks(work, th); // (either kernel)
    const uint8_t *d = (const uint8_t *)w->data;
    switch (w->type) {
#define CASE(T)                                                                                        \
    case T:                                                                                            \
        if (staged) k_dequant_staged<T, OutT><<<bl, th, 0, c->stream>>>(out, d, p, w->n_in, r0, work);   \
        else k_dequant_rows<T, OutT><<<bl, th, 0, c->stream>>>(out, ld_out, d, p, w->n_in, r0, n);       \
        break;
        CASE(QB_TYPE_F32)
        CASE(QB_TYPE_F16)
        CASE(QB_TYPE_BF16)
        CASE(QB_TYPE_Q8_0)
        CASE(QB_TYPE_Q4_0)
        CASE(QB_TYPE_Q4_1)
        CASE(QB_TYPE_IQ4_NL)
        CASE(QB_TYPE_Q4_K)
        CASE(QB_TYPE_Q6_K)
#undef CASE
    default: qb_die(QB_EXIT_DATA, "cuda: weight type %d not supported", (int)w->type);
    }
    CK_LAUNCH();
}

void qb_cuda_weight_rows(qb_cuda *c, float *out, const qb_weight *w, int r0, int n) {
    if (r0 < 0 || n < 0 || r0 + n > w->n_out) qb_die(QB_EXIT_DATA, "cuda: weight rows out of range");
    if (n) dequant_rows<float>(c, out, (size_t)w->n_in, w, r0, n);
}

void qb_cuda_dequant_f16(qb_cuda *c, __half *out, size_t ld_out, const qb_weight *w, int r0, int n) {
    if (n) dequant_rows<__half>(c, out, ld_out, w, r0, n);
}
