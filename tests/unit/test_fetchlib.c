// test_fetchlib: the pieces behind fetch: SHA-256 (known answers), the
// catalogue parser (every rule), mirror lists, staged files, the safetensors
// writer (read back), and the deterministic normal generator (accuracy of its
// own log/sin/cos against libm, statistics, position independence, and golden
// bits that must come out the same on every machine).
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../tap.h"
#include "mirror.h"
#include "randn.h"
#include "safetensors_write.h"
#include "sha256.h"
#include "sources.h"
#include "staged.h"
#include "synthetic.h"
#include "util.h"

static char err[1024];

static void test_sha256(void) {
    char hex[65];
    qb_sha256_hex("", 0, hex);
    tap_ok(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0, "sha256 of nothing");
    qb_sha256_hex("abc", 3, hex);
    tap_ok(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0, "sha256('abc')");
    // One million 'a' in uneven pieces (FIPS 180-2 test vector).
    qb_sha256 *h = qb_sha256_new();
    char block[997];
    memset(block, 'a', sizeof block);
    size_t left = 1000000;
    for (size_t k = 1; left; k = k % 900 + 13) {
        size_t n = k < left ? k : left;
        qb_sha256_update(h, block, n);
        left -= n;
    }
    qb_sha256_final_hex(h, hex);
    tap_ok(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0,
           "sha256 of a million 'a', streamed in uneven pieces");
    qb_sha256_update(h, "abc", 3); // reusable after final
    qb_sha256_final_hex(h, hex);
    tap_ok(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0, "context reusable after final");
    qb_sha256_free(h);
    tap_ok(qb_sha256_is_hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") &&
               !qb_sha256_is_hex("BA7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") &&
               !qb_sha256_is_hex("ba7816bf") && !qb_sha256_is_hex(""),
           "is_hex: 64 lowercase hex digits only");
}

