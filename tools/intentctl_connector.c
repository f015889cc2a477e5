/* intentctl's connector commands: `connector set` (secrets only from a file or stdin, never from
 * the command line, where every user on the host can read them in ps), `connector get` and
 * `connector delete`. Buffers that held a secret are wiped before they are freed. */
#include "intentctl.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SECRETS_MAX (64 * 1024)  /* bytes of the secrets document */
#define DOC_MAX     (256 * 1024) /* bytes of a --settings or --limits file */

/* Reads all of f into b (bounded by b->max). Returns 0 or CTL_EXIT_USAGE after a message. */
static int slurp(FILE *f, const char *name, struct buf *b)
{
    char chunk[4096];
    size_t n;
    int rc = 0;
    while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (buf_append(b, chunk, n)) {
            fprintf(stderr, "intentctl: %s is larger than %zu bytes\n", name, b->max);
            rc = CTL_EXIT_USAGE;
        }
    }
    if (!rc && ferror(f)) {
        fprintf(stderr, "intentctl: cannot read %s: %s\n", name, strerror(errno));
        rc = CTL_EXIT_USAGE;
    }
    ctl_cleanse(chunk, sizeof chunk);
    return rc;
}

/* Parses text as a JSON object; name says where it came from. NULL after a message. */
static json_t *parse_object(const char *text, size_t len, const char *name)
{
    json_error_t e;
    json_t *v = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES, &e);
    if (!json_is_object(v)) {
        /* e.text may quote the input, which may be a secret: report only where it failed */
        fprintf(stderr, "intentctl: %s is not a JSON object (line %d, column %d)\n", name,
                v ? 0 : e.line, v ? 0 : e.column);
        json_decref(v);
        return NULL;
    }
    return v;
}

/* --settings / --limits: inline JSON, or @FILE. */
static int json_arg(const char *opt, const char *arg, json_t **out)
{
    *out = NULL;
    if (!arg)
        return 0;
    if (arg[0] != '@') {
        *out = parse_object(arg, strlen(arg), opt);
        return *out ? 0 : CTL_EXIT_USAGE;
    }
    FILE *f = fopen(arg + 1, "rb");
    if (!f) {
        fprintf(stderr, "intentctl: %s: cannot open %s: %s\n", opt, arg + 1, strerror(errno));
        return CTL_EXIT_USAGE;
    }
    struct buf b;
    buf_init(&b, DOC_MAX);
    int rc = slurp(f, arg + 1, &b);
    fclose(f);
    if (!rc && !(*out = parse_object(b.data, b.len, arg + 1)))
        rc = CTL_EXIT_USAGE;
    buf_free(&b);
    return rc;
}

/* Reads the secrets document from --secrets-file or stdin and checks it holds exactly the
 * members the auth type needs. */
