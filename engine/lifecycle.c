/* The intent lifecycle table: loading statemachines/lifecycle.json, answering "is this move
 * allowed", and the one checker every state change goes through. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle.h"

#define MAX_NAME 32

struct transition {
    enum intent_state from, to;
    char name[MAX_NAME + 1];
    bool operator_action;
};

struct lifecycle {
    bool terminal[INTENT_STATE_COUNT];
    int index[INTENT_STATE_COUNT][INTENT_STATE_COUNT]; /* into transitions, or -1 */
    struct transition transitions[LIFECYCLE_MAX_TRANSITIONS];
    size_t ntransitions;
};

static const char *const state_names[INTENT_STATE_COUNT] = {
    "PENDING", "EXECUTING", "COMPENSATING", "SUCCEEDED", "FAILED", "EXPIRED", "CANCELLED",
};

/* A state value outside the enum can only come from memory corruption or a bug that cast an
 * unchecked integer: stop before it reaches the database or the ledger. */
static void check_state(int s, const char *where)
{
    if (s < 0 || s >= INTENT_STATE_COUNT) {
        fprintf(stderr, "intentd: impossible intent state %d in %s\n", s, where);
        abort();
    }
}

const char *lifecycle_state_name(enum intent_state s)
{
    check_state((int)s, "lifecycle_state_name");
    return state_names[s];
}

int lifecycle_state_from_name(const char *name, enum intent_state *out)
{
    for (int i = 0; name != NULL && i < INTENT_STATE_COUNT; i++)
        if (strcmp(name, state_names[i]) == 0) {
            *out = (enum intent_state)i;
            return 0;
        }
    return IE_NOTFOUND;
}

static int bad(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return IE_PARSE;
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > MAX_NAME)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
            return false;
    return true;
}

static int load_states(struct lifecycle *lc, json_t *arr, char *err, size_t errlen)
{
    bool seen[INTENT_STATE_COUNT] = {false};
    json_t *v;
    size_t i;

    if (!json_is_array(arr))
        return bad(err, errlen, "\"states\" must be an array");
    json_array_foreach(arr, i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        json_t *term = json_object_get(v, "terminal");
        enum intent_state s;

        if (name == NULL || lifecycle_state_from_name(name, &s) != 0)
            return bad(err, errlen, "states[%zu]: unknown state name \"%s\"", i,
                       name ? name : "(missing)");
        if (seen[s])
            return bad(err, errlen, "states[%zu]: %s listed twice", i, name);
        if (!json_is_boolean(term))
            return bad(err, errlen, "states[%zu] (%s): \"terminal\" must be true or false", i,
                       name);
        seen[s] = true;
        lc->terminal[s] = json_is_true(term);
    }
    for (int s = 0; s < INTENT_STATE_COUNT; s++)
        if (!seen[s])
            return bad(err, errlen, "state %s is missing from \"states\"", state_names[s]);
    return 0;
}

static int load_transitions(struct lifecycle *lc, json_t *arr, char *err, size_t errlen)
{
    json_t *v;
    size_t i;

    if (!json_is_array(arr))
        return bad(err, errlen, "\"transitions\" must be an array");
    json_array_foreach(arr, i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        const char *from = json_string_value(json_object_get(v, "from"));
        const char *to = json_string_value(json_object_get(v, "to"));
        json_t *op = json_object_get(v, "operator");
        struct transition *t;
        enum intent_state f, d;

        if (name == NULL || !valid_name(name))
            return bad(err, errlen, "transitions[%zu]: \"name\" must be 1-%d of [a-z_]", i,
                       MAX_NAME);
        if (from == NULL || lifecycle_state_from_name(from, &f) != 0)
            return bad(err, errlen, "transitions[%zu] (%s): unknown \"from\" state", i, name);
        if (to == NULL || lifecycle_state_from_name(to, &d) != 0)
            return bad(err, errlen, "transitions[%zu] (%s): unknown \"to\" state", i, name);
        if (f == d)
            return bad(err, errlen, "transitions[%zu] (%s): %s to itself is not a transition", i,
                       name, from);
        if (lc->index[f][d] >= 0)
            return bad(err, errlen, "transitions[%zu] (%s): %s -> %s listed twice", i, name, from,
                       to);
        if (op != NULL && !json_is_boolean(op))
            return bad(err, errlen, "transitions[%zu] (%s): \"operator\" must be a boolean", i,
                       name);
        /* Distinct ordered pairs of distinct states cannot exceed the array. */
        t = &lc->transitions[lc->ntransitions];
        t->from = f;
        t->to = d;
        t->operator_action = json_is_true(op);
        snprintf(t->name, sizeof t->name, "%s", name);
        lc->index[f][d] = (int)lc->ntransitions++;
    }
    return 0;
}

