/* Connector limits: their defaults and the reading of a "limits" object with its bounds; see
 * connector_limits.h and connectors.h. Pure functions. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "connectors.h"
#include "json_errors.h"

#define DEFAULT_CONCURRENCY   64
#define DEFAULT_RATE          100.0
#define DEFAULT_BREAKER_FAILS 5
#define DEFAULT_BREAKER_OPEN  30
#define DEFAULT_RETRY_BUDGET  0.2
#define DEFAULT_TIMEOUT       30
#define BURST_MAX             1000000

enum kind { K_INT, K_NUMBER };

struct bound {
    const char *name;
    enum kind kind;
    double min, max;
    size_t offset;
};

static const struct bound bounds[] = {
    {"concurrency", K_INT, 1, 10000, offsetof(struct connector_limits, concurrency)},
    {"rate_per_second", K_NUMBER, 0.01, 100000, offsetof(struct connector_limits, rate_per_second)},
    {"burst", K_INT, 1, BURST_MAX, offsetof(struct connector_limits, burst)},
    {"breaker_failures", K_INT, 1, 1000, offsetof(struct connector_limits, breaker_failures)},
    {"breaker_open_seconds", K_INT, 1, 3600,
     offsetof(struct connector_limits, breaker_open_seconds)},
    {"retry_budget", K_NUMBER, 0, 1, offsetof(struct connector_limits, retry_budget)},
    {"timeout_seconds", K_INT, 1, 300, offsetof(struct connector_limits, timeout_seconds)},
};
#define N_BOUNDS (sizeof bounds / sizeof bounds[0])

void connector_limits_defaults(struct connector_limits *lim)
{
    if (lim->concurrency == 0)
        lim->concurrency = DEFAULT_CONCURRENCY;
    if (lim->rate_per_second == 0)
        lim->rate_per_second = DEFAULT_RATE;
    if (lim->burst == 0) {
        double b = ceil(2 * lim->rate_per_second);
        lim->burst = b < 1 ? 1 : b > BURST_MAX ? BURST_MAX : (int)b;
    }
    if (lim->breaker_failures == 0)
        lim->breaker_failures = DEFAULT_BREAKER_FAILS;
    if (lim->breaker_open_seconds == 0)
        lim->breaker_open_seconds = DEFAULT_BREAKER_OPEN;
    if (lim->retry_budget == 0)
        lim->retry_budget = DEFAULT_RETRY_BUDGET;
    else if (lim->retry_budget < 0)
        lim->retry_budget = 0;
    if (lim->timeout_seconds == 0)
        lim->timeout_seconds = DEFAULT_TIMEOUT;
}

int connector_limits_parse(const json_t *obj, const char *pointer, struct connector_limits *lim,
                           json_t *errors)
{
    int rc = 0, bad = 0;
    if (!json_is_object(obj)) {
        if (errors &&
            json_array_append_new(errors, json_pack("{s:s, s:s}", "pointer", pointer, "message",
                                                    "limits must be an object")))
            return IE_NOMEM;
        return IE_INVAL;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        const struct bound *b = NULL;
        for (size_t i = 0; i < N_BOUNDS && !b; i++)
            if (!strcmp(bounds[i].name, key))
                b = &bounds[i];
        char msg[160];
        if (!b) {
            snprintf(msg, sizeof msg, "unknown limit");
        } else if (b->kind == K_INT ? !json_is_integer(v) : !json_is_number(v)) {
            snprintf(msg, sizeof msg, "%s must be %s", b->name,
                     b->kind == K_INT ? "an integer" : "a number");
            b = NULL;
        } else {
            double d = json_number_value(v);
            if (!(d >= b->min && d <= b->max)) {
                snprintf(msg, sizeof msg, "%s must be between %g and %g", b->name, b->min, b->max);
                b = NULL;
            } else if (b->kind == K_INT) {
                *(int *)(void *)((char *)lim + b->offset) = (int)d;
            } else {
                /* see connector_limits.h: zero is the "default" marker before defaults */
                *(double *)(void *)((char *)lim + b->offset) =
                    d == 0 && b->offset == offsetof(struct connector_limits, retry_budget) ? -1 : d;
            }
        }
        if (b)
            continue;
        bad = 1;
        if (errors && (rc = json_errors_add(errors, pointer, key, msg)))
            return rc;
    }
    return bad ? IE_INVAL : 0;
}
