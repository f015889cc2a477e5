/* Interpreting a loaded ASL workflow one boundary at a time: Pass and Choice states run here
 * purely; Task, Wait, Succeed and Fail are handed back to the engine, which persists them and
 * calls back with the outcome. No I/O, clocks or globals. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asl.h"
#include "jsonpath.h"

/* Internal convention: IE_CONFLICT means "the workflow's data did not fit at run time" and
 * cause holds why; it becomes an ASL_ERR_RUNTIME failure, never an error of the API. */
#define CAUSE_LEN 512

static int runtime(char *cause, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int runtime(char *cause, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cause, CAUSE_LEN, fmt, ap);
    va_end(ap);
    return IE_CONFLICT;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* A private copy, so that no document the engine holds shares nodes with another. */
static int copy(json_t *v, json_t **out)
{
    *out = json_deep_copy(v);
    return *out == NULL ? IE_NOMEM : 0;
}

/* The state's effective input: InputPath applied to raw. */
static int apply_input(const struct asl_state *st, json_t *raw, json_t **out, char *cause)
{
    const char *path = st->input_path != NULL ? st->input_path : "$";
    json_t *v;

    *out = NULL;
    if (st->input_discard) {
        *out = json_object();
        return *out == NULL ? IE_NOMEM : 0;
    }
    if (jsonpath_get(raw, path, &v) != 0)
        return runtime(cause, "InputPath \"%s\" matched nothing in the input", path);
    return copy(v, out);
}

/* OutputPath applied to doc. */
static int apply_output(const struct asl_state *st, json_t *doc, json_t **out, char *cause)
{
    const char *path = st->output_path != NULL ? st->output_path : "$";
    json_t *v;

    *out = NULL;
    if (st->output_discard) {
        *out = json_object();
        return *out == NULL ? IE_NOMEM : 0;
    }
    if (jsonpath_get(doc, path, &v) != 0)
        return runtime(cause, "OutputPath \"%s\" matched nothing", path);
    return copy(v, out);
}

/* ResultPath: result placed into a copy of the raw input (discard: the raw input itself). */
static int apply_result(const char *path, bool discard, json_t *raw, json_t *result, json_t **out,
                        char *cause)
{
    int rc;

    *out = NULL;
    if (discard)
        return copy(raw, out);
    if (path == NULL || strcmp(path, "$") == 0)
        return copy(result, out);
    if ((rc = copy(raw, out)) != 0)
        return rc;
    rc = jsonpath_set(out, path, result);
    if (rc == IE_CONFLICT) {
        json_decref(*out);
        *out = NULL;
        return runtime(cause, "ResultPath \"%s\" cannot be applied to the input", path);
    }
    if (rc != 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

/* Instantiates a payload template: "key.$" fields take the value at their path in input. */
static int apply_template(json_t *tmpl, json_t *input, json_t **out, char *cause)
{
    const char *key;
    json_t *v, *res = NULL, *item;
    size_t i;
    int rc = 0;

    *out = NULL;
    if (json_is_array(tmpl)) {
        res = json_array();
        if (res == NULL)
            return IE_NOMEM;
        json_array_foreach(tmpl, i, v)
        {
            if ((rc = apply_template(v, input, &item, cause)) != 0)
                goto out;
            if (json_array_append_new(res, item) != 0) {
                rc = IE_NOMEM;
                goto out;
            }
        }
        goto out;
    }
    if (!json_is_object(tmpl))
        return copy(tmpl, out);
    res = json_object();
    if (res == NULL)
        return IE_NOMEM;
    json_object_foreach(tmpl, key, v)
    {
        size_t n = strlen(key);

        if (n > 2 && strcmp(key + n - 2, ".$") == 0) {
            json_t *found;

            if (jsonpath_get(input, json_string_value(v), &found) != 0) {
                rc = runtime(cause, "Parameters \"%s\": path \"%s\" matched nothing in the input",
                             key, json_string_value(v));
                goto out;
            }
            char *name = strndup(key, n - 2);

            if (name == NULL || (rc = copy(found, &item)) != 0) {
                free(name);
                rc = IE_NOMEM;
                goto out;
            }
            rc = json_object_set_new(res, name, item) != 0 ? IE_NOMEM : 0;
            free(name);
            if (rc != 0)
                goto out;
            continue;
        }
        if ((rc = apply_template(v, input, &item, cause)) != 0)
            goto out;
        if (json_object_set_new(res, key, item) != 0) {
            rc = IE_NOMEM;
            goto out;
        }
    }
out:
    if (rc != 0) {
        json_decref(res);
        return rc;
    }
    *out = res;
    return 0;
}

/* ---- Choice rules ---- */

/* StringMatches: '*' matches any run of characters; "\*" and "\\" are literal. */
static bool glob(const char *p, const char *s)
{
    const char *star_p = NULL, *star_s = NULL;

    while (*s != '\0') {
        char pc = *p;
        const char *pn = p + 1;

        if (pc == '*') {
            star_p = ++p;
            star_s = s;
            continue;
        }
        if (pc == '\\' && (p[1] == '*' || p[1] == '\\')) {
            pc = p[1];
            pn = p + 2;
        }
        if (pc != '\0' && pc == *s) {
            p = pn;
            s++;
            continue;
        }
        if (star_p == NULL)
            return false;
        p = star_p;
        s = ++star_s;
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

static bool rel_holds(enum asl_cmp_rel rel, int c)
{
    switch (rel) {
    case ASL_REL_EQ:
        return c == 0;
    case ASL_REL_LT:
        return c < 0;
    case ASL_REL_GT:
        return c > 0;
    case ASL_REL_LE:
        return c <= 0;
    case ASL_REL_GE:
        return c >= 0;
    }
    return false;
}

static int cmp_double(double a, double b)
{
    return a < b ? -1 : a > b ? 1 : 0;
}

/* Compares per the rule's type; values of another type never match (as in AWS). */
static bool compare(const struct asl_rule *r, json_t *v, json_t *operand)
{
    double a, b;
    int c;

    switch (r->type) {
    case ASL_CMP_STRING:
        if (!json_is_string(v) || !json_is_string(operand))
            return false;
        c = strcmp(json_string_value(v), json_string_value(operand));
        return rel_holds(r->rel, c);
    case ASL_CMP_NUMERIC:
        if (!json_is_number(v) || !json_is_number(operand))
            return false;
        return rel_holds(r->rel, cmp_double(json_number_value(v), json_number_value(operand)));
    case ASL_CMP_BOOLEAN:
        return json_is_boolean(v) && json_is_boolean(operand) &&
               json_is_true(v) == json_is_true(operand);
    case ASL_CMP_TIMESTAMP:
        if (asl_parse_timestamp(json_string_value(v), &a) != 0 ||
            asl_parse_timestamp(json_string_value(operand), &b) != 0)
            return false;
        return rel_holds(r->rel, cmp_double(a, b));
    }
    return false;
}

static int eval_rule(const struct asl_rule *r, json_t *input, bool *match, char *cause)
{
    double ignored;
    json_t *v, *operand;
    bool want;
    int rc;

    switch (r->op) {
    case ASL_OP_AND:
    case ASL_OP_OR:
        /* Short-circuit, so that And [IsPresent x, x == 1] is safe when x is absent. */
        for (size_t i = 0; i < r->nchildren; i++) {
            if ((rc = eval_rule(&r->children[i], input, match, cause)) != 0)
                return rc;
            if (*match == (r->op == ASL_OP_OR))
                return 0;
        }
        *match = r->op == ASL_OP_AND;
        return 0;
    case ASL_OP_NOT:
        if ((rc = eval_rule(r->children, input, match, cause)) != 0)
            return rc;
        *match = !*match;
        return 0;
    default:
        break;
    }
    if (jsonpath_get(input, r->variable, &v) != 0) {
        if (r->op == ASL_OP_IS_PRESENT) {
            *match = !json_is_true(r->operand);
            return 0;
        }
        return runtime(cause, "Choice Variable \"%s\" matched nothing in the input", r->variable);
    }
    want = json_is_true(r->operand);
    switch (r->op) {
    case ASL_OP_IS_PRESENT:
        *match = want;
        break;
    case ASL_OP_IS_NULL:
        *match = json_is_null(v) == want;
        break;
    case ASL_OP_IS_STRING:
        *match = json_is_string(v) == want;
        break;
    case ASL_OP_IS_NUMERIC:
        *match = json_is_number(v) == want;
        break;
    case ASL_OP_IS_BOOLEAN:
        *match = json_is_boolean(v) == want;
        break;
    case ASL_OP_IS_TIMESTAMP:
        *match = (asl_parse_timestamp(json_string_value(v), &ignored) == 0) == want;
        break;
    case ASL_OP_STRING_MATCHES:
        *match = json_is_string(v) && glob(json_string_value(r->operand), json_string_value(v));
        break;
    case ASL_OP_CMP:
        operand = r->operand;
        if (r->operand_path != NULL && jsonpath_get(input, r->operand_path, &operand) != 0)
            return runtime(cause, "Choice operand path \"%s\" matched nothing in the input",
                           r->operand_path);
        *match = compare(r, v, operand);
        break;
    default:
        *match = false;
        break;
    }
    return 0;
}

/* ---- Wait ---- */

static int wait_of(const struct asl_state *st, json_t *eff, struct asl_step *out, char *cause)
{
    json_t *v;
    double d;

    switch (st->wait_kind) {
    case ASL_WAIT_SECONDS:
        out->wait_seconds = st->wait_seconds;
        return 0;
    case ASL_WAIT_TIMESTAMP:
        out->wait_absolute = true;
        out->wait_until = st->wait_timestamp;
        return 0;
    case ASL_WAIT_SECONDS_PATH:
        if (jsonpath_get(eff, st->wait_path, &v) != 0)
            return runtime(cause, "SecondsPath \"%s\" matched nothing in the input", st->wait_path);
        d = json_number_value(v);
        if (!json_is_number(v) || d < 0 || d > 99999999)
            return runtime(cause, "SecondsPath \"%s\" must give a number from 0 to 99999999",
                           st->wait_path);
        out->wait_seconds = (long long)ceil(d);
        return 0;
    case ASL_WAIT_TIMESTAMP_PATH:
        if (jsonpath_get(eff, st->wait_path, &v) != 0)
            return runtime(cause, "TimestampPath \"%s\" matched nothing in the input",
                           st->wait_path);
        if (asl_parse_timestamp(json_string_value(v), &out->wait_until) != 0)
            return runtime(cause, "TimestampPath \"%s\" must give an RFC 3339 timestamp",
                           st->wait_path);
        out->wait_absolute = true;
        return 0;
    }
    return 0;
}

/* ---- asl_advance ---- */

void asl_step_clear(struct asl_step *s)
{
    json_decref(s->input);
    json_decref(s->parameters);
    json_decref(s->output);
    free(s->error);
    free(s->cause);
    memset(s, 0, sizeof *s);
}

static int strdup_or_null(const char *s, char **out)
{
    *out = NULL;
    if (s == NULL)
        return 0;
    *out = strdup(s);
    return *out == NULL ? IE_NOMEM : 0;
}

/* Runs one state. Returns 0 with *stop set when the step is complete, 0 with *next and *cur
 * updated to move on, IE_CONFLICT (cause set) or IE_NOMEM. */
static int run_state(const struct asl_machine *m, const struct asl_state *st, json_t **cur,
                     struct asl_step *out, bool *stop, const struct asl_state **next, char *cause)
{
    json_t *eff = NULL, *tmp = NULL, *res = NULL;
    const char *target = NULL;
    int rc;

    *stop = true;
    switch (st->type) {
    case ASL_FAIL:
        out->kind = ASL_STEP_FAIL;
        if ((rc = strdup_or_null(st->error, &out->error)) == 0)
            rc = strdup_or_null(st->cause, &out->cause);
        return rc;
    case ASL_TASK:
        if ((rc = apply_input(st, *cur, &eff, cause)) != 0)
            goto out;
        if (st->parameters != NULL) {
            rc = apply_template(st->parameters, eff, &out->parameters, cause);
            if (rc != 0)
                goto out;
        } else {
            out->parameters = eff;
            eff = NULL;
        }
        out->kind = ASL_STEP_TASK;
        out->resource = st->operation;
        out->compensate = st->compensate;
        out->timeout_seconds = st->timeout_seconds;
        goto out;
    case ASL_WAIT:
        if ((rc = apply_input(st, *cur, &eff, cause)) != 0 ||
            (rc = wait_of(st, eff, out, cause)) != 0)
            goto out;
        out->kind = ASL_STEP_WAIT;
        goto out;
    case ASL_SUCCEED:
        if ((rc = apply_input(st, *cur, &eff, cause)) != 0 ||
            (rc = apply_output(st, eff, &out->output, cause)) != 0)
            goto out;
        out->kind = ASL_STEP_SUCCEED;
        goto out;
    case ASL_PASS:
        if ((rc = apply_input(st, *cur, &eff, cause)) != 0)
            goto out;
        if (st->result != NULL)
            rc = copy(st->result, &tmp);
        else if (st->parameters != NULL)
            rc = apply_template(st->parameters, eff, &tmp, cause);
        else
            rc = copy(eff, &tmp);
        if (rc != 0 ||
            (rc = apply_result(st->result_path, st->result_discard, *cur, tmp, &res, cause)))
            goto out;
        json_decref(eff);
        eff = NULL;
        if ((rc = apply_output(st, res, &eff, cause)) != 0)
            goto out;
        break;
    case ASL_CHOICE:
        if ((rc = apply_input(st, *cur, &eff, cause)) != 0)
            goto out;
        for (size_t i = 0; i < st->nchoices && target == NULL; i++) {
            bool match;

            if ((rc = eval_rule(&st->choices[i], eff, &match, cause)) != 0)
                goto out;
            if (match)
                target = st->choices[i].next;
        }
        if (target == NULL)
            target = st->default_next;
        if (target == NULL) {
            out->kind = ASL_STEP_FAIL;
            out->error = strdup(ASL_ERR_NO_CHOICE);
            out->cause = strdup("no Choice rule matched and there is no Default");
            rc = out->error == NULL || out->cause == NULL ? IE_NOMEM : 0;
            goto out;
        }
        if ((rc = apply_output(st, eff, &res, cause)) != 0)
            goto out;
        json_decref(eff);
        eff = res;
        res = NULL;
        break;
    }
    /* Pass or Choice moving on: eff holds the state's output. */
    if (st->type == ASL_PASS && st->end) {
        out->kind = ASL_STEP_SUCCEED;
        out->output = eff;
        eff = NULL;
        goto out;
    }
    *next = asl_state_by_name(m, st->type == ASL_PASS ? st->next : target);
    json_decref(*cur);
    *cur = eff;
    eff = NULL;
    *stop = false;
    rc = 0;
out:
    json_decref(eff);
    json_decref(tmp);
    json_decref(res);
    return rc;
}

int asl_advance(const struct asl_machine *m, const char *state_name, json_t *input,
                struct asl_step *out, char *err, size_t errlen)
{
    const struct asl_state *st = asl_state_by_name(m, state_name);
    char cause[CAUSE_LEN] = "";
    json_t *cur = NULL;
    int rc = 0, hops;

    memset(out, 0, sizeof *out);
    if (st == NULL) {
        set_err(err, errlen, "%s: no state \"%s\"", asl_name(m), state_name);
        return IE_NOTFOUND;
    }
    if ((rc = copy(input, &cur)) != 0)
        goto out;
    for (hops = 0;; hops++) {
        const struct asl_state *next = NULL;
        bool stop;

        if (hops > ASL_MAX_HOPS) {
            rc = runtime(cause, "more than %d Pass/Choice states in a row (a loop?)", ASL_MAX_HOPS);
        } else {
            rc = run_state(m, st, &cur, out, &stop, &next, cause);
            if (rc == 0 && !stop) {
                st = next;
                continue;
            }
        }
        out->state = st->name;
        out->input = cur;
        cur = NULL;
        break;
    }
    if (rc == IE_CONFLICT) {
        json_decref(out->parameters);
        json_decref(out->output);
        out->parameters = out->output = NULL;
        out->kind = ASL_STEP_FAIL;
        out->error = strdup(ASL_ERR_RUNTIME);
        out->cause = strdup(cause);
        rc = out->error == NULL || out->cause == NULL ? IE_NOMEM : 0;
    }
out:
    json_decref(cur);
    if (rc != 0) {
        set_err(err, errlen, "%s: state \"%s\": %s", asl_name(m), st->name, ie_strerror(rc));
        asl_step_clear(out);
    }
    return rc;
}

/* ---- after a Task or a Wait ---- */

void asl_next_clear(struct asl_next *n)
{
    json_decref(n->output);
    free(n->error);
    free(n->cause);
    memset(n, 0, sizeof *n);
}

void asl_decision_clear(struct asl_error_decision *d)
{
    json_decref(d->output);
    memset(d, 0, sizeof *d);
    d->retrier = d->catcher = -1;
}

/* Fills *out from doc (the state's output, consumed) or from a runtime error. */
static int finish_next(const struct asl_state *st, int rc, json_t *doc, const char *cause,
                       struct asl_next *out)
{
    if (rc == IE_CONFLICT) {
        json_decref(doc);
        out->kind = ASL_NEXT_FAIL;
        out->error = strdup(ASL_ERR_RUNTIME);
        out->cause = strdup(cause);
        if (out->error == NULL || out->cause == NULL) {
            asl_next_clear(out);
            return IE_NOMEM;
        }
        return 0;
    }
    if (rc != 0) {
        json_decref(doc);
        return rc;
    }
    out->output = doc;
    out->kind = st->end ? ASL_NEXT_END : ASL_NEXT_STATE;
    out->state = st->end ? NULL : st->next;
    return 0;
}

static int find(const struct asl_machine *m, const char *name, enum asl_state_type type,
                const struct asl_state **st)
{
    *st = asl_state_by_name(m, name);
    if (*st == NULL)
        return IE_NOTFOUND;
    return (*st)->type == type ? 0 : IE_INVAL;
}

int asl_task_succeeded(const struct asl_machine *m, const char *state_name, json_t *state_input,
                       json_t *result, struct asl_next *out)
{
    const struct asl_state *st;
    char cause[CAUSE_LEN] = "";
    json_t *doc = NULL, *res = NULL;
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = find(m, state_name, ASL_TASK, &st)) != 0)
        return rc;
    rc = apply_result(st->result_path, st->result_discard, state_input, result, &res, cause);
    if (rc == 0)
        rc = apply_output(st, res, &doc, cause);
    json_decref(res);
    return finish_next(st, rc, doc, cause, out);
}

int asl_wait_next(const struct asl_machine *m, const char *state_name, json_t *state_input,
                  struct asl_next *out)
{
    const struct asl_state *st;
    char cause[CAUSE_LEN] = "";
    json_t *eff = NULL, *doc = NULL;
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = find(m, state_name, ASL_WAIT, &st)) != 0)
        return rc;
    rc = apply_input(st, state_input, &eff, cause);
    if (rc == 0)
        rc = apply_output(st, eff, &doc, cause);
    json_decref(eff);
    return finish_next(st, rc, doc, cause, out);
}

static bool error_matches(const char **errors, size_t n, const char *name)
{
    if (strcmp(name, ASL_ERR_RUNTIME) == 0 || strcmp(name, ASL_ERR_NO_CHOICE) == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(errors[i], "States.ALL") == 0 || strcmp(errors[i], name) == 0)
            return true;
        if (strcmp(errors[i], "States.TaskFailed") == 0 && strcmp(name, "States.Timeout") != 0)
            return true;
    }
    return false;
}

