// table_render.c: numbers for display, mean ± std cells, and the four
// output formats.
#include <stdlib.h>
#include <string.h>

#include "table_priv.h"
#include "util.h"

static const char PM[] = " \xC2\xB1 "; // " ± " in UTF-8

static int col_exact(const qb_table *t, const char *name) {
    for (int c = 0; c < t->ncols; c++)
        if (strcmp(t->cols[c], name) == 0) return c;
    return -1;
}

static int numeric_column(const qb_table *t, int c) {
    int any = 0;
    for (size_t r = 0; r < t->nrows; r++) {
        const char *s = qb_table_get(t, r, c);
        if (!s[0]) continue;
        if (!qb_number(s, NULL)) return 0;
        any = 1;
    }
    return any;
}

// For column c named X_mean, the column X_std when the pair can merge into a
// new column X; else -1.
static int std_partner(const qb_table *t, int c) {
    const char *name = t->cols[c];
    size_t len = strlen(name);
    if (len <= 5 || strcmp(name + len - 5, "_mean") != 0) return -1;
    char *base = qb_strdup(name);
    base[len - 5] = 0;
    char *std = qb_malloc(len + 1);
    sprintf(std, "%s_std", base);
    int s = col_exact(t, std), taken = col_exact(t, base) >= 0;
    free(base);
    free(std);
    return taken ? -1 : s;
}

void qb_table_format(qb_table *t, int sig, int pm, char *const *keep, int nkeep) {
    int nc = t->ncols;
    int *partner = qb_malloc((size_t)(nc ? nc : 1) * sizeof *partner); // mean column -> its std column
    unsigned char *is_std = qb_calloc((size_t)(nc ? nc : 1), 1);
    for (int c = 0; c < nc; c++) {
        partner[c] = pm ? std_partner(t, c) : -1;
        if (partner[c] >= 0) is_std[partner[c]] = 1;
    }
    // Decimals printed in each cell, so a std can follow its mean; -1 where
    // the cell was left as it was or printed with an exponent.
    int *decimals = qb_malloc((t->nrows ? t->nrows : 1) * (size_t)(nc ? nc : 1) * sizeof *decimals);
    for (size_t i = 0; i < t->nrows * (size_t)nc; i++) decimals[i] = -1;
    for (int c = 0; sig > 0 && c < nc; c++) {
        int kept = is_std[c]; // a std merged below is formatted from its raw value
        for (int k = 0; k < nkeep; k++) kept |= strcmp(t->cols[c], keep[k]) == 0;
        if (kept || !numeric_column(t, c)) continue;
        // A column of integers (counts, sizes) stays exact; in a column of
        // measurements an integral value is rounded like its neighbours.
        int integers = 1;
        for (size_t r = 0; r < t->nrows && integers; r++) {
            const char *s = qb_table_get(t, r, c);
            integers = !s[0] || qb_is_integer(s);
        }
        for (size_t r = 0; r < t->nrows; r++) {
            const char *s = qb_table_get(t, r, c);
            double v;
            if (!s[0]) continue;
            if (integers) {
                decimals[r * (size_t)nc + (size_t)c] = 0;
                continue;
            }
            qb_number(s, &v);
            char buf[64];
            decimals[r * (size_t)nc + (size_t)c] = qb_fmt_sig(buf, sizeof buf, v, sig);
            qb_table_set(t, r, c, buf);
        }
    }
    if (pm) {
        for (int c = 0; c < nc; c++) {
            int s = partner[c];
            if (s < 0) continue;
            for (size_t r = 0; r < t->nrows; r++) {
                const char *mean = qb_table_get(t, r, c), *std = qb_table_get(t, r, s);
                if (!std[0] || !mean[0]) continue;
                char sd[64];
                double v;
                int d = decimals[r * (size_t)nc + (size_t)c];
                if (sig > 0 && qb_number(std, &v)) {
                    if (d >= 0)
                        snprintf(sd, sizeof sd, "%.*f", d, v);
                    else
                        qb_fmt_sig(sd, sizeof sd, v, sig);
                } else {
                    snprintf(sd, sizeof sd, "%s", std);
                }
                char *cell = qb_malloc(strlen(mean) + strlen(sd) + sizeof PM);
                sprintf(cell, "%s%s%s", mean, PM, sd);
                qb_table_set(t, r, c, cell);
                free(cell);
            }
            t->cols[c][strlen(t->cols[c]) - 5] = 0; // X_mean -> X
        }
        // Drop the std columns that were merged.
        int n = 0, nkeys = t->nkeys;
        char **names = qb_malloc((size_t)(nc ? nc : 1) * sizeof *names);
        for (int c = 0; c < nc; c++)
            if (!is_std[c]) names[n++] = qb_strdup(t->cols[c]);
        if (n < nc) {
            char **display = qb_calloc((size_t)n, sizeof *display);
            qb_table_select(t, names, display, n);
            t->nkeys = nkeys;
            free(display);
        }
        for (int i = 0; i < n; i++) free(names[i]);
        free(names);
    }
    free(decimals);
    free(partner);
    free(is_std);
}

