/* intentctl's commands for issue 3's operator endpoints: `compensate` and `redrive` (change an
 * intent's course, so each needs a reason that the ledger keeps), `signals` (outcome events in
 * ledger order, resumable with --after) and `preview` (a dry run: the exact requests an intent
 * would send, with nothing stored or sent). */
#include "intentctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIGNALS_DEFAULT_LIMIT 100 /* the server's default page */
#define REASON_CELL_MAX       80  /* code points of a reason shown in a table */

/* Prints the cleaned text of obj[key] ("-" when absent). */
static void put_field(json_t *obj, const char *key)
{
    char *s = ctl_cell(json_object_get(obj, key), 0);
    fputs(s ? s : "-", stdout);
    free(s);
}

/* "<state>", "<state> after N attempts" or "<state>: <cause>" for a step's compensation. */
static char *undo_cell(json_t *comp)
{
    const char *state = json_string_value(json_object_get(comp, "state"));
    const char *cause = json_string_value(json_object_get(comp, "cause"));
    json_int_t attempts = json_integer_value(json_object_get(comp, "attempts"));
    json_t *s;
    if (!state)
        return strdup("-");
    if (cause && *cause)
        s = json_sprintf("%s: %s", state, cause);
    else if (attempts > 1)
        s = json_sprintf("%s after %" JSON_INTEGER_FORMAT " attempts", state, attempts);
    else
        s = json_string(state);
    char *out = s ? ctl_cell(s, REASON_CELL_MAX) : NULL;
    json_decref(s);
    return out;
}

int ctl_print_steps(json_t *steps)
{
    static const char *const head[] = {"STEP", "OPERATION", "EXTERNAL ID", "UNDO BY",
                                       "COMPENSATION"};
    struct ctl_table t = {.ncols = 5};
    size_t i;
    json_t *s;
    int rc = ctl_table_header(&t, head);
    json_array_foreach(steps, i, s)
    {
        char *row[5] = {ctl_cell(json_object_get(s, "step"), 0),
                        ctl_cell(json_object_get(s, "operation"), 0),
                        ctl_cell(json_object_get(s, "external_id"), 0),
                        ctl_cell(json_object_get(s, "compensate"), 0),
                        undo_cell(json_object_get(s, "compensation"))};
        if (rc) {
            for (int k = 0; k < 5; k++)
                free(row[k]);
        } else {
            rc = ctl_table_add(&t, row);
        }
    }
    ctl_table_print_free(&t);
    return rc;
}

/* After a refused compensate: names the irreversible steps the server listed and how to go on. */
static void irreversible_hint(const struct ctl_response *res)
{
    json_t *p = json_loadb(res->body.data ? res->body.data : "", res->body.len, 0, NULL);
    json_t *steps =
        json_object_get(json_array_get(json_object_get(p, "errors"), 0), "irreversible_steps");
    if (json_array_size(steps)) {
        char *list = ctl_cell(steps, 200);
        fprintf(stderr,
                "intentctl: hint: %s cannot be undone; --partial undoes the other steps and "
                "leaves these as they are\n",
                list ? list : "some steps");
        free(list);
    }
    json_decref(p);
}

/* POSTs {"reason", "partial"?} to /v1/intents/<id><suffix>. On 0, *ans and res hold the 202
 * answer (res needs ctl_response_free). */
static int operator_post(struct ctl *c, const struct ctl_cmdline *o, const char *suffix,
                         struct ctl_response *res, json_t **ans)
{
    struct buf path;
    json_t *req = json_pack("{s:s}", "reason", o->reason);
    char *body = NULL;
    int rc = 0;
    if (req && o->partial)
        json_object_set_new(req, "partial", json_true());
    if (!req || !(body = json_dumps(req, JSON_COMPACT))) {
        fprintf(stderr, "intentctl: the reason is not valid UTF-8\n");
        json_decref(req);
        return CTL_EXIT_USAGE;
    }
    json_decref(req);
    buf_init(&path, 4096);
    if ((rc = ctl_intent_path(c, o->pos[0], suffix, o->tenant, &path)) ||
        (rc = ctl_request(c, "POST", path.data, NULL, body, strlen(body), res)))
        goto out;
    if ((rc = ctl_check(c, res))) {
        if (res->status == 409)
            irreversible_hint(res);
    } else if (!(*ans = ctl_parse_object(res))) {
        rc = CTL_EXIT_UNAVAILABLE;
    }
    if (rc)
        ctl_response_free(res);
out:
    free(body);
    buf_free(&path);
    return rc;
}