static int read_secrets(const struct ctl_cmdline *o, const char *const *need, json_t **out)
{
    const char *name = o->secrets_file ? o->secrets_file : "stdin";
    FILE *f = o->secrets_file ? fopen(o->secrets_file, "rb") : stdin;
    struct buf b;
    int rc = 0;
    *out = NULL;
    if (!f) {
        fprintf(stderr, "intentctl: cannot open %s: %s\n", name, strerror(errno));
        return CTL_EXIT_USAGE;
    }
    if (f == stdin && isatty(0))
        fprintf(stderr, "intentctl: reading the secrets as a JSON object from stdin (end with "
                        "Ctrl-D); input is not hidden, so prefer --secrets-file PATH\n");
    buf_init(&b, SECRETS_MAX);
    rc = slurp(f, name, &b);
    if (f != stdin)
        fclose(f);
    if (!rc && !(*out = parse_object(b.data, b.len, name)))
        rc = CTL_EXIT_USAGE;
    if (b.data)
        ctl_cleanse(b.data, b.alloc);
    buf_free(&b);
    const char *k;
    json_t *v;
    json_object_foreach(rc ? NULL : *out, k, v)
    {
        bool wanted = false;
        for (const char *const *n = need; *n; n++)
            wanted = wanted || !strcmp(*n, k);
        if (!wanted && !rc) {
            fprintf(stderr, "intentctl: %s: unexpected member \"%s\" for this auth type\n", name,
                    k);
            rc = CTL_EXIT_USAGE;
        }
    }
    for (const char *const *n = need; !rc && *n; n++) {
        if (!json_is_string(json_object_get(*out, *n))) {
            fprintf(stderr, "intentctl: %s must hold \"%s\" as a string\n", name, *n);
            rc = CTL_EXIT_USAGE;
        }
    }
    if (rc) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

/* Builds "/v1/connectors[/<connector>][?tenant_id=<tenant>]" into p. */
static int connector_path(struct ctl *c, const char *connector, const char *tenant, struct buf *p)
{
    char *ec = connector ? ctl_escape(c, connector) : NULL;
    char *et = tenant ? ctl_escape(c, tenant) : NULL;
    int err = (connector && !ec) || (tenant && !et);
    if (!err)
        err = buf_printf(p, "/v1/connectors%s%s%s%s", ec ? "/" : "", ec ? ec : "",
                         et ? "?tenant_id=" : "", et ? et : "");
    curl_free(ec);
    curl_free(et);
    if (err)
        fprintf(stderr, "intentctl: the connector or tenant is too long\n");
    return err ? CTL_EXIT_USAGE : 0;
}

/* The names of the secrets that are set, "a, b", or "-". */
static json_t *set_list(json_t *set)
{
    const char *k;
    json_t *v;
    char line[256] = "";
    json_object_foreach(set, k, v)
    {
        if (json_is_true(v))
            snprintf(line + strlen(line), sizeof line - strlen(line), "%s%s", line[0] ? ", " : "",
                     k);
    }
    return json_string(line[0] ? line : "-");
}

static int print_config(json_t *cfg)
{
    struct ctl_table t = {.ncols = 2};
    json_t *auth = json_object_get(cfg, "auth");
    json_t *set = set_list(json_object_get(auth, "set"));
    int rc = 0;
    static const char *const top[][2] = {
        {"connector", "connector"}, {"tenant_id", "tenant"}, {"base_url", "base url"}};
    for (size_t i = 0; i < 3 && !rc; i++)
        rc = ctl_kv_row(&t, top[i][1], json_object_get(cfg, top[i][0]));
    if (!rc)
        rc = ctl_kv_row(&t, "auth", json_object_get(auth, "type"));
    if (!rc && json_object_get(auth, "token_url"))
        rc = ctl_kv_row(&t, "token url", json_object_get(auth, "token_url"));
    if (!rc && json_object_get(auth, "client_id"))
        rc = ctl_kv_row(&t, "client id", json_object_get(auth, "client_id"));
    if (!rc)
        rc = ctl_kv_row(&t, "secrets set", set);
    static const char *const rest[][2] = {{"settings", "settings"},     {"limits", "limits"},
                                          {"version", "version"},       {"updated_at", "updated"},
                                          {"updated_by", "updated by"}, {"problem", "problem"}};
    for (size_t i = 0; i < sizeof rest / sizeof rest[0] && !rc; i++)
        if (json_object_get(cfg, rest[i][0]))
            rc = ctl_kv_row(&t, rest[i][1], json_object_get(cfg, rest[i][0]));
    json_decref(set);
    ctl_table_print_free(&t);
    return rc;
}

/* Builds the PUT body from the options and the secrets; the base URL comes from --base-url, or
 * for notify (whose URL is a secret) from the secrets' "base_url". */
static int build_body(const struct ctl_cmdline *o, json_t *secrets, json_t **out)
{
    json_t *settings = NULL, *limits = NULL, *auth = json_pack("{s:s}", "type", o->auth);
    json_t *base = o->base_url ? json_string(o->base_url) : json_object_get(secrets, "base_url");
    int rc = json_arg("--settings", o->settings, &settings);
    if (!rc)
        rc = json_arg("--limits", o->limits, &limits);
    if (!rc && !auth)
        rc = CTL_EXIT_USAGE;
    const char *k;
    json_t *v;
    json_object_foreach(rc ? NULL : secrets, k, v)
    {
        if (strcmp(k, "base_url"))
            json_object_set(auth, k, v);
    }
    if (!rc && o->token_url)
        json_object_set_new(auth, "token_url", json_string(o->token_url));
    if (!rc && o->client_id)
        json_object_set_new(auth, "client_id", json_string(o->client_id));
    *out = rc ? NULL : json_pack("{s:O, s:O}", "base_url", base, "auth", auth);
    if (!rc && !*out) {
        fprintf(stderr, "intentctl: --base-url is not valid UTF-8\n");
        rc = CTL_EXIT_USAGE;
    }
    if (!rc && o->tenant)
        json_object_set_new(*out, "tenant_id", json_string(o->tenant));
    if (!rc && settings)
        json_object_set(*out, "settings", settings);
    if (!rc && limits)
        json_object_set(*out, "limits", limits);
    if (o->base_url)
        json_decref(base);
    json_decref(auth);
    json_decref(settings);
    json_decref(limits);
    return rc;
}

int ctl_cmd_connector_set(struct ctl *c, const struct ctl_cmdline *o)
{
    const char *need[4] = {NULL};
    size_t nneed = 0;
    struct ctl_cmdline opts = *o;
    if (o->argv_secret) {
        fprintf(stderr, "intentctl: secrets are never taken from the command line (other users "
                        "can read it in ps): put them in a JSON file given with --secrets-file "
                        "PATH, or pipe them on stdin\n");
        return CTL_EXIT_USAGE;
    }
    bool notify = o->npos == 1 && !strcmp(o->pos[0], "notify");
    if (notify && o->base_url) {
        fprintf(stderr, "intentctl: notify's base URL is a Slack webhook URL, a secret: give it "
                        "as \"base_url\" in the secrets (--secrets-file PATH or stdin), not on "
                        "the command line\n");
        return CTL_EXIT_USAGE;
    }
    if (o->npos != 1 || (!notify && !o->base_url)) {
        fprintf(stderr, "intentctl: connector set needs a CONNECTOR and --base-url URL\n");
        return CTL_EXIT_USAGE;
    }
    if (notify)
        need[nneed++] = "base_url";
    opts.auth = o->auth ? o->auth : "none";
    bool oauth2 = !strcmp(opts.auth, "oauth2");
    if (!strcmp(opts.auth, "bearer")) {
        need[nneed++] = "token";
    } else if (oauth2) {
        need[nneed++] = "client_secret";
        need[nneed++] = "refresh_token";
    } else if (strcmp(opts.auth, "none")) {
        fprintf(stderr, "intentctl: --auth takes none, bearer or oauth2\n");
        return CTL_EXIT_USAGE;
    }
    if (oauth2 != (o->token_url && o->client_id) || (!oauth2 && (o->token_url || o->client_id))) {
        fprintf(stderr, "intentctl: --token-url and --client-id go with --auth oauth2, which "
                        "needs both\n");
        return CTL_EXIT_USAGE;
    }
    if (!nneed && o->secrets_file) {
        fprintf(stderr, "intentctl: --auth none takes no secrets\n");
        return CTL_EXIT_USAGE;
    }
    json_t *secrets = NULL, *doc = NULL, *ans = NULL;
    struct ctl_response res;
    struct buf path;
    char *body = NULL;
    int rc = nneed ? read_secrets(o, need, &secrets) : 0;
    buf_init(&path, 4096);
    if (!rc)
        rc = build_body(&opts, secrets, &doc);
    if (!rc && !(body = json_dumps(doc, JSON_COMPACT))) {
        fprintf(stderr, "intentctl: a value is not valid UTF-8, or out of memory\n");
        rc = CTL_EXIT_USAGE;
    }
    if (!rc)
        rc = connector_path(c, o->pos[0], NULL, &path);
    if (!rc)
        rc = ctl_call(c, "PUT", path.data, body, &res, &ans);
    if (!rc) {
        if (c->json)
            ctl_print_raw(&res);
        else
            rc = print_config(ans);
        ctl_response_free(&res);
    }
    if (body)
        ctl_cleanse(body, strlen(body));
    free(body);
    /* jansson's copies of the secrets cannot all be reached; these can */
    const char *k;
    json_t *v;
    json_object_foreach(secrets, k, v)
    {
        if (json_is_string(v))
            ctl_cleanse((char *)(uintptr_t)json_string_value(v), json_string_length(v));
    }
    json_decref(secrets);
    json_decref(doc);
    json_decref(ans);
    buf_free(&path);
    return rc;
}

int ctl_cmd_connector_get(struct ctl *c, const struct ctl_cmdline *o)
{
    static const char *const head[] = {"CONNECTOR", "TENANT",  "BASE URL",
                                       "AUTH",      "VERSION", "UPDATED"};
    struct ctl_response res;
    struct buf path;
    json_t *ans = NULL, *item;
    size_t i;
    if (o->npos > 1) {
        fprintf(stderr, "intentctl: connector get takes at most one CONNECTOR\n");
        return CTL_EXIT_USAGE;
    }
    buf_init(&path, 4096);
    int rc = connector_path(c, o->npos ? o->pos[0] : NULL, o->tenant, &path);
    if (!rc)
        rc = ctl_call(c, "GET", path.data, NULL, &res, &ans);
    if (rc)
        goto out;
    if (c->json) {
        ctl_print_raw(&res);
    } else if (o->npos) {
        rc = print_config(ans);
    } else {
        struct ctl_table t = {.ncols = 6};
        rc = ctl_table_header(&t, head);
        json_array_foreach(json_object_get(ans, "connectors"), i, item)
        {
            char *row[6] = {ctl_cell(json_object_get(item, "connector"), 0),
                            ctl_cell(json_object_get(item, "tenant_id"), 0),
                            ctl_cell(json_object_get(item, "base_url"), 60),
                            ctl_cell(json_object_get(json_object_get(item, "auth"), "type"), 0),
                            ctl_cell(json_object_get(item, "version"), 0),
                            ctl_cell(json_object_get(item, "updated_at"), 0)};
            rc = ctl_table_add_unless(&t, row, rc);
        }
        ctl_table_print_free(&t);
    }
    ctl_response_free(&res);
out:
    json_decref(ans);
    buf_free(&path);
    return rc;
}

int ctl_cmd_connector_delete(struct ctl *c, const struct ctl_cmdline *o)
{
    struct ctl_response res;
    struct buf path;
    json_t *ans = NULL;
    if (o->npos != 1) {
        fprintf(stderr, "intentctl: connector delete needs exactly one CONNECTOR\n");
        return CTL_EXIT_USAGE;
    }
    buf_init(&path, 4096);
    int rc = connector_path(c, o->pos[0], o->tenant, &path);
    if (!rc)
        rc = ctl_call(c, "DELETE", path.data, NULL, &res, &ans);
    if (!rc) {
        if (c->json) {
            ctl_print_raw(&res);
        } else {
            char *tenant = ctl_cell(json_object_get(ans, "tenant_id"), 0);
            char *conn = ctl_cell(json_object_get(ans, "connector"), 0);
            printf("deleted connector %s of tenant %s\n", conn ? conn : "?", tenant ? tenant : "?");
            free(tenant);
            free(conn);
        }
        ctl_response_free(&res);
    }
    json_decref(ans);
    buf_free(&path);
    return rc;
}
