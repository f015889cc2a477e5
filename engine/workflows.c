/* Action-type registry and parameter dry run; see workflows.h. */
#include "workflows.h"

#include "jsonpath.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORKFLOWS_MAX     512
#define DRY_RUN_MAX_STEPS 200

struct workflow {
    char *name;
    struct asl_machine *machine;
};

struct workflows {
    size_t n;
    struct workflow items[WORKFLOWS_MAX];
};

static const char SUFFIX[] = ".asl.json";

static int cmp_workflow(const void *a, const void *b)
{
    return strcmp(((const struct workflow *)a)->name, ((const struct workflow *)b)->name);
}

/* Every Task must name an operation some adapter provides, and so must its Compensate. */
static int check_operations(const char *file, const struct asl_machine *m, char *err, size_t errlen)
{
    for (size_t i = 0; i < asl_task_count(m); i++) {
        const struct asl_state *st = asl_task_at(m, i);
        if (!adapter_find(st->operation)) {
            snprintf(err, errlen, "%s: state \"%s\": no adapter provides operation \"%s\"", file,
                     st->name, st->operation);
            return IE_CONFIG;
        }
        if (st->compensate && !adapter_find(st->compensate)) {
            snprintf(err, errlen,
                     "%s: state \"%s\": no adapter provides compensation operation \"%s\"", file,
                     st->name, st->compensate);
            return IE_CONFIG;
        }
    }
    return 0;
}

int workflows_load(const char *dir, struct workflows **out, char *err, size_t errlen)
{
    *out = NULL;
    int rc = 0;
    struct workflows *w = calloc(1, sizeof *w);
    if (!w)
        return IE_NOMEM;
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "cannot read state machine directory %s", dir);
        free(w);
        return IE_IO;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len <= sizeof SUFFIX - 1 || strcmp(de->d_name + len - (sizeof SUFFIX - 1), SUFFIX))
            continue;
        if (w->n == WORKFLOWS_MAX) {
            snprintf(err, errlen, "%s: more than %d workflows", dir, WORKFLOWS_MAX);
            rc = IE_CONFIG;
            goto out;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct workflow *wf = &w->items[w->n];
        wf->name = strndup(de->d_name, len - (sizeof SUFFIX - 1));
        if (!wf->name) {
            rc = IE_NOMEM;
            goto out;
        }
        char aerr[512];
        rc = asl_load_file(path, &wf->machine, aerr, sizeof aerr);
        if (rc) {
            snprintf(err, errlen, "%s: %s", de->d_name, aerr);
            free(wf->name);
            rc = IE_CONFIG;
            goto out;
        }
        w->n++;
        rc = check_operations(de->d_name, wf->machine, err, errlen);
        if (rc)
            goto out;
    }
    qsort(w->items, w->n, sizeof w->items[0], cmp_workflow);
out:
    closedir(d);
    if (rc) {
        workflows_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

void workflows_free(struct workflows *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++) {
        free(w->items[i].name);
        asl_free(w->items[i].machine);
    }
    free(w);
}

const struct asl_machine *workflows_get(const struct workflows *w, const char *action_type)
{
    struct workflow key = {.name = (char *)action_type};
    const struct workflow *f = bsearch(&key, w->items, w->n, sizeof w->items[0], cmp_workflow);
    return f ? f->machine : NULL;
}

size_t workflows_count(const struct workflows *w)
{
    return w->n;
}

const char *workflows_name_at(const struct workflows *w, size_t i)
{
    return i < w->n ? w->items[i].name : NULL;
}

