/* Outcome signals as JSON, shared by GET /v1/signals and the push (signal_push.c); the code is
 * in api_signals.c. */
#ifndef INTENTD_SIGNALS_H
#define INTENTD_SIGNALS_H

#include <jansson.h>
#include <libpq-fe.h>

/* The rows of a Q_SIGNALS result as a new array of signal objects (NULL when out of memory);
 * *last gets the seq of the last row, or -1 when there is none. */
json_t *signals_json(const PGresult *r, long long *last);

#endif
