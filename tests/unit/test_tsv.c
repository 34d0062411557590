// test_tsv: the results-file reader and writer of tools/lib/tsv.
#include <string.h>
#include <unistd.h>

#include "../tap.h"
#include "tsv.h"
#include "util.h"

static char err[512];

static int parse(qb_tsv *t, const char *text) {
    err[0] = 0;
    return qb_tsv_parse(t, "x.tsv", text, strlen(text), err, sizeof err);
}

// Parses text expecting failure; checks the message is one line and holds want.
static void expect_error(const char *text, const char *want, const char *what) {
    qb_tsv t;
    int rc = parse(&t, text);
    int ok = rc == -1 && strstr(err, want) != NULL && !strchr(err, '\n');
    tap_ok(ok, "%s: error '%s'", what, want);
    if (!ok) tap_diag("rc %d, message: %s", rc, err);
}

static int row_is(const qb_tsv *t, size_t r, const char *const *want) {
    for (int c = 0; c < t->ncols; c++)
        if (strcmp(qb_tsv_get(t, r, c), want[c]) != 0) return 0;
    return 1;
}

// Writes fields with the writer, reads them back, compares.
static int round_trip(const char *const *hdr, const char *const *row, int n) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    fputs("# provenance line\n", f);
    qb_tsv_write_row(f, hdr, n);
    qb_tsv_write_row(f, row, n);
    fclose(f);
    qb_tsv t;
    int ok = qb_tsv_parse(&t, "mem", text, len, err, sizeof err) == 0 && t.ncols == n && t.nrows == 1;
    for (int c = 0; ok && c < n; c++)
        ok = strcmp(t.cols[c], hdr[c]) == 0 && strcmp(qb_tsv_get(&t, 0, c), row[c]) == 0;
    if (!ok) tap_diag("written: %s / %s", text, err);
    if (t.buf) qb_tsv_free(&t);
    free(text);
    return ok;
}