/* Turns a plain JSONPath ("$", "$.a.b") into a JSON Pointer ("", "/a/b"); false otherwise. */
static bool path_to_pointer(const char *path, char *out, size_t outlen)
{
    if (strncmp(path, "$", 1))
        return false;
    size_t o = 0;
    for (const char *p = path + 1; *p; p++) {
        char c = *p == '.' ? '/' : *p;
        if (c == '[' || c == ']' || c == '\'' || c == '"' || c == '~' || o + 2 >= outlen)
            return false;
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

/* Maps a pointer into a Task's effective parameters back into the intent's parameters. */
static void map_pointer(const struct asl_state *st, const char *ptr, char *out, size_t outlen)
{
    char base[ADAPTER_POINTER_MAX] = "";
    const char *rest = ptr;
    if (st->parameters && json_is_object(st->parameters) && ptr[0] == '/') {
        const char *slash = strchr(ptr + 1, '/');
        size_t klen = slash ? (size_t)(slash - ptr - 1) : strlen(ptr + 1);
        char key[128];
        if (klen + 3 < sizeof key) {
            snprintf(key, sizeof key, "%.*s.$", (int)klen, ptr + 1);
            json_t *src = json_object_get(st->parameters, key);
            if (src && json_is_string(src) &&
                path_to_pointer(json_string_value(src), base, sizeof base)) {
                snprintf(out, outlen, "/parameters%s%s", base, slash ? slash : "");
                return;
            }
        }
        snprintf(out, outlen, "/parameters");
        return;
    }
    if (st->input_path && !path_to_pointer(st->input_path, base, sizeof base)) {
        snprintf(out, outlen, "/parameters");
        return;
    }
    snprintf(out, outlen, "/parameters%s%s", base, rest);
}

/* A workflow's own refusal names the field by opening its Cause with a JSON Pointer relative
 * to the parameters ("/wait_seconds: must be ..."); otherwise it concerns them as a whole. */
static void report_refusal(struct adapter_errors *errs, const char *cause)
{
    const char *sep = cause[0] == '/' ? strstr(cause, ": ") : NULL;
    if (!sep || sep - cause > 200) {
        adapter_error(errs, "/parameters", "%s", cause);
        return;
    }
    char ptr[ADAPTER_POINTER_MAX];
    snprintf(ptr, sizeof ptr, "/parameters%.*s", (int)(sep - cause), cause);
    adapter_error(errs, ptr, "%s", sep + 2);
}

/* A runtime failure in a state's Parameters template usually means the intent lacks a field
 * the template reads ("title.$": "$.title"): name each such field at its own pointer. Returns
 * how many were reported. */
static int report_missing(const struct asl_machine *m, const struct asl_step *step,
                          struct adapter_errors *errs)
{
    const struct asl_state *st = asl_state_by_name(m, step->state);
    if (!st || !st->parameters || !json_is_object(st->parameters) || !step->input)
        return 0;
    json_t *effective = step->input;
    char base[ADAPTER_POINTER_MAX] = "";
    if (st->input_path && (jsonpath_get(step->input, st->input_path, &effective) ||
                           !path_to_pointer(st->input_path, base, sizeof base)))
        return 0;
    int found = 0;
    const char *key;
    json_t *v;
    json_object_foreach(st->parameters, key, v)
    {
        size_t klen = strlen(key);
        json_t *hit;
        char ptr[ADAPTER_POINTER_MAX];
        if (klen < 3 || strcmp(key + klen - 2, ".$") || !json_is_string(v) ||
            !jsonpath_get(effective, json_string_value(v), &hit) ||
            !path_to_pointer(json_string_value(v), ptr, sizeof ptr) || !ptr[0])
            continue;
        char full[ADAPTER_POINTER_MAX];
        snprintf(full, sizeof full, "/parameters%.100s%.100s", base, ptr);
        const char *name = strrchr(ptr, '/');
        adapter_error(errs, full, "%s is required", name ? name + 1 : ptr);
        found++;
    }
    return found;
}

int workflows_validate_params(const struct workflows *w, const char *action_type,
                              const json_t *params, struct adapter_errors *errs)
{
    return workflows_walk(w, action_type, params, errs, NULL, NULL);
}

int workflows_walk(const struct workflows *w, const char *action_type, const json_t *params,
                   struct adapter_errors *errs, workflows_task_visit visit, void *arg)
{
    const struct asl_machine *m = workflows_get(w, action_type);
    if (!m)
        return IE_NOTFOUND;
    size_t before = errs->count;
    /* Not copied: asl_advance copies its input before running a state, and nothing else here
     * writes to it (input is replaced by each step's new output). */
    json_t *input = json_incref((json_t *)params);
    if (!input)
        return IE_INVAL;
    const char *state = asl_start_at(m);
    int rc = 0;
    char aerr[256];
    for (int n = 0; n < DRY_RUN_MAX_STEPS && state; n++) {
        struct asl_step step;
        rc = asl_advance(m, state, input, &step, aerr, sizeof aerr);
        if (rc)
            break;
        struct asl_next next = {0};
        state = NULL;
        if (step.kind == ASL_STEP_TASK) {
            const struct asl_state *st = asl_state_by_name(m, step.state);
            const struct adapter_op *op = adapter_find(step.resource);
            struct adapter_errors local;
            adapter_errors_reset(&local);
            if (op && op->validate(step.parameters, &local)) {
                for (size_t i = 0; i < local.count; i++) {
                    char ptr[ADAPTER_POINTER_MAX];
                    map_pointer(st, local.items[i].pointer, ptr, sizeof ptr);
                    adapter_error(errs, ptr, "%s", local.items[i].message);
                }
                asl_step_clear(&step);
                break;
            }
            if (visit)
                visit(arg, &step);
            json_t *result = json_object();
            rc = result ? asl_task_succeeded(m, step.state, step.input, result, &next) : IE_NOMEM;
            json_decref(result);
        } else if (step.kind == ASL_STEP_WAIT) {
            rc = asl_wait_next(m, step.state, step.input, &next);
        } else if (step.kind == ASL_STEP_FAIL && step.error &&
                   !strcmp(step.error, ASL_ERR_RUNTIME) && report_missing(m, &step, errs) > 0) {
            /* a Parameters template read fields the intent does not have: named above */
        } else if (step.kind == ASL_STEP_FAIL && step.error &&
                   (!strcmp(step.error, ASL_ERR_RUNTIME) ||
                    !strcmp(step.error, ASL_ERR_NO_CHOICE) ||
                    !strcmp(step.error, WORKFLOW_ERR_INVALID_PARAMETERS))) {
            /* The workflow cannot route this input, or its own checks (a Choice leading to a
             * Fail state with this error) refuse it: a parameter problem, answered with 422. */
            report_refusal(errs, step.cause ? step.cause : step.error);
        }
        asl_step_clear(&step);
        if (rc)
            break;
        if (next.kind == ASL_NEXT_STATE && next.output) {
            json_decref(input);
            input = json_incref(next.output);
            state = next.state;
        } else if (next.kind == ASL_NEXT_FAIL && next.cause) {
            adapter_error(errs, "/parameters", "%s", next.cause);
        }
        asl_next_clear(&next);
    }
    json_decref(input);
    if (rc)
        return rc;
    return (int)(errs->count - before);
}
