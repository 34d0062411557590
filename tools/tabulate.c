// tabulate: join, aggregate and compare result rows; print them as Markdown,
// LaTeX (booktabs), TSV or CSV. The steps run in a fixed order, whatever the
// order of the options: read and concatenate the inputs, --join, --where,
// --by/--agg, --ratio, --sort, number formatting and --cells, --columns,
// output. See tools/man/tabulate.1.
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "table.h"
#include "tsv.h"
#include "util.h"

static const char usage[] =
    "usage: tabulate [OPTIONS] [FILE...]\n"
    "Reads result TSV files (or standard input; '-' names it), concatenates them\n"
    "(union of columns, missing cells empty) and prints one table.\n"
    "\n"
    "  --join FILE         add FILE's columns to each row matching on the --on keys\n"
    "                      (repeatable; FILE must have one row per key)\n"
    "  --on KEYS           join keys; each --join uses those of KEYS both sides have\n"
    "  --where KEY=VALUE   keep rows where KEY is VALUE (KEY!=VALUE: is not); repeatable\n"
    "  --by KEYS           one row per distinct KEYS, with n = rows in the group\n"
    "  --agg STATS COLS    aggregate COLS over each group: STATS from mean,std,median,\n"
    "                      min,max; output columns COL_STAT (std: sample, n-1);\n"
    "                      repeatable\n"
    "  --ratio COLS        add COL_ratio = COL / COL of the baseline row\n"
    "  --baseline KEY=VAL  the baseline row: KEY=VAL among rows with the same --by\n"
    "                      keys other than KEY\n"
    "  --within KEYS       rows sharing a baseline agree on KEYS (instead of --by)\n"
    "  --sort COL[:desc],...  sort (numeric for numeric columns; empty cells last)\n"
    "  --cells pm|split    pm: COL_mean and COL_std become one column COL, 'mean ± std'\n"
    "  --columns SPEC      keep, order and rename columns: name[=Display Name],...\n"
    "                      ('\\,' for a comma in a display name)\n"
    "  --sig N             significant digits of non-integer numbers (default 3 for\n"
    "                      md and tex; tsv and csv keep full precision unless given)\n"
    "  --na TEXT           what md and tex print for an empty cell (default empty)\n"
    "  -f, --format FMT    md, tex (booktabs), tsv or csv (default: from -o's\n"
    "                      extension, else tsv)\n"
    "  -o, --output FILE   write FILE (atomically) instead of standard output ('-')\n"
    "  -h, --help          this help\n"
    "A column name NAME that is not in the table but NAME_mean is refers to NAME_mean.\n"
    "Exit status: 0 ok, 1 usage, 2 data (the message names file and line).\n";

// A comma-separated list; "\," is a literal comma. Empty items are an error.
typedef struct {
    int n;
    char **items;
} list;

static list split_list(const char *opt, const char *s) {
    list l = {0, NULL};
    l.items = qb_malloc((strlen(s) + 2) * sizeof *l.items);
    char *item = qb_malloc(strlen(s) + 1), *w = item;
    for (const char *p = s;; p++) {
        if (*p == '\\' && p[1] == ',') {
            *w++ = ',';
            p++;
            continue;
        }
        if (*p == ',' || !*p) {
            *w = 0;
            if (!item[0]) qb_die(QB_EXIT_USAGE, "%s: empty item in '%s'", opt, s);
            l.items[l.n++] = qb_strdup(item);
            w = item;
            if (!*p) break;
            continue;
        }
        *w++ = *p;
    }
    free(item);
    return l;
}

static void append(list *l, const list *more) {
    l->items = qb_realloc(l->items, (size_t)(l->n + more->n + 1) * sizeof *l->items);
    for (int i = 0; i < more->n; i++) l->items[l->n++] = more->items[i];
}

static void push(list *l, char *s) {
    l->items = qb_realloc(l->items, (size_t)(l->n + 1) * sizeof *l->items);
    l->items[l->n++] = s;
}

