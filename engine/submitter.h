/* Group commit for submissions: requests that arrive while a submit transaction is in flight
 * are gathered and written together in the next one, so a busy node commits many requests per
 * fsync instead of one. */
#ifndef INTENTD_SUBMITTER_H
#define INTENTD_SUBMITTER_H

#include <jansson.h>
#include <libpq-fe.h>

#include "app.h"
#include "buf.h"
#include "errors.h"

#define SUBMITTER_MAX_REQUESTS 256   /* requests per transaction */
#define SUBMITTER_MAX_ITEMS    5000  /* intents per transaction (a batch request counts whole) */
#define SUBMITTER_INFLIGHT     2     /* transactions in flight at once */
#define SUBMITTER_QUEUE_MAX    20000 /* requests waiting; past it: IE_UNAVAIL */

struct submitter;

int submitter_new(struct app *app, struct submitter **out) IE_MUST_CHECK;
/* Fails every queued request with IE_CANCELED and frees the submitter once nothing is in
 * flight; in-flight transactions still deliver their results. */
void submitter_free(struct submitter *s);

/* Called once per request with its rows of the submit function's result (columns req, idx,
 * status, state): rows first .. first + n - 1 of r, in item order; r is valid only during the
 * call. err != 0: nothing of this request is known to have committed (IE_UNAVAIL: maybe it
 * did; the client's identical retry is safe), r is NULL. */
typedef void (*submit_cb)(void *arg, int err, const PGresult *r, int first, int n);

/* Queues a request: its tenant, raw body and signature header (stored for re-verification),
 * the version of the approval key that verified it (checked again in the transaction: a key
 * rotated out since makes cb get IE_AUTH), and items, the request's nitems validated items for
 * intentd.submit, already serialized: each a JSON object text without "req" (added here when
 * requests are grouped), each followed by a NUL (JSON text from jansson never holds a raw NUL).
 * items' contents are taken over whatever the outcome. body must be valid UTF-8 without NUL
 * bytes (it parsed as JSON). All queued requests are written together by one intentd.submit
 * call. Returns 0 (cb will run once) or IE_UNAVAIL / IE_NOMEM (cb will not run). */
int submitter_enqueue(struct submitter *s, const char *tenant, const char *body,
                      const char *signature, int key_version, struct buf *items, int nitems,
                      submit_cb cb, void *arg) IE_MUST_CHECK;

#endif