static const char HDR[] = "name\tkind\tfile\turl\tsha256\tbytes\tmember\tnote\n";
static const char PIN[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

static int parse(qb_sources *s, const char *body) {
    char text[4096];
    snprintf(text, sizeof text, "%s%s", HDR, body);
    err[0] = 0;
    return qb_sources_parse(s, "s.tsv", text, strlen(text), err, sizeof err);
}

static void bad(const char *body, const char *want, const char *what) {
    qb_sources s;
    int rc = parse(&s, body);
    int ok = rc == -1 && strstr(err, want) && !strchr(err, '\n');
    tap_ok(ok, "catalogue refuses %s: '%s'", what, want);
    if (!ok) tap_diag("rc %d: %s", rc, err);
}

static void test_sources(void) {
    qb_sources s;
    char body[2048];
    snprintf(body, sizeof body,
             "# a comment\n"
             "m\tmodel\tw.bin\thttps://h/x/w.bin?download=true\t%s\t12\t-\tpinned\n"
             "m\tmodel\tconfig.json\t-\t-\t-\t-\t-\n"
             "d\tdataset\t-\thttp://h/a.zip\t%s\t99\t-\tthe archive\n"
             "d\tdataset\tt.raw\thttp://h/a.zip\t-\t-\tdir/t.raw\t-\n",
             PIN, PIN);
    int rc = parse(&s, body);
    tap_ok(rc == 0 && s.n == 4, "a good catalogue parses (%s)", err);
    if (rc == 0) {
        tap_ok(s.rows[0].bytes == 12 && strcmp(s.rows[0].sha256, PIN) == 0 && strcmp(s.rows[0].note, "pinned") == 0 &&
                   s.rows[0].line == 3,
               "row fields and line number");
        tap_ok(!s.rows[1].url && !s.rows[1].sha256 && s.rows[1].bytes == -1 && !s.rows[1].member && !s.rows[1].note[0],
               "'-' fields read as absent");
        tap_ok(!s.rows[2].file && qb_sources_archive(&s, "http://h/a.zip") == &s.rows[2] &&
                   !qb_sources_archive(&s, "http://h/b.zip"),
               "archive row found by url");
        tap_ok(strcmp(s.rows[3].member, "dir/t.raw") == 0 && qb_sources_has(&s, "d") && !qb_sources_has(&s, "e"),
               "member rows; names");
        qb_sources_free(&s);
    }
    bad("m\tmodel\tf\thttp://h/f\t-\t-\t-\n", "7 fields", "a short row");
    bad("M\tmodel\tf\thttp://h/f\t-\t-\t-\t-\n", "name 'M'", "an uppercase name");
    bad("m\tmodel\t.hidden\thttp://h/f\t-\t-\t-\t-\n", "file '.hidden'", "a hidden file name");
    bad("m\tmodel\tf\thttp://h/f\t-\t1e3\t-\t-\n", "bytes '1e3'", "bytes in exponent form");
    bad("m\tmodel\tf\thttp://h/f\t-\t+3\t-\t-\n", "bytes '+3'", "bytes with a sign");
    bad("m\tmodel\tf\thttp://\t-\t-\t-\t-\n", "url 'http://'", "an empty url");
    bad("m\tmodel\tf\thttp://h/a b\t-\t-\t-\t-\n", "url", "a url with a space");
    bad("m\tmodel\tf\t-\t-\t-\tx/y\t-\n", "needs the archive's url", "a member without url");
    bad("m\tmodel\tf\thttp://h/a.zip\t-\t-\t/etc/passwd\t-\n", "member '/etc/passwd'", "an absolute member");
    bad("m\tmodel\tf\thttp://h/a.zip\t-\t-\ta//b\t-\n", "member 'a//b'", "an empty member component");
    bad("m\tmodel\t-\t-\t-\t-\t-\t-\n", "needs a url", "an archive row without url");
    bad("m\tmodel\t-\thttp://h/\t-\t-\t-\t-\n", "must end in a plain file name", "an archive url without file name");
    bad("m\tmodel\ta\thttp://h/a\t-\t-\t-\t-\nm\tdataset\tb\thttp://h/b\t-\t-\t-\t-\n", "is a dataset here but a model",
        "one name with two kinds");
    bad("m\tmodel\t-\thttp://h/a.zip\t-\t-\t-\t-\nn\tmodel\t-\thttp://h/a.zip\t-\t-\t-\t-\n", "already pinned on line 2",
        "an archive pinned twice");
    {
        const char *text = "name\tkind\tfile\turl\tsha256\tbytes\tnote\tmember\n";
        tap_ok(qb_sources_parse(&s, "s.tsv", text, strlen(text), err, sizeof err) == -1 && strstr(err, "column 7"),
               "catalogue refuses a header in another order (%s)", err);
    }
    char *b = qb_url_basename("https://h/a/model.safetensors?download=true#x");
    tap_ok(b && strcmp(b, "model.safetensors") == 0, "url basename drops query and fragment");
    free(b);
    b = qb_url_basename("https://h/a/");
    tap_ok(!b, "url basename of a folder url: none");
    free(b);
}

static int mirrors_are(const char *list, const char *const *want, int n) {
    qb_mirrors m = {0};
    int ok = qb_mirrors_add_list(&m, list, err, sizeof err) == 0 && m.n == n;
    for (int i = 0; ok && i < n; i++) ok = strcmp(m.urls[i], want[i]) == 0;
    if (!ok)
        for (int i = 0; i < m.n; i++) tap_diag("got %s", m.urls[i]);
    qb_mirrors_free(&m);
    return ok;
}

static void test_mirrors(void) {
    const char *w1[] = {"http://127.0.0.1:8080/m", "file:///srv/mirror", "https://example.org/x"};
    tap_ok(mirrors_are("http://127.0.0.1:8080/m/:/srv/mirror::https://example.org/x", w1, 3),
           "QB_MIRROR: ports stay with their URL, empty pieces skipped, trailing '/' dropped");
    const char *w2[] = {"http://host", "file:///a/b"};
    tap_ok(mirrors_are("http://host:file:///a/b", w2, 2), "QB_MIRROR: a scheme after a colon starts a new entry");
    char *cwd = getcwd(NULL, 0);
    char want[4096];
    snprintf(want, sizeof want, "file://%s/rel%%20dir", cwd);
    const char *w3[] = {want};
    tap_ok(mirrors_are("rel dir", w3, 1), "a relative directory becomes an absolute, percent-encoded file:// URL");
    free(cwd);
    qb_mirrors m = {0};
    tap_ok(qb_mirrors_add(&m, "ftp://x/y", err, sizeof err) == -1, "ftp:// mirror refused (%s)", err);
    qb_mirrors_free(&m);
    char *u = qb_mirror_url("http://h:1/base", "models/a b/c#d");
    tap_ok(strcmp(u, "http://h:1/base/models/a%20b/c%23d") == 0, "mirror URL escapes the relative path (%s)", u);
    free(u);
}

static void test_staged(const char *dir) {
    char *path = qb_path_join(dir, "f.bin"), *part = qb_path_join(dir, "f.bin.part"), hex[65], want[65];
    qb_sha256_hex("hello world", 11, want);
    qb_staged s;
    qb_staged_open(&s, path, 0, -1, err, sizeof err);
    qb_staged_write(&s, "hello ", 6, err, sizeof err);
    qb_staged_abandon(&s, 1); // as after a cut transfer
    tap_ok(qb_file_exists(part) && !qb_file_exists(path), "abandoned: the .part kept, nothing installed");
    qb_staged_open(&s, path, 1, 11, err, sizeof err);
    tap_ok(s.bytes == 6, "resumed: the part's 6 bytes counted");
    int too_big = qb_staged_write(&s, "world!", 6, err, sizeof err);
    tap_ok(too_big == QB_STAGED_TOO_BIG, "writing past the pinned size refused");
    qb_staged_write(&s, "world", 5, err, sizeof err);
    int rc = qb_staged_finish(&s, want, 11, hex, err, sizeof err);
    tap_ok(rc == QB_STAGED_OK && qb_file_exists(path) && !qb_file_exists(part) && strcmp(hex, want) == 0,
           "finished: digest of part + new bytes matches, renamed into place");
    qb_staged_open(&s, path, 0, -1, err, sizeof err);
    qb_staged_write(&s, "hello there", 11, err, sizeof err);
    rc = qb_staged_finish(&s, want, -1, hex, err, sizeof err);
    FILE *f = fopen(path, "rb");
    char back[16] = {0};
    if (f) {
        if (fread(back, 1, sizeof back, f)) {
        }
        fclose(f);
    }
    tap_ok(rc == QB_STAGED_MISMATCH && !qb_file_exists(part) && strcmp(back, "hello world") == 0,
           "wrong digest: nothing installed over the good file, part removed (%s)", err);
    free(path);
    free(part);
}

static void test_safetensors(const char *dir) {
    char *path = qb_path_join(dir, "t.safetensors");
    qb_st_tensor ts[3] = {
        {.name = "a.weight", .dtype = QB_ST_F32, .ndim = 2, .shape = {3, 5}},
        {.name = "b", .dtype = QB_ST_F16, .ndim = 1, .shape = {7}},
        {.name = "c", .dtype = QB_ST_F32, .ndim = 0},
    };
    const char *meta[] = {"format", "pt", "note", "x\"y", NULL};
    qb_st_writer *w = qb_st_create(path, ts, 3, meta);
    float a[15];
    for (int i = 0; i < 15; i++) a[i] = (float)i * 0.5f;
    uint16_t b[7] = {1, 2, 3, 4, 5, 6, 7};
    float c = -2.0f;
    qb_st_write(w, a, 20);
    qb_st_write(w, (char *)a + 20, 40);
    qb_st_write(w, b, 14);
    qb_st_write(w, &c, 4);
    char hex[65], file_hex[65];
    qb_st_commit(w, hex);
    uint64_t size;
    qb_sha256_file(path, file_hex, &size, err, sizeof err);
    tap_ok(strcmp(hex, file_hex) == 0, "writer's digest is the file's");
    size_t len;
    char *data = qb_read_file(path, &len);
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)(unsigned char)data[i] << (8 * i);
    tap_ok(n % 8 == 0 && len == 8 + n + 60 + 14 + 4, "header length a multiple of 8, data follows exactly (%llu)", (unsigned long long)n);
    json_error_t je;
    json_t *h = json_loadb(data + 8, n, 0, &je);
    json_t *ta = json_object_get(h, "a.weight"), *tb = json_object_get(h, "b"), *tc = json_object_get(h, "c");
    int ok = h && ta && tb && tc && strcmp(json_string_value(json_object_get(ta, "dtype")), "F32") == 0 &&
             json_integer_value(json_array_get(json_object_get(ta, "shape"), 1)) == 5 &&
             json_integer_value(json_array_get(json_object_get(tb, "data_offsets"), 0)) == 60 &&
             json_integer_value(json_array_get(json_object_get(tb, "data_offsets"), 1)) == 74 &&
             strcmp(json_string_value(json_object_get(tb, "dtype")), "F16") == 0 &&
             json_array_size(json_object_get(tc, "shape")) == 0 &&
             strcmp(json_string_value(json_object_get(json_object_get(h, "__metadata__"), "note")), "x\"y") == 0;
    tap_ok(ok, "header reads back: dtypes, shapes, offsets, metadata");
    float a2[15];
    memcpy(a2, data + 8 + n, 60);
    tap_ok(memcmp(a, a2, 60) == 0 && memcmp(data + 8 + n + 60, b, 14) == 0, "tensor bytes read back");
    json_decref(h);
    free(data);
    free(path);
}

