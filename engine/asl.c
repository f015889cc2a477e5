/* Loading an ASL workflow: parses the JSON, checks every state against the supported subset
 * with a precise message (file, state, what is wrong), and builds the read-only struct
 * asl_machine that asl_run.c interprets. Choice states are parsed in asl_choice.c. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asl.h"
#include "asl_internal.h"
#include "jsonpath.h"

struct asl_machine {
    char *name;
    json_t *doc; /* private deep copy; every const char * and json_t * below points into it */
    const char *start_at;
    const char *comment;
    int timeout_seconds;
    struct asl_state *states;
    size_t nstates;
    size_t *tasks; /* indices of Task states */
    size_t ntasks;
    char **owned; /* strings built at load (connector names, compensate operations) */
    size_t nowned;
};

static const char *const known_errors[] = {
    "States.ALL",          "States.Timeout",        "States.TaskFailed",      "Connector.Transient",
    "Connector.Permanent", "Connector.RateLimited", "Connector.Unauthorized",
};

int asl_fail(const struct asl_ctx *c, const char *st, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->err != NULL && c->errlen > 0) {
        if (st != NULL)
            snprintf(c->err, c->errlen, "%s: state \"%s\": %s", c->label, st, msg);
        else
            snprintf(c->err, c->errlen, "%s: %s", c->label, msg);
    }
    return IE_PARSE;
}

int asl_nomem(const struct asl_ctx *c)
{
    if (c->err != NULL && c->errlen > 0)
        snprintf(c->err, c->errlen, "%s: out of memory", c->label);
    return IE_NOMEM;
}

static const char *own(struct asl_machine *m, char *s)
{
    char **grown;

    if (s == NULL)
        return NULL;
    grown = realloc(m->owned, (m->nowned + 1) * sizeof *grown);
    if (grown == NULL) {
        free(s);
        return NULL;
    }
    m->owned = grown;
    m->owned[m->nowned++] = s;
    return s;
}

/* ---- timestamps ---- */

static long long days_from_civil(long long y, unsigned mo, unsigned d)
{
    long long era;
    unsigned yoe, doy, doe;

    y -= mo <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (mo > 2 ? mo - 3 : mo + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

static int digits(const char **pp, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        char ch = (*pp)[i];

        if (ch < '0' || ch > '9')
            return IE_PARSE;
        v = v * 10 + (ch - '0');
    }
    *pp += n;
    *out = v;
    return 0;
}

int asl_parse_timestamp(const char *s, double *epoch)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    double frac = 0, scale = 0.1;
    const char *p = s;

    if (s == NULL || digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d) || (*p != 'T' && *p != 't'))
        return IE_PARSE;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
        digits(&p, 2, &sec))
        return IE_PARSE;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return IE_PARSE;
        for (; *p >= '0' && *p <= '9'; p++, scale /= 10)
            frac += (*p - '0') * scale;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '+' ? 1 : -1;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
            return IE_PARSE;
    } else {
        return IE_PARSE;
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 ||
        sec > 60)
        return IE_PARSE;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return IE_PARSE;
    *epoch = (double)days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400.0 + h * 3600.0 +
             mi * 60.0 + sec + frac - sign * (oh * 3600.0 + om * 60.0);
    return 0;
}

/* ---- field helpers ---- */

static bool in_list(const char *key, const char *const *list)
{
    for (; *list != NULL; list++)
        if (strcmp(key, *list) == 0)
            return true;
    return false;
}

int asl_check_fields(const struct asl_ctx *c, const char *st, json_t *obj, const char *what,
                     const char *const *allowed)
{
    const char *key;
    json_t *v;

    json_object_foreach(obj, key, v)
    {
        if (!in_list(key, allowed))
            return asl_fail(c, st, "field \"%s\" is not allowed in %s", key, what);
    }
    return 0;
}

