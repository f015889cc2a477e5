/* Parameter checks shared by every connector's validate(): each appends one error at a JSON
 * Pointer into the Task's parameters per problem it finds, and never fails on any JSON value.
 * Private to adapters/. */
#ifndef INTENTD_ADAPTER_PARAMS_H
#define INTENTD_ADAPTER_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

#include "adapter.h"

/* Parses strict RFC 3339 date-time text into seconds since the epoch (UTC) and the fraction
 * digits as written (frac, NUL-terminated, at most 6 kept). Returns false for anything else. */
bool adapter_rfc3339_parse(const char *s, long long *epoch, char frac[8]);

/* Counts UTF-8 code points of s (valid UTF-8: jansson guarantees it). */
size_t adapter_utf8_len(const char *s);

/* Writes base + "/" + key to out as a JSON Pointer ("~" → "~0", "/" → "~1"), truncated to
 * fit. */
void adapter_pointer(char *out, size_t outlen, const char *base, const char *key);

/* Appends a root error and returns false unless params is an object. */
bool adapter_params_object(const json_t *params, struct adapter_errors *errs);

/* Flags every key of the object obj (at pointer base, "" for the parameters) not in known
 * (NULL-terminated), so a typo is an error and not a silent drop. */
void adapter_params_known(const json_t *obj, const char *base, const char *const *known,
                          struct adapter_errors *errs);

/* validate() for compensation operations, whose requests come from ctx->done: accepts any
 * parameters. */
size_t adapter_params_any(const json_t *params, struct adapter_errors *errs);

/* Checks one string value v (NULL or JSON null = absent) named name at ptr: required or
 * optional, 1..max code points, no control characters (multiline allows LF, CR and TAB).
 * Returns the string when it is valid, NULL when absent or refused. */
const char *adapter_check_string(const json_t *v, const char *ptr, const char *name, bool required,
                                 size_t max, bool multiline, struct adapter_errors *errs);

/* adapter_check_string for the member key of an object, at "/key". */
const char *adapter_check_text(const json_t *params, const char *key, bool required, size_t max,
                               bool multiline, struct adapter_errors *errs);

/* The value v (NULL or JSON null = absent) at ptr must be one of values (NULL-terminated).
 * Returns it when valid. */
const char *adapter_check_enum_at(const json_t *v, const char *ptr, const char *name, bool required,
                                  const char *const *values, struct adapter_errors *errs);

/* adapter_check_enum_at for the member key of an object, at "/key". */
const char *adapter_check_enum(const json_t *params, const char *key, bool required,
                               const char *const *values, struct adapter_errors *errs);

/* A member key holding an RFC 3339 date-time. Returns it when valid (epoch and frac set when
 * not NULL), NULL when absent or refused. */
const char *adapter_check_time(const json_t *params, const char *key, bool required,
                               long long *epoch, char frac[8], struct adapter_errors *errs);

/* A DNS name of at least two labels of [A-Za-z0-9-] (no hyphen at either end of a label). */
bool adapter_domain_shape(const char *d);

/* An e-mail address of the plain addr-spec shape local@domain.tld (no display name, no
 * comments, no quoting). */
bool adapter_email_shape(const char *s);

/* Checks the value at ptr is an e-mail address (CR or LF get their own message: they are how
 * headers are injected). Returns it when valid. */
const char *adapter_check_email(const json_t *v, const char *ptr, const char *name,
                                struct adapter_errors *errs);

/* A vendor object id: a string of 1..32 ASCII digits or a non-negative integer. Writes its
 * text to out (at least 33 bytes) and returns true when valid; else appends an error. */
bool adapter_check_id(const json_t *v, const char *ptr, const char *name, char *out,
                      struct adapter_errors *errs);

#endif
