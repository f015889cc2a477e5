/* intentctl's human output: aligned tables of cleaned text. Everything printed here came from
 * the server, so control characters are replaced before they reach a terminal. */
#include "intentctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Display width of UTF-8 text: code points, which is right for everything but wide glyphs. */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

char *ctl_clean(const char *s, size_t max)
{
    size_t n = strlen(s);
    char *out = malloc(n + 4);
    size_t o = 0, cps = 0;
    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xc0) != 0x80 && max && ++cps > max) {
            memcpy(out + o, "\xe2\x80\xa6", 3); /* "…" */
            o += 3;
            break;
        }
        if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) { /* C1 controls, as UTF-8 */
            out[o++] = '?';
            p++;
        } else if (*p < 0x20 || *p == 0x7f) {
            out[o++] = *p == '\n' || *p == '\t' ? ' ' : '?';
        } else {
            out[o++] = (char)*p;
        }
    }
    out[o] = '\0';
    return out;
}

char *ctl_cell(json_t *v, size_t max)
{
    char tmp[64];
    char *dumped = NULL, *out;
    const char *s = tmp;
    if (!v || json_is_null(v))
        s = "-";
    else if (json_is_string(v))
        s = json_string_value(v);
    else if (json_is_integer(v))
        snprintf(tmp, sizeof tmp, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_boolean(v))
        s = json_is_true(v) ? "yes" : "no";
    else if (!(s = dumped = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER)))
        return NULL;
    out = ctl_clean(s, max);
    free(dumped);
    return out;
}

int ctl_table_add(struct ctl_table *t, char **row)
{
    bool ok = t->ncols <= CTL_TABLE_MAXCOLS;
    for (size_t i = 0; i < t->ncols; i++)
        ok = ok && row[i];
    if (ok && t->nrows == t->alloc) {
        size_t a = t->alloc ? t->alloc * 2 : 16;
        char **c = realloc(t->cells, a * t->ncols * sizeof *c);
        ok = c != NULL;
        if (ok) {
            t->cells = c;
            t->alloc = a;
        }
    }
    if (!ok) {
        for (size_t i = 0; i < t->ncols; i++)
            free(row[i]);
        fprintf(stderr, "intentctl: out of memory\n");
        return CTL_EXIT_UNAVAILABLE;
    }
    memcpy(t->cells + t->nrows * t->ncols, row, t->ncols * sizeof *row);
    t->nrows++;
    return 0;
}

int ctl_table_add_unless(struct ctl_table *t, char **row, int rc)
{
    if (!rc)
        return ctl_table_add(t, row);
    for (size_t i = 0; i < t->ncols; i++)
        free(row[i]);
    return rc;
}

char *ctl_join_cell(json_t *items, json_t *(*part)(json_t *item))
{
    json_t *text = json_string(""), *item;
    size_t i;
    json_array_foreach(items, i, item)
    {
        json_t *p = part(item);
        json_t *next =
            p ? json_sprintf("%s%s%s", json_string_value(text), i ? " " : "", json_string_value(p))
              : NULL;
        json_decref(p);
        json_decref(text);
        if (!(text = next))
            return NULL;
    }
    char *out = ctl_cell(json_string_length(text) ? text : NULL, 0);
    json_decref(text);
    return out;
}

int ctl_table_header(struct ctl_table *t, const char *const *names)
{
    char *row[CTL_TABLE_MAXCOLS];
    for (size_t i = 0; i < t->ncols && i < CTL_TABLE_MAXCOLS; i++)
        row[i] = strdup(names[i]);
    return ctl_table_add(t, row);
}

int ctl_kv_row(struct ctl_table *t, const char *label, json_t *v)
{
    char *row[2] = {strdup(label), ctl_cell(v, 0)};
    return ctl_table_add(t, row);
}

void ctl_table_print_free(struct ctl_table *t)
{
    size_t w[CTL_TABLE_MAXCOLS] = {0};
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t cw = width(t->cells[r * t->ncols + c]);
            w[c] = cw > w[c] ? cw : w[c];
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            if (c + 1 < t->ncols)
                printf("%s%*s", s, (int)(w[c] - width(s) + 2), "");
            else
                printf("%s\n", s);
            free(t->cells[r * t->ncols + c]);
        }
    }
    free(t->cells);
    t->cells = NULL;
    t->nrows = t->alloc = 0;
}
