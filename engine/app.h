/* The engine context: everything one intentd process owns, passed explicitly to every
 * subsystem (there are no globals for state). Created and torn down by main.c. */
#ifndef INTENTD_APP_H
#define INTENTD_APP_H

#include <stdbool.h>
#include <uv.h>

#include "config.h"
#include "crypto.h"

struct store;
struct http_server;
struct lifecycle;
struct workflows;
struct submitter;
struct scheduler;
struct tenant_keys;
struct http_client;
struct connectors;
struct guards;
struct alerts;
struct signal_push;
struct app_metrics;
struct toggles;
struct retention;

struct app {
    uv_loop_t *loop;
    struct config cfg;
    unsigned char master_key[CRYPTO_KEY_LEN];
    struct lifecycle *lifecycle;
    struct workflows *workflows;
    struct store *store;
    struct http_server *http;
    struct submitter *submitter;
    struct scheduler *scheduler;
    struct tenant_keys *keys;
    struct http_client *http_client; /* outbound calls to connectors */
    struct connectors *connectors;   /* per-tenant connector configuration */
    struct guards *guards;
    struct alerts *alerts;           /* human notification */
    struct signal_push *signal_push; /* outcome signals to tenants' URLs */
    struct app_metrics *metrics;     /* GET /metrics; NULL: none kept */
    struct toggles *toggles;         /* kill switches */
    struct retention *retention;     /* retention sweeps and ledger partition upkeep */
    char conninfo[1024];
    long long ledger_head; /* the ledger's last seq at start-up (migrations_apply) */
    bool stopping;         /* graceful shutdown has begun */
};

#endif
