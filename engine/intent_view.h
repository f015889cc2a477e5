/* Renders an intent row (queries.h INTENT_COLUMNS) as the API's JSON, with the plain-English
 * explanation of where it stands. */
#ifndef INTENTD_INTENT_VIEW_H
#define INTENTD_INTENT_VIEW_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

/* Returns a new object for row of r, or NULL when out of memory. output_col is the column
 * holding output::text, or -1 to leave output out (lists). */
json_t *intent_view(const PGresult *r, int row, int output_col);

#endif