static void test_randn(void) {
    double worst_log = 0, worst_trig = 0;
    tap_rng r = tap_rng_new();
    for (int i = 0; i < 200000; i++) {
        double x = tap_uniform(&r) + 1e-300;
        if (i < 64) x = ldexp(1.0, -i); // powers of two, down to 2^-63
        double d = fabs(qb_randn_log(x) - log(x)) / fmax(1.0, fabs(log(x)));
        if (d > worst_log) worst_log = d;
        double v = tap_uniform(&r), s, c;
        if (i < 5) v = i * 0.25;
        qb_randn_sincos_turns(v, &s, &c);
        double e = fmax(fabs(s - sin(2 * M_PI * v)), fabs(c - cos(2 * M_PI * v)));
        if (e > worst_trig) worst_trig = e;
    }
    tap_ok(worst_log < 1e-14, "own log within 1e-14 of libm (%.2g)", worst_log);
    tap_ok(worst_trig < 1e-14, "own sin/cos of 2 pi v within 1e-14 of libm (%.2g)", worst_trig);

    enum { N = 1 << 21 };
    float *z = qb_malloc(N * sizeof *z);
    qb_randn_fill(42, 7, 0, N, 1.0, z);
    double sum = 0, sq = 0, q4 = 0;
    long tail = 0;
    int finite = 1;
    for (int i = 0; i < N; i++) {
        finite &= isfinite(z[i]);
        sum += z[i];
        sq += (double)z[i] * z[i];
        q4 += (double)z[i] * z[i] * z[i] * z[i];
        tail += fabs(z[i]) > 3;
    }
    double mean = sum / N, var = sq / N - mean * mean, kurt = q4 / N / (var * var);
    tap_ok(finite && fabs(mean) < 5 / sqrt(N) && fabs(var - 1) < 0.005 && fabs(kurt - 3) < 0.05,
           "2M normals: mean %.5f, variance %.5f, kurtosis %.3f", mean, var, kurt);
    double p3 = (double)tail / N; // 0.0027 for a normal
    tap_ok(fabs(p3 - 0.0027) < 0.0003, "share beyond 3 sigma %.5f (normal: 0.0027)", p3);
    // Position independence: any slice equals the same slice of the whole.
    float part[1001];
    qb_randn_fill(42, 7, 12345, 1001, 1.0, part);
    tap_ok(memcmp(part, z + 12345, sizeof part) == 0, "a slice from an odd offset equals the slice of the whole stream");
    float other[8], scaled[8];
    qb_randn_fill(42, 8, 0, 8, 1.0, other);
    qb_randn_fill(43, 7, 0, 8, 1.0, scaled);
    tap_ok(memcmp(other, z, sizeof other) != 0 && memcmp(scaled, z, sizeof scaled) != 0, "other stream or seed: other numbers");
    qb_randn_fill(42, 7, 0, 8, 0.02, scaled);
    int same = 1;
    for (int i = 0; i < 8; i++) same &= scaled[i] == (float)((double)z[i] * 0.02) || fabs(scaled[i] - z[i] * 0.02f) < 1e-8;
    tap_ok(same, "scale applied");
    // Golden bits: these must be identical on every machine and compiler.
    uint32_t bits[6];
    memcpy(bits, z, sizeof bits);
    const uint32_t golden[6] = {0xbeb25c34u, 0x3e4ebc77u, 0x3f98c2e4u, 0xbecce2b1u, 0x3e8d8ae0u, 0xbd291e20u};
    int gold = memcmp(bits, golden, sizeof bits) == 0;
    tap_ok(gold, "golden bits of seed 42, stream 7");
    if (!gold)
        for (int i = 0; i < 6; i++) tap_diag("bits[%d] = 0x%08xu", i, bits[i]);
    free(z);
}