int lifecycle_load_json(json_t *doc, struct lifecycle **out, char *err, size_t errlen)
{
    struct lifecycle *lc;
    int rc;

    *out = NULL;
    if (!json_is_object(doc))
        return bad(err, errlen, "the lifecycle must be a JSON object");
    lc = calloc(1, sizeof *lc);
    if (lc == NULL)
        return IE_NOMEM;
    for (int f = 0; f < INTENT_STATE_COUNT; f++)
        for (int t = 0; t < INTENT_STATE_COUNT; t++)
            lc->index[f][t] = -1;
    rc = load_states(lc, json_object_get(doc, "states"), err, errlen);
    if (rc == 0)
        rc = load_transitions(lc, json_object_get(doc, "transitions"), err, errlen);
    if (rc != 0) {
        free(lc);
        return rc;
    }
    *out = lc;
    return 0;
}

int lifecycle_load(const char *path, struct lifecycle **out, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *doc;
    char sub[256];
    int rc;

    *out = NULL;
    doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        bad(err, errlen, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
        return jerr.line < 0 ? IE_IO : IE_PARSE;
    }
    rc = lifecycle_load_json(doc, out, sub, sizeof sub);
    if (rc != 0)
        bad(err, errlen, "%s: %s", path, rc == IE_NOMEM ? "out of memory" : sub);
    json_decref(doc);
    return rc;
}

void lifecycle_free(struct lifecycle *lc)
{
    free(lc);
}

bool lifecycle_is_terminal(const struct lifecycle *lc, enum intent_state s)
{
    check_state((int)s, "lifecycle_is_terminal");
    return lc->terminal[s];
}

bool lifecycle_allowed(const struct lifecycle *lc, enum intent_state from, enum intent_state to)
{
    check_state((int)from, "lifecycle_allowed");
    check_state((int)to, "lifecycle_allowed");
    return lc->index[from][to] >= 0;
}

const char *lifecycle_transition_name(const struct lifecycle *lc, enum intent_state from,
                                      enum intent_state to)
{
    if (!lifecycle_allowed(lc, from, to))
        return NULL;
    return lc->transitions[lc->index[from][to]].name;
}

bool lifecycle_is_operator_action(const struct lifecycle *lc, enum intent_state from,
                                  enum intent_state to)
{
    if (!lifecycle_allowed(lc, from, to))
        return false;
    return lc->transitions[lc->index[from][to]].operator_action;
}

int lifecycle_change_state(const struct lifecycle *lc, enum intent_state *state,
                           enum intent_state to, const char **name)
{
    check_state((int)*state, "lifecycle_change_state (from)");
    check_state((int)to, "lifecycle_change_state (to)");
    if (lc->index[*state][to] < 0)
        return IE_STATE;
    if (name != NULL)
        *name = lc->transitions[lc->index[*state][to]].name;
    *state = to;
    return 0;
}

size_t lifecycle_transition_count(const struct lifecycle *lc)
{
    return lc->ntransitions;
}

void lifecycle_transition_at(const struct lifecycle *lc, size_t i, enum intent_state *from,
                             enum intent_state *to, const char **name)
{
    const struct transition *t = &lc->transitions[i];

    *from = t->from;
    *to = t->to;
    *name = t->name;
}

int lifecycle_sql_pairs(const struct lifecycle *lc, struct buf *out)
{
    int rc = 0;

    for (size_t i = 0; i < lc->ntransitions && rc == 0; i++)
        rc = buf_printf(out, "%s('%s','%s')", i > 0 ? "," : "",
                        state_names[lc->transitions[i].from], state_names[lc->transitions[i].to]);
    return rc;
}