static int has(const list *l, const char *s) {
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->items[i], s) == 0) return 1;
    return 0;
}

typedef struct {
    list inputs, joins, on, by, ratio, within, sort, wheres;
    qb_agg *aggs;
    int naggs;
    char *base_key, *base_value;
    int *desc;
    char **col_names, **col_display;
    int ncolumns; // -1: keep all
    int sig;      // -1: the format's default
    int pm;
    const char *format, *na, *output;
} options;

static const char *format_from_path(const char *path) {
    const char *dot = path ? strrchr(path, '.') : NULL;
    if (dot && (!strcmp(dot, ".md") || !strcmp(dot, ".tex") || !strcmp(dot, ".csv") || !strcmp(dot, ".tsv")))
        return dot + 1;
    return "tsv";
}

static void parse_agg(options *o, const char *stats, const char *cols) {
    list s = split_list("--agg", stats), c = split_list("--agg", cols);
    o->aggs = qb_realloc(o->aggs, (size_t)(o->naggs + s.n * c.n) * sizeof *o->aggs);
    for (int j = 0; j < c.n; j++)
        for (int i = 0; i < s.n; i++) {
            int k = 0;
            while (k < QB_NSTATS && strcmp(qb_stat_names[k], s.items[i])) k++;
            if (k == QB_NSTATS)
                qb_die(QB_EXIT_USAGE, "--agg: unknown statistic '%s' (mean, std, median, min, max)", s.items[i]);
            o->aggs[o->naggs++] = (qb_agg){c.items[j], k};
        }
}

static void parse_columns(options *o, const char *spec) {
    list l = split_list("--columns", spec);
    o->ncolumns = l.n;
    o->col_names = l.items;
    o->col_display = qb_calloc((size_t)l.n, sizeof *o->col_display);
    for (int i = 0; i < l.n; i++) {
        char *eq = strchr(l.items[i], '=');
        if (!eq) continue;
        *eq = 0;
        if (!l.items[i][0]) qb_die(QB_EXIT_USAGE, "--columns: empty column name in '%s'", spec);
        o->col_display[i] = eq + 1;
    }
}

static void parse_sort(options *o, const char *spec) {
    o->sort = split_list("--sort", spec);
    o->desc = qb_calloc((size_t)o->sort.n, sizeof *o->desc);
    for (int i = 0; i < o->sort.n; i++) {
        char *colon = strrchr(o->sort.items[i], ':');
        if (!colon) continue;
        if (strcmp(colon, ":desc") == 0)
            o->desc[i] = 1;
        else if (strcmp(colon, ":asc") != 0)
            qb_die(QB_EXIT_USAGE, "--sort: '%s': order must be :asc or :desc", o->sort.items[i]);
        *colon = 0;
    }
}

