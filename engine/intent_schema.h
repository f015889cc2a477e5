/* ActionIntentV1 (SPEC §2): parsing a request body into JSON with intentd's input limits, and
 * validating the document against the rules that proto/action_intent_v1.schema.json states,
 * collecting every violation with its JSON Pointer (RFC 6901). Also the RFC 3339 date-time
 * parser the schema and the internal adapters share. Pure CPU work; safe on the loop. */
#ifndef INTENTD_INTENT_SCHEMA_H
#define INTENTD_INTENT_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "errors.h"

#define INTENT_SCHEMA_ID        "action_intent.v1"
#define INTENT_SCHEMA_MAX_DEPTH 32  /* nesting of arrays/objects; the top object is level 1 */
#define SCHEMA_ERRORS_MAX       50  /* errors kept; later ones only set truncated */
#define SCHEMA_POINTER_MAX      256 /* bytes of a pointer, with the NUL */
#define SCHEMA_MESSAGE_MAX      160 /* bytes of a message, with the NUL */
#define INTENT_RFC3339_MAX      64  /* longest date-time string accepted */

/* One violation. pointer is "" for the whole document. A pointer longer than
 * SCHEMA_POINTER_MAX - 1 bytes (only an absurdly long unknown key does that) is cut at a
 * UTF-8 character boundary and ends in "..."; both strings are always valid UTF-8. */
struct schema_error {
    char pointer[SCHEMA_POINTER_MAX];
    char message[SCHEMA_MESSAGE_MAX];
};

/* Caller-allocated (about 20 KiB; heap-allocate it on the loop thread). */
struct schema_errors {
    size_t count;   /* entries used in items */
    bool truncated; /* more than SCHEMA_ERRORS_MAX violations were found */
    struct schema_error items[SCHEMA_ERRORS_MAX];
};

/* Empties errs. */
void intent_schema_errors_init(struct schema_errors *errs);

/* Parses len bytes of body as one JSON object or array with duplicate object keys rejected,
 * NUL characters (\u0000) rejected and nesting limited to INTENT_SCHEMA_MAX_DEPTH. On success
 * *out is a new reference the caller releases with json_decref(). On failure returns IE_PARSE,
 * *out is NULL, and one error with pointer "" is appended to errs whose message gives the
 * line and column ("invalid UTF-8 at line 1, column 9", "duplicate object key at ...",
 * "nesting deeper than 32 at ...", "invalid JSON at ...: <parser's reason>"). IE_NOMEM is
 * reported as such. errs is not cleared first. */
int intent_schema_parse(const char *body, size_t len, json_t **out,
                        struct schema_errors *errs) IE_MUST_CHECK;

/* Checks doc against ActionIntentV1 and appends every violation to errs (not cleared first),
 * each with the JSON Pointer of the offending value (for a missing required field, the
 * pointer it would have: "/approval/approved_at"; an unknown top-level field is reported at its
 * own pointer). Returns 0 when the document is valid, IE_INVAL when at least one violation was
 * found. doc is only read. */
int intent_schema_validate(const json_t *doc, struct schema_errors *errs) IE_MUST_CHECK;

/* The fields the validator knows in one object of the document, for drift tests against the
 * JSON Schema file: object is "" (top level), "/decision" or "/approval". Returns the number of
 * fields (0 for any other object). */
size_t intent_schema_field_count(const char *object);
/* Name of field i (< intent_schema_field_count(object)) of object, or NULL; *required (if not
 * NULL) says whether the validator requires it. */
const char *intent_schema_field(const char *object, size_t i, bool *required);

/* Parses an RFC 3339 date-time ("2026-11-21T10:00:00Z", "2026-11-21t10:00:00.5+02:00"):
 * four-digit year 0001-9999, month and day in range for that month (leap years included), hour
 * 00-23, minute 00-59, second 00-60 (60 only at 23:59 UTC, a leap second), optional fraction,
 * then 'Z'/'z' or a +hh:mm / -hh:mm offset of at most 15:59. 'T' or 't' separates date and
 * time. The time in UTC must also fall in 0001-01-01T00:00:00Z..9999-12-31T23:59:59Z. These
 * bounds are PostgreSQL's (timestamptz has no year 0 and refuses offsets past 15:59), so a
 * time that parses can be handed to it. At most INTENT_RFC3339_MAX characters. On success
 * writes the unix time in whole seconds (fraction dropped; a leap second counts as the next
 * second) to *epoch_out if not NULL and returns 0; otherwise IE_PARSE. */
int intent_parse_rfc3339(const char *s, long long *epoch_out) IE_MUST_CHECK;

/* intent_parse_rfc3339's bounds, for messages that refuse a time. */
#define INTENT_RFC3339_BOUNDS "years 0001-9999, UTC offsets up to 15:59"

#endif
