/* The canonical text of a JSON document: what json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT)
 * writes, byte for byte (intent hashes stored in the database were made that way and must
 * stay comparable), without jansson's per-character dump callbacks and per-key hash look-ups.
 * tests/unit/test_json_canon.c checks the two agree. */
#ifndef INTENTD_JSON_CANON_H
#define INTENTD_JSON_CANON_H

#include <jansson.h>

#include "buf.h"
#include "errors.h"

/* Appends the canonical text of v (an object or array whose strings and keys are valid UTF-8
 * without NUL, as jansson's parser makes them) to out. Returns 0, IE_NOMEM or IE_TOOBIG; on
 * error out holds a partial text. */
int json_canon_append(struct buf *out, const json_t *v) IE_MUST_CHECK;

#endif