static void parse_args(options *o, int argc, char **argv) {
    memset(o, 0, sizeof *o);
    o->ncolumns = -1;
    o->sig = -1;
    o->na = "";
    int only_files = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (only_files || a[0] != '-' || strcmp(a, "-") == 0) {
            push(&o->inputs, a);
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_files = 1;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            exit(QB_EXIT_OK);
        }
        // "--opt=value" or "--opt value"
        char name[64];
        const char *val = NULL, *eq = strchr(a, '=');
        if (a[1] == '-' && eq) {
            snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
            val = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
        }
        static const char *const known[] = {"--join", "--on", "--where", "--by", "--agg", "--ratio", "--baseline",
                                            "--within", "--sort", "--cells", "--columns", "--sig", "--na", "--format",
                                            "-f", "--output", "-o"};
        int ok = 0;
        for (size_t k = 0; k < sizeof known / sizeof *known; k++) ok |= strcmp(name, known[k]) == 0;
        if (!ok) qb_die(QB_EXIT_USAGE, "unknown option '%s' (see --help)", a);
        if (!val) {
            if (i + 1 >= argc) qb_die(QB_EXIT_USAGE, "%s needs an argument", name);
            val = argv[++i];
        }
        if (!strcmp(name, "--join")) {
            push(&o->joins, (char *)val);
        } else if (!strcmp(name, "--on")) {
            list l = split_list(name, val);
            append(&o->on, &l);
        } else if (!strcmp(name, "--where")) {
            push(&o->wheres, (char *)val);
        } else if (!strcmp(name, "--by")) {
            list l = split_list(name, val);
            append(&o->by, &l);
        } else if (!strcmp(name, "--agg")) {
            if (i + 1 >= argc) qb_die(QB_EXIT_USAGE, "--agg needs two arguments: STATS COLS");
            parse_agg(o, val, argv[++i]);
        } else if (!strcmp(name, "--ratio")) {
            list l = split_list(name, val);
            append(&o->ratio, &l);
        } else if (!strcmp(name, "--baseline")) {
            const char *e = strchr(val, '=');
            if (!e || e == val) qb_die(QB_EXIT_USAGE, "--baseline: expected KEY=VALUE, got '%s'", val);
            o->base_key = strndup(val, (size_t)(e - val));
            o->base_value = qb_strdup(e + 1);
        } else if (!strcmp(name, "--within")) {
            list l = split_list(name, val);
            append(&o->within, &l);
        } else if (!strcmp(name, "--sort")) {
            parse_sort(o, val);
        } else if (!strcmp(name, "--cells")) {
            if (strcmp(val, "pm") && strcmp(val, "split"))
                qb_die(QB_EXIT_USAGE, "--cells: expected pm or split, got '%s'", val);
            o->pm = strcmp(val, "pm") == 0;
        } else if (!strcmp(name, "--columns")) {
            parse_columns(o, val);
        } else if (!strcmp(name, "--sig")) {
            o->sig = (int)qb_parse_long(name, val, 1, 17);
        } else if (!strcmp(name, "--na")) {
            o->na = val;
        } else if (!strcmp(name, "--format") || !strcmp(name, "-f")) {
            if (strcmp(val, "md") && strcmp(val, "tex") && strcmp(val, "tsv") && strcmp(val, "csv"))
                qb_die(QB_EXIT_USAGE, "--format: unknown format '%s' (md, tex, tsv, csv)", val);
            o->format = val;
        } else {
            o->output = val;
        }
    }
    if (o->ratio.n && !o->base_key) qb_die(QB_EXIT_USAGE, "--ratio needs --baseline KEY=VALUE");
    if (o->base_key && !o->ratio.n) qb_die(QB_EXIT_USAGE, "--baseline needs --ratio COLS");
    if (o->within.n && !o->ratio.n) qb_die(QB_EXIT_USAGE, "--within needs --ratio COLS");
    if (o->joins.n && !o->on.n) qb_die(QB_EXIT_USAGE, "--join needs --on KEYS (the columns rows match on)");
    if (o->on.n && !o->joins.n) qb_die(QB_EXIT_USAGE, "--on needs --join FILE");
    if (o->output && strcmp(o->output, "-") == 0) o->output = NULL; // -o - is standard output
    if (!o->format) o->format = format_from_path(o->output);
    if (o->sig < 0) o->sig = !strcmp(o->format, "md") || !strcmp(o->format, "tex") ? 3 : 0;
    if (!o->inputs.n) {
        if (isatty(STDIN_FILENO)) qb_die(QB_EXIT_USAGE, "no input: name TSV files or pipe them in (see --help)");
        push(&o->inputs, "-");
    }
    int stdin_uses = 0;
    for (int i = 0; i < o->inputs.n; i++) stdin_uses += strcmp(o->inputs.items[i], "-") == 0;
    for (int i = 0; i < o->joins.n; i++) stdin_uses += strcmp(o->joins.items[i], "-") == 0;
    if (stdin_uses > 1) qb_die(QB_EXIT_USAGE, "standard input ('-') can be read only once");
}

