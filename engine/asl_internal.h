/* Private to the ASL loader (asl.c and asl_choice.c), not part of the public API in asl.h: the
 * load context and the field helpers both files use to validate a workflow document. */
#ifndef INTENTD_ASL_INTERNAL_H
#define INTENTD_ASL_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "asl.h"

/* One load in progress: the machine being built and where its error message goes. */
struct asl_ctx {
    struct asl_machine *m;
    const char *label; /* file or machine name, first in every message */
    char *err;
    size_t errlen;
};

/* ---- field helpers (asl.c) ---- */

/* Writes "<label>: state "<st>": <message>" (or "<label>: <message>" when st is NULL) into the
 * context's err and returns IE_PARSE, so that callers can `return asl_fail(...)`. */
int asl_fail(const struct asl_ctx *c, const char *st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes "<label>: out of memory" into the context's err and returns IE_NOMEM. */
int asl_nomem(const struct asl_ctx *c);

/* Returns 0 when every key of obj is in the NULL-terminated list allowed, else IE_PARSE naming
 * the first other key and what (e.g. "a Task state"). */
int asl_check_fields(const struct asl_ctx *c, const char *st, json_t *obj, const char *what,
                     const char *const *allowed);

/* Returns 0 when path is a JSONPath the engine supports (no "$$" context paths), else IE_PARSE
 * naming field. */
int asl_path_ok(const struct asl_ctx *c, const char *st, const char *field, const char *path);

/* Reads the string field key of obj into *out (borrowed from obj; NULL when absent). Returns 0,
 * or IE_PARSE when it is not a string or is required and absent. */
int asl_get_string(const struct asl_ctx *c, const char *st, json_t *obj, const char *key,
                   bool required, const char **out);

/* Reads InputPath and OutputPath (and ResultPath when result is set) of state s from obj;
 * each may be null (discard). Returns 0 or IE_PARSE. */
int asl_parse_io(const struct asl_ctx *c, struct asl_state *s, json_t *obj, bool result);

/* ---- Choice states (asl_choice.c) ---- */

/* Parses the Choice state s from obj: its fields, InputPath/OutputPath, Default and Choices
 * (each a rule tree at most ASL_MAX_RULE_DEPTH deep, every top-level rule with Next). Fills
 * s->choices, s->nchoices and s->default_next; on error what was built so far stays in s for
 * asl_free to release. Returns 0, IE_PARSE or IE_NOMEM. Does not check that the Next and
 * Default names exist (the graph check in asl.c does). */
int asl_parse_choice(const struct asl_ctx *c, struct asl_state *s, json_t *obj);

/* Frees what a rule owns (its children, recursively), not the rule itself. */
void asl_free_rule(struct asl_rule *r);

#endif
