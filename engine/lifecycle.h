/* The intent lifecycle (SPEC §3): the states an intent can be in and the table of allowed
 * transitions, loaded from statemachines/lifecycle.json so that the C checks and the
 * PostgreSQL trigger are seeded from the same data. */
#ifndef INTENTD_LIFECYCLE_H
#define INTENTD_LIFECYCLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "errors.h"

/* The file must name exactly these states (by their names without the prefix). */
enum intent_state {
    INTENT_PENDING,
    INTENT_EXECUTING,
    INTENT_COMPENSATING,
    INTENT_SUCCEEDED,
    INTENT_FAILED,
    INTENT_EXPIRED,
    INTENT_CANCELLED,
};
#define INTENT_STATE_COUNT 7

/* Most transitions a table may hold (every ordered pair of distinct states). */
#define LIFECYCLE_MAX_TRANSITIONS (INTENT_STATE_COUNT * (INTENT_STATE_COUNT - 1))

struct lifecycle;

/* Reads and checks the table in the file at path (blocking I/O: call at start-up). Returns 0
 * and *out (free with lifecycle_free), IE_IO, IE_PARSE (err says what is wrong: a missing or
 * unknown state, a duplicate pair, a self-transition, a bad name) or IE_NOMEM. */
int lifecycle_load(const char *path, struct lifecycle **out, char *err,
                   size_t errlen) IE_MUST_CHECK;

/* Same from a parsed document (borrowed; nothing is kept from it). */
int lifecycle_load_json(json_t *doc, struct lifecycle **out, char *err,
                        size_t errlen) IE_MUST_CHECK;

/* Frees the table. NULL is ignored. */
void lifecycle_free(struct lifecycle *lc);

/* "PENDING" etc. Aborts on a value outside enum intent_state (a corrupted state is a bug). */
const char *lifecycle_state_name(enum intent_state s);

/* Parses a state name (exact, upper case). Returns 0 and *out, or IE_NOTFOUND. */
int lifecycle_state_from_name(const char *name, enum intent_state *out) IE_MUST_CHECK;

/* Whether the table marks s terminal (SUCCEEDED, FAILED, EXPIRED, CANCELLED). Aborts on an
 * impossible s. */
bool lifecycle_is_terminal(const struct lifecycle *lc, enum intent_state s);

/* Whether from -> to is in the table. Aborts on an impossible from or to. */
bool lifecycle_allowed(const struct lifecycle *lc, enum intent_state from, enum intent_state to);

/* The transition's name ("claim", "release", ...; owned by lc), or NULL when not allowed.
 * Aborts on an impossible from or to. */
const char *lifecycle_transition_name(const struct lifecycle *lc, enum intent_state from,
                                      enum intent_state to);

/* Whether the transition is an operator action (redrive, compensate of a SUCCEEDED intent)
 * rather than something the engine does on its own. False when not allowed. */
bool lifecycle_is_operator_action(const struct lifecycle *lc, enum intent_state from,
                                  enum intent_state to);

/* The checker every state change goes through: aborts (after printing to stderr) if *state or
 * to is not a valid enum intent_state, returns IE_STATE (and leaves *state alone) if the table
 * does not allow the move, otherwise sets *state = to and returns 0. *name, when name is not
 * NULL, receives the transition's name (owned by lc) on success. */
int lifecycle_change_state(const struct lifecycle *lc, enum intent_state *state,
                           enum intent_state to, const char **name) IE_MUST_CHECK;

/* Number of transitions and the i-th one in file order (i < count). */
size_t lifecycle_transition_count(const struct lifecycle *lc);
void lifecycle_transition_at(const struct lifecycle *lc, size_t i, enum intent_state *from,
                             enum intent_state *to, const char **name);

/* Appends the allowed pairs, in file order, as SQL VALUES rows:
 * ('PENDING','EXECUTING'),('PENDING','EXPIRED'),... State names come from the fixed enum, so
 * the text needs no further quoting. Returns 0 or buf_append's errors. */
int lifecycle_sql_pairs(const struct lifecycle *lc, struct buf *out) IE_MUST_CHECK;

#endif
