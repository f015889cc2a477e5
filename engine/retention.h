/* Retention and ledger partition upkeep (engine/sql/009_retention.sql). Every node runs it; the
 * database makes one node sweep at a time. With INTENTD_RETENTION_DAYS (or _SECONDS) set, a
 * sweep moves terminal intents older than that from intentd.intents to intentd.intents_archive
 * in batches of RETENTION_BATCH, each its own short transaction; ledger rows stay. Once an hour
 * (and at start-up, from migrations.c) it makes sure the ledger's partitions for this month and
 * the next exist. */
#ifndef INTENTD_RETENTION_H
#define INTENTD_RETENTION_H

#include "errors.h"

#define RETENTION_BATCH 1000

struct app;
struct retention;

/* How often a node sweeps for an age of retention_s seconds: a tenth of it, from 1 s to 60 s. */
unsigned long long retention_sweep_interval_ms(int retention_s);

int retention_start(struct app *app, struct retention **out) IE_MUST_CHECK;
/* Stops; a query in flight finishes first, then it frees itself. Safe with NULL. */
void retention_stop(struct retention *r);

#endif
