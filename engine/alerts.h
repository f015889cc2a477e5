/* Human notification (SPEC §6): posts the alerts PostgreSQL queues (intentd.alerts: FAILED,
 * EXPIRED, compensation failures, quarantine halts; one per intent and kind) to a Slack-shaped
 * webhook, INTENTD_ALERT_WEBHOOK_URL. Every node polls; a lease on each alert makes one node
 * send it; a failed post is tried again with backoff until it is acknowledged. */
#ifndef INTENTD_ALERTS_H
#define INTENTD_ALERTS_H

#include "errors.h"

struct app;
struct alerts;

/* Starts polling when app->cfg.alert_webhook_url is set (otherwise alerts stay queued in the
 * table, where an operator can read them). */
int alerts_start(struct app *app, struct alerts **out) IE_MUST_CHECK;
/* Stops polling; posts in flight end with the HTTP client. Safe with NULL. */
void alerts_stop(struct alerts *a);

#endif
