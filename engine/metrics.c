/* The metrics registry and its text renderer; see metrics.h. */
#include "metrics.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The registry's own counter, rendered after every family. */
#define DROPPED_NAME "intentd_metrics_updates_dropped_total"

struct series {
    char *values[METRICS_MAX_LABELS];
    double value;      /* counter, gauge */
    uint64_t *buckets; /* histogram: per-bucket (not cumulative) counts, +Inf last */
    double sum;
    uint64_t count;
};

struct metrics_family {
    struct metrics *m;
    char *name;
    char *help;
    enum metrics_type type;
    char *labels[METRICS_MAX_LABELS];
    int nlabels;
    double bounds[METRICS_MAX_BUCKETS];
    int nbounds;
    struct series *series;
    int nseries, aseries;
};

struct metrics {
    struct metrics_family **families;
    int nfamilies, afamilies;
    double dropped;
};

int metrics_new(struct metrics **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : IE_NOMEM;
}

static void series_free(struct metrics_family *f)
{
    for (int i = 0; i < f->nseries; i++) {
        for (int k = 0; k < f->nlabels; k++)
            free(f->series[i].values[k]);
        free(f->series[i].buckets);
    }
    f->nseries = 0;
}

void metrics_clear(struct metrics_family *f)
{
    if (f)
        series_free(f);
}

static void family_free(struct metrics_family *f)
{
    series_free(f);
    free(f->series);
    for (int k = 0; k < f->nlabels; k++)
        free(f->labels[k]);
    free(f->name);
    free(f->help);
    free(f);
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->nfamilies; i++)
        family_free(m->families[i]);
    free(m->families);
    free(m);
}

