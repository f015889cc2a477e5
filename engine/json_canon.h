/* The canonical text of a JSON document: what json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT)
 * writes, byte for byte (intent hashes stored in the database were made that way and must
 * stay comparable), without jansson's per-character dump callbacks and per-key hash look-ups;
 * and the same without the sorting for JSON_COMPACT alone. tests/unit/test_json_canon.c checks
 * both agree with jansson. */
#ifndef INTENTD_JSON_CANON_H
#define INTENTD_JSON_CANON_H

#include <jansson.h>

#include "buf.h"
#include "errors.h"

/* Appends the canonical text of v (an object or array whose strings and keys are valid UTF-8
 * without NUL, as jansson's parser makes them) to out. Returns 0, IE_NOMEM or IE_TOOBIG; on
 * error out holds a partial text. */
int json_canon_append(struct buf *out, const json_t *v) IE_MUST_CHECK;

/* Appends what json_dumps(v, JSON_COMPACT) writes: members in the order they were set, for
 * texts nobody hashes (the step outcomes an apply call carries), at a third of its cost.
 * Same inputs, results and errors as json_canon_append. */
int json_compact_append(struct buf *out, const json_t *v) IE_MUST_CHECK;

#endif