static void load(qb_tsv *t, const char *path) {
    char err[1024];
    if (qb_tsv_read(t, path, err, sizeof err) != 0) qb_die(QB_EXIT_DATA, "%s", err);
}

int main(int argc, char **argv) {
    options o;
    parse_args(&o, argc, argv);

    qb_tsv *in = qb_malloc((size_t)o.inputs.n * sizeof *in);
    for (int i = 0; i < o.inputs.n; i++) load(&in[i], o.inputs.items[i]);
    qb_table t;
    qb_table_from_tsv(&t, in, o.inputs.n);
    for (int i = 0; i < o.inputs.n; i++) qb_tsv_free(&in[i]);
    free(in);

    if (o.joins.n) {
        qb_tsv *right = qb_malloc((size_t)o.joins.n * sizeof *right);
        for (int j = 0; j < o.joins.n; j++) load(&right[j], o.joins.items[j]);
        for (int k = 0; k < o.on.n; k++) { // a key no input has is a typo
            int seen = 0;
            for (int c = 0; c < t.ncols; c++) seen |= strcmp(t.cols[c], o.on.items[k]) == 0;
            for (int j = 0; j < o.joins.n; j++) seen |= qb_tsv_col(&right[j], o.on.items[k]) >= 0;
            if (!seen) qb_die(QB_EXIT_DATA, "--on: no input has a column '%s'", o.on.items[k]);
        }
        for (int j = 0; j < o.joins.n; j++) {
            qb_table_join(&t, &right[j], o.on.items, o.on.n);
            qb_tsv_free(&right[j]);
        }
        free(right);
    }

    for (int i = 0; i < o.wheres.n; i++) {
        char *w = qb_strdup(o.wheres.items[i]);
        char *ne = strstr(w, "!="), *eq = strchr(w, '=');
        int negate = ne && ne < eq;
        char *split = negate ? ne : eq;
        if (!split || split == w) qb_die(QB_EXIT_USAGE, "--where: expected KEY=VALUE or KEY!=VALUE, got '%s'", w);
        *split = 0;
        qb_table_where(&t, w, split + (negate ? 2 : 1), negate);
        free(w);
    }

    if (o.by.n || o.naggs) qb_table_aggregate(&t, o.by.items, o.by.n, o.aggs, o.naggs);

    if (o.ratio.n) {
        list within = o.within;
        if (!o.within.n) // the other --by keys
            for (int i = 0; i < o.by.n; i++)
                if (strcmp(o.by.items[i], o.base_key)) push(&within, o.by.items[i]);
        for (int i = 0; i < o.ratio.n; i++)
            qb_table_ratio(&t, o.ratio.items[i], o.base_key, o.base_value, within.items, within.n);
    }

    if (o.sort.n) qb_table_sort(&t, o.sort.items, o.desc, o.sort.n);

    // Identity columns are printed as they are, never rounded.
    list keep = {0, NULL};
    append(&keep, &o.by);
    append(&keep, &o.on);
    append(&keep, &o.within);
    if (o.base_key && !has(&keep, o.base_key)) push(&keep, o.base_key);
    qb_table_format(&t, o.sig, o.pm, keep.items, keep.n);

    if (o.ncolumns >= 0) qb_table_select(&t, o.col_names, o.col_display, o.ncolumns);

    qb_out out;
    FILE *f = o.output ? qb_out_open(&out, o.output, "w") : stdout;
    qb_table_render(f, &t, o.format, o.na);
    if (o.output) {
        qb_out_commit(&out);
    } else if (fflush(stdout) != 0 || ferror(stdout)) {
        qb_die(QB_EXIT_DATA, "standard output: write error");
    }
    qb_table_free(&t);
    return QB_EXIT_OK;
}
