// test_table: number parsing and formatting of tools/lib/table, and the
// table operations through the library API (tabulate.t covers the tool).
#include <math.h>
#include <string.h>

#include "../tap.h"
#include "table.h"
#include "tsv.h"

static int sig_is(double v, int sig, const char *want, int want_dec) {
    char buf[64];
    int d = qb_fmt_sig(buf, sizeof buf, v, sig);
    int ok = strcmp(buf, want) == 0 && d == want_dec;
    if (!ok) tap_diag("qb_fmt_sig(%.17g, %d) = '%s' (%d decimals), want '%s' (%d)", v, sig, buf, d, want, want_dec);
    return ok;
}

static qb_tsv parse(const char *name, const char *text) {
    qb_tsv t;
    char err[256];
    if (qb_tsv_parse(&t, name, text, strlen(text), err, sizeof err) != 0) {
        tap_diag("%s", err);
        exit(1);
    }
    return t;
}

int main(void) {
    double v = 0;
    tap_ok(qb_number("12.5", &v) && v == 12.5 && qb_number("-1e-3", &v) && v == -1e-3 && qb_number(".5", &v) &&
               qb_number("+7", &v) && v == 7,
           "numbers: decimals, exponents, signs");
    tap_ok(qb_number("inf", &v) && isinf(v) && qb_number("nan", &v) && isnan(v), "numbers: inf and nan (as printf writes them)");
    tap_ok(!qb_number("", &v) && !qb_number(" 1", &v) && !qb_number("1 ", &v) && !qb_number("0x1A", &v) &&
               !qb_number("1,5", &v) && !qb_number("f32", &v) && !qb_number("-", &v),
           "not numbers: empty, blanks, hex, comma decimal, words");
    tap_ok(qb_is_integer("42") && qb_is_integer("-3") && !qb_is_integer("4.0") && !qb_is_integer("1e3") &&
               !qb_is_integer("") && !qb_is_integer("-"),
           "integers are [+-]digits only");

    tap_ok(sig_is(12.345, 3, "12.3", 1) && sig_is(0.012345, 3, "0.0123", 4) && sig_is(1234.5678, 3, "1235", 0) &&
               sig_is(2.5, 3, "2.50", 2),
           "sig 3: fixed notation keeps trailing zeros; large values print whole");
    tap_ok(sig_is(9.996, 3, "10.0", 1) && sig_is(0.99996, 3, "1.00", 2) && sig_is(-99.96, 3, "-100", 0),
           "sig: rounding that carries into a new digit");
    tap_ok(sig_is(1.5e-7, 3, "1.50e-07", -1) && sig_is(2e15, 2, "2.0e+15", -1) && sig_is(0.0001, 2, "0.00010", 5),
           "sig: exponent notation below 1e-4 and from 1e15");
    tap_ok(sig_is(0, 3, "0.00", 2) && sig_is(123456.7, 1, "123457", 0), "sig: zero; sig 1");

    // Shortest round-trip text, on fresh random values.
    tap_rng rng = tap_rng_new();
    int all = 1;
    for (int i = 0; i < 2000 && all; i++) {
        double x = tap_normal(&rng) * pow(10, (int)(tap_uniform(&rng) * 40) - 20);
        char buf[40];
        qb_fmt_shortest(buf, sizeof buf, x);
        all = strtod(buf, NULL) == x && strlen(buf) <= 24;
        if (!all) tap_diag("%.17g -> %s", x, buf);
    }
    char b1[40], b2[40];
    qb_fmt_shortest(b1, sizeof b1, 0.1);
    qb_fmt_shortest(b2, sizeof b2, 1.0 / 3);
    tap_ok(all && strcmp(b1, "0.1") == 0 && strcmp(b2, "0.3333333333333333") == 0,
           "shortest text reads back exactly (2000 random values); 0.1 stays 0.1");

    // Concatenation: union of columns; aggregation; ratio; format.
    qb_tsv in[2] = {parse("a.tsv", "# c\nk\tx\np\t1\np\t3\nq\t10\n"), parse("b.tsv", "x\tk\textra\n5\tp\tz\n")};
    qb_table t;
    qb_table_from_tsv(&t, in, 2);
    tap_ok(t.ncols == 3 && strcmp(t.cols[2], "extra") == 0 && t.nrows == 4 && strcmp(qb_table_get(&t, 3, 0), "p") == 0 &&
               strcmp(qb_table_get(&t, 3, 1), "5") == 0 && strcmp(qb_table_get(&t, 0, 2), "") == 0,
           "concatenation by column name: union of columns, missing cells empty");
    tap_ok(t.origin[3].file == 1 && t.origin[3].line == 2 && t.origin[0].line == 3, "rows remember file and line");
    qb_tsv_free(&in[0]);
    qb_tsv_free(&in[1]);

    char *by[] = {"k"};
    qb_agg aggs[] = {{"x", QB_STAT_MEAN}, {"x", QB_STAT_STD}, {"x", QB_STAT_MEDIAN}};
    qb_table_aggregate(&t, by, 1, aggs, 3);
    tap_ok(t.nrows == 2 && t.ncols == 5 && strcmp(t.cols[1], "n") == 0 && strcmp(t.cols[4], "x_median") == 0 &&
               strcmp(qb_table_get(&t, 0, 1), "3") == 0 && strcmp(qb_table_get(&t, 0, 2), "3") == 0 &&
               strcmp(qb_table_get(&t, 0, 3), "2") == 0 && strcmp(qb_table_get(&t, 0, 4), "3") == 0 &&
               strcmp(qb_table_get(&t, 1, 3), "") == 0,
           "aggregate: p = {1, 3, 5}: n 3, mean 3, std 2, median 3; q (one row): std empty");
    tap_ok(qb_table_find(&t, "x") == 2 && qb_table_find(&t, "x_std") == 3 && qb_table_find(&t, "y") == -1,
           "find: NAME falls back to NAME_mean");
    qb_table_ratio(&t, "x", "k", "q", NULL, 0);
    tap_ok(strcmp(t.cols[5], "x_ratio") == 0 && strcmp(qb_table_get(&t, 0, 5), "0.3") == 0 &&
               strcmp(qb_table_get(&t, 1, 5), "1") == 0,
           "ratio against the one baseline row of the table: 3/10, 1");
    char *desc_cols[] = {"x"};
    int desc[] = {1};
    qb_table_sort(&t, desc_cols, desc, 1);
    tap_ok(strcmp(qb_table_get(&t, 0, 0), "q") == 0, "sort x (= x_mean) descending: q (10) first");
    char *keep[] = {"k"};
    qb_table_format(&t, 3, 1, keep, 1);
    tap_ok(t.ncols == 5 && strcmp(t.cols[2], "x") == 0 && strcmp(qb_table_get(&t, 0, 2), "10") == 0 &&
               strcmp(qb_table_get(&t, 1, 2), "3 \xC2\xB1 2") == 0 && strcmp(qb_table_get(&t, 1, 4), "0.300") == 0,
           "format: pm merges x_mean and x_std into x; the integer column stays exact; sig 3 elsewhere");
    qb_table_free(&t);
    return tap_done();
}
