/* Helpers shared by the HTTP adapters (crm, calendar, email, notify, webhook): request
 * descriptions, outcomes, the encodings vendors ask for, and settings. Private to adapters/;
 * everything here is pure and bounded. */
#ifndef INTENTD_ADAPTER_HTTP_COMMON_H
#define INTENTD_ADAPTER_HTTP_COMMON_H

#include <stdbool.h>
#include <stddef.h>

#include "adapter.h"

/* The longest path (with its query) an adapter builds. */
#define ADAPTER_PATH_MAX 4096
/* Bodies past this are not parsed (the engine caps them at 1 MiB already). */
#define ADAPTER_BODY_PARSE_MAX (1024 * 1024)

/* A path under construction: literal pieces and escaped values, with a sticky overflow. */
struct adapter_path {
    char s[ADAPTER_PATH_MAX];
    size_t n;
    bool overflow;
};

void adapter_path_init(struct adapter_path *p);
/* Appends lit as is (the caller's own text: "/crm/v3/objects/"). */
void adapter_path_lit(struct adapter_path *p, const char *lit);
/* Appends value percent-encoded (adapter_escape). */
void adapter_path_esc(struct adapter_path *p, const char *value);

/* Finishes a request description {"method", "path", "body"?} into *request. body is stolen
 * (NULL: none). Returns 0, or -1 with cause set (path too long, out of memory). */
int adapter_request(const char *method, const struct adapter_path *path, json_t *body,
                    json_t **request, char cause[ADAPTER_MESSAGE_MAX]);

/* A {"skip": why} description. Returns 0, or -1 when out of memory. */
int adapter_skip(const char *why, json_t **request, char cause[ADAPTER_MESSAGE_MAX]);

/* Sets cause (when not NULL) and returns -1: the failure return of a build function. */
int adapter_build_fail(char cause[ADAPTER_MESSAGE_MAX], const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ADAPTER_OK with external_id (NULL or "" = none) and result, which is stolen; a NULL result
 * (out of memory) turns the outcome into ADAPTER_TRANSIENT. */
void adapter_ok(struct adapter_outcome *out, const char *external_id, json_t *result);

/* Any other verdict, with a cause. */
void adapter_fail(struct adapter_outcome *out, enum adapter_verdict verdict, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

bool adapter_is_2xx(long status);

/* The body parsed as a JSON object, or NULL (empty, too big, not JSON, not an object). New
 * reference. */
json_t *adapter_body_object(const struct adapter_response *resp);

/* The vendor's error message from a body, one line, printable, at most outlen - 1 bytes (cut
 * at a UTF-8 boundary): HubSpot's "message", Google's "error.message", Slack's
 * {"error": "..."} or its text bodies ("invalid_payload"). "" when there is none. */
void adapter_vendor_message(const struct adapter_response *resp, char *out, size_t outlen);

/* adapter_classify_status, but Google's 403 with reason rateLimitExceeded or
 * userRateLimitExceeded is ADAPTER_RATE_LIMITED, as Google documents it. */
void adapter_classify_google(const struct adapter_response *resp, struct adapter_outcome *out);

/* The text of an id given as a string or a non-negative integer, into buf (at least 32
 * bytes); NULL for anything else or an empty or over-long string. */
const char *adapter_id_text(const json_t *v, char *buf, size_t buflen);

/* A number as the decimal text vendors expect: integers exactly, reals with up to 15
 * significant digits. Returns 0, or -1 for a non-number or a non-finite real. */
int adapter_number_text(const json_t *v, char *out, size_t outlen);

/* RFC 3339 text as milliseconds since the epoch, in decimal ("1764000000000"). Returns 0, or
 * -1 when s is not RFC 3339 or out is too small. */
int adapter_epoch_ms(const char *s, char *out, size_t outlen);

/* RFC 4648 §7 base32hex, lowercase (0-9a-v), no padding. Returns 0, or -1 when out is too
 * small. */
int adapter_base32hex(const void *in, size_t n, char *out, size_t outlen);

/* RFC 4648 base64 (url = false: §4 alphabet; true: §5 URL-safe alphabet), padded with '='.
 * wrap > 0 breaks the text every wrap characters with CRLF (and ends it with CRLF) as MIME
 * asks. Returns a malloc'd NUL-terminated string, or NULL when out of memory or too large. */
char *adapter_base64(const void *in, size_t n, bool url, size_t wrap);

/* A string setting: *out gets settings[key], or dflt when it is absent or null. Returns 0, or
 * -1 with cause when it is not a string or has 0 or more than max bytes. */
int adapter_setting(const struct adapter_ctx *ctx, const char *key, const char *dflt, size_t max,
                    const char **out, char cause[ADAPTER_MESSAGE_MAX]);

/* ctx->done's external id: done.external_id, else done.result[result_key] (a string or an
 * integer) into buf. NULL when neither gives a non-empty id. */
const char *adapter_done_id(const struct adapter_ctx *ctx, const char *result_key, char *buf,
                            size_t buflen);

#endif