static void test_shapes(void) {
    // Parameter counts of the real checkpoints (Hugging Face num_parameters()).
    const struct { const char *name; uint64_t params; int L, E, H; } real[] = {
        {"gpt2", 124439808, 12, 768, 12},          {"distilgpt2", 81912576, 6, 768, 12},
        {"gpt2-medium", 354823168, 24, 1024, 16}, {"gpt2-large", 774030080, 36, 1280, 20},
        {"gpt2-xl", 1557611200, 48, 1600, 25},
    };
    for (int i = 0; i < 5; i++) {
        qb_gpt2_shape s;
        int rc = qb_gpt2_shape_lookup(real[i].name, &s);
        tap_ok(rc == 0 && s.n_layer == real[i].L && s.n_embd == real[i].E && s.n_head == real[i].H && s.n_ctx == 1024 &&
                   s.n_vocab == 50257 && qb_synth_params(&s) == real[i].params,
               "%s: %d layers, width %d, %d heads, %llu parameters", real[i].name, real[i].L, real[i].E, real[i].H,
               (unsigned long long)real[i].params);
    }
    qb_gpt2_shape s;
    tap_ok(qb_gpt2_shape_lookup("gpt3", &s) == -1, "unknown shape refused");
}

int main(void) {
    char tmpl[] = "/tmp/test_fetchlib.XXXXXX";
    char *dir = mkdtemp(tmpl);
    test_sha256();
    test_sources();
    test_mirrors();
    test_staged(dir);
    test_safetensors(dir);
    test_randn();
    test_shapes();
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) {
    }
    return tap_done();
}
