/* Choice states: parses and validates a Choice state's rules (every comparator family, their
 * *Path forms, And/Or/Not nesting) into the struct asl_rule trees that asl_run.c evaluates. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "asl.h"
#include "asl_internal.h"

/* Recognises a comparator key such as "NumericLessThanEqualsPath". */
static bool parse_comparator(const char *key, struct asl_rule *r, bool *is_path)
{
    static const struct {
        const char *name;
        enum asl_cmp_type type;
    } types[] = {{"String", ASL_CMP_STRING},
                 {"Numeric", ASL_CMP_NUMERIC},
                 {"Boolean", ASL_CMP_BOOLEAN},
                 {"Timestamp", ASL_CMP_TIMESTAMP}};
    static const struct {
        const char *name;
        enum asl_cmp_rel rel;
    } rels[] = {{"Equals", ASL_REL_EQ},
                {"LessThan", ASL_REL_LT},
                {"GreaterThan", ASL_REL_GT},
                {"LessThanEquals", ASL_REL_LE},
                {"GreaterThanEquals", ASL_REL_GE}};
    static const struct {
        const char *name;
        enum asl_rule_op op;
    } tests[] = {{"StringMatches", ASL_OP_STRING_MATCHES},
                 {"IsPresent", ASL_OP_IS_PRESENT},
                 {"IsNull", ASL_OP_IS_NULL},
                 {"IsString", ASL_OP_IS_STRING},
                 {"IsNumeric", ASL_OP_IS_NUMERIC},
                 {"IsBoolean", ASL_OP_IS_BOOLEAN},
                 {"IsTimestamp", ASL_OP_IS_TIMESTAMP}};

    *is_path = false;
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
        if (strcmp(key, tests[i].name) == 0) {
            r->op = tests[i].op;
            return true;
        }
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        size_t tl = strlen(types[t].name);

        if (strncmp(key, types[t].name, tl) != 0)
            continue;
        for (size_t k = 0; k < sizeof rels / sizeof rels[0]; k++) {
            size_t rl = strlen(rels[k].name);
            const char *rest = key + tl;

            if (types[t].type == ASL_CMP_BOOLEAN && rels[k].rel != ASL_REL_EQ)
                continue;
            if (strncmp(rest, rels[k].name, rl) != 0)
                continue;
            if (strcmp(rest + rl, "") != 0 && strcmp(rest + rl, "Path") != 0)
                continue;
            r->op = ASL_OP_CMP;
            r->type = types[t].type;
            r->rel = rels[k].rel;
            *is_path = rest[rl] != '\0';
            return true;
        }
    }
    return false;
}

static int parse_rule(const struct asl_ctx *c, const char *st, json_t *obj, struct asl_rule *r,
                      int depth, bool top);

