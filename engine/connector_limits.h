/* Per tenant and connector limits (SPEC §5), configured with PUT /v1/connectors/{connector}
 * under "limits". Zero fields take the defaults below (connector_limits_defaults). */
#ifndef INTENTD_CONNECTOR_LIMITS_H
#define INTENTD_CONNECTOR_LIMITS_H

struct connector_limits {
    int concurrency;          /* calls in flight at once on one node (default 64, 1..10000) */
    double rate_per_second;   /* token bucket refill shared by all nodes (default 100,
                                 0.01..100000) */
    int burst;                /* bucket size (default 2 × rate, at least 1, at most 1000000) */
    int breaker_failures;     /* consecutive transient failures that open the breaker
                                 (default 5, 1..1000) */
    int breaker_open_seconds; /* how long it stays open before one probe (default 30,
                                 1..3600) */
    double retry_budget;      /* retries may be at most this fraction of calls over the last
                                 minute (default 0.2, 0..1); the first attempts of
                                 calls are never refused by it. Zero means "default" until
                                 the defaults are filled, so a configured 0 is carried as a
                                 negative value until then (connector_limits_defaults turns
                                 it into 0) */
    int timeout_seconds;      /* per attempt: caps the Task's TimeoutSeconds, and applies alone
                                 when the Task sets none (default 30, 1..300) */
};

#endif