int ctl_cmd_compensate(struct ctl *c, const struct ctl_cmdline *o)
{
    struct ctl_response res;
    json_t *ans = NULL;
    int rc;
    if (o->npos != 1 || !o->reason || !*o->reason) {
        fprintf(stderr, "intentctl: compensate needs an intent ID and --reason TEXT\n");
        return CTL_EXIT_USAGE;
    }
    if ((rc = operator_post(c, o, "/compensate", &res, &ans)))
        return rc;
    if (c->json) {
        ctl_print_raw(&res);
    } else {
        fputs("compensating ", stdout);
        put_field(ans, "action_intent_id");
        fputs(": it is ", stdout);
        put_field(ans, "state");
        fputs(" and ends ", stdout);
        put_field(ans, "compensating_to");
        fputs(" once the steps below are undone (follow with intentctl status)\n\n", stdout);
        rc = ctl_print_steps(json_object_get(ans, "steps"));
    }
    json_decref(ans);
    ctl_response_free(&res);
    return rc;
}

int ctl_cmd_redrive(struct ctl *c, const struct ctl_cmdline *o)
{
    struct ctl_response res;
    json_t *ans = NULL;
    int rc;
    if (o->npos != 1 || !o->reason || !*o->reason) {
        fprintf(stderr, "intentctl: redrive needs an intent ID and --reason TEXT\n");
        return CTL_EXIT_USAGE;
    }
    if ((rc = operator_post(c, o, "/redrive", &res, &ans)))
        return rc;
    if (c->json) {
        ctl_print_raw(&res);
    } else {
        fputs("redriven ", stdout);
        put_field(ans, "action_intent_id");
        fputs(": ", stdout);
        put_field(ans, "state");
        fputs(" again from step ", stdout);
        put_field(ans, "current_step");
        fputs(", with fresh attempts\n", stdout);
    }
    json_decref(ans);
    ctl_response_free(&res);
    return rc;
}

/* "/v1/signals" with the options given as query parameters. */
static int signals_path(struct ctl *c, const struct ctl_cmdline *o, struct buf *p)
{
    const char *names[] = {"after", "limit", "tenant_id"};
    const char *vals[] = {o->after, o->limit, o->tenant};
    if (buf_puts(p, "/v1/signals")) {
        fprintf(stderr, "intentctl: out of memory\n");
        return CTL_EXIT_USAGE;
    }
    return ctl_add_query(c, p, names, vals, sizeof names / sizeof names[0]);
}

/* "Step=id" for one step a signal reports. */
static json_t *external_id_part(json_t *step)
{
    const char *name = json_string_value(json_object_get(step, "step"));
    const char *id = json_string_value(json_object_get(step, "external_id"));
    return json_sprintf("%s=%s", name ? name : "?", id ? id : "-");
}

/* A signal's reason, else its last error's name, else "-". */
static char *reason_cell(json_t *sig)
{
    json_t *reason = json_object_get(sig, "reason");
    if (json_string_length(reason))
        return ctl_cell(reason, REASON_CELL_MAX);
    return ctl_cell(json_object_get(json_object_get(sig, "last_error"), "error"), REASON_CELL_MAX);
}

int ctl_cmd_signals(struct ctl *c, const struct ctl_cmdline *o)
{
    static const char *const head[] = {"SEQ",    "AT",           "SIGNAL", "INTENT",
                                       "ACTION", "EXTERNAL IDS", "REASON"};
    static const char *const keys[] = {"seq", "at", "type", "action_intent_id", "action_type"};
    struct ctl_table t = {.ncols = 7};
    struct ctl_response res;
    struct buf path;
    json_t *ans = NULL, *sig;
    size_t i;
    int rc;
    if (o->npos != 0) {
        fprintf(stderr, "intentctl: signals takes no arguments (--after N, --limit N)\n");
        return CTL_EXIT_USAGE;
    }
    buf_init(&path, 4096);
    if ((rc = signals_path(c, o, &path)) || (rc = ctl_call(c, "GET", path.data, NULL, &res, &ans)))
        goto out;
    json_t *list = json_object_get(ans, "signals");
    if (c->json) {
        ctl_print_raw(&res);
    } else {
        rc = ctl_table_header(&t, head);
        json_array_foreach(list, i, sig)
        {
            char *row[7];
            for (int k = 0; k < 5; k++)
                row[k] = ctl_cell(json_object_get(sig, keys[k]), 0);
            row[5] = ctl_join_cell(json_object_get(sig, "steps"), external_id_part);
            row[6] = reason_cell(sig);
            if (!rc)
                rc = ctl_table_add(&t, row);
            else
                for (int k = 0; k < 7; k++)
                    free(row[k]);
        }
        ctl_table_print_free(&t);
    }
    /* a full page may have more behind it; the seq to resume from is the last one shown */
    long limit = o->limit ? strtol(o->limit, NULL, 10) : SIGNALS_DEFAULT_LIMIT;
    json_t *next = json_object_get(ans, "next_after");
    if (!c->json && json_is_integer(next) && limit > 0 && json_array_size(list) >= (size_t)limit)
        fprintf(stderr,
                "intentctl: more signals may follow: add --after %" JSON_INTEGER_FORMAT "\n",
                json_integer_value(next));
    ctl_response_free(&res);
out:
    json_decref(ans);
    buf_free(&path);
    return rc;
}

