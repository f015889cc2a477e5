/* A small registry of metrics rendered in the Prometheus text exposition format (version
 * 0.0.4). Families are registered once at start-up with a fixed list of label names; a series
 * is created the first time a combination of label values is seen, up to METRICS_MAX_SERIES per
 * family, so a label fed by something unexpected cannot grow memory without bound. Everything
 * runs on the loop thread: there are no locks. */
#ifndef INTENTD_METRICS_H
#define INTENTD_METRICS_H

#include "buf.h"
#include "errors.h"

#define METRICS_MAX_LABELS    3
#define METRICS_MAX_BUCKETS   16
#define METRICS_MAX_SERIES    256 /* per family */
#define METRICS_MAX_VALUE_LEN 128 /* bytes of one label value */

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

struct metrics;
struct metrics_family;

int metrics_new(struct metrics **out) IE_MUST_CHECK;
/* Frees the registry and its families. NULL is ignored. */
void metrics_free(struct metrics *m);

/* Registers a family. name must match [a-zA-Z_:][a-zA-Z0-9_:]*, each label name
 * [a-zA-Z_][a-zA-Z0-9_]* (not starting with "__", and not "le" in a histogram); a histogram
 * has 1..METRICS_MAX_BUCKETS finite, strictly increasing upper bounds (+Inf is implied), other
 * types none. help is copied. Returns the family (owned by m), or NULL when an argument is
 * invalid, the name is taken, or memory ran out. */
struct metrics_family *metrics_add(struct metrics *m, const char *name, const char *help,
                                   enum metrics_type type, const char *const *labels, int nlabels,
                                   const double *buckets, int nbuckets);

/* Updates the series named by values (one per label name, in order; NULL when the family has
 * no labels). A NULL family is ignored, so callers need not check whether metrics exist. An
 * update of the wrong type, a negative or NaN counter increment, a NaN observation, a value
 * longer than METRICS_MAX_VALUE_LEN or a series past METRICS_MAX_SERIES is not recorded; it
 * is counted in intentd_metrics_updates_dropped_total instead. */
void metrics_inc(struct metrics_family *f, const char *const *values, double by);
void metrics_set(struct metrics_family *f, const char *const *values, double v);
void metrics_observe(struct metrics_family *f, const char *const *values, double v);

/* Removes every series of the family (a NULL family is ignored): for a gauge that mirrors a
 * set which shrinks, such as the kill switches not in run mode, rebuilt before each render. */
void metrics_clear(struct metrics_family *f);

/* Appends every family in registration order (# HELP and # TYPE once each, then its series
 * in creation order). Returns 0, IE_TOOBIG or IE_NOMEM (out then holds a partial text). */
int metrics_render(const struct metrics *m, struct buf *out) IE_MUST_CHECK;

/* The content type of the rendered text. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
