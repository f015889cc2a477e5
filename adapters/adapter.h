/* The adapter interface: each connector operation is a const table of pure functions. An
 * adapter turns data into a request (or, for internal records, into an effect row) and a
 * response into an outcome; the engine does all I/O. Adapters see jansson and this header
 * only: no store, no loop, no sockets. */
#ifndef INTENTD_ADAPTER_H
#define INTENTD_ADAPTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define ADAPTER_ERRORS_MAX  32
#define ADAPTER_POINTER_MAX 256
#define ADAPTER_MESSAGE_MAX 200

/* Parameter problems found by validate(), each at a JSON Pointer into the Task's input. */
struct adapter_errors {
    size_t count;
    struct {
        char pointer[ADAPTER_POINTER_MAX];
        char message[ADAPTER_MESSAGE_MAX];
    } items[ADAPTER_ERRORS_MAX];
};

/* Appends one error (dropped quietly past ADAPTER_ERRORS_MAX). pointer is a JSON Pointer
 * relative to the Task's parameters, e.g. "/title". */
void adapter_error(struct adapter_errors *errs, const char *pointer, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Who and what an operation runs for; all strings borrowed. */
struct adapter_ctx {
    const char *tenant_id;
    const char *action_intent_id;
    const char *account_id;
    const char *step;            /* the ASL state name */
    const char *idempotency_key; /* derived from (tenant, intent, step): the same across retries,
                                    crashes and nodes */
};

struct adapter_op {
    const char *name; /* "<connector>.<operation>", as named by a Task's Resource */
    bool reversible;  /* has an undo (compensate) */

    /* Checks a Task's effective parameters. Appends one error per problem to errs and returns
     * the number appended (0 = valid). Never fails otherwise; params may be any JSON value. */
    size_t (*validate)(const json_t *params, struct adapter_errors *errs);

    /* Internal-record operations only (NULL for HTTP connectors): builds the effect row the
     * engine writes in the same transaction as the step's outcome, and the Task's result.
     * Called only with parameters validate() accepted. Returns 0 with *effect and *result as new
     * references, or -1 when out of memory (nothing is returned). */
    int (*build_effect)(const json_t *params, const struct adapter_ctx *ctx, json_t **effect,
                        json_t **result);
};

/* Finds an operation by name ("internal.create_task"); NULL when there is none. */
const struct adapter_op *adapter_find(const char *name);

/* The table of every operation, NULL-terminated (for listings). */
extern const struct adapter_op *const adapter_ops[];

#endif