/* One request of a preview: "  <phase>: METHOD URL", its headers, and its body. */
static void print_request(json_t *r)
{
    const char *k;
    json_t *v;
    char *phase = ctl_cell(json_object_get(r, "phase"), 0);
    json_t *skip = json_object_get(r, "skip");
    if (skip) {
        char *why = ctl_cell(skip, 0);
        printf("  %s: nothing to send (%s)\n", phase ? phase : "-", why ? why : "-");
        free(why);
        free(phase);
        return;
    }
    char *method = ctl_cell(json_object_get(r, "method"), 0);
    json_t *url = json_object_get(r, "url");
    char *where = ctl_cell(url ? url : json_object_get(r, "path"), 0);
    printf("  %s: %s %s\n", phase ? phase : "-", method ? method : "-", where ? where : "-");
    free(phase);
    free(method);
    free(where);
    json_object_foreach(json_object_get(r, "headers"), k, v)
    {
        char *name = ctl_clean(k, 0), *val = ctl_cell(v, 0);
        printf("    %s: %s\n", name ? name : "?", val ? val : "?");
        free(name);
        free(val);
    }
    json_t *body = json_object_get(r, "body");
    if (!body)
        body = json_object_get(r, "body_text");
    if (body) {
        char *b = ctl_cell(body, 0);
        printf("    %s\n", b ? b : "?");
        free(b);
    }
}

/* A line "  <label>: <value>" when obj[key] is present. */
static void print_line(json_t *obj, const char *key, const char *label, size_t max)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return;
    char *s = ctl_cell(v, max);
    printf("  %s: %s\n", label, s ? s : "?");
    free(s);
}

static void print_task(json_t *task)
{
    size_t i;
    json_t *r;
    char *step = ctl_cell(json_object_get(task, "step"), 0);
    char *op = ctl_cell(json_object_get(task, "operation"), 0);
    char *conn = ctl_cell(json_object_get(task, "connector"), 0);
    char *undo = ctl_cell(json_object_get(task, "compensate"), 0);
    printf("%s: %s on %s, ", step ? step : "?", op ? op : "?", conn ? conn : "?");
    if (json_is_true(json_object_get(task, "reversible")))
        printf("undone by %s\n", undo ? undo : "?");
    else
        printf("irreversible\n");
    free(step);
    free(op);
    free(conn);
    free(undo);
    json_t *g = json_object_get(task, "guards");
    if (json_is_object(g)) {
        char *d = ctl_cell(json_object_get(g, "decision"), 0);
        char *b = ctl_cell(json_object_get(g, "breaker"), 0);
        printf("  guards: %s (breaker %s, %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT
               " in flight, %.0f rate tokens held, %.1f retries left in the budget)\n",
               d ? d : "?", b ? b : "?", json_integer_value(json_object_get(g, "in_flight")),
               json_integer_value(json_object_get(g, "concurrency")),
               json_number_value(json_object_get(g, "tokens")),
               json_number_value(json_object_get(g, "retry_budget_left")));
        free(d);
        free(b);
    }
    print_line(task, "effect", "effect", 0);
    if (json_object_get(task, "effect"))
        print_line(task, "parameters", "parameters", 0);
    json_array_foreach(json_object_get(task, "requests"), i, r)
    {
        print_request(r);
    }
    print_line(task, "problem", "problem", 0);
}

int ctl_cmd_preview(struct ctl *c, const struct ctl_cmdline *o)
{
    struct ctl_response res;
    struct buf body;
    json_t *ans = NULL, *task;
    size_t i;
    int rc;
    if (o->npos != 1) {
        fprintf(stderr, "intentctl: preview needs exactly one FILE ('-' for stdin)\n");
        return CTL_EXIT_USAGE;
    }
    buf_init(&body, CTL_FILE_MAX);
    if ((rc = ctl_read_file(o->pos[0], &body)) ||
        (rc = ctl_request(c, "POST", "/v1/intents:preview", NULL, body.data, body.len, &res)))
        goto out;
    if ((rc = ctl_check(c, &res)))
        goto out_res;
    if (!(ans = ctl_parse_object(&res))) {
        rc = CTL_EXIT_UNAVAILABLE;
        goto out_res;
    }
    bool valid = json_is_true(json_object_get(ans, "valid"));
    if (c->json) {
        ctl_print_raw(&res);
    } else if (valid) {
        fputs("preview of ", stdout);
        put_field(ans, "action_intent_id");
        fputs(" (", stdout);
        put_field(ans, "action_type");
        fputs("): ", stdout);
        put_field(ans, "note");
        fputc('\n', stdout);
        json_array_foreach(json_object_get(ans, "tasks"), i, task)
        {
            fputc('\n', stdout);
            print_task(task);
        }
    }
    if (!valid) {
        char *detail = ctl_cell(json_object_get(ans, "detail"), 0);
        fprintf(stderr, "intentctl: the intent would be refused: %s\n", detail ? detail : "-");
        ctl_print_errors(NULL, json_object_get(ans, "errors"));
        free(detail);
        rc = CTL_EXIT_REFUSED;
    }
out_res:
    ctl_response_free(&res);
out:
    json_decref(ans);
    buf_free(&body);
    return rc;
}
