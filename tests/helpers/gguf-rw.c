// gguf-rw: drives tools/lib/gguf for the tests.
//   gguf-rw dump FILE      reads FILE and prints a canonical dump: version,
//                          alignment, data offset, every key/value (type and
//                          value bytes in hex, in file order) and every tensor
//                          (type, dims, absolute offset, sha256 of its data);
//                          the Python test prints the same from gguf.GGUFReader.
//   gguf-rw copy IN OUT    reads IN and writes every key/value and tensor of it
//                          again with our writer (streamed, in order).
//   gguf-rw check FILE     validates FILE only: exit 0, or the one-line error, exit 2.
#include <openssl/evp.h>
#include <string.h>

#include "gguf.h"
#include "util.h"

static void hex(const void *p, size_t n) {
    for (size_t i = 0; i < n; i++) printf("%02x", ((const unsigned char *)p)[i]);
}

static void dump(const qb_gguf *g) {
    printf("version\t%u\nalignment\t%zu\ndata_offset\t%zu\n", g->version, g->alignment, g->data_offset);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const qb_gguf_kv *kv = &g->kv[i];
        printf("kv\t%s\t", kv->key);
        if (kv->type == QB_GGUF_ARRAY)
            printf("array[%s]\t", qb_gguf_type_name(kv->arr_type));
        else
            printf("%s\t", qb_gguf_type_name(kv->type));
        size_t es = qb_gguf_type_size(kv->arr_type);
        for (uint64_t j = 0; j < kv->n; j++) {
            if (j) putchar(',');
            if (kv->arr_type == QB_GGUF_STRING)
                hex(kv->strs[j].s, kv->strs[j].len);
            else
                hex(kv->raw + j * es, es);
        }
        putchar('\n');
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const qb_gguf_tensor *t = &g->tensors[i];
        unsigned char md[32];
        unsigned int md_len = 0;
        if (!EVP_Digest(t->data, t->nbytes, md, &md_len, EVP_sha256(), NULL)) qb_die(QB_EXIT_DATA, "sha256 failed");
        printf("tensor\t%s\t%d\t", t->name, t->type);
        for (int d = 0; d < t->n_dims; d++) printf("%s%lld", d ? "," : "", (long long)t->ne[d]);
        printf("\t%llu\t", (unsigned long long)(g->data_offset + t->offset));
        hex(md, md_len);
        putchar('\n');
    }
}

static void copy(const qb_gguf *g, const char *out) {
    qb_gguf_writer *w = qb_gguf_writer_new();
    for (uint64_t i = 0; i < g->n_kv; i++) qb_gguf_set_kv(w, &g->kv[i]);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const qb_gguf_tensor *t = &g->tensors[i];
        qb_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, NULL);
    }
    uint64_t expect = qb_gguf_writer_size(w);
    qb_out o;
    qb_gguf_write_begin(w, &o, out);
    for (uint64_t i = 0; i < g->n_tensors; i++) qb_gguf_write_data(w, &o, i, g->tensors[i].data, g->tensors[i].nbytes);
    qb_gguf_write_end(w, &o);
    qb_gguf_writer_free(w);
    qb_map m;
    char err[512];
    if (qb_map_file(&m, out, err, sizeof err)) qb_die(QB_EXIT_DATA, "%s", err);
    if (m.size != expect) qb_die(QB_EXIT_DATA, "%s: %zu bytes written, writer predicted %llu", out, m.size, (unsigned long long)expect);
    qb_unmap(&m);
}

int main(int argc, char **argv) {
    if (argc < 3 || (strcmp(argv[1], "dump") && strcmp(argv[1], "copy") && strcmp(argv[1], "check")) ||
        (!strcmp(argv[1], "copy") ? argc != 4 : argc != 3))
        qb_die(QB_EXIT_USAGE, "usage: gguf-rw dump FILE | copy IN OUT | check FILE");
    qb_gguf g;
    char err[512];
    if (qb_gguf_open(&g, argv[2], err, sizeof err)) qb_die(QB_EXIT_DATA, "%s", err);
    if (!strcmp(argv[1], "dump")) dump(&g);
    if (!strcmp(argv[1], "copy")) copy(&g, argv[3]);
    qb_gguf_close(&g);
    return 0;
}