int asl_task_failed(const struct asl_machine *m, const char *state_name, json_t *state_input,
                    const char *error_name, const char *cause, int attempts_done, double rand01,
                    struct asl_error_decision *out)
{
    const struct asl_state *st;
    char why[CAUSE_LEN];
    json_t *err_obj = NULL;
    int rc;

    memset(out, 0, sizeof *out);
    out->retrier = out->catcher = -1;
    out->kind = ASL_DECIDE_FAIL;
    if ((rc = find(m, state_name, ASL_TASK, &st)) != 0)
        return rc;
    if (attempts_done < 1 || error_name == NULL)
        return IE_INVAL;
    for (size_t i = 0; i < st->nretry; i++) {
        const struct asl_retrier *r = &st->retry[i];
        double delay;

        if (!error_matches(r->errors, r->nerrors, error_name))
            continue;
        /* The first matching Retrier decides; an exhausted one falls through to Catch, not to
         * later Retriers (AWS semantics). */
        if (attempts_done - 1 >= r->max_attempts)
            break;
        delay = r->interval_seconds * pow(r->backoff_rate, attempts_done - 1);
        if (r->max_delay_seconds > 0 && delay > r->max_delay_seconds)
            delay = r->max_delay_seconds;
        if (r->jitter_full)
            delay *= rand01 < 0 ? 0 : rand01 > 1 ? 1 : rand01;
        out->kind = ASL_DECIDE_RETRY;
        out->retrier = (int)i;
        out->delay_seconds = delay;
        out->max_delay_seconds = r->max_delay_seconds;
        return 0;
    }
    for (size_t i = 0; i < st->ncatch; i++) {
        const struct asl_catcher *c = &st->catchers[i];

        if (!error_matches(c->errors, c->nerrors, error_name))
            continue;
        err_obj = json_pack("{s:s, s:s}", "Error", error_name, "Cause", cause ? cause : "");
        if (err_obj == NULL)
            return IE_NOMEM;
        rc = apply_result(c->result_path, c->result_discard, state_input, err_obj, &out->output,
                          why);
        json_decref(err_obj);
        if (rc == IE_CONFLICT)
            return 0; /* the Catcher cannot be applied: the state fails */
        if (rc != 0)
            return rc;
        out->kind = ASL_DECIDE_CATCH;
        out->catcher = (int)i;
        out->state = c->next;
        return 0;
    }
    return 0;
}