int main(void) {
    qb_tsv t;

    // The ordinary case: provenance comments, header, rows.
    const char *plain = "# machine: AMD EPYC\n# commit: d0401a8\nmodel\ttype\ttok_s\n"
                        "gpt2\tf32\t12.5\n# command: generate ...\ngpt2\tq8_0\t20.25\n";
    tap_ok(parse(&t, plain) == 0, "parses a results file with provenance lines");
    tap_ok(t.ncols == 3 && strcmp(t.cols[0], "model") == 0 && strcmp(t.cols[2], "tok_s") == 0, "header columns");
    tap_ok(t.nrows == 2 && row_is(&t, 0, (const char *[]){"gpt2", "f32", "12.5"}) &&
               row_is(&t, 1, (const char *[]){"gpt2", "q8_0", "20.25"}),
           "rows, with the # lines between them skipped");
    tap_ok(t.lines[0] == 4 && t.lines[1] == 6, "row line numbers count every physical line (4, 6)");
    tap_ok(qb_tsv_col(&t, "type") == 1 && qb_tsv_col(&t, "nope") == -1, "column lookup");
    tap_ok(strcmp(t.name, "x.tsv") == 0, "table keeps its name for messages");
    qb_tsv_free(&t);

    // Line ends and edges.
    tap_ok(parse(&t, "a\tb\r\n1\t2\r\n3\t\r\n") == 0 && t.nrows == 2 && strcmp(t.cols[1], "b") == 0 &&
               row_is(&t, 0, (const char *[]){"1", "2"}) && row_is(&t, 1, (const char *[]){"3", ""}),
           "CRLF line ends are stripped; an empty last field is kept");
    qb_tsv_free(&t);
    tap_ok(parse(&t, "a\tb\n1\t2") == 0 && t.nrows == 1 && row_is(&t, 0, (const char *[]){"1", "2"}),
           "last line without a newline");
    qb_tsv_free(&t);
    tap_ok(parse(&t, "\xEF\xBB\xBF" "a\tb\n1\t2\n") == 0 && strcmp(t.cols[0], "a") == 0, "UTF-8 byte order mark skipped");
    qb_tsv_free(&t);
    tap_ok(parse(&t, "# only\na\tb\n") == 0 && t.nrows == 0 && t.ncols == 2, "header without rows is a table of 0 rows");
    qb_tsv_free(&t);
    tap_ok(parse(&t, "a\tb\n1\t2\na\tb\n# second file\n3\t4\n") == 0 && t.nrows == 2 &&
               row_is(&t, 1, (const char *[]){"3", "4"}) && t.lines[1] == 5,
           "a repeated header (cat a.tsv b.tsv) is skipped");
    qb_tsv_free(&t);
    tap_ok(parse(&t, "v\n1\n\n2\n") == 0 && t.nrows == 3 && strcmp(qb_tsv_get(&t, 1, 0), "") == 0,
           "one column: an empty line is a row with an empty field");
    qb_tsv_free(&t);
    tap_ok(parse(&t, "a\tb\nx\\ty\tback\\\\slash\\n\n\\#hash\tC:\\dir\n") == 0 && t.nrows == 2 &&
               row_is(&t, 0, (const char *[]){"x\ty", "back\\slash\n"}) &&
               row_is(&t, 1, (const char *[]){"#hash", "C:\\dir"}),
           "escapes \\t \\\\ \\n \\# are undone; an unknown escape is kept");
    qb_tsv_free(&t);

    // Bad input: one-line messages naming file and line.
    expect_error("", "x.tsv: empty: no header row", "empty file");
    expect_error("# machine: x\n# commit: y\n", "x.tsv: empty: no header row", "comments only");
    expect_error("a\tb\tc\n1\t2\t3\n4\t5\n", "x.tsv:3: 2 fields, header has 3", "short row");
    expect_error("a\tb\n1\t2\n3\t4\t5\n", "x.tsv:3: 3 fields, header has 2", "long row");
    expect_error("a\tb\n1\t2\n\n3\t4\n", "x.tsv:3: 1 field, header has 2 (empty line)", "empty line");
    expect_error("# c\r\na\tb\r\n1\t2\r\n3\r\n", "x.tsv:4: 1 field, header has 2", "ragged row with CRLF");
    expect_error("a\t\tc\n", "x.tsv:1: header: column 2 has an empty name", "empty column name");
    expect_error("a\tb\ta\n", "x.tsv:1: header: column 'a' appears twice (columns 1 and 3)", "duplicate column");
    {
        const char bin[] = "a\tb\n1\0\t2\n";
        tap_ok(qb_tsv_parse(&t, "x.tsv", bin, sizeof bin - 1, err, sizeof err) == -1 &&
                   strstr(err, "x.tsv: byte 5: NUL byte") != NULL,
               "a NUL byte is an error naming its offset");
    }

    // Writer: every awkward character survives a round trip.
    tap_ok(round_trip((const char *[]){"#first", "b c", "d"},
                      (const char *[]){"#x", "tab\there", "nl\nand\r\\ and \\t literally"}, 3),
           "writer escapes round-trip through the reader");
    tap_ok(round_trip((const char *[]){"a"}, (const char *[]){""}, 1), "one empty field round-trips");
    {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        qb_tsv_write_row(f, (const char *[]){"#a", "x\ty", "#b"}, 3);
        fclose(f);
        tap_ok(strcmp(text, "\\#a\tx\\ty\t#b\n") == 0, "writer output: leading # escaped only in the first field");
        free(text);
    }

    // Files: read from a path, missing file, stdin-by-name handled by callers.
    char dir[] = "/tmp/qb-test-tsv-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char *path = qb_path_join(dir, "r.tsv");
    FILE *f = fopen(path, "w");
    fputs("# machine: test\nk\tv\na\t1\n", f);
    fclose(f);
    tap_ok(qb_tsv_read(&t, path, err, sizeof err) == 0 && t.nrows == 1 && strcmp(t.name, path) == 0 &&
               row_is(&t, 0, (const char *[]){"a", "1"}),
           "reads a file by path");
    qb_tsv_free(&t);
    unlink(path);
    tap_ok(qb_tsv_read(&t, path, err, sizeof err) == -1 && strstr(err, path) && strstr(err, "cannot open"),
           "a missing file fails with a message naming it");
    rmdir(dir);
    free(path);
    return tap_done();
}