static int parse_rule_list(const struct asl_ctx *c, const char *st, json_t *arr, struct asl_rule *r,
                           const char *key, int depth)
{
    json_t *v;
    size_t i;

    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return asl_fail(c, st, "%s must be a non-empty array of rules", key);
    r->children = calloc(json_array_size(arr), sizeof *r->children);
    if (r->children == NULL)
        return asl_nomem(c);
    json_array_foreach(arr, i, v)
    {
        int rc = parse_rule(c, st, v, &r->children[i], depth + 1, false);

        r->nchildren = i + 1;
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int parse_rule(const struct asl_ctx *c, const char *st, json_t *obj, struct asl_rule *r,
                      int depth, bool top)
{
    const char *key, *cmp_key = NULL;
    json_t *v, *operand = NULL;
    bool is_path = false;
    int rc;

    if (depth > ASL_MAX_RULE_DEPTH)
        return asl_fail(c, st, "Choice rules nested deeper than %d levels", ASL_MAX_RULE_DEPTH);
    if (!json_is_object(obj))
        return asl_fail(c, st, "a Choice rule must be an object");
    json_object_foreach(obj, key, v)
    {
        struct asl_rule probe = {0};
        bool probe_path;

        if (strcmp(key, "Variable") == 0 || strcmp(key, "Next") == 0 || strcmp(key, "Comment") == 0)
            continue;
        if (strcmp(key, "And") == 0 || strcmp(key, "Or") == 0 || strcmp(key, "Not") == 0) {
            probe.op = key[0] == 'A' ? ASL_OP_AND : key[0] == 'O' ? ASL_OP_OR : ASL_OP_NOT;
            probe_path = false;
        } else if (!parse_comparator(key, &probe, &probe_path)) {
            return asl_fail(c, st, "Choice rule: unknown field \"%s\"", key);
        }
        if (cmp_key != NULL)
            return asl_fail(c, st, "Choice rule has two operators, \"%s\" and \"%s\"", cmp_key,
                            key);
        cmp_key = key;
        operand = v;
        *r = probe;
        is_path = probe_path;
    }
    if (cmp_key == NULL)
        return asl_fail(c, st, "Choice rule has no comparison operator");
    if ((rc = asl_get_string(c, st, obj, "Next", false, &r->next)))
        return rc;
    if (top && r->next == NULL)
        return asl_fail(c, st, "Choice rule (%s) is missing Next", cmp_key);
    if (!top && r->next != NULL)
        return asl_fail(c, st, "nested Choice rule (%s) must not have Next", cmp_key);
    if (r->op == ASL_OP_AND || r->op == ASL_OP_OR || r->op == ASL_OP_NOT) {
        if (json_object_get(obj, "Variable") != NULL)
            return asl_fail(c, st, "Choice rule with %s must not have Variable", cmp_key);
        if (r->op != ASL_OP_NOT)
            return parse_rule_list(c, st, operand, r, cmp_key, depth);
        r->children = calloc(1, sizeof *r->children);
        if (r->children == NULL)
            return asl_nomem(c);
        r->nchildren = 1;
        return parse_rule(c, st, operand, r->children, depth + 1, false);
    }
    if ((rc = asl_get_string(c, st, obj, "Variable", false, &r->variable)))
        return rc;
    if (r->variable == NULL)
        return asl_fail(c, st, "Choice rule (%s) is missing Variable", cmp_key);
    if ((rc = asl_path_ok(c, st, "Variable", r->variable)))
        return rc;
    if (is_path) {
        if (!json_is_string(operand))
            return asl_fail(c, st, "%s must be a JSONPath string", cmp_key);
        r->operand_path = json_string_value(operand);
        return asl_path_ok(c, st, cmp_key, r->operand_path);
    }
    r->operand = operand;
    if (r->op == ASL_OP_CMP) {
        double ignored;

        switch (r->type) {
        case ASL_CMP_STRING:
            if (!json_is_string(operand))
                return asl_fail(c, st, "%s must be a string", cmp_key);
            break;
        case ASL_CMP_NUMERIC:
            if (!json_is_number(operand))
                return asl_fail(c, st, "%s must be a number", cmp_key);
            break;
        case ASL_CMP_BOOLEAN:
            if (!json_is_boolean(operand))
                return asl_fail(c, st, "%s must be true or false", cmp_key);
            break;
        case ASL_CMP_TIMESTAMP:
            if (asl_parse_timestamp(json_string_value(operand), &ignored) != 0)
                return asl_fail(c, st, "%s must be an RFC 3339 timestamp", cmp_key);
            break;
        }
    } else if (r->op == ASL_OP_STRING_MATCHES) {
        if (!json_is_string(operand))
            return asl_fail(c, st, "%s must be a string", cmp_key);
    } else if (!json_is_boolean(operand)) {
        return asl_fail(c, st, "%s must be true or false", cmp_key);
    }
    return 0;
}

void asl_free_rule(struct asl_rule *r)
{
    for (size_t i = 0; i < r->nchildren; i++)
        asl_free_rule(&r->children[i]);
    free(r->children);
}

int asl_parse_choice(const struct asl_ctx *c, struct asl_state *s, json_t *obj)
{
    static const char *const fields[] = {"Type",      "Comment",    "Choices", "Default",
                                         "InputPath", "OutputPath", NULL};
    json_t *arr = json_object_get(obj, "Choices"), *v;
    size_t i;
    int rc;

    if (json_object_get(obj, "Next") != NULL || json_object_get(obj, "End") != NULL)
        return asl_fail(c, s->name,
                        "a Choice state must not have Next or End (use Choices/Default)");
    if ((rc = asl_check_fields(c, s->name, obj, "a Choice state", fields)) ||
        (rc = asl_parse_io(c, s, obj, false)) ||
        (rc = asl_get_string(c, s->name, obj, "Default", false, &s->default_next)))
        return rc;
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return asl_fail(c, s->name, "Choices must be a non-empty array");
    s->choices = calloc(json_array_size(arr), sizeof *s->choices);
    if (s->choices == NULL)
        return asl_nomem(c);
    json_array_foreach(arr, i, v)
    {
        s->nchoices = i + 1;
        if ((rc = parse_rule(c, s->name, v, &s->choices[i], 0, true)))
            return rc;
    }
    return 0;
}
