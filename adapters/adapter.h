/* The adapter interface: each connector operation is a const table of pure functions. An
 * adapter turns data into a request (or, for internal records, into an effect row) and a
 * response into an outcome; the engine does all I/O. Adapters see jansson and this header
 * only: no store, no loop, no sockets, no clock, no secrets (the engine adds credentials to a
 * request after the adapter built it, so a preview or a ledger row can show the request as is).
 *
 * Requests are JSON objects, so the engine can send, preview and record them alike:
 *   {"method": "POST",                         GET, POST, PUT, PATCH or DELETE
 *    "path": "/crm/v3/objects/tasks?x=1",      appended to the connector's base URL; every
 *                                              path segment and query value already escaped
 *                                              (adapter_escape); "" for the base URL itself
 *    "headers": {"Content-Type": "..."},       optional; never Authorization
 *    "body": <any JSON value>                  optional; sent compact as application/json
 *    "body_text": "..."}                       optional instead of body; sent as is
 * or {"skip": "why"}: nothing to send, and the step counts as done with that note (a
 * compensation with no undo configured).
 *
 * A Task's operation runs as: [prepare] → call → (unknown outcome → reconcile) → classify. The
 * ASL "Compensate" field names another operation of the same connector (e.g. "archive_task");
 * a compensation operation is an ordinary operation whose requests are built from ctx->done,
 * the recorded outcome of the step it undoes. */
#ifndef INTENTD_ADAPTER_H
#define INTENTD_ADAPTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define ADAPTER_ERRORS_MAX  32
#define ADAPTER_POINTER_MAX 256
#define ADAPTER_MESSAGE_MAX 200
#define ADAPTER_ID_MAX      256

/* Parameter problems found by validate(), each at a JSON Pointer into the Task's input. */
struct adapter_errors {
    size_t count;
    struct {
        char pointer[ADAPTER_POINTER_MAX];
        char message[ADAPTER_MESSAGE_MAX];
    } items[ADAPTER_ERRORS_MAX];
};

/* Empties errs. Only the count and the first item's strings are cleared: readers stop at count
 * (or read the first item after a refusal), and zeroing the whole 14 KiB list cost more than
 * the validation it precedes. */
static inline void adapter_errors_reset(struct adapter_errors *errs)
{
    errs->count = 0;
    errs->items[0].pointer[0] = '\0';
    errs->items[0].message[0] = '\0';
}

/* Appends one error (dropped quietly past ADAPTER_ERRORS_MAX). pointer is a JSON Pointer
 * relative to the Task's parameters, e.g. "/title". */
