/* Kill switches: `intentctl toggle` (PUT /v1/toggles) and `intentctl toggles` (GET). A flip
 * during an incident is the one command that can stop every tenant's work, so it asks first on
 * a terminal; without one (a script, a pipe) it refuses unless --yes says the flip is meant,
 * so that a stray line of a script cannot pause production unasked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "intentctl.h"

/* Asks on stderr, reads the answer from stdin; true only for y or yes. */
static bool confirmed(const char *scope, const char *key, const char *mode)
{
    fprintf(stderr, "set the %s kill switch %s to %s? [y/N] ", scope, key, mode);
    fflush(stderr);
    char line[16];
    if (!fgets(line, sizeof line, stdin))
        return false;
    line[strcspn(line, "\r\n")] = '\0';
    return !strcmp(line, "y") || !strcmp(line, "Y") || !strcmp(line, "yes");
}

int ctl_cmd_toggle(struct ctl *c, const struct ctl_cmdline *o)
{
    bool global = o->npos >= 1 && !strcmp(o->pos[0], "global");
    if (!((global && (o->npos == 2 || o->npos == 3)) || (!global && o->npos == 3)) || !o->reason ||
        !*o->reason) {
        fprintf(stderr, "intentctl: toggle needs SCOPE KEY MODE and --reason TEXT (the global "
                        "scope's KEY may be left out)\n");
        return CTL_EXIT_USAGE;
    }
    const char *scope = o->pos[0];
    const char *key = o->npos == 3 ? o->pos[1] : "*";
    const char *mode = o->pos[o->npos - 1];
    if (!o->yes && !isatty(STDIN_FILENO)) {
        fprintf(stderr, "intentctl: toggle asks for confirmation and stdin is not a terminal: "
                        "add --yes; nothing changed\n");
        return CTL_EXIT_USAGE;
    }
    if (!o->yes && !confirmed(scope, key, mode)) {
        fprintf(stderr, "intentctl: not confirmed; nothing changed\n");
        return CTL_EXIT_REFUSED;
    }
    json_t *req = json_pack("{s:s, s:s, s:s, s:s}", "scope", scope, "key", key, "mode", mode,
                            "reason", o->reason);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!body) {
        fprintf(stderr, "intentctl: the arguments are not valid UTF-8\n");
        return CTL_EXIT_USAGE;
    }
    struct ctl_response res;
    json_t *ans = NULL;
    int rc = ctl_call(c, "PUT", "/v1/toggles", body, &res, &ans);
    free(body);
    if (rc)
        return rc;
    if (c->json) {
        ctl_print_raw(&res);
    } else {
        json_t *changed = json_object_get(ans, "changed");
        char *k = ctl_cell(json_object_get(ans, "key"), 0);
        char *m = ctl_cell(json_object_get(ans, "mode"), 0);
        char *p = ctl_cell(json_object_get(ans, "previous"), 0);
        char *s = ctl_cell(json_object_get(ans, "scope"), 0);
        if (!k || !m || !p || !s)
            rc = CTL_EXIT_UNAVAILABLE;
        else if (json_is_true(changed))
            printf("%s %s: %s -> %s (%lld intents affected)\n", s, k, p, m,
                   (long long)json_integer_value(json_object_get(ans, "affected")));
        else
            printf("%s %s was already %s; nothing changed\n", s, k, m);
        free(k);
        free(m);
        free(p);
        free(s);
    }
    ctl_response_free(&res);
    json_decref(ans);
    return rc;
}

int ctl_cmd_toggles(struct ctl *c, const struct ctl_cmdline *o)
{
    if (o->npos) {
        fprintf(stderr, "intentctl: toggles takes no arguments\n");
        return CTL_EXIT_USAGE;
    }
    char path[512] = "/v1/toggles";
    if (o->tenant) {
        char *t = ctl_escape(c, o->tenant);
        if (!t || strlen(t) > 400) {
            curl_free(t);
            fprintf(stderr, "intentctl: --tenant is too long\n");
            return CTL_EXIT_USAGE;
        }
        snprintf(path, sizeof path, "/v1/toggles?tenant_id=%s", t);
        curl_free(t);
    }
    struct ctl_response res;
    json_t *ans = NULL;
    int rc = ctl_call(c, "GET", path, NULL, &res, &ans);
    if (rc)
        return rc;
    if (c->json) {
        ctl_print_raw(&res);
    } else {
        static const char *const head[] = {"SCOPE", "KEY", "MODE", "UPDATED", "BY", "REASON"};
        struct ctl_table t = {.ncols = 6};
        rc = ctl_table_header(&t, head);
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(ans, "toggles"), i, item)
        {
            char *row[6] = {ctl_cell(json_object_get(item, "scope"), 0),
                            ctl_cell(json_object_get(item, "key"), 0),
                            ctl_cell(json_object_get(item, "mode"), 0),
                            ctl_cell(json_object_get(item, "updated_at"), 0),
                            ctl_cell(json_object_get(item, "updated_by"), 40),
                            ctl_cell(json_object_get(item, "reason"), 80)};
            rc = ctl_table_add_unless(&t, row, rc);
        }
        ctl_table_print_free(&t);
    }
    ctl_response_free(&res);
    json_decref(ans);
    return rc;
}