int asl_path_ok(const struct asl_ctx *c, const char *st, const char *field, const char *path)
{
    int rc;

    if (strncmp(path, "$$", 2) == 0)
        return asl_fail(c, st, "%s \"%s\": context paths ($$) are not supported", field, path);
    rc = jsonpath_check(path);
    if (rc == IE_TOOBIG)
        return asl_fail(c, st, "%s: path longer than %d bytes or deeper than %d segments", field,
                        JSONPATH_MAX_LEN, JSONPATH_MAX_DEPTH);
    if (rc != 0)
        return asl_fail(c, st,
                        "%s \"%s\" is not a supported JSONPath (use $, .name, ['name'], [n])",
                        field, path);
    return 0;
}

/* Reads an optional path field; null sets *discard when nullable. */
static int get_path(const struct asl_ctx *c, const char *st, json_t *obj, const char *key,
                    bool nullable, const char **out, bool *discard)
{
    json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (discard != NULL)
        *discard = false;
    if (v == NULL)
        return 0;
    if (json_is_null(v) && nullable) {
        *discard = true;
        return 0;
    }
    if (!json_is_string(v))
        return asl_fail(c, st, "%s must be a JSONPath string%s", key, nullable ? " or null" : "");
    *out = json_string_value(v);
    return asl_path_ok(c, st, key, *out);
}

int asl_get_string(const struct asl_ctx *c, const char *st, json_t *obj, const char *key,
                   bool required, const char **out)
{
    json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (v == NULL)
        return required ? asl_fail(c, st, "missing required field \"%s\"", key) : 0;
    if (!json_is_string(v))
        return asl_fail(c, st, "%s must be a string", key);
    *out = json_string_value(v);
    return 0;
}

/* Reads an optional integer field >= min, at most max. */
static int get_int(const struct asl_ctx *c, const char *st, json_t *obj, const char *key,
                   long long min, long long max, long long *out, bool *present)
{
    json_t *v = json_object_get(obj, key);

    *present = v != NULL;
    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return asl_fail(c, st, "%s must be an integer from %lld to %lld", key, min, max);
    *out = (long long)json_integer_value(v);
    return 0;
}

