/* intentctl's commands for the remaining read and configuration endpoints: `action-types`
 * (GET /v1/action-types), `signals push get|set|delete` (/v1/signals/push) and `metrics`
 * (GET /metrics, printed as the server wrote it). */
#include "intentctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "/v1/signals/push[?tenant_id=T]" into p. Returns 0 or CTL_EXIT_USAGE. */
static int push_path(struct ctl *c, const struct ctl_cmdline *o, struct buf *p)
{
    const char *names[] = {"tenant_id"};
    const char *vals[] = {o->tenant};
    if (buf_puts(p, "/v1/signals/push")) {
        fprintf(stderr, "intentctl: out of memory\n");
        return CTL_EXIT_USAGE;
    }
    return ctl_add_query(c, p, names, vals, 1);
}

/* The push configuration as a two-column table, or the server's JSON. */
static int print_push(const struct ctl *c, const struct ctl_response *res, json_t *ans)
{
    static const char *const rows[][2] = {
        {"tenant_id", "tenant"},      {"url", "url"},
        {"last_seq", "last seq"},     {"attempts", "failed attempts"},
        {"last_error", "last error"}, {"next_attempt_at", "next attempt"},
        {"updated_at", "updated"},    {"updated_by", "by"},
    };
    struct ctl_table t = {.ncols = 2};
    int rc = 0;
    if (c->json) {
        ctl_print_raw(res);
        return 0;
    }
    for (size_t i = 0; i < sizeof rows / sizeof rows[0] && !rc; i++)
        rc = ctl_kv_row(&t, rows[i][1], json_object_get(ans, rows[i][0]));
    ctl_table_print_free(&t);
    return rc;
}

/* Sends method to the push path with body (may be NULL) and prints the answer: the
 * configuration, or for DELETE one line. */
static int push_call(struct ctl *c, const struct ctl_cmdline *o, const char *method,
                     const char *body)
{
    struct ctl_response res;
    struct buf path;
    json_t *ans = NULL;
    int rc;
    buf_init(&path, 4096);
    if ((rc = push_path(c, o, &path)) || (rc = ctl_call(c, method, path.data, body, &res, &ans)))
        goto out;
    if (strcmp(method, "DELETE") != 0) {
        rc = print_push(c, &res, ans);
    } else if (c->json) {
        ctl_print_raw(&res);
    } else {
        char *t = ctl_cell(json_object_get(ans, "tenant_id"), 0);
        printf("signal push of %s deleted\n", t ? t : "-");
        free(t);
    }
    ctl_response_free(&res);
out:
    json_decref(ans);
    buf_free(&path);
    return rc;
}

int ctl_cmd_push_get(struct ctl *c, const struct ctl_cmdline *o)
{
    if (o->npos) {
        fprintf(stderr, "intentctl: signals push get takes no arguments\n");
        return CTL_EXIT_USAGE;
    }
    return push_call(c, o, "GET", NULL);
}

int ctl_cmd_push_delete(struct ctl *c, const struct ctl_cmdline *o)
{
    if (o->npos) {
        fprintf(stderr, "intentctl: signals push delete takes no arguments\n");
        return CTL_EXIT_USAGE;
    }
    return push_call(c, o, "DELETE", NULL);
}

int ctl_cmd_push_set(struct ctl *c, const struct ctl_cmdline *o)
{
    if (o->npos != 1) {
        fprintf(stderr, "intentctl: signals push set needs exactly one URL\n");
        return CTL_EXIT_USAGE;
    }
    /* the tenant goes in the body here (the API's PUT takes no query) */
    json_t *req = json_pack("{s:s}", "url", o->pos[0]);
    if (req && o->tenant && json_object_set_new(req, "tenant_id", json_string(o->tenant)))
        json_decref(req), req = NULL;
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!body) {
        fprintf(stderr, "intentctl: the URL or tenant is not valid UTF-8\n");
        return CTL_EXIT_USAGE;
    }
    struct ctl_cmdline none = {0}; /* no ?tenant_id= on the PUT */
    int rc = push_call(c, &none, "PUT", body);
    free(body);
    return rc;
}

/* "operation/undo" (or the operation alone) for one Task of an action type. */
static json_t *task_part(json_t *task)
{
    const char *op = json_string_value(json_object_get(task, "operation"));
    const char *undo = json_string_value(json_object_get(task, "compensate"));
    return json_sprintf("%s%s%s", op ? op : "?", undo ? "/" : "", undo ? undo : "");
}

int ctl_cmd_action_types(struct ctl *c, const struct ctl_cmdline *o)
{
    static const char *const head[] = {"TYPE", "START", "TASKS", "REVERSIBLE"};
    struct ctl_table t = {.ncols = 4};
    struct ctl_response res;
    json_t *ans = NULL, *at;
    size_t i;
    int rc;
    if (o->npos) {
        fprintf(stderr, "intentctl: action-types takes no arguments\n");
        return CTL_EXIT_USAGE;
    }
    if ((rc = ctl_call(c, "GET", "/v1/action-types", NULL, &res, &ans)))
        return rc;
    if (c->json) {
        ctl_print_raw(&res);
    } else {
        rc = ctl_table_header(&t, head);
        json_array_foreach(json_object_get(ans, "action_types"), i, at)
        {
            char *row[4] = {ctl_cell(json_object_get(at, "action_type"), 0),
                            ctl_cell(json_object_get(at, "start_at"), 0),
                            ctl_join_cell(json_object_get(at, "tasks"), task_part),
                            ctl_cell(json_object_get(at, "reversible"), 0)};
            rc = ctl_table_add_unless(&t, row, rc);
        }
        ctl_table_print_free(&t);
    }
    ctl_response_free(&res);
    json_decref(ans);
    return rc;
}

int ctl_cmd_metrics(struct ctl *c, const struct ctl_cmdline *o)
{
    struct ctl_response res;
    const char *token = c->token;
    int rc;
    if (o->npos) {
        fprintf(stderr, "intentctl: metrics takes no arguments\n");
        return CTL_EXIT_USAGE;
    }
    c->token = NULL; /* /metrics is public; do not hand the token around needlessly */
    rc = ctl_request(c, "GET", "/metrics", NULL, NULL, 0, &res);
    c->token = token;
    if (rc)
        return rc;
    if (!(rc = ctl_check(c, &res)) && res.body.len &&
        fwrite(res.body.data, 1, res.body.len, stdout) != res.body.len)
        rc = CTL_EXIT_UNAVAILABLE;
    ctl_response_free(&res);
    return rc;
}