// A display cell is numeric when it is a number or "NUMBER ± NUMBER".
static int numeric_cell(const char *s) {
    const char *pm = strstr(s, PM);
    if (!pm) return qb_number(s, NULL);
    char *mean = strndup(s, (size_t)(pm - s));
    int ok = qb_number(mean, NULL) && qb_number(pm + strlen(PM), NULL);
    free(mean);
    return ok;
}

static unsigned char *numeric_columns(const qb_table *t) {
    unsigned char *num = qb_calloc((size_t)(t->ncols ? t->ncols : 1), 1);
    for (int c = 0; c < t->ncols; c++) {
        int any = 0, all = 1;
        for (size_t r = 0; r < t->nrows && all; r++) {
            const char *s = qb_table_get(t, r, c);
            if (!s[0]) continue;
            any = 1;
            all = numeric_cell(s);
        }
        num[c] = any && all;
    }
    return num;
}

// A growing string, for cells rendered before their column widths are known.
typedef struct {
    char *s;
    size_t n, cap;
} sbuf;
static void put(sbuf *b, const char *s) {
    size_t k = strlen(s);
    if (b->n + k + 1 > b->cap) {
        b->cap = 2 * (b->n + k + 1);
        b->s = qb_realloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, s, k + 1);
    b->n += k;
}
static void putc_(sbuf *b, char c) {
    char s[2] = {c, 0};
    put(b, s);
}

static int is_word(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (unsigned char)c >= 0x80;
}

// Markdown (CommonMark/GFM) cell text: characters that would start markup
// (GitHub's $math$ and ~strike~ included) or end the cell are
// backslash-escaped; '_' only where it could emphasize.
static char *md_text(const char *s) {
    sbuf b = {0};
    put(&b, "");
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (c == '\n' || c == '\r' || c == '\t') {
            putc_(&b, ' ');
        } else if (strchr("\\|*`<[]$~", c) || (c == '_' && (p == s || !is_word(p[-1]) || !is_word(p[1])))) {
            putc_(&b, '\\');
            putc_(&b, c);
        } else {
            putc_(&b, c);
        }
    }
    return b.s;
}

static char *tex_text(const char *s) {
    sbuf b = {0};
    put(&b, "");
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '\\': put(&b, "\\textbackslash{}"); break;
        case '{': put(&b, "\\{"); break;
        case '}': put(&b, "\\}"); break;
        case '$': put(&b, "\\$"); break;
        case '&': put(&b, "\\&"); break;
        case '#': put(&b, "\\#"); break;
        case '%': put(&b, "\\%"); break;
        case '_': put(&b, "\\_"); break;
        case '^': put(&b, "\\textasciicircum{}"); break;
        case '~': put(&b, "\\textasciitilde{}"); break;
        case '<': put(&b, "\\textless{}"); break;
        case '>': put(&b, "\\textgreater{}"); break;
        case '|': put(&b, "\\textbar{}"); break;
        case '`': put(&b, "\\textasciigrave{}"); break;
        case '[': put(&b, "{[}"); break; // "\\[" at a row's start would read as \\[skip]
        case ']': put(&b, "{]}"); break;
        case '\n':
        case '\r':
        case '\t': put(&b, " "); break;
        default:
            if (strncmp(p, PM + 1, 2) == 0) { // "±"
                put(&b, "\\ensuremath{\\pm}");
                p++;
            } else {
                putc_(&b, *p);
            }
        }
    }
    return b.s;
}

// One number in math mode: a true minus, 1.5e-05 as 1.5\times10^{-5}.
static void tex_number(sbuf *b, const char *s) {
    double v;
    qb_number(s, &v);
    if (*s == '-' || *s == '+') putc_(b, *s++);
    if (v != v) {
        put(b, "\\mathrm{NaN}");
        return;
    }
    if (*s == 'i' || *s == 'I') {
        put(b, "\\infty");
        return;
    }
    const char *e = strpbrk(s, "eE");
    if (!e) {
        put(b, s);
        return;
    }
    char mant[64], exp[32];
    snprintf(mant, sizeof mant, "%.*s", (int)(e - s), s);
    snprintf(exp, sizeof exp, "\\times10^{%d}", atoi(e + 1));
    put(b, mant);
    put(b, exp);
}