static bool is_ident(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

/* Whether obj has a key equal to the first n bytes of key (json_object_getn needs 2.14). */
static bool has_key(json_t *obj, const char *key, size_t n)
{
    const char *k;
    json_t *v;

    json_object_foreach(obj, k, v)
    {
        if (strlen(k) == n && strncmp(k, key, n) == 0)
            return true;
    }
    return false;
}

/* Checks a payload template (Parameters): keys ending in ".$" hold reference paths. */
static int check_template(const struct asl_ctx *c, const char *st, json_t *t, int depth)
{
    const char *key;
    json_t *v;
    size_t i;

    if (depth > JSONPATH_MAX_DEPTH)
        return asl_fail(c, st, "Parameters nested deeper than %d levels", JSONPATH_MAX_DEPTH);
    if (json_is_array(t)) {
        json_array_foreach(t, i, v)
        {
            int rc = check_template(c, st, v, depth + 1);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    if (!json_is_object(t))
        return 0;
    json_object_foreach(t, key, v)
    {
        size_t n = strlen(key);
        int rc;

        if (n >= 2 && strcmp(key + n - 2, ".$") == 0) {
            char field[300];

            if (n == 2)
                return asl_fail(c, st, "Parameters: field name \".$\" has no name before \".$\"");
            if (has_key(t, key, n - 2))
                return asl_fail(c, st, "Parameters: both \"%s\" and \"%.*s\" are present", key,
                                (int)(n - 2), key);
            if (!json_is_string(v))
                return asl_fail(c, st, "Parameters: \"%s\" must be a JSONPath string", key);
            if (json_string_value(v)[0] != '$')
                return asl_fail(c, st,
                                "Parameters: \"%s\": intrinsic functions are not supported, "
                                "only JSONPath",
                                key);
            snprintf(field, sizeof field, "Parameters \"%s\"", key);
            rc = asl_path_ok(c, st, field, json_string_value(v));
        } else {
            rc = check_template(c, st, v, depth + 1);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- Retry and Catch ---- */

static int get_error_list(const struct asl_ctx *c, const char *st, const char *what, json_t *entry,
                          const char ***out, size_t *n, bool *has_all)
{
    json_t *arr = json_object_get(entry, "ErrorEquals"), *v;
    size_t i;

    *has_all = false;
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return asl_fail(c, st, "%s: ErrorEquals must be a non-empty array of error names", what);
    *out = calloc(json_array_size(arr), sizeof **out);
    if (*out == NULL)
        return asl_nomem(c);
    *n = json_array_size(arr);
    json_array_foreach(arr, i, v)
    {
        const char *name = json_string_value(v);
        size_t k;

        if (name == NULL)
            return asl_fail(c, st, "%s: ErrorEquals[%zu] must be a string", what, i);
        for (k = 0; k < sizeof known_errors / sizeof known_errors[0]; k++)
            if (strcmp(name, known_errors[k]) == 0)
                break;
        if (k == sizeof known_errors / sizeof known_errors[0])
            return asl_fail(c, st,
                            "%s: unknown error name \"%s\" (known: States.ALL, States.Timeout, "
                            "States.TaskFailed, Connector.Transient, Connector.Permanent, "
                            "Connector.RateLimited, Connector.Unauthorized)",
                            what, name);
        if (strcmp(name, "States.ALL") == 0) {
            if (json_array_size(arr) != 1)
                return asl_fail(c, st, "%s: States.ALL must appear alone in ErrorEquals", what);
            *has_all = true;
        }
        (*out)[i] = name;
    }
    return 0;
}

static int parse_retry(const struct asl_ctx *c, struct asl_state *s, json_t *arr)
{
    static const char *const fields[] = {
        "ErrorEquals",     "IntervalSeconds", "BackoffRate", "MaxAttempts",
        "MaxDelaySeconds", "JitterStrategy",  "Comment",     NULL};
    json_t *r;
    size_t i;

    if (!json_is_array(arr))
        return asl_fail(c, s->name, "Retry must be an array");
    s->retry = calloc(json_array_size(arr) + 1, sizeof *s->retry);
    if (s->retry == NULL)
        return asl_nomem(c);
    json_array_foreach(arr, i, r)
    {
        struct asl_retrier *rt = &s->retry[i];
        char what[32];
        long long v;
        bool has, all;
        json_t *x;
        int rc;

        snprintf(what, sizeof what, "Retry[%zu]", i);
        if (!json_is_object(r))
            return asl_fail(c, s->name, "%s must be an object", what);
        s->nretry = i + 1;
        rt->interval_seconds = 1;
        rt->backoff_rate = 2.0;
        rt->max_attempts = 3;
        if ((rc = asl_check_fields(c, s->name, r, what, fields)) ||
            (rc = get_error_list(c, s->name, what, r, &rt->errors, &rt->nerrors, &all)))
            return rc;
        if (all && i + 1 != json_array_size(arr))
            return asl_fail(c, s->name, "%s: a Retrier with States.ALL must be the last", what);
        if ((rc = get_int(c, s->name, r, "IntervalSeconds", 1, 99999999, &v, &has)))
            return rc;
        if (has)
            rt->interval_seconds = (int)v;
        if ((rc = get_int(c, s->name, r, "MaxAttempts", 0, 99999999, &v, &has)))
            return rc;
        if (has)
            rt->max_attempts = (int)v;
        if ((rc = get_int(c, s->name, r, "MaxDelaySeconds", 1, 31622400, &v, &has)))
            return rc;
        if (has)
            rt->max_delay_seconds = (int)v;
        x = json_object_get(r, "BackoffRate");
        if (x != NULL) {
            if (!json_is_number(x) || json_number_value(x) < 1.0 || json_number_value(x) > 1000.0)
                return asl_fail(c, s->name, "%s: BackoffRate must be a number from 1.0 to 1000",
                                what);
            rt->backoff_rate = json_number_value(x);
        }
        x = json_object_get(r, "JitterStrategy");
        if (x != NULL) {
            const char *js = json_string_value(x);

            if (js == NULL || (strcmp(js, "FULL") != 0 && strcmp(js, "NONE") != 0))
                return asl_fail(c, s->name, "%s: JitterStrategy must be \"FULL\" or \"NONE\"",
                                what);
            rt->jitter_full = strcmp(js, "FULL") == 0;
        }
    }
    return 0;
}

static int parse_catch(const struct asl_ctx *c, struct asl_state *s, json_t *arr)
{
    static const char *const fields[] = {"ErrorEquals", "Next", "ResultPath", "Comment", NULL};
    json_t *r;
    size_t i;

    if (!json_is_array(arr))
        return asl_fail(c, s->name, "Catch must be an array");
    s->catchers = calloc(json_array_size(arr) + 1, sizeof *s->catchers);
    if (s->catchers == NULL)
        return asl_nomem(c);
    json_array_foreach(arr, i, r)
    {
        struct asl_catcher *ct = &s->catchers[i];
        char what[32];
        bool all;
        int rc;

        snprintf(what, sizeof what, "Catch[%zu]", i);
        if (!json_is_object(r))
            return asl_fail(c, s->name, "%s must be an object", what);
        s->ncatch = i + 1;
        if ((rc = asl_check_fields(c, s->name, r, what, fields)) ||
            (rc = get_error_list(c, s->name, what, r, &ct->errors, &ct->nerrors, &all)))
            return rc;
        if (all && i + 1 != json_array_size(arr))
            return asl_fail(c, s->name, "%s: a Catcher with States.ALL must be the last", what);
        if ((rc = asl_get_string(c, s->name, r, "Next", false, &ct->next)))
            return rc;
        if (ct->next == NULL)
            return asl_fail(c, s->name, "%s: missing Next", what);
        if ((rc = get_path(c, s->name, r, "ResultPath", true, &ct->result_path,
                           &ct->result_discard)))
            return rc;
    }
    return 0;
}

/* ---- states ---- */

static int parse_transition(const struct asl_ctx *c, struct asl_state *s, json_t *obj)
{
    json_t *end = json_object_get(obj, "End");
    int rc;

    if ((rc = asl_get_string(c, s->name, obj, "Next", false, &s->next)))
        return rc;
    if (end != NULL && !json_is_true(end))
        return asl_fail(c, s->name, "End must be true when present");
    s->end = end != NULL;
    if (s->next != NULL && s->end)
        return asl_fail(c, s->name, "has both Next and End");
    if (s->next == NULL && !s->end)
        return asl_fail(c, s->name, "needs Next or \"End\": true");
    return 0;
}

int asl_parse_io(const struct asl_ctx *c, struct asl_state *s, json_t *obj, bool result)
{
    int rc;

    if ((rc = get_path(c, s->name, obj, "InputPath", true, &s->input_path, &s->input_discard)) ||
        (rc = get_path(c, s->name, obj, "OutputPath", true, &s->output_path, &s->output_discard)))
        return rc;
    if (result &&
        (rc = get_path(c, s->name, obj, "ResultPath", true, &s->result_path, &s->result_discard)))
        return rc;
    return 0;
}

static int parse_task(const struct asl_ctx *c, struct asl_state *s, json_t *obj)
{
    static const char *const fields[] = {
        "Type",       "Comment",    "Next",  "End",   "Resource",       "Parameters", "InputPath",
        "OutputPath", "ResultPath", "Retry", "Catch", "TimeoutSeconds", "Compensate", NULL};
    const char *op, *dot, *comp;
    long long v;
    bool has;
    json_t *x;
    int rc;

    if ((rc = asl_check_fields(c, s->name, obj, "a Task state", fields)) ||
        (rc = parse_transition(c, s, obj)) || (rc = asl_parse_io(c, s, obj, true)) ||
        (rc = asl_get_string(c, s->name, obj, "Resource", true, &s->resource)))
        return rc;
    bool prefixed = strncmp(s->resource, ASL_RESOURCE_PREFIX, strlen(ASL_RESOURCE_PREFIX)) == 0;

    op = prefixed ? s->resource + strlen(ASL_RESOURCE_PREFIX) : s->resource;
    dot = strchr(op, '.');
    if (!prefixed || dot == NULL || !is_ident(op, (size_t)(dot - op)) ||
        !is_ident(dot + 1, strlen(dot + 1)))
        return asl_fail(c, s->name,
                        "Resource \"%s\" must look like \"" ASL_RESOURCE_PREFIX
                        "<connector>.<operation>\" ([a-z0-9_])",
                        s->resource);
    s->operation = op;
    s->connector = own(c->m, strndup(op, (size_t)(dot - op)));
    if (s->connector == NULL)
        return asl_nomem(c);
    if ((rc = asl_get_string(c, s->name, obj, "Compensate", false, &comp)))
        return rc;
    if (comp != NULL) {
        char *full;

        if (!is_ident(comp, strlen(comp)))
            return asl_fail(c, s->name,
                            "Compensate \"%s\" must name an operation of connector \"%s\" "
                            "([a-z0-9_])",
                            comp, s->connector);
        if (asprintf(&full, "%s.%s", s->connector, comp) < 0)
            return asl_nomem(c);
        s->compensate = own(c->m, full);
        if (s->compensate == NULL)
            return asl_nomem(c);
    }
    if ((rc = get_int(c, s->name, obj, "TimeoutSeconds", 1, 99999999, &v, &has)))
        return rc;
    s->timeout_seconds = has ? (int)v : 0;
    s->parameters = json_object_get(obj, "Parameters");
    if (s->parameters != NULL) {
        if (!json_is_object(s->parameters))
            return asl_fail(c, s->name, "Parameters must be an object");
        if ((rc = check_template(c, s->name, s->parameters, 0)))
            return rc;
    }
    if ((x = json_object_get(obj, "Retry")) != NULL && (rc = parse_retry(c, s, x)))
        return rc;
    if ((x = json_object_get(obj, "Catch")) != NULL && (rc = parse_catch(c, s, x)))
        return rc;
    return 0;
}

static int parse_pass(const struct asl_ctx *c, struct asl_state *s, json_t *obj)
{
    static const char *const fields[] = {"Type",       "Comment",    "Next",      "End",
                                         "Result",     "Parameters", "InputPath", "OutputPath",
                                         "ResultPath", NULL};
    int rc;

    if ((rc = asl_check_fields(c, s->name, obj, "a Pass state", fields)) ||
        (rc = parse_transition(c, s, obj)) || (rc = asl_parse_io(c, s, obj, true)))
        return rc;
    s->result = json_object_get(obj, "Result");
    s->parameters = json_object_get(obj, "Parameters");
    if (s->parameters != NULL) {
        if (!json_is_object(s->parameters))
            return asl_fail(c, s->name, "Parameters must be an object");
        return check_template(c, s->name, s->parameters, 0);
    }
    return 0;
}

static int parse_wait(const struct asl_ctx *c, struct asl_state *s, json_t *obj)
{
    static const char *const fields[] = {"Type",      "Comment",    "Next",        "End",
                                         "Seconds",   "Timestamp",  "SecondsPath", "TimestampPath",
                                         "InputPath", "OutputPath", NULL};
    static const char *const kinds[] = {"Seconds", "Timestamp", "SecondsPath", "TimestampPath"};
    int rc, n = 0;
    bool has;

    if ((rc = asl_check_fields(c, s->name, obj, "a Wait state", fields)) ||
        (rc = parse_transition(c, s, obj)) || (rc = asl_parse_io(c, s, obj, false)))
        return rc;
    for (int k = 0; k < 4; k++)
        if (json_object_get(obj, kinds[k]) != NULL) {
            s->wait_kind = (enum asl_wait_kind)k;
            n++;
        }
    if (n != 1)
        return asl_fail(c, s->name,
                        "a Wait state needs exactly one of Seconds, Timestamp, SecondsPath, "
                        "TimestampPath");
    switch (s->wait_kind) {
    case ASL_WAIT_SECONDS:
        return get_int(c, s->name, obj, "Seconds", 0, 99999999, &s->wait_seconds, &has);
    case ASL_WAIT_TIMESTAMP:
        if (asl_parse_timestamp(json_string_value(json_object_get(obj, "Timestamp")),
                                &s->wait_timestamp) != 0)
            return asl_fail(c, s->name, "Timestamp must be an RFC 3339 timestamp");
        return 0;
    case ASL_WAIT_SECONDS_PATH:
    case ASL_WAIT_TIMESTAMP_PATH:
        return get_path(c, s->name, obj, kinds[s->wait_kind], false, &s->wait_path, NULL);
    }
    return 0;
}

static int parse_state(const struct asl_ctx *c, struct asl_state *s, json_t *obj)
{
    static const char *const succeed_fields[] = {"Type", "Comment", "InputPath", "OutputPath",
                                                 NULL};
    static const char *const fail_fields[] = {"Type", "Comment", "Error", "Cause", NULL};
    const char *type;
    int rc;

    if (!json_is_object(obj))
        return asl_fail(c, s->name, "must be an object");
    if ((rc = asl_get_string(c, s->name, obj, "Type", true, &type)) ||
        (rc = asl_get_string(c, s->name, obj, "Comment", false, &s->comment)))
        return rc;
    if (strcmp(type, "Task") == 0) {
        s->type = ASL_TASK;
        return parse_task(c, s, obj);
    }
    if (strcmp(type, "Pass") == 0) {
        s->type = ASL_PASS;
        return parse_pass(c, s, obj);
    }
    if (strcmp(type, "Choice") == 0) {
        s->type = ASL_CHOICE;
        return asl_parse_choice(c, s, obj);
    }
    if (strcmp(type, "Wait") == 0) {
        s->type = ASL_WAIT;
        return parse_wait(c, s, obj);
    }
    if (strcmp(type, "Succeed") == 0) {
        s->type = ASL_SUCCEED;
        if ((rc = asl_check_fields(c, s->name, obj, "a Succeed state", succeed_fields)))
            return rc;
        return asl_parse_io(c, s, obj, false);
    }
    if (strcmp(type, "Fail") == 0) {
        s->type = ASL_FAIL;
        if ((rc = asl_check_fields(c, s->name, obj, "a Fail state", fail_fields)) ||
            (rc = asl_get_string(c, s->name, obj, "Error", false, &s->error)))
            return rc;
        return asl_get_string(c, s->name, obj, "Cause", false, &s->cause);
    }
    return asl_fail(
        c, s->name,
        "unknown state type \"%s\" (supported: Task, Pass, Choice, Wait, Succeed, Fail)", type);
}

/* ---- the graph ---- */

static long find_index(const struct asl_machine *m, const char *name)
{
    for (size_t i = 0; i < m->nstates; i++)
        if (strcmp(m->states[i].name, name) == 0)
            return (long)i;
    return -1;
}

/* Checks that target names a state, and marks it reached (pushing it on the work stack). */
static int visit(const struct asl_ctx *c, const char *from, const char *field, const char *target,
                 bool *seen, size_t *stack, size_t *top)
{
    long i = find_index(c->m, target);

    if (i < 0)
        return asl_fail(c, from, "%s \"%s\" names no state", field, target);
    if (!seen[i]) {
        seen[i] = true;
        stack[(*top)++] = (size_t)i;
    }
    return 0;
}

static int check_graph(const struct asl_ctx *c)
{
    struct asl_machine *m = c->m;
    bool *seen = calloc(m->nstates, sizeof *seen);
    size_t *stack = calloc(m->nstates, sizeof *stack), top = 0;
    int rc = 0;

    if (seen == NULL || stack == NULL) {
        rc = asl_nomem(c);
        goto out;
    }
    if (find_index(m, m->start_at) < 0) {
        rc = asl_fail(c, NULL, "StartAt \"%s\" names no state", m->start_at);
        goto out;
    }
    /* Every state's targets are checked, reachable or not, so a dangling Next is reported as
     * such rather than hidden behind "unreachable". */
    for (size_t i = 0; i < m->nstates && rc == 0; i++) {
        const struct asl_state *s = &m->states[i];

        if (s->next != NULL && find_index(m, s->next) < 0)
            rc = asl_fail(c, s->name, "Next \"%s\" names no state", s->next);
        for (size_t k = 0; k < s->ncatch && rc == 0; k++)
            if (find_index(m, s->catchers[k].next) < 0)
                rc = asl_fail(c, s->name, "Catch[%zu].Next \"%s\" names no state", k,
                              s->catchers[k].next);
        for (size_t k = 0; k < s->nchoices && rc == 0; k++)
            if (find_index(m, s->choices[k].next) < 0)
                rc = asl_fail(c, s->name, "Choices[%zu].Next \"%s\" names no state", k,
                              s->choices[k].next);
        if (rc == 0 && s->default_next != NULL && find_index(m, s->default_next) < 0)
            rc = asl_fail(c, s->name, "Default \"%s\" names no state", s->default_next);
    }
    if (rc != 0)
        goto out;
    rc = visit(c, NULL, "StartAt", m->start_at, seen, stack, &top);
    while (rc == 0 && top > 0) {
        const struct asl_state *s = &m->states[stack[--top]];

        if (s->next != NULL)
            rc = visit(c, s->name, "Next", s->next, seen, stack, &top);
        for (size_t k = 0; k < s->ncatch && rc == 0; k++)
            rc = visit(c, s->name, "Catch.Next", s->catchers[k].next, seen, stack, &top);
        for (size_t k = 0; k < s->nchoices && rc == 0; k++)
            rc = visit(c, s->name, "Choices.Next", s->choices[k].next, seen, stack, &top);
        if (rc == 0 && s->default_next != NULL)
            rc = visit(c, s->name, "Default", s->default_next, seen, stack, &top);
    }
    for (size_t i = 0; i < m->nstates && rc == 0; i++)
        if (!seen[i])
            rc = asl_fail(c, m->states[i].name, "is unreachable from StartAt \"%s\"", m->start_at);
out:
    free(seen);
    free(stack);
    return rc;
}

static int build(const struct asl_ctx *c)
{
    static const char *const top_fields[] = {"StartAt", "States",         "Comment",
                                             "Version", "TimeoutSeconds", NULL};
    struct asl_machine *m = c->m;
    json_t *states, *v;
    const char *key;
    long long timeout;
    bool has;
    size_t i = 0;
    int rc;

    if (!json_is_object(m->doc))
        return asl_fail(c, NULL, "the workflow must be a JSON object");
    if ((rc = asl_check_fields(c, NULL, m->doc, "the top level", top_fields)) ||
        (rc = asl_get_string(c, NULL, m->doc, "StartAt", true, &m->start_at)) ||
        (rc = asl_get_string(c, NULL, m->doc, "Comment", false, &m->comment)) ||
        (rc = get_int(c, NULL, m->doc, "TimeoutSeconds", 1, 99999999, &timeout, &has)))
        return rc;
    m->timeout_seconds = has ? (int)timeout : 0;
    states = json_object_get(m->doc, "States");
    if (!json_is_object(states) || json_object_size(states) == 0)
        return asl_fail(c, NULL, "States must be a non-empty object");
    if (json_object_size(states) > ASL_MAX_STATES)
        return asl_fail(c, NULL, "more than %d states", ASL_MAX_STATES);
    m->states = calloc(json_object_size(states), sizeof *m->states);
    m->tasks = calloc(json_object_size(states), sizeof *m->tasks);
    if (m->states == NULL || m->tasks == NULL)
        return asl_nomem(c);
    /* All names first, so the graph check can resolve forward references. */
    json_object_foreach(states, key, v)
    {
        if (strlen(key) == 0 || strlen(key) > ASL_MAX_NAME_LEN)
            return asl_fail(c, key, "state names must be 1 to %d characters", ASL_MAX_NAME_LEN);
        m->states[i++].name = key;
    }
    m->nstates = i;
    for (i = 0; i < m->nstates; i++) {
        rc = parse_state(c, &m->states[i], json_object_get(states, m->states[i].name));
        if (rc != 0)
            return rc;
        if (m->states[i].type == ASL_TASK)
            m->tasks[m->ntasks++] = i;
    }
    return check_graph(c);
}

static int load(const char *name, const char *label, json_t *doc, struct asl_machine **out,
                char *err, size_t errlen)
{
    struct asl_machine *m = calloc(1, sizeof *m);
    struct asl_ctx c = {.m = m, .label = label, .err = err, .errlen = errlen};
    int rc;

    *out = NULL;
    if (m == NULL)
        return asl_nomem(&c);
    m->name = strdup(name);
    /* jansson keeps object insertion order, so states stay in file order. */
    m->doc = json_deep_copy(doc);
    if (m->name == NULL || m->doc == NULL) {
        rc = asl_nomem(&c);
        goto out;
    }
    rc = build(&c);
out:
    if (rc != 0) {
        asl_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int asl_load_json(const char *name, json_t *doc, struct asl_machine **out, char *err, size_t errlen)
{
    return load(name, name, doc, out, err, errlen);
}

int asl_load_file(const char *path, struct asl_machine **out, char *err, size_t errlen)
{
    const char *base = strrchr(path, '/');
    json_error_t jerr;
    json_t *doc = NULL;
    char *name = NULL;
    size_t n;
    FILE *f;
    long size;
    int rc;

    *out = NULL;
    base = base != NULL ? base + 1 : path;
    n = strlen(base);
    if (n > 9 && strcmp(base + n - 9, ".asl.json") == 0)
        n -= 9;
    else if (n > 5 && strcmp(base + n - 5, ".json") == 0)
        n -= 5;
    f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return IE_IO;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        snprintf(err, errlen, "%s: cannot determine the size: %s", path, strerror(errno));
        rc = IE_IO;
        goto out;
    }
    if (size > ASL_MAX_FILE_BYTES) {
        snprintf(err, errlen, "%s: larger than %d bytes", path, ASL_MAX_FILE_BYTES);
        rc = IE_TOOBIG;
        goto out;
    }
    doc = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        snprintf(err, errlen, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
        rc = IE_PARSE;
        goto out;
    }
    name = strndup(base, n);
    if (name == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        rc = IE_NOMEM;
        goto out;
    }
    rc = load(name, path, doc, out, err, errlen);
out:
    fclose(f);
    json_decref(doc);
    free(name);
    return rc;
}

void asl_free(struct asl_machine *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nstates; i++) {
        struct asl_state *s = &m->states[i];

        for (size_t k = 0; k < s->nretry; k++)
            free(s->retry[k].errors);
        free(s->retry);
        for (size_t k = 0; k < s->ncatch; k++)
            free(s->catchers[k].errors);
        free(s->catchers);
        for (size_t k = 0; k < s->nchoices; k++)
            asl_free_rule(&s->choices[k]);
        free(s->choices);
    }
    for (size_t i = 0; i < m->nowned; i++)
        free(m->owned[i]);
    free(m->owned);
    free(m->states);
    free(m->tasks);
    json_decref(m->doc);
    free(m->name);
    free(m);
}

const char *asl_name(const struct asl_machine *m)
{
    return m->name;
}

const char *asl_start_at(const struct asl_machine *m)
{
    return m->start_at;
}

const char *asl_comment(const struct asl_machine *m)
{
    return m->comment;
}

int asl_timeout_seconds(const struct asl_machine *m)
{
    return m->timeout_seconds;
}

size_t asl_state_count(const struct asl_machine *m)
{
    return m->nstates;
}

const struct asl_state *asl_state_at(const struct asl_machine *m, size_t i)
{
    return i < m->nstates ? &m->states[i] : NULL;
}

const struct asl_state *asl_state_by_name(const struct asl_machine *m, const char *name)
{
    long i = find_index(m, name);

    return i < 0 ? NULL : &m->states[i];
}

size_t asl_task_count(const struct asl_machine *m)
{
    return m->ntasks;
}

const struct asl_state *asl_task_at(const struct asl_machine *m, size_t i)
{
    return i < m->ntasks ? &m->states[m->tasks[i]] : NULL;
}

const char *asl_resource_of(const struct asl_state *st)
{
    return st != NULL && st->type == ASL_TASK ? st->operation : NULL;
}
