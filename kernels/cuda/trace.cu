// trace.cu: where the replayed decode graph's time goes (QB_CUDA_TRACE=FILE).
//
// Each GEMV and attention launch captured into the graph gets a slice of one
// device buffer; thread 0 of each of its blocks stamps (globaltimer) when the
// block began, when its wait for the previous kernel returned, when its
// product was done (the GEMV's sums before their reduction, the attention's
// before its warps' merge) and when it ended (qb_trace_mark). The stamps are
// cleared before every replay, so at close they hold the last replay's, and
// one row per launch is appended to FILE: earliest and latest start and wait,
// earliest, median and latest end, and the median product stamp (of the
// blocks that waited), in microseconds from the step's first start. The time
// from one launch's last end to the next one's first release is what the
// kernel boundary costs; tests/cuda/trace_summary.py sums the rows by name.
// Untraced launches (embed, argmax) show as gaps. One thread a block stores
// four words: the cost is within the run-to-run spread.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.cuh"

#define QB_TRACE_STAMPS (8u << 20) // 64 MiB: gpt2-xl's step at R 1 is ~2.4 M

void qb_cuda_trace_open(qb_cuda *c) {
    const char *p = getenv("QB_CUDA_TRACE");
    if (!p || !*p) return;
    c->trace_path = p;
    c->trace_cap = QB_TRACE_STAMPS;
    CK(cudaMalloc(&c->trace, c->trace_cap * sizeof *c->trace));
    CK(cudaMemset(c->trace, 0, c->trace_cap * sizeof *c->trace));
}

unsigned long long *qb_cuda_trace_slot(qb_cuda *c, const char *kind, int type, int n_in, int n_out, size_t bytes,
                                       size_t blocks) {
    const char *name = c->trace_name ? c->trace_name : kind;
    c->trace_name = NULL; // a name for one launch
    if (!c->trace || !c->capturing || c->trace_used + QB_TRACE_MARKS * blocks > c->trace_cap) return NULL;
    if (c->trace_n == c->trace_rec_cap) {
        c->trace_rec_cap = c->trace_rec_cap ? 2 * c->trace_rec_cap : 256;
        c->trace_rec = (qb_trace_rec *)qb_realloc(c->trace_rec, (size_t)c->trace_rec_cap * sizeof *c->trace_rec);
    }
    qb_trace_rec *r = &c->trace_rec[c->trace_n++];
    snprintf(r->name, sizeof r->name, "%s", name);
    r->type = type, r->n_in = n_in, r->n_out = n_out, r->bytes = bytes, r->blocks = blocks, r->off = c->trace_used;
    c->trace_used += QB_TRACE_MARKS * blocks;
    return c->trace + r->off;
}

void qb_cuda_trace_blocks(qb_cuda *c, const unsigned long long *tr, size_t blocks) {
    if (!tr || !c->trace_n) return;
    qb_trace_rec *r = &c->trace_rec[c->trace_n - 1]; // (the slot just given out)
    if (c->trace + r->off != tr || blocks > r->blocks)
        qb_die(QB_EXIT_DATA, "cuda: trace: a launch of %zu blocks for the last slot's %zu (internal error)", blocks,
               r->blocks);
    r->blocks = blocks;
}

void qb_cuda_trace_reset(qb_cuda *c) {
    if (c->trace && c->trace_used) CK(cudaMemsetAsync(c->trace, 0, c->trace_used * sizeof *c->trace, c->stream));
}

void qb_cuda_trace_name(qb_cuda *c, const char *name) { c->trace_name = name; }

int qb_cmp_u64(const void *a, const void *b) {
    const unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;
    return x < y ? -1 : x > y;
}

FILE *qb_trace_append(const char *path, const char *header, const char *what) {
    FILE *f = fopen(path, "a");
    if (!f) qb_die(QB_EXIT_DATA, "%s: cannot append %s", path, what);
    if (fseek(f, 0, SEEK_END) == 0 && ftell(f) == 0) fputs(header, f); // (where "a" starts is the C library's choice)
    return f;
}

// The n nonzero stamps of column k (0 start, 1 wait, 2 end, 3 product) of launch r, sorted, into col;
// with waited set, of the blocks that waited only (an attention block with
// no keys of its own returns at once: its end says nothing of the work).
static size_t stamps(const unsigned long long *t, const qb_trace_rec *r, int k, int waited, unsigned long long *col) {
    size_t n = 0;
    // Block b's stamp k is at[stride b]: three a block, then the product stamps, one a block.
    const unsigned long long *at = t + r->off + (k < 3 ? k : 3 * r->blocks);
    const size_t stride = k < 3 ? 3 : 1;
    for (size_t b = 0; b < r->blocks; b++)
        if (at[stride * b] && (!waited || t[r->off + 3 * b + 1])) col[n++] = at[stride * b];
    qsort(col, n, sizeof *col, qb_cmp_u64);
    return n;
}

static void trace_write(qb_cuda *c) {
    unsigned long long *t = (unsigned long long *)qb_malloc(c->trace_used * sizeof *t);
    CK(cudaMemcpy(t, c->trace, c->trace_used * sizeof *t, cudaMemcpyDeviceToHost));
    size_t most = 1;
    unsigned long long t0 = ~0ull;
    for (int i = 0; i < c->trace_n; i++) most = c->trace_rec[i].blocks > most ? c->trace_rec[i].blocks : most;
    for (int i = 0; i < c->trace_n; i++) // the blocks' start stamps
        for (size_t b = 0; b < c->trace_rec[i].blocks; b++) {
            const unsigned long long s = t[c->trace_rec[i].off + 3 * b];
            t0 = s && s < t0 ? s : t0;
        }
    unsigned long long *col = (unsigned long long *)qb_malloc(most * sizeof *col);
    FILE *f = qb_trace_append(c->trace_path,
                              "op\tname\ttype\tn_in\tn_out\tbytes\tblocks\tstart_min_us\tstart_max_us\twait_min_us"
                              "\twait_max_us\tend_min_us\tend_med_us\tend_max_us\tprod_med_us\n",
                              "the decode graph's trace");
    for (int i = 0; i < c->trace_n; i++) {
        const qb_trace_rec *r = &c->trace_rec[i];
        double v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int waited = 0;
        for (int k = 0; k < QB_TRACE_MARKS; k++) {
            const size_t n = stamps(t, r, k, k >= 2 && waited, col);
            if (k == 1) waited = n > 0;
            if (!n) continue; // (a kernel whose blocks leave before the wait: no wait stamps; no product: none)
            if (k == 3) { // the median only
                v[7] = (col[n / 2] - t0) / 1e3;
                continue;
            }
            double *o = v + 2 * k;
            o[0] = (col[0] - t0) / 1e3, o[1] = (col[n - 1] - t0) / 1e3;
            if (k == 2) o[1] = (col[n / 2] - t0) / 1e3, o[2] = (col[n - 1] - t0) / 1e3;
        }
        fprintf(f, "%d\t%s\t%s\t%d\t%d\t%zu\t%zu\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\n", i, r->name,
                r->type >= 0 ? qb_type_name((qb_type)r->type) : "-", r->n_in, r->n_out, r->bytes, r->blocks, v[0],
                v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
    }
    if (fclose(f) != 0) qb_die(QB_EXIT_DATA, "%s: write failed", c->trace_path);
    free(col);
    free(t);
}

void qb_cuda_trace_close(qb_cuda *c) {
    if (!c->trace) return;
    if (c->trace_n) trace_write(c);
    CK(cudaFree(c->trace));
    free(c->trace_rec);
    c->trace = NULL;
}