static char *tex_numeric(const char *s) {
    sbuf b = {0};
    put(&b, "$");
    const char *pm = strstr(s, PM);
    if (pm) {
        char *mean = strndup(s, (size_t)(pm - s));
        tex_number(&b, mean);
        put(&b, " \\pm ");
        tex_number(&b, pm + strlen(PM));
        free(mean);
    } else {
        tex_number(&b, s);
    }
    put(&b, "$");
    return b.s;
}

// Width on screen: UTF-8 code points.
static size_t width(const char *s) {
    size_t w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static void pad(FILE *f, size_t n) {
    while (n--) fputc(' ', f);
}

static void render_md(FILE *f, const qb_table *t, const unsigned char *num, const char *na) {
    size_t nc = (size_t)t->ncols;
    char **head = qb_malloc((nc ? nc : 1) * sizeof *head);
    size_t ncells = t->nrows * nc;
    char **body = qb_malloc((ncells ? ncells : 1) * sizeof *body);
    size_t *w = qb_malloc((nc ? nc : 1) * sizeof *w);
    for (size_t c = 0; c < nc; c++) {
        head[c] = md_text(t->cols[c]);
        w[c] = width(head[c]) > 3 ? width(head[c]) : 3;
        for (size_t r = 0; r < t->nrows; r++) {
            const char *s = qb_table_get(t, r, (int)c);
            char *cell = md_text(s[0] ? s : na);
            body[r * nc + c] = cell;
            if (width(cell) > w[c]) w[c] = width(cell);
        }
    }
    for (size_t c = 0; c < nc; c++) {
        fprintf(f, "| %s", head[c]);
        pad(f, w[c] - width(head[c]) + 1);
    }
    fputs("|\n", f);
    for (size_t c = 0; c < nc; c++) { // "| :--- " or "| ---: ", as wide as the cells
        fputs(num[c] ? "| " : "| :", f);
        for (size_t i = 0; i < w[c] - 1; i++) fputc('-', f);
        fputs(num[c] ? ": " : " ", f);
    }
    fputs("|\n", f);
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < nc; c++) {
            const char *cell = body[r * nc + c];
            fputs("| ", f);
            if (num[c]) pad(f, w[c] - width(cell));
            fputs(cell, f);
            pad(f, num[c] ? 1 : w[c] - width(cell) + 1);
        }
        fputs("|\n", f);
    }
    for (size_t i = 0; i < t->nrows * nc; i++) free(body[i]);
    for (size_t c = 0; c < nc; c++) free(head[c]);
    free(head);
    free(body);
    free(w);
}

static void render_tex(FILE *f, const qb_table *t, const unsigned char *num, const char *na) {
    fputs("\\begin{tabular}{@{}", f);
    for (int c = 0; c < t->ncols; c++) fputc(num[c] ? 'r' : 'l', f);
    fputs("@{}}\n\\toprule\n", f);
    for (int c = 0; c < t->ncols; c++) {
        char *h = tex_text(t->cols[c]);
        fprintf(f, "%s%s", c ? " & " : "", h);
        free(h);
    }
    fputs(" \\\\\n\\midrule\n", f);
    for (size_t r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            const char *s = qb_table_get(t, r, c);
            char *cell = s[0] && num[c] ? tex_numeric(s) : tex_text(s[0] ? s : na);
            fprintf(f, "%s%s", c ? " & " : "", cell);
            free(cell);
        }
        fputs(" \\\\\n", f);
    }
    fputs("\\bottomrule\n\\end{tabular}\n", f);
}

static void csv_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void render_csv(FILE *f, const qb_table *t) {
    for (int c = 0; c < t->ncols; c++) {
        if (c) fputc(',', f);
        csv_field(f, t->cols[c]);
    }
    fputs("\r\n", f);
    for (size_t r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            if (c) fputc(',', f);
            csv_field(f, qb_table_get(t, r, c));
        }
        fputs("\r\n", f);
    }
}

void qb_table_render(FILE *f, const qb_table *t, const char *format, const char *na) {
    if (strcmp(format, "tsv") == 0) {
        qb_tsv_write_row(f, (const char *const *)t->cols, t->ncols);
        for (size_t r = 0; r < t->nrows; r++)
            qb_tsv_write_row(f, (const char *const *)&t->cells[r * (size_t)t->ncols], t->ncols);
        return;
    }
    if (strcmp(format, "csv") == 0) {
        render_csv(f, t);
        return;
    }
    unsigned char *num = numeric_columns(t);
    if (strcmp(format, "md") == 0)
        render_md(f, t, num, na);
    else if (strcmp(format, "tex") == 0)
        render_tex(f, t, num, na);
    else
        qb_die(QB_EXIT_USAGE, "--format: unknown format '%s' (md, tex, tsv, csv)", format);
    free(num);
}
