// quant-rows quantize|dequantize TYPE N IN OUT: runs qbench's reference
// quantizer (float32 rows of N values in IN -> ggml block bytes in OUT) or
// dequantizer (block bytes -> float32) over a whole file, so a Python test
// can compare them with the gguf package byte for byte.
#include <string.h>

#include "quant.h"
#include "util.h"

int main(int argc, char **argv) {
    if (argc != 6 || (strcmp(argv[1], "quantize") && strcmp(argv[1], "dequantize")))
        qb_die(QB_EXIT_USAGE, "usage: quant-rows quantize|dequantize TYPE N IN OUT");
    int quantize = !strcmp(argv[1], "quantize");
    int t = qb_type_parse(argv[2]);
    if (t < 0) qb_die(QB_EXIT_USAGE, "unknown type %s", argv[2]);
    long n = qb_parse_long("N", argv[3], 1, 1 << 24);
    if (n % qb_type_block((qb_type)t)) qb_die(QB_EXIT_USAGE, "N=%ld is not a multiple of %s's block", n, argv[2]);
    size_t row_in = quantize ? (size_t)n * sizeof(float) : qb_row_bytes((qb_type)t, n);
    size_t row_out = quantize ? qb_row_bytes((qb_type)t, n) : (size_t)n * sizeof(float);

    size_t len;
    char *in = qb_read_file(argv[4], &len);
    if (len % row_in) qb_die(QB_EXIT_DATA, "%s: %zu bytes is not a whole number of rows of %zu", argv[4], len, row_in);
    size_t rows = len / row_in;
    // Aligned copies: the row functions read floats and halves in place.
    char *src = qb_aligned_alloc(len + 1), *dst = qb_aligned_alloc(rows * row_out + 1);
    memcpy(src, in, len);
    for (size_t r = 0; r < rows; r++) {
        if (quantize)
            qb_quantize_row((qb_type)t, (const float *)(src + r * row_in), dst + r * row_out, n);
        else
            qb_dequantize_row((qb_type)t, src + r * row_in, (float *)(dst + r * row_out), n);
    }
    qb_out o;
    FILE *f = qb_out_open(&o, argv[5], "wb");
    if (rows && fwrite(dst, row_out, rows, f) != rows) qb_die(QB_EXIT_DATA, "%s: write failed", argv[5]);
    qb_out_commit(&o);
    return 0;
}
