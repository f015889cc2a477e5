/* Validation errors as the API reports them: an array of {"pointer", "message"}, the pointer
 * an RFC 6901 JSON Pointer into the request body. */
#ifndef INTENTD_JSON_ERRORS_H
#define INTENTD_JSON_ERRORS_H

#include <jansson.h>

/* Longest member name shown in a pointer; longer ones are cut (never inside an escape). */
#define JSON_ERRORS_MEMBER_SHOWN 64

/* Appends {"pointer": base, or base "/" member escaped (~0, ~1) when member is not NULL,
 * "message"} to errors. A member longer than JSON_ERRORS_MEMBER_SHOWN bytes is cut at the last
 * whole UTF-8 character that fits. Returns 0 or IE_NOMEM. */
int json_errors_add(json_t *errors, const char *base, const char *member, const char *message);

#endif