void adapter_error(struct adapter_errors *errs, const char *pointer, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Who and what an operation runs for; everything borrowed. */
struct adapter_ctx {
    const char *tenant_id;
    const char *action_intent_id;
    const char *account_id;
    const char *step;            /* the ASL state name */
    const char *idempotency_key; /* derived from (tenant, intent, step): the same across retries,
                                    crashes and nodes; [A-Za-z0-9_], at most 64 characters */
    const json_t *settings;      /* the tenant's non-secret settings for this connector (an
                                    object, possibly empty; e.g. "idempotency_property",
                                    "calendar_id", "body_template", "undo"); never NULL for
                                    HTTP operations */
    const json_t *prior;         /* what prepare found (classify_prepare's result); NULL when the
                                    operation has no prepare step */
    const json_t *done;          /* compensation operations only: the outcome of the step being
                                    undone, {"external_id": "...", "result": {...},
                                    "prior": {...} or absent, "params": {...}}; NULL otherwise */
};

/* An HTTP response as the engine received it. Only complete responses reach an adapter:
 * transport failures (refused, reset, timed out) are classified by the engine. */
struct adapter_response {
    long status;      /* 100..599 */
    const char *body; /* NUL-terminated (at most 1 MiB), "" when empty */
    size_t body_len;
    const char *retry_after; /* the Retry-After header as sent, or NULL */
    const char *location;    /* the Location header, or NULL */
};

enum adapter_verdict {
    ADAPTER_OK,           /* the effect exists (or, for compensation, is gone): see result */
    ADAPTER_TRANSIENT,    /* worth retrying: 408, 425, 5xx, ... (Connector.Transient) */
    ADAPTER_RATE_LIMITED, /* 429 or the vendor's equivalent (Connector.RateLimited) */
    ADAPTER_UNAUTHORIZED, /* 401: the engine refreshes OAuth2 credentials once, then fails with
                             Connector.Unauthorized */
    ADAPTER_PERMANENT,    /* retrying cannot help (Connector.Permanent) */
    ADAPTER_CONFLICT,     /* a create with a deterministic id or unique key answered "exists":
                             the engine reconciles, which finds the earlier effect */
    ADAPTER_ABSENT,       /* reconcile only: no earlier effect exists, the call may be retried */
};

struct adapter_outcome {
    enum adapter_verdict verdict;
    double retry_after_s;             /* from Retry-After (seconds or HTTP-date is the engine's
                                         concern: adapters pass -1, the engine parses the
                                         header); < 0: none */
    char external_id[ADAPTER_ID_MAX]; /* ADAPTER_OK: the vendor's id of the object, "" if none */
    json_t *result;                   /* ADAPTER_OK: new reference, the Task's result (what its
                                         ResultPath stores); NULL otherwise */
    char cause[ADAPTER_MESSAGE_MAX];  /* why, for the status and the ledger: the vendor's error
                                         message when it gave one; never a secret */
};

/* Builds a request description (see the top of this file). Called only with parameters
 * validate() accepted. Returns 0 with *request a new reference, or -1 (out of memory, or
 * settings the operation cannot work with: then cause, when not NULL, says which). */
typedef int (*adapter_build_fn)(const json_t *params, const struct adapter_ctx *ctx,
                                json_t **request, char cause[ADAPTER_MESSAGE_MAX]);

/* Classifies a complete response. Sets every field of *out (out->result only for ADAPTER_OK).
 * Never fails: a response it cannot make sense of is ADAPTER_PERMANENT with a cause, or for a
 * 2xx on a create whose body cannot be parsed, ADAPTER_OK with what is known. */
typedef void (*adapter_classify_fn)(const json_t *params, const struct adapter_ctx *ctx,
                                    const struct adapter_response *resp,
                                    struct adapter_outcome *out);

struct adapter_op {
    const char *name; /* "<connector>.<operation>", as named by a Task's Resource */
    bool reversible;  /* a Task running it may name a Compensate operation */

    /* Checks a Task's effective parameters. Appends one error per problem to errs and returns
     * the number appended (0 = valid). Never fails otherwise; params may be any JSON value. */
    size_t (*validate)(const json_t *params, struct adapter_errors *errs);

    /* Internal-record operations only (NULL for HTTP connectors): builds the effect row the
     * engine writes in the same transaction as the step's outcome, and the Task's result.
     * Called only with parameters validate() accepted. Returns 0 with *effect and *result as new
     * references, or -1 when out of memory (nothing is returned). */
    int (*build_effect)(const json_t *params, const struct adapter_ctx *ctx, json_t **effect,
                        json_t **result);

    /* HTTP operations (NULL for internal ones). */
    adapter_build_fn build_prepare;       /* optional: a read made before the call (the value an
                                             update overwrites, kept for compensation) */
    adapter_classify_fn classify_prepare; /* ADAPTER_OK: result becomes ctx->prior */
    adapter_build_fn build_request;       /* the call itself */
    adapter_classify_fn classify;
    adapter_build_fn build_reconcile;       /* optional: a look-up that finds an earlier effect
                                               of this step by its key or deterministic id */
    adapter_classify_fn classify_reconcile; /* ADAPTER_OK (found, with the result a success
                                               would have had) or ADAPTER_ABSENT */
    /* What the engine does with an unknown outcome when there is no reconcile: false = retry
     * with the same idempotency key (the vendor de-duplicates it); true = never repeat the
     * call and record the step as done with delivery unknown (a vendor with no key, where a
     * repeat would duplicate a visible effect). */
    bool unknown_is_delivered;
    /* A repeat of the call is harmless: the vendor de-duplicates it (a unique key, a
     * client-supplied id, an idempotency header) or the method is idempotent. Otherwise the
     * engine sends the call on a fresh connection, because libcurl silently repeats a request
     * once when a reused keep-alive connection dies before any byte of the answer, and that
     * repeat would duplicate the effect with nothing to notice it (reads always reuse). */
    bool repeat_safe;
    /* The idempotency header the request carries ("Idempotency-Key"), or NULL: only for
     * documentation and previews; build_request sets the header itself. */
    const char *idempotency_header;
};

/* Finds an operation by name ("internal.create_task"); NULL when there is none. */
const struct adapter_op *adapter_find(const char *name);

/* The table of every operation, NULL-terminated (for listings). */
extern const struct adapter_op *const adapter_ops[];

/* --- helpers shared by the HTTP adapters (adapters/http_common.c) --- */

/* Percent-encodes s for a path segment or query value (RFC 3986 unreserved kept) into out.
 * Returns 0, or -1 when out is too small. */
int adapter_escape(const char *s, char *out, size_t outlen);

/* The classification every vendor shares for a non-2xx status: 408, 425, 5xx → transient;
 * 429 → rate limited; 401 → unauthorized; other 4xx → permanent. cause gets the status and
 * the vendor's message when one can be found in the body. Sets out->result to NULL. */
void adapter_classify_status(const struct adapter_response *resp, struct adapter_outcome *out);

#endif
