/* Tenants, their tokens and approval keys after creation (admin token): `tenant list`, `token
 * list`, `token revoke`, `key list` and `key rotate` (docs/api-contract.md, "Tokens and keys"). The
 * only secret shown is the new key of a rotation, once, with the same warning as tenant creation.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intentctl.h"

/* Builds "/v1/tenants/<tenant>/<what>[/<item>]" into p. Returns 0 or CTL_EXIT_USAGE. */
static int tenant_path(struct ctl *c, const char *tenant, const char *what, const char *item,
                       struct buf *p)
{
    char *et = ctl_escape(c, tenant);
    char *ei = item ? ctl_escape(c, item) : NULL;
    int err = !et || (item && !ei);
    if (!err)
        err = buf_printf(p, "/v1/tenants/%s/%s%s%s", et, what, ei ? "/" : "", ei ? ei : "");
    curl_free(et);
    curl_free(ei);
    if (err)
        fprintf(stderr, "intentctl: the tenant or id is too long\n");
    return err ? CTL_EXIT_USAGE : 0;
}

/* Sends one request about --tenant's tokens or keys; on 0 the caller owns res and *ans. */
static int tenant_call(struct ctl *c, const char *cmd, const struct ctl_cmdline *o, int npos,
                       const char *method, const char *what, const char *body,
                       struct ctl_response *res, json_t **ans)
{
    if (!o->tenant || !*o->tenant || o->npos != npos) {
        fprintf(stderr, "intentctl: %s needs --tenant T%s\n", cmd,
                npos ? " and one TOKEN_ID" : " and no other argument");
        return CTL_EXIT_USAGE;
    }
    struct buf path;
    buf_init(&path, 4096);
    int rc = tenant_path(c, o->tenant, what, npos ? o->pos[0] : NULL, &path);
    if (!rc)
        rc = ctl_call(c, method, path.data, body, res, ans);
    buf_free(&path);
    return rc;
}

/* Prints rows of fields of list as a table under head (ncols names). */
static int print_rows(json_t *list, const char *const *head, const char *const *fields,
                      size_t ncols)
{
    struct ctl_table t = {.ncols = ncols};
    int rc = ctl_table_header(&t, head);
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        char *row[CTL_TABLE_MAXCOLS] = {NULL};
        for (size_t k = 0; k < ncols; k++)
            row[k] = ctl_cell(json_object_get(item, fields[k]), 0);
        if (rc)
            for (size_t k = 0; k < ncols; k++)
                free(row[k]);
        else
            rc = ctl_table_add(&t, row);
    }
    ctl_table_print_free(&t);
    return rc;
}

/* A GET of --tenant's list `member` under `what`, printed as a table. */
static int list_cmd(struct ctl *c, const struct ctl_cmdline *o, const char *cmd, const char *what,
                    const char *const *head, const char *const *fields, size_t ncols)
{
    struct ctl_response res;
    json_t *ans = NULL;
    int rc = tenant_call(c, cmd, o, 0, "GET", what, NULL, &res, &ans);
    if (rc)
        return rc;
    if (c->json)
        ctl_print_raw(&res);
    else
        rc = print_rows(json_object_get(ans, what), head, fields, ncols);
    ctl_response_free(&res);
    json_decref(ans);
    return rc;
}

int ctl_cmd_tenant_list(struct ctl *c, const struct ctl_cmdline *o)
{
    if (o->npos) {
        fprintf(stderr, "intentctl: tenant list takes no arguments\n");
        return CTL_EXIT_USAGE;
    }
    struct buf path;
    buf_init(&path, 4096);
    const char *names[] = {"after"}, *vals[] = {o->after};
    int rc = buf_printf(&path, "/v1/tenants") ? CTL_EXIT_USAGE : 0;
    if (!rc)
        rc = ctl_add_query(c, &path, names, vals, 1);
    struct ctl_response res;
    json_t *ans = NULL;
    if (!rc)
        rc = ctl_call(c, "GET", path.data, NULL, &res, &ans);
    buf_free(&path);
    if (rc)
        return rc;
    static const char *const head[] = {"TENANT", "CREATED", "KEY-ID", "TOKENS"};
    static const char *const fields[] = {"tenant_id", "created_at", "key_id", "active_tokens"};
    const char *next = json_string_value(json_object_get(ans, "next_after"));
    if (c->json)
        ctl_print_raw(&res);
    else
        rc = print_rows(json_object_get(ans, "tenants"), head, fields, 4);
    if (!rc && next && !c->json) {
        char *n = ctl_clean(next, 0);
        fprintf(stderr, "intentctl: more tenants follow: --after %s\n", n ? n : "?");
        free(n);
    }
    ctl_response_free(&res);
    json_decref(ans);
    return rc;
}