static bool valid_name(const char *s, bool colon)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool alpha =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
        if (!alpha && !(p != s && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

static bool valid_labels(const char *const *labels, int nlabels, bool histogram)
{
    if (nlabels < 0 || nlabels > METRICS_MAX_LABELS || (nlabels > 0 && !labels))
        return false;
    for (int i = 0; i < nlabels; i++) {
        if (!valid_name(labels[i], false) || !strncmp(labels[i], "__", 2) ||
            (histogram && !strcmp(labels[i], "le")))
            return false;
        for (int k = 0; k < i; k++)
            if (!strcmp(labels[i], labels[k]))
                return false;
    }
    return true;
}

static bool valid_buckets(enum metrics_type type, const double *b, int n)
{
    if (type != METRICS_HISTOGRAM)
        return n == 0;
    if (n < 1 || n > METRICS_MAX_BUCKETS || !b)
        return false;
    for (int i = 0; i < n; i++)
        if (!isfinite(b[i]) || (i > 0 && !(b[i] > b[i - 1])))
            return false;
    return true;
}

struct metrics_family *metrics_add(struct metrics *m, const char *name, const char *help,
                                   enum metrics_type type, const char *const *labels, int nlabels,
                                   const double *buckets, int nbuckets)
{
    if (!m || !valid_name(name, true) || !help ||
        !valid_labels(labels, nlabels, type == METRICS_HISTOGRAM) ||
        !valid_buckets(type, buckets, nbuckets))
        return NULL;
    if (!strcmp(name, DROPPED_NAME))
        return NULL;
    for (int i = 0; i < m->nfamilies; i++)
        if (!strcmp(m->families[i]->name, name))
            return NULL;
    if (m->nfamilies == m->afamilies) {
        int na = m->afamilies ? m->afamilies * 2 : 16;
        struct metrics_family **nf = realloc(m->families, (size_t)na * sizeof *nf);
        if (!nf)
            return NULL;
        m->families = nf;
        m->afamilies = na;
    }
    struct metrics_family *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->m = m;
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help);
    bool ok = f->name && f->help;
    for (int i = 0; ok && i < nlabels; i++) {
        f->labels[i] = strdup(labels[i]);
        ok = f->labels[i] != NULL;
        f->nlabels = i + 1;
    }
    if (!ok) {
        family_free(f);
        return NULL;
    }
    if (nbuckets > 0)
        memcpy(f->bounds, buckets, (size_t)nbuckets * sizeof *buckets);
    f->nbounds = nbuckets;
    m->families[m->nfamilies++] = f;
    return f;
}

/* The series for values, created when new; NULL when it cannot be recorded. */
static struct series *series_get(struct metrics_family *f, const char *const *values)
{
    for (int k = 0; k < f->nlabels; k++)
        if (!values || !values[k] || strlen(values[k]) > METRICS_MAX_VALUE_LEN)
            return NULL;
    for (int i = 0; i < f->nseries; i++) {
        int k = 0;
        while (k < f->nlabels && !strcmp(f->series[i].values[k], values[k]))
            k++;
        if (k == f->nlabels)
            return &f->series[i];
    }
    if (f->nseries >= METRICS_MAX_SERIES)
        return NULL;
    if (f->nseries == f->aseries) {
        int na = f->aseries ? f->aseries * 2 : 8;
        struct series *ns = realloc(f->series, (size_t)na * sizeof *ns);
        if (!ns)
            return NULL;
        f->series = ns;
        f->aseries = na;
    }
    struct series *s = &f->series[f->nseries];
    memset(s, 0, sizeof *s);
    bool ok = true;
    if (f->type == METRICS_HISTOGRAM) {
        s->buckets = calloc((size_t)f->nbounds + 1, sizeof *s->buckets);
        ok = s->buckets != NULL;
    }
    for (int k = 0; ok && k < f->nlabels; k++) {
        s->values[k] = strdup(values[k]);
        ok = s->values[k] != NULL;
    }
    if (!ok) {
        for (int k = 0; k < f->nlabels; k++)
            free(s->values[k]);
        free(s->buckets);
        return NULL;
    }
    f->nseries++;
    return s;
}

void metrics_inc(struct metrics_family *f, const char *const *values, double by)
{
    if (!f)
        return;
    struct series *s = NULL;
    if (f->type == METRICS_COUNTER && by >= 0 && (s = series_get(f, values)))
        s->value += by;
    else
        f->m->dropped++;
}

void metrics_set(struct metrics_family *f, const char *const *values, double v)
{
    if (!f)
        return;
    struct series *s = NULL;
    if (f->type == METRICS_GAUGE && (s = series_get(f, values)))
        s->value = v;
    else
        f->m->dropped++;
}

void metrics_observe(struct metrics_family *f, const char *const *values, double v)
{
    if (!f)
        return;
    struct series *s = NULL;
    if (f->type != METRICS_HISTOGRAM || isnan(v) || !(s = series_get(f, values))) {
        f->m->dropped++;
        return;
    }
    int i = 0;
    while (i < f->nbounds && v > f->bounds[i])
        i++;
    s->buckets[i]++;
    s->sum += v;
    s->count++;
}

/* --- rendering --- */

/* The shortest of %.15g/%.17g that reads back as v, and the spellings the format uses for
 * the special values. */
static void fmt_double(double v, char *out, size_t n)
{
    if (isnan(v)) {
        snprintf(out, n, "NaN");
    } else if (isinf(v)) {
        snprintf(out, n, v > 0 ? "+Inf" : "-Inf");
    } else {
        snprintf(out, n, "%.15g", v);
        if (strtod(out, NULL) != v)
            snprintf(out, n, "%.17g", v);
    }
}

/* Label values escape backslash, double quote and line feed; HELP text only backslash and
 * line feed (the format's two escaping rules). */
static int put_escaped(struct buf *out, const char *s, bool quote)
{
    int rc = 0;
    for (const char *p = s; !rc && *p; p++) {
        if (*p == '\\')
            rc = buf_puts(out, "\\\\");
        else if (*p == '\n')
            rc = buf_puts(out, "\\n");
        else if (quote && *p == '"')
            rc = buf_puts(out, "\\\"");
        else
            rc = buf_append(out, p, 1);
    }
    return rc;
}

/* name{labels[,le="bound"]} value */
static int put_sample(struct buf *out, const struct metrics_family *f, const char *suffix,
                      const struct series *s, const char *le, double value)
{
    int rc = buf_printf(out, "%s%s", f->name, suffix);
    if (!rc && (f->nlabels > 0 || le)) {
        rc = buf_puts(out, "{");
        for (int k = 0; !rc && k < f->nlabels; k++) {
            rc = buf_printf(out, "%s%s=\"", k ? "," : "", f->labels[k]);
            if (!rc)
                rc = put_escaped(out, s->values[k], true);
            if (!rc)
                rc = buf_puts(out, "\"");
        }
        if (!rc && le)
            rc = buf_printf(out, "%sle=\"%s\"", f->nlabels ? "," : "", le);
        if (!rc)
            rc = buf_puts(out, "}");
    }
    char num[40];
    fmt_double(value, num, sizeof num);
    return rc ? rc : buf_printf(out, " %s\n", num);
}

static int put_histogram(struct buf *out, const struct metrics_family *f, const struct series *s)
{
    uint64_t cum = 0;
    int rc = 0;
    for (int i = 0; !rc && i <= f->nbounds; i++) {
        char le[40];
        if (i < f->nbounds)
            fmt_double(f->bounds[i], le, sizeof le);
        else
            snprintf(le, sizeof le, "+Inf");
        cum += s->buckets[i];
        rc = put_sample(out, f, "_bucket", s, le, (double)cum);
    }
    if (!rc)
        rc = put_sample(out, f, "_sum", s, NULL, s->sum);
    return rc ? rc : put_sample(out, f, "_count", s, NULL, (double)s->count);
}

static const char *type_name(enum metrics_type t)
{
    return t == METRICS_COUNTER ? "counter" : t == METRICS_GAUGE ? "gauge" : "histogram";
}

int metrics_render(const struct metrics *m, struct buf *out)
{
    int rc = 0;
    for (int i = 0; !rc && i < m->nfamilies; i++) {
        const struct metrics_family *f = m->families[i];
        rc = buf_printf(out, "# HELP %s ", f->name);
        if (!rc)
            rc = put_escaped(out, f->help, false);
        if (!rc)
            rc = buf_printf(out, "\n# TYPE %s %s\n", f->name, type_name(f->type));
        for (int k = 0; !rc && k < f->nseries; k++)
            rc = f->type == METRICS_HISTOGRAM
                     ? put_histogram(out, f, &f->series[k])
                     : put_sample(out, f, "", &f->series[k], NULL, f->series[k].value);
    }
    if (!rc) {
        char num[40];
        fmt_double(m->dropped, num, sizeof num);
        rc = buf_printf(out,
                        "# HELP " DROPPED_NAME " Metric updates not recorded (a series limit "
                        "reached, an invalid value or out of memory).\n"
                        "# TYPE " DROPPED_NAME " counter\n" DROPPED_NAME " %s\n",
                        num);
    }
    return rc;
}
