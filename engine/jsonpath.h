/* JSONPath reference paths, the subset Amazon States Language uses for InputPath, Parameters,
 * ResultPath, OutputPath and Choice variables: "$" followed by any chain of ".name",
 * "['name']" / "[\"name\"]" and "[n]". No wildcards, filters, slices, recursion or "$$". */
#ifndef INTENTD_JSONPATH_H
#define INTENTD_JSONPATH_H

#include <jansson.h>

#include "errors.h"

/* Longest accepted path, in bytes (excluding the NUL). */
#define JSONPATH_MAX_LEN 1024
/* Most segments after "$" in one path. */
#define JSONPATH_MAX_DEPTH 64

/* Checks that path is a well-formed reference path. Returns 0, IE_PARSE (not a reference path,
 * including "$$" context paths and empty names) or IE_TOOBIG (longer than JSONPATH_MAX_LEN or
 * deeper than JSONPATH_MAX_DEPTH). */
int jsonpath_check(const char *path) IE_MUST_CHECK;

/* Looks path up in doc. On success *out is a BORROWED reference into doc (json_incref it to keep
 * it past doc's lifetime or a change to doc). Returns 0, IE_NOTFOUND (a name is absent, an index
 * is out of range, or a segment meets a value of the wrong type), or jsonpath_check's errors;
 * *out is NULL on error. "$" yields doc itself. */
int jsonpath_get(json_t *doc, const char *path, json_t **out) IE_MUST_CHECK;

/* Stores value at path in *doc, as ResultPath does: missing intermediate names are created as
 * objects; an existing "[n]" element of an array is replaced. "$" replaces the whole document
 * (*doc is released and becomes value). *doc is modified in place, so pass a document nobody
 * else shares (json_deep_copy it first). value is NOT stolen: the function takes its own
 * reference. Returns 0, IE_CONFLICT (a segment meets a scalar, a name meets an array, an index
 * meets an object or is out of range; *doc is unchanged), IE_NOMEM, or jsonpath_check's
 * errors. */
int jsonpath_set(json_t **doc, const char *path, json_t *value) IE_MUST_CHECK;

#endif