int ctl_cmd_token_list(struct ctl *c, const struct ctl_cmdline *o)
{
    static const char *const head[] = {"TOKEN-ID", "ROLE", "CREATED", "REVOKED"};
    static const char *const fields[] = {"token_id", "role", "created_at", "revoked_at"};
    return list_cmd(c, o, "token list", "tokens", head, fields, 4);
}

int ctl_cmd_key_list(struct ctl *c, const struct ctl_cmdline *o)
{
    static const char *const head[] = {"KEY-ID", "STATE", "CREATED", "EXPIRES"};
    static const char *const fields[] = {"key_id", "state", "created_at", "expires_at"};
    return list_cmd(c, o, "key list", "keys", head, fields, 4);
}

int ctl_cmd_token_revoke(struct ctl *c, const struct ctl_cmdline *o)
{
    struct ctl_response res;
    json_t *ans = NULL;
    int rc = tenant_call(c, "token revoke", o, 1, "DELETE", "tokens", NULL, &res, &ans);
    if (rc)
        return rc;
    char *id = ctl_cell(json_object_get(ans, "token_id"), 0);
    char *at = ctl_cell(json_object_get(ans, "revoked_at"), 0);
    if (c->json)
        ctl_print_raw(&res);
    else if (!id || !at)
        rc = CTL_EXIT_UNAVAILABLE;
    else if (json_is_true(json_object_get(ans, "changed")))
        printf("token %s revoked at %s\n", id, at);
    else
        printf("token %s was already revoked at %s; nothing changed\n", id, at);
    free(id);
    free(at);
    ctl_response_free(&res);
    json_decref(ans);
    return rc;
}

/* Parses --overlap: seconds, or a number with s, m, h or d. Returns -1 when malformed. */
static long long parse_overlap(const char *s)
{
    char *end = NULL;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (!*s || *s < '0' || *s > '9' || errno || end == s)
        return -1;
    long long unit = 1;
    if (*end == 'm')
        unit = 60;
    else if (*end == 'h')
        unit = 3600;
    else if (*end == 'd')
        unit = 86400;
    else if (*end && *end != 's')
        return -1;
    if (*end && end[1])
        return -1;
    /* the server decides the upper bound and refuses this; it only keeps the product in range */
    if (n > 1000000000LL)
        return n;
    return n * unit;
}

int ctl_cmd_key_rotate(struct ctl *c, const struct ctl_cmdline *o)
{
    char body[64] = "";
    if (o->overlap) {
        long long secs = parse_overlap(o->overlap);
        if (secs < 0) {
            fprintf(stderr, "intentctl: --overlap takes seconds, or a number with s, m, h or d "
                            "(e.g. 3600, 90m, 1d)\n");
            return CTL_EXIT_USAGE;
        }
        snprintf(body, sizeof body, "{\"overlap_seconds\":%lld}", secs);
    }
    struct ctl_response res;
    json_t *ans = NULL;
    int rc = tenant_call(c, "key rotate", o, 0, "POST", "keys:rotate", body, &res, &ans);
    if (rc)
        return rc;
    fprintf(stderr, "intentctl: warning: the new approval key is shown only once; store it now\n");
    if (c->json) {
        ctl_print_raw(&res);
    } else {
        static const char *const rows[][2] = {{"tenant_id", "tenant"},
                                              {"key_id", "key id"},
                                              {"approval_key", "approval key"},
                                              {"previous_key_id", "previous key"},
                                              {"previous_expires_at", "previous valid until"},
                                              {"dropped_key_id", "dropped key"}};
        struct ctl_table t = {.ncols = 2};
        for (size_t i = 0; i < sizeof rows / sizeof rows[0] && !rc; i++)
            rc = ctl_kv_row(&t, rows[i][1], json_object_get(ans, rows[i][0]));
        ctl_table_print_free(&t);
    }
    ctl_cleanse(res.body.data, res.body.len);
    ctl_response_free(&res);
    json_decref(ans);
    return rc;
}
